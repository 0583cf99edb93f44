//! The broker between server processes: a NATS server (`--broker-url nats://…`). Each process's hub delivers
//! its own events to its own subscribers and relays them here; events from the other processes come in here and
//! go to this process's subscribers. Processes sharing a database form one chat; they find each other by the
//! database's cluster id, so several chats (or test runs) can share one NATS server.
//!
//! The broker may lose events: while it is unreachable, when this process cannot keep up with it, when it
//! restarts. That costs nobody a message. Chat events carry their room's sequence number, and a connection that
//! sees a gap reads the missing messages from the database. For losses nobody can see (the last events before an
//! outage, presence, the room list), every process resyncs its connections from the database when its link comes
//! back, and asks the others to do the same (they may have missed what it could not send meanwhile).
//!
//! On the wire, a subject per topic (`gif-chat.<cluster>.room.<id>`, `.lobby`, `.person.<id>`, `.alarms.<id>`,
//! `.resync`), the frame's JSON as the payload (so it is serialized once for every process), and the rest in
//! headers. One event for many people's own topics (a message's followers) goes once, on `.people`, naming them in
//! a header.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event, HeaderMap, Message};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::{Frame, Hub, Local, Relay, Text, Topic};
use crate::store::redacted_url;
use protocol::model::{PersonId, RoomId};

/// Events waiting to be sent to the broker. Beyond this (the broker is away or slow), events are dropped and the
/// other processes are asked to resync once the link works again.
const OUTBOX: usize = 8192;
/// The most people one event for people's own topics names (their ids go in a header: about 33 bytes each, far
/// below NATS's 1 MiB message limit).
const PEOPLE_PER_EVENT: usize = 1000;
/// How long a dead link may go unnoticed when the connection does not even close (a frozen broker).
const PING_EVERY: Duration = Duration::from_secs(5);

const ORIGIN: &str = "Gif-Chat-Origin";
/// The frame's authentication: HMAC-SHA-256 (hex) of its subject, headers and payload with the cluster's broker
/// key, which only the processes sharing the database know. Anything published on the cluster's subjects
/// without it (another client of the NATS server, a forged or altered frame) is dropped and counted.
const MAC: &str = "Gif-Chat-Mac";
const SEQ: &str = "Gif-Chat-Seq";
const AUDIENCE: &str = "Gif-Chat-Audience";
const ENDS_MEMBERSHIP: &str = "Gif-Chat-Ends-Membership";

/// Why joining the other processes failed at start-up (the cause is its source: `{:#}` or `{:?}` show it).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("connecting to the broker at {url}")]
    Connect { url: String, source: async_nats::ConnectError },
    #[error("subscribing at the broker at {url}")]
    Subscribe { url: String, source: async_nats::SubscribeError },
    #[error("reading the cluster id")]
    Database(#[from] sqlx::Error),
}

/// Who this process is among the others: the cluster (the database's id) and the key its frames are signed with.
pub struct Link<'a> {
    pub cluster: &'a str,
    pub key: [u8; 64],
}

