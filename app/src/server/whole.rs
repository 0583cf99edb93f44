//! Pages rendered to the end, whoever leaves.
//!
//! A page renders as its body streams out, inside a reactive owner that the body holds. When the client goes away
//! mid-render (a reader who navigates on, a test that reads only the status), the body is dropped on one thread
//! while the render still runs on another; Leptos then disposes owners the render is reading, and its render task
//! panics (leptos-rs/leptos#3595) or deadlocks a worker thread for good (seen here: a `use_context` in `<A>` holding
//! the last reference to a disposed parent owner, whose cleanup waits for the lock the same thread holds). So each
//! page runs in a task of its own that reads its body to the end before answering: leaving drops only the wait
//! for that task, never the render.
//!
//! Requests that change something (server functions' POSTs, uploads) run whole too, from the connection on, all
//! layers included (`src/connections.rs`): a send, a kick, a room's creation that has begun is committed and
//! announced even if its client goes away (or resets its HTTP/2 stream) meanwhile (`tests/it/doors.rs` cuts a
//! hundred sends short).

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// Far above any page (the room page is about 50 KB): a body over this is an error, not a page.
const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Middleware for the page routes: see the module's documentation.
pub async fn render_whole(request: Request, next: Next) -> Response {
    let rendering = tokio::spawn(async move {
        let (parts, body) = next.run(request).await.into_parts();
        match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
            Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
            Err(error) => {
                tracing::error!(%error, "rendering a page");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    });
    rendering.await.unwrap_or_else(|error| {
        tracing::error!(%error, "the task rendering a page failed");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    })
}
