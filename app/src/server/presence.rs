//! Who is in which room, right now. Memory only: presence is what live connections say, nothing more.
//!
//! A person (a session) is in a room while at least one of their connections is joined to it, so two tabs count
//! once. Joining checks capacity and registers the person in one step under one lock, so concurrent joiners can
//! never exceed a room's limit. A person whose last connection closes stays counted for a short leave grace, so
//! a reload does not announce "left" and "joined".

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{Person, RoomId};

#[derive(Default)]
pub struct Presence {
    // A std mutex: never held across an `.await`, and every operation on it is a few map lookups.
    rooms: Mutex<HashMap<RoomId, RoomState>>,
}

enum RoomState {
    Open(RoomPresence),
    /// Removed rooms stay as tombstones so that a join racing with the removal is refused, not resurrected
    /// (room ids are never reused, so a tombstone costs a few bytes, once).
    Removed,
}

#[derive(Default)]
struct RoomPresence {
    members: HashMap<String, Member>,
    /// Bumped whenever the room gains a person: an empty-room timer only fires if nobody came since it started.
    generation: u64,
    /// Bumped on every join, so that ordering by arrival survives equal timestamps.
    arrivals: u64,
    /// The owner left while nobody else was here: the next person to arrive takes over.
    owner_departed: bool,
    /// People kicked out, refused under the same lock as capacity (the database keeps them across restarts).
    banned: std::collections::HashSet<String>,
}

struct Member {
    person: Person,
    connections: u32,
    arrival: u64,
    /// Set while the person has no connection left and their departure is pending.
    leaving: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The connection is in. `newcomer` is true when the person was not present before (announce them).
    Joined { newcomer: bool, present: u32 },
    Full,
    Removed,
    Banned,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LeaveOutcome {
    /// The person still has other connections in the room.
    StillPresent,
    /// The person's last connection left; call [`Presence::finish_leave`] with this token after the leave grace.
    Pending(u64),
    /// The connection was not joined (nothing to do).
    NotPresent,
}

impl Presence {
    /// Registers a room that exists but has nobody in it yet (after creation or at start-up).
    /// Returns the generation for the empty-room timer.
    pub fn open_room(&self, room: RoomId) -> u64 {
        let mut rooms = self.rooms.lock().unwrap();
        match rooms.entry(room).or_insert_with(|| RoomState::Open(RoomPresence::default())) {
            RoomState::Open(presence) => presence.generation,
            RoomState::Removed => 0,
        }
    }

    /// Adds one connection of `person` to `room` if the room has space for them (people already present always do).
    pub fn join(&self, room: RoomId, person: &Person, max_members: u32) -> JoinOutcome {
        let mut rooms = self.rooms.lock().unwrap();
        let state = rooms.entry(room).or_insert_with(|| RoomState::Open(RoomPresence::default()));
        let RoomState::Open(presence) = state else {
            return JoinOutcome::Removed;
        };
        if presence.banned.contains(&person.id) {
            return JoinOutcome::Banned;
        }
        if let Some(member) = presence.members.get_mut(&person.id) {
            member.connections += 1;
            member.leaving = None;
            return JoinOutcome::Joined { newcomer: false, present: presence.members.len() as u32 };
        }
        if presence.members.len() as u32 >= max_members {
            return JoinOutcome::Full;
        }
        presence.generation += 1;
        presence.arrivals += 1;
        presence.members.insert(
            person.id.clone(),
            Member { person: person.clone(), connections: 1, arrival: presence.arrivals, leaving: None },
        );
        JoinOutcome::Joined { newcomer: true, present: presence.members.len() as u32 }
    }

    /// Removes one connection of the person from the room.
    pub fn leave(&self, room: RoomId, person_id: &str) -> LeaveOutcome {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return LeaveOutcome::NotPresent;
        };
        let Some(member) = presence.members.get_mut(person_id) else {
            return LeaveOutcome::NotPresent;
        };
        member.connections = member.connections.saturating_sub(1);
        if member.connections > 0 {
            return LeaveOutcome::StillPresent;
        }
        presence.arrivals += 1;
        let token = presence.arrivals;
        member.leaving = Some(token);
        LeaveOutcome::Pending(token)
    }

