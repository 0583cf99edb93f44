//! gif-chat's load tool: drives a real server over 127.0.0.1 through its public interfaces only (sessions, the
//! documented server functions, the live protocol, the upload endpoint) and prints figures.
//!
//! ```sh
//! cargo leptos build --release
//! cargo run --release -p load -- --server target/release/gif-chat
//! ```
//!
//! Scenarios: fan-out (one room, 1,000 live connections, one sender as fast as acknowledgements allow; also run
//! against a minimal broadcast-only server for the ceiling), fan-out at fixed rates (the same room, sends on a
//! timetable at 20, 40 and 60 a second, latency from each send's due time), reactions (the same room, 20 messages/s,
//! then again with 200 reactions/s on recent messages: the messages' latency with and without, every change
//! delivered once), alarms (a reaction's request to its author's alarm, on one instance and, with
//! `--database-url`, across two), chat-like (100 rooms × 10 people, 1 message/s each),
//! idle (20,000 open connections: memory per connection; bare, and joined to rooms as people use them), growth
//! (page time and memory against a room's history and the number of rooms), uploads (50 concurrent 2 MiB GIFs), pages (SSR
//! requests/s), abuse (people chat while one address floods sends, rooms, uploads and identities, rate limits
//! on), cluster (with `--database-url`: fan-out through one instance and split over two, and send→deliver
//! latency across instances). `--smoke` runs every scenario tiny and short, for CI.

mod abuse;
mod alarms;
mod client;
mod cluster;
mod gifs;
mod growth;
mod minimal;
mod process;
mod reactions;
mod scenarios;
mod stats;
mod table;
mod toolkit;
mod writes;

use std::path::PathBuf;

use clap::Parser;
use serde_json::json;

