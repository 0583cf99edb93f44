//! Start-up configuration: command-line flags, each with an environment fallback (`gif-chat --help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use app::server::Edge;
use chat::broker::BrokerTls;
use chat::limits::{LimitSettings, Rate, Rates, defaults as limits};
use chat::settings::{GifLimits, Settings, defaults};
use chat::store::Db;
use chat::uploads::{S3Keys, S3Location, StorageLimits, UploadsAt};
use chat::video::VideoSettings;
use ipnet::IpNet;

use clap::{Parser, Subcommand};

/// `gif-chat --version`: the version and the git commit it was built from.
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GIF_CHAT_COMMIT"), ")");

#[derive(Debug, Clone, Parser)]
#[command(name = "gif-chat", version = LONG_VERSION, about = "A real-time GIF chat server")]
pub struct Config {
    /// Address to listen on (cargo-leptos sets LEPTOS_SITE_ADDR).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// What to do: serve (without a command), or back up or restore the database.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// How log lines are written (to standard output; `RUST_LOG` filters them): `text` for people, `json` (one
    /// object per line) for machines.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `127.0.0.1:9464`: an address of its own, so they
    /// are never public by accident. Without it, no metrics are served.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Database URL: `sqlite://path/to/file.db` (created if missing) or `postgres://user:password@host/database`
    /// (the database must exist; the schema is made on start). Without it, a SQLite file `gif-chat.db` in
    /// --data-dir.
    #[arg(long, global = true, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Database URL of the sessions. Without it: on PostgreSQL the chat's database (sessions in a schema of their
    /// own), on SQLite a file `sessions.db` in --data-dir (kept apart, so session writes never wait on chat
    /// writes).
    #[arg(long, global = true, env = "SESSIONS_DATABASE_URL")]
    pub sessions_database_url: Option<String>,

    /// The broker that joins several gif-chat processes sharing one database into one chat:
    /// `nats://host:port` (a NATS server; `nats://user:password@host:port` with credentials). Without it, live
    /// events stay within this process, which is all one process needs.
    #[arg(long, env = "BROKER_URL")]
    pub broker_url: Option<String>,

    /// TLS to the broker: the CA certificates (PEM) that sign the NATS server's, trusted instead of the system's
    /// roots. Setting it requires TLS whatever the URL's scheme (`tls://host:port` asks for TLS with the system's
    /// roots).
    #[arg(long, env = "BROKER_CA_FILE")]
    pub broker_ca_file: Option<PathBuf>,

    /// TLS to the broker: this process's certificate (PEM), for a NATS server that verifies its clients
    /// (`verify: true`). Needs --broker-key-file.
    #[arg(long, env = "BROKER_CERT_FILE", requires = "broker_key_file")]
    pub broker_cert_file: Option<PathBuf>,

    /// The key (PEM) of --broker-cert-file.
    #[arg(long, env = "BROKER_KEY_FILE", requires = "broker_cert_file")]
    pub broker_key_file: Option<PathBuf>,

    /// Directory for the default SQLite databases.
    #[arg(long, global = true, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Directory where uploaded GIFs are stored (with --uploads-url: where uploads arrive, and the local cache).
    #[arg(long, global = true, env = "UPLOADS_DIR", default_value = defaults::UPLOADS_DIR)]
    pub uploads_dir: PathBuf,

    /// Keep GIFs in S3-compatible object storage instead of --uploads-dir:
    /// `s3://bucket/prefix?endpoint=https://s3.example.net&region=eu-west-1` (endpoint and region are optional:
    /// AWS S3 itself, the region from AWS_REGION). Credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    /// (or wherever AWS's own clients find them). For several servers without a shared file system.
    #[arg(long, global = true, env = "UPLOADS_URL")]
    pub uploads_url: Option<String>,

    /// With --uploads-url: the most the local cache of GIFs served from the bucket may take, in MiB.
    #[arg(long, env = "GIF_CACHE_MB", default_value_t = defaults::GIF_CACHE_MB)]
    pub gif_cache_mb: u64,

