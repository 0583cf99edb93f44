//! Room life: who is here, whispers, owners and their hand-over, kicks, deletion, unread counts.
//!
//! (Over 400 lines: one test per rule of room life, each readable on its own; what they share is in `helpers`.)

use std::time::Duration;

use crate::helpers::{spawn_app, spawn_app_with};
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{MessageKind, Participant, RoomAccess, RoomId, RoomSummary};

fn names(people: &[Participant]) -> Vec<String> {
    people.iter().map(|p| p.person.name.clone()).collect()
}

/// Waits until `who`'s departure from `room` is complete (their leave grace over, their presence gone).
async fn gone(app: &crate::helpers::TestApp, who: &crate::helpers::TestPerson, room: RoomId) {
    let rows =
        format!("SELECT COUNT(*) FROM presence WHERE room_id = {room} AND visitor_id = '{}'", who.me().id.as_str());
    crate::helpers::eventually("the departure is complete", || async { app.count(&rows).await == 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_participant_list_follows_arrivals_and_departures_and_marks_the_owner() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.05).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("panel", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let people = alice.people_in(&mut alice_live, room.id, 1).await;
    assert_eq!(names(&people), vec![alice.me().name.clone()]);
    assert!(people[0].owner);

    let (bob_live, _) = bob.join(room.id).await;
    let people = alice.people_in(&mut alice_live, room.id, 2).await;
    assert_eq!(alice_live.reloads, 0, "Alice's list was kept by the changes alone");
    assert_eq!(names(&people), vec![alice.me().name.clone(), bob.me().name.clone()], "in order of arrival");
    assert!(people[0].owner && !people[1].owner);

    // The page renders the list too.
    let RoomAccess::Open(view) = bob.room_page(room.id).await else { panic!() };
    assert_eq!(view.participants, people);

    bob_live.close().await;
    let people = alice.people_in(&mut alice_live, room.id, 1).await;
    assert_eq!(names(&people), vec![alice.me().name.clone()]);
    assert_eq!(alice_live.reloads, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whisper_reaches_only_its_recipient_live_in_history_and_in_html() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let carol = app.person().await;
    let room = alice.create_room("secrets", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let (mut carol_live, _) = carol.join(room.id).await;

    let whisper = alice
        .call::<protocol::model::ChatMessage>(
            "send_message",
            &[("room", &room.id.to_string()), ("body", "psst, bob only"), ("to", bob.me().id.as_str())],
        )
        .await
        .unwrap();
    assert_eq!(whisper.kind, MessageKind::Whisper);
    assert_eq!(whisper.recipient.as_ref(), Some(bob.me()));
    let after = alice.send(room.id, "hello everyone").await.unwrap();

    let is_after = |e: &LiveEvent| matches!(e, LiveEvent::Chat { message } if message.seq == after.seq);
    for (live, sees_whisper) in [(&mut alice_live, true), (&mut bob_live, true), (&mut carol_live, false)] {
        let mut events = Vec::new();
        while !events.last().is_some_and(is_after) {
            events.push(live.next().await.unwrap());
        }
        let raw = format!("{events:?}");
        assert_eq!(raw.contains("psst"), sees_whisper, "{raw}");
    }

    // History after a reload: the page (and its SSR HTML) shows the whisper to Bob, never to Carol.
    let page = |person: &crate::helpers::TestPerson| {
        let url = app.url(&format!("/room/{}", room.id));
        let client = person.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(&bob).await.contains("psst, bob only"));
    assert!(!page(&carol).await.contains("psst"));
    let RoomAccess::Open(view) = carol.room_page(room.id).await else { panic!() };
    assert!(view.messages.iter().all(|m| m.kind != MessageKind::Whisper));
    let earlier: protocol::model::MessagePage =
        carol.call("earlier_messages", &[("room", &room.id.to_string()), ("before", "1000")]).await.unwrap();
    assert!(earlier.messages.iter().all(|m| !m.body.contains("psst")));

    // Catching up after a reconnect does not leak it either.
    let mut again = carol.connect().await;
    again.send(&ClientCommand::Join { room: room.id, since: Some(0) }).await;
    // (Caught up in order: by the message after it, the whisper would have come.)
    let mut events = Vec::new();
    while !events.last().is_some_and(is_after) {
        events.push(again.next().await.expect("Carol still catches up on the rest"));
    }
    assert!(!format!("{events:?}").contains("psst"));

    // Whispers go to someone present, not to yourself.
    let to_self = alice
        .call::<protocol::model::ChatMessage>(
            "send_message",
            &[("room", &room.id.to_string()), ("body", "me"), ("to", alice.me().id.as_str())],
        )
        .await
        .unwrap_err();
    assert_eq!(to_self.status, 422);
    let to_nobody = alice
        .call::<protocol::model::ChatMessage>(
            "send_message",
            &[("room", &room.id.to_string()), ("body", "x"), ("to", "nobody")],
        )
        .await
        .unwrap_err();
    assert_eq!(to_nobody.status, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whisper_to_someone_who_stepped_out_is_refused_by_name_and_stored_nowhere() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.05).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let carol = app.person().await;
    let room = alice.create_room("away", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (bob_live, _) = bob.join(room.id).await;
    let (_carol_live, _) = carol.join(room.id).await;
    alice.people_in(&mut alice_live, room.id, 3).await;
    let whisper = |body: &'static str| {
        let alice = alice.clone();
        let (room, to) = (room.id.to_string(), bob.me().id.to_string());
        async move {
            alice
                .call::<protocol::model::ChatMessage>("send_message", &[("room", &room), ("body", body), ("to", &to)])
                .await
        }
    };

    // Bob's connection drops; once the leave grace is over he is gone, and a whisper to him is refused by name.
    bob_live.close().await;
    alice.people_in(&mut alice_live, room.id, 2).await;
    let refused = whisper("typed while bob was away").await.unwrap_err();
    assert_eq!(refused.status, 422);
    assert_eq!(refused.message, format!("{} is not here: your whisper was not sent.", bob.me().name));
    let stored = app.count("SELECT COUNT(*) FROM messages WHERE body LIKE 'typed while%'").await;
    assert_eq!(stored, 0, "nothing is stored, as a whisper or otherwise");
    let RoomAccess::Open(view) = carol.room_page(room.id).await else { panic!() };
    assert!(view.messages.iter().all(|m| !m.body.contains("typed while")));

    // Bob is back (the same person, another connection): whispers reach him again, and only him.
    let (_bob_again, _) = bob.join(room.id).await;
    alice.people_in(&mut alice_live, room.id, 3).await;
    let sent = whisper("welcome back").await.unwrap();
    assert_eq!((sent.kind, sent.recipient.as_ref()), (MessageKind::Whisper, Some(bob.me())));
    let RoomAccess::Open(view) = carol.room_page(room.id).await else { panic!() };
    assert!(view.messages.iter().all(|m| m.body != "welcome back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_owner_leaves_the_longest_present_person_takes_over() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.05).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let carol = app.person().await;
    let room = alice.create_room("succession", 10, "").await.unwrap();
    let (alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let (_carol_live, _) = carol.join(room.id).await;

    alice_live.close().await;
    let people = bob.people_in(&mut bob_live, room.id, 2).await;
    assert_eq!(people.iter().find(|p| p.owner).map(|p| &p.person), Some(bob.me()));
    let announcement = bob_live
        .expect(|e| match e {
            LiveEvent::Chat { message } if message.body.ends_with("is now the owner") => Some(message.body.clone()),
            _ => None,
        })
        .await;
    assert_eq!(announcement, format!("{} is now the owner", bob.me().name));
    let rooms: Vec<RoomSummary> = carol.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms[0].owner, *bob.me());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_survives_a_server_restart() {
    let mut app = spawn_app_with(|c| {
        c.leave_grace_secs = 0.05;
        c.room_grace_secs = 60.0;
    })
    .await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("durable", 10, "").await.unwrap();
    let (alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    alice_live.close().await;
    bob_live
        .expect(|e| {
            matches!(e, LiveEvent::Chat { message } if message.body.ends_with("is now the owner")).then_some(())
        })
        .await;
    bob_live.close().await;
    // Bob's departure is complete (he left the room empty, and keeps it for the room's grace) before the restart.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.count("SELECT COUNT(*) FROM presence").await > 0 {
        assert!(std::time::Instant::now() < deadline, "Bob's departure was never completed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    app.restart().await;
    let (mut alice_again, _) = alice.join(room.id).await;
    let people = alice.people_in(&mut alice_again, room.id, 1).await;
    assert!(!people[0].owner, "Alice handed the room over before the restart");
    let rooms: Vec<RoomSummary> = alice.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms[0].owner, *bob.me());
    // Only Bob may delete it.
    let refusal = alice.call::<()>("delete_room", &[("room", &room.id.to_string())]).await.unwrap_err();
    assert_eq!(refusal.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kicked_person_leaves_at_once_and_cannot_come_back() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let carol = app.person().await;
    let room = alice.create_room("strict", 10, "").await.unwrap();
    let id = room.id.to_string();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let (mut bob_tab2, _) = bob.join(room.id).await;
    let (_carol_live, _) = carol.join(room.id).await;

    // Nobody but the owner may kick or delete, whatever they send.
    for (endpoint, args) in [
        ("kick", vec![("room", id.as_str()), ("person", alice.me().id.as_str())]),
        ("delete_room", vec![("room", id.as_str())]),
    ] {
        let refusal = carol.call::<()>(endpoint, &args).await.unwrap_err();
        assert_eq!(
            (refusal.status, refusal.message.as_str()),
            (403, "Only the room's owner can do that."),
            "{endpoint}"
        );
    }

    alice.call::<()>("kick", &[("room", &id), ("person", bob.me().id.as_str())]).await.unwrap();
    for tab in [&mut bob_live, &mut bob_tab2] {
        tab.expect(|e| matches!(e, LiveEvent::Kicked { .. }).then_some(())).await;
    }
    let (bob_id, carol_id) = (bob.me().id.clone(), carol.me().id.clone());
    let has = |people: &[Participant], id: &protocol::model::PersonId| people.iter().any(|p| p.person.id == *id);
    // Past the changes from before the kick (the last of which brought the third person).
    alice.people_in(&mut alice_live, room.id, 3).await;
    let people = alice.people_in(&mut alice_live, room.id, 2).await;
    assert!(!has(&people, &bob_id) && has(&people, &carol_id), "Alice and Carol remain: {people:?}");
    assert_eq!(alice_live.reloads, 0, "the kick's change kept her list right");
    // Bob's kicked tab receives nothing from the room any more.
    // (Its connection left the room when told of the kick, so nothing of the room can be on its way: what comes
    // before the answer to a ping is all it will get.)
    alice.send(room.id, "after the kick").await.unwrap();
    let leftovers = bob_live.until_pong().await;
    assert!(!format!("{leftovers:?}").contains("after the kick"), "{leftovers:?}");
    let refused = bob.send(room.id, "let me in").await.unwrap_err();
    assert_eq!(refused.status, 403);

    // A new tab cannot rejoin; the page says why.
    let mut new_tab = bob.connect().await;
    new_tab.send(&ClientCommand::Join { room: room.id, since: None }).await;
    let reason = new_tab
        .expect(|e| match e {
            LiveEvent::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refusal::Banned);
    assert!(matches!(bob.room_page(room.id).await, RoomAccess::Refused { refusal: Refusal::Banned, .. }));
    assert_eq!(bob.upload(&id, "x.gif", crate::helpers::make_gif(4, 1)).await.unwrap_err().status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_deletes_the_room_and_everyone_in_it_is_told() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("doomed", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    alice.upload(&room.id.to_string(), "x.gif", crate::helpers::make_gif(4, 1)).await.unwrap();
    alice.call::<()>("delete_room", &[("room", &room.id.to_string())]).await.unwrap();
    let removed = bob_live
        .expect(|e| match e {
            LiveEvent::RemoveRoom { id } => Some(*id),
            _ => None,
        })
        .await;
    assert_eq!(removed, room.id);
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0);
    // Its GIFs go in the background.
    crate::helpers::eventually("the room's GIFs are removed", || async { app.upload_files().is_empty() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_rise_while_away_and_reset_on_return() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.05).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("news", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    alice.send(room.id, "seen while there").await.unwrap();
    bob_live.next_chat().await;

    // Bob goes back to the room list (same connection, as the app does).
    bob_live.send(&ClientCommand::SubscribeLobby).await;
    let rooms = bob_live
        .expect(|e| match e {
            LiveEvent::Rooms { rooms, .. } => Some(rooms.clone()),
            _ => None,
        })
        .await;
    assert_eq!(rooms[0].unread, Some(0));
    let never_entered: Vec<RoomSummary> = app.person().await.call("list_rooms", &[]).await.unwrap();
    assert_eq!(never_entered[0].unread, None, "no counts for rooms never entered");

    gone(&app, &bob, room.id).await;
    alice.send(room.id, "one").await.unwrap();
    alice.send(room.id, "two, the latest").await.unwrap();
    for expected in ["one", "two, the latest"] {
        let preview = bob_live
            .expect(|e| match e {
                LiveEvent::RoomActivity { preview, .. } => Some(preview.clone()),
                _ => None,
            })
            .await;
        assert_eq!(preview.text, expected);
        assert_eq!(preview.author.as_ref(), Some(alice.me()));
    }
    let rooms: Vec<RoomSummary> = bob.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms[0].unread, Some(2));
    assert_eq!(rooms[0].last_message.as_ref().unwrap().text, "two, the latest");

    // Opening the room resets the count.
    bob_live.send(&ClientCommand::Join { room: room.id, since: None }).await;
    bob_live.expect(|e| matches!(e, LiveEvent::Joined { .. }).then_some(())).await;
    bob_live.send(&ClientCommand::SubscribeLobby).await;
    let rooms = bob_live
        .expect(|e| match e {
            LiveEvent::Rooms { rooms, .. } => Some(rooms.clone()),
            _ => None,
        })
        .await;
    assert_eq!(rooms[0].unread, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_hears_of_every_message_once_when_many_come_at_once() {
    const SENT: usize = 40;
    let app = spawn_app_with(|c| {
        c.leave_grace_secs = 0.05;
        c.limit_sends = "100/1s,100/1s,1000/1s".parse().unwrap();
    })
    .await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("busy", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    bob_live.send(&ClientCommand::SubscribeLobby).await;
    bob_live.expect(|e| matches!(e, LiveEvent::Rooms { .. }).then_some(())).await;
    gone(&app, &bob, room.id).await;

    // Forty sends at once: their notices to Bob's list are worked out while others commit.
    let bodies: Vec<String> = (0..SENT).map(|n| format!("message {n}")).collect();
    let sends = bodies.iter().map(|body| alice.send(room.id, body));
    let mut committed: Vec<i64> =
        futures_util::future::join_all(sends).await.into_iter().map(|sent| sent.unwrap().seq).collect();
    committed.sort();
    let mut heard = Vec::new();
    while heard.len() < SENT {
        heard.push(
            bob_live
                .expect(|e| match e {
                    LiveEvent::RoomActivity { id, preview } if *id == room.id => Some(preview.seq),
                    _ => None,
                })
                .await,
        );
    }
    // Sends committed at once are published as each finishes, not always in their order: the list counts by
    // number, whatever the order (see `pages/home.rs`).
    heard.sort();
    assert_eq!(heard, committed, "every message once");
    // The room's notices are published in order: by the notice of one more message, a second one of any before
    // it would have come.
    let marker = alice.send(room.id, "one more").await.unwrap();
    let mut more = Vec::new();
    loop {
        match bob_live.next().await.expect("Bob's list stays open") {
            LiveEvent::RoomActivity { preview, .. } if preview.seq == marker.seq => break,
            event => more.push(event),
        }
    }
    assert!(!more.iter().any(|e| matches!(e, LiveEvent::RoomActivity { .. })), "and nothing twice: {more:?}");
    assert_eq!(app.chat.footprint().notifying, 0, "the room's notifier ended with its queue");
    let rooms: Vec<RoomSummary> = bob.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms[0].unread, Some(SENT as u32 + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_participants_carry_distinct_tags() {
    let app = spawn_app().await;
    let room_owner = app.person().await;
    let room = room_owner.create_room("crowd", 100, "").await.unwrap();
    // Enough people that some colors are close (two random hues fall within 22° with probability 1 in 8).
    let mut people = Vec::new();
    let mut lives = Vec::new();
    for _ in 0..12 {
        let person = app.person().await;
        let (live, _) = person.join(room.id).await;
        people.push(person);
        lives.push(live);
    }
    let RoomAccess::Open(view) = room_owner.room_page(room.id).await else { panic!() };
    let participants = view.participants;
    let close = |a: &Participant, b: &Participant| {
        a.person.name == b.person.name
            || chat::identity::color_distance(a.person.hue, b.person.hue) < chat::identity::CLOSE_COLOR_DISTANCE
    };
    let mut pairs = 0;
    for (i, a) in participants.iter().enumerate() {
        for b in &participants[i + 1..] {
            if close(a, b) {
                pairs += 1;
                let (ta, tb) = (
                    a.tag.as_ref().expect("look-alike without a tag"),
                    b.tag.as_ref().expect("look-alike without a tag"),
                );
                assert_ne!(ta, tb);
            }
        }
        if !participants.iter().any(|b| b.person.id != a.person.id && close(a, b)) {
            assert_eq!(a.tag, None, "{} has a tag without a look-alike", a.person.name);
        }
    }
    // With 12 random people the chance of no close pair is tiny; if it happens the unit test still covers it.
    eprintln!("{pairs} look-alike pairs among {} people", participants.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_connection_is_told_where_the_room_stands_once_and_never_sent_the_whole_list() {
    let app = spawn_app().await;
    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("once", 10, "").await.unwrap();
    let (_bob_live, _) = bob.join(room.id).await;
    // A newcomer: their arrival is announced to the whole room (this connection too), as a change.
    let (mut first_tab, _) = alice.join(room.id).await;
    bob.send(room.id, "marker 1").await.unwrap();
    let events = first_tab.until_said("marker 1").await;
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| if let LiveEvent::People { change, .. } = e { Some(change) } else { None })
        .collect();
    assert_eq!(changes.len(), 1, "{events:?}");
    assert_eq!((changes[0].arrived.len(), changes[0].present), (1, 2), "Alice alone, not everyone: {events:?}");
    // A second tab of someone already here: nothing is announced, so that tab alone is told where the room
    // stands (no one arriving or leaving), to check its page's list against.
    let (mut second_tab, _) = alice.join(room.id).await;
    bob.send(room.id, "marker 2").await.unwrap();
    let events = second_tab.until_said("marker 2").await;
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| if let LiveEvent::People { change, .. } = e { Some(change) } else { None })
        .collect();
    assert_eq!(changes.len(), 1, "{events:?}");
    assert!(changes[0].arrived.is_empty() && changes[0].left.is_empty(), "{events:?}");
    let events = first_tab.until_said("marker 2").await;
    assert!(!events.iter().any(|e| matches!(e, LiveEvent::People { .. })), "the first tab is told again: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_list_hears_of_a_new_owner_and_presence_updates_carry_rising_versions() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.05).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let watcher = app.person().await;
    let mut lobby = watcher.connect().await;
    lobby.send(&ClientCommand::SubscribeLobby).await;
    lobby.expect(|e| matches!(e, LiveEvent::Rooms { .. }).then_some(())).await;

    let room = alice.create_room("succession", 10, "").await.unwrap();
    let (alice_live, _) = alice.join(room.id).await;
    let (_bob_live, _) = bob.join(room.id).await;
    alice_live.close().await;

    // The room list hears the presence changes (the first at once, then the latest of each quarter second: 1
    // person, perhaps 2, then 1 again), each with a higher version, and the hand-over to Bob.
    let (mut versions, mut new_owner) = (Vec::<(u32, u64)>::new(), None);
    while versions.len() < 2 || versions.last().is_some_and(|(present, _)| *present != 1) || new_owner.is_none() {
        match lobby.next().await.expect("the lobby stays open") {
            LiveEvent::RoomPresence { id, present, version } if id == room.id => versions.push((present, version)),
            LiveEvent::RoomOwner { id, owner } if id == room.id => new_owner = Some(owner),
            _ => {}
        }
    }
    assert_eq!(new_owner.as_ref(), Some(bob.me()));
    let counts: Vec<u32> = versions.iter().map(|(present, _)| *present).collect();
    assert!(counts == [1, 2, 1] || counts == [1, 1], "{counts:?}");
    assert!(versions.windows(2).all(|pair| pair[0].1 < pair[1].1), "{versions:?}");
    let snapshot = watcher.call::<Vec<RoomSummary>>("list_rooms", &[]).await.unwrap();
    let listed = snapshot.iter().find(|r| r.id == room.id).unwrap();
    assert_eq!((listed.present, listed.presence_version), *versions.last().unwrap());
    assert_eq!(listed.owner, *bob.me(), "the list's snapshot knows the new owner too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_who_steps_out_of_an_empty_room_keeps_it_through_the_grace() {
    let app = spawn_app_with(|c| {
        c.leave_grace_secs = 0.05;
        c.room_grace_secs = 1.5;
    })
    .await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("mine", 10, "").await.unwrap();
    let (alice_live, _) = alice.join(room.id).await;
    alice_live.close().await;
    gone(&app, &alice, room.id).await; // her departure is final, the room empty

    // Bob arrives during the grace: the room is still Alice's, and he cannot remove her when she is back.
    let (mut bob_live, _) = bob.join(room.id).await;
    let people = bob.people_in(&mut bob_live, room.id, 1).await;
    assert!(!people[0].owner, "a newcomer does not take a room its owner stepped out of");
    let (_alice_again, _) = alice.join(room.id).await;
    let refusal = bob.call::<()>("kick", &[("room", &room.id.to_string()), ("person", alice.me().id.as_str())]).await;
    assert_eq!(refusal.unwrap_err().status, 403);
    let people = bob.people_in(&mut bob_live, room.id, 2).await;
    assert!(people.iter().any(|p| p.owner && p.person.id == alice.me().id), "{people:?}");

    // Had she stayed away past the grace, the person present longest would have taken over then.
    let carol = app.person().await;
    let dave = app.person().await;
    let other = carol.create_room("theirs", 10, "").await.unwrap();
    let (carol_live, _) = carol.join(other.id).await;
    carol_live.close().await;
    gone(&app, &carol, other.id).await;
    let (mut dave_live, _) = dave.join(other.id).await;
    let message = dave_live.expect(|e| match e {
        LiveEvent::Chat { message } if message.body.ends_with("is now the owner") => Some(message.body.clone()),
        _ => None,
    });
    let message = tokio::time::timeout(Duration::from_secs(5), message).await.expect("a hand-over after the grace");
    assert_eq!(message, format!("{} is now the owner", dave.me().name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_person_gets_nothing_of_the_room_even_with_a_read_mark_left_by_a_race() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.05).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("club", 10, "").await.unwrap();
    // Bob also follows another room of Alice's, whose notices serve as a marker below.
    let open = alice.create_room("open", 10, "").await.unwrap();
    let (bob_elsewhere, _) = bob.join(open.id).await;
    bob_elsewhere.close().await;
    let (_alice_live, _) = alice.join(room.id).await;
    let (_alice_open, _) = alice.join(open.id).await;
    let (bob_live, _) = bob.join(room.id).await;
    alice.send(room.id, "before").await.unwrap();
    alice.call::<()>("kick", &[("room", &room.id.to_string()), ("person", bob.me().id.as_str())]).await.unwrap();
    bob_live.close().await;

    // The race, forced: a leave of Bob's that lost the race to the kick saves his read mark after it. The save
    // refuses to (the ban is checked in its statement)...
    app.chat.leave(room.id, &bob.me().id, 0).await;
    let marks = format!(
        "SELECT COUNT(*) FROM read_marks WHERE room_id = {} AND visitor_id = '{}'",
        room.id,
        bob.me().id.as_str()
    );
    assert_eq!(app.count(&marks).await, 0, "a leave after the kick saved a read mark");
    // ...and were one there anyway (written before the ban, by a process that has not seen it), the room would
    // still tell Bob nothing.
    app.execute(&format!(
        "INSERT INTO read_marks (room_id, visitor_id, last_read_seq) VALUES ({}, '{}', 0)
         ON CONFLICT (room_id, visitor_id) DO UPDATE SET last_read_seq = 0",
        room.id.get(),
        bob.me().id.as_str()
    ))
    .await;

    let mut lobby = bob.connect().await;
    lobby.send(&ClientCommand::SubscribeLobby).await;
    let rooms = lobby
        .expect(|e| match e {
            LiveEvent::Rooms { rooms, .. } => Some(rooms.clone()),
            _ => None,
        })
        .await;
    let listed = rooms.iter().find(|r| r.id == room.id).expect("the room is still listed");
    assert_eq!((listed.unread, listed.last_message.is_none()), (None, true), "no count, no preview");
    alice.send(room.id, "secret plans").await.unwrap();
    // Once the room's notices are all out, a notice of the other room comes after any of them on Bob's list.
    crate::helpers::eventually("the notices are out", || async { app.chat.footprint().notifying == 0 }).await;
    alice.send(open.id, "marker").await.unwrap();
    let mut seen = Vec::new();
    loop {
        match lobby.next().await.expect("Bob's list stays open") {
            LiveEvent::RoomActivity { id, .. } if id == open.id => break,
            event => seen.push(event),
        }
    }
    assert!(!format!("{seen:?}").contains("secret plans"), "a removed person got a preview: {seen:?}");
    let listed: Vec<RoomSummary> = bob.call("list_rooms", &[]).await.unwrap();
    let club = listed.iter().find(|r| r.id == room.id).unwrap();
    assert!(club.unread.is_none() && club.last_message.is_none(), "{club:?}");
    // Nor history, nor a live catch-up.
    let earlier =
        bob.call::<serde_json::Value>("earlier_messages", &[("room", &room.id.to_string()), ("before", "99")]).await;
    assert_eq!(earlier.unwrap_err().status, 403);
    let mut rejoin = bob.connect().await;
    rejoin.send(&ClientCommand::Join { room: room.id, since: Some(0) }).await;
    let refused = rejoin
        .expect(|e| match e {
            LiveEvent::Refused { reason, .. } => Some(*reason),
            LiveEvent::Chat { message } => panic!("caught up on {message:?}"),
            _ => None,
        })
        .await;
    assert_eq!(refused, Refusal::Banned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_started_before_a_kick_is_not_posted_after_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("gifs", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (_bob_live, _) = bob.join(room.id).await;

    // Bob's upload is admitted and half sent...
    let gif = crate::helpers::make_gif(8, 2);
    let mut body = b"--X\r\nContent-Disposition: form-data; name=\"gif\"; filename=\"a.gif\"\r\n\r\n".to_vec();
    body.extend_from_slice(&gif);
    body.extend_from_slice(b"\r\n--X--\r\n");
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /room/{}/gif HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=X\r\nContent-Length: {}\r\n\r\n",
        room.id,
        app.addr,
        bob.cookie_header(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() - 20);
    stream.write_all(first).await.unwrap();
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while app.upload_files().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...when the owner removes him. The rest arrives afterwards.
    alice.call::<()>("kick", &[("room", &room.id.to_string()), ("person", bob.me().id.as_str())]).await.unwrap();
    stream.write_all(rest).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("\"reason\":\"banned\""), "{answer}");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, 0, "nothing was posted");
    assert!(app.upload_files().is_empty(), "nothing was left on disk: {:?}", app.upload_files());
}
