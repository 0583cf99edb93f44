//! Announcements a crowd could multiply, coalesced per room. Every arrival and departure is told to the room as a
//! system message ("Ann joined") and to every room list as the room's new count; a crowd coming and going (or a
//! flood of fresh identities) would otherwise store a message and send every room list a frame per person. So
//! each room has a window: the first few announcements of a window go out at once, as always; the rest are held
//! and go out together when it closes (one "Ann, Bob and 12 others joined", one count).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use super::Chat;
use protocol::live::LiveEvent;
use protocol::model::{Person, RoomId};

/// How long a room's window of comings and goings lasts, and how many of them it announces one by one.
const MOVEMENT_WINDOW: Duration = Duration::from_secs(10);
const MOVEMENTS_ONE_BY_ONE: u32 = 5;
/// How often at most a room's count goes to the room lists (the first change at once, the latest one after).
const COUNT_WINDOW: Duration = Duration::from_millis(250);

/// Per room, the announcements of its open window.
pub(super) struct Coalescer<T> {
    rooms: Mutex<HashMap<RoomId, Window<T>>>,
}

impl<T> Default for Coalescer<T> {
    fn default() -> Self {
        Coalescer { rooms: Mutex::default() }
    }
}

struct Window<T> {
    /// Announcements made one by one in this window.
    sent: u32,
    held: Vec<T>,
}

/// What to do with an announcement offered to a room's window.
#[derive(Debug, PartialEq, Eq)]
enum Offer {
    /// Make it now; `opened` if it opened the window (whose end the caller then schedules).
    Now { opened: bool },
    /// Held for the window's end.
    Held,
}

impl<T> Coalescer<T> {
    fn offer(&self, room: RoomId, item: T, one_by_one: u32) -> (Offer, Option<T>) {
        match self.rooms.lock().unwrap().entry(room) {
            Entry::Vacant(vacant) => {
                vacant.insert(Window { sent: 1, held: Vec::new() });
                (Offer::Now { opened: true }, Some(item))
            }
            Entry::Occupied(mut window) if window.get().sent < one_by_one => {
                window.get_mut().sent += 1;
                (Offer::Now { opened: false }, Some(item))
            }
            Entry::Occupied(mut window) => {
                window.get_mut().held.push(item);
                (Offer::Held, None)
            }
        }
    }

    /// The window ends: what it held, if anything (a new window then opens, the caller's announcement of them
    /// counted in it); if nothing, the room has no window until its next announcement.
    fn close(&self, room: RoomId) -> Option<Vec<T>> {
        let mut rooms = self.rooms.lock().unwrap();
        let window = rooms.get_mut(&room)?;
        if window.held.is_empty() {
            rooms.remove(&room);
            return None;
        }
        window.sent = 1;
        Some(std::mem::take(&mut window.held))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.rooms.lock().unwrap().len()
    }
}

/// Someone came or went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Movement {
    Joined(Person),
    Left(Person),
}

/// A room's count as of its presence version.
#[derive(Debug, Clone, Copy)]
pub(super) struct Count {
    present: u32,
    version: u64,
}

impl Chat {
    /// Tells the room that someone came or went: at once, or with the others of its window.
    pub(super) async fn announce_movement(self: &Arc<Self>, room: RoomId, movement: Movement) {
        let (offer, movement) = self.movements.offer(room, movement, MOVEMENTS_ONE_BY_ONE);
        if let Offer::Now { opened } = offer {
            if opened {
                self.after(MOVEMENT_WINDOW, move |chat| async move { chat.close_movement_window(room) });
            }
            // Said only if it is still so when it is stored: a quick return through another process may come first.
            let (text, person, present) = match movement.expect("made now") {
                Movement::Joined(person) => (format!("{} joined", person.name), person.id, true),
                Movement::Left(person) => (format!("{} left", person.name), person.id, false),
            };
            self.system_message_about(room, text, Some((&person, present))).await;
        }
    }