    /// The credentials for --uploads-url, when they are not read from the environment (`AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`, as every S3 client reads them; never a flag, so never on a command line): for
    /// tests. (Their `Debug` hides the secret.)
    #[arg(skip)]
    pub s3_keys: Option<S3Keys>,

    /// Seconds an empty room lives on before it is removed (so that a lone user's reload keeps it).
    #[arg(long, value_parser = parse_secs, env = "ROOM_GRACE_SECS", default_value_t = defaults::ROOM_GRACE_SECS)]
    pub room_grace_secs: f64,

    /// Seconds after sending a message during which its author may change its text.
    #[arg(long, value_parser = parse_secs, env = "EDIT_WINDOW_SECS", default_value_t = defaults::EDIT_WINDOW_SECS)]
    pub edit_window_secs: f64,

    /// Seconds a person whose last connection closed still counts as present (so a reload is not a leave).
    #[arg(long, value_parser = parse_secs, env = "LEAVE_GRACE_SECS", default_value_t = defaults::LEAVE_GRACE_SECS)]
    pub leave_grace_secs: f64,

    /// Seconds someone without JavaScript (a plain form post, so no live connection) counts as present in a room
    /// after posting to it.
    #[arg(long, value_parser = parse_secs, env = "VISIT_SECS", default_value_t = defaults::VISIT_SECS)]
    pub visit_secs: f64,

    /// Seconds a server process's presence lease lasts (renewed every second). When a process crashes, the others
    /// stop counting its people within this, plus the leave grace, plus a second.
    #[arg(long, value_parser = parse_secs, env = "PRESENCE_LEASE_SECS", default_value_t = defaults::PRESENCE_LEASE_SECS)]
    pub presence_lease_secs: f64,

    /// Seconds after which a visit renews a session (each renewal is a write; a session expires 30 days after its
    /// last renewal). For tests.
    #[arg(long, value_parser = parse_secs, env = "SESSION_RENEW_SECS", default_value_t = 86_400.0, hide = true)]
    pub session_renew_secs: f64,

    /// Seconds between deletions of expired sessions (a session expires after 30 days without a visit).
    #[arg(long, value_parser = parse_secs, env = "SESSION_CLEANUP_SECS", default_value_t = defaults::SESSION_CLEANUP_SECS)]
    pub session_cleanup_secs: f64,

    /// Largest accepted GIF upload, in bytes.
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = defaults::MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,

    /// The most all stored GIFs together may take, in bytes; beyond it uploads answer 507.
    #[arg(long, env = "MAX_UPLOADS_TOTAL", default_value_t = defaults::MAX_UPLOADS_TOTAL)]
    pub max_uploads_total: u64,

    /// Free disk space, in bytes, that uploads always leave; below it uploads answer 507.
    #[arg(long, env = "MIN_FREE_DISK", default_value_t = defaults::MIN_FREE_DISK)]
    pub min_free_disk: u64,

    /// Seconds an upload's body may stall (no bytes arriving) before it is refused with 408.
    #[arg(long, value_parser = parse_secs, env = "UPLOAD_IDLE_SECS", default_value_t = defaults::UPLOAD_IDLE_SECS)]
    pub upload_idle_secs: f64,

    /// Seconds an upload may take in all, however its bytes trickle in, before it is refused with 408.
    #[arg(long, value_parser = parse_secs, env = "UPLOAD_SECS", default_value_t = defaults::UPLOAD_SECS)]
    pub upload_secs: f64,

    /// Seconds a live connection may take to accept one frame before it is dropped as too slow (its page
    /// reconnects and catches up from the database).
    #[arg(long, value_parser = parse_secs, env = "SLOW_CLIENT_SECS", default_value_t = defaults::SLOW_CLIENT_SECS)]
    pub slow_client_secs: f64,

    /// Seconds the server goes on serving after SIGTERM or Ctrl-C while `/readyz` says it is shutting down, so that
    /// a load balancer probing it sends new people elsewhere first; then it shuts down.
    #[arg(long, value_parser = parse_secs, env = "DRAIN_SECS", default_value_t = 0.0)]
    pub drain_secs: f64,

