//! The browser's end of the live channel: one websocket for the whole app (it survives page changes), opened
//! after hydration, kept alive with a heartbeat and reopened with exponential backoff when it drops.
//!
//! A page calls [`LiveChannel::subscribe`] with the command that puts it on its topic and a handler for events.
//! The command is sent again after every reconnect, built fresh each time (so a room resumes from the last
//! message the page has).

use std::sync::Arc;

use leptos::prelude::*;

use crate::live::{ClientCommand, LiveEvent};

type CommandFn = Arc<dyn Fn() -> ClientCommand + Send + Sync>;
type HandlerFn = Arc<dyn Fn(LiveEvent) + Send + Sync>;

/// The page's current subscription; `id` tells a page's cleanup apart from its successor's.
#[derive(Clone)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // only the browser connects
struct Subscriber {
    id: u64,
    command: CommandFn,
    handler: HandlerFn,
}

/// The state of the connection, for the "offline" notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Not connected yet (and always during SSR).
    Connecting,
    Online,
    /// The connection dropped or could not be made; reconnecting with backoff.
    Offline,
}

#[derive(Clone, Copy)]
pub struct LiveChannel {
    state: RwSignal<Connection>,
    subscriber: StoredValue<Option<Subscriber>>,
    next_id: StoredValue<u64>,
    /// Sends a text frame if the socket is open.
    sender: StoredValue<Option<Arc<dyn Fn(&str) + Send + Sync>>>,
}

impl LiveChannel {
    pub fn state(&self) -> Signal<Connection> {
        self.state.into()
    }

    /// Makes `command` this page's subscription and routes the channel's events to `handler`, until the calling
    /// component is cleaned up.
    pub fn subscribe(
        &self,
        command: impl Fn() -> ClientCommand + Send + Sync + 'static,
        handler: impl Fn(LiveEvent) + Send + Sync + 'static,
    ) {
        let id = self.next_id.get_value() + 1;
        self.next_id.set_value(id);
        let command: CommandFn = Arc::new(command);
        self.subscriber.set_value(Some(Subscriber { id, command: command.clone(), handler: Arc::new(handler) }));
        self.send(&command());

        let subscriber = self.subscriber;
        on_cleanup(move || {
            subscriber.update_value(|current| {
                if current.as_ref().is_some_and(|s| s.id == id) {
                    *current = None;
                }
            });
        });
    }

    fn send(&self, command: &ClientCommand) {
        if let Some(sender) = self.sender.get_value() {
            sender(&serde_json::to_string(command).expect("commands always serialize"));
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn dispatch(&self, text: &str) {
        match serde_json::from_str::<LiveEvent>(text) {
            Ok(event) => {
                if let Some(subscriber) = self.subscriber.get_value() {
                    (subscriber.handler)(event);
                }
            }
            Err(error) => leptos::logging::warn!("ignoring an unknown live event: {error}"),
        }
    }
}

pub fn use_live() -> LiveChannel {
    expect_context::<LiveChannel>()
}

/// Creates the app's live channel and provides it as context. Call once, in the root component.
pub fn provide_live_channel() {
    let live = LiveChannel {
        state: RwSignal::new(Connection::Connecting),
        subscriber: StoredValue::new(None),
        next_id: StoredValue::new(0),
        sender: StoredValue::new(None),
    };
    provide_context(live);
    #[cfg(feature = "hydrate")]
    connect(live);
}

/// The application-level heartbeat frame, sent every [`HEARTBEAT_MS`] while connected.
#[cfg(feature = "hydrate")]
#[derive(Default)]
struct Heartbeat;

#[cfg(feature = "hydrate")]
impl std::fmt::Display for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(r#"{"type":"ping"}"#)
    }
}

/// Proxies commonly close connections idle for 60 s; a ping every 25 s keeps ours busy.
#[cfg(feature = "hydrate")]
const HEARTBEAT_MS: u64 = 25_000;

/// Reconnect delays: 0.5 s, doubling up to 4 s, with up to 50% random jitter so that a restarted server is not
/// hit by every client at the same instant. The longest delay (6 s) stays well inside the server's grace for
/// rooms after a restart.
#[cfg(feature = "hydrate")]
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 500.0 * 2f64.powi(attempt.min(3) as i32);
    std::time::Duration::from_millis((base * (1.0 + js_sys::Math::random() * 0.5)) as u64)
}

#[cfg(feature = "hydrate")]
fn connect(live: LiveChannel) {
    use codee::string::FromToStringCodec;
    use leptos_use_core::ReconnectLimit;
    use leptos_use_websocket::{UseWebSocketOptions, UseWebSocketReturn, use_websocket_with_options};
    use wasm_bindgen::JsCast;

    let attempts = StoredValue::new(0u32);
    let reopen: StoredValue<Option<Arc<dyn Fn() + Send + Sync>>> = StoredValue::new(None);

    let options = UseWebSocketOptions::default()
        // Reconnecting is ours (with backoff); the crate's own retry uses a fixed interval.
        .reconnect_limit(ReconnectLimit::Limited(0))
        .on_open(move |event: web_sys::Event| {
            attempts.set_value(0);
            live.state.set(Connection::Online);
            // The crate's `send` only works once its state says open, which is after this callback: write to the
            // socket that just opened.
            if let Some(socket) = event.target().and_then(|t| t.dyn_into::<web_sys::WebSocket>().ok()) {
                if let Some(subscriber) = live.subscriber.get_value() {
                    let text = serde_json::to_string(&(subscriber.command)()).expect("commands always serialize");
                    let _ = socket.send_with_str(&text);
                }
            }
        })
        .on_message_raw(move |text: &str| live.dispatch(text))
        .on_close(move |_| {
            live.state.set(Connection::Offline);
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
        use_websocket_with_options::<String, String, FromToStringCodec, _, _>("/ws", options);
    reopen.set_value(Some(Arc::new(open.clone())));

    // The browser knows when the network goes and comes back before any timeout would: follow it. (Leaving a
    // dead socket open would show "online" until the heartbeat's TCP write finally failed.)
    let went_offline = window_event_listener(leptos::ev::offline, move |_| {
        live.state.set(Connection::Offline);
        close();
    });
    let came_back = window_event_listener(leptos::ev::online, move |_| {
        attempts.set_value(0);
        open();
    });
    on_cleanup(move || {
        went_offline.remove();
        came_back.remove();
    });
    live.sender.set_value(Some(Arc::new(move |text: &str| send(&text.to_owned()))));
}
