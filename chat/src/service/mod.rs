//! The chat service: the one door to rooms, presence and messages. Pages, server functions, the live channel
//! and the upload route all go through [`Chat`]; the database (with the shared presence and the room timers)
//! is private to it. This file holds the service and its life in the process (start, leases, timers, shutdown,
//! readiness); `rooms.rs` the life of rooms, `membership.rs` who may be in them, `messages.rs` what is said
//! there, and `coalesce.rs` the announcements a crowd could multiply.
//!
//! (Over 400 lines: the service's state and its life in the process, which every part of it shares.)

mod alarms;
mod coalesce;
mod db;
mod gifs;
mod membership;
mod messages;
mod picker;
mod presence;
mod private;
mod rooms;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::attempts::PasswordAttempts;
use crate::broker::{self, BrokerStats};
use crate::error::{ServerError, ServerResult};
use crate::hub::{self, Hub};
use crate::metrics::Metrics;
use crate::settings::{GifLimits, Settings};
use crate::store::{Db, with_pool};
use crate::uploads::UploadStore;
use protocol::model::{PersonId, RoomId};

pub use membership::{ANY_ARRIVAL, Admission, AfterLag, ArrivalCheck, Joined};
pub use messages::Outgoing;
pub use picker::library_words;

/// Added to the empty-room grace of rooms whose last people went with their server process (a crash or a
/// restart): more than the browser client's longest reconnect delay (see `browser::live::backoff`), so they get
/// back before the room goes.
const RESTART_EXTRA_GRACE: Duration = Duration::from_secs(20);

/// How often a process renews its presence lease and looks for room timers that came due (see `presence.rs`).
const PRESENCE_TICK: Duration = Duration::from_secs(1);

/// How often the uploads directory is swept, in minutes, besides at start-up.
const UPLOAD_SWEEP_MINUTES: u64 = 10;

/// Read marks (who follows a room from the list, and how far they read it) last this long after their last
/// renewal (a session's life: after it, their person is gone), and a room keeps at most this many of them, the
/// most recent: each of a room's messages is told to its followers.
const READ_MARK_LIFE: Duration = Duration::from_secs(30 * 86_400);
const READ_MARKS_PER_ROOM: i64 = 2000;

/// How far this process's clock may be from the database's. Leases, graces and room timers are written by one
/// process and read by the others, each with its own clock: one that is seconds off would take the others'
/// people out, or remove rooms during their grace.
const MAX_CLOCK_SKEW_MS: i64 = 1000;

/// Random bytes for a new secret.
fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

/// Moves this process's clock by `offset_ms` (for the tests of a clock that is wrong; never otherwise).
pub fn shift_clock(offset_ms: i64) {
    db::CLOCK_OFFSET_MS.store(offset_ms, std::sync::atomic::Ordering::Relaxed);
}

/// How many frames a slow subscriber may fall behind before it lags (and catches up from the database).
const FEED_CAPACITY: usize = 256;

pub struct Chat {
    db: Db,
    hub: Hub,
    /// This process's name in the shared presence: a new one if the others took its people out (see
    /// [`Chat::start_over`]).
    instance: Mutex<Arc<str>>,
    /// Cancelled, and replaced, when the others took this process's people out: its live connections reconnect
    /// and join again. A child of `stopping`.
    connections_end: Mutex<CancellationToken>,
    /// Since when this process has held its lease without a break (`None` while the database is out of reach).
    lease_held_since: Mutex<Option<Instant>>,
    /// What the last look at the clock found wrong with it (see [`Chat::check_clock`]).
    clock_trouble: Mutex<Option<String>>,
    settings: Settings,
    uploads: UploadStore,
    password_attempts: PasswordAttempts,
    /// What this server counts (`GET /metrics`).
    metrics: Arc<Metrics>,
    /// The link to the other processes, with a broker.
    broker: std::sync::OnceLock<Arc<BrokerStats>>,
    /// Rooms' standings read for connections that fell behind (see [`Chat::after_lag`]).
    standings: Mutex<HashMap<RoomId, membership::Standing>>,
    /// Who is connected to which room through this process, with how many connections (see
    /// [`Chat::expel_the_removed`]).
    connected_here: Mutex<HashMap<(RoomId, PersonId), u32>>,
    /// Ends the relay of this process's events to the others, and the task relaying them (see [`Chat::finish`]).
    relay: Mutex<Option<(CancellationToken, tokio::task::JoinHandle<()>)>>,
    /// Messages whose followers on the room list are still to be told, per room.
    followers_due: messages::FollowersDue,
    /// Which rooms are private (never announced on the room lists).
    privacy: private::Privacy,
    /// Comings and goings per room, and rooms' counts for the room lists, announced with those of their window.
    movements: coalesce::Coalescer<coalesce::Movement>,
    counts: coalesce::Coalescer<coalesce::Count>,
    /// Background work (room timers, unread notifications, uploads being stored): waited for at shutdown.
    tasks: TaskTracker,
    /// Cancelled when the server begins to shut down: timers stop, live connections tell their clients to
    /// reconnect.
    stopping: CancellationToken,
    /// Set when the server is about to shut down: it still serves, but is no longer ready.
    draining: std::sync::atomic::AtomicBool,
}

