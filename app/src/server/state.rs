//! The state every request handler and server function can reach.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::server::identity::Identities;
use crate::server::origin::OriginPolicy;
use ::chat::Chat;
use ::chat::limits::Limits;

/// Cheap to clone: every field is a handle.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub chat: Arc<Chat>,
    /// The rate limits every way of writing passes, checked where requests come in (before the chat is asked).
    pub limits: Arc<Limits>,
    pub edge: Edge,
    /// Who may act with a visitor's cookie (state-changing requests and the live channel).
    pub origins: OriginPolicy,
    /// How visitors are recognised (the visitor cookie's key).
    pub identities: Identities,
}

/// How long the web's side waits for slow peers (the chat itself never waits for a client).
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// How long an upload's or a form's body may stall before it is refused.
    pub upload_idle: Duration,
    /// How long an upload may take in all, however it trickles in.
    pub upload_deadline: Duration,
    /// How long a live connection may take to accept one frame before it is dropped as too slow to keep.
    pub slow_client: Duration,
}
