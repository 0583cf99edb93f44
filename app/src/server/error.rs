//! Errors as HTTP answers outside server functions (the upload route): the same status, JSON and `Retry-After`
//! as theirs.

use ::chat::error::ServerError;
use axum::response::{IntoResponse, Response};

use protocol::error::AppError;

/// A server error as an answer: internal causes are logged and hidden ([`ServerError::into_app_error`]).
pub fn server_error_response(error: ServerError) -> Response {
    app_error_response(error.into_app_error())
}

/// An error answer outside server functions: the same status and JSON as theirs.
pub fn app_error_response(error: AppError) -> Response {
    let status = http::StatusCode::from_u16(error.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(&error)).into_response();
    if let Some(seconds) = error.retry_after() {
        response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::error::{Limit, Refusal};

    #[test]
    fn an_answer_carries_the_errors_status_and_when_to_retry() {
        let response = server_error_response(ServerError::Database(sqlx::Error::PoolTimedOut));
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "5");
        let response = app_error_response(AppError::TooManyRequests { limit: Limit::Sending, retry_after: 7 });
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "7");
        let response = server_error_response(Refusal::Full.into());
        assert_eq!(response.status(), 409);
        assert!(response.headers().get(http::header::RETRY_AFTER).is_none());
    }
}