#[derive(Debug, Clone, Parser)]
#[command(name = "load", about = "Load tests for gif-chat")]
pub struct Options {
    /// The gif-chat server binary to start (a release build gives honest figures).
    #[arg(long, default_value = "target/release/gif-chat")]
    pub server: PathBuf,
    /// The built site (for the page scenario's SSR and the wasm size).
    #[arg(long, default_value = "target/site")]
    pub site_root: PathBuf,
    /// Which scenarios to run (comma-separated): fanout, fanout-rate, reactions, alarms, chat, writes, idle, idle-joined, growth,
    /// uploads, videos, library, pages, wasm, abuse, cluster; or all (cluster only with --database-url).
    #[arg(long, default_value = "all")]
    pub scenarios: String,
    /// The servers' database: without it each uses a SQLite file of its own (the default store); with a
    /// PostgreSQL URL (`postgres://user@host:port/any_database`), each gets a new database on that server,
    /// dropped when the run ends.
    #[arg(long)]
    pub database_url: Option<String>,
    /// The reactions scenario's reactions a second (its goal is met at 200).
    #[arg(long, default_value_t = 200)]
    pub reactions_per_sec: u32,
    /// Tiny numbers and a few seconds: proves the tool works (CI runs this).
    #[arg(long)]
    pub smoke: bool,
    /// The videos scenario's GIFs: a directory of real GIFs (scripts/gif-corpus/fetch.sh fills one); by default
    /// target/gif-corpus, or in a smoke run the end-to-end tests' clip.
    #[arg(long)]
    pub gif_corpus: Option<PathBuf>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "target/load/results.json")]
    pub json: PathBuf,
    /// Run as the minimal broadcast-only server (used by the fan-out ceiling; started by the tool itself).
    #[arg(long, hide = true)]
    pub minimal_server: Option<std::net::SocketAddr>,
    /// Run as the abuse scenario's attacker against this server (started by the tool itself).
    #[arg(long, hide = true)]
    pub attacker: Option<std::net::SocketAddr>,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios == "all" || self.scenarios.split(',').any(|s| s.trim() == scenario)
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    process::raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(addr) = options.minimal_server {
        return runtime.block_on(minimal::serve(addr));
    }
    if let Some(addr) = options.attacker {
        return runtime.block_on(abuse::attack(addr));
    }
    runtime.block_on(run(options))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let mut results = serde_json::Map::new();
    let mut table = table::Table::default();
    let mut failed = Vec::new();
    // A scenario that fails is reported and the others still run.
    macro_rules! scenario {
        ($name:literal, $run:expr, |$value:ident| $record:expr) => {
            if options.wants($name) {
                eprintln!("running {}…", $name);
                match $run {
                    Ok($value) => $record,
                    Err(error) => {
                        eprintln!("{} failed: {error:#}", $name);
                        results.insert($name.into(), json!({ "error": format!("{error:#}") }));
                        failed.push($name);
                    }
                }
            }
        };
    }
    scenario!("fanout", fanout_pair(&options).await, |pair| {
        let (ours, ceiling) = pair;
        let fraction = ours.deliveries_per_sec / ceiling.deliveries_per_sec.max(1.0);
        table.fanout(&ours, &ceiling, fraction);
        results
            .insert("fanout".into(), json!({ "gif_chat": ours, "minimal": ceiling, "fraction_of_minimal": fraction }));
    });
    scenario!("fanout-rate", scenarios::fanout_at_rates(&options).await, |runs| {
        table.fanout_at_rates(&runs);
        results.insert("fanout_rate".into(), serde_json::to_value(&runs)?);
    });
    scenario!("chat", scenarios::chat_like(&options).await, |chat| {
        table.chat(&chat);
        results.insert("chat_like".into(), serde_json::to_value(&chat)?);
    });
    scenario!("reactions", reactions::reactions(&options).await, |run| {
        table.reactions(&run);
        results.insert("reactions".into(), serde_json::to_value(&run)?);
    });
    scenario!("alarms", alarms::alarms(&options).await, |run| {
        table.alarms(&run);
        results.insert("alarms".into(), serde_json::to_value(&run)?);
    });
    scenario!("writes", writes::writes(&options).await, |writes| {
        table.writes(&writes);
        results.insert("writes".into(), serde_json::to_value(&writes)?);
    });
    scenario!("idle", scenarios::idle(&options).await, |idle| {
        table.idle(&idle);
        results.insert("idle".into(), serde_json::to_value(&idle)?);
    });
    scenario!("idle-joined", scenarios::idle_joined(&options).await, |idle| {
        table.idle(&idle);
        results.insert("idle_joined".into(), serde_json::to_value(&idle)?);
    });
    scenario!("growth", growth::growth(&options).await, |growth| {
        table.growth(&growth);
        results.insert("growth".into(), serde_json::to_value(&growth)?);
    });
    scenario!("uploads", uploads_pair(&options).await, |pair| {
        let (directory, bucket) = pair;
        table.uploads(&directory, &bucket);
        results.insert("uploads".into(), serde_json::to_value(&directory)?);
        results.insert("uploads_bucket".into(), serde_json::to_value(&bucket)?);
        let ratio = bucket.uploads_per_sec / directory.uploads_per_sec;
        results.insert("uploads_bucket_vs_directory".into(), json!(ratio));
    });
    scenario!("videos", gifs::videos(&options).await, |videos| {
        table.videos(&videos);
        results.insert("videos".into(), serde_json::to_value(&videos)?);
    });
    scenario!("library", gifs::library(&options).await, |library| {
        table.library(&library);
        results.insert("library".into(), serde_json::to_value(&library)?);
    });
    scenario!("pages", scenarios::pages(&options).await, |pages| {
        table.pages(&pages);
        results.insert("pages".into(), serde_json::to_value(&pages)?);
    });
    scenario!("abuse", abuse::abuse(&options).await, |abuse| {
        table.abuse(&abuse);
        results.insert("abuse".into(), serde_json::to_value(&abuse)?);
    });
    if options.wants("cluster") && options.database_url.is_none() && options.scenarios == "all" {
        eprintln!("cluster: skipped (several instances share a PostgreSQL database: give one with --database-url)");
    } else {
        scenario!("cluster", cluster::cluster(&options).await, |cluster| {
            table.cluster(&cluster);
            results.insert("cluster".into(), serde_json::to_value(&cluster)?);
        });
    }
    scenario!("wasm", scenarios::wasm_size(&options), |wasm| {
        table.wasm(&wasm);
        results.insert("wasm".into(), serde_json::to_value(&wasm)?);
    });
    results.insert("smoke".into(), options.smoke.into());
    results.insert("store".into(), process::store_name(&options).into());
    process::drop_scratch_databases(&options).await;
    results.insert("cores".into(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).into());

    table.print();
    if let Some(parent) = options.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.json, serde_json::to_string_pretty(&results)?)?;
    println!("\nresults written to {}", options.json.display());
    if !failed.is_empty() {
        anyhow::bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The uploads scenario with GIFs in the uploads directory, then in a bucket (one server each, one after the other).
async fn uploads_pair(options: &Options) -> anyhow::Result<(scenarios::Uploads, scenarios::Uploads)> {
    Ok((scenarios::uploads(options, false).await?, scenarios::uploads(options, true).await?))
}

async fn fanout_pair(options: &Options) -> anyhow::Result<(scenarios::FanOut, scenarios::FanOut)> {
    let ours = scenarios::fanout(options, scenarios::Target::GifChat).await?;
    let ceiling = scenarios::fanout(options, scenarios::Target::Minimal).await?;
    Ok((ours, ceiling))
}
