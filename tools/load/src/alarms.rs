//! Alarms: the time from a reaction's request to the alarm on its message's author's page, the author watching
//! their alarms on the same instance as the reactor, and (with `--database-url`) on another instance of the chat.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::Options;
use crate::client::{Live, Visitor};
use crate::process::{ServerProcess, Shared};
use crate::stats::{Latencies, Percentiles};

#[derive(Debug, Serialize)]
pub struct AlarmLatency {
    /// Reactions measured, one at a time, each on a message of its own (so each raises an alarm).
    pub samples: usize,
    pub same_instance: Percentiles,
    /// With `--database-url`: the author on instance 1, the reactor on instance 2.
    pub cross_instance: Option<Percentiles>,
}

pub async fn alarms(options: &Options) -> anyhow::Result<AlarmLatency> {
    let samples = if options.smoke { 5 } else { 200 };
    let same_instance = {
        let server = ServerProcess::gif_chat(options).await?;
        measure(server.addr, server.addr, samples).await?
    };
    let cross_instance = match options.database_url {
        Some(_) => {
            let shared = Shared::new(options).await?;
            let first = ServerProcess::instance_of(options, &shared).await?;
            let second = ServerProcess::instance_of(options, &shared).await?;
            Some(measure(first.addr, second.addr, samples).await?)
        }
        None => None,
    };
    Ok(AlarmLatency { samples, same_instance, cross_instance })
}

/// The author on `author_at` writes `samples` messages and watches their alarms; a reactor on `reactor_at` reacts
/// to each in turn: from the reaction's request to the alarm's arrival.
async fn measure(author_at: SocketAddr, reactor_at: SocketAddr, samples: usize) -> anyhow::Result<Percentiles> {
    let http = reqwest::Client::new();
    let author = Visitor::arrive(&http, author_at).await?;
    let reactor = Visitor::arrive(&http, reactor_at).await?;
    let room = author.create_room("alarms", 10).await?;
    let _author_present = author.join(room).await?;
    let _reactor_present = reactor.join(room).await?;
    let mut seqs = Vec::with_capacity(samples);
    for n in 0..samples {
        seqs.push(author.send(room, &format!("react to {n}"), &format!("a{n}")).await?);
    }
    let mut bell = author.connect("/ws").await?;
    bell.send(Message::text(r#"{"type":"watchAlarms","since":null}"#)).await?;
    next_of(&mut bell, "alarms").await?;
    let mut latencies = Latencies::default();
    for seq in seqs {
        let started = Instant::now();
        let (room, seq) = (room.to_string(), seq.to_string());
        reactor.call("react", &[("room", &room), ("seq", &seq), ("emoji", "🔥"), ("on", "true")]).await?;
        next_of(&mut bell, "alarm").await?;
        latencies.0.push(started.elapsed().as_micros() as u64);
    }
    Ok(latencies.percentiles())
}

/// Reads frames until one of type `kind` (5 s at most).
async fn next_of(live: &mut Live, kind: &str) -> anyhow::Result<()> {
    let prefix = format!(r#"{{"type":"{kind}","#);
    let wait = async {
        while let Some(message) = live.next().await {
            if let Message::Text(text) = message?
                && text.as_str().starts_with(&prefix)
            {
                return Ok(());
            }
        }
        bail!("the connection closed while waiting for {kind}")
    };
    tokio::time::timeout(Duration::from_secs(5), wait).await.with_context(|| format!("no {kind} in 5 s"))?
}
