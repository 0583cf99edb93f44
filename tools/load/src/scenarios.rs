//! The scenarios. Each starts its own server, drives it, and returns figures.
//! (Over 400 lines: the fan-out scenarios and the scenarios of one server, kept side by side to stay comparable;
//! what they build on is in `toolkit.rs`.)

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::Options;
use crate::client::{Live, Visitor, chat_message};
use crate::process::{ServerProcess, file_count};
use crate::stats::{Latencies, Percentiles};
use crate::toolkit::{AbortOnDrop, Received, drain, many, now_us, on_timetable, receive_until_stop, seat, sent_at};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    GifChat,
    Minimal,
}

#[derive(Debug, Serialize)]
pub struct FanOut {
    pub receivers: usize,
    pub seconds: f64,
    pub sends: u64,
    pub sends_per_sec: f64,
    pub delivered: u64,
    pub expected: u64,
    pub deliveries_per_sec: f64,
    pub latency: Percentiles,
    /// With several servers: the latency seen by each one's receivers (the first is the sender's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latency_by_server: Vec<Percentiles>,
}

/// One room, `people × tabs` live connections, one sender sending as fast as acknowledgements allow.
pub async fn fanout(options: &Options, target: Target) -> anyhow::Result<FanOut> {
    let server = match target {
        Target::GifChat => ServerProcess::gif_chat(options).await?,
        Target::Minimal => ServerProcess::minimal().await?,
    };
    fan_out_across(options, target, &[server.addr]).await
}

/// The same room and connections, with sends on a timetable instead: `rate` a second whether or not the last one
/// was acknowledged (open loop, several in flight), for 10 s. Latency counts from each send's due time, so a
/// moment when the server falls behind shows in the figures instead of slowing the sender down.
#[derive(Debug, Serialize)]
pub struct OpenLoop {
    pub rate: u32,
    pub fanout: FanOut,
    /// The minimal broadcaster at the same rate: this machine's floor.
    pub minimal: FanOut,
}

pub async fn fanout_at_rates(options: &Options) -> anyhow::Result<Vec<OpenLoop>> {
    let rates: &[u32] = if options.smoke { &[10] } else { &[20, 40, 60] };
    let mut runs = Vec::new();
    for &rate in rates {
        let server = ServerProcess::gif_chat(options).await?;
        let fanout = fan_out_across_paced(options, &[server.addr], Some(rate)).await?;
        drop(server);
        let floor = ServerProcess::minimal().await?;
        let minimal = fan_out_minimal(options, floor.addr, Some(rate)).await?;
        runs.push(OpenLoop { rate, fanout, minimal });
    }
    Ok(runs)
}

/// The fan-out over `servers` (the instances of one chat): the sender sends through the first, each person's
/// tabs are spread over all of them. Besides the overall latency, gives each server's receivers' own.
pub async fn fan_out_across(options: &Options, target: Target, servers: &[SocketAddr]) -> anyhow::Result<FanOut> {
    match target {
        Target::GifChat => fan_out_across_paced(options, servers, None).await,
        Target::Minimal => fan_out_minimal(options, servers[0], None).await,
    }
}

/// People, tabs each, and how long the sender sends.
fn fan_out_shape(options: &Options) -> (usize, usize, Duration) {
    if options.smoke { (4, 2, Duration::from_secs(2)) } else { (100, 10, Duration::from_secs(10)) }
}

/// Every connection reads until the sender's `stop`.
fn listen(connections: Vec<Live>) -> Vec<tokio::task::JoinHandle<Received>> {
    connections.into_iter().map(|live| tokio::spawn(receive_until_stop(live, Duration::from_secs(30)))).collect()
}

/// The minimal server: anonymous connections, and sends that are plain POSTs.
/// The minimal broadcaster: as fast as acknowledgements allow (`rate` None), or on a timetable.
async fn fan_out_minimal(options: &Options, addr: SocketAddr, rate: Option<u32>) -> anyhow::Result<FanOut> {
    let (people, tabs, duration) = fan_out_shape(options);
    let http = reqwest::Client::new();
    let anonymous = Visitor::anonymous(&http, addr);
    let receivers = listen(many(people * tabs, 64, |_| anonymous.connect("/ws")).await?);
    let started = now_us();
    let deadline = Instant::now() + duration;
    let send = |body: String| {
        let request = http.post(format!("http://{addr}/send")).body(body);
        async move { request.send().await?.error_for_status().map(drop).map_err(anyhow::Error::from) }
    };
    let mut sends = 0u64;
    match rate {
        None => {
            while Instant::now() < deadline {
                send(format!("t={}", now_us())).await?;
                sends += 1;
            }
        }
        Some(rate) => sends = on_timetable(rate, deadline, |_, due_us| send(format!("t={due_us}"))).await?,
    }
    let seconds = (now_us() - started) as f64 / 1e6;
    http.post(format!("http://{addr}/send")).body("stop").send().await?;
    tally(receivers, started, seconds, sends, |_| 0, 1).await
}

