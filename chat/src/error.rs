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
    /// Reading or writing files: the uploads' storage (nothing else is kept in files).
    #[error("{context}: {source}")]
    Io { context: &'static str, source: std::io::Error },
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("password hashing: {0}")]
    PasswordHash(argon2::password_hash::Error),
    /// A failure shared by several requests that waited for one read (its cause, logged once).
    #[error("{0}")]
    Shared(String),
    /// This machine's clock and the database's disagree (see `Chat::check_clock`).
    #[error("{0}")]
    Clock(String),
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
            // The uploads' storage failed (unwritable, gone, out of space behind the floor's back): GIFs wait,
            // text chat does not, and the person is told which.
            ServerError::Io { context, source } => {
                tracing::error!(%source, context, "the uploads' storage failed");
                AppError::UploadsUnavailable
            }
            internal => {
                tracing::error!(error = %internal, "internal error");
                AppError::Internal
            }
        }
    }
}

/// Whether a database error says the database cannot serve now (down, restarting, out of connections, out of
/// disk, busy, failing to read or write its files), as opposed to a query that failed: the first passes, or is
/// the operator's to fix, and the client is told to try again later.
fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
        // SQLite: its primary result code (the low byte of the extended one): SQLITE_BUSY (5), SQLITE_LOCKED (6),
        // SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14).
        sqlx::Error::Database(error) if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => error
            .code()
            .and_then(|code| code.parse::<u32>().ok())
            .is_some_and(|code| [5, 6, 10, 13, 14].contains(&(code & 0xff))),
        // PostgreSQL: connection exceptions (class 08), shutting down or starting up (57P01–57P03), too many
        // connections (53300), out of disk (53100) or memory (53200).
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03", "53300", "53100", "53200"].contains(&&*code)
        }),
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
        let error = io.into_app_error();
        assert_eq!(error.status(), 503, "the uploads' storage failing is no internal error: text chat still works");
        assert!(!serde_json::to_string(&error).unwrap().contains("/secret"));
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

    #[tokio::test]
    async fn a_full_sqlite_database_is_a_503_not_an_internal_error() {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (x BLOB)").execute(&mut db).await.unwrap();
        sqlx::query("PRAGMA max_page_count = 8").execute(&mut db).await.unwrap();
        let full = loop {
            match sqlx::query("INSERT INTO t VALUES (zeroblob(4000))").execute(&mut db).await {
                Ok(_) => continue,
                Err(error) => break error,
            }
        };
        assert!(full.to_string().contains("full"), "{full}");
        assert_eq!(ServerError::Database(full).into_app_error().status(), 503);
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
