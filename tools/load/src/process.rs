//! Starting the server under test, and reading its CPU time and memory from /proc.

use std::net::SocketAddr;
use std::ops::Range;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// A server process started for one scenario, stopped when dropped. Its data lives in a temp dir.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The database the server uses (`sqlite://…` or `postgres://…`).
    pub database_url: String,
    pub dir: tempfile::TempDir,
    /// Where the server's Prometheus metrics are (`None`: not asked for).
    metrics: Option<SocketAddr>,
}

impl ServerProcess {
    /// gif-chat with its rate limits off: throughput scenarios play every person from 127.0.0.1, and would
    /// measure the limiter.
    pub async fn gif_chat(options: &crate::Options) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_gif_chat(options, false, None, None, None).await
    }

    /// gif-chat (rate limits off) keeping its GIFs in `bucket`, or in its uploads directory.
    pub async fn gif_chat_storing_in(
        options: &crate::Options,
        bucket: Option<&TestBucket>,
    ) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_gif_chat(options, false, None, None, bucket).await
    }

    /// One instance of the chat that `shared` holds together (rate limits off).
    pub async fn instance_of(options: &crate::Options, shared: &Shared) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_gif_chat(options, false, None, Some(shared), None).await
    }

    /// gif-chat with its default rate limits (the abuse scenario), on `cores` if given.
    pub async fn gif_chat_limited(
        options: &crate::Options,
        cores: Option<Range<usize>>,
    ) -> anyhow::Result<ServerProcess> {
        ServerProcess::start_gif_chat(options, true, cores, None, None).await
    }

    async fn start_gif_chat(
        options: &crate::Options,
        limited: bool,
        cores: Option<Range<usize>>,
        shared: Option<&Shared>,
        bucket: Option<&TestBucket>,
    ) -> anyhow::Result<ServerProcess> {
        let dir = tempfile::tempdir()?;
        let (addr, metrics) = (free_address()?, free_address()?);
        let mut command = Command::new(&options.server);
        command.env("METRICS_ADDR", metrics.to_string());
        if let Some(cores) = cores {
            pin_children_to(&mut command, cores);
        }
        let database_url = match (shared, &options.database_url) {
            (Some(shared), _) => shared.database_url.clone(),
            (None, Some(server)) => scratch_database(server).await?,
            // The server's default: a file in its data directory.
            (None, None) => format!("sqlite://{}", dir.path().join("data").join("gif-chat.db").display()),
        };
        match shared {
            Some(shared) => command
                .env("DATABASE_URL", &database_url)
                .env("BROKER_URL", &shared.broker.url)
                .env("UPLOADS_DIR", shared.uploads.path()),
            None if options.database_url.is_some() => {
                command.env("DATABASE_URL", &database_url).env("UPLOADS_DIR", dir.path().join("uploads"))
            }
            None => command.env_remove("DATABASE_URL").env("UPLOADS_DIR", dir.path().join("uploads")),
        };
        match bucket {
            Some(bucket) => command
                .env("UPLOADS_URL", bucket.url())
                .env("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY)
                .env("AWS_SECRET_ACCESS_KEY", s3_server::SECRET_KEY),
            None => command.env_remove("UPLOADS_URL"),
        };
        // The abuse scenario's attacker (127.0.0.66) may say which address it comes from, as a reverse proxy
        // would: that is how it plays a network of many IPv6 addresses (one /56 of 256 /64s).
        if limited {
            command.env("TRUSTED_PROXIES", "127.0.0.66/32");
        } else {
            command.env_remove("TRUSTED_PROXIES");
        }
        let child = command
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("LEPTOS_SITE_ROOT", &options.site_root)
            .env("DATA_DIR", dir.path().join("data"))
            .env("ROOM_GRACE_SECS", "600")
            .env("NO_RATE_LIMITS", (!limited).to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("starting {} (build it first: cargo leptos build --release)", options.server.display())
            })?;
        let server = ServerProcess { child, addr, database_url, dir, metrics: Some(metrics) };
        server.wait_until_serving("/readyz").await?;
        Ok(server)
    }

    /// A counter or gauge the server reports (`name` as Prometheus shows it, e.g. `gif_chat_feed_gap_fills_total`).
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let addr = self.metrics.context("this server reports no metrics")?;
        let text = reqwest::get(format!("http://{addr}/metrics")).await?.error_for_status()?.text().await?;
        let line = text.lines().find(|line| line.split_whitespace().next() == Some(name));
        let value =
            line.and_then(|line| line.split_whitespace().nth(1)).with_context(|| format!("no metric {name}"))?;
        Ok(value.parse()?)
    }

    /// The minimal broadcast-only server: this very binary in its hidden server mode.
    pub async fn minimal() -> anyhow::Result<ServerProcess> {
        let dir = tempfile::tempdir()?;
        let addr = free_address()?;
        let child = Command::new(std::env::current_exe()?)
            .arg("--minimal-server")
            .arg(addr.to_string())
            .stdout(Stdio::null())
            .spawn()?;
        let server = ServerProcess { child, addr, database_url: String::new(), dir, metrics: None };
        server.wait_until_serving("/health").await?;
        Ok(server)
    }

    async fn wait_until_serving(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("http://{}{path}", self.addr);
        for _ in 0..400 {
            if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("the server at {} did not come up", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_field(self.pid(), "VmRSS:").unwrap_or(0)
    }

    /// CPU time used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which may contain spaces) start after the last ')'.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
        Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
    }

    pub fn uploads_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("uploads")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the instances of one chat share: a new database on `--database-url`'s PostgreSQL server, a NATS server
/// of their own, and an uploads directory.
pub struct Shared {
    database_url: String,
    broker: Broker,
    uploads: tempfile::TempDir,
}

impl Shared {
    pub async fn new(options: &crate::Options) -> anyhow::Result<Shared> {
        let server = options
            .database_url
            .as_deref()
            .context("several instances share a PostgreSQL database: give one with --database-url")?;
        Ok(Shared {
            database_url: scratch_database(server).await?,
            broker: Broker::start().await?,
            uploads: tempfile::tempdir()?,
        })
    }
}

/// A NATS server (`nats-server` from `$NATS_SERVER`, the PATH, or Debian's place for it) on a free loopback port,
/// stopped when dropped.
struct Broker {
    child: Child,
    url: String,
}

impl Broker {
    async fn start() -> anyhow::Result<Broker> {
        let program = std::env::var("NATS_SERVER").unwrap_or_else(|_| {
            let on_path = std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("nats-server").is_file()));
            if on_path { "nats-server".into() } else { "/usr/sbin/nats-server".into() }
        });
        let addr = free_address()?;
        let child = Command::new(&program)
            .args(["--addr", "127.0.0.1", "--port", &addr.port().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program} (scripts/setup.sh installs it)"))?;
        let broker = Broker { child, url: format!("nats://{addr}") };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(broker);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("the NATS server did not come up")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which store the servers use, for the results.
pub fn store_name(options: &crate::Options) -> &'static str {
    if options.database_url.is_some() { "postgres" } else { "sqlite" }
}

/// Databases made by [`scratch_database`] in this run.
static SCRATCH: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A new database on the PostgreSQL server `server_url` points at (its database part is replaced); returns its
/// URL. Each scenario's server starts on an empty one, so no scenario measures another's rooms.
async fn scratch_database(server_url: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    let name = format!("gif_chat_load_{}_{}", std::process::id(), SCRATCH.lock().unwrap().len());
    let mut server = sqlx::PgConnection::connect(server_url).await.context("connecting to --database-url")?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut server).await?;
    SCRATCH.lock().unwrap().push(name.clone());
    let (address, options) =
        server_url.split_once('?').map_or((server_url, String::new()), |(a, o)| (a, format!("?{o}")));
    let (scheme, rest) = address.split_once("://").context("--database-url: expected postgres://…")?;
    let authority = rest.split('/').next().unwrap_or_default();
    Ok(format!("{scheme}://{authority}/{name}{options}"))
}

