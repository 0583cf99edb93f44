//! A room's events as this process delivers them: in the order of their numbers, with its reactions gathered.
//!
//! **In order.** Two requests that commit one after the other may announce in the other order, and an event from
//! another process may come after a later one made here. A connection that sees a number skipped reads the
//! missing events from the database; in a room of a thousand, that is a thousand reads for one race. So an event
//! that comes before the ones numbered below it waits for them here, for a moment ([`PATIENCE_FOR_EARLIER`]):
//! they nearly always come within it. If they do not (lost between processes, or never announced), it goes
//! anyway, and connections fill the gap from the database as before.
//!
//! **Reactions gathered.** A reaction is a frame to everyone in the room: a thousand people reacting in a room of
//! a thousand would be a million frames. So each room has a window ([`REACTION_WINDOW`]): the first reaction of a
//! window goes at once, and those after it go together, in one frame, when the window closes, or before the
//! room's next other event (which comes after them in the room's sequence).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::{Frame, Hub, Local, Topic};
use protocol::live::LiveEvent;
use protocol::model::{ReactionChange, RoomId};

/// How long a room's reactions are gathered into one frame once they come faster than one such a while.
const REACTION_WINDOW: Duration = Duration::from_millis(250);
/// The most reactions one frame gathers: a window that holds this many lets them go at once.
const REACTIONS_PER_FRAME: usize = 64;
/// How long an event waits for those numbered before it: far longer than an announcement takes to follow its
/// commit, or to cross from another process, and short against what a lost event then costs (a reload of it).
const PATIENCE_FOR_EARLIER: Duration = Duration::from_millis(100);

/// Per room, where its sequence stands here.
#[derive(Default)]
pub(super) struct RoomOrder {
    /// The number after the last event let through (0: none yet, so the next goes whatever its number).
    next: i64,
    /// Events that came before ones numbered lower, by their first number, and since when the first of them
    /// has waited.
    waiting: BTreeMap<i64, Frame>,
    waiting_since: Option<Instant>,
    /// While the room's window of reactions is open: what it holds.
    window: Option<Option<Run>>,
}

impl RoomOrder {
    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.window.is_none()
    }
}

/// Reactions held, numbered `from` to `seq` in the room's sequence.
struct Run {
    from: i64,
    seq: i64,
    changes: Vec<ReactionChange>,
}

impl Run {
    fn frame(self, room: RoomId) -> Frame {
        let Run { from, seq, changes } = self;
        Hub::frame(&LiveEvent::Reactions { room, from, seq, changes }, None, false)
    }
}

impl Local {
    /// Delivers a room's event that has a number in the room's sequence (see the module's notes). Without a
    /// runtime to time the waits, it goes at once.
    pub(super) fn deliver_in_order(&self, room: RoomId, frame: Frame) {
        let topic = Topic::Room(room);
        if tokio::runtime::Handle::try_current().is_err() {
            return self.send(&topic, frame);
        }
        let mut rooms = self.rooms.lock().unwrap();
        let order = rooms.entry(room).or_default();
        let first = frame.first_seq().unwrap_or_default();
        if order.next > 0 && first > order.next {
            if order.waiting.is_empty() {
                order.waiting_since = Some(Instant::now());
                self.later(PATIENCE_FOR_EARLIER, move |local| local.stop_waiting(room));
            }
            order.waiting.insert(first, frame);
            return;
        }
        self.let_through(room, order, frame);
        self.let_waiting_through(room, order);
        self.forget_if_unheard(&mut rooms, room);
    }

    /// Forgets where the room stands when nobody here follows it and nothing of it is pending (its next event
    /// sets it again): the map holds the rooms followed here.
    fn forget_if_unheard(&self, rooms: &mut HashMap<RoomId, RoomOrder>, room: RoomId) {
        if rooms.get(&room).is_some_and(RoomOrder::is_idle)
            && !self.channels.lock().unwrap().contains_key(&Topic::Room(room))
        {
            rooms.remove(&room);
        }
    }

    /// Lets through the waiting events that are next now.
    fn let_waiting_through(&self, room: RoomId, order: &mut RoomOrder) {
        while let Some(entry) = order.waiting.first_entry()
            && *entry.key() <= order.next
        {
            let frame = entry.remove();
            self.let_through(room, order, frame);
        }
        if order.waiting.is_empty() {
            order.waiting_since = None;
        }
    }

