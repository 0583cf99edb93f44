//! Who is in which room, right now. Memory only: presence is what live connections say, nothing more.
//!
//! A person (a session) is in a room while at least one of their connections is joined to it, so two tabs count
//! once. Joining checks capacity and registers the person in one step under one lock, so concurrent joiners can
//! never exceed a room's limit. A person whose last connection closes stays counted for a short leave grace, so
//! a reload does not announce "left" and "joined".
//!
//! Every change of who is in a room (or of its owner) bumps the room's presence version, and returns a
//! [`Snapshot`] taken under the lock: announcements may be published in any order after that, and receivers
//! drop those older than what they have.
//!
//! (Over 400 lines: about half is the tests of these rules, kept beside them.)

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use crate::model::{Person, PersonId, RoomId};

pub struct Presence {
    // A std mutex: never held across an `.await`, and every operation on it is a few map lookups.
    rooms: Mutex<HashMap<RoomId, RoomState>>,
    /// Where every room's version starts: the boot time in microseconds, so versions grow across restarts too
    /// (a client that reconnects to a restarted server keeps comparing them) and stay exact in JavaScript.
    first_version: u64,
}

impl Default for Presence {
    fn default() -> Presence {
        let boot = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Presence { rooms: Mutex::default(), first_version: boot.as_micros() as u64 }
    }
}

enum RoomState {
    Open(RoomPresence),
    /// Removed rooms stay as tombstones for a while, so that a join racing with the removal (admitted just
    /// before it) is refused, not resurrected; then they are forgotten ([`Presence::forget_removed`]), so memory
    /// follows the rooms that exist, not every room there ever was.
    Removed {
        since: Instant,
    },
}

struct RoomPresence {
    members: HashMap<PersonId, Member>,
    owner: PersonId,
    /// Bumped on every change of members or owner: orders the announcements of the room's presence.
    version: u64,
    /// Bumped whenever the room gains a person: an empty-room timer only fires if nobody came since it started.
    generation: u64,
    /// Bumped on every join, so that ordering by arrival survives equal timestamps.
    arrivals: u64,
    /// The owner left while nobody else was here. They keep the room if they come back within the room's grace;
    /// otherwise the person present longest then takes over (or, if the room is still empty then, the next
    /// to arrive).
    owner_away: Option<OwnerAway>,
    /// People kicked out, refused under the same lock as capacity (the database keeps them across restarts).
    banned: HashSet<PersonId>,
}

#[derive(Clone, Copy)]
struct OwnerAway {
    /// Names this absence, for the timer that ends it.
    token: u64,
    /// The grace ended with the room empty: the next arrival takes over.
    expired: bool,
}

struct Member {
    person: Person,
    connections: u32,
    arrival: u64,
    /// Set while the person has no connection left and their departure is pending.
    leaving: Option<u64>,
}

/// Who is in a room and who owns it, at one presence version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// In order of arrival.
    pub people: Vec<Person>,
    pub owner: PersonId,
    pub version: u64,
}

impl Snapshot {
    pub fn present(&self) -> u32 {
        self.people.len() as u32
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// A newcomer is in: announce them with this snapshot. `takes_over` is set when the owner left the room
    /// empty longer than its grace ago: the newcomer becomes its owner.
    Arrived {
        snapshot: Snapshot,
        takes_over: bool,
    },
    /// One more connection of someone already present; nothing to announce.
    AlreadyHere {
        snapshot: Snapshot,
    },
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

/// A completed departure.
#[derive(Debug, PartialEq, Eq)]
pub struct Departure {
    pub person: Person,
    /// The owner left: `Some(successor)` if someone is left to take over (the longest present), `None` if the
    /// room is now empty (see [`Presence::owner_still_away`]).
    pub owner_left: Option<Option<Person>>,
    /// When the owner left the room empty: the token for [`Presence::owner_still_away`] after the grace.
    pub owner_away: Option<u64>,
    pub snapshot: Snapshot,
}

impl RoomPresence {
    fn new(owner: PersonId, version: u64) -> RoomPresence {
        RoomPresence {
            members: HashMap::new(),
            owner,
            version,
            generation: 0,
            arrivals: 0,
            owner_away: None,
            banned: HashSet::new(),
        }
    }

    fn longest_present(&self) -> Option<Person> {
        self.members.values().min_by_key(|m| m.arrival).map(|m| m.person.clone())
    }

    fn changed(&mut self) -> Snapshot {
        self.version += 1;
        self.snapshot()
    }

    fn snapshot(&self) -> Snapshot {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.arrival);
        Snapshot {
            people: members.into_iter().map(|m| m.person.clone()).collect(),
            owner: self.owner.clone(),
            version: self.version,
        }
    }
}

impl Presence {
    /// Registers a room that exists but has nobody in it yet (after creation or at start-up).
    /// Returns the generation for the empty-room timer.
    pub fn open_room(&self, room: RoomId, owner: &PersonId) -> u64 {
        let mut rooms = self.rooms.lock().unwrap();
        match rooms.entry(room).or_insert_with(|| RoomState::Open(RoomPresence::new(owner.clone(), self.first_version)))
        {
            RoomState::Open(presence) => presence.generation,
            RoomState::Removed { .. } => 0,
        }
    }

