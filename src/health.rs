//! Health endpoints for supervisors and load balancers, served outside the session layer (a probe never gets a
//! session, nor writes a row):
//!
//! - `GET /healthz`: the process is alive and serving HTTP (200, with its version).
//! - `GET /readyz`: it can serve people: the database answers with this build's schema, uploads are writable,
//!   and it is not shutting down. 503 names the failing checks otherwise.

use std::time::Duration;

use app::server::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Map, Value, json};

/// The version and the git commit this binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("GIF_CHAT_COMMIT");

/// How long the readiness checks wait for the database.
const PATIENCE: Duration = Duration::from_secs(2);

pub async fn healthz() -> Response {
    no_store(Json(json!({ "status": "ok", "version": VERSION, "commit": COMMIT })).into_response())
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let checks = state.chat.readiness(PATIENCE).await;
    let ready = checks.iter().all(|(_, result)| result.is_ok());
    let named: Map<String, Value> = checks
        .into_iter()
        .map(|(name, result)| (name.to_owned(), Value::String(result.err().unwrap_or_else(|| "ok".to_owned()))))
        .collect();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({ "status": if ready { "ready" } else { "unavailable" }, "checks": named });
    no_store((status, Json(body)).into_response())
}

/// A probe's answer is about this moment: no cache may keep it.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