/// TLS to the broker beyond what a `tls://` URL asks for (that alone checks the server's certificate against the
/// system's roots).
#[derive(Debug, Clone, Default)]
pub struct BrokerTls {
    /// The certificates (PEM) that sign the server's, trusted instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// This process's certificate and its key (PEM), for a server that verifies its clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl BrokerTls {
    fn apply(&self, mut options: ConnectOptions) -> ConnectOptions {
        // Either one means TLS, whatever the URL's scheme says: a certificate is never sent in the clear, and a
        // CA given is never ignored.
        if let Some(ca_file) = &self.ca_file {
            options = options.add_root_certificates(ca_file.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.client {
            options = options.add_client_certificate(cert.clone(), key.clone()).require_tls(true);
        }
        options
    }
}

/// What the broker link counts (for tests and metrics).
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Events dropped because they did not carry this cluster's authentication.
    pub forged: AtomicU64,
    /// Events from other processes delivered here.
    pub received: AtomicU64,
    /// Events that could not be handed to the broker (it was away too long).
    pub dropped: AtomicU64,
    /// Times this process's connections resynced from the database.
    pub resyncs: AtomicU64,
}

enum Outgoing {
    Event(Topic, Frame),
    /// One frame for each of these people's own topics.
    ToPeople(Arc<[PersonId]>, Frame),
    /// Asks every other process to resync.
    Resync,
}

/// The hub's side of the link: hands events to the task that sends them.
struct Outbox {
    queue: mpsc::Sender<Outgoing>,
    /// Set when an event was dropped: the other processes are asked to resync once sending works again.
    lost: Arc<AtomicBool>,
    stats: Arc<BrokerStats>,
}

impl Outbox {
    fn queue(&self, outgoing: Outgoing) {
        if self.queue.try_send(outgoing).is_err() {
            self.lost.store(true, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Relay for Outbox {
    fn relay(&self, topic: &Topic, frame: &Frame) {
        self.queue(Outgoing::Event(topic.clone(), frame.clone()));
    }

    fn relay_to_people(&self, people: &Arc<[PersonId]>, frame: &Frame) {
        for some in people.chunks(PEOPLE_PER_EVENT) {
            self.queue(Outgoing::ToPeople(some.into(), frame.clone()));
        }
    }
}

/// Connects `hub` to the other processes of the cluster `cluster` through the NATS server at `url` (with `tls`).
/// Events from the others are received on `tasks` until `stopping` is cancelled; the hub's own are sent until
/// `relay_end` is cancelled and then what is still queued (the returned task: wait for it after the process's last
/// work).
pub async fn connect(
    url: &str,
    tls: &BrokerTls,
    link: Link<'_>,
    hub: &Hub,
    tasks: &TaskTracker,
    stopping: CancellationToken,
    relay_end: CancellationToken,
) -> Result<(Arc<BrokerStats>, tokio::task::JoinHandle<()>), BrokerError> {
    let instance = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("gif-chat.{}", link.cluster);
    let key = Arc::new(link.key);
    let stats = Arc::new(BrokerStats::default());
    let local = hub.local();
    let (queue, outgoing) = mpsc::channel(OUTBOX);
    let lost = Arc::new(AtomicBool::new(false));

    // Every connection after the first is a reconnection: something may have been lost meanwhile.
    let connected_before = Arc::new(AtomicBool::new(false));
    let on_event = {
        let (local, stats, queue) = (local.clone(), stats.clone(), queue.clone());
        move |event: Event| {
            let (local, stats, queue, connected_before) =
                (local.clone(), stats.clone(), queue.clone(), connected_before.clone());
            async move {
                match event {
                    Event::Connected if connected_before.swap(true, Ordering::Relaxed) => {
                        tracing::info!("broker link back: resyncing");
                        resync(&local, &stats);
                        let _ = queue.try_send(Outgoing::Resync);
                    }
                    Event::Connected => {}
                    Event::SlowConsumer(_) => {
                        tracing::warn!("fell behind the broker: resyncing");
                        resync(&local, &stats);
                    }
                    Event::Disconnected => tracing::warn!("broker link lost; retrying"),
                    other => tracing::debug!(event = %other, "broker"),
                }
            }
        }
    };
    let client = tls
        .apply(ConnectOptions::new())
        .name(format!("gif-chat {instance}"))
        // Our own events were delivered here already.
        .no_echo()
        .ping_interval(PING_EVERY)
        .reconnect_delay_callback(|attempts| Duration::from_millis(250 * attempts.min(8) as u64))
        .event_callback(on_event)
        .connect(url)
        .await
        .map_err(|source| BrokerError::Connect { url: redacted_url(url), source })?;
    let subscriber = client
        .subscribe(format!("{prefix}.>"))
        .await
        .map_err(|source| BrokerError::Subscribe { url: redacted_url(url), source })?;
    // Once the broker has answered a ping after it, the subscription is in place: what the others publish from
    // now on reaches this process.
    if let Err(error) = client.flush().await {
        tracing::warn!(%error, "the broker did not confirm the subscription");
    }

    hub.attach(Box::new(Outbox { queue, lost: lost.clone(), stats: stats.clone() }));
    let sender = Sender { client, prefix: prefix.clone(), instance: instance.clone(), lost, key: key.clone() };
    let sending = tokio::spawn(sender.run(outgoing, relay_end));
    let receiver = Receiver { prefix, instance, local, stats: stats.clone(), key };
    tasks.spawn(receiver.run(subscriber, stopping));
    Ok((stats, sending))
}

fn resync(local: &Local, stats: &BrokerStats) {
    stats.resyncs.fetch_add(1, Ordering::Relaxed);
    local.resync_all();
}

/// Sends the hub's events to the broker, in the order they were published.
struct Sender {
    client: Client,
    prefix: String,
    instance: String,
    lost: Arc<AtomicBool>,
    key: Arc<[u8; 64]>,
}

impl Sender {
    /// Sends until `end` is cancelled, then what is still queued (the last work of a process shutting down:
    /// a message committed by a request that finished after the shutdown began must still reach the others).
    async fn run(self, mut outgoing: mpsc::Receiver<Outgoing>, end: CancellationToken) {
        loop {
            let next = tokio::select! {
                biased;
                next = outgoing.recv() => next,
                () = end.cancelled() => outgoing.try_recv().ok(),
            };
            let Some(next) = next else { break };
            let (subject, mut headers, payload) = match next {
                Outgoing::Event(topic, frame) => self.encode(&topic, &frame),
                Outgoing::ToPeople(people, frame) => {
                    let mut headers = self.headers();
                    let people: Vec<&str> = people.iter().map(PersonId::as_str).collect();
                    headers.insert(AUDIENCE, people.join(",").as_str());
                    (format!("{}.people", self.prefix), headers, frame.text.bytes())
                }
                Outgoing::Resync => (format!("{}.resync", self.prefix), self.headers(), Default::default()),
            };
            let signature = mac(&self.key[..], &subject, &headers, &payload);
            headers.insert(MAC, signature.as_str());
            // While the broker is away, this waits once the client's own buffer is full; then the outbox fills
            // and the hub's events are dropped (and counted) rather than held.
            if let Err(error) = self.client.publish_with_headers(subject, headers, payload).await {
                tracing::warn!(%error, "relaying an event");
                self.lost.store(true, Ordering::Relaxed);
            }
            if self.lost.swap(false, Ordering::Relaxed) {
                let subject = format!("{}.resync", self.prefix);
                let mut headers = self.headers();
                let signature = mac(&self.key[..], &subject, &headers, &[]);
                headers.insert(MAC, signature.as_str());
                if let Err(error) = self.client.publish_with_headers(subject, headers, Default::default()).await {
                    tracing::warn!(%error, "asking the other processes to resync");
                    self.lost.store(true, Ordering::Relaxed);
                }
            }
        }
        // What is still queued goes out if the broker is there; if not, it is lost like any event on the way.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, self.instance.as_str());
        headers
    }

    fn encode(&self, topic: &Topic, frame: &Frame) -> (String, HeaderMap, bytes::Bytes) {
        let subject = subject(&self.prefix, topic);
        let mut headers = self.headers();
        if let Some(seq) = frame.seq {
            headers.insert(SEQ, seq.to_string().as_str());
        }
        if let Some(audience) = &frame.audience {
            let audience: Vec<&str> = audience.iter().map(PersonId::as_str).collect();
            headers.insert(AUDIENCE, audience.join(",").as_str());
        }
        if frame.ends_membership {
            headers.insert(ENDS_MEMBERSHIP, "1");
        }
        (subject, headers, frame.text.bytes())
    }
}

/// Delivers the other processes' events to this process's subscribers.
struct Receiver {
    prefix: String,
    instance: String,
    local: Local,
    stats: Arc<BrokerStats>,
    key: Arc<[u8; 64]>,
}

impl Receiver {
    async fn run(self, mut subscriber: async_nats::Subscriber, stopping: CancellationToken) {
        loop {
            let message = tokio::select! {
                () = stopping.cancelled() => break,
                message = subscriber.next() => message,
            };
            let Some(message) = message else { break };
            self.deliver(message);
        }
    }

    fn deliver(&self, message: Message) {
        let header = |name: &str| message.headers.as_ref().and_then(|headers| headers.get(name)).map(|v| v.as_str());
        if header(ORIGIN) == Some(self.instance.as_str()) {
            return;
        }
        // (The signature covers the headers it names, not itself.)
        let authentic = match (header(MAC), &message.headers) {
            (Some(given), Some(headers)) => verify(&self.key[..], &message.subject, headers, &message.payload, given),
            _ => false,
        };
        if !authentic {
            self.stats.forged.fetch_add(1, Ordering::Relaxed);
            return tracing::warn!(subject = %message.subject, "dropped an event without this cluster's authentication");
        }
        let Some(topic) = message.subject.strip_prefix(&self.prefix).and_then(|rest| rest.strip_prefix('.')) else {
            return;
        };
        if topic == "resync" {
            return resync(&self.local, &self.stats);
        }
        let audience = || header(AUDIENCE).map(|audience| audience.split(',').map(PersonId::trusted).collect());
        let topic = if topic == "people" { Some(Subject::People) } else { parse_topic(topic).map(Subject::Topic) };
        let Some(topic) = topic else {
            return tracing::warn!(subject = %message.subject, "an event for an unknown topic");
        };
        let Ok(text) = Text::try_from(message.payload.clone()) else {
            return tracing::warn!(subject = %message.subject, "an event that is not text");
        };
        let seq = header(SEQ).and_then(|seq| seq.parse().ok());
        let ends_membership = header(ENDS_MEMBERSHIP).is_some();
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        match topic {
            Subject::Topic(topic) => self.local.deliver(&topic, Frame::relayed(text, seq, audience(), ends_membership)),
            Subject::People => {
                let people: Arc<[PersonId]> = audience().unwrap_or_else(|| Arc::from([]));
                self.local.deliver_to_people(&people, &Frame::new(text, None, None, false));
            }
        }
    }
}

/// What an event from the broker is for.
enum Subject {
    Topic(Topic),
    /// Each of the people its audience header names, on their own topics.
    People,
}

/// The authentication of a frame: HMAC-SHA-256 of its subject, its headers (by name, in order) and its payload.
fn mac(key: &[u8], subject: &str, headers: &HeaderMap, payload: &[u8]) -> String {
    use hmac::Mac;
    let mac = signer(key, subject, headers, payload).finalize().into_bytes();
    mac.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn verify(key: &[u8], subject: &str, headers: &HeaderMap, payload: &[u8], given: &str) -> bool {
    use hmac::Mac;
    let Some(given) = (0..given.len())
        .step_by(2)
        .map(|at| given.get(at..at + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    // Compared in constant time.
    signer(key, subject, headers, payload).verify_slice(&given).is_ok()
}

fn signer(key: &[u8], subject: &str, headers: &HeaderMap, payload: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(subject.as_bytes());
    for name in [ORIGIN, SEQ, AUDIENCE, ENDS_MEMBERSHIP] {
        let value = headers.get(name).map(|value| value.as_str()).unwrap_or_default();
        // Each part with its length: no two different frames sign the same bytes.
        for part in [name, value] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
    }
    mac.update(&(payload.len() as u64).to_le_bytes());
    mac.update(payload);
    mac
}

fn subject(prefix: &str, topic: &Topic) -> String {
    match topic {
        Topic::RoomList => format!("{prefix}.lobby"),
        Topic::Room(room) => format!("{prefix}.room.{room}"),
        Topic::Person(person) => format!("{prefix}.person.{person}"),
        Topic::Alarms(person) => format!("{prefix}.alarms.{person}"),
    }
}

fn parse_topic(topic: &str) -> Option<Topic> {
    match topic.split_once('.') {
        None if topic == "lobby" => Some(Topic::RoomList),
        Some(("room", id)) => id.parse().ok().map(|id: i64| Topic::Room(RoomId::new(id))),
        Some(("person", id)) => PersonId::parse(id).ok().map(Topic::Person),
        Some(("alarms", id)) => PersonId::parse(id).ok().map(Topic::Alarms),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_survive_the_wire() {
        for topic in [
            Topic::RoomList,
            Topic::Room(RoomId::new(42)),
            Topic::Person(PersonId::trusted("ab12")),
            Topic::Alarms(PersonId::trusted("ab12")),
        ] {
            let subject = subject("gif-chat.c0ffee", &topic);
            let tail = subject.strip_prefix("gif-chat.c0ffee.").unwrap();
            assert_eq!(parse_topic(tail), Some(topic));
        }
        assert_eq!(parse_topic("room.x"), None);
        assert_eq!(parse_topic("person.a.b"), None, "ids are letters and digits");
        assert_eq!(parse_topic("kitchen"), None);
    }

    #[test]
    fn a_frame_is_authentic_only_as_signed_with_the_clusters_key() {
        let (key, other_key) = ([1u8; 64], [2u8; 64]);
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, "instance-a");
        headers.insert(SEQ, "7");
        let subject = "gif-chat.c0ffee.room.1";
        let payload = br#"{"type":"chat"}"#;
        let signature = mac(&key, subject, &headers, payload);
        assert!(verify(&key, subject, &headers, payload, &signature));
        assert!(!verify(&other_key, subject, &headers, payload, &signature), "another cluster's key");
        assert!(!verify(&key, "gif-chat.c0ffee.room.2", &headers, payload, &signature), "another room");
        assert!(!verify(&key, subject, &headers, br#"{"type":"kicked"}"#, &signature), "another payload");
        let mut forged_seq = headers.clone();
        forged_seq.insert(SEQ, "999999999");
        assert!(!verify(&key, subject, &forged_seq, payload, &signature), "a poisoned sequence number");
        assert!(!verify(&key, subject, &headers, payload, "not hex"));
    }

    #[test]
    fn urls_in_messages_hide_their_password() {
        assert_eq!(redacted_url("nats://chat:secret@broker:4222"), "nats://chat:…@broker:4222");
        assert_eq!(redacted_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }
}