/// What a [`Chat`] holds in memory that grows with use: each is released when no longer needed. (Presence and
/// room timers are in the database.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Live topics with a channel (a room someone follows, the list, a person's own topic).
    pub topics: usize,
    /// Rooms whose followers on the room list are being told of new messages (each goes when that is done).
    pub notifying: usize,
}

impl Chat {
    pub fn new(db: Db, settings: Settings, uploads: UploadStore) -> Arc<Chat> {
        let stopping = CancellationToken::new();
        let metrics = Arc::new(Metrics::default());
        Arc::new(Chat {
            db,
            hub: Hub::new(FEED_CAPACITY),
            instance: Mutex::new(new_instance_id()),
            connections_end: Mutex::new(stopping.child_token()),
            lease_held_since: Mutex::new(Some(Instant::now())),
            clock_trouble: Mutex::new(None),
            metrics,
            broker: Default::default(),
            relay: Mutex::new(None),
            connected_here: Mutex::default(),
            standings: Mutex::default(),
            settings,
            uploads,
            password_attempts: PasswordAttempts::default(),
            followers_due: Default::default(),
            privacy: Default::default(),
            movements: Default::default(),
            counts: Default::default(),
            tasks: TaskTracker::new(),
            stopping,
            draining: Default::default(),
        })
    }

    /// Takes this process's place in the shared presence (a lease it then renews every second, see
    /// [`Chat::keep_lease`]), gives empty rooms without a removal time one, learns how to name GIFs and what the
    /// stored ones take, and sweeps what nothing uses (in the background: a slow store does not hold up the
    /// start).
    pub async fn start(self: &Arc<Self>) -> ServerResult<()> {
        // A process whose clock is off would upset every other process's leases and timers: it does not start.
        if let Err(trouble) = self.check_clock().await? {
            return Err(ServerError::Clock(format!("{trouble}; set this machine's clock right (NTP) and start again")));
        }
        let secret = crate::store::server_secret(&self.db, "gif_names", &rand_bytes()).await?;
        let key = crate::store::derived_key(&secret, "GIF names");
        self.uploads.set_naming_key(key[..32].try_into().expect("a derived key has 64 bytes"));
        self.recount_stored().await;
        self.after(Duration::ZERO, |chat| async move { chat.sweep_uploads_until_stopping().await });
        let now = db::now_millis();
        presence::register(&self.db, &self.instance(), now, self.lease_ms()).await?;
        let graces = self.graces();
        presence::schedule_unscheduled_removals(&self.db, now + graces.room + graces.lost).await?;
        // The lease on its own: however much timer work there is, nothing makes a renewal wait for it.
        self.repeat(PRESENCE_TICK, |chat| async move {
            if let Err(error) = chat.keep_lease().await {
                tracing::warn!(%error, "renewing this process's presence lease");
            }
        });
        self.repeat(PRESENCE_TICK, |chat| async move {
            if let Err(error) = chat.run_due_timers().await {
                tracing::warn!(%error, "running the room timers that came due");
            }
        });
        self.repeat(Duration::from_secs(60), |chat| async move {
            chat.forget_idle();
            // A clock that went wrong since the start makes the process unready: a balancer takes it out.
            match chat.check_clock().await {
                Ok(found) => *chat.clock_trouble.lock().unwrap() = found.err(),
                Err(error) => tracing::warn!(%error, "comparing this machine's clock with the database's"),
            }
            let older_than = db::now_millis() - READ_MARK_LIFE.as_millis() as i64;
            if let Err(error) = db::prune_read_marks(&chat.db, older_than, READ_MARKS_PER_ROOM).await {
                tracing::warn!(%error, "removing old read marks");
            }
            chat.prune_alarms(db::now_millis(), READ_MARK_LIFE).await;
        });
        if self.broker.get().is_some() {
            self.repeat(PRESENCE_TICK, |chat| async move {
                if let Err(error) = chat.expel_the_removed().await {
                    tracing::warn!(%error, "looking for people removed from rooms");
                }
            });
        }
        self.repeat(Duration::from_secs(60 * UPLOAD_SWEEP_MINUTES), |chat| async move {
            chat.sweep_uploads_until_stopping().await;
        });
        Ok(())
    }

