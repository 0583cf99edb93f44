//! Server-only code (compiled with the `ssr` feature): shared state and everything that touches the database,
//! the disk or the live connections.

pub mod attempts;
pub mod chat;
pub mod context;
pub mod db;
pub mod hub;
pub mod identity;
pub mod passwords;
pub mod presence;
pub mod upload;
pub mod ws;

mod state;

pub use state::AppState;
