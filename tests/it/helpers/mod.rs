//! Test harness: the real app on 127.0.0.1:0 with a fresh database and uploads directory per test, and
//! "people": each with their own cookie jar (so their own session), speaking HTTP and the websocket protocol.
//!
//! The database is a SQLite file in the test's temporary directory, or, when `GIF_CHAT_TEST_POSTGRES` names a
//! PostgreSQL server (`scripts/test.sh` starts one and runs every suite a second time), a new database of its
//! own on that server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chat::store::{Db, with_pool};
use chat::testing::{TEST_POSTGRES_ENV, create_scratch_database};
use futures_util::{SinkExt, StreamExt};
use gif_chat::{Config, Server};
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, Person, RoomAccess, RoomId, RoomSummary, Roster};
use reqwest::cookie::{CookieStore, Jar};
use serde::de::DeserializeOwned;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

pub struct TestApp {
    pub addr: SocketAddr,
    /// Where its metrics are served (with `config.metrics_addr` set).
    pub metrics_addr: Option<SocketAddr>,
    pub config: Config,
    pub client: reqwest::Client,
    /// The running server's chat service, for tests that drive it directly or look at its memory.
    pub chat: Arc<chat::Chat>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
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
    adjust(&mut config);
    start_app(config, Arc::new(dir)).await
}

/// Starts `instances` servers that form one chat: one database, one uploads directory, one broker (a NATS server
/// of the test's own, so a test may stop it), each instance on its own address.
pub async fn spawn_cluster(instances: usize, adjust: impl Fn(&mut Config)) -> (Vec<TestApp>, TestBroker) {
    let broker = TestBroker::start();
    let dir = Arc::new(tempfile::tempdir().expect("creating a temp dir"));
    let database = fresh_database(dir.path()).await;
    let mut apps = Vec::new();
    for _ in 0..instances {
        let mut config = Config::for_dir(dir.path(), site_root());
        config.database_url = Some(database.clone());
        config.broker_url = Some(broker.url.clone());
        adjust(&mut config);
        apps.push(start_app(config, dir.clone()).await);
    }
    (apps, broker)
}

async fn start_app(mut config: Config, dir: Arc<TempDir>) -> TestApp {
    let (addr, metrics_addr, shutdown, task, chat) = start(&config).await;
    config.addr = addr;
    let client = reqwest::Client::builder().cookie_store(true).timeout(PATIENCE * 3).build().unwrap();
    TestApp { addr, metrics_addr, config, client, chat, shutdown: Some(shutdown), task, _dir: dir }
}

/// Another real server a test needs, from Debian's packages (`scripts/setup.sh` installs them all).
#[derive(Debug, Clone, Copy)]
pub enum Needs {
    /// `nats-server`, the broker between instances.
    Nats,
    /// nginx, with the `openssl` and `curl` programs the proxy test uses.
    Nginx,
    /// PostgreSQL's server programs (`initdb`, `pg_ctl`), for a server of the test's own.
    Postgres,
}

/// Whether every program in `needs` is installed. A test that finds one missing is skipped with a message (plain
/// `cargo test` on a machine without it), unless `GIF_CHAT_REQUIRE_ALL` is set, as `make test` does: there a
/// missing server fails the test.
pub fn available(needs: &[Needs]) -> bool {
    let on_path = |program: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    let installed = |program: &str| on_path(program) || Path::new("/usr/sbin").join(program).is_file();
    let missing: Vec<String> = needs
        .iter()
        .filter(|need| match need {
            Needs::Nats => std::env::var_os("NATS_SERVER").is_none() && !installed("nats-server"),
            Needs::Nginx => !(installed("nginx") && installed("openssl") && installed("curl")),
            Needs::Postgres => !postgres_installed(),
        })
        .map(|need| format!("{need:?}"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!("needs {} (scripts/setup.sh installs it)", missing.join(", "));
    assert!(std::env::var_os("GIF_CHAT_REQUIRE_ALL").is_none(), "{message}");
    eprintln!("skipped: {message}");
    false
}

/// Debian's PostgreSQL server programs, whatever the version.
fn postgres_installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .is_ok_and(|versions| versions.flatten().any(|version| version.path().join("bin/initdb").is_file()))
}

/// Skips the test (returns) unless the servers it needs are installed: see [`available`].
macro_rules! require {
    ($($need:ident),+) => {
        if !$crate::helpers::available(&[$($crate::helpers::Needs::$need),+]) {
            return;
        }
    };
}
pub(crate) use require;

/// A durable PostgreSQL server of one test's own (`scripts/postgres.sh`), for tests that stop it. Deleted when
/// dropped.
pub struct TestPostgres {
    /// Its database `gif_chat`.
    pub url: String,
    dir: TempDir,
}

impl TestPostgres {
    pub fn start() -> TestPostgres {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let output = Self::script("start", &dir);
        let url = String::from_utf8(output).unwrap().trim().to_owned();
        TestPostgres { url, dir }
    }

    /// Stops the server at once, as a crash would (its data stays).
    pub fn pause(&self) {
        Self::script("pause", &self.dir);
    }

    /// Starts it again on the same port.
    pub fn resume(&self) {
        Self::script("resume", &self.dir);
    }

    fn script(command: &str, dir: &TempDir) -> Vec<u8> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let output = std::process::Command::new(script)
            .args([command, &dir.path().join("pg").to_string_lossy()])
            // Durable: it is stopped as by a crash, and must come back with what it had committed.
            .env("PG_DURABLE", "1")
            .output()
            .expect("running scripts/postgres.sh");
        assert!(output.status.success(), "postgres.sh {command}: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let _ = std::process::Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh"))
            .args(["stop", &self.dir.path().join("pg").to_string_lossy()])
            .output();
    }
}

