//! The abuse scenario: people chat in small rooms, each from a network of their own, while one attacker floods
//! the server from one address at full speed: sends, room creation, GIF uploads and fresh identities. The rate
//! limits are on (the defaults). Reported: the people's latency without and with the attacker (the target is a
//! p99 within twice the quiet one), anything of theirs refused or lost, and what became of the attacker's
//! requests.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::Options;
use crate::client::{Visitor, chat_message};
use crate::process::ServerProcess;
use crate::scenarios::{many, noise_gif, now_us, seat, sent_at};
use crate::stats::{Latencies, Percentiles};

#[derive(Debug, Serialize)]
pub struct Abuse {
    pub rooms: usize,
    pub people_per_room: usize,
    pub seconds_per_phase: f64,
    pub quiet: Phase,
    pub attacked: Phase,
    /// The attacked p99 over the quiet one.
    pub p99_ratio: f64,
    pub attacker: Attack,
}

/// The people's side of one phase.
#[derive(Debug, Serialize)]
pub struct Phase {
    pub acknowledged: usize,
    /// People's sends the server refused (it must refuse none).
    pub refused: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub latency: Percentiles,
}

/// What became of the attacker's requests.
#[derive(Debug, Default, Serialize)]
pub struct Attack {
    pub requests: u64,
    pub accepted: u64,
    pub throttled: u64,
    /// Other refusals (a full disk, an oversize request…) and failed requests.
    pub other: u64,
}

/// Person `n`'s address: each on a network of their own (127.1.x.y; the attacker is 127.0.0.66).
fn person_address(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8))
}

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66));

pub async fn abuse(options: &Options) -> anyhow::Result<Abuse> {
    let (rooms, per_room, duration) =
        if options.smoke { (2, 3, Duration::from_secs(3)) } else { (10, 10, Duration::from_secs(20)) };
    let server = ServerProcess::gif_chat_limited(options).await?;
    let addr = server.addr;
    let visitors = many(rooms * per_room, 16, |n| Visitor::arrive_from(person_address(n), addr)).await?;
    let (room_ids, lives) = seat(&visitors, per_room).await?;

    // Each receiver sorts what it gets by phase (carried in the body): sequence numbers and latencies.
    let patience = duration * 2 + Duration::from_secs(10);
    let receivers: Vec<_> = lives
        .into_iter()
        .map(|mut live| {
            tokio::spawn(async move {
                let mut got: [(Vec<i64>, Latencies); 2] = Default::default();
                let stop_at = Instant::now() + patience;
                while let Ok(Ok(Some(Ok(frame)))) =
                    tokio::time::timeout_at(stop_at.into(), tokio::time::timeout(Duration::from_secs(3), live.next()))
                        .await
                {
                    let Message::Text(text) = frame else { continue };
                    let Some(message) = chat_message(&text) else { continue };
                    let body = message["body"].as_str().unwrap_or_default();
                    let (Some(sent), Some(phase)) = (sent_at(body), phase_of(body)) else { continue };
                    got[phase].0.push(message["seq"].as_i64().unwrap_or(-1));
                    got[phase].1.0.push(now_us().saturating_sub(sent));
                }
                let _ = live.close(None).await;
                got
            })
        })
        .collect();

    let quiet = chat(&visitors, &room_ids, per_room, 0, duration).await?;
    let attacker = Visitor::arrive_from(ATTACKER, addr).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let attack = Arc::new(AttackCounts::default());
    let attacking = tokio::spawn(flood(attacker, stop.clone(), attack.clone()));
    let attacked = chat(&visitors, &room_ids, per_room, 1, duration).await?;
    stop.store(true, Ordering::SeqCst);
    attacking.await??;

    let mut phases: [(usize, usize, Latencies); 2] = Default::default();
    for (n, receiver) in receivers.into_iter().enumerate() {
        let got = receiver.await?;
        let room = room_ids[n / per_room];
        for (phase, (seqs, latencies)) in got.into_iter().enumerate() {
            let unique: BTreeSet<i64> = seqs.iter().copied().collect();
            phases[phase].1 += seqs.len() - unique.len();
            let acked = [&quiet, &attacked][phase].acked.get(&room);
            phases[phase].0 += acked.map_or(0, |acked| acked.difference(&unique).count());
            phases[phase].2.extend(latencies);
        }
    }
    let [(quiet_missing, quiet_duplicated, quiet_latency), (attacked_missing, attacked_duplicated, attacked_latency)] =
        phases;
    let quiet = quiet.phase(quiet_missing, quiet_duplicated, quiet_latency);
    let attacked = attacked.phase(attacked_missing, attacked_duplicated, attacked_latency);
    Ok(Abuse {
        rooms,
        people_per_room: per_room,
        seconds_per_phase: duration.as_secs_f64(),
        p99_ratio: attacked.latency.p99_ms / quiet.latency.p99_ms.max(1e-3),
        quiet,
        attacked,
        attacker: attack.snapshot(),
    })
}