/// gif-chat over `servers`, the sender on the first: as fast as acknowledgements allow (`rate` None), or `rate`
/// sends a second on a timetable, each due at its time whatever the earlier ones are doing, its body carrying
/// its due time (so latency counts from when it should have gone).
async fn fan_out_across_paced(options: &Options, servers: &[SocketAddr], rate: Option<u32>) -> anyhow::Result<FanOut> {
    let (people, tabs, duration) = fan_out_shape(options);
    let http = reqwest::Client::new();
    // Connection `n` is tab `n / people` of person `n % people`, through server `(n / people) % servers`.
    let server_of = |n: usize| (n / people) % servers.len();
    // A room holds at most 100 people; 1,000 connections are 100 people with 10 tabs each (the server's fan-out
    // work is per connection either way).
    let visitors = many(people, 32, |_| Visitor::arrive(&http, servers[0])).await?;
    let room = visitors[0].create_room("fan-out", 100).await?;
    let connections = many(people * tabs, 64, |n| {
        let visitor = visitors[n % people].via(servers[server_of(n)]);
        async move { visitor.join(room).await }
    })
    .await?;
    let receivers = listen(connections);
    let sender = visitors[0].clone();

    let started = now_us();
    let deadline = Instant::now() + duration;
    let mut sends = 0u64;
    match rate {
        None => {
            while Instant::now() < deadline {
                sender.send(room, &format!("t={}", now_us()), &format!("f{sends}")).await?;
                sends += 1;
            }
        }
        Some(rate) => {
            sends = on_timetable(rate, deadline, |n, due_us| {
                let sender = sender.clone();
                async move { sender.send(room, &format!("t={due_us}"), &format!("f{n}")).await.map(drop) }
            })
            .await?;
        }
    }
    let seconds = (now_us() - started) as f64 / 1e6;
    // Sent after every other send was acknowledged, so it comes last to everyone.
    sender.send(room, "stop", "stop").await?;
    tally(receivers, started, seconds, sends, server_of, servers.len()).await
}

/// What the receivers saw, once each has read the `stop`.
async fn tally(
    receivers: Vec<tokio::task::JoinHandle<Received>>,
    started: u64,
    seconds: f64,
    sends: u64,
    server_of: impl Fn(usize) -> usize,
    servers: usize,
) -> anyhow::Result<FanOut> {
    let mut delivered = 0;
    let mut latencies = Latencies::default();
    let mut by_server = vec![Latencies::default(); servers];
    let mut last = started;
    let receiver_count = receivers.len();
    for (n, receiver) in receivers.into_iter().enumerate() {
        let received = receiver.await?;
        delivered += received.count;
        by_server[server_of(n)].extend(received.latencies.clone());
        latencies.extend(received.latencies);
        last = last.max(received.last_at_us);
    }
    let delivering = (last - started) as f64 / 1e6;
    Ok(FanOut {
        receivers: receiver_count,
        seconds,
        sends,
        sends_per_sec: sends as f64 / seconds,
        delivered,
        expected: sends * receiver_count as u64,
        deliveries_per_sec: delivered as f64 / delivering.max(1e-6),
        latency: latencies.percentiles(),
        latency_by_server: if servers > 1 {
            by_server.into_iter().map(Latencies::percentiles).collect()
        } else {
            Vec::new()
        },
    })
}

#[derive(Debug, Serialize)]
pub struct ChatLike {
    pub rooms: usize,
    pub people_per_room: usize,
    pub seconds: f64,
    pub acknowledged: usize,
    pub delivered: u64,
    pub missing: usize,
    pub duplicated: usize,
    pub latency: Percentiles,
    pub server_cpu_percent: f64,
}

