//! `GET /metrics` (Prometheus' text format), on an address of its own (`--metrics-addr`): see
//! `chat::metrics` for what is counted.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use chat::Chat;
use chat::metrics::CONTENT_TYPE;
use http::header;

/// How long a scrape waits for the database's counts (rooms, people) before answering without fresh ones.
const PATIENCE: Duration = Duration::from_secs(2);

pub fn router(chat: Arc<Chat>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(chat)
}

async fn metrics(State(chat): State<Arc<Chat>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], chat.render_metrics(PATIENCE).await)
}
