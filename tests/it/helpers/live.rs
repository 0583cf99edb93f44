//! A page's live connection, as a test reads it: events in order, and the list of who is here followed as the
//! page follows it.

use futures_util::{SinkExt, StreamExt};
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, Roster};
use tokio_tungstenite::tungstenite::Message;

use super::*;

pub type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct LiveClient {
    pub stream: Stream,
    /// Who is here, as a page following the `people` events it received knows it (from an empty list).
    pub roster: Roster,
    /// How many times the list had to be loaded whole (`TestPerson::people_in`).
    pub reloads: u32,
    /// Events read ahead (by `TestPerson::people_in`) that `next` has not returned yet.
    pub(super) unread: std::collections::VecDeque<LiveEvent>,
}

impl LiveClient {
    pub fn new(stream: Stream) -> LiveClient {
        LiveClient { stream, roster: Roster::default(), reloads: 0, unread: Default::default() }
    }

    pub async fn send(&mut self, command: &ClientCommand) {
        self.stream.send(Message::text(serde_json::to_string(command).unwrap())).await.unwrap();
    }

    /// The next event, or None if the connection closed.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        match self.unread.pop_front() {
            Some(event) => Some(event),
            None => tokio::time::timeout(PATIENCE, self.read()).await.expect("no event in time"),
        }
    }

    /// Reads the next event off the connection (None if it closed), and follows who is here with it.
    pub(super) async fn read(&mut self) -> Option<LiveEvent> {
        loop {
            match self.stream.next().await?.ok()? {
                Message::Text(text) => {
                    let event = serde_json::from_str(&text).expect("a valid event");
                    if let LiveEvent::People { change, .. } = &event {
                        self.roster.receive(change.clone());
                    }
                    return Some(event);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads and drops whatever comes until the connection closes: a client that keeps up and wants none of it.
    pub async fn keep_reading(mut self) {
        while self.read().await.is_some() {}
    }

    /// The next event, or None if the connection closed or broke (no panic: the server may be gone).
    pub async fn next_or_closed(&mut self) -> Option<LiveEvent> {
        match self.unread.pop_front() {
            Some(event) => Some(event),
            None => tokio::time::timeout(PATIENCE, self.read()).await.ok()?,
        }
    }

    /// Skips events until `pick` returns something.
    pub async fn expect<T>(&mut self, mut pick: impl FnMut(&LiveEvent) -> Option<T>) -> T {
        loop {
            let event = self.next().await.expect("connection closed while waiting for an event");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    /// The next `chat` message (skipping other events).
    pub async fn next_chat(&mut self) -> ChatMessage {
        self.expect(|event| match event {
            LiveEvent::Chat { message } => Some(message.clone()),
            _ => None,
        })
        .await
    }

    /// Everything that arrives before the chat message saying `marker` (which the test sends after what it wants
    /// to be sure of): a room's frames come in order, so what would have come before it has, and a negative
    /// assertion on them needs no guess at how long to wait.
    pub async fn until_said(&mut self, marker: &str) -> Vec<LiveEvent> {
        let mut events = Vec::new();
        loop {
            match self.next().await.expect("connection closed while waiting for the marker") {
                LiveEvent::Chat { message } if message.body == marker => return events,
                event => events.push(event),
            }
        }
    }

    /// Everything that arrives before the answer to a ping: for a connection that follows no room (left it, or
    /// was removed), all it will get of what was sent before the ping.
    pub async fn until_pong(&mut self) -> Vec<LiveEvent> {
        self.send(&ClientCommand::Ping).await;
        let mut events = Vec::new();
        loop {
            match self.next().await.expect("the connection closed while waiting for the pong") {
                LiveEvent::Pong => return events,
                event => events.push(event),
            }
        }
    }

    /// Reads until the server closes the connection; its close code, if it sent one.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("the connection stayed open") {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
