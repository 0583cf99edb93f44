//! Test harness: the real app on 127.0.0.1:0 with a fresh database and uploads directory per test, and
//! "people": each with their own cookie jar (so their own session), speaking HTTP and the websocket protocol.
//!
//! The database is a SQLite file in the test's temporary directory, or, when `GIF_CHAT_TEST_POSTGRES` names a
//! PostgreSQL server (`scripts/test.sh` starts one and runs every suite a second time), a new database of its
//! own on that server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chat::store::{Db, with_pool};
use chat::testing::{TEST_POSTGRES_ENV, create_scratch_database};
use gif_chat::{Config, Server};
use tempfile::TempDir;
use tokio::sync::oneshot;

mod live;
mod people;
mod s3;
mod servers;
mod tls;

pub use live::LiveClient;
pub use people::{TestPerson, person_at, person_behind_proxy};
pub use s3::{TestMoto, TestS3, on_object_storage};
pub(crate) use servers::require;
pub use servers::{Needs, ServerProcess, TestBroker, TestPostgres, available};
pub use tls::TestCerts;

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where its metrics are served (with `config.metrics_addr` set).
    pub metrics_addr: Option<SocketAddr>,
    pub config: Config,
    pub client: reqwest::Client,
    /// The running server's chat service, for tests that drive it directly or look at its memory.
    pub chat: Arc<chat::Chat>,
    /// Its rate limits (checked by the web's side, before the chat).
    pub limits: Arc<chat::limits::Limits>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// The S3 server holding its GIFs, when they are in object storage (shared by the instances of a cluster).
    pub s3: Option<Arc<TestS3>>,
    // Dropped last: the server must stop before its files disappear (shared by the instances of a cluster).
    _dir: Arc<TempDir>,
}

/// Whether this run's tests use PostgreSQL (else SQLite).
pub fn on_postgres() -> bool {
    std::env::var_os(TEST_POSTGRES_ENV).is_some()
}

/// The URL of a new, empty database for one test: a SQLite file under `dir` (the server's default place), or a
/// new database on the test run's PostgreSQL server.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match std::env::var(TEST_POSTGRES_ENV) {
        Ok(server) => create_scratch_database(&server).await.expect("creating a scratch PostgreSQL database"),
        Err(_) => format!("sqlite://{}", dir.join("data").join("gif-chat.db").display()),
    }
}