    /// Seconds a client has to send a request's headers (on a kept-alive connection, counted from the previous
    /// response) before its connection is closed.
    #[arg(long, value_parser = parse_secs, env = "HEADER_READ_SECS", default_value_t = 20.0)]
    pub header_read_secs: f64,

    /// Seconds a connection may stay open with no request in flight before it is closed (HTTP/2 has no other
    /// limit; an HTTP/1 connection meets --header-read-secs first; a live connection has its own pings).
    #[arg(long, value_parser = parse_secs, env = "IDLE_SECS", default_value_t = 60.0)]
    pub idle_secs: f64,

    /// The address people use, e.g. `https://chat.example.com` (behind a TLS-terminating proxy). It is the
    /// default allowed origin; with `https` the session cookie is `Secure` and `__Host-` prefixed and responses
    /// carry HSTS.
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// An origin (`https://chat.example.com`) whose pages may act with a visitor's cookie: post, upload, open
    /// the live channel. Repeatable; the environment takes a comma-separated list. Added to --public-url's
    /// origin; without either, only pages of the host a request is addressed to may.
    #[arg(long = "allowed-origin", env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// A reverse proxy's network (`10.0.0.0/8`, `::1/128`): from such a peer the client address is taken from
    /// `X-Forwarded-For`; from any other the header is ignored. Repeatable; the environment takes a
    /// comma-separated list.
    #[arg(long = "trusted-proxy", env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Switch every rate limit off (for benchmarks playing thousands of people from one address).
    #[arg(long, env = "NO_RATE_LIMITS")]
    pub no_rate_limits: bool,

    /// The ffmpeg program that makes the looping video of each stored GIF (pages play it instead of the GIF,
    /// typically a fifth of its size). Without it, GIFs travel as GIFs.
    #[arg(long, env = "FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,

    /// Keep no GIF library: people cannot share GIFs with everyone on this server (the picker's other shelves stay).
    #[arg(long, env = "NO_GIF_LIBRARY")]
    pub no_gif_library: bool,

    /// Make no videos of GIFs: they travel as GIFs only.
    #[arg(long, env = "NO_GIF_VIDEOS")]
    pub no_gif_videos: bool,

    /// Seconds ffmpeg may take to make one video (then it is stopped, and the GIF keeps none for now): 1 to 45
    /// (the upload's claim on its GIF, which the video is made under, lasts a minute).
    #[arg(long, env = "GIF_VIDEO_SECS", default_value_t = defaults::GIF_VIDEO_SECS)]
    pub gif_video_secs: f64,

    /// Messages sent: `PERSON,ADDRESS,TOTAL` rates, each a burst and the period that refills it.
    #[arg(long, env = "LIMIT_SENDS", default_value = limits::SENDS)]
    pub limit_sends: Rates,

    /// Reactions given or taken back: per person, per address, in total.
    #[arg(long, env = "LIMIT_REACTIONS", default_value = limits::REACTIONS)]
    pub limit_reactions: Rates,

    /// Messages' texts changed: per person, per address, in total.
    #[arg(long, env = "LIMIT_EDITS", default_value = limits::EDITS)]
    pub limit_edits: Rates,

    /// GIFs shared to the library: `PERSON,ADDRESS,TOTAL` rates.
    #[arg(long, env = "LIMIT_SHARES", default_value = limits::SHARES)]
    pub limit_shares: Rates,

    /// Invitations to private conversations ("Talk privately"): `PERSON,ADDRESS,TOTAL` rates.
    #[arg(long, env = "LIMIT_INVITATIONS", default_value = limits::INVITATIONS)]
    pub limit_invitations: Rates,

    /// Messages unsent or removed: per person, per address, in total.
    #[arg(long, env = "LIMIT_DELETIONS", default_value = limits::DELETIONS)]
    pub limit_deletions: Rates,

