//! Alarms over the real server: raised by what others do, told live to every page of their person (the room
//! list, another room), caught up after a reconnect, read, withdrawn after a kick, and across processes.

use protocol::alarms::{AlarmChange, AlarmKind, Alarms};
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, RoomAccess, RoomId, RoomSummary};

use crate::helpers::{LiveClient, TestPerson, spawn_app_with, spawn_cluster};

/// A page on the room list that watches its person's alarms: the connection, and the list it was sent first.
async fn bell(person: &TestPerson, since: Option<i64>) -> (LiveClient, Vec<LiveEvent>) {
    let mut live = person.connect().await;
    live.send(&ClientCommand::SubscribeLobby).await;
    live.send(&ClientCommand::WatchAlarms { since }).await;
    let events = live.until_pong().await;
    (
        live,
        events
            .into_iter()
            .filter(|event| matches!(event, LiveEvent::Alarms { .. } | LiveEvent::Alarm { .. }))
            .collect(),
    )
}

async fn next_alarm(live: &mut LiveClient) -> AlarmChange {
    live.expect(|event| match event {
        LiveEvent::Alarm { change } => Some(change.clone()),
        _ => None,
    })
    .await
}

async fn react(person: &TestPerson, room: RoomId, seq: i64, emoji: &str) {
    let (room, seq) = (room.to_string(), seq.to_string());
    let args = [("room", room.as_str()), ("seq", seq.as_str()), ("emoji", emoji), ("on", "true")];
    person.call::<ChatMessage>("react", &args).await.unwrap();
}

async fn say(
    person: &TestPerson,
    room: RoomId,
    body: &str,
    to: Option<&TestPerson>,
    reply_to: Option<i64>,
) -> ChatMessage {
    let (room, reply_to) = (room.to_string(), reply_to.map(|seq| seq.to_string()));
    let mut args = vec![("room", room.as_str()), ("body", body)];
    if let Some(to) = to {
        args.push(("to", to.me().id.as_str()));
    }
    if let Some(reply_to) = &reply_to {
        args.push(("reply_to", reply_to.as_str()));
    }
    person.call("send_message", &args).await.unwrap()
}

