//! Fan-out of live events. Publish once, serialize once, and hand every subscriber the same bytes.
//!
//! This is the only way live events travel: pages and handlers publish here and connections subscribe here, so a
//! message broker can later sit behind this interface to join several server processes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::live::LiveEvent;
use crate::model::RoomId;

/// Who receives an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everyone looking at the room list.
    Lobby,
    /// Everyone in one room.
    Room(RoomId),
    /// One person (by their public id), wherever they are on the room list: their unread counts.
    Person(String),
}

/// One serialized event, shared by all its recipients.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The message sequence number, for `chat` events: lets a connection notice and fill gaps.
    pub seq: Option<i64>,
    pub text: Utf8Bytes,
    /// When set, only these people's connections pass the frame on (whispers, kicks); everyone else's skip it.
    pub audience: Option<Arc<[String]>>,
    /// A kick: the audience's connections leave the room after passing the frame on.
    pub ends_membership: bool,
}

impl Frame {
    pub fn is_for(&self, person_id: &str) -> bool {
        self.audience.as_ref().is_none_or(|audience| audience.iter().any(|id| id == person_id))
    }
}

pub struct Hub {
    // A std mutex: it is never held across an `.await`.
    channels: Mutex<HashMap<Topic, broadcast::Sender<Frame>>>,
    capacity: usize,
}

impl Hub {
    /// `capacity` bounds how many frames a slow subscriber may fall behind before it lags (and must catch up
    /// from the database instead).
    pub fn new(capacity: usize) -> Hub {
        Hub { channels: Mutex::new(HashMap::new()), capacity }
    }

    pub fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Frame> {
        let mut channels = self.channels.lock().unwrap();
        channels.entry(topic).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe()
    }

    /// Serializes `event` once and delivers it to the topic's current subscribers.
    pub fn publish(&self, topic: Topic, event: &LiveEvent) {
        self.send(topic, Self::frame(event, None, false));
    }

    /// Like [`Hub::publish`], but only `audience` receives the event; a message that is not theirs still moves
    /// every connection's sequence position past it.
    pub fn publish_to(&self, topic: Topic, event: &LiveEvent, audience: &[&str]) {
        let audience: Arc<[String]> = audience.iter().map(|id| (*id).to_owned()).collect();
        self.send(topic, Self::frame(event, Some(audience), false));
    }

    /// Sends `event` to `person`'s connections in the topic, which then leave it.
    pub fn expel(&self, topic: Topic, event: &LiveEvent, person: &str) {
        self.send(topic, Self::frame(event, Some(Arc::from([person.to_owned()])), true));
    }

    /// Serializes `event` once, then sends the same bytes to each topic.
    pub fn publish_many(&self, topics: impl IntoIterator<Item = Topic>, event: &LiveEvent) {
        let frame = Self::frame(event, None, false);
        for topic in topics {
            self.send(topic, frame.clone());
        }
    }

    fn frame(event: &LiveEvent, audience: Option<Arc<[String]>>, ends_membership: bool) -> Frame {
        let seq = match event {
            LiveEvent::Chat { message } => Some(message.seq),
            _ => None,
        };
        let text = serde_json::to_string(event).expect("live events always serialize");
        Frame { seq, text: text.into(), audience, ends_membership }
    }

    fn send(&self, topic: Topic, frame: Frame) {
        let mut channels = self.channels.lock().unwrap();
        if let Some(sender) = channels.get(&topic) {
            if sender.send(frame).is_err() {
                // Nobody listens any more: drop the channel so the map does not grow with dead topics.
                channels.remove(&topic);
            }
        }
    }

    /// Drops the topic's channel if nobody subscribes to it any more (call after dropping a receiver), so the
    /// map only holds topics someone listens to.
    pub fn release(&self, topic: &Topic) {
        let mut channels = self.channels.lock().unwrap();
        if channels.get(topic).is_some_and(|sender| sender.receiver_count() == 0) {
            channels.remove(topic);
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

    #[tokio::test]
    async fn subscribers_of_a_topic_share_one_serialization() {
        let hub = Hub::new(16);
        let mut a = hub.subscribe(Topic::Room(1));
        let mut b = hub.subscribe(Topic::Room(1));
        let mut other = hub.subscribe(Topic::Room(2));
        hub.publish(Topic::Room(1), &LiveEvent::RemoveRoom { id: 1 });

        let fa = a.recv().await.unwrap();
        let fb = b.recv().await.unwrap();
        assert_eq!(fa.text.as_str(), r#"{"type":"removeRoom","id":1}"#);
        // Same bytes, not an equal copy: the event was serialized once.
        assert_eq!(fa.text.as_str().as_ptr(), fb.text.as_str().as_ptr());
        assert!(other.try_recv().is_err());
    }

    #[tokio::test]
    async fn released_topics_without_receivers_are_dropped_and_others_kept() {
        let hub = Hub::new(16);
        let kept = hub.subscribe(Topic::Room(1));
        let gone = hub.subscribe(Topic::Room(2));
        drop(gone);
        hub.release(&Topic::Room(1));
        hub.release(&Topic::Room(2));
        assert_eq!(hub.topic_count(), 1);
        drop(kept);
    }

    #[tokio::test]
    async fn an_audience_frame_is_only_for_its_audience() {
        let hub = Hub::new(16);
        let mut rx = hub.subscribe(Topic::Room(1));
        hub.publish_to(Topic::Room(1), &LiveEvent::Pong, &["alice", "bob"]);
        let frame = rx.recv().await.unwrap();
        assert!(frame.is_for("alice") && frame.is_for("bob") && !frame.is_for("carol"));
        hub.publish(Topic::Room(1), &LiveEvent::Pong);
        assert!(rx.recv().await.unwrap().is_for("carol"));
    }

    #[tokio::test]
    async fn topics_without_subscribers_are_dropped() {
        let hub = Hub::new(16);
        drop(hub.subscribe(Topic::Lobby));
        assert_eq!(hub.topic_count(), 1);
        hub.publish(Topic::Lobby, &LiveEvent::Pong);
        assert_eq!(hub.topic_count(), 0);
    }
}
