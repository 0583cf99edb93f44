//! The chat service: the rules of rooms, presence and messages, composed from the database, the presence map
//! and the hub. Pages, server functions, the websocket and the upload handler all go through it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

use crate::error::AppError;
use crate::live::{LiveEvent, RefusalReason};
use crate::model::{ChatMessage, MessageKind, MessagePreview, Participant, Person, RoomId, RoomSummary};
use crate::server::attempts::PasswordAttempts;
use crate::server::db::{self, NewMessage, RoomRow};
use crate::server::hub::{Hub, Topic};
use crate::server::identity::{distinguishing_tags, person};
use crate::server::presence::{JoinOutcome, LeaveOutcome, Presence};

/// Tunables, set from the command line at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an empty room lives on before it is removed (so a lone user's reload does not destroy it).
    pub room_grace: Duration,
    /// How long a person whose last connection closed still counts as present (so a reload is not a leave).
    pub leave_grace: Duration,
    pub uploads_dir: PathBuf,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// Largest accepted GIF width or height, in pixels.
    pub max_gif_side: u16,
    /// Most frames an accepted GIF may have.
    pub max_gif_frames: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            room_grace: Duration::from_secs(10),
            leave_grace: Duration::from_secs(3),
            uploads_dir: PathBuf::from("uploads"),
            max_upload_bytes: 10 * 1024 * 1024,
            max_gif_side: 4096,
            max_gif_frames: 1000,
        }
    }
}

/// Added to the empty-room grace of rooms found at start-up: more than the browser client's longest reconnect
/// delay (see `live_client::backoff`), so people in a room when the server went down get back before it goes.
const RESTART_EXTRA_GRACE: Duration = Duration::from_secs(20);

pub struct Chat {
    pub db: SqlitePool,
    pub hub: Hub,
    pub presence: Presence,
    pub settings: Settings,
    pub password_attempts: PasswordAttempts,
    /// Flips to true when the server begins to shut down: live connections tell their clients to reconnect.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Chat {
    pub fn new(db: SqlitePool, settings: Settings) -> Arc<Chat> {
        Arc::new(Chat {
            db,
            hub: Hub::new(256),
            presence: Presence::default(),
            settings,
            password_attempts: PasswordAttempts::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        })
    }