    /// Completes a departure if the person did not come back since. Returns the person and the number of people
    /// still present, or `None` if they came back (or the room is gone).
    pub fn finish_leave(&self, room: RoomId, person_id: &str, token: u64) -> Option<(Person, u32)> {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return None;
        };
        match presence.members.get(person_id) {
            Some(member) if member.connections == 0 && member.leaving == Some(token) => {}
            _ => return None,
        }
        let member = presence.members.remove(person_id)?;
        Some((member.person, presence.members.len() as u32))
    }

    /// The generation to hand to an empty-room timer, if the room is empty now.
    pub fn empty_generation(&self, room: RoomId) -> Option<u64> {
        let rooms = self.rooms.lock().unwrap();
        match rooms.get(&room) {
            Some(RoomState::Open(presence)) if presence.members.is_empty() => Some(presence.generation),
            _ => None,
        }
    }

    /// Marks an empty room removed, if nobody joined since `generation`. True if the caller must now delete it.
    pub fn remove_if_still_empty(&self, room: RoomId, generation: u64) -> bool {
        let mut rooms = self.rooms.lock().unwrap();
        match rooms.get(&room) {
            Some(RoomState::Open(presence)) if presence.members.is_empty() && presence.generation == generation => {
                rooms.insert(room, RoomState::Removed);
                true
            }
            _ => false,
        }
    }

    /// Bans a person from a room and removes them at once, whatever their connections (a kick), in one step:
    /// no join can slip in between. Returns how many remain, or `None` if they were not present.
    pub fn evict(&self, room: RoomId, person_id: &str) -> Option<u32> {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return None;
        };
        presence.banned.insert(person_id.to_owned());
        presence.members.remove(person_id)?;
        Some(presence.members.len() as u32)
    }

    /// Whether the person has a live connection in the room (not merely a pending departure).
    pub fn is_connected(&self, room: RoomId, person_id: &str) -> bool {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => presence.members.get(person_id).is_some_and(|m| m.connections > 0),
            _ => false,
        }
    }

    /// Remembers that the owner left an empty room, so the next arrival becomes the owner.
    pub fn mark_owner_departed(&self, room: RoomId) {
        if let Some(RoomState::Open(presence)) = self.rooms.lock().unwrap().get_mut(&room) {
            presence.owner_departed = true;
        }
    }

    /// Whether the owner had left (and clears the mark): the caller makes the newcomer owner.
    pub fn take_owner_departed(&self, room: RoomId) -> bool {
        match self.rooms.lock().unwrap().get_mut(&room) {
            Some(RoomState::Open(presence)) => std::mem::take(&mut presence.owner_departed),
            _ => false,
        }
    }

    /// Marks a room removed whoever is in it (for an explicit delete).
    pub fn remove(&self, room: RoomId) {
        self.rooms.lock().unwrap().insert(room, RoomState::Removed);
    }

    pub fn count(&self, room: RoomId) -> u32 {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => presence.members.len() as u32,
            _ => 0,
        }
    }

    pub fn is_present(&self, room: RoomId, person_id: &str) -> bool {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => presence.members.contains_key(person_id),
            _ => false,
        }
    }

    /// The people in a room, in order of arrival.
    pub fn members(&self, room: RoomId) -> Vec<Person> {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => {
                let mut members: Vec<&Member> = presence.members.values().collect();
                members.sort_by_key(|m| m.arrival);
                members.into_iter().map(|m| m.person.clone()).collect()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::identity::person;

    #[test]
    fn two_tabs_of_one_person_count_once_and_leave_once() {
        let presence = Presence::default();
        let alice = person("alice");
        presence.open_room(1);
        assert_eq!(presence.join(1, &alice, 2), JoinOutcome::Joined { newcomer: true, present: 1 });
        assert_eq!(presence.join(1, &alice, 2), JoinOutcome::Joined { newcomer: false, present: 1 });
        assert_eq!(presence.leave(1, "alice"), LeaveOutcome::StillPresent);
        let LeaveOutcome::Pending(token) = presence.leave(1, "alice") else { panic!("expected a pending leave") };
        assert_eq!(presence.count(1), 1, "a leaving person holds their place during the leave grace");
        assert_eq!(presence.finish_leave(1, "alice", token), Some((alice, 0)));
        assert_eq!(presence.count(1), 0);
    }

    #[test]
    fn a_person_who_comes_back_during_the_leave_grace_never_left() {
        let presence = Presence::default();
        let alice = person("alice");
        presence.join(1, &alice, 2);
        let LeaveOutcome::Pending(token) = presence.leave(1, "alice") else { panic!() };
        assert_eq!(presence.join(1, &alice, 2), JoinOutcome::Joined { newcomer: false, present: 1 });
        assert_eq!(presence.finish_leave(1, "alice", token), None);
        assert!(presence.is_present(1, "alice"));
    }

    #[test]
    fn a_full_room_refuses_newcomers_but_not_people_already_in() {
        let presence = Presence::default();
        presence.join(1, &person("a"), 2);
        presence.join(1, &person("b"), 2);
        assert_eq!(presence.join(1, &person("c"), 2), JoinOutcome::Full);
        assert_eq!(presence.join(1, &person("a"), 2), JoinOutcome::Joined { newcomer: false, present: 2 });
    }

    #[test]
    fn empty_room_removal_is_cancelled_by_a_join_and_final_once_done() {
        let presence = Presence::default();
        let generation = presence.open_room(1);
        presence.join(1, &person("a"), 5);
        let LeaveOutcome::Pending(token) = presence.leave(1, "a") else { panic!() };
        presence.finish_leave(1, "a", token);
        assert!(!presence.remove_if_still_empty(1, generation), "someone came since the timer started");
        let generation = presence.empty_generation(1).unwrap();
        assert!(presence.remove_if_still_empty(1, generation));
        assert_eq!(presence.join(1, &person("b"), 5), JoinOutcome::Removed);
    }

    #[test]
    fn concurrent_joiners_never_exceed_the_limit() {
        let presence = std::sync::Arc::new(Presence::default());
        let joined: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|n| {
                    let presence = presence.clone();
                    scope.spawn(move || matches!(presence.join(1, &person(&format!("p{n}")), 5), JoinOutcome::Joined { .. }))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap() as usize).sum()
        });
        assert_eq!(joined, 5);
        assert_eq!(presence.count(1), 5);
    }
}

#[cfg(test)]
mod eviction_tests {
    use super::*;
    use crate::server::identity::person;

    #[test]
    fn an_evicted_person_is_gone_at_once_and_their_tabs_leave_quietly() {
        let presence = Presence::default();
        presence.join(1, &person("a"), 5);
        presence.join(1, &person("b"), 5);
        presence.join(1, &person("b"), 5);
        assert_eq!(presence.evict(1, "b"), Some(1));
        assert!(!presence.is_present(1, "b"));
        assert_eq!(presence.leave(1, "b"), LeaveOutcome::NotPresent, "the kicked tabs' later leaves do nothing");
        assert_eq!(presence.evict(1, "b"), None);
        assert_eq!(presence.join(1, &person("b"), 5), JoinOutcome::Banned, "and cannot come back");
    }
}