    /// The patience of the room's first waiting event ends: if it still waits, the events before it are not
    /// coming (connections read them from the database), and it goes with those after it.
    fn stop_waiting(&self, room: RoomId) {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(order) = rooms.get_mut(&room) else { return };
        let Some(since) = order.waiting_since else { return };
        let due = since + PATIENCE_FOR_EARLIER;
        let now = Instant::now();
        if now < due {
            // The wait that scheduled this ended; another began since.
            self.later(due - now, move |local| local.stop_waiting(room));
            return;
        }
        if let Some(first) = order.waiting.keys().next() {
            order.next = *first;
        }
        self.let_waiting_through(room, order);
        if !order.waiting.is_empty() {
            // A second gap further on: it gets its own patience.
            order.waiting_since = Some(now);
            self.later(PATIENCE_FOR_EARLIER, move |local| local.stop_waiting(room));
        }
    }

    /// Passes on the room's next event: a reaction to its window, anything else after what the window holds.
    fn let_through(&self, room: RoomId, order: &mut RoomOrder, frame: Frame) {
        let topic = Topic::Room(room);
        order.next = order.next.max(frame.seq.unwrap_or_default() + 1);
        let (Some(changes), Some(first), Some(seq)) = (frame.reactions.clone(), frame.first_seq(), frame.seq) else {
            if let Some(run) = order.window.as_mut().and_then(Option::take) {
                self.send(&topic, run.frame(room));
            }
            return self.send(&topic, frame);
        };
        let Some(held) = &mut order.window else {
            // The first of a window goes at once.
            order.window = Some(None);
            self.later(REACTION_WINDOW, move |local| local.close_window(room));
            return self.send(&topic, frame);
        };
        match held {
            Some(run) if run.seq + 1 == first && run.changes.len() < REACTIONS_PER_FRAME => {
                run.seq = seq;
                run.changes.extend(changes.iter().cloned());
            }
            // Not the next in the sequence (another event came between them), or as many as a frame takes:
            // those held go first.
            held => {
                let run = Run { from: first, seq, changes: changes.to_vec() };
                if let Some(earlier) = held.replace(run) {
                    self.send(&topic, earlier.frame(room));
                }
            }
        }
    }

    /// The room's window of reactions ends: what it held goes, and a new window holds the next; if it held
    /// nothing, the room's next reaction goes at once.
    fn close_window(&self, room: RoomId) {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(order) = rooms.get_mut(&room) else { return };
        match order.window.take() {
            Some(Some(run)) => {
                order.window = Some(None);
                self.send(&Topic::Room(room), run.frame(room));
                self.later(REACTION_WINDOW, move |local| local.close_window(room));
            }
            Some(None) => self.forget_if_unheard(&mut rooms, room),
            None => {}
        }
    }

