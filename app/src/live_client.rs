//! The browser's end of the live channel: one websocket for the whole app (it survives page changes), opened
//! after hydration, kept alive with a heartbeat and reopened with exponential backoff when it drops.
//!
//! A page calls [`LiveChannel::subscribe`] with the command that puts it on its topic and a handler for events.
//! The command is sent again after every reconnect, built fresh each time (so a room resumes from the last
//! message the page has). The person's alarms are watched besides, whatever the page ([`LiveChannel::watch_alarms`]):
//! their events go to their own handler.

use std::sync::Arc;

use leptos::prelude::*;

use crate::browser::{self, SocketCallbacks, SocketSender};
use protocol::live::{ClientCommand, LiveEvent};

type CommandFn = Arc<dyn Fn() -> ClientCommand + Send + Sync>;
type HandlerFn = Arc<dyn Fn(LiveEvent) + Send + Sync>;

/// The page's current subscription; `id` tells a page's cleanup apart from its successor's.
#[derive(Clone)]
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
    /// The alarms' watch: its command and handler, for the app's life.
    alarms: StoredValue<Option<(CommandFn, HandlerFn)>>,
    next_id: StoredValue<u64>,
    /// Sends a text frame if the socket is open (never on the server).
    sender: StoredValue<Option<SocketSender>>,
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

    /// Watches the person's alarms on this channel, whatever page is open: `command` is sent now and after every
    /// reconnect, and the alarm events go to `handler` (not to the page's).
    pub fn watch_alarms(
        &self,
        command: impl Fn() -> ClientCommand + Send + Sync + 'static,
        handler: impl Fn(LiveEvent) + Send + Sync + 'static,
    ) {
        let command: CommandFn = Arc::new(command);
        self.send(&command());
        self.alarms.set_value(Some((command, Arc::new(handler))));
    }

    /// Sends `command` if the channel is open (what it says is only worth saying now: nothing is queued).
    pub fn send(&self, command: &ClientCommand) {
        if let Some(sender) = self.sender.get_value() {
            sender(&serde_json::to_string(command).expect("commands always serialize"));
        }
    }

    fn dispatch(&self, text: &str) {
        match serde_json::from_str::<LiveEvent>(text) {
            Ok(event @ (LiveEvent::Alarms { .. } | LiveEvent::Alarm { .. })) => {
                if let Some((_, handler)) = self.alarms.get_value() {
                    handler(event);
                }
            }
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
        alarms: StoredValue::new(None),
        next_id: StoredValue::new(0),
        sender: StoredValue::new(None),
    };
    provide_context(live);
    let callbacks = SocketCallbacks {
        hello: Arc::new(move || {
            let page = live.subscriber.get_value().map(|subscriber| subscriber.command);
            let alarms = live.alarms.get_value().map(|(command, _)| command);
            page.into_iter()
                .chain(alarms)
                .map(|command| serde_json::to_string(&command()).expect("commands always serialize"))
                .collect()
        }),
        on_message: Arc::new(move |text| live.dispatch(text)),
        on_online: Arc::new(move |online| {
            live.state.set(if online { Connection::Online } else { Connection::Offline })
        }),
    };
    live.sender.set_value(browser::open_socket("/ws", callbacks));
}
