//! The life of rooms: the list, creation, deletion by the owner, and removal once empty for their grace.

use std::sync::Arc;
use std::time::Duration;

use protocol::domain::{MemberLimit, RoomPassword, Title};
use protocol::error::AppError;
use protocol::live::LiveEvent;
use protocol::model::{ListedRooms, MessagePreview, Person, ROOM_PAGE, RoomId, RoomSummary};

use super::{Chat, db};

/// How far down the room list "More rooms" goes.
const MAX_LIST_OFFSET: u32 = 10_000;
use crate::error::ServerResult;
use crate::hub::{Feed, Topic};
use crate::identity::person;
use crate::passwords;

impl Chat {
    /// A room as anyone sees it on the list (no per-person unread information).
    pub(super) fn summary(&self, row: &db::RoomRow) -> RoomSummary {
        RoomSummary {
            id: row.id,
            title: row.title.clone(),
            locked: row.password_hash.is_some(),
            max_members: row.max_members as u32,
            present: row.present as u32,
            presence_version: row.presence_version as u64,
            owner: person(row.owner_id.as_str()),
            created_at: row.created_at,
            unread: None,
            last_message: None,
            banned: row.banned,
            private: row.private,
        }
    }

    /// A page of the room list ([`ROOM_PAGE`] rooms after the first `offset`, the most recently active first;
    /// with `title`, only rooms whose title contains it), with `viewer`'s unread counts for the rooms they entered
    /// before.
    pub async fn list_rooms(&self, viewer: &Person, title: Option<&str>, offset: u32) -> ServerResult<ListedRooms> {
        let title = title.map(str::trim).filter(|title| !title.is_empty());
        // A search longer than any title finds nothing, and a page deep in a long list costs the database a scan
        // of everything before it: both are refused, in words.
        if title.is_some_and(|title| title.chars().count() > Title::MAX_CHARS) {
            return Err(AppError::Invalid(format!("Search for at most {} characters.", Title::MAX_CHARS)).into());
        }
        if offset > MAX_LIST_OFFSET {
            return Err(AppError::Invalid("That is as far as the list goes: search by title instead.".into()).into());
        }
        let mut rows = db::rooms_page(&self.db, &viewer.id, title, offset, ROOM_PAGE as u32 + 1).await?;
        let has_more = rows.len() > ROOM_PAGE;
        rows.truncate(ROOM_PAGE);
        let mut rooms: Vec<RoomSummary> = rows.iter().map(|row| self.summary(row)).collect();
        for (room_id, unread, last) in db::unread_for(&self.db, &viewer.id).await? {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == room_id) {
                room.unread = Some(unread);
                room.last_message = last.as_ref().map(MessagePreview::of);
            }
        }
        Ok(ListedRooms { rooms, has_more })
    }

    /// How long a room stays once everyone has left, in whole seconds (rounded up): what people are told.
    pub fn room_grace_secs(&self) -> u32 {
        self.settings.room_grace.as_secs_f64().ceil() as u32
    }

    /// The room list's live feeds for `viewer`: the list itself, and their own unread notifications. Subscribe
    /// before taking the snapshot ([`Chat::list_rooms`]): what is published in between is applied to it.
    pub fn room_list_feeds(&self, viewer: &Person) -> (Feed, Feed) {
        (self.hub.subscribe(Topic::RoomList), self.hub.subscribe(Topic::Person(viewer.id.clone())))
    }

    /// Creates a room owned by `owner` and announces it on every room list.
    pub async fn create_room(
        self: &Arc<Self>,
        owner: &Person,
        title: Title,
        limit: MemberLimit,
        password: Option<RoomPassword>,
    ) -> ServerResult<RoomSummary> {
        let password_hash = match password {
            Some(password) => Some(passwords::hash(password).await?),
            None => None,
        };
        // The creator is on their way in; if they never arrive, the room goes like any empty room.
        let remove_at = db::now_millis() + self.graces().room;
        let new = db::NewRoom {
            title: title.as_str(),
            max_members: limit.get(),
            password_hash: password_hash.as_deref(),
            owner: &owner.id,
            remove_at,
        };
        let row = db::insert_room(&self.db, new).await?;
        self.privacy.remember(row.id, false);
        self.remove_at(row.id, remove_at);
        let summary = self.summary(&row);
        self.hub.publish(Topic::RoomList, &LiveEvent::NewRoom { room: summary.clone() });
        Ok(summary)
    }

    /// The owner deletes the room: everyone in it is sent back to the room list.
    pub async fn delete_room_by(self: &Arc<Self>, room: RoomId, by: &Person) -> ServerResult<()> {
        if self.delete_room(room, db::Deletion::OwnedBy(&by.id)).await? {
            return Ok(());
        }
        // Nothing was deleted: say why.
        Err(self.not_owner_or_gone(room, &by.id).await)
    }

    /// Removes the empty room at `at` (Unix ms) if it is still empty and due then (a timer of this process; every
    /// process also looks for due rooms every second).
    pub(super) fn remove_at(self: &Arc<Self>, room: RoomId, at: i64) {
        let delay = Duration::from_millis((at - db::now_millis()).max(0) as u64);
        self.after(delay, move |chat| async move { chat.remove_if_due(room).await });
    }

    pub(super) async fn remove_if_due(&self, room: RoomId) {
        if let Err(error) = self.delete_room(room, db::Deletion::DueBy(db::now_millis())).await {
            tracing::error!(%error, %room, "removing an empty room");
        }
    }

    /// Deletes a room, its messages and its GIF files, and tells the room lists and the room, if it was deleted
    /// (another process may have been first; see [`db::Deletion`] for the rest): whether it was.
    pub(super) async fn delete_room(&self, room: RoomId, which: db::Deletion<'_>) -> ServerResult<bool> {
        // Asked first: the room's privacy goes with it.
        let private = self.is_private(room).await?;
        let Some(files) = db::delete_room(&self.db, room, which).await? else {
            return Ok(false);
        };
        self.privacy.forget(room);
        self.release_gifs(files);
        let removed = LiveEvent::RemoveRoom { id: room };
        if private {
            self.hub.publish(Topic::Room(room), &removed);
        } else {
            self.hub.publish_many([Topic::RoomList, Topic::Room(room)], &removed);
        }
        tracing::info!(%room, "room removed");
        Ok(true)
    }
}
