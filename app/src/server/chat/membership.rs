//! Who may be in a room, and who is: admission (one query, one rule, one [`Refusal`]), joining and leaving,
//! owner hand-over, kicks, and the announcements of who is here.

use std::net::IpAddr;
use std::sync::Arc;

use super::Chat;
use super::db::{self, AdmissionRow};
use super::presence::{JoinOutcome, LeaveOutcome, Snapshot};
use crate::domain::PersonId;
use crate::error::{AppError, Limit, Refusal};
use crate::live::LiveEvent;
use crate::model::{Participant, Person, RoomAccess, RoomId, RoomLabel, RoomView};
use crate::server::error::ServerResult;
use crate::server::hub::{Feed, Topic};
use crate::server::identity::{distinguishing_tags, person};
use crate::server::passwords;

/// Proof that a person may see a room: made only by [`Chat::admit`].
#[derive(Debug)]
pub struct Admission {
    row: AdmissionRow,
    person: Person,
}

impl Admission {
    pub fn room(&self) -> RoomId {
        self.row.room.id
    }

    pub fn person(&self) -> &Person {
        &self.person
    }
}

/// The rule of who may see a room, said once: they are not banned from it, and if it is locked they gave its
/// password. Capacity and presence are checked where they matter (entering, posting).
fn refusal(row: &AdmissionRow) -> Option<Refusal> {
    if row.banned {
        Some(Refusal::Banned)
    } else if row.room.password_hash.is_some() && !row.granted {
        Some(Refusal::Password)
    } else {
        None
    }
}

fn label(row: &AdmissionRow) -> RoomLabel {
    RoomLabel { id: row.room.id, title: row.room.title.clone(), max_members: row.room.max_members as u32 }
}

/// A connection's way into a room, as [`Chat::join`] worked it out.
pub struct Joined {
    /// The room's live events from before the join on.
    pub feed: Feed,
    pub present: u32,
    /// The room's latest message when the join was admitted: the client has to be caught up to here.
    pub last_seq: i64,
    /// Who is here, for a connection of someone already present (a newcomer's arrival is announced to the
    /// whole room, this connection included, so it gets nothing here).
    pub participants: Option<(Vec<Participant>, u64)>,
}

impl Chat {
    /// Whether `person` may see the room (see [`refusal`]), in one query.
    pub async fn admit(&self, room: RoomId, person: &Person) -> ServerResult<Admission> {
        let row = db::admission(&self.db, room, &person.id).await?.ok_or(Refusal::NotFound)?;
        match refusal(&row) {
            Some(refusal) => Err(refusal.into()),
            None => Ok(Admission { row, person: person.clone() }),
        }
    }

    /// Admission to post: as [`Chat::admit`], and present in the room.
    pub async fn admit_poster(&self, room: RoomId, person: &Person) -> ServerResult<Admission> {
        let admission = self.admit(room, person).await?;
        if !self.presence.is_present(room, &person.id) {
            return Err(Refusal::NotPresent.into());
        }
        Ok(admission)
    }

    /// What `/room/:id` shows `me`: the room with its latest messages, or why they cannot enter.
    pub async fn room_page(&self, room: RoomId, me: &Person) -> ServerResult<RoomAccess> {
        let Some(row) = db::admission(&self.db, room, &me.id).await? else {
            return Ok(RoomAccess::Refused { refusal: Refusal::NotFound, room: None });
        };
        if let Some(refusal) = refusal(&row) {
            return Ok(RoomAccess::Refused { refusal, room: Some(label(&row)) });
        }
        let summary = self.summary(&row.room);
        if summary.present >= summary.max_members && !self.presence.is_present(room, &me.id) {
            return Ok(RoomAccess::Refused { refusal: Refusal::Full, room: Some(label(&row)) });
        }
        let (messages, has_earlier) = db::messages_before(&self.db, room, &me.id, None).await?;
        let participants = match self.presence.snapshot(room) {
            Some(snapshot) => participants(&snapshot),
            None => Vec::new(),
        };
        Ok(RoomAccess::Open(Box::new(RoomView { room: summary, me: me.clone(), participants, messages, has_earlier })))
    }

    /// Checks a room's password; a correct one is remembered for the person's session. Attempts are limited
    /// per person and per client address.
    pub async fn enter_with_password(
        &self,
        room: RoomId,
        person: &Person,
        password: String,
        address: Option<IpAddr>,
    ) -> ServerResult<()> {
        let row = db::find_room(&self.db, room).await?.ok_or(Refusal::NotFound)?;
        let Some(hash) = row.password_hash else {
            return Ok(());
        };
        if let Err(wait) = self.password_attempts.check(&person.id, address) {
            let retry_after = wait.as_secs() + 1;
            return Err(AppError::TooManyRequests { limit: Limit::PasswordAttempts, retry_after }.into());
        }
        if password.chars().count() > crate::domain::RoomPassword::MAX_CHARS
            || !passwords::verify(hash, password).await?
        {
            return Err(AppError::WrongPassword.into());
        }
        db::grant(&self.db, room, &person.id).await?;
        Ok(())
    }