/// Many small rooms, everyone sending one message a second.
pub async fn chat_like(options: &Options) -> anyhow::Result<ChatLike> {
    let (rooms, per_room, duration) =
        if options.smoke { (2, 3, Duration::from_secs(3)) } else { (100, 10, Duration::from_secs(60)) };
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let addr = server.addr;
    let visitors = many(rooms * per_room, 32, |_| Visitor::arrive(&http, addr)).await?;
    let (room_ids, lives) = seat(&visitors, per_room).await?;

    let end = Instant::now() + duration;
    let patience = duration + Duration::from_secs(5);
    // Each receiver collects the sequence numbers of the load messages it got, and their latencies.
    let receivers: Vec<_> = lives
        .into_iter()
        .map(|mut live| {
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                let mut latencies = Latencies::default();
                let stop_at = Instant::now() + patience;
                while let Ok(Ok(Some(Ok(frame)))) =
                    tokio::time::timeout_at(stop_at.into(), tokio::time::timeout(Duration::from_secs(3), live.next()))
                        .await
                {
                    let Message::Text(text) = frame else { continue };
                    let Some(message) = chat_message(&text) else { continue };
                    if let Some(sent) = message["body"].as_str().and_then(sent_at) {
                        latencies.0.push(now_us().saturating_sub(sent));
                        seqs.push(message["seq"].as_i64().unwrap_or(-1));
                    }
                }
                let _ = live.close(None).await;
                (seqs, latencies)
            })
        })
        .collect();

    let cpu_before = server.cpu_time();
    let wall = Instant::now();
    let senders: Vec<_> = visitors
        .iter()
        .enumerate()
        .map(|(n, visitor)| {
            let visitor = visitor.clone();
            let room = room_ids[n / per_room];
            tokio::spawn(async move {
                // Spread the senders over the second, then one message a second each.
                tokio::time::sleep(Duration::from_micros((n as u64 * 7919) % 1_000_000)).await;
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                let mut acked = Vec::new();
                let mut k = 0;
                loop {
                    ticks.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    if let Ok(seq) = visitor.send(room, &format!("t={};{n}", now_us()), &format!("c{n}-{k}")).await {
                        acked.push(seq);
                    }
                    k += 1;
                }
                (room, acked)
            })
        })
        .collect();
    let mut acked_by_room: HashMap<i64, BTreeSet<i64>> = HashMap::new();
    for sender in senders {
        let (room, acked) = sender.await?;
        acked_by_room.entry(room).or_default().extend(acked);
    }
    let seconds = wall.elapsed().as_secs_f64();
    let cpu = server.cpu_time() - cpu_before;

    let (mut missing, mut duplicated, mut delivered) = (0, 0, 0);
    let mut latencies = Latencies::default();
    for (n, receiver) in receivers.into_iter().enumerate() {
        let (seqs, received_latencies) = receiver.await?;
        delivered += seqs.len() as u64;
        latencies.extend(received_latencies);
        let unique: BTreeSet<i64> = seqs.iter().copied().collect();
        duplicated += seqs.len() - unique.len();
        let room = room_ids[n / per_room];
        missing += acked_by_room.get(&room).map_or(0, |acked| acked.difference(&unique).count());
    }
    Ok(ChatLike {
        rooms,
        people_per_room: per_room,
        seconds,
        acknowledged: acked_by_room.values().map(BTreeSet::len).sum(),
        delivered,
        missing,
        duplicated,
        latency: latencies.percentiles(),
        server_cpu_percent: 100.0 * cpu.as_secs_f64() / seconds,
    })
}

#[derive(Debug, Serialize)]
pub struct Idle {
    /// `bare` (connections that joined nothing) or `joined` (see [`idle_joined`]).
    pub shape: &'static str,
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_per_connection_kib: f64,
    /// For `joined`: what of `rss_per_connection_kib` the people (sessions) and rooms cost before any of their
    /// connections opened, and what the connections (joined, with what they were sent) cost on top.
    pub people_and_rooms_per_connection_kib: Option<f64>,
    pub connect: Percentiles,
    pub total_connect_secs: f64,
}

/// How many idle connections the idle scenarios open: 20,000, or a little under the open-file limit where it
/// cannot be raised (an unprivileged container; each connection is a descriptor in the tool and one in the
/// server).
fn idle_connections(options: &Options) -> usize {
    let allowed = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(20_000, |(soft, _)| soft).saturating_sub(200);
    if options.smoke { 200 } else { 20_000.min(allowed as usize) }
}

