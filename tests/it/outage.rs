//! The database going away for a while: requests are refused plainly, nothing is half-written, and the service
//! comes back by itself. On a PostgreSQL server of the test's own, which it stops and starts again.

use std::time::{Duration, Instant};

use crate::helpers::{PATIENCE, TestPerson, TestPostgres, spawn_app_with, spawn_cluster};
use protocol::model::RoomId;

/// Sends `body` until the database answers again (503 meanwhile).
async fn send_when_back(person: &TestPerson, room: RoomId, body: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match person.send(room, body).await {
            Ok(_) => break,
            Err(refusal) if refusal.status == 503 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(refusal) => panic!("the service did not come back: {} {}", refusal.status, refusal.message),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_sends_are_refused_as_unavailable_and_service_resumes_by_itself() {
    crate::helpers::require!(Postgres);
    let postgres = TestPostgres::start();
    let app = spawn_app_with(|c| c.database_url = Some(postgres.url.clone())).await;
    let alice = app.person().await;
    let room = alice.create_room("steady", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    alice.send(room.id, "before").await.unwrap();

    postgres.pause();
    let refusal = alice.send(room.id, "during").await.unwrap_err();
    assert_eq!(refusal.status, 503, "{}", refusal.message);
    assert_eq!(refusal.message, "The chat cannot reach its database right now. Try again in a moment.");

    postgres.resume();
    send_when_back(&alice, room.id, "after").await;
    let stored = |body: &str| format!("SELECT COUNT(*) FROM messages WHERE body = '{body}'");
    assert_eq!(app.count(&stored("during")).await, 0, "a refused send left a message");
    assert_eq!(app.count(&stored("after")).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_rides_out_a_database_outage_longer_than_its_leases_without_losing_anyone() {
    crate::helpers::require!(Postgres, Nats);
    const LEASE_SECS: f64 = 3.0;
    let postgres = TestPostgres::start();
    let (apps, _broker) = spawn_cluster(2, |c| {
        c.database_url = Some(postgres.url.clone());
        c.presence_lease_secs = LEASE_SECS;
        c.leave_grace_secs = 0.5;
    })
    .await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let room = alice.create_room("steady across", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    alice.send(room.id, "before").await.unwrap();

    // Down for twice the lease: every instance's lease runs out meanwhile.
    postgres.pause();
    assert_eq!(bob.send(room.id, "during").await.unwrap_err().status, 503);
    tokio::time::sleep(Duration::from_secs_f64(2.0 * LEASE_SECS)).await;
    postgres.resume();
    let resumed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    send_when_back(&alice, room.id, "after").await;
    bob_live
        .expect(|e| match e {
            protocol::live::LiveEvent::Chat { message } if message.body == "after" => Some(()),
            _ => None,
        })
        .await;

    // Each instance renewed its own lease before any reaped the others': nobody was taken out, then or later. (A
    // reap takes only expired leases: once both were renewed twice since the database came back, none can come.)
    let renewed_since = resumed + ((LEASE_SECS + 1.0) * 1000.0) as u128;
    let renewed_twice = format!("SELECT COUNT(*) FROM instances WHERE lease_until >= {renewed_since}");
    crate::helpers::eventually("both instances renewed their leases", || async {
        apps[0].count(&renewed_twice).await == 2
    })
    .await;
    let present = format!("SELECT COUNT(DISTINCT visitor_id) FROM presence WHERE room_id = {}", room.id);
    assert_eq!(apps[0].count(&present).await, 2);
    assert_eq!(apps[0].count("SELECT COUNT(*) FROM messages WHERE body LIKE '% left'").await, 0);
    bob.send(room.id, "still here").await.unwrap();
}