#[tokio::test]
async fn reactions_replies_and_whispers_alarm_their_person_wherever_they_are_never_for_their_own() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 30.0).await;
    let (alice, bob, carol) = (app.person().await, app.person().await, app.person().await);
    let room = alice.create_room("Lunch", 10, "").await.unwrap().id;
    let (_alice_in_room, _) = alice.join(room).await;
    let (bob_in_room, _) = bob.join(room).await;
    let (_carol_in_room, _) = carol.join(room).await;
    let hello = say(&alice, room, "hello", None, None).await;

    // Alice's other page is the room list: it gets her alarms (none yet, and it says so).
    let (mut alice_bell, first) = bell(&alice, None).await;
    assert_eq!(first, [LiveEvent::Alarms { alarms: Alarms::default() }]);

    // Her own reaction alarms nobody; Bob's does.
    react(&alice, room, hello.seq, "😂").await;
    react(&bob, room, hello.seq, "😂").await;
    let change = next_alarm(&mut alice_bell).await;
    assert_eq!((change.seq, change.unread), (1, 1), "{change:?}");
    let alarm = &change.alarms[0];
    assert_eq!(
        (alarm.kind, alarm.actor.id.clone(), alarm.room, alarm.message),
        (AlarmKind::Reaction, bob.me().id.clone(), room, Some(hello.seq))
    );
    assert_eq!(alarm.what(), format!("{} reacted 😂 to your message", bob.me().name));

    // Bob's second reaction is not a second alarm; his reply is one.
    react(&bob, room, hello.seq, "🎉").await;
    let reply = say(&bob, room, "hi Alice", None, Some(hello.seq)).await;
    let change = next_alarm(&mut alice_bell).await;
    assert_eq!((change.seq, change.unread, change.alarms[0].kind), (2, 2, AlarmKind::Reply));
    assert_eq!(change.alarms[0].message, Some(reply.seq), "links to the reply");

    // A whisper to Bob while his page of the room is open alarms nobody; once he closed it, one does.
    let (mut bob_bell, _) = bell(&bob, None).await;
    say(&alice, room, "psst, still here?", Some(&bob), None).await;
    // (Skipped so far: Bob's second reaction, and this whisper.)
    crate::helpers::eventually("the whisper to an open page is skipped", || async {
        app.chat.metrics().alarms_skipped.get() == 2
    })
    .await;
    bob_in_room.close().await;
    crate::helpers::eventually("Bob's page of the room is closed", || async {
        app.count("SELECT COUNT(*) FROM presence WHERE connections > 0").await == 2
    })
    .await;
    let whisper = say(&alice, room, "psst", Some(&bob), None).await;
    let change = next_alarm(&mut bob_bell).await;
    assert_eq!(
        (change.seq, change.alarms[0].kind, change.alarms[0].message),
        (1, AlarmKind::Whisper, Some(whisper.seq))
    );

    // Alice's bell goes away; meanwhile Carol reacts too. Back, it gets the list as it stands; a page that has
    // the latest gets nothing.
    alice_bell.close().await;
    react(&carol, room, hello.seq, "👍").await;
    crate::helpers::eventually("Carol's reaction is an alarm", || async {
        app.count("SELECT COUNT(*) FROM alarm_actors").await == 4
    })
    .await;
    let (mut alice_bell, caught_up) = bell(&alice, Some(2)).await;
    let [LiveEvent::Alarms { alarms }] = caught_up.as_slice() else { panic!("{caught_up:?}") };
    assert_eq!((alarms.seq, alarms.unread, alarms.alarms.len()), (3, 2, 2));
    assert_eq!(alarms.alarms[0].what(), format!("{} and 1 other reacted to your message", carol.me().name));
    let (_, nothing) = bell(&alice, Some(3)).await;
    assert!(nothing.is_empty(), "{nothing:?}");

    // Reading them tells every page.
    let unread: u32 = alice.call("mark_alarms_read", &[("up_to", "3")]).await.unwrap();
    assert_eq!(unread, 0);
    let change = next_alarm(&mut alice_bell).await;
    assert_eq!((change.seq, change.read_up_to, change.unread), (4, 3, 0));

    // Bob removed from the room: his alarms about it are withdrawn.
    let bob_id = bob.me().id.to_string();
    alice.call::<()>("kick", &[("room", &room.to_string()), ("person", &bob_id)]).await.unwrap();
    let change = next_alarm(&mut bob_bell).await;
    assert_eq!((change.seq, change.gone.len(), change.unread), (2, 1, 0));
    let left: Alarms = bob.call("alarms", &[]).await.unwrap();
    assert!(left.alarms.is_empty());
}

#[tokio::test]
async fn a_muted_person_alarms_nobody_and_bad_input_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("Lunch", 10, "").await.unwrap().id;
    let (_alice_in_room, _) = alice.join(room).await;
    let (_bob_in_room, _) = bob.join(room).await;
    let hello = say(&alice, room, "hello", None, None).await;
    alice.call::<()>("mute", &[("person", bob.me().id.as_str())]).await.unwrap();
    let muted: Vec<protocol::model::Person> = alice.call("muted", &[]).await.unwrap();
    assert_eq!(muted, [bob.me().clone()]);
    react(&bob, room, hello.seq, "😂").await;
    // (Alarms are raised in the background: this one is known to be done once it was skipped.)
    crate::helpers::eventually("the muted reaction is skipped", || async {
        app.chat.metrics().alarms_skipped.get() == 1
    })
    .await;
    alice.call::<()>("mute", &[("person", bob.me().id.as_str()), ("on", "false")]).await.unwrap();
    say(&bob, room, "hi", None, Some(hello.seq)).await;
    crate::helpers::eventually("the reply is an alarm", || async {
        app.count("SELECT COUNT(*) FROM alarms").await == 1
    })
    .await;
    let alarms: Alarms = alice.call("alarms", &[]).await.unwrap();
    assert_eq!(
        alarms.alarms.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AlarmKind::Reply],
        "the muted reaction raised none"
    );

    assert!(alice.call::<()>("mute", &[("person", "not an id!")]).await.is_err());
    assert!(alice.call::<()>("mute", &[("person", alice.me().id.as_str())]).await.is_err(), "not oneself");
    assert!(alice.call::<u32>("mark_alarms_read", &[("up_to", "x")]).await.is_err());
}