/// Many open, idle live connections that joined nothing: what each costs the server.
pub async fn idle(options: &Options) -> anyhow::Result<Idle> {
    let count = idle_connections(options);
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let visitor = Visitor::arrive(&http, server.addr).await?;
    // Warm up (first connections allocate pools and caches that do not grow per connection).
    drop(many(50, 16, |_| visitor.connect("/ws")).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kib();

    let started = Instant::now();
    let opened = many(count, 128, |_| {
        let visitor = visitor.clone();
        async move {
            let t = Instant::now();
            let live = visitor.connect("/ws").await?;
            Ok((live, t.elapsed().as_micros() as u64))
        }
    })
    .await?;
    let total_connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(idle_footprint("bare", &server, rss_before, None, total_connect_secs, opened))
}

/// What the idle connections in `opened` (each with how long it took to open, in µs) cost the server, measured
/// now against its memory before they came.
fn idle_footprint<T>(
    shape: &'static str,
    server: &ServerProcess,
    rss_before: u64,
    rss_people_and_rooms: Option<u64>,
    total_connect_secs: f64,
    opened: Vec<(T, u64)>,
) -> Idle {
    let rss_after = server.rss_kib();
    let connections = opened.len();
    let connect = Latencies(opened.iter().map(|(_, us)| *us).collect()).percentiles();
    Idle {
        shape,
        connections,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_connection_kib: rss_after.saturating_sub(rss_before) as f64 / connections.max(1) as f64,
        people_and_rooms_per_connection_kib: rss_people_and_rooms
            .map(|rss| rss.saturating_sub(rss_before) as f64 / connections.max(1) as f64),
        connect,
        total_connect_secs,
    }
}

/// Idle connections as people really leave them: every connection joined to a room, one person (session) per
/// 10 connections (tabs), 100 people per room; everything the server holds for them counts (sessions, rooms,
/// presence, connections), from before the first person arrived. Each connection reads what it is sent (the
/// arrivals in its room), as a browser would.
pub async fn idle_joined(options: &Options) -> anyhow::Result<Idle> {
    const TABS: usize = 10;
    const PEOPLE_PER_ROOM: usize = 100;
    let count = idle_connections(options) / TABS * TABS;
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    // Warm up, as in `idle`, with connections joined to a room of their own.
    let warm = Visitor::arrive(&http, server.addr).await?;
    let warm_room = warm.create_room("warm-up", PEOPLE_PER_ROOM as u32).await?;
    drop(many(50, 16, |_| warm.join(warm_room)).await?);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_kib();

    let started = Instant::now();
    let people = many(count / TABS, 32, |_| Visitor::arrive(&http, server.addr)).await?;
    let rooms = many(people.len().div_ceil(PEOPLE_PER_ROOM), 16, |r| {
        let owner = people[r * PEOPLE_PER_ROOM].clone();
        async move { owner.create_room(&format!("idle {r}"), PEOPLE_PER_ROOM as u32).await }
    })
    .await?;
    let rss_people_and_rooms = server.rss_kib();
    let opened = many(count, 128, |n| {
        let (person, room) = (people[n / TABS].clone(), rooms[n / TABS / PEOPLE_PER_ROOM]);
        async move {
            let t = Instant::now();
            let live = person.join(room).await?;
            let joined_us = t.elapsed().as_micros() as u64;
            Ok((AbortOnDrop(tokio::spawn(drain(live))), joined_us))
        }
    })
    .await?;
    let total_connect_secs = started.elapsed().as_secs_f64();
    // Let the arrivals' announcements drain.
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(idle_footprint("joined", &server, rss_before, Some(rss_people_and_rooms), total_connect_secs, opened))
}

#[derive(Debug, Serialize)]
pub struct Uploads {
    /// Where the GIFs were kept: `directory`, or `bucket` (an S3 server, s3s-fs, in the load tool's process).
    pub store: &'static str,
    pub uploads: usize,
    pub bytes_each: usize,
    pub seconds: f64,
    pub uploads_per_sec: f64,
    pub stored_files: usize,
    pub announced: usize,
}

/// Concurrent uploads of different GIFs into one room, kept in the uploads directory or (`bucket`) in a bucket.
pub async fn uploads(options: &Options, bucket: bool) -> anyhow::Result<Uploads> {
    let (count, size) = if options.smoke { (3, 256 * 1024) } else { (50, 2 * 1000 * 1000) };
    let s3 = match bucket {
        true => Some(crate::process::TestBucket::start().await?),
        false => None,
    };
    let server = ServerProcess::gif_chat_storing_in(options, s3.as_ref()).await?;
    let http = reqwest::Client::new();
    let addr = server.addr;
    let visitors = many(count, 16, |_| Visitor::arrive(&http, addr)).await?;
    let room = visitors[0].create_room("uploads", 100).await?;
    let lives = many(count, 16, |n| {
        let visitor = visitors[n].clone();
        async move { visitor.join(room).await }
    })
    .await?;
    let mut watcher = lives.into_iter().next().expect("at least one uploader");
    // Each a GIF of its own (GIFs are stored by content: the same one would be stored once).
    let gifs: Vec<Vec<u8>> = (0..count).map(|n| noise_gif(size, n as u64)).collect();

    let started = Instant::now();
    let done = many(count, count, |n| {
        let (visitor, gif) = (visitors[n].clone(), gifs[n].clone());
        async move { visitor.upload(room, gif).await }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();

    let mut announced = BTreeSet::new();
    while announced.len() < done.len() {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_secs(10), watcher.next()).await
        else {
            break;
        };
        if let Some(message) = chat_message(&text).filter(|m| m["kind"] == "gif") {
            announced.insert(message["seq"].as_i64().unwrap_or(-1));
        }
    }
    let stored_files = match &s3 {
        Some(s3) => s3.objects(),
        None => file_count(&server.uploads_dir()),
    };
    Ok(Uploads {
        store: if bucket { "bucket" } else { "directory" },
        uploads: count,
        bytes_each: gifs[0].len(),
        seconds,
        uploads_per_sec: count as f64 / seconds,
        stored_files,
        announced: announced.len(),
    })
}

/// A GIF of random pixels (so it does not compress) of at least `size` bytes; each `seed` makes another.
pub(crate) fn noise_gif(size: usize, seed: u64) -> Vec<u8> {
    let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, i.wrapping_mul(7), i.wrapping_mul(13)]).collect();
    let mut bytes = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut encoder = gif::Encoder::new(&mut bytes, 512, 512, &palette).expect("encoder");
    let mut written = 0;
    while written < size {
        let pixels: Vec<u8> = (0..512 * 512)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let frame = gif::Frame { width: 512, height: 512, buffer: pixels.into(), ..gif::Frame::default() };
        encoder.write_frame(&frame).expect("frame");
        // Random pixels cost about 10.5 bits each after LZW.
        written += 512 * 512 * 21 / 16;
    }
    drop(encoder);
    bytes
}

