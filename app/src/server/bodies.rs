//! Server functions' request bodies (small forms) arrive whole and in time: a body that trickles (a slowloris
//! holding a connection open a byte at a time) is answered 408 once it stalls, and one that is too big for a form
//! is answered 413, before any server function sees it. Uploads have their own streaming rules (`upload.rs`).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;

use crate::server::AppState;
use crate::server::error::app_error_response;
use protocol::error::AppError;

/// The largest form a server function takes (a 2,000-character message, a title, a password…, encoded).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Middleware: reads a server function's body (`POST /api/…`) with a stall timeout and a size cap.
pub async fn read_forms_in_time(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match read_whole(body, state.edge.upload_idle).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(error) => app_error_response(error),
    }
}

/// The body, chunk by chunk, each within `idle` of the last.
async fn read_whole(body: Body, idle: Duration) -> Result<Vec<u8>, AppError> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    loop {
        let chunk = tokio::time::timeout(idle, chunks.next())
            .await
            .map_err(|_| AppError::Timeout("The request stalled. Please try again.".into()))?;
        let Some(chunk) = chunk else { return Ok(bytes) };
        let chunk = chunk.map_err(|_| AppError::BadRequest("The request could not be read.".into()))?;
        if bytes.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(AppError::TooLarge("The request is too large.".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
}
