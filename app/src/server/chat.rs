//! The chat service: the rules of rooms, presence and messages, composed from the database, the presence map
//! and the hub. Pages, server functions, the websocket and the upload handler all go through it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;

use crate::error::AppError;
use crate::live::{LiveEvent, RefusalReason};
use crate::model::{ChatMessage, MessageKind, Person, RoomId, RoomSummary};
use crate::server::db::{self, RoomRow};
use crate::server::hub::{Hub, Topic};
use crate::server::identity::person;
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

pub struct Chat {
    pub db: SqlitePool,
    pub hub: Hub,
    pub presence: Presence,
    pub settings: Settings,
}

impl Chat {
    pub fn new(db: SqlitePool, settings: Settings) -> Arc<Chat> {
        Arc::new(Chat { db, hub: Hub::new(256), presence: Presence::default(), settings })
    }

    /// At start-up nobody is connected: every stored room starts its empty-room grace, and is removed unless
    /// someone (re)joins it in time.
    pub async fn start(self: &Arc<Self>) -> Result<(), AppError> {
        for room in db::list_rooms(&self.db).await? {
            let generation = self.presence.open_room(room.id);
            self.schedule_removal(room.id, generation);
        }
        Ok(())
    }

    pub fn summary(&self, row: &RoomRow) -> RoomSummary {
        RoomSummary {
            id: row.id,
            title: row.title.clone(),
            locked: row.password_hash.is_some(),
            max_members: row.max_members as u32,
            present: self.presence.count(row.id),
            owner: person(&row.owner_id),
            created_at: row.created_at,
        }
    }

    pub async fn list_rooms(&self) -> Result<Vec<RoomSummary>, AppError> {
        Ok(db::list_rooms(&self.db).await?.iter().map(|row| self.summary(row)).collect())
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
        let generation = self.presence.open_room(row.id);
        // The creator is on their way in; if they never arrive, the room goes like any empty room.
        self.schedule_removal(row.id, generation);
        let summary = self.summary(&row);
        self.hub.publish(Topic::Lobby, &LiveEvent::NewRoom { room: summary.clone() });
        Ok(summary)
    }

    /// Adds a live connection of `person` to a room, enforcing the password and the capacity atomically.
    /// Announces a newcomer in the room and updates the count on the room lists. Returns the count present.
    pub async fn join(
        self: &Arc<Self>,
        room_id: RoomId,
        person: &Person,
        granted: bool,
    ) -> Result<u32, RefusalReason> {
        let room = match db::find_room(&self.db, room_id).await {
            Ok(Some(room)) => room,
            Ok(None) => return Err(RefusalReason::NotFound),
            Err(error) => {
                tracing::error!(%error, room_id, "loading a room to join");
                return Err(RefusalReason::NotFound);
            }
        };
        if room.password_hash.is_some() && !granted {
            return Err(RefusalReason::Password);
        }
        match self.presence.join(room_id, person, room.max_members as u32) {
            JoinOutcome::Full => Err(RefusalReason::Full),
            JoinOutcome::Removed => Err(RefusalReason::NotFound),
            JoinOutcome::Joined { newcomer, present } => {
                if newcomer {
                    self.announce_presence(room_id, present);
                    self.system_message(room_id, format!("{} joined", person.name)).await;
                }
                Ok(present)
            }
        }
    }

    /// Removes a live connection of a person from a room. Their departure is announced after the leave grace,
    /// unless they come back; the last departure starts the empty-room grace.
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
            chat.announce_presence(room_id, present);
            chat.system_message(room_id, format!("{} left", person.name)).await;
            if let Some(generation) = chat.presence.empty_generation(room_id) {
                chat.schedule_removal(room_id, generation);
            }
        });
    }

    /// Commits a message and pushes it to everyone in the room.
    pub async fn post(
        &self,
        room_id: RoomId,
        kind: MessageKind,
        author: Option<&Person>,
        body: &str,
    ) -> Result<ChatMessage, AppError> {
        let message = db::insert_message(&self.db, room_id, kind, author.map(|a| a.id.as_str()), body)
            .await?
            .ok_or(AppError::RoomNotFound)?;
        self.hub.publish(Topic::Room(room_id), &LiveEvent::Chat { message: message.clone() });
        Ok(message)
    }

    async fn system_message(&self, room_id: RoomId, text: String) {
        match self.post(room_id, MessageKind::System, None, &text).await {
            Ok(_) | Err(AppError::RoomNotFound) => {}
            Err(error) => tracing::error!(%error, room_id, "storing a system message"),
        }
    }

    /// Tells the room lists and the room itself how many people are in it now.
    fn announce_presence(&self, room_id: RoomId, present: u32) {
        let event = LiveEvent::RoomPresence { id: room_id, present };
        self.hub.publish(Topic::Lobby, &event);
        self.hub.publish(Topic::Room(room_id), &event);
    }

    fn schedule_removal(self: &Arc<Self>, room_id: RoomId, generation: u64) {
        let chat = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(chat.settings.room_grace).await;
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
        let event = LiveEvent::RemoveRoom { id: room_id };
        self.hub.publish(Topic::Lobby, &event);
        self.hub.publish(Topic::Room(room_id), &event);
        tracing::info!(room_id, "room removed");
        Ok(())
    }
}