#[tokio::test]
async fn an_alarm_reaches_its_person_on_another_process() {
    let (apps, _broker) = spawn_cluster(2, |_| {}).await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let room = alice.create_room("Lunch", 10, "").await.unwrap().id;
    let (_alice_in_room, _) = alice.join(room).await;
    let (_bob_in_room, _) = bob.join(room).await;
    let hello = say(&alice, room, "hello", None, None).await;
    let (mut alice_bell, _) = bell(&alice, None).await;
    react(&bob, room, hello.seq, "😂").await;
    let change = next_alarm(&mut alice_bell).await;
    assert_eq!((change.seq, change.alarms[0].actor.id.clone()), (1, bob.me().id.clone()));
}

#[tokio::test]
async fn a_mention_alarms_the_people_here_it_names_and_a_message_mentions_at_most_ten() {
    let app = spawn_app_with(|_| {}).await;
    let (alice, bob, carol, dave) = (app.person().await, app.person().await, app.person().await, app.person().await);
    let room = alice.create_room("Lunch", 10, "").await.unwrap().id;
    let (_alice_in_room, _) = alice.join(room).await;
    let (_bob_in_room, _) = bob.join(room).await;
    let (_carol_in_room, _) = carol.join(room).await;
    let (mut carol_bell, _) = bell(&carol, None).await;
    let token = |person: &TestPerson| protocol::mentions::token(person.me().id.as_str());
    // Dave is not here: his mention does nothing special; Bob's own neither.
    let body = format!("lunch? {} {} {} {}", token(&alice), token(&carol), token(&dave), token(&bob));
    let sent = say(&bob, room, &body, None, None).await;
    assert_eq!(
        sent.mentions.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        [&alice, &carol, &dave, &bob].map(|p| p.me().id.clone())
    );
    assert_eq!(
        sent.plain_text(),
        format!("lunch? @{} @{} @{} @{}", alice.me().name, carol.me().name, dave.me().name, bob.me().name)
    );
    let change = next_alarm(&mut carol_bell).await;
    assert_eq!((change.alarms[0].kind, change.alarms[0].message), (AlarmKind::Mention, Some(sent.seq)));
    assert_eq!(change.alarms[0].what(), format!("{} mentioned you", bob.me().name));
    crate::helpers::eventually("Alice is alarmed, Dave and Bob skipped", || async {
        app.count("SELECT COUNT(*) FROM alarms WHERE kind = 'mention'").await == 2
            && app.chat.metrics().alarms_skipped.get() == 1
    })
    .await;
    // A whisper's mention alarms its recipient only.
    let whisper = say(&bob, room, &format!("{} {}", token(&alice), token(&carol)), Some(&carol), None).await;
    let change = next_alarm(&mut carol_bell).await;
    assert_eq!((change.alarms[0].kind, change.alarms[0].message), (AlarmKind::Mention, Some(whisper.seq)));
    crate::helpers::eventually("Alice is not alarmed by a whisper to Carol", || async {
        app.count("SELECT COUNT(*) FROM alarms WHERE kind = 'mention'").await == 3
    })
    .await;

    let crowd: String = (0..11).map(|n| protocol::mentions::token(&format!("{n:032x}"))).collect();
    let refused = bob.call::<ChatMessage>("send_message", &[("room", &room.to_string()), ("body", &crowd)]).await;
    assert!(format!("{refused:?}").contains("at most 10 people"), "{refused:?}");
}

