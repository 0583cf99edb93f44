//! The server's stand-ins for the browser's effects: rendering never needs them, hydration replaces them.

use protocol::error::AppError;
use protocol::model::{ChatMessage, RoomId};

use super::{Notifications, SocketCallbacks, SocketSender};

/// A file the person picked, dropped or pasted (never one on the server).
pub enum PickedFile {}

pub fn mark_hydrated() {}

pub fn confirm(_message: &str) -> bool {
    true
}

pub fn random_id() -> Option<String> {
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

/// A page being rendered has no focus to move.
pub fn focus_by_id(_id: &str) {}

/// A page being rendered has no text cursor.
pub fn caret(_textarea: leptos::prelude::NodeRef<leptos::html::Textarea>) -> Option<usize> {
    None
}

pub fn set_caret(_textarea: leptos::prelude::NodeRef<leptos::html::Textarea>, _text: &str, _at: usize) {}

/// A page being rendered shows no dialog.
pub fn show_dialog(_dialog: leptos::prelude::NodeRef<leptos::html::Dialog>) {}

pub fn close_dialog(_dialog: leptos::prelude::NodeRef<leptos::html::Dialog>) {}

/// A page being rendered plays nothing.
pub fn reload_video(_video: leptos::prelude::NodeRef<leptos::html::Video>) {}

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

/// Without the reader's time zone, days are UTC's.
pub fn local_day(millis: i64) -> i64 {
    millis.div_euclid(86_400_000)
}

/// A day in UTC, e.g. "2026-12-05 (UTC)".
pub fn local_date(millis: i64) -> String {
    let iso = iso(millis);
    format!("{} (UTC)", &iso[..10.min(iso.len())])
}

/// An instant in UTC, e.g. "2026-12-05 14:05 UTC".
pub fn local_date_time(millis: i64) -> String {
    let iso = iso(millis);
    format!("{} {}", &iso[..10.min(iso.len())], super::utc_clock(millis))
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

/// The server renders once: there is nothing to drop on.
pub fn on_file_drop(_dragging: impl Fn(bool) + 'static, _dropped: impl Fn(PickedFile) + 'static) {}

pub fn file_name(file: &PickedFile) -> String {
    match *file {}
}

/// An upload under way (never one on the server).
pub enum Upload {}

impl Upload {
    pub fn cancel(&self) {
        match *self {}
    }
}

pub fn pasted_file(_event: &leptos::ev::ClipboardEvent) -> Option<PickedFile> {
    None
}

pub fn upload_gif(
    _room: RoomId,
    file: PickedFile,
    _share: Option<String>,
    _on_progress: impl Fn(f64) + 'static,
    _on_done: impl FnOnce(Result<ChatMessage, AppError>) + 'static,
) -> Option<Upload> {
    match file {}
}

pub fn open_socket(_path: &str, _callbacks: SocketCallbacks) -> Option<SocketSender> {
    None
}

/// A page being rendered has no layout: nothing changes size.
pub fn on_resize(_node: leptos::prelude::NodeRef<leptos::html::Ol>, _resized: impl Fn() + 'static) {}

/// Runs `tick` every `period` while the calling component lives (the server renders once: never).
pub fn repeat_every(_period: std::time::Duration, _tick: impl Fn() + 'static) {}

pub fn show_message(_seq: i64) -> bool {
    false
}

pub fn event_value(_event: &leptos::ev::Event, _selector: &str) -> Option<String> {
    None
}

/// A page being rendered shows no notifications.
pub fn notifications() -> Option<Notifications> {
    None
}

pub fn ask_for_notifications(_answered: impl Fn(Notifications) + 'static) {}

pub fn notify(_title: &str, _body: &str, _tag: &str, _link: Option<String>) {}