    /// Adds one connection of `person` to `room` if the room has space for them (people already present always
    /// do). `owner` is the stored owner, for a room this process has not seen yet.
    pub fn join(&self, room: RoomId, person: &Person, max_members: u32, owner: &PersonId) -> JoinOutcome {
        let mut rooms = self.rooms.lock().unwrap();
        let state =
            rooms.entry(room).or_insert_with(|| RoomState::Open(RoomPresence::new(owner.clone(), self.first_version)));
        let RoomState::Open(presence) = state else {
            return JoinOutcome::Removed;
        };
        if presence.banned.contains(&person.id) {
            return JoinOutcome::Banned;
        }
        if let Some(member) = presence.members.get_mut(&person.id) {
            member.connections += 1;
            member.leaving = None;
            return JoinOutcome::AlreadyHere { snapshot: presence.snapshot() };
        }
        if presence.members.len() as u32 >= max_members {
            return JoinOutcome::Full;
        }
        presence.generation += 1;
        presence.arrivals += 1;
        let member = Member { person: person.clone(), connections: 1, arrival: presence.arrivals, leaving: None };
        presence.members.insert(person.id.clone(), member);
        let takes_over = match presence.owner_away {
            _ if presence.owner == person.id => {
                presence.owner_away = None; // the owner is back
                false
            }
            Some(OwnerAway { expired: true, .. }) => true,
            _ => false,
        };
        if takes_over {
            presence.owner = person.id.clone();
            presence.owner_away = None;
        }
        JoinOutcome::Arrived { snapshot: presence.changed(), takes_over }
    }

    /// Removes one connection of the person from the room.
    pub fn leave(&self, room: RoomId, person: &PersonId) -> LeaveOutcome {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return LeaveOutcome::NotPresent;
        };
        let Some(member) = presence.members.get_mut(person) else {
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

    /// Completes a departure if the person did not come back since (`None` if they did, or the room is gone).
    /// An owner's departure hands the room to the person present longest, under the same lock.
    pub fn finish_leave(&self, room: RoomId, person: &PersonId, token: u64) -> Option<Departure> {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return None;
        };
        match presence.members.get(person) {
            Some(member) if member.connections == 0 && member.leaving == Some(token) => {}
            _ => return None,
        }
        let member = presence.members.remove(person)?;
        let mut owner_away = None;
        let owner_left = (presence.owner == *person).then(|| {
            let successor = presence.longest_present();
            match &successor {
                Some(successor) => presence.owner = successor.id.clone(),
                None => {
                    presence.arrivals += 1;
                    presence.owner_away = Some(OwnerAway { token: presence.arrivals, expired: false });
                    owner_away = Some(presence.arrivals);
                }
            }
            successor
        });
        Some(Departure { person: member.person, owner_left, owner_away, snapshot: presence.changed() })
    }

