//! Private conversations: "Talk privately" makes a room for exactly the two people (member limit 2, no password,
//! not on the room list, and to anyone else a room that does not exist), and invites the other with an alarm they
//! may accept (entering it) or decline (their inviter is told). A pair has at most one open: inviting again
//! reopens it. It lives like any room, removed once both left and its grace passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::db::alarms::NewAlarm;
use super::db::{self, private};
use super::{Chat, presence};
use crate::error::{ServerError, ServerResult};
use crate::hub::Topic;
use crate::identity::person;
use protocol::alarms::AlarmKind;
use protocol::error::{AppError, Refusal};
use protocol::live::LiveEvent;
use protocol::model::{Person, PersonId, RoomId, RoomSummary};

/// What this process knows of which rooms are private (each asked of the database once).
#[derive(Default)]
pub(super) struct Privacy(Mutex<HashMap<RoomId, bool>>);

impl Privacy {
    /// At most this many rooms are remembered; beyond, the memory starts again.
    const REMEMBERED: usize = 50_000;

    fn known(&self, room: RoomId) -> Option<bool> {
        self.0.lock().unwrap().get(&room).copied()
    }

    pub(super) fn remember(&self, room: RoomId, private: bool) {
        let mut known = self.0.lock().unwrap();
        if known.len() >= Self::REMEMBERED {
            known.clear();
        }
        known.insert(room, private);
    }

    pub(super) fn forget(&self, room: RoomId) {
        self.0.lock().unwrap().remove(&room);
    }
}

impl Chat {
    /// `me`, in `room`, invites `other` (there too) to talk privately: the private room of the two (made now, or
    /// the one they have open), which `me` enters; `other` is alarmed with the invitation.
    pub async fn talk_privately(
        self: &Arc<Self>,
        room: RoomId,
        me: &Person,
        other: &PersonId,
    ) -> ServerResult<RoomSummary> {
        if *other == me.id {
            return Err(AppError::Invalid("Talk privately with someone else.".into()).into());
        }
        self.admit_poster(room, me).await?;
        if !presence::is_present(&self.db, room, other).await? {
            let problem = format!("{} is not here now.", person(other.as_str()).name);
            return Err(AppError::Invalid(problem).into());
        }
        let row = match private::room_of(&self.db, &me.id, other).await? {
            Some(row) => row,
            None => self.open_private_room(me, other).await?,
        };
        self.raise(NewAlarm {
            person: other.clone(),
            kind: AlarmKind::Invitation,
            room: row.id,
            subject: 0,
            message: None,
            actor: me.id.clone(),
            emoji: None,
            on_gif: false,
        });
        Ok(RoomSummary { private: true, ..self.summary(&row) })
    }

    /// Whether `room` is a private room (asked of the database once, then remembered: a room never changes).
    pub(super) async fn is_private(&self, room: RoomId) -> ServerResult<bool> {
        if let Some(known) = self.privacy.known(room) {
            return Ok(known);
        }
        let private = private::is_private(&self.db, room).await?;
        self.privacy.remember(room, private);
        Ok(private)
    }

    /// Publishes `event`, about `room`, on the room lists, unless the room is private (never on a list; nobody
    /// else may learn that it exists, or who is in it). At once when this process knows the room, else after
    /// asking the database (once per room).
    pub(super) fn publish_on_lists(self: &Arc<Self>, room: RoomId, event: LiveEvent) {
        if self.privacy.known(room) == Some(false) {
            self.hub.publish(Topic::RoomList, &event);
            return;
        }
        let chat = self.clone();
        self.tasks.spawn(async move {
            match chat.is_private(room).await {
                Ok(false) => chat.hub.publish(Topic::RoomList, &event),
                Ok(true) => {}
                Err(error) => tracing::warn!(%error, %room, "asking whether a room is private"),
            }
        });
    }

    /// Makes the private room of `me` and `other` (or finds the one one of them made meanwhile). Never announced
    /// on the room lists.
    async fn open_private_room(self: &Arc<Self>, me: &Person, other: &PersonId) -> ServerResult<db::RoomRow> {
        let title = format!("{} and {}", me.name, person(other.as_str()).name);
        let remove_at = db::now_millis() + self.graces().room;
        // Twice at most: the room one of them made meanwhile may have gone before it could be read.
        for _ in 0..2 {
            let new = db::NewRoom { title: &title, max_members: 2, password_hash: None, owner: &me.id, remove_at };
            if let Some(row) = private::insert(&self.db, new, other).await? {
                self.privacy.remember(row.id, true);
                self.remove_at(row.id, remove_at);
                return Ok(row);
            }
            if let Some(row) = private::room_of(&self.db, &me.id, other).await? {
                return Ok(row);
            }
        }
        Err(ServerError::Client(AppError::Unavailable))
    }

    /// `me` declines their invitation to the private room `room`: it is withdrawn, and the other one is told. Only
    /// an invitation waiting in their alarms can be declined (so declining is never a way to alarm the other).
    pub async fn decline_invitation(self: &Arc<Self>, room: RoomId, me: &Person) -> ServerResult<()> {
        let Some(other) = private::other_in(&self.db, room, &me.id).await? else {
            return Err(Refusal::NotFound.into());
        };
        if !self.withdraw_now(&me.id, room, Some(AlarmKind::Invitation)).await? {
            return Err(AppError::Invalid("There is no invitation to decline.".into()).into());
        }
        self.raise(NewAlarm {
            person: other,
            kind: AlarmKind::Declined,
            room,
            subject: 0,
            message: None,
            actor: me.id.clone(),
            emoji: None,
            on_gif: false,
        });
        Ok(())
    }
}