    /// "Is typing" signals: per person, per address, in total.
    #[arg(long, env = "LIMIT_TYPING", default_value = limits::TYPING)]
    pub limit_typing: Rates,

    /// GIF uploads, counted: per person, per address, in total.
    #[arg(long, env = "LIMIT_UPLOADS", default_value = limits::UPLOADS)]
    pub limit_uploads: Rates,

    /// GIF uploads, in MiB: per person, per address, in total.
    #[arg(long, env = "LIMIT_UPLOAD_MIB", default_value = limits::UPLOAD_MIB)]
    pub limit_upload_mib: Rates,

    /// Uploads one person may have in flight at once.
    #[arg(long, env = "LIMIT_UPLOADS_AT_ONCE", default_value_t = limits::UPLOADS_AT_ONCE)]
    pub limit_uploads_at_once: u32,

    /// Rooms created: per person, per address, in total.
    #[arg(long, env = "LIMIT_ROOMS", default_value = limits::ROOMS)]
    pub limit_rooms: Rates,

    /// Arrivals in rooms where one was not (each is announced to the room): per person, per address, in total.
    #[arg(long, env = "LIMIT_ARRIVALS", default_value = limits::ARRIVALS)]
    pub limit_arrivals: Rates,

    /// New sessions (a new visitor's first action) per client address.
    #[arg(long, env = "LIMIT_NEW_SESSIONS", default_value = limits::NEW_SESSIONS)]
    pub limit_new_sessions: Rate,

    /// Live connections open at once per client address.
    #[arg(long, env = "LIMIT_CONNECTIONS", default_value_t = limits::CONNECTIONS)]
    pub limit_connections: u32,

    /// HTTP connections of any kind open at once per client address (a live connection is one too); those of a
    /// --trusted-proxy are not counted.
    #[arg(long, env = "LIMIT_HTTP_CONNECTIONS", default_value_t = limits::HTTP_CONNECTIONS)]
    pub limit_http_connections: u32,

    /// Commands per live connection.
    #[arg(long, env = "LIMIT_COMMANDS", default_value = limits::COMMANDS)]
    pub limit_commands: Rate,

    /// Writing requests of any kind (POSTs, websocket handshakes) per client address, checked first of all.
    #[arg(long, env = "LIMIT_ADDRESS_WRITES", default_value = limits::ADDRESS_WRITES)]
    pub limit_address_writes: Rate,

    /// Seconds a refusal by a rate limit (429) is held before it is answered, so a flood that ignores
    /// `Retry-After` asks once per this instead of as fast as it is answered; 0 answers at once.
    #[arg(long, alias = "door-refusal-delay-secs", value_parser = parse_secs, env = "REFUSAL_DELAY_SECS", default_value_t = limits::REFUSAL_DELAY_SECS)]
    pub refusal_delay_secs: f64,

    /// Moves this process's clock by this many milliseconds: only for the tests of a wrong clock.
    #[arg(long, env = "CLOCK_OFFSET_MS", default_value_t = 0, hide = true)]
    pub clock_offset_ms: i64,

    /// Directory holding the built site: `pkg/` (JS, WASM, CSS) and the public assets.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The commands besides serving. The database and directory options (or their environment variables) say which
/// store they work on, as for the server.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Copy the SQLite database, with the sessions, to FILE while the server runs (a consistent snapshot; FILE is
    /// replaced). For PostgreSQL use pg_dump.
    Backup {
        /// Where the backup goes (written beside, then renamed into place).
        file: PathBuf,
        /// Also copy the GIFs the backup refers to into this directory (those already there are kept, those no
        /// longer referenced removed): FILE and DIR are then the backup.
        #[arg(long, value_name = "DIR")]
        gifs: Option<PathBuf>,
    },
    /// Bring a backup back as the database of --data-dir (or --database-url), which must not exist yet; with
    /// --gifs, its GIFs into --uploads-dir. Stop the server first.
    Restore {
        /// A file made by `gif-chat backup`.
        file: PathBuf,
        /// The directory the backup's GIFs were copied into.
        #[arg(long, value_name = "DIR")]
        gifs: Option<PathBuf>,
    },
    /// Copy the GIFs the chat's database shows from the uploads directory DIR into the store this configuration
    /// names (with --uploads-url, its bucket): how a chat's GIFs move into object storage. Those the store holds
    /// already are left alone, so it can run again (once while the servers still write to DIR, once after).
    CopyGifs {
        /// The uploads directory the GIFs are in now.
        #[arg(value_name = "DIR")]
        from: PathBuf,
    },
    /// List the GIF library's entries, or take one out of it (its files go unless a message shows it).
    Library {
        #[command(subcommand)]
        action: LibraryAction,
    },
}

