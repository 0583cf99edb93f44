//! What every scenario builds on: clocks carried in message bodies, running many at once, seating visitors in
//! rooms, reading live connections, sending on a timetable.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Live, Visitor};
use crate::stats::Latencies;

/// Microseconds since the tool started: senders put it in message bodies, receivers subtract it from theirs.
pub(crate) fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The send time carried in a body such as `t=123456` or `t=123456;…`.
pub(crate) fn sent_at(body: &str) -> Option<u64> {
    body.strip_prefix("t=")?.split(';').next()?.parse().ok()
}

/// Runs `make` for 0..count with at most `parallel` in flight; fails on the first error.
pub(crate) async fn many<T, F, Fut>(count: usize, parallel: usize, make: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    stream::iter((0..count).map(make)).buffered(parallel).collect::<Vec<_>>().await.into_iter().collect()
}

/// Seats `visitors` in rooms of `per_room`: each room is created by its first person, and everyone joins theirs.
/// Returns the rooms' ids and everyone's live connection, in the visitors' order.
pub(crate) async fn seat(visitors: &[Visitor], per_room: usize) -> anyhow::Result<(Vec<i64>, Vec<Live>)> {
    let room_ids = many(visitors.len().div_ceil(per_room), 16, |r| {
        let owner = visitors[r * per_room].clone();
        async move { owner.create_room(&format!("room {r}"), per_room as u32).await }
    })
    .await?;
    let lives = many(visitors.len(), 64, |n| {
        let visitor = visitors[n].clone();
        let room = room_ids[n / per_room];
        async move { visitor.join(room).await }
    })
    .await?;
    Ok((room_ids, lives))
}

/// Reads a live connection until it ends.
pub(crate) async fn drain(mut live: Live) {
    while let Some(Ok(_)) = live.next().await {}
}

/// A task that stops when this is dropped.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one receiving connection saw.
pub(crate) struct Received {
    pub count: u64,
    pub latencies: Latencies,
    pub last_at_us: u64,
}

/// The body of a `chat` frame, found without parsing the whole event: with 1,000 receivers in one process, a
/// full JSON parse per frame would make the tool, not the server, the bottleneck.
pub(crate) fn body_of(frame: &str) -> Option<&str> {
    if !frame.starts_with(r#"{"type":"chat""#) {
        return None;
    }
    let start = frame.find(r#""body":""#)? + 8;
    let end = start + frame[start..].find('"')?;
    Some(&frame[start..end])
}

/// Reads `chat` events until one whose body is `stop` (or the connection ends, or `patience` passes in silence).
pub(crate) async fn receive_until_stop(mut live: Live, patience: Duration) -> Received {
    let mut received = Received { count: 0, latencies: Latencies::default(), last_at_us: 0 };
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(patience, live.next()).await {
        let Message::Text(text) = frame else { continue };
        let Some(body) = body_of(&text) else { continue };
        if body == "stop" {
            break;
        }
        if let Some(sent) = sent_at(body) {
            let now = now_us();
            received.count += 1;
            received.latencies.0.push(now.saturating_sub(sent));
            received.last_at_us = now;
        }
    }
    received
}

/// Starts `send(n, due_us)` for n = 0, 1, … at `rate` a second until `deadline`, each at its due time whatever the
/// earlier ones are doing (an open loop: a slow moment shows as latency counted from the due time, not as fewer
/// sends), then waits for them all. Returns how many were sent.
pub(crate) async fn on_timetable<F, Fut>(rate: u32, deadline: Instant, send: F) -> anyhow::Result<u64>
where
    F: Fn(u64, u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let period = Duration::from_secs(1) / rate;
    let (first_due, first_due_us) = (Instant::now(), now_us());
    let mut in_flight = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    while first_due + period * (sent as u32) < deadline {
        let offset = period * sent as u32;
        tokio::time::sleep_until((first_due + offset).into()).await;
        in_flight.spawn(send(sent, first_due_us + offset.as_micros() as u64));
        sent += 1;
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_found_in_chat_frames_only() {
        let frame = r#"{"type":"chat","message":{"room_id":1,"seq":3,"kind":"text","author":null,"recipient":null,"body":"t=42;7","created_at":1}}"#;
        assert_eq!(body_of(frame), Some("t=42;7"));
        assert_eq!(sent_at(body_of(frame).unwrap()), Some(42));
        assert_eq!(body_of(r#"{"type":"pong"}"#), None);
    }
}
