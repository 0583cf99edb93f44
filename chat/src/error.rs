//! The server's own error: what went wrong, with its cause kept. It turns into the wire error ([`AppError`])
//! in one place, [`ServerError::into_app_error`], where internal failures are logged and hidden.

use protocol::domain::InvalidInput;
use protocol::error::{AppError, Refusal};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An answer meant for the client, as it is.
    #[error(transparent)]
    Client(#[from] AppError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{context}: {source}")]
    Io { context: &'static str, source: std::io::Error },
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("password hashing: {0}")]
    PasswordHash(argon2::password_hash::Error),
    /// What the request should carry (the visitor) is missing: a wiring mistake.
    #[error("request context: {0}")]
    Context(String),
}

pub type ServerResult<T> = Result<T, ServerError>;

impl ServerError {
    /// An I/O failure, said where it happened.
    pub fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> ServerError {
        move |source| ServerError::Io { context, source }
    }

    /// The wire error the client sees. Internal failures are logged here, with their cause, and become
    /// "something went wrong".
    pub fn into_app_error(self) -> AppError {
        match self {
            ServerError::Client(error) => error,
            ServerError::Database(error) if is_unreachable(&error) => {
                tracing::warn!(%error, "the database is unreachable");
                AppError::Unavailable
            }
            internal => {
                tracing::error!(error = %internal, "internal error");
                AppError::Internal
            }
        }
    }
}

/// Whether a database error says the database cannot be reached (down, restarting, out of connections), as
/// opposed to a query that failed: the first passes by itself, and the client is told to try again.
fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
        // PostgreSQL: connection exceptions (class 08), shutting down or starting up (57P01–57P03), too many
        // connections (53300).
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("08") || ["57P01", "57P02", "57P03", "53300"].contains(&&*code)),
        _ => false,
    }
}

impl From<Refusal> for ServerError {
    fn from(refusal: Refusal) -> ServerError {
        ServerError::Client(AppError::Refused(refusal))
    }
}

impl From<InvalidInput> for ServerError {
    fn from(error: InvalidInput) -> ServerError {
        ServerError::Client(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_failure_shows_no_detail() {
        let failure = ServerError::Database(sqlx::Error::Protocol("table room_grants is gone".into()));
        let error = failure.into_app_error();
        assert_eq!(error, AppError::Internal);
        let body = serde_json::to_string(&error).unwrap();
        assert!(!body.contains("room_grants"), "{body}");

        let io = ServerError::io("storing an upload")(std::io::Error::other("/secret/path: disk full"));
        assert!(!serde_json::to_string(&io.into_app_error()).unwrap().contains("/secret"));
    }

    #[test]
    fn an_unreachable_database_is_a_503_to_retry_and_a_failed_query_is_not() {
        for unreachable in
            [sqlx::Error::PoolTimedOut, sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))]
        {
            let error = ServerError::Database(unreachable).into_app_error();
            assert_eq!((error.status(), error.retry_after()), (503, Some(5)));
        }
        assert_eq!(ServerError::Database(sqlx::Error::RowNotFound).into_app_error().status(), 500);
    }

    #[test]
    fn client_errors_keep_their_message_and_status() {
        let error = ServerError::from(Refusal::Full).into_app_error();
        assert_eq!((error.status(), error.to_string()), (409, "This room is full.".to_owned()));
        let throttled = AppError::TooManyRequests { limit: protocol::error::Limit::Sending, retry_after: 7 };
        assert_eq!(ServerError::Client(throttled.clone()).into_app_error(), throttled);
        assert_eq!(ServerError::Task(tokio_join_error()).into_app_error(), AppError::Internal);
    }

    fn tokio_join_error() -> tokio::task::JoinError {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async { tokio::spawn(async { panic!("boom") }).await.unwrap_err() })
    }
}
