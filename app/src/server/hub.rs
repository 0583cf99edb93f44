//! Fan-out of live events. Publish once, serialize once, and hand every subscriber the same bytes.
//!
//! This is the only way live events travel: pages and handlers publish here and connections subscribe here, so a
//! message broker can later sit behind this interface to join several server processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::live::LiveEvent;
use crate::model::{PersonId, RoomId};

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everyone looking at the room list.
    Lobby,
    /// Everyone in one room.
    Room(RoomId),
    /// One person (by their public id), wherever they are on the room list: their unread counts.
    Person(PersonId),
}

/// One serialized event, shared by all its recipients.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The message sequence number, for `chat` events: lets a connection notice and fill gaps.
    pub seq: Option<i64>,
    pub text: Utf8Bytes,
    /// When set, only these people's connections pass the frame on (whispers, kicks); everyone else's skip it.
    pub audience: Option<Arc<[PersonId]>>,
    /// A kick: the audience's connections leave the room after passing the frame on.
    pub ends_membership: bool,
}

impl Frame {
    pub fn is_for(&self, person: &PersonId) -> bool {
        self.audience.as_ref().is_none_or(|audience| audience.contains(person))
    }
}

type Channels = Arc<Mutex<HashMap<Topic, broadcast::Sender<Frame>>>>;

pub struct Hub {
    // A std mutex: it is never held across an `.await`.
    channels: Channels,
    capacity: usize,
}

/// A subscription to one topic. Dropping it releases the topic's channel if nobody else listens, so the hub
/// only holds topics someone listens to.
pub struct Feed {
    receiver: Option<broadcast::Receiver<Frame>>,
    topic: Topic,
    channels: Channels,
}

impl Feed {
    pub async fn recv(&mut self) -> Result<Frame, broadcast::error::RecvError> {
        match &mut self.receiver {
            Some(receiver) => receiver.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
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
        Hub { channels: Arc::new(Mutex::new(HashMap::new())), capacity }
    }

    pub fn subscribe(&self, topic: Topic) -> Feed {
        let mut channels = self.channels.lock().unwrap();
        let receiver = channels.entry(topic.clone()).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe();
        Feed { receiver: Some(receiver), topic, channels: self.channels.clone() }
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

    /// Serializes `event` once, then sends the same bytes to each topic.
    pub fn publish_many(&self, topics: impl IntoIterator<Item = Topic>, event: &LiveEvent) {
        let frame = Self::frame(event, None, false);
        for topic in topics {
            self.send(topic, frame.clone());
        }
    }

    fn frame(event: &LiveEvent, audience: Option<Arc<[PersonId]>>, ends_membership: bool) -> Frame {
        let seq = match event {
            LiveEvent::Chat { message } => Some(message.seq),
            _ => None,
        };
        let text = serde_json::to_string(event).expect("live events always serialize");
        Frame { seq, text: text.into(), audience, ends_membership }
    }

    fn send(&self, topic: Topic, frame: Frame) {
        let mut channels = self.channels.lock().unwrap();
        if let Some(sender) = channels.get(&topic)
            && sender.send(frame).is_err()
        {
            // Nobody listens any more: drop the channel so the map does not grow with dead topics.
            channels.remove(&topic);
        }
    }

    /// Number of topics with a live channel (for tests and metrics).
    pub fn topic_count(&self) -> usize {
        self.channels.lock().unwrap().len()
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