    /// Compares this process's clock with the database's (the middle of the query's round trip with the
    /// database's answer): `Err` says how far apart they are when that is more than [`MAX_CLOCK_SKEW_MS`].
    pub async fn check_clock(&self) -> ServerResult<Result<(), String>> {
        let before = db::now_millis();
        let database = db::database_now_millis(&self.db).await?;
        let after = db::now_millis();
        let skew = (before + after) / 2 - database;
        if skew.abs() <= MAX_CLOCK_SKEW_MS + (after - before) / 2 {
            return Ok(Ok(()));
        }
        let way = if skew > 0 { "ahead of" } else { "behind" };
        let trouble = format!("this machine's clock is {:.1} s {way} the database's", skew.abs() as f64 / 1000.0);
        tracing::error!("{trouble}: leases and room timers need them within {MAX_CLOCK_SKEW_MS} ms");
        Ok(Err(trouble))
    }

    /// With other processes: a kick is announced to the removed person's connections on every process through
    /// the broker, and the broker may be away (or drop it). So each process also reads, every second, who the
    /// database has connected to which room through it: anyone connected here whom it no longer has, and who is
    /// banned from the room, was removed, and their connections here are told so (and leave it), whatever became
    /// of the broker's event.
    async fn expel_the_removed(&self) -> ServerResult<()> {
        if self.connected_here.lock().unwrap().is_empty() {
            return Ok(());
        }
        let now: HashSet<(RoomId, PersonId)> =
            presence::connected_through(&self.db, &self.instance()).await?.into_iter().collect();
        let gone: Vec<(RoomId, PersonId)> = {
            let mut here = self.connected_here.lock().unwrap();
            let gone: Vec<_> = here.keys().filter(|member| !now.contains(*member)).cloned().collect();
            for member in &gone {
                here.remove(member);
            }
            gone
        };
        for (room, person) in gone {
            if db::is_banned(&self.db, room, &person).await? {
                self.hub.expel_here(hub::Topic::Room(room), &protocol::live::LiveEvent::Kicked { room }, &person);
            }
        }
        Ok(())
    }

