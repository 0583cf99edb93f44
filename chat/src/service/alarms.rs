//! Alarms: what concerns one person (a reaction to their message, a reply to it, a mention of them, a whisper to
//! them in a room whose page they do not have open), told to them on whatever page they have open, on any
//! process. An alarm is committed, then announced on the person's own topic ([`Topic::Alarms`]); a page that
//! missed a change loads the list again. Raised off the actor's path (after their change is committed and acknowledged): an alarm never
//! holds up a send or a reaction, and one that fails is logged, not the actor's error.

use std::sync::Arc;
use std::time::Duration;

use super::Chat;
use super::db::alarms::{self, NewAlarm};
use super::presence;
use crate::error::ServerResult;
use crate::hub::{Feed, Topic};
use protocol::alarms::{AlarmChange, AlarmKind, Alarms};
use protocol::live::LiveEvent;
use protocol::model::{ChatMessage, MessageKind, Person, PersonId, RoomId};

/// How long an alarm is kept after its last change.
pub(super) const ALARM_LIFE: Duration = Duration::from_secs(7 * 86_400);

impl Chat {
    /// Follows `person`'s alarms (subscribe before reading them, so that no change falls in between).
    pub fn alarm_feed(&self, person: &PersonId) -> Feed {
        self.hub.subscribe(Topic::Alarms(person.clone()))
    }

    /// `person`'s alarms as they stand, newest first.
    pub async fn alarms(&self, person: &PersonId) -> ServerResult<Alarms> {
        Ok(alarms::alarms(&self.db, person).await?)
    }

    /// The number of `person`'s latest change to their alarms, and how many are unread.
    pub async fn alarm_standing(&self, person: &PersonId) -> ServerResult<(i64, u32)> {
        Ok(alarms::standing(&self.db, person).await?)
    }

    /// `person` read their alarms up to their change `up_to`: every page of theirs is told. How many are unread.
    pub async fn mark_alarms_read(&self, person: &PersonId, up_to: i64) -> ServerResult<u32> {
        match alarms::mark_read(&self.db, person, up_to).await? {
            Some(change) => {
                let unread = change.unread;
                self.announce_alarms(person, change);
                Ok(unread)
            }
            None => Ok(self.alarm_standing(person).await?.1),
        }
    }

    /// `person` mutes (`on`) or unmutes `other`: nothing `other` does alarms them meanwhile (for the session's
    /// life).
    pub async fn mute(&self, person: &PersonId, other: &PersonId, on: bool) -> ServerResult<()> {
        if person == other && on {
            return Err(protocol::error::AppError::Invalid("You cannot mute yourself.".into()).into());
        }
        Ok(alarms::mute(&self.db, person, other, on).await?)
    }

    /// The people `person` muted, the latest first.
    pub async fn muted(&self, person: &PersonId) -> ServerResult<Vec<Person>> {
        Ok(alarms::muted(&self.db, person).await?.iter().map(|id| crate::identity::person(id.as_str())).collect())
    }

    /// After `actor` reacted with `emoji` to `message`: its author is alarmed (not for their own, nor for a
    /// system line).
    pub(super) fn alarm_reaction(self: &Arc<Self>, message: &ChatMessage, actor: &PersonId, emoji: &str) {
        let Some(author) = message.author.as_ref().filter(|author| author.id != *actor) else { return };
        if message.kind == MessageKind::System {
            return;
        }
        self.raise(NewAlarm {
            person: author.id.clone(),
            kind: AlarmKind::Reaction,
            room: message.room_id,
            subject: message.seq,
            message: Some(message.seq),
            actor: actor.clone(),
            emoji: Some(emoji.to_owned()),
            on_gif: message.kind == MessageKind::Gif,
        });
    }

    /// After `reply` was posted, answering a message by `answered_author` (a GIF if `on_gif`): they are alarmed if
    /// they may read the reply and did not write it.
    pub(super) fn alarm_reply(self: &Arc<Self>, reply: &ChatMessage, answered_author: &PersonId, on_gif: bool) {
        let (Some(author), Some(answered)) = (&reply.author, reply.reply_to.as_ref()) else { return };
        let readable = reply.recipient.as_ref().is_none_or(|recipient| recipient.id == *answered_author);
        if author.id == *answered_author || !readable {
            return;
        }
        self.raise(NewAlarm {
            person: answered_author.clone(),
            kind: AlarmKind::Reply,
            room: reply.room_id,
            subject: answered.seq,
            message: Some(reply.seq),
            actor: author.id.clone(),
            emoji: None,
            on_gif,
        });
    }

