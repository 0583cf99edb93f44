//! What a running server counts, in Prometheus' text format (`GET /metrics` on `--metrics-addr`).
//!
//! Each [`Chat`](crate::Chat) owns its [`Metrics`] (no process-wide recorder: tests run many
//! servers in one process, and each counts its own). Counters and histograms are this process's; `rooms` and
//! `people_present` describe the whole chat (read from the shared database when scraped), so every instance of a
//! cluster reports the same values for them.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::error::ServerError;
use protocol::alarms::AlarmKind;
use protocol::error::{AppError, Limit};
use protocol::model::MessageKind;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// One label, `name="value"`, with values from a closed set (so a family never grows without bound).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub from: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub commit: String,
}

/// Why uploads are refused, as counted (`uploads_refused{reason}`).
const UPLOAD_REFUSALS: [&str; 8] =
    ["too_large", "not_a_gif", "storage_full", "rate_limited", "stalled", "not_allowed", "bad_request", "error"];

/// Every metric of one server. Each is a cheap handle (clone it to count from elsewhere).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub live_connections: Gauge,
    pub rooms: Gauge,
    pub people_present: Gauge,
    pub messages_committed: Family<KindLabel, Counter>,
    /// Alarms raised or updated (another actor), by kind.
    pub alarms_raised: Family<KindLabel, Counter>,
    /// Alarms not raised: the actor was muted or counted already, the person is out of the room, or it is gone.
    pub alarms_skipped: Counter,
    pub send_seconds: Histogram,
    pub lag_recoveries: Counter,
    /// Live connections that found a gap in their room's sequence (an event published out of its order, or lost
    /// between processes) and filled it from the database.
    pub gap_fills: Counter,
    /// Reads of a room's standing for connections that fell behind (one serves all of a room's at once).
    pub standing_reads: Counter,
    pub slow_clients_dropped: Counter,
    pub uploads_stored: Counter,
    pub uploads_refused: Family<ReasonLabel, Counter>,
    /// GIF files served, by where they came from: the uploads directory, this process's cache of the bucket, or
    /// the bucket itself (then kept in the cache).
    pub gifs_served: Family<SourceLabel, Counter>,
    /// Bytes the stored GIFs take, as the database counts them (what the quota compares with its limit).
    pub stored_gif_bytes: Gauge,
    /// Stored GIFs whose video was looked at, by what came of it: `made`, `larger` (or too small to gain),
    /// `transparent`, `failed` (ffmpeg failed or took too long), `unavailable` (ffmpeg could not be run).
    pub gif_videos: Family<OutcomeLabel, Counter>,
    /// How long making a video took, from its GIF's message to the switch.
    pub gif_video_seconds: Histogram,
    pub rate_limited: Family<LimitLabel, Counter>,
    pub db_pool_wait_seconds: Histogram,
    pub db_connections: Family<StateLabel, Gauge>,
    /// Times a writer found the SQLite database locked by another and looked again (the process's count).
    pub db_busy_looks: Gauge,
    pub build_info: Family<BuildLabels, Gauge>,
    /// The broker link's counts (set from its own when scraped).
    pub broker_events: Family<KindLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("gif_chat"),
            live_connections: Gauge::default(),
            rooms: Gauge::default(),
            people_present: Gauge::default(),
            messages_committed: Family::default(),
            alarms_raised: Family::default(),
            alarms_skipped: Counter::default(),
            // 0.5 ms to about 8 s.
            send_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            lag_recoveries: Counter::default(),
            gap_fills: Counter::default(),
            standing_reads: Counter::default(),
            slow_clients_dropped: Counter::default(),
            uploads_stored: Counter::default(),
            uploads_refused: Family::default(),
            gifs_served: Family::default(),
            stored_gif_bytes: Gauge::default(),
            gif_videos: Family::default(),
            // 50 ms to about 50 s.
            gif_video_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 11)),
            rate_limited: Family::default(),
            // 50 µs to about 13 s.
            db_pool_wait_seconds: Histogram::new(exponential_buckets(0.00005, 4.0, 10)),
            db_connections: Family::default(),
            db_busy_looks: Gauge::default(),
            build_info: Family::default(),
            broker_events: Family::default(),
        };
        metrics.register();
        // Every label from 0, so that a rate over the first event is right.
        for kind in [MessageKind::Text, MessageKind::Gif, MessageKind::System, MessageKind::Whisper] {
            metrics.messages_committed.get_or_create(&KindLabel { kind: kind_label(kind) }).inc_by(0);
        }
        for kind in [AlarmKind::Reaction, AlarmKind::Reply, AlarmKind::Mention, AlarmKind::Whisper] {
            metrics.alarms_raised.get_or_create(&KindLabel { kind: kind.as_str() }).inc_by(0);
        }
        for reason in UPLOAD_REFUSALS {
            metrics.uploads_refused.get_or_create(&ReasonLabel { reason }).inc_by(0);
        }
        for from in ["directory", "cache", "bucket"] {
            metrics.gifs_served.get_or_create(&SourceLabel { from }).inc_by(0);
        }
        for outcome in crate::video::OUTCOMES {
            metrics.gif_videos.get_or_create(&OutcomeLabel { outcome }).inc_by(0);
        }
        for limit in Limit::ALL {
            metrics.rate_limited.get_or_create(&LimitLabel { limit: limit.label() }).inc_by(0);
        }
        metrics
    }

    /// Puts every metric in the registry, named and explained. (prometheus-client adds `_total` to counters'
    /// names, and the unit to those registered with one.)
    fn register(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "live_connections",
            "Live (websocket) connections open to this process",
            self.live_connections.clone(),
        );
        registry.register("rooms", "Open rooms in the whole chat", self.rooms.clone());
        registry.register(
            "people_present",
            "People present in rooms in the whole chat, once per room",
            self.people_present.clone(),
        );
        registry.register(
            "messages_committed",
            "Messages this process committed, by kind",
            self.messages_committed.clone(),
        );
        registry.register(
            "alarms_raised",
            "Alarms this process raised or updated, by kind",
            self.alarms_raised.clone(),
        );
        registry.register(
            "alarms_skipped",
            "Alarms not raised: the actor muted or counted already, the person out of the room",
            self.alarms_skipped.clone(),
        );
        registry.register_with_unit(
            "send",
            "Time from a text message's arrival to its acknowledgement (committed and published)",
            Unit::Seconds,
            self.send_seconds.clone(),
        );
        registry.register(
            "feed_lag_recoveries",
            "Times a live connection fell behind its feed and caught up from the database",
            self.lag_recoveries.clone(),
        );
        registry.register(
            "feed_gap_fills",
            "Times a live connection found a gap in its room's sequence and filled it from the database",
            self.gap_fills.clone(),
        );
        registry.register(
            "room_standing_reads",
            "Reads of where a room stands for its connections that fell behind (one serves all that ask at once)",
            self.standing_reads.clone(),
        );
        registry.register(
            "slow_clients_dropped",
            "Live connections closed for not taking their frames in time",
            self.slow_clients_dropped.clone(),
        );
        registry.register("uploads_stored", "GIF uploads stored", self.uploads_stored.clone());
        registry.register(
            "broker_events",
            "The broker link since the start: events received from the other processes, dropped on the way out \
             (the broker was away), forged (dropped: not signed with this cluster's key), and resyncs",
            self.broker_events.clone(),
        );
        registry.register("uploads_refused", "GIF uploads refused, by reason", self.uploads_refused.clone());
        registry.register(
            "gifs_served",
            "GIF files served, by where they came from: directory, cache (of the bucket), bucket",
            self.gifs_served.clone(),
        );
        registry.register(
            "gif_videos",
            "Stored GIFs whose video was looked at, by outcome: made, larger, transparent, failed, unavailable",
            self.gif_videos.clone(),
        );
        registry.register_with_unit(
            "gif_video",
            "Time from a GIF's message to the switch to its video",
            Unit::Seconds,
            self.gif_video_seconds.clone(),
        );
        registry.register_with_unit(
            "stored_gifs",
            "What the stored GIFs take, as the database counts them (the quota's count)",
            Unit::Bytes,
            self.stored_gif_bytes.clone(),
        );
        registry.register("rate_limited", "Requests refused by a rate limit, by limit", self.rate_limited.clone());
        registry.register_with_unit(
            "db_pool_wait",
            "Time a message's insert waited for a connection of the database pool",
            Unit::Seconds,
            self.db_pool_wait_seconds.clone(),
        );
        registry.register(
            "db_connections",
            "Connections of the chat's database pool, by state",
            self.db_connections.clone(),
        );
        registry.register(
            "db_busy_looks",
            "Times a writer found the SQLite database locked by another connection and looked again",
            self.db_busy_looks.clone(),
        );
        registry.register("build_info", "The running build: version and git commit", self.build_info.clone());
    }

    /// Names the running build (`gif_chat_build_info{version, commit} 1`).
    pub fn set_build(&self, version: &str, commit: &str) {
        self.build_info.get_or_create(&BuildLabels { version: version.into(), commit: commit.into() }).set(1);
    }

    /// Counts a committed message.
    pub fn message_committed(&self, kind: MessageKind) {
        self.messages_committed.get_or_create(&KindLabel { kind: kind_label(kind) }).inc();
    }

    pub fn alarm_raised(&self, kind: AlarmKind) {
        self.alarms_raised.get_or_create(&KindLabel { kind: kind.as_str() }).inc();
    }

    /// Counts an upload's outcome.
    pub fn upload_done<T>(&self, outcome: &Result<T, ServerError>) {
        let reason = match outcome {
            Ok(_) => {
                self.uploads_stored.inc();
                return;
            }
            Err(ServerError::Client(error)) => match error {
                AppError::TooLarge(_) => "too_large",
                AppError::NotAGif(_) => "not_a_gif",
                AppError::StorageFull(_) => "storage_full",
                AppError::TooManyRequests { .. } => "rate_limited",
                AppError::Timeout(_) => "stalled",
                AppError::Refused(_) | AppError::Forbidden(_) => "not_allowed",
                AppError::Invalid(_) | AppError::BadRequest(_) => "bad_request",
                _ => "error",
            },
            Err(_) => "error",
        };
        self.uploads_refused.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Counts a refusal, if `outcome` is one of a rate limit.
    pub fn count_refusal<T>(&self, outcome: &Result<T, AppError>) {
        if let Err(AppError::TooManyRequests { limit, .. }) = outcome {
            self.rate_limited(*limit);
        }
    }

    /// Counts a refusal by `limit`.
    pub fn rate_limited(&self, limit: Limit) {
        self.rate_limited.get_or_create(&LimitLabel { limit: limit.label() }).inc();
    }

    /// The chat's database pool as it is now.
    pub fn set_pool(&self, size: u32, idle: usize) {
        let idle = idle as i64;
        self.db_connections.get_or_create(&StateLabel { state: "idle" }).set(idle);
        // Read apart from each other, the two can disagree for a moment.
        self.db_connections.get_or_create(&StateLabel { state: "in_use" }).set((i64::from(size) - idle).max(0));
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

fn kind_label(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::Gif => "gif",
        MessageKind::System => "system",
        MessageKind::Whisper => "whisper",
    }
}

/// Counts a live connection while it lives.
#[derive(Debug)]
pub struct LiveConnection(Gauge);

impl LiveConnection {
    pub fn new(gauge: &Gauge) -> LiveConnection {
        gauge.inc();
        LiveConnection(gauge.clone())
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Times something from now to [`Timer::observe`].
pub struct Timer(Instant);

impl Timer {
    pub fn start() -> Timer {
        Timer(Instant::now())
    }

    pub fn observe(self, histogram: &Histogram) {
        histogram.observe(self.0.elapsed().as_secs_f64());
    }
}
