//! GIFs in a bucket of a second S3 implementation, moto (the upload suite runs on s3s-fs, with
//! `GIF_CHAT_TEST_UPLOADS=s3`): what one server accepts and another does not would show here.

use std::time::Duration;

use crate::helpers::{TestMoto, another_gif, require, spawn_app_with};
use protocol::model::ChatMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gifs_are_stored_served_and_removed_in_a_bucket_of_another_s3_implementation() {
    require!(Moto);
    let moto = TestMoto::start().await;
    let mut app = spawn_app_with(|config| moto.configure(config)).await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    let alice = app.person().await;
    let room = alice.create_room("moto", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let gif = another_gif();
    let first = alice.upload(&room.id.to_string(), "a.gif", gif.clone()).await.unwrap();
    let again = alice.upload(&room.id.to_string(), "again.gif", gif).await.unwrap();
    assert_eq!(first.body, again.body);
    let stored = app.chat.uploads().list().await.unwrap();
    assert_eq!(stored.len(), 2, "the GIF and its still: {stored:?}");

    // A process that has not cached them (this one, restarted) fetches them from the bucket.
    app.restart().await;
    let alice = alice.via(app.addr);
    for path in [first.body.clone(), protocol::model::still_of(&first.body)] {
        let served = app.get(&path).await;
        assert_eq!(served.status(), 200, "{path}");
        assert_eq!(&served.bytes().await.unwrap()[..6], b"GIF89a");
    }

    // Unsent, both: the GIF goes from the bucket.
    for message in [&first, &again] {
        let (room, seq) = (room.id.to_string(), message.seq.to_string());
        alice.call::<ChatMessage>("delete_message", &[("room", &room), ("seq", &seq)]).await.unwrap();
    }
    crate::helpers::eventually("the GIF leaves the bucket", || async {
        app.chat.uploads().list().await.unwrap().is_empty()
    })
    .await;
    assert_eq!(app.get(&first.body).await.status(), 404);

    // Gone: uploads say so, the instance is degraded.
    drop(moto);
    let refused = alice.upload(&room.id.to_string(), "b.gif", another_gif()).await.unwrap_err();
    assert_eq!(refused.status, 503, "{}", refused.message);
    crate::helpers::eventually("readiness says degraded", || async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
        ready["status"] == "degraded"
    })
    .await;
}