/// Where `cargo leptos build` puts the site (JS, WASM, CSS, public assets).
pub fn site_root() -> PathBuf {
    std::env::var_os("LEPTOS_SITE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/site"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with a configuration adjusted by `adjust` (short grace periods, small upload limits…).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let mut config = Config::for_dir(dir.path(), site_root());
    config.database_url = Some(fresh_database(dir.path()).await);
    let s3 = object_storage().await;
    if let Some(s3) = &s3 {
        s3.configure(&mut config);
    }
    adjust(&mut config);
    start_app(config, Arc::new(dir), s3).await
}

/// An S3 server for this run's apps, when they keep their GIFs in object storage (see [`on_object_storage`]).
async fn object_storage() -> Option<Arc<TestS3>> {
    if on_object_storage() { Some(TestS3::start().await) } else { None }
}

/// Starts `instances` servers that form one chat: one database, one uploads directory (or, with GIFs in object
/// storage, one bucket and an uploads directory each), one broker (a NATS server of the test's own, so a test may
/// stop it), each instance on its own address.
pub async fn spawn_cluster(instances: usize, adjust: impl Fn(&mut Config)) -> (Vec<TestApp>, TestBroker) {
    let broker = TestBroker::start();
    let apps = spawn_cluster_on(&broker, instances, adjust).await;
    (apps, broker)
}

/// As [`spawn_cluster`], joined by `broker`.
pub async fn spawn_cluster_on(broker: &TestBroker, instances: usize, adjust: impl Fn(&mut Config)) -> Vec<TestApp> {
    let dir = Arc::new(tempfile::tempdir().expect("creating a temp dir"));
    let database = fresh_database(dir.path()).await;
    let s3 = object_storage().await;
    let mut apps = Vec::new();
    for instance in 0..instances {
        let mut config = Config::for_dir(dir.path(), site_root());
        config.database_url = Some(database.clone());
        config.broker_url = Some(broker.url.clone());
        if let Some(s3) = &s3 {
            s3.configure(&mut config);
        }
        adjust(&mut config);
        if config.uploads_url.is_some() {
            // No shared file system: each instance has an uploads directory of its own.
            config.uploads_dir = dir.path().join(format!("uploads-{instance}"));
        }
        apps.push(start_app(config, dir.clone(), s3.clone()).await);
    }
    apps
}

/// Builds a server configured like [`spawn_app_with`]'s, for a start that must fail: what it said (the error
/// with its causes).
pub async fn start_refused(adjust: impl FnOnce(&mut Config)) -> String {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let mut config = Config::for_dir(dir.path(), site_root());
    config.database_url = Some(fresh_database(dir.path()).await);
    adjust(&mut config);
    match Server::build(&config).await {
        Ok(_) => panic!("the server started"),
        Err(error) => format!("{error:#}"),
    }
}

async fn start_app(mut config: Config, dir: Arc<TempDir>, s3: Option<Arc<TestS3>>) -> TestApp {
    let (addr, metrics_addr, shutdown, task, (chat, limits)) = start(&config).await;
    config.addr = addr;
    let client = reqwest::Client::builder().cookie_store(true).timeout(PATIENCE * 3).build().unwrap();
    TestApp { addr, metrics_addr, config, client, chat, limits, shutdown: Some(shutdown), task, s3, _dir: dir }
}

/// A started server: its address, its metrics' address, how to stop it, its task, its chat service and limits.
type Started = (SocketAddr, Option<SocketAddr>, oneshot::Sender<()>, tokio::task::JoinHandle<()>, Handles);
type Handles = (Arc<chat::Chat>, Arc<chat::limits::Limits>);

async fn start(config: &Config) -> Started {
    // `GIF_CHAT_TEST_LOG=warn,sqlx=info` (a tracing filter) shows the servers' logs in the test's output.
    if let Ok(filter) = std::env::var("GIF_CHAT_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let server = Server::build(config).await.expect("building the server");
    let handles = (server.state.chat.clone(), server.state.limits.clone());
    let metrics_addr = server.metrics_addr();
    let listener = tokio::net::TcpListener::bind(config.addr).await.expect("binding the test address");
    let addr = listener.local_addr().unwrap();
    let (shutdown, stop) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, async move {
                let _ = stop.await;
            })
            .await
            .expect("serving");
    });
    (addr, metrics_addr, shutdown, task, handles)
}

impl TestApp {
    /// Shuts the server down gracefully (close live connections first: they hold it open) and starts a new
    /// one on the same address, database and uploads. The old instance's timers still run in this process,
    /// so tests that restart use grace periods longer than themselves.
    pub async fn restart(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("shutdown in time").unwrap();
        let (_, metrics_addr, shutdown, task, (chat, limits)) = start(&self.config).await;
        self.metrics_addr = metrics_addr;
        self.shutdown = Some(shutdown);
        self.task = task;
        self.chat = chat;
        self.limits = limits;
    }

