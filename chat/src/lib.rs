//! gif-chat's core: the chat service ([`Chat`], the one door to rooms, presence and messages) and what it is built
//! from: the database (`store`), the hub and the broker between processes, the uploads store and GIF re-encoding,
//! limits, metrics and settings. No web framework: the `app` crate adapts it to HTTP and the live channel's
//! websocket (docs/architecture.md).

pub mod attempts;
pub mod broker;
pub mod error;
pub mod gif;
pub mod heavy;
pub mod hub;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod passwords;
pub mod service;
pub mod settings;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod uploads;
pub mod video;

pub use service::{ANY_ARRIVAL, Admission, AfterLag, ArrivalCheck, Chat, Footprint, Joined, Outgoing, library_words};
