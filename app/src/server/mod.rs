//! The web's side of the server (compiled with the `ssr` feature): thin adapters from HTTP to the chat core
//! (the `chat` crate, whose [`Chat`](::chat::Chat) is the one door to rooms, presence and messages). Here live the
//! request layers (client address, origin, body deadlines, the visitor), the server functions' context, forms
//! posted without the WASM, the live channel's websocket and the upload routes.

pub mod address;
pub mod bodies;
pub mod context;
pub mod error;
pub mod forms;
pub mod identity;
pub mod origin;
pub mod upload;
pub mod whole;
pub mod ws;

mod state;

pub use state::{AppState, Edge};