    /// Shuts the server down gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task).await.expect("shutdown in time").unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET failed")
    }

    /// A new person: a browser with its own session, which has loaded the room list once.
    pub async fn person(&self) -> TestPerson {
        person_at(self.addr).await
    }

    /// Opens a connection of its own and writes `bytes` by hand: for requests that stall or arrive in pieces.
    pub async fn send_raw(&self, bytes: &[u8]) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stream
    }

    /// A new person at client address `address`, as told by a reverse proxy (see [`person_behind_proxy`]).
    pub async fn person_from(&self, address: &str) -> TestPerson {
        person_behind_proxy(self.addr, Some(address)).await
    }

    /// Stored files and debris: the files in the uploads directory (recursively, so debris in the incoming
    /// directory counts too) but for the cache of a bucket, and the objects in the bucket.
    pub fn upload_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.file_name().is_some_and(|name| name == ".cache") {
                    continue;
                }
                if path.is_dir() { walk(&path, out) } else { out.push(path) }
            }
        }
        let mut files = Vec::new();
        walk(&self.config.uploads_dir, &mut files);
        if let Some(s3) = &self.s3 {
            files.extend(s3.objects());
        }
        files
    }

    /// Where the stored file `file` (a GIF or its still) is on disk: in the uploads directory, or in the S3
    /// server's directory.
    pub fn stored_path(&self, file: &str) -> PathBuf {
        match &self.s3 {
            Some(s3) => s3.object_path(file),
            None => self.config.uploads_dir.join(file),
        }
    }

    /// A new connection pool to the chat's database.
    pub async fn db(&self) -> Db {
        gif_chat::connect_database(&self.config).await.unwrap()
    }

    /// Runs `sql` (written for both databases) on the chat's database.
    pub async fn execute(&self, sql: &str) {
        with_pool!(&self.db().await, |pool| sqlx::query(sql).execute(pool).await.map(drop)).unwrap();
    }

    /// The number `sql` (a query for one integer) answers on the chat's database.
    pub async fn count(&self, sql: &str) -> i64 {
        with_pool!(&self.db().await, |pool| sqlx::query_scalar(sql).fetch_one(pool).await).unwrap()
    }

    /// The text `sql` (a query for one string) answers on the chat's database.
    pub async fn text(&self, sql: &str) -> String {
        with_pool!(&self.db().await, |pool| sqlx::query_scalar(sql).fetch_one(pool).await).unwrap()
    }

    /// The sessions' database.
    pub async fn sessions_db(&self) -> Db {
        gif_chat::connect_sessions(&self.config).await.unwrap()
    }

    /// The sessions' table, as tower-sessions' store for this database names it.
    pub fn sessions_table(&self) -> &'static str {
        if on_postgres() { "tower_sessions.session" } else { "tower_sessions" }
    }

    /// How many sessions are stored that `condition` (SQL, e.g. `TRUE`) holds for.
    pub async fn sessions_where(&self, condition: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", self.sessions_table());
        with_pool!(&self.sessions_db().await, |pool| sqlx::query_scalar(&sql).fetch_one(pool).await).unwrap()
    }

    /// How many sessions are stored.
    pub async fn session_rows(&self) -> i64 {
        self.sessions_where("TRUE").await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The first answer read from a hand-made request's connection, as text (status line, headers, body).
pub async fn first_answer(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = vec![0; 8192];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut answer)).await.expect("no answer in time").unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}

/// How long a test waits for an event that should come.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Waits until `holds` answers true (asked every 20 ms), failing the test with `what` after [`PATIENCE`]: for a
/// state the server reaches by itself (a departure complete, a lease renewed), instead of a fixed sleep.
pub async fn eventually<F, Fut>(what: &str, mut holds: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    while !holds().await {
        assert!(std::time::Instant::now() < deadline, "still not so after {PATIENCE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A small valid animated GIF (`frames` frames of `side`×`side`), made with the `gif` crate.
/// A small GIF (16 by 16, two frames) unlike any other this test process made: GIFs are stored by content, so
/// uploads of the same GIF share their files.
pub fn another_gif() -> Vec<u8> {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut bytes = Vec::new();
    {
        let palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        let mut encoder = gif::Encoder::new(&mut bytes, 16, 16, &palette).unwrap();
        encoder.set_repeat(gif::Repeat::Infinite).unwrap();
        // The first frame spells the number out, two bits a pixel; the second is plain.
        let spelled: Vec<u8> =
            (0..256).map(|pixel| if pixel < 32 { ((n >> (2 * pixel)) & 3) as u8 } else { 0 }).collect();
        for buffer in [spelled, vec![1; 256]] {
            let frame = gif::Frame { width: 16, height: 16, delay: 10, buffer: buffer.into(), ..gif::Frame::default() };
            encoder.write_frame(&frame).unwrap();
        }
    }
    bytes
}

pub fn make_gif(side: u16, frames: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255];
        let mut encoder = gif::Encoder::new(&mut bytes, side, side, &palette).unwrap();
        encoder.set_repeat(gif::Repeat::Infinite).unwrap();
        for n in 0..frames {
            let frame = gif::Frame {
                width: side,
                height: side,
                delay: 10,
                buffer: std::borrow::Cow::Owned(vec![(n % 3) as u8; usize::from(side) * usize::from(side)]),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
    }
    bytes
}
