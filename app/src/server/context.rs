//! What server functions need from the request they run in: the chat service, the visitor, and a way to give an
//! error its HTTP status.

use std::sync::Arc;

use leptos::prelude::*;

use crate::server::AppState;
use crate::server::address::ClientAddress;
use crate::server::identity::Visitor;
use ::chat::Chat;
use ::chat::error::{ServerError, ServerResult};
use ::chat::limits::Limits;
use protocol::error::AppError;
use protocol::model::Person;

pub fn chat() -> Arc<Chat> {
    expect_context::<AppState>().chat
}

/// The rate limits, checked before the chat is asked.
pub fn limits() -> Arc<Limits> {
    expect_context::<AppState>().limits
}

/// The person making the request (every request has one: the visitor layer creates it).
pub async fn me() -> ServerResult<Person> {
    let axum::Extension(visitor) = leptos_axum::extract::<axum::Extension<Visitor>>()
        .await
        .map_err(|error| ServerError::Context(format!("no visitor on the request: {error}")))?;
    Ok(visitor.person)
}

/// The address the request came from (see [`crate::server::address`]).
pub async fn client_address() -> Option<std::net::IpAddr> {
    leptos_axum::extract::<Option<axum::Extension<ClientAddress>>>().await.ok().flatten().map(|address| address.0.0)
}

/// Whether the server function was called by a browser's own form post (no WASM, so no live connection): see
/// [`crate::server::forms`].
pub fn plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| crate::server::forms::accepts_html(&parts.headers))
}

/// The boundary of every server function: turns the server's error into the wire error (logging and hiding
/// internal causes) and answers it with its HTTP status (server functions otherwise answer every error with
/// 500).
pub fn respond<T>(result: ServerResult<T>) -> Result<T, AppError> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error.into_app_error(),
    };
    if let (Some(response), Ok(status)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(error.status()))
    {
        response.set_status(status);
        if let Some(seconds) = error.retry_after() {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
    Err(error)
}

/// Middleware: gives server-function errors raised before our code runs (arguments that do not parse, a missing
/// argument) their proper status. The server-function machinery answers all of them with 500; the error in the
/// body knows better (see [`AppError::status`]).
pub async fn server_fn_error_status(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    if response.status() != http::StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Error bodies are small JSON documents; anything bigger is not ours, and is answered with an empty body.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return http::Response::from_parts(parts, axum::body::Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes)
        && let Ok(status) = http::StatusCode::from_u16(error.status())
    {
        parts.status = status;
    }
    http::Response::from_parts(parts, axum::body::Body::from(bytes))
}