#[derive(Debug, Serialize)]
pub struct Pages {
    pub concurrency: usize,
    pub seconds: f64,
    pub room_list_per_sec: f64,
    pub chat_page_per_sec: f64,
}

/// Server-rendered pages per second: the room list, and a chat page with 50 messages.
pub async fn pages(options: &Options) -> anyhow::Result<Pages> {
    let (concurrency, duration) =
        if options.smoke { (4, Duration::from_secs(1)) } else { (32, Duration::from_secs(10)) };
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let visitor = Visitor::arrive(&http, server.addr).await?;
    let room = visitor.create_room("pages", 10).await?;
    let _present = visitor.join(room).await?;
    for n in 0..50 {
        visitor.send(room, &format!("message number {n} with a little text in it"), &format!("p{n}")).await?;
    }
    let rate = |path: String| {
        let visitor = visitor.clone();
        async move {
            let count = AtomicU64::new(0);
            let end = Instant::now() + duration;
            let started = Instant::now();
            let workers = (0..concurrency).map(|_| async {
                while Instant::now() < end {
                    if visitor.get(&path).await.is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            futures_util::future::join_all(workers).await;
            count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
        }
    };
    let room_list_per_sec = rate("/".into()).await;
    let chat_page_per_sec = rate(format!("/room/{room}")).await;
    Ok(Pages { concurrency, seconds: duration.as_secs_f64(), room_list_per_sec, chat_page_per_sec })
}

#[derive(Debug, Serialize)]
pub struct Wasm {
    pub path: String,
    pub raw_bytes: usize,
    pub gzip_bytes: usize,
    /// The `.br` file a precompressed build (`--precompress`) serves to browsers that accept brotli.
    pub brotli_bytes: Option<u64>,
}

/// The size of the client bundle as a browser downloads it: gzip at best compression, and the precompressed
/// brotli file if the build made one. The file's name carries its hash (see `hash.txt` in the site root).
pub fn wasm_size(options: &Options) -> anyhow::Result<Wasm> {
    let hashes = std::fs::read_to_string(options.site_root.join("hash.txt")).unwrap_or_default();
    let name = match hashes.lines().find_map(|line| line.strip_prefix("wasm:")) {
        Some(hash) => format!("gif-chat.{}.wasm", hash.trim()),
        None => "gif-chat.wasm".to_owned(),
    };
    let path = options.site_root.join("pkg").join(name);
    let raw = std::fs::read(&path)?;
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&raw)?;
    let gzip_bytes = gzip.finish()?.len();
    let brotli_bytes = std::fs::metadata(path.with_extension("wasm.br")).ok().map(|metadata| metadata.len());
    Ok(Wasm { path: path.display().to_string(), raw_bytes: raw.len(), gzip_bytes, brotli_bytes })
}