#[tokio::test]
async fn talking_privately_makes_a_room_for_two_that_nobody_else_finds_and_declining_tells_the_inviter() {
    let app = spawn_app_with(|_| {}).await;
    let (alice, bob, carol) = (app.person().await, app.person().await, app.person().await);
    let room = alice.create_room("Lunch", 10, "").await.unwrap().id;
    let (_alice_in_room, _) = alice.join(room).await;
    let (_bob_in_room, _) = bob.join(room).await;
    let (mut bob_bell, _) = bell(&bob, None).await;
    let (mut alice_bell, _) = bell(&alice, None).await;
    let invite = |by: &TestPerson, whom: &TestPerson| {
        let (by, whom) = (by.clone(), whom.me().id.to_string());
        async move { by.call::<RoomSummary>("talk_privately", &[("room", &room.to_string()), ("person", &whom)]).await }
    };

    // Carol is not in the room: she cannot be invited from it.
    assert!(invite(&alice, &carol).await.unwrap_err().message.contains("is not here"));
    assert!(invite(&alice, &alice).await.is_err(), "not oneself");
    let private = invite(&alice, &bob).await.unwrap();
    assert!(private.private && !private.locked);
    assert_eq!((private.max_members, private.title.clone()), (2, format!("{} and {}", alice.me().name, bob.me().name)));
    let change = next_alarm(&mut bob_bell).await;
    let alarm = &change.alarms[0];
    assert_eq!((alarm.kind, alarm.room, alarm.message), (AlarmKind::Invitation, private.id, None));
    assert_eq!(alarm.what(), format!("{} invited you to talk privately", alice.me().name));
    assert_eq!(alarm.link(), Some(format!("/room/{}", private.id)));

    // Not on anyone's list; to Carol it does not exist, on a page or on the live channel.
    for person in [&alice, &bob, &carol] {
        let listed: Vec<RoomSummary> = person.call("list_rooms", &[]).await.unwrap();
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [room]);
    }
    assert!(matches!(
        carol.room_page(private.id).await,
        RoomAccess::Refused { refusal: Refusal::NotFound, room: None }
    ));
    let mut carol_live = carol.connect().await;
    carol_live.send(&ClientCommand::Join { room: private.id, since: None }).await;
    let refused = carol_live.expect(|event| match event {
        LiveEvent::Refused { reason, .. } => Some(*reason),
        LiveEvent::Joined { .. } => Some(Refusal::Password),
        _ => None,
    });
    assert_eq!(refused.await, Refusal::NotFound);
    // Nor does any owner's action tell her it exists.
    let private_id = private.id.to_string();
    for (endpoint, args) in [
        ("delete_room", vec![("room", private_id.as_str())]),
        ("bans", vec![("room", private_id.as_str())]),
        ("lift_ban", vec![("room", private_id.as_str()), ("person", alice.me().id.as_str())]),
        ("kick", vec![("room", private_id.as_str()), ("person", alice.me().id.as_str())]),
    ] {
        let refused = carol.call::<serde_json::Value>(endpoint, &args).await.unwrap_err();
        assert!(refused.status == 404 || refused.status == 422, "{endpoint}: {refused:?}");
        assert!(!refused.message.contains("owner"), "{endpoint}: {refused:?}");
    }
    let RoomAccess::Open(view) = bob.room_page(private.id).await else { panic!("Bob may enter") };
    assert!(view.room.private);

    // Inviting again (either of them) reopens the same room; Bob declines: Alice is told, his invitation goes.
    assert_eq!(invite(&alice, &bob).await.unwrap().id, private.id);
    assert_eq!(next_alarm(&mut bob_bell).await.alarms[0].others, 0, "one invitation, raised again");
    bob.call::<()>("decline_invitation", &[("room", &private.id.to_string())]).await.unwrap();
    let change = next_alarm(&mut bob_bell).await;
    assert_eq!((change.gone.len(), change.alarms.len()), (1, 0));
    let change = next_alarm(&mut alice_bell).await;
    assert_eq!((change.alarms[0].kind, change.alarms[0].room), (AlarmKind::Declined, private.id));
    assert_eq!(change.alarms[0].what(), format!("{} declined your invitation", bob.me().name));
    let again = bob.call::<()>("decline_invitation", &[("room", &private.id.to_string())]).await.unwrap_err();
    assert_eq!(again.status, 422, "nothing left to decline: declining is no way to alarm Alice again");
    assert_eq!(
        carol.call::<()>("decline_invitation", &[("room", &private.id.to_string())]).await.unwrap_err().status,
        404
    );
}

#[tokio::test]
async fn an_invitation_flood_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("Lunch", 10, "").await.unwrap().id;
    let (_alice_in_room, _) = alice.join(room).await;
    let (_bob_in_room, _) = bob.join(room).await;
    let args = [("room", room.to_string()), ("person", bob.me().id.to_string())];
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut answers = Vec::new();
    for _ in 0..6 {
        answers.push(
            alice.call::<RoomSummary>("talk_privately", &args).await.map(|_| ()).map_err(|refusal| refusal.status),
        );
    }
    assert_eq!(answers, [Ok(()), Ok(()), Ok(()), Ok(()), Ok(()), Err(429)], "5 in 10 minutes");
}
