//! The other real servers tests start: PostgreSQL and NATS servers of a test's own, the gif-chat binary as a
//! process to kill, and what a test needs installed to run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gif_chat::Config;
use tempfile::TempDir;

use super::*;

/// Another real server a test needs, from Debian's packages (`scripts/setup.sh` installs them all).
#[derive(Debug, Clone, Copy)]
pub enum Needs {
    /// `nats-server`, the broker between instances.
    Nats,
    /// nginx, with the `openssl` and `curl` programs the proxy test uses.
    Nginx,
    /// PostgreSQL's server programs (`initdb`, `pg_ctl`), for a server of the test's own.
    Postgres,
    /// moto's S3 server (`moto_server`, from PyPI), a second S3 implementation besides s3s-fs.
    Moto,
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
            Needs::Moto => !moto_server().is_file(),
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

/// moto's S3 server: `$MOTO_SERVER`, or where `scripts/setup.sh` installs it (a Python environment in target/).
pub fn moto_server() -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto/bin/moto_server"))
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
        Self::started(&[])
    }

    /// A server that also speaks TLS, with `certs`' server certificate.
    pub fn start_tls(certs: &TestCerts) -> TestPostgres {
        let (cert, key) = certs.server();
        Self::started(&[("PG_TLS_CERT", cert), ("PG_TLS_KEY", key)])
    }

    fn started(env: &[(&str, PathBuf)]) -> TestPostgres {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let output = Self::script("start", &dir, env);
        let url = String::from_utf8(output).unwrap().trim().to_owned();
        TestPostgres { url, dir }
    }

    /// Stops the server at once, as a crash would (its data stays).
    pub fn pause(&self) {
        Self::script("pause", &self.dir, &[]);
    }

    /// Starts it again on the same port.
    pub fn resume(&self) {
        Self::script("resume", &self.dir, &[]);
    }

    fn script(command: &str, dir: &TempDir, env: &[(&str, PathBuf)]) -> Vec<u8> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
        let output = std::process::Command::new(script)
            .args([command, &dir.path().join("pg").to_string_lossy()])
            // Durable: it is stopped as by a crash, and must come back with what it had committed.
            .env("PG_DURABLE", "1")
            .envs(env.iter().map(|(name, value)| (name, value)))
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
    /// Its options beyond the address.
    options: Vec<String>,
    child: Option<std::process::Child>,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        Self::started("nats", Vec::new())
    }

    /// A server that speaks only TLS, with `certs`' server certificate; with `verify_clients`, it also asks for
    /// a client certificate signed by their CA.
    pub fn start_tls(certs: &TestCerts, verify_clients: bool) -> TestBroker {
        let (cert, key) = certs.server();
        let mut options = vec!["--tlscert".into(), path(&cert), "--tlskey".into(), path(&key)];
        if verify_clients {
            options.extend(["--tlsverify".into(), "--tlscacert".into(), path(&certs.ca())]);
        } else {
            options.push("--tls".into());
        }
        Self::started("tls", options)
    }

    fn started(scheme: &str, options: Vec<String>) -> TestBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker = TestBroker { url: format!("{scheme}://127.0.0.1:{port}"), port, options, child: None };
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
            .args(&self.options)
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

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real gif-chat server process (the built binary), configured like `like` (its address, database, sessions,
/// broker, data and uploads directories) with `extra` flags on top: for tests that kill one as a crash would
/// (SIGKILL), stop it as a supervisor does, read what it logs, or need its runtime apart from the test's. With
/// `like.addr` at port 0 (as `Config::for_dir` makes it), it takes a free port. Killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub addr: SocketAddr,
    /// Everything it printed so far (its log on stdout, panics on stderr), line by line: the log tap.
    output: Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    pub fn spawn(like: &Config, extra: &[&str]) -> ServerProcess {
        Self::spawn_logging(like, extra, "info,sqlx=warn")
    }

    /// As [`ServerProcess::spawn`], with its log filtered by `log_filter` (`RUST_LOG`), which must let
    /// `gif_chat`'s "listening on" line (info) through: that line says where it listens.
    pub fn spawn_logging(like: &Config, extra: &[&str], log_filter: &str) -> ServerProcess {
        Self::spawned(Self::command(like, extra, log_filter))
    }

    /// The binary, configured like `like` with `extra` flags on top, its output piped.
    fn command(like: &Config, extra: &[&str], log_filter: &str) -> std::process::Command {
        std::fs::create_dir_all(&like.data_dir).expect("creating the data directory");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gif-chat"));
        command
            .arg(format!("--addr={}", like.addr))
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
            .env("RUST_LOG", log_filter)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// Starts the binary as [`ServerProcess::spawn`] does, for a start that must fail: waits for it to end
    /// (failing the test if it is still running after [`PATIENCE`]) and returns whether it succeeded and what
    /// it printed.
    pub fn start_refused(like: &Config, extra: &[&str]) -> (bool, String) {
        let mut child = Self::command(like, extra, "info,sqlx=warn").spawn().expect("starting the gif-chat binary");
        let deadline = std::time::Instant::now() + PATIENCE;
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server started, and runs");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        let printed = [output.stdout, output.stderr].concat();
        (output.status.success(), String::from_utf8_lossy(&printed).into_owned())
    }

    fn spawned(mut command: std::process::Command) -> ServerProcess {
        use std::io::BufRead;
        let mut child = command.spawn().expect("starting the gif-chat binary");
        let output = Arc::new(std::sync::Mutex::new(Vec::new()));
        // Both streams are read to the end (so that a full pipe never stops it), kept, and shown with the test's
        // output (where a failing test's is printed).
        let tap = |stream: Box<dyn std::io::Read + Send>, output: Arc<std::sync::Mutex<Vec<String>>>| {
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    eprintln!("[server] {line}");
                    output.lock().unwrap().push(line);
                }
            })
        };
        tap(Box::new(child.stdout.take().unwrap()), output.clone());
        tap(Box::new(child.stderr.take().unwrap()), output.clone());
        let deadline = std::time::Instant::now() + PATIENCE;
        let addr = loop {
            // "listening on http://127.0.0.1:PORT", as text or inside a JSON line.
            let listening = output.lock().unwrap().iter().find_map(|line| {
                let (_, rest) = line.split_once("listening on http://")?;
                let end = rest.find(|c: char| !(c.is_ascii_digit() || ".:[]".contains(c))).unwrap_or(rest.len());
                rest[..end].parse().ok()
            });
            if let Some(addr) = listening {
                break addr;
            }
            assert!(child.try_wait().unwrap().is_none(), "the server process ended before listening");
            assert!(std::time::Instant::now() < deadline, "the server process did not listen in time");
            std::thread::sleep(Duration::from_millis(20));
        };
        ServerProcess { child, addr, output }
    }

    /// What the process printed so far, line by line.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
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