/// What `gif-chat library` does.
#[derive(Debug, Clone, Subcommand)]
pub enum LibraryAction {
    /// Every entry, oldest first: its GIF's name, when and by whom it was shared, and its words.
    List,
    /// Takes the GIF NAME (`<hex>.gif`, as `list` shows it) out of the library.
    Remove { name: String },
}

impl Config {
    /// The database to open: the explicit URL, or the default SQLite file.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("gif-chat.db").display()),
        }
    }

    /// The sessions' database: the explicit URL, or the default SQLite file.
    pub fn sessions_database_url(&self) -> String {
        match (&self.sessions_database_url, &self.database_url) {
            (Some(url), _) => url.clone(),
            (None, Some(chat)) if Db::is_postgres_url(chat) => chat.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("sessions.db").display()),
        }
    }

    /// Whether people reach the server over TLS (so cookies must be `Secure`).
    pub fn behind_tls(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }

    /// The origins allowed to act with a visitor's cookie: the public URL's, and the configured ones.
    pub fn allowed_origins(&self) -> Vec<String> {
        self.public_url.iter().chain(&self.allowed_origins).cloned().collect()
    }

    /// Where stored GIFs are kept: the uploads directory, or the bucket of --uploads-url.
    pub fn uploads_at(&self) -> anyhow::Result<UploadsAt> {
        let Some(url) = &self.uploads_url else { return Ok(UploadsAt::Directory) };
        let mut location = S3Location::parse(url, self.gif_cache_mb.saturating_mul(1024 * 1024))
            .map_err(|problem| anyhow::anyhow!("--uploads-url: {problem}"))?;
        let from_environment = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        location.keys =
            match (&self.s3_keys, from_environment("AWS_ACCESS_KEY_ID"), from_environment("AWS_SECRET_ACCESS_KEY")) {
                (Some(keys), _, _) => Some(keys.clone()),
                (None, Some(id), Some(secret)) => Some(S3Keys { id, secret }),
                (None, None, None) => None,
                _ => anyhow::bail!("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither"),
            };
        Ok(UploadsAt::ObjectStorage(location))
    }

    /// How much of the disk uploads may take.
    pub fn storage_limits(&self) -> StorageLimits {
        StorageLimits { quota: self.max_uploads_total, min_free: self.min_free_disk }
    }

    /// The chat service's tunables.
    pub fn settings(&self) -> Settings {
        Settings {
            room_grace: Duration::from_secs_f64(self.room_grace_secs.max(0.0)),
            leave_grace: Duration::from_secs_f64(self.leave_grace_secs.max(0.0)),
            visit: Duration::from_secs_f64(self.visit_secs.clamp(0.0, 86_400.0)),
            // At least two renewals (one a second) fit in a lease: one late renewal does not lose it.
            presence_lease: Duration::from_secs_f64(self.presence_lease_secs.clamp(2.0, 3600.0)),
            edit_window: Duration::from_secs_f64(self.edit_window_secs.clamp(0.0, 86_400.0 * 365.0)),
            uploads_dir: self.uploads_dir.clone(),
            gif: GifLimits { max_bytes: self.max_upload_bytes, ..GifLimits::default() },
            gif_library: !self.no_gif_library,
            videos: (!self.no_gif_videos).then(|| VideoSettings {
                ffmpeg: self.ffmpeg.clone(),
                time_limit: Duration::from_secs_f64(self.gif_video_secs.clamp(1.0, 45.0)),
                ..VideoSettings::default()
            }),
        }
    }

    /// The rate limits on every way of writing, checked where requests come in.
    pub fn limit_settings(&self) -> LimitSettings {
        LimitSettings {
            enabled: !self.no_rate_limits,
            sends: self.limit_sends,
            reactions: self.limit_reactions,
            edits: self.limit_edits,
            shares: self.limit_shares,
            invitations: self.limit_invitations,
            deletions: self.limit_deletions,
            typing: self.limit_typing,
            uploads: self.limit_uploads,
            upload_mib: self.limit_upload_mib,
            uploads_at_once: self.limit_uploads_at_once.max(1),
            rooms: self.limit_rooms,
            arrivals: self.limit_arrivals,
            new_sessions: self.limit_new_sessions,
            connections: self.limit_connections.max(1),
            http_connections: self.limit_http_connections.max(1),
            commands: self.limit_commands,
            address_writes: self.limit_address_writes,
            refusal_delay: Duration::from_secs_f64(self.refusal_delay_secs.clamp(0.0, 60.0)),
        }
    }

    /// How long the web's side waits for slow peers.
    pub fn edge(&self) -> Edge {
        Edge {
            upload_idle: Duration::from_secs_f64(self.upload_idle_secs.clamp(0.05, 3600.0)),
            upload_deadline: Duration::from_secs_f64(self.upload_secs.clamp(0.05, 86_400.0)),
            slow_client: Duration::from_secs_f64(self.slow_client_secs.clamp(0.05, 3600.0)),
        }
    }

    /// TLS to the broker, as configured.
    pub fn broker_tls(&self) -> BrokerTls {
        BrokerTls {
            ca_file: self.broker_ca_file.clone(),
            client: self.broker_cert_file.clone().zip(self.broker_key_file.clone()),
        }
    }

    /// A configuration for tests and tools: the defaults, with everything under `dir`, listening on an
    /// ephemeral port.
    pub fn for_dir(dir: &std::path::Path, site_root: PathBuf) -> Self {
        let mut config = Config::parse_from(["gif-chat"]);
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = None;
        config.sessions_database_url = None;
        config.broker_url = None;
        config.metrics_addr = None;
        config.data_dir = dir.join("data");
        config.uploads_dir = dir.join("uploads");
        config.site_root = site_root;
        config
    }
}