/// A NATS server of one test's own, on a free loopback port: `nats-server` from `$NATS_SERVER`, the PATH, or
/// Debian's place for it. Stopped when dropped.
pub struct TestBroker {
    pub url: String,
    port: u16,
    child: Option<std::process::Child>,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = TestBroker { url: format!("nats://127.0.0.1:{port}"), port, child: None };
        broker.resume();
        broker
    }

    /// Ends the server at once (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, and waits until it accepts connections.
    pub fn resume(&mut self) {
        let program = std::env::var("NATS_SERVER").unwrap_or_else(|_| {
            let on_path = std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("nats-server").is_file()));
            if on_path { "nats-server".into() } else { "/usr/sbin/nats-server".into() }
        });
        let child = std::process::Command::new(&program)
            .args(["--addr", "127.0.0.1", "--port", &self.port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {program} (scripts/setup.sh installs it): {error}"));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "the NATS server did not start in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real gif-chat server process (the built binary), configured like `like` (its database, sessions, broker,
/// data and uploads directories) with `extra` flags on top, on a free port: for tests that kill one as a crash
/// would (SIGKILL). Killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    pub fn spawn(like: &Config, extra: &[&str]) -> ServerProcess {
        use std::io::BufRead;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gif-chat"));
        command
            .arg("--addr=127.0.0.1:0")
            .arg(format!("--database-url={}", like.database_url()))
            .arg(format!("--sessions-database-url={}", like.sessions_database_url()))
            .arg("--data-dir")
            .arg(&like.data_dir)
            .arg("--uploads-dir")
            .arg(&like.uploads_dir)
            .arg("--site-root")
            .arg(&like.site_root)
            .args(like.broker_url.iter().map(|url| format!("--broker-url={url}")))
            .args(extra)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        let mut child = command.spawn().expect("starting the gif-chat binary");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the server process ended before listening").unwrap();
            if let Some((_, rest)) = line.split_once("listening on http://") {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep reading its log, so that the pipe never fills and stops it.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, addr }
    }

    /// Asks the process to stop, as a supervisor does (SIGTERM).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|status| status.success()), "sending SIGTERM");
    }

    /// Waits up to `patience` for the process to end; whether it did.
    pub fn wait_for_exit(&mut self, patience: Duration) -> bool {
        let deadline = std::time::Instant::now() + patience;
        while std::time::Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills the process at once (SIGKILL): no shutdown, nothing handed over.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A started server: its address, its metrics' address, how to stop it, its task, its chat service.
type Started = (SocketAddr, Option<SocketAddr>, oneshot::Sender<()>, tokio::task::JoinHandle<()>, Arc<chat::Chat>);

async fn start(config: &Config) -> Started {
    // `GIF_CHAT_TEST_LOG=warn,sqlx=info` (a tracing filter) shows the servers' logs in the test's output.
    if let Ok(filter) = std::env::var("GIF_CHAT_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    let server = Server::build(config).await.expect("building the server");
    let chat = server.state.chat.clone();
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
    (addr, metrics_addr, shutdown, task, chat)
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
        let (_, metrics_addr, shutdown, task, chat) = start(&self.config).await;
        self.metrics_addr = metrics_addr;
        self.shutdown = Some(shutdown);
        self.task = task;
        self.chat = chat;
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

    /// Files in the uploads directory (recursively, so debris in the incoming directory counts too).
    pub fn upload_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() { walk(&path, out) } else { out.push(path) }
            }
        }
        let mut files = Vec::new();
        walk(&self.config.uploads_dir, &mut files);
        files
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

/// A new person on the server at `addr`.
pub async fn person_at(addr: SocketAddr) -> TestPerson {
    person_behind_proxy(addr, None).await
}

/// A new person whose requests say, as a reverse proxy would, that they come from `forwarded_for`
/// (`X-Forwarded-For`; believed only if the server trusts 127.0.0.1 as a proxy).
pub async fn person_behind_proxy(addr: SocketAddr, forwarded_for: Option<&str>) -> TestPerson {
    let jar = Arc::new(Jar::default());
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(client) = forwarded_for {
        headers.insert("X-Forwarded-For", client.parse().unwrap());
    }
    // A request that never ends fails the test with a message instead of hanging it.
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers(headers)
        .timeout(PATIENCE * 3)
        .build()
        .unwrap();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let forwarded_for = forwarded_for.map(str::to_owned);
    let mut person = TestPerson { addr, client, jar, me: None, forwarded_for };
    person.me = Some(person.call::<Person>("whoami", &[]).await.expect("whoami"));
    person
}

/// An error answer: the HTTP status and the message the UI would show.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

#[derive(Clone)]
pub struct TestPerson {
    addr: SocketAddr,
    pub client: reqwest::Client,
    jar: Arc<Jar>,
    me: Option<Person>,
    forwarded_for: Option<String>,
}

impl TestPerson {
    pub fn me(&self) -> &Person {
        self.me.as_ref().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same person (the same session cookie) talking to the server at `addr`: another instance of a
    /// cluster, as a load balancer without stickiness would send them.
    pub fn via(&self, addr: SocketAddr) -> TestPerson {
        TestPerson { addr, ..self.clone() }
    }

    /// Calls a server function the way a script would: form-encoded arguments, JSON back.
    pub async fn call<T: DeserializeOwned>(&self, endpoint: &str, args: &[(&str, &str)]) -> Result<T, Refusal> {
        self.try_call(endpoint, args).await.expect("server function request failed")
    }

    /// Like [`TestPerson::call`], but a failed request (server down) is an `Err` instead of a panic.
    pub async fn try_call<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        args: &[(&str, &str)],
    ) -> Result<Result<T, Refusal>, reqwest::Error> {
        let response = self
            .client
            .post(self.url(&format!("/api/{endpoint}")))
            .header("Accept", "application/json")
            .form(args)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok(Self::answer(endpoint, status, body))
    }

    fn answer<T: DeserializeOwned>(endpoint: &str, status: u16, body: String) -> Result<T, Refusal> {
        if (200..300).contains(&status) {
            Ok(serde_json::from_str(&body).unwrap_or_else(|e| panic!("{endpoint}: {e}: {body}")))
        } else {
            let error: protocol::error::AppError =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{endpoint} error {status}: {e}: {body}"));
            Err(Refusal { status, message: error.to_string() })
        }
    }

    /// Follows `live` (the connection of a page in `room`) until `count` people are in the room as the page
    /// knows it, and returns its list. As the page does, it holds changes that do not add up, and loads the whole
    /// list when they have been held for a second (it joined after others, or missed a change; counted in
    /// `live.reloads`). The events it reads are kept for `next`.
    pub async fn people_in(
        &self,
        live: &mut LiveClient,
        room: RoomId,
        count: u32,
    ) -> Vec<protocol::model::Participant> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut held_since = None;
        while live.roster.is_waiting() || live.roster.people().len() != count as usize {
            assert!(tokio::time::Instant::now() < deadline, "never {count} people: {:?}", live.roster.people());
            held_since = if live.roster.is_waiting() { held_since.or(Some(tokio::time::Instant::now())) } else { None };
            if held_since.is_some_and(|since| since.elapsed() >= Duration::from_secs(1)) {
                let room = room.to_string();
                let whole: protocol::model::People = self.call("who_is_here", &[("room", &room)]).await.unwrap();
                live.roster.replace(whole.people, whole.version);
                live.reloads += 1;
                held_since = None;
                continue;
            }
            match tokio::time::timeout(Duration::from_millis(100), live.read()).await {
                Ok(Some(event)) => live.unread.push_back(event),
                Ok(None) => panic!("the connection closed while waiting for {count} people"),
                Err(_nothing_yet) => {}
            }
        }
        live.roster.people().to_vec()
    }

    /// Posts a form to a server function as a browser without the WASM does (it accepts HTML), from the page
    /// `from`; the answer is not followed.
    pub async fn post_form(&self, endpoint: &str, args: &[(&str, &str)], from: &str) -> reqwest::Response {
        self.plain_client()
            .post(self.url(&format!("/api/{endpoint}")))
            .header("Accept", "text/html,application/xhtml+xml")
            .header("Referer", self.url(from))
            .form(args)
            .send()
            .await
            .expect("form post failed")
    }

    /// Loads a page as a browser does (with this person's cookies), without following redirects.
    pub async fn page(&self, path: &str) -> reqwest::Response {
        self.plain_client().get(self.url(path)).header("Accept", "text/html").send().await.expect("GET failed")
    }

    fn plain_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_provider(self.jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PATIENCE * 3)
            .build()
            .unwrap()
    }

    pub async fn create_room(&self, title: &str, max: u32, password: &str) -> Result<RoomSummary, Refusal> {
        self.call("create_room", &[("title", title), ("max_members", &max.to_string()), ("password", password)]).await
    }

    pub async fn room_page(&self, id: RoomId) -> RoomAccess {
        self.call("room_page", &[("id", &id.to_string())]).await.unwrap()
    }

    pub async fn enter(&self, id: RoomId, password: &str) -> Result<(), Refusal> {
        self.call("enter_room", &[("id", &id.to_string()), ("password", password)]).await
    }

    pub async fn send(&self, room: RoomId, body: &str) -> Result<ChatMessage, Refusal> {
        self.call("send_message", &[("room", &room.to_string()), ("body", body)]).await
    }

    /// Sends with the client's own message id, as the browser does (so a retry is safe).
    pub async fn send_once(
        &self,
        room: RoomId,
        body: &str,
        client_id: &str,
    ) -> Result<Result<ChatMessage, Refusal>, reqwest::Error> {
        self.try_call("send_message", &[("room", &room.to_string()), ("body", body), ("client_id", client_id)]).await
    }

    /// Every person tries to join `room` at the same moment; returns how many got in (the rest must have been
    /// refused as full). The connections stay open until the caller drops them.
    pub async fn join_all_at_once(people: &[TestPerson], room: RoomId) -> (usize, Vec<LiveClient>) {
        let attempts = people.iter().map(|person| async move {
            let mut live = person.connect().await;
            live.send(&ClientCommand::Join { room, since: None }).await;
            let joined = live
                .expect(|e| match e {
                    LiveEvent::Joined { .. } => Some(true),
                    LiveEvent::Refused { reason: protocol::error::Refusal::Full, .. } => Some(false),
                    _ => None,
                })
                .await;
            (joined, live)
        });
        let results = futures_util::future::join_all(attempts).await;
        let joined = results.iter().filter(|(joined, _)| *joined).count();
        (joined, results.into_iter().map(|(_, live)| live).collect())
    }

    /// Joins `room` on a new connection, resuming after `since`, retrying until the server answers.
    pub async fn rejoin(&self, room: RoomId, since: i64) -> LiveClient {
        loop {
            if let Ok(mut live) = self.connect_with_origin(None).await {
                live.send(&ClientCommand::Join { room, since: Some(since) }).await;
                return live;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Uploads `bytes` as the `gif` field, named `file_name`.
    pub async fn upload(&self, room: &str, file_name: &str, bytes: Vec<u8>) -> Result<ChatMessage, Refusal> {
        let part =
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("image/gif").unwrap();
        let form = reqwest::multipart::Form::new().part("gif", part);
        let response = self.client.post(self.url(&format!("/room/{room}/gif"))).multipart(form).send().await.unwrap();
        json_or_refusal(response).await
    }

    pub fn cookie_header(&self) -> String {
        let url = self.url("/").parse().unwrap();
        self.jar.cookies(&url).expect("no session cookie").to_str().unwrap().to_owned()
    }

    /// Opens the live channel as a same-origin page would.
    pub async fn connect(&self) -> LiveClient {
        self.connect_with_origin(Some(&format!("http://{}", self.addr))).await.expect("websocket handshake")
    }

    pub async fn connect_with_origin(&self, origin: Option<&str>) -> Result<LiveClient, tungstenite::Error> {
        let mut request = format!("ws://{}/ws", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("Cookie", self.cookie_header().parse().unwrap());
        if let Some(client) = &self.forwarded_for {
            request.headers_mut().insert("X-Forwarded-For", client.parse().unwrap());
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().unwrap());
        }
        let (stream, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
            .await
            .expect("the websocket handshake did not finish in time")?;
        Ok(LiveClient::new(stream))
    }

    /// Opens the live channel over a socket with a tiny receive buffer (4 KiB), joins `room` and waits until
    /// joined: a reader that can be made to fall behind, or never to read at all.
    pub async fn join_with_small_buffer(&self, room: RoomId) -> LiveClient {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(self.addr).await.unwrap();
        let mut request = format!("ws://{}/ws", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("Cookie", self.cookie_header().parse().unwrap());
        let (stream, _) = tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket handshake");
        let mut live = LiveClient::new(stream);
        live.send(&ClientCommand::Join { room, since: None }).await;
        live.expect(|event| matches!(event, LiveEvent::Joined { .. }).then_some(())).await;
        live
    }

    /// Opens the live channel and joins `room`; returns the client and the count present.
    pub async fn join(&self, room: RoomId) -> (LiveClient, u32) {
        let mut live = self.connect().await;
        live.send(&ClientCommand::Join { room, since: None }).await;
        let present = live
            .expect(|event| match event {
                LiveEvent::Joined { present, .. } => Some(*present),
                LiveEvent::Refused { message, .. } => panic!("join refused: {message}"),
                _ => None,
            })
            .await;
        (live, present)
    }
}

/// An answer of the upload route: the same JSON error shape as the server functions'.
pub async fn json_or_refusal<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, Refusal> {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    TestPerson::answer("upload", status, body)
}

pub type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct LiveClient {
    pub stream: Stream,
    /// Who is here, as a page following the `people` events it received knows it (from an empty list).
    pub roster: Roster,
    /// How many times the list had to be loaded whole (`TestPerson::people_in`).
    pub reloads: u32,
    /// Events read ahead (by `TestPerson::people_in`) that `next` has not returned yet.
    unread: std::collections::VecDeque<LiveEvent>,
}

/// How long a test waits for an event that should come.
pub const PATIENCE: Duration = Duration::from_secs(10);

impl LiveClient {
    pub fn new(stream: Stream) -> LiveClient {
        LiveClient { stream, roster: Roster::default(), reloads: 0, unread: Default::default() }
    }

    pub async fn send(&mut self, command: &ClientCommand) {
        self.stream.send(Message::text(serde_json::to_string(command).unwrap())).await.unwrap();
    }

    /// The next event, or None if the connection closed.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        match self.unread.pop_front() {
            Some(event) => Some(event),
            None => tokio::time::timeout(PATIENCE, self.read()).await.expect("no event in time"),
        }
    }

    /// Reads the next event off the connection (None if it closed), and follows who is here with it.
    async fn read(&mut self) -> Option<LiveEvent> {
        loop {
            match self.stream.next().await?.ok()? {
                Message::Text(text) => {
                    let event = serde_json::from_str(&text).expect("a valid event");
                    if let LiveEvent::People { change, .. } = &event {
                        self.roster.receive(change.clone());
                    }
                    return Some(event);
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next event, or None if the connection closed or broke (no panic: the server may be gone).
    pub async fn next_or_closed(&mut self) -> Option<LiveEvent> {
        match self.unread.pop_front() {
            Some(event) => Some(event),
            None => tokio::time::timeout(PATIENCE, self.read()).await.ok()?,
        }
    }

    /// Skips events until `pick` returns something.
    pub async fn expect<T>(&mut self, mut pick: impl FnMut(&LiveEvent) -> Option<T>) -> T {
        loop {
            let event = self.next().await.expect("connection closed while waiting for an event");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    /// The next `chat` message (skipping other events).
    pub async fn next_chat(&mut self) -> ChatMessage {
        self.expect(|event| match event {
            LiveEvent::Chat { message } => Some(message.clone()),
            _ => None,
        })
        .await
    }

    /// Waits until nothing arrives for `quiet`, returning what did.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<LiveEvent> {
        let mut events: Vec<LiveEvent> = self.unread.drain(..).collect();
        while let Ok(Some(event)) = tokio::time::timeout(quiet, self.read()).await {
            events.push(event);
        }
        events
    }

    /// Reads until the server closes the connection; its close code, if it sent one.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.stream.next()).await.expect("the connection stayed open") {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// A small valid animated GIF (`frames` frames of `side`×`side`), made with the `gif` crate.
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
