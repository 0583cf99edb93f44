//! The chat service: the one door to rooms, presence and messages. Pages, server functions, the live channel
//! and the upload route all go through [`Chat`]; the database, the presence map and the room timers are private
//! to it. This file holds the service and the life of rooms; `membership.rs` who may be in them, and
//! `messages.rs` what is said there.

mod db;
mod membership;
mod messages;
mod presence;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::server::store::Db;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::{MemberLimit, RoomPassword, Title};
use crate::error::AppError;
use crate::live::LiveEvent;
use crate::model::{MessagePreview, Person, ROOM_PAGE, RoomId, RoomListPage, RoomSummary};
use crate::server::attempts::PasswordAttempts;
use crate::server::broker::{self, BrokerStats};
use crate::server::error::ServerResult;
use crate::server::hub::{Feed, Hub, Topic};
use crate::server::identity::person;
use crate::server::limits::Limits;
use crate::server::passwords;
use crate::server::settings::{GifLimits, Settings};
use crate::server::uploads::{StoredName, UploadStore};

pub use membership::{Admission, Joined};

/// Added to the empty-room grace of rooms found at start-up: more than the browser client's longest reconnect
/// delay (see `browser::live::backoff`), so people in a room when the server went down get back before it goes.
const RESTART_EXTRA_GRACE: Duration = Duration::from_secs(20);

/// Upload files no message points at are removed once they are this old: younger ones may be an upload in
/// flight (of this process, or of another sharing the directory), which takes seconds at most.
const UPLOAD_SWEEP_AGE: Duration = Duration::from_secs(10 * 60);
/// How often the uploads directory is swept, besides at start-up.
const UPLOAD_SWEEP_MINUTES: u64 = 10;

/// How many frames a slow subscriber may fall behind before it lags (and catches up from the database).
const FEED_CAPACITY: usize = 256;

pub struct Chat {
    db: Db,
    hub: Hub,
    presence: presence::Presence,
    settings: Settings,
    uploads: UploadStore,
    password_attempts: PasswordAttempts,
    limits: Limits,
    /// Times a live connection fell behind its feed (or resynced after the broker lost events).
    lag_recoveries: std::sync::atomic::AtomicU64,
    /// The link to the other processes, with a broker.
    broker: std::sync::OnceLock<Arc<BrokerStats>>,
    /// Background work (room timers, unread notifications, uploads being stored): waited for at shutdown.
    tasks: TaskTracker,
    /// Cancelled when the server begins to shut down: timers stop, live connections tell their clients to
    /// reconnect.
    stopping: CancellationToken,
}

/// What a [`Chat`] holds in memory that grows with use: each is released when no longer needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Rooms with presence state.
    pub open_rooms: usize,
    /// Removed rooms remembered for a while (see [`REMOVED_ROOM_MEMORY`]).
    pub removed_rooms: usize,
    /// Live topics with a channel (a room someone follows, the list, a person's own topic).
    pub topics: usize,
    /// People and addresses the rate limits remember.
    pub limited_keys: usize,
}

/// How long a removed room is remembered, so that a join admitted just before the removal is refused rather
/// than bringing the room back to life in memory. A join's admission takes milliseconds; this is ample.
pub const REMOVED_ROOM_MEMORY: Duration = Duration::from_secs(120);

impl Chat {
    pub fn new(db: Db, settings: Settings, uploads: UploadStore) -> Arc<Chat> {
        Arc::new(Chat {
            db,
            hub: Hub::new(FEED_CAPACITY),
            presence: presence::Presence::default(),
            limits: Limits::new(&settings.limits),
            lag_recoveries: Default::default(),
            broker: Default::default(),
            settings,
            uploads,
            password_attempts: PasswordAttempts::default(),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
        })
    }

