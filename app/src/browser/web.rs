//! The browser's side of every effect (compiled with `hydrate` only).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{Notifications, SocketCallbacks, SocketSender};
use protocol::error::AppError;
use protocol::model::{ChatMessage, RoomId};

pub type PickedFile = web_sys::File;

/// Sets `data-hydrated` on `<body>` once the WASM client has taken over the page. Effects never run during
/// SSR, so the attribute is an honest signal that event handlers are attached (the end-to-end tests wait for it).
pub fn mark_hydrated() {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

pub fn confirm(message: &str) -> bool {
    window().confirm_with_message(message).unwrap_or(false)
}

/// 128 fresh random bits from the browser's crypto, as 32 hex digits (`getRandomValues`: unlike `randomUUID`, it
/// is there on a plain-HTTP page too).
pub fn random_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    window().crypto().ok()?.get_random_values_with_u8_array(&mut bytes).ok()?;
    Some(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// `text` in lower case, by the browser (Rust's own case tables would add about 15 KB to the bundle).
pub fn lowercase(text: &str) -> String {
    js_sys::JsString::from(text).to_lower_case().into()
}

/// A random number of milliseconds below `limit`, different on each page: spreads out what many pages would
/// otherwise do at the same moment.
pub fn jitter_ms(limit: u32) -> u32 {
    (js_sys::Math::random() * f64::from(limit)) as u32
}

pub async fn sleep_ms(millis: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis as i32);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Calls `resized` whenever the element `node` refers to changes size (something beside it grew or shrank), while
/// the calling component lives.
pub fn on_resize(node: NodeRef<leptos::html::Ol>, resized: impl Fn() + 'static) {
    let callback = Closure::<dyn FnMut()>::new(resized);
    let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) else { return };
    let watching = observer.clone();
    Effect::new(move |_| {
        watching.disconnect();
        if let Some(element) = node.get() {
            watching.observe(&element);
        }
    });
    // Both live as long as the component (the callback must outlive the observer that calls it).
    let (observer, _callback) = (StoredValue::new_local(observer), StoredValue::new_local(callback));
    on_cleanup(move || {
        observer.try_with_value(web_sys::ResizeObserver::disconnect);
    });
}

/// Runs `tick` every `period` while the calling component lives.
pub fn repeat_every(period: std::time::Duration, tick: impl Fn() + 'static) {
    if let Ok(handle) = set_interval_with_handle(tick, period) {
        on_cleanup(move || handle.clear());
    }
}

/// Whether the page is hidden (another tab in front, the window minimised).
pub fn page_hidden() -> bool {
    document().hidden()
}

/// Calls `changed` with whether the page is hidden each time that changes, while the calling component lives.
pub fn on_page_hidden_change(changed: impl Fn(bool) + 'static) {
    let listener = window_event_listener_untyped("visibilitychange", move |_| changed(document().hidden()));
    on_cleanup(move || listener.remove());
}

/// Calls `changed` once hydrated, and then whenever it changes as the window is resized or turned, with whether
/// the CSS media query `query` matches, while the calling component lives.
pub fn on_media_change(query: &'static str, changed: impl Fn(bool) + 'static) {
    let changed = Rc::new(changed);
    let last = Rc::new(std::cell::Cell::new(None::<bool>));
    let update = move || {
        let now = media_matches(query);
        if last.replace(Some(now)) != Some(now) {
            changed(now);
        }
    };
    let first = update.clone();
    Effect::new(move |_| first());
    // The query's own `change` (a preference, such as reduced motion, changes without a resize), and resizes.
    let list = window().match_media(query).ok().flatten();
    let on_change = Closure::<dyn Fn()>::new({
        let update = update.clone();
        move || update()
    });
    if let Some(list) = &list {
        let _ = list.add_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
    }
    let listener = window_event_listener(leptos::ev::resize, move |_| update());
    let list = send_wrapper::SendWrapper::new((list, on_change));
    on_cleanup(move || {
        listener.remove();
        let (list, on_change) = list.take();
        if let Some(list) = list {
            let _ = list.remove_event_listener_with_callback("change", on_change.as_ref().unchecked_ref());
        }
    });
}

/// Moves the keyboard's focus to the element of id `id`, if there is one.
pub fn focus_by_id(id: &str) {
    let element = document().get_element_by_id(id);
    if let Some(element) = element.and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = element.focus();
    }
}