    /// The room's grace after its owner left it empty is over (`token` from [`Departure::owner_away`]). If they
    /// are still away, the person present longest takes over: returns them and the room after. If nobody is
    /// here, the next to arrive will.
    pub fn owner_still_away(&self, room: RoomId, token: u64) -> Option<(Person, Snapshot)> {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return None;
        };
        if presence.owner_away.is_none_or(|away| away.token != token) {
            return None;
        }
        match presence.longest_present() {
            Some(successor) => {
                presence.owner = successor.id.clone();
                presence.owner_away = None;
                Some((successor, presence.changed()))
            }
            None => {
                presence.owner_away = Some(OwnerAway { token, expired: true });
                None
            }
        }
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
                rooms.insert(room, RoomState::Removed { since: Instant::now() });
                true
            }
            _ => false,
        }
    }

    /// Bans a person from a room and removes them at once, whatever their connections (a kick), in one step:
    /// no join can slip in between. Returns the room after, or `None` if they were not present.
    pub fn evict(&self, room: RoomId, person: &PersonId) -> Option<Snapshot> {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(RoomState::Open(presence)) = rooms.get_mut(&room) else {
            return None;
        };
        presence.banned.insert(person.clone());
        presence.members.remove(person)?;
        Some(presence.changed())
    }

    /// Marks a room removed whoever is in it (for an explicit delete).
    pub fn remove(&self, room: RoomId) {
        self.rooms.lock().unwrap().insert(room, RoomState::Removed { since: Instant::now() });
    }

    /// Forgets the tombstones of rooms removed before `cutoff`. Returns how many went.
    pub fn forget_removed(&self, cutoff: Instant) -> usize {
        let mut rooms = self.rooms.lock().unwrap();
        let before = rooms.len();
        rooms.retain(|_, state| !matches!(state, RoomState::Removed { since } if *since < cutoff));
        before - rooms.len()
    }

    /// How many rooms this process holds: open ones, and tombstones of removed ones.
    pub fn room_counts(&self) -> (usize, usize) {
        let rooms = self.rooms.lock().unwrap();
        let removed = rooms.values().filter(|state| matches!(state, RoomState::Removed { .. })).count();
        (rooms.len() - removed, removed)
    }

    /// How many are present and at which version (for the room list).
    pub fn count(&self, room: RoomId) -> (u32, u64) {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => (presence.members.len() as u32, presence.version),
            _ => (0, 0),
        }
    }

    /// Who is in the room now (an empty snapshot for a room this process does not know).
    pub fn snapshot(&self, room: RoomId) -> Option<Snapshot> {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => Some(presence.snapshot()),
            _ => None,
        }
    }

    pub fn is_present(&self, room: RoomId, person: &PersonId) -> bool {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => presence.members.contains_key(person),
            _ => false,
        }
    }

    /// The people with a live connection in the room now (not those merely in their leave grace).
    pub fn connected(&self, room: RoomId) -> Vec<PersonId> {
        match self.rooms.lock().unwrap().get(&room) {
            Some(RoomState::Open(presence)) => {
                presence.members.iter().filter(|(_, m)| m.connections > 0).map(|(id, _)| id.clone()).collect()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::identity::person;

    const ROOM: RoomId = RoomId::new(1);

    fn id(name: &str) -> PersonId {
        person(name).id
    }

    fn joined(outcome: JoinOutcome) -> Snapshot {
        match outcome {
            JoinOutcome::Arrived { snapshot, .. } | JoinOutcome::AlreadyHere { snapshot } => snapshot,
            other => panic!("not joined: {other:?}"),
        }
    }

    #[test]
    fn two_tabs_of_one_person_count_once_and_leave_once() {
        let presence = Presence::default();
        let alice = person("alice");
        presence.open_room(ROOM, &alice.id);
        assert!(matches!(presence.join(ROOM, &alice, 2, &alice.id), JoinOutcome::Arrived { .. }));
        assert!(matches!(presence.join(ROOM, &alice, 2, &alice.id), JoinOutcome::AlreadyHere { .. }));
        assert_eq!(presence.leave(ROOM, &alice.id), LeaveOutcome::StillPresent);
        let LeaveOutcome::Pending(token) = presence.leave(ROOM, &alice.id) else { panic!("expected a pending leave") };
        assert_eq!(presence.count(ROOM).0, 1, "a leaving person holds their place during the leave grace");
        let departure = presence.finish_leave(ROOM, &alice.id, token).unwrap();
        assert_eq!((departure.person, departure.snapshot.present()), (alice, 0));
        assert_eq!(departure.owner_left, Some(None), "the owner left the room empty");
        assert_eq!(presence.count(ROOM).0, 0);
    }

    #[test]
    fn a_person_who_comes_back_during_the_leave_grace_never_left() {
        let presence = Presence::default();
        let alice = person("alice");
        presence.join(ROOM, &alice, 2, &alice.id);
        let LeaveOutcome::Pending(token) = presence.leave(ROOM, &alice.id) else { panic!() };
        assert!(matches!(presence.join(ROOM, &alice, 2, &alice.id), JoinOutcome::AlreadyHere { .. }));
        assert_eq!(presence.finish_leave(ROOM, &alice.id, token), None);
        assert!(presence.is_present(ROOM, &alice.id));
    }

    #[test]
    fn versions_keep_growing_across_a_restart() {
        let before = Presence::default();
        let a = person("a");
        let mut last = 0;
        for _ in 0..50 {
            last = joined(before.join(ROOM, &a, 5, &a.id)).version.max(last);
            before.leave(ROOM, &a.id);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        let after = Presence::default(); // the restarted server
        let first = joined(after.join(ROOM, &a, 5, &a.id)).version;
        assert!(first > last, "a client that saw {last} would drop {first}");
        assert!(first < 1 << 53, "versions stay exact as JavaScript numbers");
    }

    #[test]
    fn a_full_room_refuses_newcomers_but_not_people_already_in() {
        let presence = Presence::default();
        let owner = id("a");
        presence.join(ROOM, &person("a"), 2, &owner);
        presence.join(ROOM, &person("b"), 2, &owner);
        assert_eq!(presence.join(ROOM, &person("c"), 2, &owner), JoinOutcome::Full);
        assert!(matches!(presence.join(ROOM, &person("a"), 2, &owner), JoinOutcome::AlreadyHere { .. }));
    }

    #[test]
    fn every_change_has_a_higher_version_and_the_owner_passes_to_the_longest_present() {
        let presence = Presence::default();
        let (a, b, c) = (person("a"), person("b"), person("c"));
        presence.open_room(ROOM, &a.id);
        let v1 = joined(presence.join(ROOM, &a, 5, &a.id)).version;
        let v2 = joined(presence.join(ROOM, &b, 5, &a.id)).version;
        let v3 = joined(presence.join(ROOM, &c, 5, &a.id)).version;
        let LeaveOutcome::Pending(token) = presence.leave(ROOM, &a.id) else { panic!() };
        let departure = presence.finish_leave(ROOM, &a.id, token).unwrap();
        assert!(v1 < v2 && v2 < v3 && v3 < departure.snapshot.version);
        assert_eq!(departure.owner_left, Some(Some(b.clone())));
        assert_eq!(departure.snapshot.owner, b.id);
        let after_kick = presence.evict(ROOM, &c.id).unwrap();
        assert!(after_kick.version > departure.snapshot.version);
        assert_eq!(after_kick.people, vec![b]);
    }

    #[test]
    fn an_owner_who_left_the_room_empty_keeps_it_through_the_grace() {
        let presence = Presence::default();
        let (a, b, c) = (person("a"), person("b"), person("c"));
        let leave = |who: &Person| {
            let LeaveOutcome::Pending(token) = presence.leave(ROOM, &who.id) else { panic!() };
            presence.finish_leave(ROOM, &who.id, token).unwrap()
        };
        presence.join(ROOM, &a, 5, &a.id);
        let away = leave(&a).owner_away.expect("the owner left the room empty");
        // Someone arrives during the grace: they do not take over, and the owner comes back to their room.
        let JoinOutcome::Arrived { snapshot, takes_over } = presence.join(ROOM, &b, 5, &a.id) else { panic!() };
        assert!(!takes_over);
        assert_eq!(snapshot.owner, a.id);
        presence.join(ROOM, &a, 5, &a.id);
        assert_eq!(presence.owner_still_away(ROOM, away), None, "back in time: nothing to hand over");
        assert_eq!(presence.snapshot(ROOM).unwrap().owner, a.id);

        // Leaving people behind: the longest present takes over at once, as before.
        presence.join(ROOM, &c, 5, &a.id);
        let LeaveOutcome::Pending(token) = presence.leave(ROOM, &a.id) else { panic!() };
        let departure = presence.finish_leave(ROOM, &a.id, token).unwrap();
        assert_eq!(departure.owner_left, Some(Some(b.clone())), "with people present, the hand-over is immediate");

        // Away past the grace with the room empty: the next arrival takes over.
        let (d, e) = (person("d"), person("e"));
        let other = RoomId::new(2);
        presence.join(other, &d, 5, &d.id);
        let LeaveOutcome::Pending(token) = presence.leave(other, &d.id) else { panic!() };
        let away = presence.finish_leave(other, &d.id, token).unwrap().owner_away.unwrap();
        assert_eq!(presence.owner_still_away(other, away), None);
        let JoinOutcome::Arrived { snapshot, takes_over } = presence.join(other, &e, 5, &d.id) else { panic!() };
        assert!(takes_over);
        assert_eq!(snapshot.owner, e.id);
    }

    #[test]
    fn an_owner_still_away_after_the_grace_hands_over_to_the_longest_present() {
        let presence = Presence::default();
        let (a, b, c) = (person("a"), person("b"), person("c"));
        presence.join(ROOM, &a, 5, &a.id);
        let LeaveOutcome::Pending(token) = presence.leave(ROOM, &a.id) else { panic!() };
        let away = presence.finish_leave(ROOM, &a.id, token).unwrap().owner_away.unwrap();
        presence.join(ROOM, &b, 5, &a.id);
        presence.join(ROOM, &c, 5, &a.id);
        let (successor, snapshot) = presence.owner_still_away(ROOM, away).unwrap();
        assert_eq!((successor.id, snapshot.owner), (b.id.clone(), b.id));
        assert_eq!(presence.owner_still_away(ROOM, away), None, "once");
    }

    #[test]
    fn empty_room_removal_is_cancelled_by_a_join_and_final_once_done() {
        let presence = Presence::default();
        let owner = id("a");
        let generation = presence.open_room(ROOM, &owner);
        presence.join(ROOM, &person("a"), 5, &owner);
        let LeaveOutcome::Pending(token) = presence.leave(ROOM, &owner) else { panic!() };
        presence.finish_leave(ROOM, &owner, token);
        assert!(!presence.remove_if_still_empty(ROOM, generation), "someone came since the timer started");
        let generation = presence.empty_generation(ROOM).unwrap();
        assert!(presence.remove_if_still_empty(ROOM, generation));
        assert_eq!(presence.join(ROOM, &person("b"), 5, &owner), JoinOutcome::Removed);

        // The tombstone is forgotten once old enough, and only then.
        let removed_at = Instant::now();
        assert_eq!(presence.forget_removed(removed_at - std::time::Duration::from_secs(60)), 0);
        assert_eq!(presence.room_counts(), (0, 1));
        assert_eq!(presence.forget_removed(Instant::now() + std::time::Duration::from_millis(1)), 1);
        assert_eq!(presence.room_counts(), (0, 0));
    }

    #[test]
    fn concurrent_joiners_never_exceed_the_limit() {
        let presence = std::sync::Arc::new(Presence::default());
        let owner = id("owner");
        let joined: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|n| {
                    let (presence, owner) = (presence.clone(), owner.clone());
                    scope.spawn(move || {
                        matches!(presence.join(ROOM, &person(&format!("p{n}")), 5, &owner), JoinOutcome::Arrived { .. })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap() as usize).sum()
        });
        assert_eq!(joined, 5);
        assert_eq!(presence.count(ROOM).0, 5);
    }

    #[test]
    fn an_evicted_person_is_gone_at_once_and_their_tabs_leave_quietly() {
        let presence = Presence::default();
        let owner = id("a");
        presence.join(ROOM, &person("a"), 5, &owner);
        presence.join(ROOM, &person("b"), 5, &owner);
        presence.join(ROOM, &person("b"), 5, &owner);
        assert_eq!(presence.evict(ROOM, &id("b")).map(|s| s.present()), Some(1));
        assert!(!presence.is_present(ROOM, &id("b")));
        assert_eq!(
            presence.leave(ROOM, &id("b")),
            LeaveOutcome::NotPresent,
            "the kicked tabs' later leaves do nothing"
        );
        assert_eq!(presence.evict(ROOM, &id("b")), None);
        assert_eq!(presence.join(ROOM, &person("b"), 5, &owner), JoinOutcome::Banned, "and cannot come back");
    }
}
