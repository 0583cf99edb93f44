//! The server's stand-ins for the browser's effects: rendering never needs them, hydration replaces them.

use protocol::error::AppError;
use protocol::model::{ChatMessage, RoomId};

use super::{SocketCallbacks, SocketSender};

/// A file the person picked, dropped or pasted (never one on the server).
pub enum PickedFile {}

pub fn mark_hydrated() {}

pub fn confirm(_message: &str) -> bool {
    true
}

pub fn random_uuid() -> Option<String> {
    None
}

pub fn lowercase(text: &str) -> String {
    text.to_lowercase()
}

/// The server never waits on a timer for a page: no spread needed.
pub fn jitter_ms(_limit: u32) -> u32 {
    0
}

pub async fn sleep_ms(_millis: u32) {}

/// A page being rendered is not hidden.
pub fn page_hidden() -> bool {
    false
}

pub fn on_page_hidden_change(_changed: impl Fn(bool) + 'static) {}

/// A page being rendered has no screen: nothing to match.
pub fn on_media_change(_query: &'static str, _changed: impl Fn(bool) + 'static) {}

pub fn close_like_a_popup(_details: leptos::prelude::NodeRef<leptos::html::Details>) {}

pub fn stored(_key: &str) -> Option<String> {
    None
}

pub fn store(_key: &str, _value: &str) {}

pub fn forget(_key: &str) {}

pub fn media_matches(_query: &str) -> bool {
    false
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Without the reader's time zone, local time is UTC.
pub fn local_clock(millis: i64) -> String {
    super::utc_clock(millis)
}

/// An instant as ISO 8601 in UTC with milliseconds (for `<time datetime>`).
pub fn iso(millis: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|instant| instant.format(FORMAT).ok())
        .unwrap_or_default()
}

pub fn picked_file(_event: &leptos::ev::Event) -> Option<PickedFile> {
    None
}

pub fn dropped_file(_event: &leptos::ev::DragEvent) -> Option<PickedFile> {
    None
}

pub fn pasted_file(_event: &leptos::ev::ClipboardEvent) -> Option<PickedFile> {
    None
}

pub fn upload_gif(
    _room: RoomId,
    file: PickedFile,
    _on_progress: impl Fn(f64) + 'static,
    _on_done: impl FnOnce(Result<ChatMessage, AppError>) + 'static,
) {
    match file {}
}

pub fn open_socket(_path: &str, _callbacks: SocketCallbacks) -> Option<SocketSender> {
    None
}

/// Runs `tick` every `period` while the calling component lives (the server renders once: never).
pub fn repeat_every(_period: std::time::Duration, _tick: impl Fn() + 'static) {}