/// Where the text cursor is in `textarea`, as a byte offset into its value (the browser counts UTF-16 units).
pub fn caret(textarea: NodeRef<leptos::html::Textarea>) -> Option<usize> {
    let textarea = textarea.try_get_untracked().flatten()?;
    let units = textarea.selection_start().ok().flatten()? as usize;
    let value = textarea.value();
    let mut counted = 0;
    for (at, c) in value.char_indices() {
        if counted >= units {
            return Some(at);
        }
        counted += c.len_utf16();
    }
    Some(value.len())
}

/// Puts the text cursor of `textarea` at the byte offset `at` of `text` (its value), on the next frame (after the
/// value it was given is in place).
pub fn set_caret(textarea: NodeRef<leptos::html::Textarea>, text: &str, at: usize) {
    let units = text[..at.min(text.len())].encode_utf16().count() as u32;
    request_animation_frame(move || {
        if let Some(textarea) = textarea.try_get_untracked().flatten() {
            let _ = textarea.set_selection_range(units, units);
        }
    });
}

/// Opens a dialog as a modal one: the rest of the page is inert, Escape closes it, focus moves into it.
pub fn show_dialog(dialog: NodeRef<leptos::html::Dialog>) {
    if let Some(dialog) = dialog.try_get_untracked().flatten()
        && !dialog.open()
    {
        let _ = dialog.show_modal();
    }
}

/// Closes a dialog (if the page still has it: a request that ends with it may end after the page went).
pub fn close_dialog(dialog: NodeRef<leptos::html::Dialog>) {
    if let Some(dialog) = dialog.try_get_untracked().flatten() {
        dialog.close();
    }
}

/// Makes a video choose its source again (after its sources' media queries changed) and start over: it plays if
/// one matches (it autoplays), else it shows its poster.
pub fn reload_video(video: NodeRef<leptos::html::Video>) {
    // (The page may be gone by now.)
    if let Some(video) = video.try_get_untracked().flatten() {
        video.load();
    }
}

/// Makes the disclosure `details` close as a pop-up does, while the calling component lives: on Escape (the focus
/// goes back to its summary, where the reader opened it) and on a press anywhere outside it.
pub fn close_like_a_popup(details: NodeRef<leptos::html::Details>) {
    let escape = window_event_listener(leptos::ev::keydown, move |event| {
        let Some(details) = details.get_untracked().filter(|details| details.open()) else { return };
        if event.key() == "Escape" {
            details.set_open(false);
            let summary = details.query_selector("summary").ok().flatten();
            if let Some(summary) = summary.and_then(|summary| summary.dyn_into::<web_sys::HtmlElement>().ok()) {
                let _ = summary.focus();
            }
        }
    });
    let press = window_event_listener(leptos::ev::pointerdown, move |event| {
        let Some(details) = details.get_untracked().filter(|details| details.open()) else { return };
        let target = event.target().and_then(|target| target.dyn_into::<web_sys::Node>().ok());
        if !target.is_some_and(|target| details.contains(Some(&target))) {
            details.set_open(false);
        }
    });
    on_cleanup(move || {
        escape.remove();
        press.remove();
    });
}

fn local_storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// What this browser keeps under `key` (its local storage: it outlives a reload and a closed tab).
pub fn stored(key: &str) -> Option<String> {
    local_storage()?.get_item(key).ok().flatten()
}

/// Keeps `value` under `key`. A browser that refuses (storage off, full) keeps nothing, and nothing else changes.
pub fn store(key: &str, value: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(key, value);
    }
}

pub fn forget(key: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.remove_item(key);
    }
}

/// Whether the CSS media query `query` matches now.
pub fn media_matches(query: &str) -> bool {
    window().match_media(query).ok().flatten().is_some_and(|list| list.matches())
}

pub fn now_millis() -> i64 {
    js_sys::Date::now() as i64
}

