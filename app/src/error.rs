//! The one error type that crosses the wire: every server function returns it, and the UI shows its message.
//! Internal failures are logged on the server and reach the client only as "something went wrong".

use leptos::prelude::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::codec::JsonEncoding;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A request that is malformed as a whole (not multipart, a missing field).
    #[error("{0}")]
    BadRequest(String),
    /// An upload over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// An upload that is not a clean GIF.
    #[error("{0}")]
    NotAGif(String),
    #[error("This room does not exist (any more).")]
    RoomNotFound,
    #[error("Wrong password.")]
    WrongPassword,
    #[error("This room is full.")]
    RoomFull,
    #[error("You are not in this room.")]
    NotInRoom,
    /// Not allowed, whatever the client sends (a non-owner's kick or delete).
    #[error("{0}")]
    Forbidden(String),
    /// Too many password attempts; the next is allowed after this many seconds.
    #[error("Too many attempts. Try again in {0} seconds.")]
    TooManyAttempts(u64),
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The request itself failed (network, encoding): raised by the server-function machinery.
    #[error("The request failed: {0}")]
    Request(ServerFnErrorErr),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::Invalid(message.into())
    }

    /// The HTTP status the error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 422,
            AppError::BadRequest(_) => 400,
            AppError::TooLarge(_) => 413,
            AppError::NotAGif(_) => 415,
            AppError::RoomNotFound => 404,
            AppError::WrongPassword | AppError::NotInRoom | AppError::Forbidden(_) => 403,
            AppError::RoomFull => 409,
            AppError::TooManyAttempts(_) => 429,
            AppError::Internal => 500,
            AppError::Request(ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_)) => 400,
            AppError::Request(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(error: ServerFnErrorErr) -> AppError {
        AppError::Request(error)
    }
}

impl From<ServerFnErrorErr> for AppError {
    fn from(error: ServerFnErrorErr) -> AppError {
        AppError::Request(error)
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> AppError {
        tracing::error!(%error, "database error");
        AppError::Internal
    }
}

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = http::StatusCode::from_u16(self.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}
