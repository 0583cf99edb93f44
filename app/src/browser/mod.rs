//! Everything that touches the browser: web APIs, timers, the websocket, file pickers, uploads. With the
//! `hydrate` feature these are the real thing (`web.rs`); on the server each is a harmless stand-in
//! (`server.rs`) with the same signature, so pages and components never need a `cfg`.

#[cfg(feature = "hydrate")]
mod web;
#[cfg(feature = "hydrate")]
pub use web::*;

#[cfg(not(feature = "hydrate"))]
mod server;
#[cfg(not(feature = "hydrate"))]
pub use server::*;

use std::sync::Arc;

/// What the live channel's socket reports, and what it sends when it (re)opens.
#[derive(Clone)]
pub struct SocketCallbacks {
    /// The frames to send as soon as the socket opens (the page's subscription, the alarms' watch).
    pub hello: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
    pub on_message: Arc<dyn Fn(&str) + Send + Sync>,
    /// True when the socket opened, false when it dropped (it is then reopened with backoff).
    pub on_online: Arc<dyn Fn(bool) + Send + Sync>,
}

/// Whether the person allowed this browser's desktop notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notifications {
    /// Not asked yet (the browser asks when the person opts in).
    NotAsked,
    Allowed,
    Refused,
}

/// Sends a text frame on the live channel's socket, if it is open.
pub type SocketSender = Arc<dyn Fn(&str) + Send + Sync>;

/// Clock time of an instant (Unix milliseconds) in UTC, e.g. "14:05 UTC": what the server renders, since it
/// does not know the reader's time zone.
pub fn utc_clock(millis: i64) -> String {
    let minutes_of_day = millis.rem_euclid(86_400_000) / 60_000;
    format!("{:02}:{:02} UTC", minutes_of_day / 60, minutes_of_day % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_side_times_are_utc() {
        // 2026-11-22T03:41:07.250Z
        let millis = 1_795_318_867_250;
        assert_eq!(super::utc_clock(millis), "03:41 UTC");
        #[cfg(not(feature = "hydrate"))]
        assert_eq!(super::iso(millis), "2026-11-22T03:41:07.250Z");
    }
}