/// Clock time in the reader's own time zone, e.g. "14:05".
pub fn local_clock(millis: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// The day of an instant in the reader's time zone, as a number that grows by one each day.
pub fn local_day(millis: i64) -> i64 {
    /// 1970-01-01's Julian day.
    const UNIX_EPOCH_DAY: i64 = 2_440_588;
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64));
    let month = time::Month::try_from(date.get_month() as u8 + 1).unwrap_or(time::Month::January);
    time::Date::from_calendar_date(date.get_full_year() as i32, month, date.get_date() as u8)
        .map_or(millis.div_euclid(86_400_000), |day| i64::from(day.to_julian_day()) - UNIX_EPOCH_DAY)
}

/// An instant in the reader's language and time zone, by the browser's `Intl.DateTimeFormat` with `options`
/// (pairs of option and value).
fn local_format(millis: i64, options: &[(&str, &str)]) -> String {
    let settings = js_sys::Object::new();
    for (option, value) in options {
        let _ = js_sys::Reflect::set(&settings, &(*option).into(), &(*value).into());
    }
    let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &settings);
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64));
    format
        .format()
        .call1(&wasm_bindgen::JsValue::NULL, &date)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_default()
}

/// A day in the reader's language, e.g. "Saturday 5 December 2026".
pub fn local_date(millis: i64) -> String {
    local_format(millis, &[("weekday", "long"), ("day", "numeric"), ("month", "long"), ("year", "numeric")])
}

/// An instant in full in the reader's language, e.g. "Saturday 5 December 2026 at 14:05".
pub fn local_date_time(millis: i64) -> String {
    local_format(millis, &[("dateStyle", "full"), ("timeStyle", "short")])
}

pub fn iso(millis: i64) -> String {
    String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(millis as f64)).to_iso_string())
}

/// The file picked in an `<input type=file>` (which is then cleared, so the same file can be picked again).
pub fn picked_file(event: &leptos::ev::Event) -> Option<PickedFile> {
    let input: web_sys::HtmlInputElement = event.target()?.unchecked_into();
    let file = input.files().and_then(|files| files.get(0));
    input.set_value("");
    file
}

/// While the calling component lives, a file dragged anywhere over the page is the page's: the browser never
/// opens it (which would leave the chat). `dragging` says when a drag of files is over the page; `dropped` gets
/// the file dropped.
pub fn on_file_drop(dragging: impl Fn(bool) + 'static, dropped: impl Fn(PickedFile) + 'static) {
    let carries_files = |event: &web_sys::DragEvent| {
        event.data_transfer().is_some_and(|data| data.types().includes(&"Files".into(), 0))
    };
    let dragging = Rc::new(dragging);
    let over = {
        let dragging = dragging.clone();
        window_event_listener(leptos::ev::dragover, move |event| {
            if carries_files(&event) {
                event.prevent_default();
                dragging(true);
            }
        })
    };
    let leave = {
        let dragging = dragging.clone();
        // Leaving an element inside the page says where it goes; leaving the window says nothing.
        window_event_listener(leptos::ev::dragleave, move |event| {
            if event.related_target().is_none() {
                dragging(false);
            }
        })
    };
    let drop = window_event_listener(leptos::ev::drop, move |event| {
        event.prevent_default();
        dragging(false);
        if let Some(file) = event.data_transfer().and_then(|d| d.files()).and_then(|files| files.get(0)) {
            dropped(file);
        }
    });
    on_cleanup(move || {
        over.remove();
        leave.remove();
        drop.remove();
    });
}

pub fn file_name(file: &PickedFile) -> String {
    file.name()
}

/// An upload under way, which the person may cancel. (Wrapped to be kept in a signal: the browser has one thread.)
pub struct Upload(send_wrapper::SendWrapper<web_sys::XmlHttpRequest>);

impl Upload {
    /// Stops sending: the server stores nothing of it.
    pub fn cancel(&self) {
        let _ = self.0.abort();
    }
}

/// A pasted file; the paste is then ours (the text field does not get it).
pub fn pasted_file(event: &leptos::ev::ClipboardEvent) -> Option<PickedFile> {
    let file = event.clipboard_data().and_then(|d| d.files()).and_then(|files| files.get(0))?;
    event.prevent_default();
    Some(file)
}