    /// Runs `then` after `delay` (in this runtime: the callers checked there is one).
    fn later(&self, delay: Duration, then: impl FnOnce(&Local) + Send + 'static) {
        let local = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            then(&local);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Text;
    use protocol::model::PersonId;
    use tokio::sync::broadcast;

    const ROOM: RoomId = RoomId::new(1);
    const OTHER: RoomId = RoomId::new(2);

    /// Reactions numbered `from` to `seq`, one change each.
    fn reactions(from: i64, seq: i64) -> LiveEvent {
        let change =
            |count| ReactionChange {
                message: 1, emoji: "😂".into(), by: PersonId::trusted("ann"), added: true, count
            };
        LiveEvent::Reactions { room: ROOM, from, seq, changes: (from..=seq).map(|n| change(n as u32)).collect() }
    }

    /// The numbers of the room's sequence a frame covers.
    fn numbers(frame: Option<Result<Frame, broadcast::error::RecvError>>) -> Option<(i64, i64)> {
        let frame = frame?.unwrap();
        Some((frame.first_seq()?, frame.seq?))
    }

    fn message_frame(seq: i64) -> Frame {
        Frame::new(Text::from_static(r#"{"type":"chat"}"#), Some(seq), None, false)
    }

    #[tokio::test(start_paused = true)]
    async fn a_rooms_reactions_after_the_first_of_a_window_go_together_at_its_end() {
        let hub = Hub::new(64);
        let mut feed = hub.subscribe(Topic::Room(ROOM));
        let mut other = hub.subscribe(Topic::Room(OTHER));
        for seq in 2..=5 {
            hub.publish(Topic::Room(ROOM), &reactions(seq, seq));
        }
        assert_eq!(numbers(feed.try_recv()), Some((2, 2)), "the first at once");
        assert!(feed.try_recv().is_none(), "the others held");
        tokio::time::sleep(REACTION_WINDOW + Duration::from_millis(1)).await;
        let gathered = feed.try_recv().unwrap().unwrap();
        assert_eq!((gathered.first_seq(), gathered.seq), (Some(3), Some(5)));
        assert_eq!(serde_json::from_str::<LiveEvent>(gathered.text.as_str()).unwrap(), reactions(3, 5));
        assert!(other.try_recv().is_none(), "another room's feed got them");

        // A window that held some opens another; one that held none closes, and the next goes at once again.
        hub.publish(Topic::Room(ROOM), &reactions(6, 6));
        assert!(feed.try_recv().is_none());
        tokio::time::sleep(REACTION_WINDOW).await;
        assert_eq!(numbers(feed.try_recv()), Some((6, 6)));
        tokio::time::sleep(REACTION_WINDOW).await;
        hub.publish(Topic::Room(ROOM), &reactions(7, 7));
        assert_eq!(numbers(feed.try_recv()), Some((7, 7)));
    }

    #[tokio::test(start_paused = true)]
    async fn held_reactions_go_before_the_rooms_next_event_and_a_frame_gathers_a_bounded_run() {
        let hub = Hub::new(256);
        let mut feed = hub.subscribe(Topic::Room(ROOM));
        let room = Topic::Room(ROOM);
        hub.publish(room.clone(), &reactions(2, 2));
        hub.publish(room.clone(), &reactions(3, 3));
        hub.local().deliver(&room, message_frame(4));
        assert_eq!(numbers(feed.try_recv()), Some((2, 2)));
        assert_eq!(numbers(feed.try_recv()), Some((3, 3)), "held, but before the message");
        assert_eq!(numbers(feed.try_recv()), Some((4, 4)));

        let last = 5 + REACTIONS_PER_FRAME as i64;
        for seq in 5..=last {
            hub.publish(room.clone(), &reactions(seq, seq));
        }
        assert_eq!(numbers(feed.try_recv()), Some((5, last - 1)), "as many as a frame takes");
        assert!(feed.try_recv().is_none(), "the next held");
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_waits_a_moment_for_those_numbered_before_it() {
        let hub = Hub::new(64);
        let mut feed = hub.subscribe(Topic::Room(ROOM));
        let room = Topic::Room(ROOM);
        hub.local().deliver(&room, message_frame(1));
        hub.local().deliver(&room, message_frame(3));
        assert_eq!(numbers(feed.try_recv()), Some((1, 1)));
        assert!(feed.try_recv().is_none(), "3 waits for 2");
        hub.local().deliver(&room, message_frame(2));
        assert_eq!(numbers(feed.try_recv()), Some((2, 2)));
        assert_eq!(numbers(feed.try_recv()), Some((3, 3)));

        // 4 never comes: 5 and 6 go once 5 has waited long enough, and a later gap waits on its own.
        hub.local().deliver(&room, message_frame(5));
        tokio::time::sleep(PATIENCE_FOR_EARLIER / 2).await;
        hub.local().deliver(&room, message_frame(6));
        hub.local().deliver(&room, message_frame(8));
        assert!(feed.try_recv().is_none());
        tokio::time::sleep(PATIENCE_FOR_EARLIER / 2 + Duration::from_millis(1)).await;
        assert_eq!(numbers(feed.try_recv()), Some((5, 5)));
        assert_eq!(numbers(feed.try_recv()), Some((6, 6)));
        assert!(feed.try_recv().is_none(), "8 waits for 7");
        tokio::time::sleep(PATIENCE_FOR_EARLIER + Duration::from_millis(1)).await;
        assert_eq!(numbers(feed.try_recv()), Some((8, 8)));

        // An event already passed goes on (its connections skip it).
        hub.local().deliver(&room, message_frame(7));
        assert_eq!(numbers(feed.try_recv()), Some((7, 7)));
    }

    #[tokio::test(start_paused = true)]
    async fn reactions_from_another_process_are_gathered_too_but_a_whispers_are_not_held() {
        let hub = Hub::new(64);
        let mut feed = hub.subscribe(Topic::Room(ROOM));
        let room = Topic::Room(ROOM);
        hub.publish(room.clone(), &reactions(1, 1));
        let relayed = serde_json::to_string(&reactions(2, 2)).unwrap();
        hub.local().deliver(&room, Frame::relayed(relayed.into(), Some(2), None, false));
        hub.publish_to(room.clone(), &reactions(3, 3), &[&PersonId::trusted("ann")]);
        assert_eq!(numbers(feed.try_recv()), Some((1, 1)));
        assert_eq!(numbers(feed.try_recv()), Some((2, 2)), "held, then let go by the whisper's");
        assert_eq!(numbers(feed.try_recv()), Some((3, 3)));
    }
}
