//! The state every request handler and server function can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::server::identity::Identities;
use crate::server::origin::OriginPolicy;
use ::chat::Chat;

/// Cheap to clone: every field is a handle.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub chat: Arc<Chat>,
    /// Who may act with a visitor's cookie (state-changing requests and the live channel).
    pub origins: OriginPolicy,
    /// How visitors are recognised (the visitor cookie's key).
    pub identities: Identities,
}