    /// At start-up nobody is connected: every stored room starts its empty-room grace, and is removed unless
    /// someone (re)joins it in time. After a restart the grace is longer, so that clients backing off while the
    /// server was down have time to come back. Files no message points at are swept.
    pub async fn start(self: &Arc<Self>) -> ServerResult<()> {
        self.sweep_uploads().await?;
        for room in db::all_rooms(&self.db).await? {
            let generation = self.presence.open_room(room.id, &room.owner_id);
            self.schedule_removal_after(room.id, generation, self.settings.room_grace + RESTART_EXTRA_GRACE);
        }
        let chat = Arc::downgrade(self);
        let stopping = self.stopping.clone();
        self.tasks.spawn(async move {
            let mut every_minute = tokio::time::interval(Duration::from_secs(60));
            let mut minutes: u64 = 0;
            loop {
                tokio::select! {
                    () = stopping.cancelled() => break,
                    _ = every_minute.tick() => {}
                }
                let Some(chat) = chat.upgrade() else { break };
                chat.forget_idle(Instant::now() - REMOVED_ROOM_MEMORY);
                minutes += 1;
                if minutes.is_multiple_of(UPLOAD_SWEEP_MINUTES)
                    && let Err(error) = chat.sweep_uploads().await
                {
                    tracing::warn!(%error, "sweeping the uploads directory");
                }
            }
        });
        Ok(())
    }

    /// Removes upload files no message points at, older than [`UPLOAD_SWEEP_AGE`].
    async fn sweep_uploads(&self) -> ServerResult<()> {
        let referenced: HashSet<String> = db::gif_files(&self.db).await?.into_iter().collect();
        let swept = self.uploads.sweep(referenced, std::time::SystemTime::now() - UPLOAD_SWEEP_AGE).await;
        if swept > 0 {
            tracing::info!(swept, "removed GIF files no message points at");
        }
        Ok(())
    }

    /// Joins the other processes that share this database, through the broker at `url` (before [`Chat::start`]).
    pub async fn connect_broker(&self, url: &str) -> Result<(), broker::BrokerError> {
        let cluster = db::cluster_id(&self.db).await?;
        let stats = broker::connect(url, &cluster, &self.hub, &self.tasks, self.stopping.clone()).await?;
        let _ = self.broker.set(stats);
        Ok(())
    }

    /// What the broker link has done so far (`None` without a broker).
    pub fn broker_stats(&self) -> Option<&BrokerStats> {
        self.broker.get().map(|stats| &**stats)
    }

    /// Tells every live connection and timer the server is going away (connections close with "service
    /// restart", 1012, and clients reconnect to the successor).
    pub fn begin_shutdown(&self) {
        self.stopping.cancel();
    }

