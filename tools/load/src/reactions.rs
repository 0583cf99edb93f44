//! The reactions scenario: one room of 1,000 live connections (100 people × 10 tabs), messages on a timetable from
//! one person, and, in a second run on a fresh server, the same plus reactions from everyone else on recent
//! messages at 200 a second. What it shows: how much the reactions slow the messages down (send→deliver p99, the
//! run with reactions over the run without), and that every connection gets every message and every change once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::Options;
use crate::client::{Live, Visitor};
use crate::process::ServerProcess;
use crate::stats::{Latencies, Percentiles};
use crate::toolkit::{body_of, many, now_us, on_timetable, sent_at};

/// The emoji a reaction may be (the server's fixed set).
const EMOJI: [&str; 8] = ["👍", "❤️", "😂", "😮", "😢", "🎉", "🔥", "👀"];

#[derive(Debug, Serialize)]
pub struct ReactionLoad {
    pub receivers: usize,
    pub messages_per_sec: u32,
    pub reactions_per_sec: u32,
    pub without: Run,
    pub with: Run,
    /// The messages' send→deliver p99 with reactions over without (the goal: at most 1.5).
    pub p99_ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct Run {
    pub messages_sent: u64,
    /// Messages delivered, against sent × receivers.
    pub delivered: u64,
    pub expected: u64,
    /// Due time → delivery, of the messages.
    pub latency: Percentiles,
    /// Reactions the server answered.
    pub reactions_acknowledged: u64,
    /// Changes the connections saw (each counted once per connection), against the changes committed (every
    /// change any connection saw) × receivers.
    pub changes_delivered: u64,
    pub changes_expected: u64,
    /// A change that reached a connection twice.
    pub changes_doubled: u64,
    /// Times a connection found a gap in the room's sequence (events published out of their order) and read
    /// the missing ones from the database.
    pub gap_fills: u64,
}

/// People, tabs each, and how long each run lasts.
fn shape(options: &Options) -> (usize, usize, Duration) {
    if options.smoke { (4, 2, Duration::from_secs(2)) } else { (100, 10, Duration::from_secs(10)) }
}

pub async fn reactions(options: &Options) -> anyhow::Result<ReactionLoad> {
    let (messages_per_sec, reactions_per_sec) = if options.smoke { (10, 20) } else { (20, options.reactions_per_sec) };
    let without = run(options, messages_per_sec, None).await?;
    let with = run(options, messages_per_sec, Some(reactions_per_sec)).await?;
    let (people, tabs, _) = shape(options);
    Ok(ReactionLoad {
        receivers: people * tabs,
        messages_per_sec,
        reactions_per_sec,
        p99_ratio: with.latency.p99_ms / without.latency.p99_ms.max(0.001),
        without,
        with,
    })
}

/// What one connection saw: the messages' latencies, and the numbers of the changes (doubles kept).
struct Seen {
    latencies: Latencies,
    changes: Vec<i64>,
}

/// The numbers of the changes a `reactions` frame carries (`{"type":"reactions","room":R,"from":A,"seq":B,…`:
/// A to B), found without parsing the frame.
fn change_numbers(frame: &str) -> Option<std::ops::RangeInclusive<i64>> {
    let rest = frame.strip_prefix(r#"{"type":"reactions","room":"#)?;
    let number = |rest: &str, key: &str| -> Option<i64> {
        let rest = &rest[rest.find(key)? + key.len()..];
        rest[..rest.find(',')?].parse().ok()
    };
    Some(number(rest, r#""from":"#)?..=number(rest, r#""seq":"#)?)
}

async fn watch(mut live: Live) -> Seen {
    let mut seen = Seen { latencies: Latencies::default(), changes: Vec::new() };
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(30), live.next()).await {
        let Message::Text(text) = frame else { continue };
        if let Some(numbers) = change_numbers(&text) {
            seen.changes.extend(numbers);
        } else if let Some(body) = body_of(&text) {
            if body == "stop" {
                break;
            }
            if let Some(sent) = sent_at(body) {
                seen.latencies.0.push(now_us().saturating_sub(sent));
            }
        }
    }
    seen
}

async fn run(options: &Options, messages_per_sec: u32, reactions_per_sec: Option<u32>) -> anyhow::Result<Run> {
    let server = ServerProcess::gif_chat(options).await?;
    let (people, tabs, duration) = shape(options);
    let http = reqwest::Client::new();
    let visitors = many(people, 32, |_| Visitor::arrive(&http, server.addr)).await?;
    let room = visitors[0].create_room("reactions", 100).await?;
    let connections = many(people * tabs, 64, |n| {
        let visitor = visitors[n % people].clone();
        async move { visitor.join(room).await }
    })
    .await?;
    let watchers: Vec<_> = connections.into_iter().map(|live| tokio::spawn(watch(live))).collect();
    let sender = visitors[0].clone();
    // The messages acknowledged (their numbers; the room's sequence has the changes' too): reactions go to the
    // newest and the two before it.
    let first = sender.send(room, "first", "first").await?;
    let latest = Arc::new(Mutex::new(vec![first]));
    let deadline = Instant::now() + duration;

    let messages = {
        let (sender, latest) = (sender.clone(), latest.clone());
        on_timetable(messages_per_sec, deadline, move |n, due_us| {
            let (sender, latest) = (sender.clone(), latest.clone());
            async move {
                let seq = sender.send(room, &format!("t={due_us}"), &format!("m{n}")).await?;
                let mut latest = latest.lock().unwrap();
                let at = latest.partition_point(|known| *known < seq);
                latest.insert(at, seq);
                Ok(())
            }
        })
    };
    let reactors = Arc::new(visitors[1..].to_vec());
    let acknowledged = Arc::new(AtomicI64::new(0));
    let reactions = {
        let (latest, acknowledged) = (latest.clone(), acknowledged.clone());
        async move {
            let Some(rate) = reactions_per_sec else { return Ok(0) };
            on_timetable(rate, deadline, move |n, _| {
                let (reactors, latest, acknowledged) = (reactors.clone(), latest.clone(), acknowledged.clone());
                async move {
                    // Each reaction a new one: a person's emoji on a message, taken in turn.
                    let n = n as usize;
                    let reactor = &reactors[n % reactors.len()];
                    let emoji = EMOJI[(n / reactors.len()) % EMOJI.len()];
                    let target = {
                        let latest = latest.lock().unwrap();
                        latest[latest.len().saturating_sub(1 + n % 3)]
                    };
                    let args = [("room", room.to_string()), ("seq", target.to_string()), ("emoji", emoji.into())];
                    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let answer = reactor.post("react", &[args.as_slice(), &[("on", "true")]].concat()).await?;
                    if answer.status().is_success() {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                }
            })
            .await
        }
    };
    let (sent, _) = tokio::try_join!(messages, reactions)?;
    // Sent after every other send and reaction was acknowledged, so it comes last to everyone.
    sender.send(room, "stop", "stop").await?;

    let receivers = watchers.len() as u64;
    let mut latencies = Latencies::default();
    let mut all_changes = HashSet::new();
    let (mut delivered, mut changes_delivered, mut changes_doubled) = (0, 0, 0);
    for watcher in watchers {
        let seen = watcher.await?;
        delivered += seen.latencies.0.len() as u64;
        latencies.extend(seen.latencies);
        let distinct: HashSet<i64> = seen.changes.iter().copied().collect();
        changes_doubled += (seen.changes.len() - distinct.len()) as u64;
        changes_delivered += distinct.len() as u64;
        all_changes.extend(distinct.iter().copied());
    }
    let gap_fills = server.metric("gif_chat_feed_gap_fills_total").await? as u64;
    drop(server);
    Ok(Run {
        messages_sent: sent,
        delivered,
        expected: sent * receivers,
        latency: latencies.percentiles(),
        reactions_acknowledged: acknowledged.load(Ordering::Relaxed) as u64,
        changes_delivered,
        changes_expected: all_changes.len() as u64 * receivers,
        changes_doubled,
        gap_fills,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_numbers_and_chat_bodies_are_found_without_parsing_frames() {
        let reactions = r#"{"type":"reactions","room":1,"from":17,"seq":19,"changes":[{"message":3,"seq":5}]}"#;
        assert_eq!(change_numbers(reactions), Some(17..=19));
        assert_eq!(body_of(reactions), None);
        let chat = r#"{"type":"chat","message":{"room_id":1,"seq":18,"kind":"text","body":"t=42"}}"#;
        assert_eq!((change_numbers(chat), body_of(chat)), (None, Some("t=42")));
    }
}