    /// After a whisper was posted: its recipient is alarmed if they do not have the room's page open.
    pub(super) fn alarm_whisper(self: &Arc<Self>, whisper: &ChatMessage) {
        let (Some(author), Some(recipient)) = (&whisper.author, &whisper.recipient) else { return };
        let alarm = NewAlarm {
            person: recipient.id.clone(),
            kind: AlarmKind::Whisper,
            room: whisper.room_id,
            // One alarm per room for whispers, showing the latest.
            subject: 0,
            message: Some(whisper.seq),
            actor: author.id.clone(),
            emoji: None,
            on_gif: false,
        };
        let chat = self.clone();
        self.tasks.spawn(async move {
            match presence::is_connected(&chat.db, alarm.room, &alarm.person).await {
                Ok(true) => drop(chat.metrics.alarms_skipped.inc()),
                Ok(false) => chat.raise_now(&alarm).await,
                Err(error) => {
                    tracing::warn!(%error, room = %alarm.room, "asking whether a whisper's recipient is here")
                }
            }
        });
    }

    /// After `message` was posted: the people it mentions are alarmed if they are in the room now and may read it
    /// (a whisper's recipient only), not its author. A mention of someone elsewhere does nothing special.
    pub(super) fn alarm_mentions(self: &Arc<Self>, message: &ChatMessage) {
        let Some(author) = &message.author else { return };
        let mentioned: Vec<PersonId> = message
            .mentions
            .iter()
            .map(|person| person.id.clone())
            .filter(|id| *id != author.id)
            .filter(|id| message.recipient.as_ref().is_none_or(|recipient| recipient.id == *id))
            .collect();
        if mentioned.is_empty() {
            return;
        }
        let (chat, room, seq, actor) = (self.clone(), message.room_id, message.seq, author.id.clone());
        self.tasks.spawn(async move {
            for person in mentioned {
                match presence::is_present(&chat.db, room, &person).await {
                    Ok(true) => {
                        let alarm = NewAlarm {
                            person,
                            kind: AlarmKind::Mention,
                            room,
                            subject: seq,
                            message: Some(seq),
                            actor: actor.clone(),
                            emoji: None,
                            on_gif: false,
                        };
                        chat.raise_now(&alarm).await;
                    }
                    Ok(false) => drop(chat.metrics.alarms_skipped.inc()),
                    Err(error) => tracing::warn!(%error, %room, "asking whether someone mentioned is here"),
                }
            }
        });
    }

    /// After `person` was removed from `room`: their alarms about it are withdrawn.
    pub(super) fn withdraw_alarms(self: &Arc<Self>, person: &PersonId, room: RoomId) {
        let (chat, person) = (self.clone(), person.clone());
        self.tasks.spawn(async move {
            if let Err(error) = chat.withdraw_now(&person, room, None).await {
                tracing::error!(%error, %room, "withdrawing the alarms of someone removed from a room");
            }
        });
    }

    /// Withdraws `person`'s alarms about `room` (only those of `kind`, if given), and tells their pages: whether
    /// there were any.
    pub(super) async fn withdraw_now(
        &self,
        person: &PersonId,
        room: RoomId,
        kind: Option<AlarmKind>,
    ) -> ServerResult<bool> {
        match alarms::withdraw(&self.db, person, room, kind).await? {
            Some(change) => {
                self.announce_alarms(person, change);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Raises `alarm` in the background (see the module's comment).
    pub(super) fn raise(self: &Arc<Self>, alarm: NewAlarm) {
        let chat = self.clone();
        self.tasks.spawn(async move { chat.raise_now(&alarm).await });
    }

    async fn raise_now(&self, alarm: &NewAlarm) {
        match alarms::raise(&self.db, alarm).await {
            Ok(Some(change)) => {
                self.metrics.alarm_raised(alarm.kind);
                self.announce_alarms(&alarm.person, change);
            }
            Ok(None) => drop(self.metrics.alarms_skipped.inc()),
            Err(error) => tracing::error!(%error, room = %alarm.room, kind = alarm.kind.as_str(), "raising an alarm"),
        }
    }

    fn announce_alarms(&self, person: &PersonId, change: AlarmChange) {
        self.hub.publish(Topic::Alarms(person.clone()), &LiveEvent::Alarm { change });
    }

    /// Forgets alarms older than [`ALARM_LIFE`] (their people's pages are told), and mutes older than a session
    /// (every minute; at most a thousand people's alarms a round).
    pub(super) async fn prune_alarms(&self, now: i64, session_life: Duration) {
        let alarms_before = now - ALARM_LIFE.as_millis() as i64;
        let expired = async {
            for person in alarms::expiring(&self.db, alarms_before, 1000).await? {
                if let Some(change) = alarms::expire(&self.db, &person, alarms_before).await? {
                    self.announce_alarms(&person, change);
                }
            }
            alarms::forget_people(&self.db, now - session_life.as_millis() as i64).await
        };
        if let Err(error) = expired.await {
            tracing::warn!(%error, "removing old alarms");
        }
    }
}
