//! `s3-server --listen 127.0.0.1:9000 --bucket gifs DIR`: an S3 server for the cluster tests (see the library).
//! It prints its address when it is listening and serves until it is killed.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
struct Options {
    /// Where to listen (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Buckets to create if they are not there.
    #[arg(long)]
    bucket: Vec<String>,
    /// Where the objects are kept.
    root: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let buckets: Vec<&str> = options.bucket.iter().map(String::as_str).collect();
    let server = s3_server::start(listener, &options.root, &buckets)?;
    println!("listening on {}", server.addr);
    std::future::pending::<()>().await;
    Ok(())
}
