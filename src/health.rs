//! Health endpoints for supervisors and load balancers, served outside the session layer and the access log (a
//! probe never gets a session, writes a row, or fills the log):
//!
//! - `GET /healthz`: the process is alive and serving HTTP (200; its version and commit are for the metrics and
//!   `--version`, not for anyone who asks).
//! - `GET /readyz`: it can serve people: both databases answer, the chat's with this build's schema, and it is
//!   not shutting down (503 names the failing checks otherwise). Uploads that cannot be written leave it
//!   "degraded" (200: text chat works; uploads answer 503 meanwhile). Answers are reused for a second, and
//!   concurrent probes share one round of checks, so a flood of probes costs the databases nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chat::Chat;
use chat::store::Db;
use http::{HeaderValue, header};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::database::sessions_answer;

/// The version and the git commit this binary was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("GIF_CHAT_COMMIT");

/// How long the readiness checks wait for the databases (all at once).
const PATIENCE: Duration = Duration::from_secs(2);
/// Checks whose failure leaves the server able to serve, less well.
const DEGRADING: [&str; 1] = ["uploads"];

/// How long a readiness answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);

/// What the probes look at.
#[derive(Clone)]
struct Probes {
    chat: Arc<Chat>,
    sessions: Db,
    /// The latest readiness answer and when it was made; locked while one is being made.
    latest: Arc<Mutex<Option<(Instant, StatusCode, Value)>>>,
}

/// `/healthz` and `/readyz`.
pub fn router(chat: Arc<Chat>, sessions: Db) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(Probes {
        chat,
        sessions,
        latest: Arc::default(),
    })
}

async fn healthz() -> Response {
    no_store(Json(json!({ "status": "ok" })).into_response())
}

async fn readyz(State(probes): State<Probes>) -> Response {
    let mut latest = probes.latest.lock().await;
    let (status, body) = match &*latest {
        Some((made, status, body)) if made.elapsed() < FRESH_FOR => (*status, body.clone()),
        _ => {
            let (status, body) = check(&probes).await;
            *latest = Some((Instant::now(), status, body.clone()));
            (status, body)
        }
    };
    drop(latest);
    no_store((status, Json(body)).into_response())
}

/// One round of checks.
async fn check(probes: &Probes) -> (StatusCode, Value) {
    let sessions = async {
        match tokio::time::timeout(PATIENCE, sessions_answer(&probes.sessions)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: the sessions' database does not answer");
                Err(format!("{} does not answer", probes.sessions.kind()))
            }
            Err(_) => Err(format!("{} did not answer within {PATIENCE:?}", probes.sessions.kind())),
        }
    };
    let (mut checks, sessions) = tokio::join!(probes.chat.readiness(PATIENCE), sessions);
    checks.push(("sessions", sessions));
    let failing: Vec<&str> = checks.iter().filter(|(_, result)| result.is_err()).map(|(name, _)| *name).collect();
    let (status, state) = match &failing[..] {
        [] => (StatusCode::OK, "ready"),
        // Text chat works without uploads: taking the instance out of the balancer would take chat from everyone
        // on it for want of GIFs.
        failing if failing.iter().all(|name| DEGRADING.contains(name)) => (StatusCode::OK, "degraded"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let named: Map<String, Value> = checks
        .into_iter()
        .map(|(name, result)| (name.to_owned(), Value::String(result.err().unwrap_or_else(|| "ok".to_owned()))))
        .collect();
    (status, json!({ "status": state, "checks": named }))
}

/// A probe's answer is about this moment: no cache may keep it.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