    /// Joins the other processes that share this database, through the broker at `url` (before [`Chat::start`]).
    pub async fn connect_broker(&self, url: &str, tls: &broker::BrokerTls) -> Result<(), broker::BrokerError> {
        let cluster = db::cluster_id(&self.db).await?;
        let fresh: [u8; 32] = rand_bytes();
        let secret =
            crate::store::server_secret(&self.db, "broker_key", &fresh).await.map_err(broker::BrokerError::Database)?;
        let link = broker::Link { cluster: &cluster, key: crate::store::derived_key(&secret, "broker frames") };
        let relay_end = CancellationToken::new();
        let (stats, sending) =
            broker::connect(url, tls, link, &self.hub, &self.tasks, self.stopping.clone(), relay_end.clone()).await?;
        let _ = self.broker.set(stats);
        *self.relay.lock().unwrap() = Some((relay_end, sending));
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

    /// Completes when a live connection must end: the shutdown begins, or the others took this process's people
    /// out (the connection's client reconnects and joins again).
    pub fn connections_end(&self) -> CancellationToken {
        self.connections_end.lock().unwrap().clone()
    }

    /// Waits for the background work still running (uploads being stored, notifications) after the shutdown
    /// began; timers have stopped by then. Then gives up this process's lease: the people still counted through
    /// it start their leave grace (they are reconnecting, to another process or to this one's successor).
    pub async fn finish(&self) {
        self.begin_shutdown();
        self.tasks.close();
        self.tasks.wait().await;
        // Everything this process will ever publish is queued now: the relay sends it, then ends.
        let relay = self.relay.lock().unwrap().take();
        if let Some((end, sending)) = relay {
            end.cancel();
            if tokio::time::timeout(Duration::from_secs(5), sending).await.is_err() {
                tracing::warn!("the broker did not take this process's last events in time");
            }
        }
        if let Err(error) = presence::retire(&self.db, &self.instance(), db::now_millis()).await {
            tracing::warn!(%error, "giving up this process's presence lease");
        }
    }

    /// Whether this process can serve: each check by name, and what failed (in words fit for anyone who can reach
    /// the server; the cause goes to the log). The database must answer within `patience` with this build's
    /// schema, and uploads must be writable (the checks run at once, so the answer takes `patience` at most); a
    /// process that is draining or shutting down is not ready either (a balancer should stop sending it people).
    pub async fn readiness(&self, patience: Duration) -> Vec<(&'static str, Result<(), String>)> {
        let kind = self.db.kind();
        let schema = async {
            match tokio::time::timeout(patience, self.db.pending_migrations()).await {
                Ok(Ok(pending)) if pending.is_empty() => (Ok(()), Ok(())),
                Ok(Ok(pending)) => (Ok(()), Err(format!("not applied: {pending:?}"))),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "readiness: the database does not answer");
                    (Err(format!("{kind} does not answer")), Err("unknown".to_owned()))
                }
                Err(_) => (Err(format!("{kind} did not answer within {patience:?}")), Err("unknown".to_owned())),
            }
        };
        let uploads = self.uploads.probe(patience);
        let ((database, migrations), uploads) = tokio::join!(schema, uploads);
        let running = if self.draining.load(std::sync::atomic::Ordering::Relaxed) || self.stopping.is_cancelled() {
            Err("shutting down".to_owned())
        } else {
            Ok(())
        };
        let clock = self.clock_trouble.lock().unwrap().clone().map_or(Ok(()), Err);
        vec![
            ("database", database),
            ("migrations", migrations),
            ("uploads", uploads),
            ("clock", clock),
            ("running", running),
        ]
    }

    /// Says this process is going away (its readiness fails) while it still serves everyone: a balancer that
    /// probes it stops sending new people before [`Chat::begin_shutdown`].
    pub fn begin_drain(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// This process's current name in the shared presence.
    fn instance(&self) -> Arc<str> {
        self.instance.lock().unwrap().clone()
    }

    fn lease_ms(&self) -> i64 {
        self.settings.presence_lease.as_millis() as i64
    }

    fn graces(&self) -> presence::Graces {
        presence::Graces {
            leave: self.settings.leave_grace.as_millis() as i64,
            room: self.settings.room_grace.as_millis() as i64,
            lost: RESTART_EXTRA_GRACE.as_millis() as i64,
        }
    }

    /// Runs `round` every `period` (the first time after one period), one round at a time, until the shutdown.
    fn repeat<F, R>(self: &Arc<Self>, period: Duration, mut round: F)
    where
        F: FnMut(Arc<Chat>) -> R + Send + 'static,
        R: Future<Output = ()> + Send,
    {
        let chat = Arc::downgrade(self);
        let stopping = self.stopping.clone();
        self.tasks.spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stopping.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                let Some(chat) = chat.upgrade() else { break };
                round(chat).await;
            }
        });
    }

    /// Renews this process's presence lease (every second), and reaps the processes whose lease ran out: their
    /// people start their leave grace.
    async fn keep_lease(self: &Arc<Self>) -> ServerResult<()> {
        let renewed = presence::renew(&self.db, &self.instance(), db::now_millis(), self.lease_ms()).await;
        let held_since = {
            let mut held_since = self.lease_held_since.lock().unwrap();
            match &renewed {
                Ok(true) => *held_since.get_or_insert_with(Instant::now),
                Ok(false) => *held_since.insert(Instant::now()),
                Err(_) => {
                    *held_since = None;
                    Instant::now()
                }
            }
        };
        match renewed {
            Ok(true) => {}
            Ok(false) => self.start_over().await?,
            Err(error) => return Err(error.into()),
        }
        // Only a process that has held its own lease for a whole lease period reaps the others: after the
        // database was out of reach, every process first gets the time to renew its own.
        if held_since.elapsed() >= self.settings.presence_lease {
            for room in presence::reap(&self.db, db::now_millis()).await? {
                tracing::info!(%room, "people of a server process whose lease ran out start their leave grace");
                self.finish_departures_after_grace(room);
            }
        }
        Ok(())
    }

    /// Runs the room timers that came due (every second), whichever process started them: one that stopped or
    /// crashed cannot run its own.
    async fn run_due_timers(self: &Arc<Self>) -> ServerResult<()> {
        let due = presence::due_work(&self.db, db::now_millis(), self.graces()).await?;
        for room in due.departures {
            self.finish_departures(room).await;
        }
        for room in due.hand_overs {
            self.hand_over_if_owner_away(room).await;
        }
        for room in due.removals {
            self.remove_if_due(room).await;
        }
        Ok(())
    }

    /// The others took this process's people out (its lease ran out while it could not reach the database):
    /// it takes a new place, and its live connections reconnect, joining again under the usual rules.
    async fn start_over(&self) -> ServerResult<()> {
        let fresh = new_instance_id();
        presence::register(&self.db, &fresh, db::now_millis(), self.lease_ms()).await?;
        *self.instance.lock().unwrap() = fresh;
        let ended = std::mem::replace(&mut *self.connections_end.lock().unwrap(), self.stopping.child_token());
        ended.cancel();
        tracing::warn!("this process's presence lease ran out and its people were taken out; they reconnect");
        Ok(())
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

    /// What this server counts.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Brings the metrics read from elsewhere up to date (the whole chat's rooms and people, from the database;
    /// this process's pool) and renders them all.
    pub async fn render_metrics(&self, patience: Duration) -> String {
        match tokio::time::timeout(patience, db::census(&self.db)).await {
            Ok(Ok((rooms, people))) => {
                self.metrics.rooms.set(rooms);
                self.metrics.people_present.set(people);
            }
            Ok(Err(error)) => tracing::warn!(%error, "metrics: counting rooms and people"),
            Err(_) => tracing::warn!("metrics: counting rooms and people took longer than {patience:?}"),
        }
        with_pool!(&self.db, |pool| self.metrics.set_pool(pool.size(), pool.num_idle()));
        self.metrics.db_busy_looks.set(i64::try_from(crate::store::busy::looks()).unwrap_or(i64::MAX));
        self.metrics.stored_gif_bytes.set(i64::try_from(self.uploads.used()).unwrap_or(i64::MAX));
        if let Some(stats) = self.broker_stats() {
            use std::sync::atomic::Ordering::Relaxed;
            for (kind, count) in [
                ("received", &stats.received),
                ("dropped", &stats.dropped),
                ("forged", &stats.forged),
                ("resync", &stats.resyncs),
            ] {
                let count = i64::try_from(count.load(Relaxed)).unwrap_or(i64::MAX);
                self.metrics.broker_events.get_or_create(&crate::metrics::KindLabel { kind }).set(count);
            }
        }
        self.metrics.render()
    }

    /// Forgets what memory holds only for a while: the password attempts of people who stopped trying. Runs
    /// every minute.
    pub fn forget_idle(&self) {
        self.password_attempts.forget_idle();
        self.standings.lock().unwrap().retain(|_, standing| !standing.stale());
    }

    /// What this process holds in memory per topic and per person (for tests and metrics).
    pub fn footprint(&self) -> Footprint {
        Footprint { topics: self.hub.topic_count(), notifying: self.followers_due.len() }
    }

    pub fn gif_limits(&self) -> GifLimits {
        self.settings.gif
    }

    pub fn uploads(&self) -> &UploadStore {
        &self.uploads
    }
}

/// A new, unique name for this process in the shared presence.
fn new_instance_id() -> Arc<str> {
    uuid::Uuid::new_v4().simple().to_string().into()
}