    /// Completes when the shutdown begins.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Waits for the background work still running (uploads being stored, notifications) after the shutdown
    /// began; timers have stopped by then.
    pub async fn finish(&self) {
        self.begin_shutdown();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Runs `work` after `delay`, unless the server shuts down first.
    fn after<F>(self: &Arc<Self>, delay: Duration, work: impl FnOnce(Arc<Chat>) -> F + Send + 'static)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let chat = self.clone();
        let stopping = self.stopping.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stopping.cancelled() => {}
                () = tokio::time::sleep(delay) => work(chat).await,
            }
        });
    }

    /// Counts a live connection that fell behind its feed and caught up from the database.
    pub(crate) fn note_lag(&self) {
        self.lag_recoveries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many times live connections fell behind their feed (for tests and metrics).
    pub fn lag_recoveries(&self) -> u64 {
        self.lag_recoveries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets what memory holds only for a while: rate-limit state of people and addresses whose limits have
    /// recovered, and removed rooms (removed before `removed_before`). Runs every minute.
    pub fn forget_idle(&self, removed_before: Instant) {
        self.password_attempts.forget_idle();
        self.limits.forget_idle();
        self.presence.forget_removed(removed_before);
    }

    /// What this process holds in memory per room, per topic and per person (for tests and metrics).
    pub fn footprint(&self) -> Footprint {
        let (open_rooms, removed_rooms) = self.presence.room_counts();
        Footprint { open_rooms, removed_rooms, topics: self.hub.topic_count(), limited_keys: self.limits.remembered() }
    }

    /// The rate limits every way of writing passes (checked where requests come in).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How long an upload's body may stall before it is refused.
    pub fn upload_idle(&self) -> Duration {
        self.settings.upload_idle
    }

    /// How long a live connection may take to accept one frame.
    pub fn slow_client(&self) -> Duration {
        self.settings.slow_client
    }

    pub fn gif_limits(&self) -> GifLimits {
        self.settings.gif
    }

    pub fn uploads(&self) -> &UploadStore {
        &self.uploads
    }

    /// Where a stored GIF is on disk (for serving it).
    pub fn gif_path(&self, name: &StoredName) -> std::path::PathBuf {
        self.uploads.path_of(name)
    }

    /// A room as anyone sees it on the list (no per-person unread information).
    fn summary(&self, row: &db::RoomRow) -> RoomSummary {
        let (present, presence_version) = self.presence.count(row.id);
        RoomSummary {
            id: row.id,
            title: row.title.clone(),
            locked: row.password_hash.is_some(),
            max_members: row.max_members as u32,
            present,
            presence_version,
            owner: person(row.owner_id.as_str()),
            created_at: row.created_at,
            unread: None,
            last_message: None,
        }
    }

    /// A page of the room list ([`ROOM_PAGE`] rooms after the first `offset`, the most recently active first;
    /// with `title`, only rooms whose title contains it), with `viewer`'s unread counts for the rooms they entered
    /// before.
    pub async fn list_rooms(&self, viewer: &Person, title: Option<&str>, offset: u32) -> ServerResult<RoomListPage> {
        let title = title.map(str::trim).filter(|title| !title.is_empty());
        let mut rows = db::rooms_page(&self.db, title, offset, ROOM_PAGE as u32 + 1).await?;
        let has_more = rows.len() > ROOM_PAGE;
        rows.truncate(ROOM_PAGE);
        let mut rooms: Vec<RoomSummary> = rows.iter().map(|row| self.summary(row)).collect();
        for (room_id, unread, last) in db::unread_for(&self.db, &viewer.id).await? {
            if let Some(room) = rooms.iter_mut().find(|r| r.id == room_id) {
                room.unread = Some(unread);
                room.last_message = last.as_ref().map(MessagePreview::of);
            }
        }
        Ok(RoomListPage { rooms, has_more })
    }

    /// The room list's live feeds for `viewer`: the list itself, and their own unread notifications. Subscribe
    /// before taking the snapshot ([`Chat::list_rooms`]): what is published in between is applied to it.
    pub fn lobby_feeds(&self, viewer: &Person) -> (Feed, Feed) {
        (self.hub.subscribe(Topic::Lobby), self.hub.subscribe(Topic::Person(viewer.id.clone())))
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
        let new = db::NewRoom {
            title: title.as_str(),
            max_members: limit.get(),
            password_hash: password_hash.as_deref(),
            owner: &owner.id,
        };
        let row = db::insert_room(&self.db, new).await?;
        let generation = self.presence.open_room(row.id, &owner.id);
        // The creator is on their way in; if they never arrive, the room goes like any empty room.
        self.schedule_removal(row.id, generation);
        let summary = self.summary(&row);
        self.hub.publish(Topic::Lobby, &LiveEvent::NewRoom { room: summary.clone() });
        Ok(summary)
    }

    /// The owner deletes the room: everyone in it is sent back to the room list.
    pub async fn delete_room_by(self: &Arc<Self>, room: RoomId, by: &Person) -> ServerResult<()> {
        let row = db::find_room(&self.db, room).await?.ok_or(crate::error::Refusal::NotFound)?;
        if row.owner_id != by.id {
            return Err(AppError::Forbidden("Only the room's owner can do that.".into()).into());
        }
        self.presence.remove(room);
        self.delete_room(room).await
    }

    fn schedule_removal(self: &Arc<Self>, room: RoomId, generation: u64) {
        self.schedule_removal_after(room, generation, self.settings.room_grace);
    }

    fn schedule_removal_after(self: &Arc<Self>, room: RoomId, generation: u64, grace: Duration) {
        self.after(grace, move |chat| async move {
            if chat.presence.remove_if_still_empty(room, generation)
                && let Err(error) = chat.delete_room(room).await
            {
                tracing::error!(%error, %room, "removing an empty room");
            }
        });
    }

    /// Deletes a room, its messages and its GIF files, and tells the room lists and the room.
    async fn delete_room(&self, room: RoomId) -> ServerResult<()> {
        let files = db::delete_room(&self.db, room).await?;
        self.uploads.remove(files).await;
        self.hub.publish_many([Topic::Lobby, Topic::Room(room)], &LiveEvent::RemoveRoom { id: room });
        tracing::info!(%room, "room removed");
        Ok(())
    }
}
