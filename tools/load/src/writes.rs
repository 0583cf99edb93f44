//! Write throughput: many people in many rooms, each sending their next message as soon as the last one is
//! acknowledged. Every acknowledgement is a commit, so this measures the store (SQLite's one writer, or
//! PostgreSQL's row locks per room) more than the fan-out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Options;
use crate::client::Visitor;
use crate::process::ServerProcess;
use crate::stats::{Latencies, Percentiles};
use crate::toolkit::{many, seat};

#[derive(Debug, Serialize)]
pub struct Writes {
    pub rooms: usize,
    pub senders_per_room: usize,
    pub seconds: f64,
    pub acknowledged: usize,
    pub per_sec: f64,
    /// From the send's request to its answer (which comes after the commit).
    pub ack: Percentiles,
    pub server_cpu_percent: f64,
    /// Sequence numbers missing between a room's acknowledged ones, and numbers given twice: both must be 0.
    pub gaps: usize,
    pub doubles: usize,
}

pub async fn writes(options: &Options) -> anyhow::Result<Writes> {
    let (rooms, per_room, duration) =
        if options.smoke { (2, 2, Duration::from_secs(2)) } else { (100, 10, Duration::from_secs(30)) };
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let addr = server.addr;
    let visitors = many(rooms * per_room, 32, |_| Visitor::arrive(&http, addr)).await?;
    // Seated, so that every message is also broadcast, as in a real room.
    let (room_ids, _lives) = seat(&visitors, per_room).await?;

    let cpu_before = server.cpu_time();
    let wall = Instant::now();
    let end = wall + duration;
    let senders: Vec<_> = visitors
        .iter()
        .enumerate()
        .map(|(n, visitor)| {
            let (visitor, room) = (visitor.clone(), room_ids[n / per_room]);
            tokio::spawn(async move {
                let (mut seqs, mut ack) = (Vec::new(), Latencies::default());
                let mut k = 0;
                while Instant::now() < end {
                    let started = Instant::now();
                    let seq = visitor.send(room, &format!("w{n}-{k}"), &format!("w{n}-{k}")).await?;
                    ack.0.push(started.elapsed().as_micros() as u64);
                    seqs.push(seq);
                    k += 1;
                }
                anyhow::Ok((room, seqs, ack))
            })
        })
        .collect();
    let mut by_room: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut ack = Latencies::default();
    for sender in senders {
        let (room, seqs, latencies) = sender.await??;
        by_room.entry(room).or_default().extend(seqs);
        ack.extend(latencies);
    }
    let seconds = wall.elapsed().as_secs_f64();
    let cpu = server.cpu_time() - cpu_before;

    // Every room's senders together got consecutive numbers, each once (the join messages came before them).
    let (mut gaps, mut doubles) = (0, 0);
    for seqs in by_room.values_mut() {
        seqs.sort_unstable();
        let before = seqs.len();
        seqs.dedup();
        doubles += before - seqs.len();
        if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
            gaps += (last - first + 1) as usize - seqs.len();
        }
    }
    let acknowledged = ack.0.len();
    Ok(Writes {
        rooms,
        senders_per_room: per_room,
        seconds,
        acknowledged,
        per_sec: acknowledged as f64 / seconds,
        ack: ack.percentiles(),
        server_cpu_percent: 100.0 * cpu.as_secs_f64() / seconds,
        gaps,
        doubles,
    })
}
