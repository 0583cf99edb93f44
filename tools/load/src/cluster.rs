//! Several instances of one chat, sharing a PostgreSQL database and a NATS server: the fan-out to 1,000
//! connections through one instance and split over two, and the send→deliver latency across instances at a
//! chat-like pace.

use std::time::Duration;

use serde::Serialize;

use crate::Options;
use crate::client::Visitor;
use crate::process::{ServerProcess, Shared};
use crate::scenarios::{FanOut, Target, fan_out_across};
use crate::stats::{Latencies, Percentiles};
use crate::toolkit::{many, on_timetable, receive_until_stop};

#[derive(Debug, Serialize)]
pub struct Cluster {
    /// All 1,000 connections and the sender on one instance (with the broker, as in a cluster).
    pub one_instance: FanOut,
    /// The same, the connections split over two instances (the sender on the first).
    pub two_instances: FanOut,
    pub paced: Paced,
}

/// One sender on instance 1 at a steady pace; receivers on both instances.
#[derive(Debug, Serialize)]
pub struct Paced {
    pub per_sec: u32,
    pub receivers_per_instance: usize,
    pub sent: u64,
    pub delivered: u64,
    pub expected: u64,
    pub same_instance: Percentiles,
    pub cross_instance: Percentiles,
}

pub async fn cluster(options: &Options) -> anyhow::Result<Cluster> {
    let one_instance = {
        let shared = Shared::new(options).await?;
        let server = ServerProcess::instance_of(options, &shared).await?;
        fan_out_across(options, Target::GifChat, &[server.addr]).await?
    };
    let shared = Shared::new(options).await?;
    let first = ServerProcess::instance_of(options, &shared).await?;
    let second = ServerProcess::instance_of(options, &shared).await?;
    let servers = [first.addr, second.addr];
    let two_instances = fan_out_across(options, Target::GifChat, &servers).await?;
    let paced = paced(options, &servers).await?;
    Ok(Cluster { one_instance, two_instances, paced })
}

/// `per_sec` messages a second from a sender on `servers[0]`, to people on each server.
async fn paced(options: &Options, servers: &[std::net::SocketAddr; 2]) -> anyhow::Result<Paced> {
    let (per_sec, receivers_per_instance, duration) =
        if options.smoke { (10, 2, Duration::from_secs(1)) } else { (20, 10, Duration::from_secs(15)) };
    let http = reqwest::Client::new();
    let sender = Visitor::arrive(&http, servers[0]).await?;
    let room = sender.create_room("paced", 100).await?;
    let _sender_present = sender.join(room).await?;
    let receivers = many(2 * receivers_per_instance, 16, |n| {
        let server = servers[n % 2];
        let http = http.clone();
        async move {
            let visitor = Visitor::arrive(&http, server).await?;
            visitor.join(room).await
        }
    })
    .await?;
    let receivers: Vec<_> =
        receivers.into_iter().map(|live| tokio::spawn(receive_until_stop(live, Duration::from_secs(10)))).collect();

    // On a timetable: each body carries its send's due time, so a stall shows as latency, not as a burst.
    let sent = on_timetable(per_sec, std::time::Instant::now() + duration, |n, due_us| {
        let sender = sender.clone();
        async move { sender.send(room, &format!("t={due_us}"), &format!("p{n}")).await.map(drop) }
    })
    .await?;
    sender.send(room, "stop", "stop").await?;

    let (mut same, mut cross) = (Latencies::default(), Latencies::default());
    let mut delivered = 0;
    for (n, receiver) in receivers.into_iter().enumerate() {
        let received = receiver.await?;
        delivered += received.count;
        if n % 2 == 0 { same.extend(received.latencies) } else { cross.extend(received.latencies) }
    }
    Ok(Paced {
        per_sec,
        receivers_per_instance,
        sent,
        delivered,
        expected: sent * 2 * receivers_per_instance as u64,
        same_instance: same.percentiles(),
        cross_instance: cross.percentiles(),
    })
}
