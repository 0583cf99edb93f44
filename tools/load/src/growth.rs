//! Growth: what a page costs as the data grows. A room's page shows its latest messages, so its time must not
//! grow with the room's history; the room list shows one page of rooms, so its time must not grow with the
//! number of rooms. Each step adds data through the public interfaces, then times the page and reads the
//! server's memory.

use std::time::Instant;

use serde::Serialize;

use crate::Options;
use crate::client::Visitor;
use crate::process::ServerProcess;
use crate::stats::{Latencies, Percentiles};
use crate::toolkit::{AbortOnDrop, drain, many, seat};

/// Requests per measurement, one after another.
const SAMPLES: usize = 50;
/// People sending at once while a room's history is filled.
const FILLERS: usize = 20;

#[derive(Debug, Serialize)]
pub struct Growth {
    pub history: Vec<Step>,
    pub rooms: Vec<Step>,
}

/// The page's time and the server's memory once there were `size` messages in the room (or rooms on the list).
#[derive(Debug, Serialize)]
pub struct Step {
    pub size: usize,
    pub page: Percentiles,
    pub page_bytes: usize,
    pub rss_kib: u64,
}

pub async fn growth(options: &Options) -> anyhow::Result<Growth> {
    let (messages, rooms) = if options.smoke {
        (vec![10, 100], vec![10, 100])
    } else {
        (vec![10, 1_000, 100_000], vec![10, 1_000, 10_000])
    };
    Ok(Growth { history: history(options, &messages).await?, rooms: room_list(options, &rooms).await? })
}

/// One room's page at each history size.
async fn history(options: &Options, sizes: &[usize]) -> anyhow::Result<Vec<Step>> {
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let fillers = many(FILLERS, 8, |_| Visitor::arrive(&http, server.addr)).await?;
    let (rooms, lives) = seat(&fillers, FILLERS).await?;
    // The fillers stay in the room, reading what it sends them as a browser would (a connection that reads
    // nothing is dropped as too slow, and its person leaves).
    let _readers: Vec<_> = lives.into_iter().map(|live| AbortOnDrop(tokio::spawn(drain(live)))).collect();
    let room = rooms[0];
    // One of the people in the room (it is full) looks at its page.
    let reader = fillers[0].clone();
    let mut steps = Vec::new();
    // The fillers' arrivals are messages too ("… joined").
    let mut sent = FILLERS;
    for &size in sizes {
        let (from, to) = (sent, size.max(sent));
        many(to - from, FILLERS, |n| {
            let filler = fillers[n % FILLERS].clone();
            async move { filler.send(room, &format!("message {}", from + n), &format!("g{}", from + n)).await }
        })
        .await?;
        sent = to;
        // The room's real size: its first step holds at least the fillers' arrivals.
        steps.push(measure(&server, &reader, &format!("/room/{room}"), to).await?);
    }
    Ok(steps)
}

/// The room list at each number of rooms.
async fn room_list(options: &Options, sizes: &[usize]) -> anyhow::Result<Vec<Step>> {
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let owners = many(FILLERS, 8, |_| Visitor::arrive(&http, server.addr)).await?;
    let reader = Visitor::arrive(&http, server.addr).await?;
    let (mut made, mut steps) = (0, Vec::new());
    for &size in sizes {
        let from = made;
        many(size.saturating_sub(made), FILLERS, |n| {
            let owner = owners[n % FILLERS].clone();
            async move { owner.create_room(&format!("room {}", from + n), 10).await }
        })
        .await?;
        made = size.max(made);
        steps.push(measure(&server, &reader, "/", size).await?);
    }
    Ok(steps)
}

async fn measure(server: &ServerProcess, reader: &Visitor, path: &str, size: usize) -> anyhow::Result<Step> {
    let mut times = Latencies::default();
    let mut page_bytes = 0;
    for _ in 0..SAMPLES {
        let started = Instant::now();
        page_bytes = reader.get(path).await?;
        times.0.push(started.elapsed().as_micros() as u64);
    }
    Ok(Step { size, page: times.percentiles(), page_bytes, rss_kib: server.rss_kib() })
}