/// A duration in seconds: a finite number, zero or more (`2.5`; `inf` or `-1` are refused at start-up, with this
/// message, rather than meeting a timer later).
fn parse_secs(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Ok(secs),
        _ => Err(format!("{raw:?}: expected a number of seconds, zero or more, such as 2.5")),
    }
}

/// A public URL: `http(s)://host[:port]`, kept as its origin (no path, no trailing slash).
fn parse_public_url(raw: &str) -> Result<String, String> {
    let (scheme, rest) = raw.split_once("://").ok_or("expected a URL such as https://chat.example.com")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if !matches!(scheme, "http" | "https") || authority.is_empty() || authority.contains(['@', ' ']) {
        return Err("expected http:// or https:// and a host, such as https://chat.example.com".into());
    }
    Ok(format!("{scheme}://{authority}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_finite_seconds() {
        assert_eq!(parse_secs("2.5"), Ok(2.5));
        assert_eq!(parse_secs("0"), Ok(0.0));
        for bad in ["inf", "NaN", "-1", "soon", ""] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
        assert!(Config::try_parse_from(["gif-chat", "--room-grace-secs", "inf"]).is_err());
    }

    #[test]
    fn public_urls_are_kept_as_their_origin() {
        assert_eq!(parse_public_url("https://Chat.Example.com/").unwrap(), "https://chat.example.com");
        assert_eq!(parse_public_url("http://10.0.0.5:8080/chat").unwrap(), "http://10.0.0.5:8080");
        for bad in ["chat.example.com", "ftp://x", "https://", "https://user@host"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