/// `t=…;p=<phase>;…` → the phase.
fn phase_of(body: &str) -> Option<usize> {
    body.split(';').find_map(|part| part.strip_prefix("p=")?.parse().ok())
}

/// What the people's senders did in one phase.
struct Sent {
    acked: HashMap<i64, BTreeSet<i64>>,
    refused: usize,
}

impl Sent {
    fn phase(&self, missing: usize, duplicated: usize, latencies: Latencies) -> Phase {
        Phase {
            acknowledged: self.acked.values().map(BTreeSet::len).sum(),
            refused: self.refused,
            missing,
            duplicated,
            latency: latencies.percentiles(),
        }
    }
}

/// Everyone sends one message a second for `duration`.
async fn chat(
    visitors: &[Visitor],
    room_ids: &[i64],
    per_room: usize,
    phase: usize,
    duration: Duration,
) -> anyhow::Result<Sent> {
    let end = Instant::now() + duration;
    let senders: Vec<_> = visitors
        .iter()
        .enumerate()
        .map(|(n, visitor)| {
            let visitor = visitor.clone();
            let room = room_ids[n / per_room];
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros((n as u64 * 7919) % 1_000_000)).await;
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                let (mut acked, mut refused) = (Vec::new(), 0);
                for k in 0.. {
                    ticks.tick().await;
                    if Instant::now() >= end {
                        break;
                    }
                    let body = format!("t={};p={phase};{n}", now_us());
                    match visitor.send(room, &body, &format!("c{phase}-{n}-{k}")).await {
                        Ok(seq) => acked.push(seq),
                        Err(_) => refused += 1,
                    }
                }
                (room, acked, refused)
            })
        })
        .collect();
    let mut sent = Sent { acked: HashMap::new(), refused: 0 };
    for sender in senders {
        let (room, acked, refused) = sender.await?;
        sent.acked.entry(room).or_default().extend(acked);
        sent.refused += refused;
    }
    Ok(sent)
}

#[derive(Default)]
struct AttackCounts {
    requests: AtomicU64,
    accepted: AtomicU64,
    throttled: AtomicU64,
    other: AtomicU64,
}

impl AttackCounts {
    fn count(&self, status: Option<reqwest::StatusCode>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let bucket = match status {
            Some(status) if status.is_success() => &self.accepted,
            Some(reqwest::StatusCode::TOO_MANY_REQUESTS) => &self.throttled,
            _ => &self.other,
        };
        bucket.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Attack {
        Attack {
            requests: self.requests.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}

/// The attacker, from one address, as fast as the answers come: two loops of sends into its own room, one of
/// room creation, one of 256 KiB GIF uploads, one of fresh identities (a cookieless first action each).
async fn flood(attacker: Visitor, stop: Arc<AtomicBool>, counts: Arc<AttackCounts>) -> anyhow::Result<()> {
    let room = attacker.create_room("spam", 100).await?;
    let _present = attacker.join(room).await?;
    let gif = noise_gif(256 * 1024);
    let loops = (0..5).map(|kind| {
        let (attacker, stop, counts, gif) = (attacker.clone(), stop.clone(), counts.clone(), gif.clone());
        tokio::spawn(async move {
            // A new identity each time: no cookie, so each first action would store a new session.
            let stranger = attacker.without_cookie();
            let room_arg = room.to_string();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let answer = match kind {
                    0 | 1 => attacker.post("send_message", &[("room", &room_arg), ("body", "spam")]).await.ok(),
                    2 => {
                        let title = format!("spam {n}");
                        attacker.post("create_room", &[("title", &title), ("max_members", "5")]).await.ok()
                    }
                    3 => attacker.post_gif(room, gif.clone()).await.ok(),
                    _ => stranger.post("whoami", &[]).await.ok(),
                };
                counts.count(answer.map(|response| response.status()));
            }
        })
    });
    for task in loops.collect::<Vec<_>>() {
        task.await?;
    }
    Ok(())
}
