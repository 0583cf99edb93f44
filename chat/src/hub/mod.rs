//! Fan-out of live events. Publish once, serialize once, and hand every subscriber the same bytes.
//!
//! This is the only way live events travel: pages and handlers publish here and connections subscribe here. With
//! several server processes, a broker ([`crate::broker`]) sits behind it: every event is delivered here
//! and relayed to the other processes, whose hubs deliver it to their own subscribers.

mod order;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;

use protocol::live::LiveEvent;
use protocol::model::{PersonId, ReactionChange, RoomId};

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everyone looking at the room list.
    RoomList,
    /// Everyone in one room.
    Room(RoomId),
    /// One person (by their public id), wherever they are on the room list: their unread counts.
    Person(PersonId),
    /// One person's alarms, on every page of theirs.
    Alarms(PersonId),
}

/// A serialized event: UTF-8 JSON in a shared buffer, so that every recipient's copy is the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(bytes::Bytes);

impl Text {
    pub const fn from_static(text: &'static str) -> Text {
        Text(bytes::Bytes::from_static(text.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        // Made only from a `String`, a `&'static str` or checked bytes.
        std::str::from_utf8(&self.0).expect("a Text is UTF-8")
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes, shared (nothing is copied).
    pub fn bytes(&self) -> bytes::Bytes {
        self.0.clone()
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(text.into())
    }
}

impl TryFrom<bytes::Bytes> for Text {
    type Error = std::str::Utf8Error;

    fn try_from(bytes: bytes::Bytes) -> Result<Text, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Text(bytes))
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One serialized event, shared by all its recipients.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The room's sequence number, for `chat`, `changed` and `reactions` events (which share it): lets a
    /// connection notice and fill gaps. For reactions gathered into one frame, the last of theirs.
    pub seq: Option<i64>,
    /// For reactions gathered into one frame, the first of their sequence numbers (see [`Frame::first_seq`]).
    from: Option<i64>,
    pub text: Text,
    /// When set, only these people's connections pass the frame on (whispers, kicks); everyone else's skip it.
    pub audience: Option<Arc<[PersonId]>>,
    /// A kick: the audience's connections leave the room after passing the frame on.
    pub ends_membership: bool,
    /// Reactions to a message the whole room may read, which may be gathered with the room's next ones.
    reactions: Option<Arc<[ReactionChange]>>,
    /// Not an event: events may have been lost on their way here (see [`Local::resync_all`]).
    resync: bool,
}

impl Frame {
    pub fn new(text: Text, seq: Option<i64>, audience: Option<Arc<[PersonId]>>, ends_membership: bool) -> Frame {
        Frame { seq, from: None, text, audience, ends_membership, reactions: None, resync: false }
    }

    /// A frame from another process (as [`Frame::new`]): reactions are read back from the JSON, so that they
    /// can be gathered here too.
    pub fn relayed(text: Text, seq: Option<i64>, audience: Option<Arc<[PersonId]>>, ends_membership: bool) -> Frame {
        if text.as_str().starts_with(r#"{"type":"reactions","#)
            && let Ok(event) = serde_json::from_str::<LiveEvent>(text.as_str())
        {
            return Frame::of(&event, text, audience, ends_membership);
        }
        Frame::new(text, seq, audience, ends_membership)
    }

    /// The frame of `event`, already serialized as `text`: its numbers in the room's sequence, and the reactions
    /// it carries if they may be gathered.
    fn of(event: &LiveEvent, text: Text, audience: Option<Arc<[PersonId]>>, ends_membership: bool) -> Frame {
        let seq = match event {
            LiveEvent::Chat { message } => Some(message.seq),
            LiveEvent::Changed { seq, .. } | LiveEvent::Reactions { seq, .. } => Some(*seq),
            // A person's own numbering, not a room's (a connection passes them on in order the same way).
            LiveEvent::Alarm { change } => Some(change.seq),
            _ => None,
        };
        let mut frame = Frame::new(text, seq, audience, ends_membership);
        if let LiveEvent::Reactions { from, changes, .. } = event {
            frame.from = Some(*from);
            // Only reactions everyone in the room sees are gathered (a whisper's go to its two people alone).
            if frame.audience.is_none() {
                frame.reactions = Some(changes.as_slice().into());
            }
        }
        frame
    }

    /// The first number of the room's sequence this frame covers: its `seq`, but for gathered reactions.
    pub fn first_seq(&self) -> Option<i64> {
        self.from.or(self.seq)
    }

    pub fn is_for(&self, person: &PersonId) -> bool {
        self.audience.as_ref().is_none_or(|audience| audience.contains(person))
    }
}

type Channels = Arc<Mutex<HashMap<Topic, broadcast::Sender<Frame>>>>;

/// Where a hub hands the events published here for the other server processes (the broker's outbox).
pub trait Relay: Send + Sync {
    fn relay(&self, topic: &Topic, frame: &Frame);
    /// One frame for each of `people`'s own topics, handed over as one event (each process delivers it to those
    /// of them connected to it).
    fn relay_to_people(&self, people: &Arc<[PersonId]>, frame: &Frame);
}

pub struct Hub {
    local: Local,
    capacity: usize,
    relay: OnceLock<Box<dyn Relay>>,
}

/// The hub's delivery to this process's subscribers, for events that come from elsewhere (the broker).
#[derive(Clone)]
pub struct Local {
    // A std mutex: it is never held across an `.await`.
    channels: Channels,
    /// Per room, what keeps its events in order here and gathers its reactions ([`order`]). Locked before
    /// `channels` when both are.
    rooms: Arc<Mutex<HashMap<RoomId, order::RoomOrder>>>,
}

impl Local {
    /// Delivers `frame` to the topic's subscribers in this process. A room's events are delivered in the order
    /// of their numbers, and its reactions may be held for a moment to go together in one frame ([`order`]).
    pub fn deliver(&self, topic: &Topic, frame: Frame) {
        match topic {
            Topic::Room(room) if frame.seq.is_some() => self.deliver_in_order(*room, frame),
            _ => self.send(topic, frame),
        }
    }

    fn send(&self, topic: &Topic, frame: Frame) {
        let mut channels = self.channels.lock().unwrap();
        if let Some(sender) = channels.get(topic)
            && sender.send(frame).is_err()
        {
            // Nobody listens any more: drop the channel so the map does not grow with dead topics.
            channels.remove(topic);
        }
    }

    /// Delivers `frame` to each of `people`'s own topics that has subscribers in this process (the others cost a
    /// lookup).
    pub fn deliver_to_people(&self, people: &[PersonId], frame: &Frame) {
        let mut channels = self.channels.lock().unwrap();
        for person in people {
            let topic = Topic::Person(person.clone());
            if let Some(sender) = channels.get(&topic)
                && sender.send(frame.clone()).is_err()
            {
                channels.remove(&topic);
            }
        }
    }

    /// Tells every subscriber that events may have been lost (the broker was unreachable): each one then
    /// recovers as from a lag, from the database.
    pub fn resync_all(&self) {
        let marker = Frame { resync: true, ..Frame::new(Text::from_static(""), None, None, false) };
        for sender in self.channels.lock().unwrap().values() {
            let _ = sender.send(marker.clone());
        }
    }
}

/// A subscription to one topic. Dropping it releases the topic's channel if nobody else listens, so the hub
/// only holds topics someone listens to.
pub struct Feed {
    receiver: Option<broadcast::Receiver<Frame>>,
    topic: Topic,
    channels: Channels,
}

impl Feed {
    /// The next event; `Lagged` when events were missed, because this feed fell behind or because they were lost
    /// between processes.
    pub async fn recv(&mut self) -> Result<Frame, broadcast::error::RecvError> {
        match &mut self.receiver {
            Some(receiver) => match receiver.recv().await {
                Ok(frame) if frame.resync => Err(broadcast::error::RecvError::Lagged(0)),
                other => other,
            },
            None => Err(broadcast::error::RecvError::Closed),
        }
    }

    /// The next event if one is waiting, without waiting: as [`Feed::recv`] otherwise.
    pub fn try_recv(&mut self) -> Option<Result<Frame, broadcast::error::RecvError>> {
        use broadcast::error::{RecvError, TryRecvError};
        match self.receiver.as_mut()?.try_recv() {
            Ok(frame) if frame.resync => Some(Err(RecvError::Lagged(0))),
            Ok(frame) => Some(Ok(frame)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Lagged(missed)) => Some(Err(RecvError::Lagged(missed))),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut channels = self.channels.lock().unwrap();
        if channels.get(&self.topic).is_some_and(|sender| sender.receiver_count() == 0) {
            channels.remove(&self.topic);
        }
    }
}

impl Hub {
    /// `capacity` bounds how many frames a slow subscriber may fall behind before it lags (and must catch up
    /// from the database instead).
    pub fn new(capacity: usize) -> Hub {
        let local = Local { channels: Arc::default(), rooms: Arc::default() };
        Hub { local, capacity, relay: OnceLock::new() }
    }

    /// From now on, every event published here is also handed to `relay` (once, at start-up).
    pub fn attach(&self, relay: Box<dyn Relay>) {
        if self.relay.set(relay).is_err() {
            panic!("a hub has one relay");
        }
    }

    /// Delivery to this process's subscribers, for the broker.
    pub fn local(&self) -> Local {
        self.local.clone()
    }

    pub fn subscribe(&self, topic: Topic) -> Feed {
        let channels = &self.local.channels;
        let receiver = channels
            .lock()
            .unwrap()
            .entry(topic.clone())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        Feed { receiver: Some(receiver), topic, channels: channels.clone() }
    }

    /// Serializes `event` once and delivers it to the topic's current subscribers.
    pub fn publish(&self, topic: Topic, event: &LiveEvent) {
        self.send(topic, Self::frame(event, None, false));
    }

    /// Like [`Hub::publish`], but only `audience` receives the event; a message that is not theirs still moves
    /// every connection's sequence position past it.
    pub fn publish_to(&self, topic: Topic, event: &LiveEvent, audience: &[&PersonId]) {
        let audience: Arc<[PersonId]> = audience.iter().map(|id| (*id).clone()).collect();
        self.send(topic, Self::frame(event, Some(audience), false));
    }

    /// Sends `event` to `person`'s connections in the topic, which then leave it.
    pub fn expel(&self, topic: Topic, event: &LiveEvent, person: &PersonId) {
        self.send(topic, Self::frame(event, Some(Arc::from([person.clone()])), true));
    }

    /// As [`Hub::expel`], for this process's connections only (what it learnt from the database, which every
    /// process reads for itself).
    pub fn expel_here(&self, topic: Topic, event: &LiveEvent, person: &PersonId) {
        self.local.deliver(&topic, Self::frame(event, Some(Arc::from([person.clone()])), true));
    }

    /// Serializes `event` once, then sends the same bytes to each topic.
    pub fn publish_many(&self, topics: impl IntoIterator<Item = Topic>, event: &LiveEvent) {
        let frame = Self::frame(event, None, false);
        for topic in topics {
            self.send(topic, frame.clone());
        }
    }

    /// Serializes `event` once and sends it to each of `people`'s own topics: to the other processes as one event,
    /// however many people (a message's thousands of followers must not be thousands of broker events).
    pub fn publish_to_people(&self, people: Vec<PersonId>, event: &LiveEvent) {
        if people.is_empty() {
            return;
        }
        let (frame, people) = (Self::frame(event, None, false), Arc::<[PersonId]>::from(people));
        if let Some(relay) = self.relay.get() {
            relay.relay_to_people(&people, &frame);
        }
        self.local.deliver_to_people(&people, &frame);
    }

    fn frame(event: &LiveEvent, audience: Option<Arc<[PersonId]>>, ends_membership: bool) -> Frame {
        let text = serde_json::to_string(event).expect("live events always serialize");
        Frame::of(event, text.into(), audience, ends_membership)
    }

    fn send(&self, topic: Topic, frame: Frame) {
        if let Some(relay) = self.relay.get() {
            relay.relay(&topic, &frame);
        }
        self.local.deliver(&topic, frame);
    }

    /// Number of topics with a live channel (for tests and metrics).
    pub fn topic_count(&self) -> usize {
        self.local.channels.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: RoomId = RoomId::new(1);
    const OTHER: RoomId = RoomId::new(2);

    #[tokio::test]
    async fn subscribers_of_a_topic_share_one_serialization() {
        let hub = Hub::new(16);
        let mut a = hub.subscribe(Topic::Room(ROOM));
        let mut b = hub.subscribe(Topic::Room(ROOM));
        let mut other = hub.subscribe(Topic::Room(OTHER));
        hub.publish(Topic::Room(ROOM), &LiveEvent::RemoveRoom { id: ROOM });

        let fa = a.recv().await.unwrap();
        let fb = b.recv().await.unwrap();
        assert_eq!(fa.text.as_str(), r#"{"type":"removeRoom","id":1}"#);
        // Same bytes, not an equal copy: the event was serialized once.
        assert_eq!(fa.text.as_str().as_ptr(), fb.text.as_str().as_ptr());
        let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), other.recv()).await;
        assert!(nothing.is_err(), "another room's feed got the frame");
    }

    #[tokio::test]
    async fn waiting_frames_are_taken_without_waiting() {
        let hub = Hub::new(16);
        let mut feed = hub.subscribe(Topic::Room(ROOM));
        assert!(feed.try_recv().is_none(), "nothing waiting");
        hub.publish(Topic::Room(ROOM), &LiveEvent::Kicked { room: ROOM });
        hub.publish(Topic::Room(ROOM), &LiveEvent::RemoveRoom { id: ROOM });
        assert!(feed.try_recv().unwrap().unwrap().text.as_str().contains("kicked"));
        assert!(feed.try_recv().unwrap().unwrap().text.as_str().contains("removeRoom"));
        assert!(feed.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_topic_goes_with_its_last_feed() {
        let hub = Hub::new(16);
        let kept = hub.subscribe(Topic::Room(ROOM));
        let also = hub.subscribe(Topic::Room(ROOM));
        let gone = hub.subscribe(Topic::Room(OTHER));
        drop(gone);
        assert_eq!(hub.topic_count(), 1);
        drop(also);
        assert_eq!(hub.topic_count(), 1, "one feed still listens");
        drop(kept);
        assert_eq!(hub.topic_count(), 0);
    }

    #[tokio::test]
    async fn a_resync_reaches_every_feed_as_a_lag_and_events_go_on_after_it() {
        let hub = Hub::new(16);
        let mut room = hub.subscribe(Topic::Room(ROOM));
        let mut lobby = hub.subscribe(Topic::RoomList);
        hub.local().resync_all();
        hub.publish(Topic::RoomList, &LiveEvent::Pong);
        assert!(matches!(room.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
        assert!(matches!(lobby.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
        assert_eq!(lobby.recv().await.unwrap().text.as_str(), r#"{"type":"pong"}"#);
    }

    #[tokio::test]
    async fn a_relay_gets_every_published_event_once_with_its_topic() {
        #[derive(Default)]
        struct Outbox(Mutex<Vec<(Topic, String)>>);
        impl Relay for Arc<Outbox> {
            fn relay(&self, topic: &Topic, frame: &Frame) {
                self.0.lock().unwrap().push((topic.clone(), frame.text.to_string()));
            }
            fn relay_to_people(&self, people: &Arc<[PersonId]>, frame: &Frame) {
                for person in people.iter() {
                    self.relay(&Topic::Person(person.clone()), frame);
                }
            }
        }
        let hub = Hub::new(16);
        let outbox = Arc::new(Outbox::default());
        hub.attach(Box::new(outbox.clone()));
        // Relayed whether or not anyone here listens: the listeners may be in another process.
        hub.publish_many([Topic::RoomList, Topic::Room(ROOM)], &LiveEvent::RemoveRoom { id: ROOM });
        let sent = outbox.0.lock().unwrap().clone();
        let text = r#"{"type":"removeRoom","id":1}"#.to_owned();
        assert_eq!(sent, [(Topic::RoomList, text.clone()), (Topic::Room(ROOM), text)]);
    }

    #[tokio::test]
    async fn an_event_for_many_people_reaches_those_listening_here_and_is_relayed_once() {
        #[derive(Default)]
        struct Outbox(Mutex<Vec<usize>>);
        impl Relay for Arc<Outbox> {
            fn relay(&self, _: &Topic, _: &Frame) {
                panic!("relayed one by one");
            }
            fn relay_to_people(&self, people: &Arc<[PersonId]>, _: &Frame) {
                self.0.lock().unwrap().push(people.len());
            }
        }
        let hub = Hub::new(16);
        let outbox = Arc::new(Outbox::default());
        hub.attach(Box::new(outbox.clone()));
        let mut alice = hub.subscribe(Topic::Person(PersonId::trusted("alice")));
        let people: Vec<PersonId> = (0..5000).map(|n| PersonId::trusted(format!("p{n}"))).collect();
        hub.publish_to_people([people, vec![PersonId::trusted("alice")]].concat(), &LiveEvent::Pong);
        assert_eq!(alice.recv().await.unwrap().text.as_str(), r#"{"type":"pong"}"#);
        assert_eq!(*outbox.0.lock().unwrap(), [5001]);
        assert_eq!(hub.topic_count(), 1, "nobody else listens here: no topic was made for them");
    }

    #[tokio::test]
    async fn an_audience_frame_is_only_for_its_audience() {
        let hub = Hub::new(16);
        let mut rx = hub.subscribe(Topic::Room(ROOM));
        let [alice, bob, carol] = ["alice", "bob", "carol"].map(PersonId::trusted);
        hub.publish_to(Topic::Room(ROOM), &LiveEvent::Pong, &[&alice, &bob]);
        let frame = rx.recv().await.unwrap();
        assert!(frame.is_for(&alice) && frame.is_for(&bob) && !frame.is_for(&carol));
        hub.publish(Topic::Room(ROOM), &LiveEvent::Pong);
        assert!(rx.recv().await.unwrap().is_for(&carol));
    }
}
