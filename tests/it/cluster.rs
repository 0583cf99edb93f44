//! Several server processes (here: instances in one test process, each with its own address, hub and
//! memory) sharing one database and joined by a real NATS server.
//!
//! (Over 400 lines: one test per way the instances must agree, or survive each other and the broker, each
//! readable on its own; what they share is in `helpers`.)

use std::time::{Duration, Instant};

use crate::helpers::{LiveClient, ServerProcess, TestPerson, make_gif, person_at, spawn_cluster};
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, MessageKind};

/// Reads `count` chat messages from `live` and checks they are each one once, in order.
async fn chats(live: &mut LiveClient, count: usize) -> Vec<ChatMessage> {
    let mut seen: Vec<ChatMessage> = Vec::new();
    while seen.len() < count {
        let message = live.next_chat().await;
        if let Some(last) = seen.last() {
            assert!(message.seq > last.seq, "out of order or twice: {} after {}", message.seq, last.seq);
        }
        seen.push(message);
    }
    seen
}

fn texts(messages: &[ChatMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).filter(|body| !body.ends_with(" joined")).collect()
}

/// Waits for a chat message saying `body`.
async fn said(live: &mut LiveClient, body: &str) -> ChatMessage {
    live.expect(|e| match e {
        LiveEvent::Chat { message } if message.body == body => Some(message.clone()),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_and_its_messages_cross_instances() {
    crate::helpers::require!(Nats);
    let (apps, _broker) = spawn_cluster(2, |_| {}).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let mut bobs_list = bob.connect().await;
    bobs_list.send(&ClientCommand::SubscribeLobby).await;
    bobs_list.expect(|e| matches!(e, LiveEvent::Rooms { .. }).then_some(())).await;

    // Created through one instance, the room appears live on a list served by the other.
    let room = alice.create_room("across", 10, "").await.unwrap();
    let appeared = bobs_list
        .expect(|e| match e {
            LiveEvent::NewRoom { room } => Some(room.clone()),
            _ => None,
        })
        .await;
    assert_eq!((appeared.id, appeared.title.as_str()), (room.id, "across"));

    let (mut alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let sent: Vec<String> = (0..20).map(|i| format!("from A {i}")).collect();
    for text in &sent {
        alice.send(room.id, text).await.unwrap();
    }
    let received = chats(&mut bob_live, 20 + 1).await; // and Bob's own "joined"
    assert_eq!(texts(&received), sent.iter().map(String::as_str).collect::<Vec<_>>());

    bob.send(room.id, "from B").await.unwrap();
    let back = alice_live.expect(|e| match e {
        LiveEvent::Chat { message } if message.body == "from B" => Some(message.clone()),
        _ => None,
    });
    assert_eq!(back.await.author.as_ref(), Some(bob.me()));

    // A GIF stored through one instance is announced by the other and served by both (one uploads directory).
    let gif = make_gif(8, 1);
    let posted = alice.upload(&room.id.to_string(), "cat.gif", gif).await.unwrap();
    let announced = bob_live
        .expect(|e| match e {
            LiveEvent::Chat { message } if message.kind == MessageKind::Gif => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!(announced.body, posted.body);
    for app in &apps {
        let served = app.get(&posted.body).await;
        assert_eq!(served.status(), 200, "{} on {}", posted.body, app.addr);
        assert_eq!(served.headers()["content-type"], "image/gif");
    }

    // Its video, made by the instance that stored it, reaches a page on the other, which serves it too.
    let clip = alice.upload(&room.id.to_string(), "clip.gif", chat::testing::moving_gif(120, 90, 10)).await.unwrap();
    let video = bob_live
        .expect(|e| match e {
            LiveEvent::Changed { message, .. } if message.seq == clip.seq => message.video.clone(),
            _ => None,
        })
        .await;
    for app in &apps {
        let served = app.get(&video).await;
        assert_eq!(served.status(), 200, "{video} on {}", app.addr);
        assert_eq!(served.headers()["content-type"], "video/mp4");
    }

    // Posted again by reference through the other instance, from the picker's shelf of the room: announced on the
    // first, with its video at once.
    let name = clip.body.trim_start_matches("/gif/");
    let args = [("room", room.id.to_string()), ("shelf", "room".to_owned())];
    let args: Vec<(&str, &str)> = args.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let offered: Vec<protocol::model::OfferedGif> = bob.call("offered_gifs", &args).await.unwrap();
    assert!(offered.iter().any(|gif| gif.name == name), "{offered:?}");
    let again: ChatMessage = bob.call("repost_gif", &[("room", &room.id.to_string()), ("gif", name)]).await.unwrap();
    let seen = alice_live
        .expect(|e| match e {
            LiveEvent::Chat { message } if message.seq == again.seq => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!((seen.body.as_str(), seen.video.as_deref()), (clip.body.as_str(), Some(video.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_bucket_is_away_uploads_say_so_and_chat_and_cached_gifs_go_on() {
    crate::helpers::require!(Nats);
    // No shared directory: the GIFs are in a bucket, each instance has a local directory of its own.
    let s3 = crate::helpers::TestS3::start().await;
    let (apps, _broker) = spawn_cluster(2, |config| s3.configure(config)).await;
    let (alice, bob) = (apps[0].person().await, apps[1].person().await);
    let room = alice.create_room("pictures", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let room_id = room.id.to_string();
    let upload = |name: &'static str| alice.upload(&room_id, name, crate::helpers::another_gif());

    // Uploaded through one instance, served by the other (from the bucket).
    let before = upload("before.gif").await.unwrap();
    let served = |app: usize, path: String| {
        let app = &apps[app];
        async move { app.get(&path).await.status() }
    };
    assert_eq!(served(1, before.body.clone()).await, 200, "the other instance does not serve the GIF");

    s3.stop();
    let outage = Instant::now();
    let refused = upload("during.gif").await.unwrap_err();
    assert_eq!(
        (refused.status, refused.message.as_str()),
        (503, "GIFs cannot be stored right now; text messages still work. Try again later.")
    );
    alice.send(room.id, "words still go through").await.unwrap();
    said(&mut bob_live, "words still go through").await;
    for app in [0, 1] {
        assert_eq!(served(app, before.body.clone()).await, 200, "a cached GIF is not served by instance {app}");
        let ready: serde_json::Value = apps[app].get("/readyz").await.json().await.unwrap();
        assert_eq!(ready["status"], "degraded", "{ready}");
    }
    assert_eq!(apps[0].count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, 1);

    // Ten seconds away, then back: uploads work again, through either instance.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed())).await;
    s3.resume().await;
    let after = upload("after.gif").await.unwrap();
    assert_eq!(served(1, after.body).await, 200);
    let bobs = bob.upload(&room_id, "bob.gif", crate::helpers::another_gif()).await.unwrap();
    assert_eq!(served(0, bobs.body).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_broker_lost_while_down_is_caught_up_from_the_database() {
    crate::helpers::require!(Nats);
    let (mut apps, mut broker) = spawn_cluster(2, |_| {}).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let carol = apps[1].person().await;
    let room = alice.create_room("outage", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let mut carols_list = carol.connect().await;
    carols_list.send(&ClientCommand::SubscribeLobby).await;
    carols_list.expect(|e| matches!(e, LiveEvent::Rooms { .. }).then_some(())).await;
    alice.send(room.id, "before").await.unwrap();
    assert_eq!(texts(&chats(&mut bob_live, 2).await), ["before"]);

    broker.stop();
    // Sends are answered (the database is the truth), and delivery within an instance goes on.
    let during: Vec<String> = (0..5).map(|i| format!("during {i}")).collect();
    for text in &during {
        alice.send(room.id, text).await.unwrap();
    }
    let mine = chats(&mut alice_live, 1 + 1 + 1 + 5).await; // both joins, "before", the five
    assert_eq!(texts(&mine)[1..], during.iter().map(String::as_str).collect::<Vec<_>>()[..]);
    let new_room = alice.create_room("made during the outage", 10, "").await.unwrap();
    // Alice's instance goes away with the events it could not relay: they are lost for good.
    apps.remove(0).stop().await;

    broker.resume();
    // Bob's instance notices its link is back and catches its connections up from the database.
    assert_eq!(texts(&chats(&mut bob_live, 5).await), during.iter().map(String::as_str).collect::<Vec<_>>());
    let listed = carols_list
        .expect(|e| match e {
            LiveEvent::Rooms { rooms, .. } => Some(rooms.iter().map(|r| r.id).collect::<Vec<_>>()),
            _ => None,
        })
        .await;
    assert!(listed.contains(&new_room.id), "the list was refreshed: {listed:?}");
    bob.send(room.id, "after").await.unwrap();
    assert_eq!(texts(&chats(&mut bob_live, 1).await), ["after"]);
    assert!(apps[0].chat.broker_stats().unwrap().resyncs.load(std::sync::atomic::Ordering::Relaxed) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_people_rushing_a_five_place_room_through_both_instances_make_five() {
    crate::helpers::require!(Nats);
    let (apps, _broker) = spawn_cluster(2, |c| c.no_rate_limits = true).await;
    let owner = apps[0].person().await;
    let room = owner.create_room("rush", 5, "").await.unwrap();
    let mut people = Vec::new();
    for n in 0..20 {
        people.push(apps[n % 2].person().await);
    }
    let (joined, _live) = TestPerson::join_all_at_once(&people, room.id).await;
    assert_eq!(joined, 5, "the limit holds across instances");
    let inside = format!("SELECT COUNT(DISTINCT visitor_id) FROM presence WHERE room_id = {}", room.id);
    assert_eq!(apps[1].count(&inside).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_whispers_kicks_and_hand_over_cross_instances() {
    crate::helpers::require!(Nats);
    let (apps, _broker) = spawn_cluster(2, |c| c.leave_grace_secs = 0.05).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let carol = apps[1].person().await;
    let room = alice.create_room("mixed", 10, "").await.unwrap();
    let id = room.id.to_string();
    let mut bobs_list = bob.connect().await;
    bobs_list.send(&ClientCommand::SubscribeLobby).await;
    bobs_list.expect(|e| matches!(e, LiveEvent::Rooms { .. }).then_some(())).await;

    // One count and one list of who is here, whichever instance each person is connected to.
    let (alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let (mut carol_live, present) = carol.join(room.id).await;
    assert_eq!(present, 3);
    let people = bob.people_in(&mut bob_live, room.id, 3).await;
    assert!(people[0].owner && people[0].person == *alice.me(), "{people:?}");
    bobs_list
        .expect(|e| match e {
            LiveEvent::RoomPresence { id, present: 3, .. } if *id == room.id => Some(()),
            _ => None,
        })
        .await;

    // A whisper from A reaches its one reader on B, and nobody else there.
    let whisper = [("room", id.as_str()), ("body", "psst, bob"), ("to", bob.me().id.as_str())];
    alice.call::<ChatMessage>("send_message", &whisper).await.unwrap();
    alice.send(room.id, "for everyone").await.unwrap();
    said(&mut bob_live, "psst, bob").await;
    let carols_next = loop {
        let message = carol_live.next_chat().await;
        if !message.body.ends_with(" joined") {
            break message;
        }
    };
    assert_eq!(carols_next.body, "for everyone", "Carol skipped the whisper");

    // The owner on A removes Carol, connected to B: she is told at once, and cannot come back through A.
    alice.call::<()>("kick", &[("room", id.as_str()), ("person", carol.me().id.as_str())]).await.unwrap();
    carol_live.expect(|e| matches!(e, LiveEvent::Kicked { .. }).then_some(())).await;
    let mut carol_via_a = carol.via(apps[0].addr).connect().await;
    carol_via_a.send(&ClientCommand::Join { room: room.id, since: None }).await;
    let refusal = carol_via_a
        .expect(|e| match e {
            LiveEvent::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(refusal, Refusal::Banned);
    bob.people_in(&mut bob_live, room.id, 2).await;

    // The owner's last connection (on A) closes: Bob, on B, takes over, and the list B serves is told.
    alice_live.close().await;
    let people = bob.people_in(&mut bob_live, room.id, 1).await;
    assert!(people[0].owner);
    said(&mut bob_live, &format!("{} is now the owner", bob.me().name)).await;
    let new_owner = bobs_list
        .expect(|e| match e {
            LiveEvent::RoomOwner { id, owner } if *id == room.id => Some(owner.clone()),
            _ => None,
        })
        .await;
    assert_eq!(new_owner, *bob.me());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_people_stop_counting_within_the_bound_and_catch_up_on_another() {
    crate::helpers::require!(Nats);
    // Three renewals fit in a lease: a busy machine that delays one does not lose the doomed instance's lease early.
    const LEASE_SECS: f64 = 3.0;
    const LEAVE_SECS: f64 = 0.5;
    let (apps, _broker) = spawn_cluster(1, |c| {
        c.leave_grace_secs = LEAVE_SECS;
        c.presence_lease_secs = LEASE_SECS;
    })
    .await;
    let flags = [format!("--leave-grace-secs={LEAVE_SECS}"), format!("--presence-lease-secs={LEASE_SECS}")];
    // Like the first instance (its database, broker and directories), on a port of its own.
    let mut like = apps[0].config.clone();
    like.addr.set_port(0);
    let mut doomed = ServerProcess::spawn(&like, &flags.each_ref().map(String::as_str));
    let alice = apps[0].person().await;
    let bob = person_at(doomed.addr).await;
    let room = alice.create_room("crash", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, present) = bob.join(room.id).await;
    assert_eq!(present, 2);
    bob.send(room.id, "from the doomed one").await.unwrap();
    let seen = said(&mut bob_live, "from the doomed one").await;
    said(&mut alice_live, "from the doomed one").await;

    doomed.kill();
    let killed = Instant::now();
    let during: Vec<String> = (0..3).map(|i| format!("while Bob is away {i}")).collect();
    for text in &during {
        alice.send(room.id, text).await.unwrap();
    }
    // Nobody told anyone Bob went: his instance's lease runs out, the survivor reaps it (it looks every second),
    // and his leave grace runs. Documented bound: the lease, plus a second, plus the leave grace.
    alice.people_in(&mut alice_live, room.id, 1).await;
    said(&mut alice_live, &format!("{} left", bob.me().name)).await;
    let took = killed.elapsed();
    let bound = Duration::from_secs_f64(LEASE_SECS + 1.0 + LEAVE_SECS);
    println!("Bob stopped counting {took:.1?} after his instance was killed (documented bound {bound:?})");
    assert!(took < bound + Duration::from_secs(3), "took {took:?}");

    // Bob's page reconnects, through the balancer, to the survivor: the same session, caught up from where it was.
    let mut back = bob.via(apps[0].addr).rejoin(room.id, seen.seq).await;
    let caught_up = chats(&mut back, during.len() + 2).await; // and "Bob left", "Bob joined"
    let caught_up: Vec<&str> = texts(&caught_up).into_iter().filter(|t| !t.ends_with(" left")).collect();
    assert_eq!(caught_up, during.iter().map(String::as_str).collect::<Vec<_>>());
    alice.people_in(&mut alice_live, room.id, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_followers_cost_one_broker_event_per_message() {
    use std::sync::atomic::Ordering::Relaxed;
    crate::helpers::require!(Nats);
    let (apps, _broker) = spawn_cluster(2, |c| c.no_rate_limits = true).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let (followed, empty) =
        (alice.create_room("followed", 10, "").await.unwrap(), alice.create_room("empty", 10, "").await.unwrap());
    // Bob was in the room and follows it from his list, on the other instance; so do 10,000 others, who are not
    // on any list now.
    let (bobs_visit, _) = bob.join(followed.id).await;
    bobs_visit.close().await;
    apps[0]
        .execute(&format!(
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
             INSERT INTO read_marks (room_id, visitor_id, last_read_seq, marked_at)
             SELECT {}, 'follower' || i, 0, {} FROM n",
            followed.id.get(),
            now_ms()
        ))
        .await;
    let mut bobs_list = bob.connect().await;
    bobs_list.send(&ClientCommand::SubscribeLobby).await;
    bobs_list.expect(|e| matches!(e, LiveEvent::Rooms { .. }).then_some(())).await;

    let (_alice_followed, _) = alice.join(followed.id).await;
    let (_alice_empty, _) = alice.join(empty.id).await;
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (mut in_followed, mut in_empty) = (Vec::new(), Vec::new());
    for n in 0..20 {
        for (room, times) in [(followed.id, &mut in_followed), (empty.id, &mut in_empty)] {
            let started = Instant::now();
            alice.send(room, &format!("news {n}")).await.unwrap();
            times.push(started.elapsed());
        }
    }
    let activity = bobs_list
        .expect(|e| match e {
            LiveEvent::RoomActivity { id, preview } if *id == followed.id => Some(preview.clone()),
            _ => None,
        })
        .await;
    assert!(activity.text.starts_with("news "), "{activity:?}");
    for app in &apps {
        let stats = app.chat.broker_stats().unwrap();
        assert_eq!((stats.dropped.load(Relaxed), stats.resyncs.load(Relaxed)), (0, 0), "the broker kept up");
    }
    let (followed_ms, empty_ms) = (median(&mut in_followed), median(&mut in_empty));
    println!(
        "median send: {followed_ms:?} in a room with 10,000 followers, {empty_ms:?} in an empty one ({:.2}x)",
        followed_ms.as_secs_f64() / empty_ms.as_secs_f64()
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_published_by_anyone_but_the_chats_processes_are_dropped_and_counted() {
    use std::sync::atomic::Ordering::Relaxed;
    crate::helpers::require!(Nats);
    let (apps, broker) = spawn_cluster(2, |_| {}).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let room = alice.create_room("trusted", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    alice.send(room.id, "first").await.unwrap();
    bob_live.until_said("first").await;

    // Mallory reaches the NATS server and publishes on the chat's subjects: a chat message in Alice's name with
    // a sequence number that would poison Bob's position, a kick, and a resync storm; unsigned, or signed wrong.
    let cluster = if crate::helpers::on_postgres() {
        apps[0].text("SELECT convert_from(value, 'UTF8') FROM server_secrets WHERE name = 'cluster_id'").await
    } else {
        apps[0].text("SELECT CAST(value AS TEXT) FROM server_secrets WHERE name = 'cluster_id'").await
    };
    let mallory = async_nats::connect(&broker.url).await.unwrap();
    let forged_chat = serde_json::json!({ "type": "chat", "message": {
        "roomId": room.id, "seq": 999_999_999, "kind": "text", "author": alice.me(), "recipient": null,
        "body": "forged in Alice's name", "createdAt": 0 } });
    let (before_forged, prefix) =
        (apps[1].chat.broker_stats().unwrap().forged.load(Relaxed), format!("gif-chat.{cluster}"));
    for (subject, payload) in [
        (format!("{prefix}.room.{}", room.id), forged_chat.to_string()),
        (format!("{prefix}.room.{}", room.id), serde_json::json!({ "type": "kicked", "room": room.id }).to_string()),
        (format!("{prefix}.resync"), String::new()),
    ] {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Gif-Chat-Origin", "mallory");
        headers.insert("Gif-Chat-Seq", "999999999");
        mallory.publish_with_headers(subject.clone(), headers.clone(), payload.clone().into()).await.unwrap();
        headers.insert("Gif-Chat-Mac", "00".repeat(32).as_str());
        mallory.publish_with_headers(subject, headers, payload.into()).await.unwrap();
    }
    mallory.flush().await.unwrap();
    crate::helpers::eventually("instance B dropped the forged frames", || async {
        apps[1].chat.broker_stats().unwrap().forged.load(Relaxed) >= before_forged + 6
    })
    .await;

    // Bob saw none of it: the next genuine message comes next, with its own number.
    let genuine = alice.send(room.id, "genuine").await.unwrap();
    let seen = bob_live.until_said("genuine").await;
    assert!(!format!("{seen:?}").contains("forged") && !format!("{seen:?}").contains("Kicked"), "{seen:?}");
    assert!(genuine.seq < 10);
    for app in &apps {
        assert_eq!(app.chat.broker_stats().unwrap().resyncs.load(Relaxed), 0, "a forged resync was obeyed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_committed_while_an_instance_shuts_down_still_reaches_the_others() {
    crate::helpers::require!(Nats);
    let (apps, _broker) = spawn_cluster(2, |c| c.leave_grace_secs = 30.0).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let room = alice.create_room("last words", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    // Instance A begins to shut down; a send it was already serving commits after that (as a request in flight
    // does during the graceful shutdown).
    let chat = apps[0].chat.clone();
    chat.begin_shutdown();
    let body = protocol::domain::MessageBody::parse("said on the way out").unwrap();
    chat.send_text(room.id, alice.me(), chat::Outgoing::text(body)).await.unwrap();
    chat.finish().await;
    said(&mut bob_live, "said on the way out").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_during_a_broker_outage_still_stops_delivery_on_the_other_instance() {
    crate::helpers::require!(Nats);
    let (apps, mut broker) = spawn_cluster(2, |_| {}).await;
    let alice = apps[0].person().await;
    let (bob, mallory) = (apps[1].person().await, apps[1].person().await);
    let room = alice.create_room("moderated", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (_bob_live, _) = bob.join(room.id).await;
    let (mut mallory_live, _) = mallory.join(room.id).await;
    // The broker goes away; Alice, on the other instance, removes Mallory.
    broker.stop();
    let target = mallory.me().id.to_string();
    alice.call::<()>("kick", &[("room", &room.id.to_string()), ("person", &target)]).await.unwrap();
    // Mallory's connection on instance B is told, without the broker, and leaves the room.
    mallory_live.expect(|e| matches!(e, LiveEvent::Kicked { .. }).then_some(())).await;
    bob.send(room.id, "not for Mallory").await.unwrap();
    let seen = mallory_live.until_pong().await;
    assert!(!format!("{seen:?}").contains("not for Mallory"), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_comes_back_costs_a_read_per_room_not_per_connection() {
    const ROOMS: usize = 10;
    const TABS: usize = 50;
    crate::helpers::require!(Nats);
    let (apps, mut broker) = spawn_cluster(2, |c| c.no_rate_limits = true).await;
    // 500 live connections on instance B: ten people, each with fifty tabs in a room of their own.
    let mut sockets = Vec::new();
    for n in 0..ROOMS {
        let person = apps[1].person().await;
        let room = person.create_room(&format!("room {n}"), 10, "").await.unwrap();
        for _ in 0..TABS {
            sockets.push(person.join(room.id).await.0);
        }
    }
    let reads = || apps[1].chat.metrics().standing_reads.get();
    let before = reads();
    // The broker restarts: instance B's link comes back, and every connection of B catches up at once.
    broker.stop();
    broker.resume();
    for socket in &mut sockets {
        socket.expect(|e| matches!(e, LiveEvent::People { .. }).then_some(())).await;
    }
    let read = reads() - before;
    println!("{} connections caught up after a broker restart with {read} reads of their rooms", sockets.len());
    assert!(read <= 2 * ROOMS as u64, "{read} reads for {ROOMS} rooms");
}