    fn close_movement_window(self: Arc<Self>, room: RoomId) {
        let Some(held) = self.movements.close(room) else { return };
        self.after(MOVEMENT_WINDOW, move |chat| async move { chat.close_movement_window(room) });
        self.after(Duration::ZERO, move |chat| chat.announce_held_movements(room, held));
    }

    /// One message for everyone who came in a window, one for everyone who went.
    async fn announce_held_movements(self: Arc<Self>, room: RoomId, held: Vec<Movement>) {
        let names = |joined: bool| {
            let mut names: Vec<&str> = Vec::new();
            for movement in &held {
                let name = match (movement, joined) {
                    (Movement::Joined(person), true) | (Movement::Left(person), false) => person.name.as_str(),
                    _ => continue,
                };
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            names
        };
        let joined = names(true);
        if !joined.is_empty() {
            self.system_message(room, format!("{} joined", listed(&joined))).await;
        }
        let left = names(false);
        if !left.is_empty() {
            self.system_message(room, format!("{} left", listed(&left))).await;
        }
    }

    /// Tells the room lists how many people are in the room: at once, or the latest count at the window's end.
    pub(super) fn announce_count(self: &Arc<Self>, room: RoomId, present: u32, version: u64) {
        let (offer, _) = self.counts.offer(room, Count { present, version }, 1);
        if let Offer::Now { opened } = offer {
            if opened {
                self.after(COUNT_WINDOW, move |chat| async move { chat.close_count_window(room) });
            }
            self.publish_on_lists(room, LiveEvent::RoomPresence { id: room, present, version });
        }
    }

    fn close_count_window(self: Arc<Self>, room: RoomId) {
        let Some(held) = self.counts.close(room) else { return };
        self.after(COUNT_WINDOW, move |chat| async move { chat.close_count_window(room) });
        if let Some(Count { present, version }) = held.into_iter().max_by_key(|count| count.version) {
            self.publish_on_lists(room, LiveEvent::RoomPresence { id: room, present, version });
        }
    }
}

/// "Ann", "Ann and Bob", "Ann, Bob and Cleo", "Ann, Bob and 3 others".
fn listed(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [first, second] => format!("{first} and {second}"),
        [first, second, third] => format!("{first}, {second} and {third}"),
        [first, second, rest @ ..] => format!("{first}, {second} and {} others", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_passes_the_first_few_then_holds_the_rest_until_it_closes() {
        let coalescer = Coalescer::default();
        let room = RoomId::new(1);
        assert_eq!(coalescer.offer(room, 1, 2).0, Offer::Now { opened: true });
        assert_eq!(coalescer.offer(room, 2, 2).0, Offer::Now { opened: false });
        assert_eq!(coalescer.offer(room, 3, 2).0, Offer::Held);
        assert_eq!(coalescer.offer(room, 4, 2).0, Offer::Held);
        assert_eq!(coalescer.offer(RoomId::new(2), 9, 2).0, Offer::Now { opened: true }, "rooms have their own");
        assert_eq!(coalescer.close(room), Some(vec![3, 4]));
        // The next window counts the announcement of what was held.
        assert_eq!(coalescer.offer(room, 5, 2).0, Offer::Now { opened: false });
        assert_eq!(coalescer.offer(room, 6, 2).0, Offer::Held);
        assert_eq!(coalescer.close(room), Some(vec![6]));
        assert_eq!(coalescer.close(room), None);
        assert_eq!(coalescer.len(), 1, "a window that held nothing closes for good");
    }

    #[test]
    fn names_are_listed_as_people_say_them() {
        assert_eq!(listed(&["Ann"]), "Ann");
        assert_eq!(listed(&["Ann", "Bob"]), "Ann and Bob");
        assert_eq!(listed(&["Ann", "Bob", "Cleo"]), "Ann, Bob and Cleo");
        assert_eq!(listed(&["Ann", "Bob", "Cleo", "Dan", "Eve"]), "Ann, Bob and 3 others");
    }
}