/// Drops the databases this run made (their servers have stopped).
pub async fn drop_scratch_databases(options: &crate::Options) {
    use sqlx::Connection;
    let names = std::mem::take(&mut *SCRATCH.lock().unwrap());
    let Some(server_url) = &options.database_url else { return };
    let Ok(mut server) = sqlx::PgConnection::connect(server_url).await else { return };
    for name in names {
        if let Err(error) =
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut server).await
        {
            eprintln!("could not drop the scratch database {name}: {error}");
        }
    }
}

fn free_address() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn proc_status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// 20,000 connections need more descriptors than the usual default, on both ends. Raise this process's limit
/// (a root process may raise the hard limit too); servers it starts inherit it.
pub fn raise_open_file_limit() {
    const WANTED: u64 = 65_536;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, WANTED, WANTED).is_err() {
        let _ = rlimit::increase_nofile_limit(WANTED);
    }
}

pub fn file_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|entries| entries.flatten().filter(|e| e.path().is_file()).count()).unwrap_or(0)
}

/// The CPU set holding `cores`.
fn cpu_set(cores: Range<usize>) -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET only writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for core in cores {
        unsafe { libc::CPU_SET(core, &mut set) };
    }
    set
}

/// Processes `command` starts run on `cores` only (and so do all their threads).
pub fn pin_children_to(command: &mut Command, cores: Range<usize>) {
    let set = cpu_set(cores);
    // SAFETY: between fork and exec the closure makes one system call and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// Moves every thread of this process onto `cores` (threads started later inherit it from their parent).
pub fn pin_this_process_to(cores: Range<usize>) -> anyhow::Result<()> {
    let set = cpu_set(cores);
    for task in std::fs::read_dir("/proc/self/task")?.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|tid| tid.parse::<libc::pid_t>().ok()) else { continue };
        // SAFETY: sched_setaffinity reads `set` and changes only thread `tid`'s CPU mask.
        if unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) } != 0 {
            anyhow::bail!("pinning thread {tid}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// An S3 server (s3s-fs, checking signatures) in the load tool's process, with one bucket, for the servers it
/// starts to keep their GIFs in.
pub struct TestBucket {
    root: tempfile::TempDir,
    server: s3_server::S3Server,
}

impl TestBucket {
    pub async fn start() -> anyhow::Result<TestBucket> {
        let root = tempfile::tempdir()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = s3_server::start(listener, root.path(), &["gifs"])?;
        Ok(TestBucket { root, server })
    }

    /// The uploads URL naming it.
    pub fn url(&self) -> String {
        format!("s3://gifs/load?endpoint={}", self.server.endpoint())
    }

    /// How many objects it holds.
    pub fn objects(&self) -> usize {
        file_count(&self.root.path().join("gifs/load/gif"))
    }
}