    /// Adds a live connection of `person` to a room: admission, then capacity and bans under the presence lock
    /// (atomic with registering them). A newcomer is announced in the room, and may take over a room its owner
    /// left empty.
    pub async fn join(self: &Arc<Self>, room: RoomId, person: &Person) -> ServerResult<Joined> {
        // Subscribe before reading the room's position: whatever is committed after it arrives on the feed.
        let feed = self.hub.subscribe(Topic::Room(room));
        let admission = self.admit(room, person).await?;
        let row = &admission.row;
        match self.presence.join(room, person, row.room.max_members as u32, &row.room.owner_id) {
            JoinOutcome::Full => Err(Refusal::Full.into()),
            JoinOutcome::Removed => Err(Refusal::NotFound.into()),
            JoinOutcome::Banned => Err(Refusal::Banned.into()),
            JoinOutcome::AlreadyHere { snapshot } => Ok(Joined {
                feed,
                present: snapshot.present(),
                last_seq: row.last_seq,
                participants: Some((participants(&snapshot), snapshot.version)),
            }),
            JoinOutcome::Arrived { snapshot, takes_over } => {
                self.system_message(room, format!("{} joined", person.name)).await;
                if takes_over {
                    self.store_new_owner(room, person, snapshot.version).await;
                }
                self.announce(room, &snapshot);
                Ok(Joined { feed, present: snapshot.present(), last_seq: row.last_seq, participants: None })
            }
        }
    }

    /// Removes a live connection of a person from a room; everything sent to it counts as read (`read_up_to`).
    /// Their departure is announced after the leave grace, unless they come back; an owner's departure hands the
    /// room over; the last departure starts the empty-room grace.
    pub async fn leave(self: &Arc<Self>, room: RoomId, person: &PersonId, read_up_to: i64) {
        if let Err(error) = db::mark_read(&self.db, room, person, read_up_to).await {
            tracing::warn!(%error, %room, "saving a read mark");
        }
        let LeaveOutcome::Pending(token) = self.presence.leave(room, person) else {
            return;
        };
        let person = person.clone();
        self.after(self.settings.leave_grace, move |chat| async move {
            let Some(departure) = chat.presence.finish_leave(room, &person, token) else {
                return;
            };
            chat.system_message(room, format!("{} left", departure.person.name)).await;
            if let Some(Some(successor)) = &departure.owner_left {
                chat.store_new_owner(room, successor, departure.snapshot.version).await;
            }
            if let Some(token) = departure.owner_away {
                // The owner keeps a room they left empty for its grace; then whoever is here takes over.
                chat.after(chat.settings.room_grace, move |chat| async move {
                    if let Some((successor, snapshot)) = chat.presence.owner_still_away(room, token) {
                        chat.store_new_owner(room, &successor, snapshot.version).await;
                        chat.announce(room, &snapshot);
                    }
                });
            }
            chat.announce(room, &departure.snapshot);
            if let Some(generation) = chat.presence.empty_generation(room) {
                chat.schedule_removal(room, generation);
            }
        });
    }

    /// Whether the person is still in the room (a lagging connection checks it: a kick may be among the
    /// events it missed).
    pub fn is_member(&self, room: RoomId, person: &PersonId) -> bool {
        self.presence.is_present(room, person)
    }

    /// Stores a new owner (presence made them owner at `version`; a later decision written first wins) and tells
    /// the room and the room lists.
    async fn store_new_owner(self: &Arc<Self>, room: RoomId, owner: &Person, version: u64) {
        if let Err(error) = db::set_owner(&self.db, room, &owner.id, version).await {
            return tracing::error!(%error, %room, "handing a room over");
        }
        self.system_message(room, format!("{} is now the owner", owner.name)).await;
        self.hub.publish(Topic::Lobby, &LiveEvent::RoomOwner { id: room, owner: owner.clone() });
    }

    /// Tells the room lists how many people are in the room, and the room who they are, as of `snapshot`.
    fn announce(&self, room: RoomId, snapshot: &Snapshot) {
        let version = snapshot.version;
        self.hub.publish(Topic::Lobby, &LiveEvent::RoomPresence { id: room, present: snapshot.present(), version });
        let people = participants(snapshot);
        self.hub.publish(Topic::Room(room), &LiveEvent::Participants { room, people, version });
    }

    /// The room's owner removes `target`: at once, and for as long as the room exists.
    pub async fn kick(self: &Arc<Self>, room: RoomId, by: &Person, target: &PersonId) -> ServerResult<()> {
        if *target == by.id {
            return Err(AppError::Invalid("You cannot remove yourself; leave the room instead.".into()).into());
        }
        if !self.presence.is_present(room, target) {
            return Err(AppError::Invalid("That person is not in this room.".into()).into());
        }
        let announcement = format!("{} was removed by the owner", person(target.as_str()).name);
        let message = match db::kick(&self.db, room, &by.id, target, &announcement).await? {
            db::Kicked::Done(message) => message,
            db::Kicked::NotOwner => return Err(AppError::Forbidden("Only the room's owner can do that.".into()).into()),
            db::Kicked::NoRoom => return Err(Refusal::NotFound.into()),
        };
        // The ban is stored: from here on, no tab of theirs can rejoin. Now out of the room, at once.
        let after = self.presence.evict(room, target);
        self.hub.expel(Topic::Room(room), &LiveEvent::Kicked { room }, target);
        self.publish_message(&message);
        if let Some(snapshot) = after {
            self.announce(room, &snapshot);
        }
        if let Some(generation) = self.presence.empty_generation(room) {
            self.schedule_removal(room, generation);
        }
        Ok(())
    }
}

/// Who is in the room, in order of arrival, marked as owner and told apart where they look alike.
fn participants(snapshot: &Snapshot) -> Vec<Participant> {
    let tags = distinguishing_tags(&snapshot.people);
    snapshot
        .people
        .iter()
        .zip(tags)
        .map(|(person, tag)| Participant { owner: person.id == snapshot.owner, person: person.clone(), tag })
        .collect()
}
