//! The database going away for a while: requests are refused plainly, nothing is half-written, and the service
//! comes back by itself. On a PostgreSQL server of the test's own, which it stops and starts again.

mod common;

use std::time::{Duration, Instant};

use common::{PATIENCE, TestPostgres, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_sends_are_refused_as_unavailable_and_service_resumes_by_itself() {
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
    let deadline = Instant::now() + PATIENCE;
    loop {
        match alice.send(room.id, "after").await {
            Ok(_) => break,
            Err(refusal) if refusal.status == 503 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(refusal) => panic!("the service did not come back: {} {}", refusal.status, refusal.message),
        }
    }
    let stored = |body: &str| format!("SELECT COUNT(*) FROM messages WHERE body = '{body}'");
    assert_eq!(app.count(&stored("during")).await, 0, "a refused send left a message");
    assert_eq!(app.count(&stored("after")).await, 1);
}
