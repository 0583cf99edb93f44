//! The server's tunables and their defaults, written once: the command line (`src/config.rs`) takes its
//! defaults from here and fills a [`Settings`] (the chat's own) and the web side's (`app::server::Edge`, with the
//! rate limits' [`crate::limits::LimitSettings`]).

use std::path::PathBuf;
use std::time::Duration;

/// Defaults of the tunables, as the command line shows them (`gif-chat --help`).
pub mod defaults {
    pub const ROOM_GRACE_SECS: f64 = 10.0;
    /// How long after sending a message its author may change its text.
    pub const EDIT_WINDOW_SECS: f64 = 900.0;
    pub const LEAVE_GRACE_SECS: f64 = 3.0;
    /// How long a plain form post (no WASM, so no live connection) keeps its sender in the room.
    pub const VISIT_SECS: f64 = 300.0;
    /// How long a server process's presence lease lasts; it is renewed every second.
    pub const PRESENCE_LEASE_SECS: f64 = 5.0;
    /// How often expired sessions are deleted.
    pub const SESSION_CLEANUP_SECS: f64 = 60.0;
    pub const UPLOADS_DIR: &str = "uploads";
    pub const MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
    /// The most all stored GIFs together may take (10 GiB).
    pub const MAX_UPLOADS_TOTAL: u64 = 10 * 1024 * 1024 * 1024;
    /// The most the local cache of GIFs served from object storage may take, in MiB.
    pub const GIF_CACHE_MB: u64 = 512;
    /// Free disk space uploads always leave (1 GiB): the database and the logs need room too.
    pub const MIN_FREE_DISK: u64 = 1024 * 1024 * 1024;
    /// How long an upload's body may stall (no bytes at all) before it is refused: a phone in a tunnel recovers
    /// within this, a slowloris does not hold its place longer.
    pub const UPLOAD_IDLE_SECS: f64 = 20.0;
    /// Ten MiB in three minutes is 0.5 Mbit/s: a poor mobile line still makes it.
    pub const UPLOAD_SECS: f64 = 180.0;
    /// How long a live connection may take to accept one frame before it is dropped as too slow to keep (its
    /// page reconnects and catches up).
    pub const SLOW_CLIENT_SECS: f64 = 10.0;
    pub const MAX_GIF_SIDE: u16 = 4096;
    pub const MAX_GIF_FRAMES: usize = 1000;
    /// 50 frames of 1000×1000, or 3,000 frames of 180×180: far beyond any chat GIF, a few seconds of CPU at most.
    pub const MAX_GIF_TOTAL_PIXELS: u64 = 50_000_000;
    /// How long ffmpeg may take to make one GIF's video: a 2 MiB GIF takes about a second on 2 cores.
    pub const GIF_VIDEO_SECS: f64 = 30.0;
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an empty room lives on before it is removed (so a lone user's reload does not destroy it).
    pub room_grace: Duration,
    /// How long a person whose last connection closed still counts as present (so a reload is not a leave).
    pub leave_grace: Duration,
    /// How long someone without the live channel (no JavaScript, or not yet) counts as present after a form they
    /// posted to the room: as if a connection had opened, and closed this long after.
    pub visit: Duration,
    /// How long a server process's presence lease lasts (renewed every second): when a process crashes, the
    /// others stop counting its people within this plus the leave grace (and a second).
    pub presence_lease: Duration,
    /// How long after sending a message its author may change its text.
    pub edit_window: Duration,
    pub uploads_dir: PathBuf,
    pub gif: GifLimits,
    /// How the looping video of each stored GIF is made; `None`: GIFs travel as GIFs only.
    pub videos: Option<crate::video::VideoSettings>,
    /// Whether people may share GIFs with everyone on this server (the picker's library).
    pub gif_library: bool,
}

/// What an accepted GIF may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GifLimits {
    /// Largest upload, in bytes.
    pub max_bytes: u64,
    /// Largest width or height, in pixels.
    pub max_side: u16,
    pub max_frames: usize,
    /// Most pixels all frames together may have: bounds the decoding work a small, well-compressed file can
    /// demand (a 10 MiB file could otherwise describe billions of pixels).
    pub max_total_pixels: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            room_grace: Duration::from_secs_f64(defaults::ROOM_GRACE_SECS),
            leave_grace: Duration::from_secs_f64(defaults::LEAVE_GRACE_SECS),
            visit: Duration::from_secs_f64(defaults::VISIT_SECS),
            presence_lease: Duration::from_secs_f64(defaults::PRESENCE_LEASE_SECS),
            edit_window: Duration::from_secs_f64(defaults::EDIT_WINDOW_SECS),
            uploads_dir: PathBuf::from(defaults::UPLOADS_DIR),
            gif: GifLimits::default(),
            videos: Some(crate::video::VideoSettings::default()),
            gif_library: true,
        }
    }
}

impl Default for GifLimits {
    fn default() -> GifLimits {
        GifLimits {
            max_bytes: defaults::MAX_UPLOAD_BYTES,
            max_side: defaults::MAX_GIF_SIDE,
            max_frames: defaults::MAX_GIF_FRAMES,
            max_total_pixels: defaults::MAX_GIF_TOTAL_PIXELS,
        }
    }
}
