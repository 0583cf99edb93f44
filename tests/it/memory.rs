//! Memory follows what exists, not what ever existed: 10,000 rooms created, entered, left and removed leave the
//! server holding what it held before (live topics, rate-limit state; presence goes with the rooms in the database), and a client that never reads
//! cannot make the server hold more than a bounded buffer for it.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::helpers::spawn_app_with;
use chat::identity::person;
use futures_util::StreamExt;
use protocol::domain::{MemberLimit, Title};

/// The process's resident memory, in KiB (Linux).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Set in the process [`alone`] starts: only there do the measuring halves run.
const ALONE_ENV: &str = "GIF_CHAT_MEASURING_ALONE";

/// Runs the ignored test `name` (of this module) in a process of its own: the tests here measure the process's
/// memory, which the other tests of this binary, running meanwhile, would disturb.
fn alone(name: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let status = std::process::Command::new(exe)
        .args([&format!("memory::{name}"), "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(ALONE_ENV, "1")
        .status()
        .expect("starting the test binary again");
    assert!(status.success(), "memory::{name}, run alone, failed");
}

#[test]
fn ten_thousand_rooms_come_and_go_and_memory_returns_to_where_it_was() {
    alone("rooms_come_and_go_alone");
}

#[test]
fn a_client_that_never_reads_is_let_go_and_holds_nothing_meanwhile() {
    alone("a_client_that_never_reads_alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the measuring half of ten_thousand_rooms_come_and_go_and_memory_returns_to_where_it_was, run alone by it"]
async fn rooms_come_and_go_alone() {
    assert!(std::env::var_os(ALONE_ENV).is_some(), "run alone, by ten_thousand_rooms_come_and_go_…");
    const ROOMS: usize = 10_000;
    let app = spawn_app_with(|c| {
        // Rooms go by deletion here; the empty-room timers they start end soon after (long enough that a join
        // slowed down by the churn around it still finds its room).
        c.room_grace_secs = 5.0;
        c.leave_grace_secs = 0.0;
        // Buckets that refill within milliseconds: each churned person and address is remembered, then forgettable.
        c.limit_sends = "1000/1s,1000/1s,1000000/1s".parse().unwrap();
        c.limit_rooms = "1000/1s,1000/1s,1000000/1s".parse().unwrap();
    })
    .await;
    let (chat, limits) = (app.chat.clone(), app.limits.clone());
    let (before, limited_before) = (chat.footprint(), limits.remembered());
    let rss_start = rss_kib();

    // Two rounds of 5,000: if anything leaked per room, the second round would grow memory as much as the first.
    let mut rss_after_round = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        let churn = (round * ROOMS / 3..(round + 1) * ROOMS / 3).map(|n| {
            let (chat, limits) = (chat.clone(), limits.clone());
            async move {
                let owner = person(&format!("{n:032x}"));
                let address = IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
                limits.create_room(&owner.id, Some(address)).unwrap();
                let title = Title::parse(&format!("churn {n}")).unwrap();
                let room = chat.create_room(&owner, title, MemberLimit::parse("5").unwrap(), None).await.unwrap();
                let joined = chat.join(room.id, &owner, chat::ANY_ARRIVAL).await.unwrap();
                limits.send(&owner.id, Some(address)).unwrap();
                drop(joined);
                chat.leave(room.id, &owner.id, 0).await;
                chat.delete_room_by(room.id, &owner).await.unwrap();
            }
        });
        // Eight at a time, like a busy server.
        let mut pending = futures_util::stream::iter(churn).buffer_unordered(8);
        while pending.next().await.is_some() {}
        let (during, limited_during) = (chat.footprint(), limits.remembered());
        assert_eq!(during.topics, before.topics, "{during:?}");
        assert!(limited_during > limited_before, "the limits remember the people and addresses that wrote");
        // The minute's clean-up, as if the removals were long ago and the limits had recovered.
        tokio::time::sleep(Duration::from_millis(50)).await;
        chat.forget_idle();
        limits.forget_idle();
        let (after, limited_after) = (chat.footprint(), limits.remembered());
        rss_after_round.push(rss_kib());
        println!(
            "round {round}: {} rooms churned in {:.1?}; footprint {during:?} and {limited_during} limited keys before \
             the clean-up, {after:?} and {limited_after} after",
            ROOMS / 3,
            started.elapsed()
        );
        assert_eq!((after, limited_after), (before, limited_before), "memory went back to where it was");
    }
    println!("RSS: {rss_start} KiB at the start, {rss_after_round:?} KiB after each round");
    // The first round warms caches (SQLite's pages, the allocator's arenas); after it, memory stays put. A leak of
    // even 1 KiB per room would add 3 MiB per round.
    let growth = rss_after_round[2].saturating_sub(rss_after_round[1]);
    assert!(growth < 3 * 1024, "the last round grew memory by {growth} KiB");
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM presence").await, 0, "presence went with the rooms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the measuring half of a_client_that_never_reads_is_let_go_and_holds_nothing_meanwhile, run alone by it"]
async fn a_client_that_never_reads_alone() {
    assert!(std::env::var_os(ALONE_ENV).is_some(), "run alone, by a_client_that_never_reads_is_let_go_…");
    let app = spawn_app_with(|c| {
        c.no_rate_limits = true;
        c.leave_grace_secs = 0.0;
    })
    .await;
    let alice = app.person().await;
    let bob = app.person().await;
    let mallory = app.person().await;
    let room = alice.create_room("firehose", 10, "").await.unwrap();
    // Alice reads what she is sent (a client that never reads is Mallory's part: the server would let Alice go too).
    let (alice_live, _) = alice.join(room.id).await;
    tokio::spawn(alice_live.keep_reading());
    let (mut bob_live, _) = bob.join(room.id).await;
    // Mallory joins and then never reads a byte.
    let _never_reads = mallory.join_with_small_buffer(room.id).await;
    let rss_before = rss_kib();

    // 3,000 messages of 2 KB (6 MB), which Bob reads as they come.
    const COUNT: usize = 3000;
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < COUNT {
            if bob_live.next_chat().await.kind == protocol::model::MessageKind::Text {
                received += 1;
            }
        }
        // Bob stays (his connection with him) until the end.
        (received, bob_live)
    });
    let body = "x".repeat(1900);
    let sends = (0..COUNT).map(|n| {
        let (alice, body) = (&alice, format!("{n:04} {body}"));
        async move { alice.send(room.id, &body).await.unwrap() }
    });
    futures_util::stream::iter(sends).buffer_unordered(8).collect::<Vec<_>>().await;
    let (received, _bob_live) = reader.await.unwrap();
    assert_eq!(received, COUNT, "the reader got everything");
    let rss_after = rss_kib();
    println!("6 MB sent past a client that never reads: RSS {rss_before} KiB -> {rss_after} KiB");

    // The server holds at most one frame for Mallory, and lets her go once she has not taken it for 10 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: protocol::model::ListedRooms = alice.call("find_rooms", &[]).await.unwrap();
        let present = page.rooms.iter().find(|listed| listed.id == room.id).map(|listed| listed.present);
        assert!(present.is_some(), "the room went: Alice and Bob were let go too");
        if present == Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "a client that never reads was kept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
