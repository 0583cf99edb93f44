//! A real S3 server for the tests of GIFs in object storage (s3s-fs, checking every request's signature), run in
//! the test's process on 127.0.0.1, which a test may stop and start again on the same address (an outage).
//!
//! With `GIF_CHAT_TEST_UPLOADS=s3` (`scripts/test.sh` sets it for a second run of the upload suite), every app
//! a test starts keeps its GIFs in a bucket of such a server instead of its uploads directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gif_chat::Config;
use tempfile::TempDir;

/// The variable that puts this run's apps on object storage.
pub const TEST_UPLOADS_ENV: &str = "GIF_CHAT_TEST_UPLOADS";

/// Whether this run's apps keep their GIFs in object storage (else in their uploads directory).
pub fn on_object_storage() -> bool {
    std::env::var(TEST_UPLOADS_ENV).is_ok_and(|value| value == "s3")
}

const BUCKET: &str = "gifs";
const PREFIX: &str = "chat";

pub struct TestS3 {
    root: TempDir,
    addr: SocketAddr,
    server: Mutex<Option<s3_server::S3Server>>,
}

impl TestS3 {
    pub async fn start() -> Arc<TestS3> {
        let root = tempfile::tempdir().expect("creating the S3 server's directory");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = s3_server::start(listener, root.path(), &[BUCKET]).expect("starting the S3 server");
        Arc::new(TestS3 { root, addr: server.addr, server: Mutex::new(Some(server)) })
    }

    /// Makes `config` keep its GIFs in this server's bucket.
    pub fn configure(&self, config: &mut Config) {
        config.uploads_url = Some(format!("s3://{BUCKET}/{PREFIX}?endpoint=http://{}", self.addr));
        let (id, secret) = (s3_server::ACCESS_KEY.into(), s3_server::SECRET_KEY.into());
        config.s3_keys = Some(chat::uploads::S3Keys { id, secret });
    }

    /// Where the bucket keeps the stored file `file` on disk (s3s-fs keeps each object as a file).
    pub fn object_path(&self, file: &str) -> PathBuf {
        self.objects_dir().join(file)
    }

    fn objects_dir(&self) -> PathBuf {
        self.root.path().join(BUCKET).join(PREFIX).join("gif")
    }

    /// Every object in the bucket.
    pub fn objects(&self) -> Vec<PathBuf> {
        let entries = std::fs::read_dir(self.objects_dir()).into_iter().flatten().flatten();
        entries.map(|entry| entry.path()).collect()
    }

    /// Stops the server: its address refuses connections, open ones close.
    pub fn stop(&self) {
        self.server.lock().unwrap().take();
    }

    /// Starts it again on the same address, with what it held.
    pub async fn resume(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.expect("the S3 server's address was taken");
        let server = s3_server::start(listener, self.root.path(), &[BUCKET]).expect("starting the S3 server");
        *self.server.lock().unwrap() = Some(server);
    }
}

/// moto's S3 server (a second implementation of S3, in Python) on a free loopback port, with an empty bucket, for
/// the test that the store works with more than one. It does not check signatures. Killed when dropped.
pub struct TestMoto {
    port: u16,
    child: std::process::Child,
}

impl TestMoto {
    pub async fn start() -> TestMoto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let program = super::servers::moto_server();
        let child = std::process::Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {} (scripts/setup.sh installs it): {error}", program.display()));
        let moto = TestMoto { port, child };
        // Up when it answers; then the bucket (moto makes one on a plain PUT).
        let client = reqwest::Client::new();
        let bucket = format!("http://127.0.0.1:{port}/{BUCKET}");
        let deadline = std::time::Instant::now() + super::PATIENCE * 3;
        loop {
            if let Ok(response) = client.put(&bucket).send().await
                && response.status().is_success()
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "moto's server did not start in time");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        moto
    }

    /// Makes `config` keep its GIFs in this server's bucket.
    pub fn configure(&self, config: &mut Config) {
        config.uploads_url = Some(format!("s3://{BUCKET}/{PREFIX}?endpoint=http://127.0.0.1:{}", self.port));
        config.s3_keys = Some(chat::uploads::S3Keys { id: "moto".into(), secret: "moto".into() });
    }
}

impl Drop for TestMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
