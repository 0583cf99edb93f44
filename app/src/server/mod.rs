//! Server-only code (compiled with the `ssr` feature). The chat service ([`chat::Chat`]) is the one door to
//! rooms, presence and messages; around it sit the request-facing parts (server-function context, the live
//! channel, the upload routes, the visitor layer) and the parts it is built from (hub, uploads store, GIF
//! validator, passwords, settings).

pub mod address;
pub mod attempts;
pub mod bodies;
pub mod broker;
pub mod chat;
pub mod context;
pub mod error;
pub mod forms;
pub mod gif;
pub mod hub;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod origin;
pub mod passwords;
pub mod settings;
pub mod store;
pub mod upload;
pub mod uploads;
pub mod ws;

mod state;

pub use state::AppState;