/// Posts `file` as the multipart field `gif` to `/room/<id>/gif`. `fetch` cannot report upload progress, so this
/// uses XMLHttpRequest. Calls `on_progress` with 0.0–1.0 as bytes go out, then `on_done` once with the stored
/// message or the server's error (the same error shape as every server function's).
pub fn upload_gif(
    room: RoomId,
    file: PickedFile,
    share: Option<String>,
    on_progress: impl Fn(f64) + 'static,
    on_done: impl FnOnce(Result<ChatMessage, AppError>) + 'static,
) -> Option<Upload> {
    let cannot = || Err(AppError::Unreachable("This browser cannot upload files.".into()));
    let (Ok(request), Ok(form)) = (web_sys::XmlHttpRequest::new(), web_sys::FormData::new()) else {
        on_done(cannot());
        return None;
    };
    // Before the file: the server reads the fields in order (it also takes them after).
    if let Some(words) = share {
        let _ = form.append_with_str("library", "on");
        let _ = form.append_with_str("words", &words);
    }
    let _ = form.append_with_blob_and_filename("gif", &file, &file.name());
    let _ = request.open("POST", &format!("/room/{room}/gif"));

    let progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
        if event.length_computable() && event.total() > 0.0 {
            on_progress(event.loaded() / event.total());
        }
    });
    if let Ok(upload) = request.upload() {
        upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
    }

    // Called exactly once, from `loadend` (which follows load, error and abort alike).
    let on_done = Rc::new(RefCell::new(Some(on_done)));
    let finished = {
        let request = request.clone();
        Closure::<dyn FnMut()>::new(move || {
            let Some(on_done) = on_done.borrow_mut().take() else { return };
            let status = request.status().unwrap_or(0);
            let body = request.response_text().ok().flatten().unwrap_or_default();
            on_done(match status {
                200 => serde_json::from_str::<ChatMessage>(&body)
                    .map_err(|_| AppError::Unreachable("The server sent an unexpected answer.".into())),
                0 => Err(AppError::Unreachable("The upload failed: you seem to be offline.".into())),
                _ => Err(serde_json::from_str::<AppError>(&body)
                    .unwrap_or_else(|_| AppError::Unreachable(format!("The upload failed (HTTP {status}).")))),
            });
        })
    };
    request.set_onloadend(Some(finished.as_ref().unchecked_ref()));
    // The closures must live until the request ends; they are small and each upload makes two.
    progress.forget();
    finished.forget();
    // On failure, loadend still fires and reports it.
    let _ = request.send_with_opt_form_data(Some(&form));
    Some(Upload(send_wrapper::SendWrapper::new(request)))
}

/// Proxies commonly close connections idle for 60 s; a ping every 25 s keeps ours busy.
const HEARTBEAT_MS: u64 = 25_000;

/// The application-level heartbeat frame.
#[derive(Default)]
struct Heartbeat;

impl std::fmt::Display for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(r#"{"type":"ping"}"#)
    }
}

/// Reconnect delays: 0.5 s, doubling up to 4 s, with up to 50% random jitter so that a restarted server is not
/// hit by every client at the same instant. The longest delay (6 s) stays well inside the server's grace for
/// rooms after a restart.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 500.0 * 2f64.powi(attempt.min(3) as i32);
    std::time::Duration::from_millis((base * (1.0 + js_sys::Math::random() * 0.5)) as u64)
}

