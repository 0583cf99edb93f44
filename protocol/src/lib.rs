//! What the server and its clients share: validated values (`domain`), what pages render and the live channel
//! carries (`model`, and a person's `alarms`), the live protocol (`live`), the one wire error (`error`) and how server functions' answers
//! travel (`codec`, with the `server-fn` feature). No views and no database: the browser, the server and tools
//! such as the load tool depend on it alike (docs/protocol.md is its specification).

// First: its macro is used by the modules after it.
#[macro_use]
mod reading;

pub mod alarms;
#[cfg(feature = "server-fn")]
pub mod codec;
pub mod domain;
pub mod error;
pub mod live;
pub mod mentions;
pub mod model;
