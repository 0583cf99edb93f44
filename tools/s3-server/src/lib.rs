//! A real S3 server for gif-chat's tests: [s3s-fs](https://docs.rs/s3s-fs), which keeps objects as files under a
//! directory and checks every request's signature (AWS Signature Version 4) as an S3 service would. The tests run
//! it inside their own process on 127.0.0.1:0; `scripts/cluster.sh` runs the binary beside the servers.

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

/// The credentials the test server accepts (any other signature is refused).
pub const ACCESS_KEY: &str = "gif-chat-test";
pub const SECRET_KEY: &str = "gif-chat-test-secret";

/// A running server; it stops when dropped.
pub struct S3Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// The endpoint to give a client: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves S3 on `listener` with objects under `root`, and creates `buckets` there (a bucket is a directory).
pub fn start(listener: TcpListener, root: &Path, buckets: &[&str]) -> anyhow::Result<S3Server> {
    for bucket in buckets {
        std::fs::create_dir_all(root.join(bucket))?;
    }
    let file_system = s3s_fs::FileSystem::new(root).map_err(|error| anyhow::anyhow!("{error:?}"))?;
    let service = {
        let mut builder = S3ServiceBuilder::new(file_system);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        builder.build()
    };
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let connections = Builder::new(TokioExecutor::new());
        // Stopped with the server (a stopped server keeps no connection open).
        let mut serving = tokio::task::JoinSet::new();
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let (connections, service) = (connections.clone(), service.clone());
            serving.spawn(async move {
                let _ = connections.serve_connection(TokioIo::new(socket), service).await;
            });
            while serving.try_join_next().is_some() {}
        }
    });
    Ok(S3Server { addr, task })
}
