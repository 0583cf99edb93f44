//! Starts gif-chat: parse the configuration, open the database, serve until SIGINT/SIGTERM.
// Leptos views are deeply nested types; release builds (no type erasure) need more than the default 128.
#![recursion_limit = "256"]

use clap::Parser;
use gif_chat::config::{Command, LogFormat};
use gif_chat::{Config, Server, shutdown_signal};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        // One object per line: the event's fields at the top level, and under "spans" those it was written in
        // (outermost first: a request's, with its id, then any inner ones).
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .with_env_filter(filter)
            .init(),
    }

    // Every live connection is a file descriptor: use all the process may have (the soft limit is often far
    // below the hard one).
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(%error, "could not raise the open-file limit");
    }
    match &config.command {
        Some(Command::Backup { file, gifs }) => {
            let report = gif_chat::backup::backup(&config, file, gifs.as_deref()).await?;
            println!("backed up to {}: {report}", file.display());
            return Ok(());
        }
        Some(Command::Restore { file, gifs }) => {
            let report = gif_chat::backup::restore(&config, file, gifs.as_deref()).await?;
            println!("restored {}: {report}", file.display());
            return Ok(());
        }
        Some(Command::CopyGifs { from }) => {
            let report = gif_chat::backup::copy_gifs(&config, from).await?;
            println!("copied the GIFs of {} in: {report}", from.display());
            return Ok(());
        }
        Some(Command::Library { action }) => {
            print!("{}", gif_chat::backup::library(&config, action).await?);
            return Ok(());
        }
        None => {}
    }
    let server = Server::build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    server.serve(listener, shutdown_signal()).await
}
