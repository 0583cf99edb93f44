//! Test harness: the real app on 127.0.0.1:0 with a fresh SQLite file and uploads directory per test.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::net::SocketAddr;
use std::path::PathBuf;

use gif_chat::{Config, Server};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub config: Config,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped last: the server must stop before its files disappear.
    _dir: TempDir,
}

/// Where `cargo leptos build` puts the site (JS, WASM, CSS, public assets).
pub fn site_root() -> PathBuf {
    std::env::var_os("LEPTOS_SITE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/site"))
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    let config = Config::for_dir(dir.path(), site_root());
    let server = Server::build(&config).await.expect("building the server");
    let listener = tokio::net::TcpListener::bind(config.addr).await.expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    let (shutdown, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .serve(listener, async move {
                let _ = stop.await;
            })
            .await
            .expect("serving");
    });
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    TestApp { addr, config, client, shutdown: Some(shutdown), _dir: dir }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET failed")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