    /// Tells every live connection the server is going away (they close with "service restart", 1012).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn shutting_down(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// At start-up nobody is connected: every stored room starts its empty-room grace, and is removed unless
    /// someone (re)joins it in time. After a restart the grace is longer, so that clients backing off while the
    /// server was down have time to come back.
    pub async fn start(self: &Arc<Self>) -> Result<(), AppError> {
        let swept = crate::server::upload::sweep(&self.settings.uploads_dir, &self.db).await?;
        if swept > 0 {
            tracing::info!(swept, "removed GIF files no message points at");
        }
        for room in db::list_rooms(&self.db).await? {
            let generation = self.presence.open_room(room.id);
            self.schedule_removal_after(room.id, generation, self.settings.room_grace + RESTART_EXTRA_GRACE);
        }
        let chat = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            loop {
                every_minute.tick().await;
                let Some(chat) = chat.upgrade() else { break };
                chat.password_attempts.forget_idle();
            }
        });
        Ok(())
    }

    /// A room as anyone sees it on the list (no per-person unread information).
    pub fn summary(&self, row: &RoomRow) -> RoomSummary {
        RoomSummary {
            id: row.id,
            title: row.title.clone(),
            locked: row.password_hash.is_some(),
            max_members: row.max_members as u32,
            present: self.presence.count(row.id),
            owner: person(&row.owner_id),
            created_at: row.created_at,
            unread: None,
            last_message: None,
        }
    }

    /// Every room, newest first, with `viewer`'s unread counts for the rooms they entered before.
    pub async fn list_rooms(&self, viewer: &str) -> Result<Vec<RoomSummary>, AppError> {
        let mut rooms: Vec<RoomSummary> = db::list_rooms(&self.db).await?.iter().map(|row| self.summary(row)).collect();
        for (room_id, unread, last) in db::unread_for(&self.db, viewer).await? {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == room_id) {
                room.unread = Some(unread);
                room.last_message = last.as_ref().map(MessagePreview::of);
            }
        }
        Ok(rooms)
    }

    /// Creates a room owned by `owner` and announces it on every room list.
    pub async fn create_room(
        self: &Arc<Self>,
        owner: &Person,
        title: &str,
        max_members: u32,
        password_hash: Option<String>,
    ) -> Result<RoomSummary, AppError> {
        let row = db::insert_room(
            &self.db,
            db::NewRoom { title, max_members, password_hash: password_hash.as_deref(), owner_id: &owner.id },
        )
        .await?;
        if row.password_hash.is_some() {
            db::grant(&self.db, row.id, &owner.id).await?;
        }
        let generation = self.presence.open_room(row.id);
        // The creator is on their way in; if they never arrive, the room goes like any empty room.
        self.schedule_removal(row.id, generation);
        let summary = self.summary(&row);
        self.hub.publish(Topic::Lobby, &LiveEvent::NewRoom { room: summary.clone() });
        Ok(summary)
    }

    /// Adds a live connection of `person` to a room, enforcing bans, the password and the capacity atomically.
    /// Announces a newcomer in the room and updates the count on the room lists. Returns the count present.
    pub async fn join(self: &Arc<Self>, room_id: RoomId, person: &Person) -> Result<u32, RefusalReason> {
        let checks = async {
            let Some(room) = db::find_room(&self.db, room_id).await? else {
                return Ok(Err(RefusalReason::NotFound));
            };
            if db::is_banned(&self.db, room_id, &person.id).await? {
                return Ok(Err(RefusalReason::Banned));
            }
            if room.password_hash.is_some() && !db::is_granted(&self.db, room_id, &person.id).await? {
                return Ok(Err(RefusalReason::Password));
            }
            Ok::<_, sqlx::Error>(Ok(room))
        };
        let room = match checks.await {
            Ok(Ok(room)) => room,
            Ok(Err(reason)) => return Err(reason),
            Err(error) => {
                tracing::error!(%error, room_id, "checking a join");
                return Err(RefusalReason::NotFound);
            }
        };
        match self.presence.join(room_id, person, room.max_members as u32) {
            JoinOutcome::Full => Err(RefusalReason::Full),
            JoinOutcome::Removed => Err(RefusalReason::NotFound),
            JoinOutcome::Banned => Err(RefusalReason::Banned),
            JoinOutcome::Joined { newcomer, present } => {
                if newcomer {
                    self.system_message(room_id, format!("{} joined", person.name)).await;
                    if self.presence.take_owner_departed(room_id) && room.owner_id != person.id {
                        self.hand_over(room_id, person).await;
                    }
                    self.announce_presence(room_id, present).await;
                }
                Ok(present)
            }
        }
    }

    /// Removes a live connection of a person from a room. Their departure is announced after the leave grace,
    /// unless they come back; an owner's departure hands the room over; the last departure starts the
    /// empty-room grace.
    pub fn leave(self: &Arc<Self>, room_id: RoomId, person_id: &str) {
        let LeaveOutcome::Pending(token) = self.presence.leave(room_id, person_id) else {
            return;
        };
        let chat = self.clone();
        let person_id = person_id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(chat.settings.leave_grace).await;
            let Some((person, present)) = chat.presence.finish_leave(room_id, &person_id, token) else {
                return;
            };
            chat.system_message(room_id, format!("{} left", person.name)).await;
            if let Ok(Some(room)) = db::find_room(&chat.db, room_id).await {
                if room.owner_id == person.id {
                    match chat.presence.members(room_id).first() {
                        Some(successor) => chat.hand_over(room_id, successor).await,
                        None => chat.presence.mark_owner_departed(room_id),
                    }
                }
            }
            chat.announce_presence(room_id, present).await;
            if let Some(generation) = chat.presence.empty_generation(room_id) {
                chat.schedule_removal(room_id, generation);
            }
        });
    }

    async fn hand_over(self: &Arc<Self>, room_id: RoomId, successor: &Person) {
        if let Err(error) = db::set_owner(&self.db, room_id, &successor.id).await {
            tracing::error!(%error, room_id, "handing a room over");
            return;
        }
        self.system_message(room_id, format!("{} is now the owner", successor.name)).await;
    }

    /// Who is in the room, in order of arrival, marked as owner and told apart where they look alike.
    pub async fn participants(&self, room_id: RoomId) -> Result<Vec<Participant>, AppError> {
        let owner = db::find_room(&self.db, room_id).await?.map(|room| room.owner_id);
        let people = self.presence.members(room_id);
        let tags = distinguishing_tags(&people);
        Ok(people
            .into_iter()
            .zip(tags)
            .map(|(person, tag)| Participant { owner: owner.as_deref() == Some(person.id.as_str()), person, tag })
            .collect())
    }

    /// Tells the room lists how many people are in the room, and the room who they are.
    async fn announce_presence(self: &Arc<Self>, room_id: RoomId, present: u32) {
        self.hub.publish(Topic::Lobby, &LiveEvent::RoomPresence { id: room_id, present });
        match self.participants(room_id).await {
            Ok(people) => self.hub.publish(Topic::Room(room_id), &LiveEvent::Participants { room: room_id, people }),
            Err(error) => tracing::error!(%error, room_id, "listing participants"),
        }
    }

    /// Commits a message and pushes it to everyone who may see it; then tells the people following the room
    /// from the list.
    pub async fn post(self: &Arc<Self>, room_id: RoomId, message: NewMessage<'_>) -> Result<ChatMessage, AppError> {
        let message = match db::insert_message(&self.db, room_id, message).await?.ok_or(AppError::RoomNotFound)? {
            db::Inserted::New(message) => message,
            // A retry of a send that was committed (and announced) already.
            db::Inserted::Duplicate(message) => return Ok(message),
        };
        let event = LiveEvent::Chat { message: message.clone() };
        match (&message.author, &message.recipient) {
            (Some(author), Some(recipient)) => {
                self.hub.publish_to(Topic::Room(room_id), &event, &[&author.id, &recipient.id])
            }
            _ => self.hub.publish(Topic::Room(room_id), &event),
        }
        if message.kind != MessageKind::System {
            // Off the sender's path: their acknowledgement need not wait for the room list's unread counts.
            let (chat, message) = (self.clone(), message.clone());
            tokio::spawn(async move { chat.notify_followers(&message).await });
        }
        Ok(message)
    }

    /// Sends `roomActivity` to everyone who entered the room before, is not in it now, and may read the message.
    async fn notify_followers(&self, message: &ChatMessage) {
        let readers = match db::readers(&self.db, message.room_id).await {
            Ok(readers) => readers,
            Err(error) => return tracing::error!(%error, "listing a room's readers"),
        };
        let author = message.author.as_ref().map(|a| a.id.as_str());
        let recipient = message.recipient.as_ref().map(|r| r.id.as_str());
        let topics: Vec<Topic> = readers
            .into_iter()
            .filter(|reader| Some(reader.as_str()) != author)
            .filter(|reader| recipient.is_none_or(|r| r == reader))
            // People with the room open see it there; someone who just left (leave grace) is on the list already.
            .filter(|reader| !self.presence.is_connected(message.room_id, reader))
            .map(Topic::Person)
            .collect();
        if !topics.is_empty() {
            let event = LiveEvent::RoomActivity { id: message.room_id, preview: MessagePreview::of(message) };
            self.hub.publish_many(topics, &event);
        }
    }

    async fn system_message(self: &Arc<Self>, room_id: RoomId, text: String) {
        let message =
            NewMessage { kind: MessageKind::System, author_id: None, recipient_id: None, body: &text, client_id: None };
        match self.post(room_id, message).await {
            Ok(_) | Err(AppError::RoomNotFound) => {}
            Err(error) => tracing::error!(%error, room_id, "storing a system message"),
        }
    }

    /// The room's owner removes `target`: at once, and for as long as the room exists.
    pub async fn kick(self: &Arc<Self>, room_id: RoomId, by: &Person, target_id: &str) -> Result<(), AppError> {
        let room = db::find_room(&self.db, room_id).await?.ok_or(AppError::RoomNotFound)?;
        if room.owner_id != by.id {
            return Err(AppError::Forbidden("Only the room's owner can do that.".into()));
        }
        if target_id == by.id {
            return Err(AppError::invalid("You cannot remove yourself; leave the room instead."));
        }
        if !self.presence.is_present(room_id, target_id) {
            return Err(AppError::invalid("That person is not in this room."));
        }
        // The ban comes first: a tab of theirs that tries to rejoin from now on is refused.
        db::ban(&self.db, room_id, target_id).await?;
        db::forget_reader(&self.db, room_id, target_id).await?;
        db::revoke(&self.db, room_id, target_id).await?;
        let target = person(target_id);
        let Some(present) = self.presence.evict(room_id, target_id) else {
            return Ok(());
        };
        self.hub.expel(Topic::Room(room_id), &LiveEvent::Kicked { room: room_id }, target_id);
        self.system_message(room_id, format!("{} was removed by the owner", target.name)).await;
        self.announce_presence(room_id, present).await;
        if let Some(generation) = self.presence.empty_generation(room_id) {
            self.schedule_removal(room_id, generation);
        }
        Ok(())
    }

    /// The owner deletes the room: everyone in it is sent back to the room list.
    pub async fn delete_by_owner(self: &Arc<Self>, room_id: RoomId, by: &Person) -> Result<(), AppError> {
        let room = db::find_room(&self.db, room_id).await?.ok_or(AppError::RoomNotFound)?;
        if room.owner_id != by.id {
            return Err(AppError::Forbidden("Only the room's owner can do that.".into()));
        }
        self.presence.remove(room_id);
        self.delete_room(room_id).await
    }

    fn schedule_removal(self: &Arc<Self>, room_id: RoomId, generation: u64) {
        self.schedule_removal_after(room_id, generation, self.settings.room_grace);
    }

    fn schedule_removal_after(self: &Arc<Self>, room_id: RoomId, generation: u64, grace: Duration) {
        let chat = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if chat.presence.remove_if_still_empty(room_id, generation) {
                if let Err(error) = chat.delete_room(room_id).await {
                    tracing::error!(%error, room_id, "removing an empty room");
                }
            }
        });
    }

    /// Deletes a room, its messages and its GIF files, and tells the room lists and the room.
    async fn delete_room(&self, room_id: RoomId) -> Result<(), AppError> {
        let files = db::delete_room(&self.db, room_id).await?;
        for file in files {
            let path = self.settings.uploads_dir.join(&file);
            if let Err(error) = tokio::fs::remove_file(&path).await {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%error, path = %path.display(), "deleting a removed room's GIF");
                }
            }
        }
        self.hub.publish_many([Topic::Lobby, Topic::Room(room_id)], &LiveEvent::RemoveRoom { id: room_id });
        tracing::info!(room_id, "room removed");
        Ok(())
    }
}