/// Opens the app's websocket at `path`, kept alive with a heartbeat, reopened with backoff when it drops and
/// when the browser comes back online. Returns the way to send on it.
pub fn open_socket(path: &str, callbacks: SocketCallbacks) -> Option<SocketSender> {
    use codee::string::FromToStringCodec;
    use leptos_use_core::ReconnectLimit;
    use leptos_use_websocket::{UseWebSocketOptions, UseWebSocketReturn, use_websocket_with_options};

    let attempts = StoredValue::new(0u32);
    let reopen: StoredValue<Option<Arc<dyn Fn() + Send + Sync>>> = StoredValue::new(None);
    let SocketCallbacks { hello, on_message, on_online } = callbacks;
    let on_offline = on_online.clone();

    let options = UseWebSocketOptions::default()
        // Reconnecting is ours (with backoff); the crate's own retry uses a fixed interval.
        .reconnect_limit(ReconnectLimit::Limited(0))
        .on_open(move |event: web_sys::Event| {
            attempts.set_value(0);
            on_online(true);
            // The crate's `send` only works once its state says open, which is after this callback: write to the
            // socket that just opened.
            if let Some(socket) = event.target().and_then(|t| t.dyn_into::<web_sys::WebSocket>().ok()) {
                for text in hello() {
                    let _ = socket.send_with_str(&text);
                }
            }
        })
        .on_message_raw(move |text: &str| on_message(text))
        .on_close(move |_| {
            on_offline(false);
            let attempt = attempts.get_value();
            attempts.set_value(attempt + 1);
            set_timeout(
                move || {
                    if let Some(reopen) = reopen.get_value() {
                        reopen();
                    }
                },
                backoff(attempt),
            );
        })
        .heartbeat::<Heartbeat, FromToStringCodec>(HEARTBEAT_MS);

    let UseWebSocketReturn { open, close, send, .. } =
        use_websocket_with_options::<String, String, FromToStringCodec, _, _>(path, options);
    reopen.set_value(Some(Arc::new(open.clone())));

    // The browser knows when the network goes and comes back before any timeout would: follow it. (Leaving a
    // dead socket open would show "online" until the heartbeat's TCP write finally failed.)
    let went_offline = window_event_listener(leptos::ev::offline, move |_| close());
    let came_back = window_event_listener(leptos::ev::online, move |_| {
        attempts.set_value(0);
        open();
    });
    on_cleanup(move || {
        went_offline.remove();
        came_back.remove();
    });
    Some(Arc::new(move |text: &str| send(&text.to_owned())))
}

/// Scrolls the message `seq` of the log into view and puts the keyboard on it, marked for a moment (a reply's
/// quote followed): whether it is on the page.
pub fn show_message(seq: i64) -> bool {
    let Some(element) = document().get_element_by_id(&format!("m{seq}")) else { return false };
    element.scroll_into_view();
    if let Ok(element) = element.dyn_into::<web_sys::HtmlElement>() {
        let _ = element.set_attribute("tabindex", "-1");
        let _ = element.focus();
        let _ = element.class_list().add_1("highlighted");
        let marked = element.clone();
        leptos::prelude::set_timeout(
            move || drop(marked.class_list().remove_1("highlighted")),
            std::time::Duration::from_secs(2),
        );
    }
    true
}

/// The `value` of the element matching `selector` that an event happened in (the element itself or inside it):
/// how one handler serves many buttons (each button's own handler would add its own code to the bundle).
pub fn event_value(event: &web_sys::Event, selector: &str) -> Option<String> {
    let target: web_sys::Element = event.target()?.dyn_into().ok()?;
    target.closest(selector).ok()??.get_attribute("value")
}

/// Whether this browser shows desktop notifications (`None`: it cannot), and whether the person allowed them.
pub fn notifications() -> Option<Notifications> {
    let exists = js_sys::Reflect::has(&window(), &wasm_bindgen::JsValue::from_str("Notification")).unwrap_or(false);
    exists.then(|| match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => Notifications::Allowed,
        web_sys::NotificationPermission::Denied => Notifications::Refused,
        _ => Notifications::NotAsked,
    })
}

/// Asks the person to allow desktop notifications (only ever after they asked for them: a browser requires a
/// click), then calls `answered` with what they chose.
pub fn ask_for_notifications(answered: impl Fn(Notifications) + 'static) {
    let Ok(promise) = web_sys::Notification::request_permission() else { return };
    leptos::task::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        answered(notifications().unwrap_or(Notifications::Refused));
    });
}

/// Shows a desktop notification (one per `tag`: a newer one with the same tag replaces it); a click on it brings
/// this page to the front at `link`.
pub fn notify(title: &str, body: &str, tag: &str, link: Option<String>) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    let Ok(notification) = web_sys::Notification::new_with_options(title, &options) else { return };
    let clicked = Closure::once_into_js(move || {
        let _ = window().focus();
        if let Some(link) = link {
            let _ = window().location().set_href(&link);
        }
    });
    notification.set_onclick(Some(clicked.unchecked_ref()));
}
