//! Nothing lost, nothing doubled: idempotent sends, catch-up bounds, graceful shutdown, and a kill -9 of the real
//! server binary in the middle of a conversation.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::helpers::{LiveClient, ServerProcess, TestPerson, person_at, site_root, spawn_app};
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, MessageKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_send_with_the_same_id_is_stored_once() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("retry", 10, "").await.unwrap();
    let (mut live, _) = alice.join(room.id).await;

    let first = alice.send_once(room.id, "only once", "6f1c2a4e-0b7d-4c1e").await.unwrap().unwrap();
    let again = alice.send_once(room.id, "only once", "6f1c2a4e-0b7d-4c1e").await.unwrap().unwrap();
    assert_eq!(first, again, "the retry gets the original message back");
    // Five copies racing each other still make one message.
    let copies = (0..5).map(|_| alice.send_once(room.id, "racing", "race-1"));
    let answers: Vec<ChatMessage> =
        futures_util::future::join_all(copies).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'text'").await, 2);

    alice.send(room.id, "marker").await.unwrap();
    let delivered: Vec<String> = live
        .until_said("marker")
        .await
        .into_iter()
        .filter_map(|e| match e {
            LiveEvent::Chat { message } if message.kind == MessageKind::Text => Some(message.body),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec!["only once", "racing"], "each delivered once");

    // The same id from someone else is a different message.
    let bob = app.person().await;
    let (_bob_live, _) = bob.join(room.id).await;
    let bobs = bob.send_once(room.id, "mine", "race-1").await.unwrap().unwrap();
    assert_ne!(bobs.seq, answers[0].seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_far_behind_is_told_to_reload_instead_of_replayed() {
    // One person writes 500 messages quickly: faster than the send limit allows.
    let app = crate::helpers::spawn_app_with(|c| c.no_rate_limits = true).await;
    let alice = app.person().await;
    let room = alice.create_room("busy", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let limit = app::server::ws::REPLAY_LIMIT as usize;
    for n in 0..=limit + 1 {
        alice.send(room.id, &format!("m{n}")).await.unwrap();
    }
    let bob = app.person().await;
    let mut late = bob.connect().await;
    late.send(&ClientCommand::Join { room: room.id, since: Some(0) }).await;
    late.expect(|e| matches!(e, LiveEvent::Resync { .. }).then_some(())).await;
    alice.send(room.id, "marker").await.unwrap();
    let events = late.until_said("marker").await;
    let replayed =
        events.iter().filter(|e| matches!(e, LiveEvent::Chat { message } if message.body.starts_with('m'))).count();
    assert_eq!(replayed, 0, "no flood of old messages");

    // Within the bound, everything missed is replayed.
    let mut near = bob.connect().await;
    let total = app.count("SELECT last_seq FROM rooms").await;
    near.send(&ClientCommand::Join { room: room.id, since: Some(total - 10) }).await;
    let mut seqs = Vec::new();
    while seqs.len() < 10 {
        seqs.push(near.next_chat().await.seq);
    }
    assert_eq!(seqs, ((total - 9)..=total).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_tells_live_clients_to_reconnect() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("closing", 10, "").await.unwrap();
    let (mut live, _) = alice.join(room.id).await;
    drop(app);
    let code = loop {
        let message = tokio::time::timeout(Duration::from_secs(5), futures_util::StreamExt::next(&mut live.stream))
            .await
            .expect("closed in time");
        match message {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1012, "service restart");
}

/// The real server binary on a fixed address and data directory, so that it can be killed and started again.
fn server_at(dir: &std::path::Path, database_url: &str, addr: std::net::SocketAddr) -> ServerProcess {
    let mut like = gif_chat::Config::for_dir(dir, site_root());
    (like.addr, like.database_url) = (addr, Some(database_url.to_owned()));
    // Three people sending as fast as they can: durability, not the rate limits, is tested here.
    ServerProcess::spawn_logging(
        &like,
        &["--room-grace-secs=60", "--leave-grace-secs=1", "--no-rate-limits"],
        "warn,gif_chat=info",
    )
}

/// Follows a room like the browser client does: collects `chat` events and, when the connection drops,
/// reconnects and resumes after the last message it has.
async fn follow(
    person: TestPerson,
    room: protocol::model::RoomId,
    mut live: LiveClient,
    until_body: String,
) -> Vec<ChatMessage> {
    let mut received: Vec<ChatMessage> = Vec::new();
    loop {
        match live.next_or_closed().await {
            Some(LiveEvent::Chat { message }) => {
                let done = message.body == until_body;
                received.push(message);
                if done {
                    return received;
                }
            }
            Some(_) => {}
            None => {
                let since = received.last().map_or(0, |m| m.seq);
                live = person.rejoin(room, since).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_and_a_restart_every_acknowledged_message_arrives_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let database_url = crate::helpers::fresh_database(dir.path()).await;
    let mut server = server_at(dir.path(), &database_url, addr);

    let people = [person_at(addr).await, person_at(addr).await, person_at(addr).await];
    let room = people[0].create_room("survivors", 10, "").await.unwrap().id;
    let mut followers = Vec::new();
    for person in &people {
        let (live, _) = person.join(room).await;
        // A clone shares the person's cookie jar: the same session, in a task of its own.
        followers.push(tokio::spawn(follow(person.clone(), room, live, "the end".into())));
    }

    // Everyone talks at once, each message sent until acknowledged with the same client id, as the browser
    // does; the server is killed while sends are in flight, and started again.
    const PER_PERSON: usize = 40;
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(n, person)| {
            let (person, acknowledged) = (person.clone(), acknowledged.clone());
            tokio::spawn(async move {
                // Tries in all, and sends cut off in flight: sent, and never answered (not a refused connection
                // while the server was down, nor a refusal after it came back).
                let (mut retries, mut cut_off) = (0, 0);
                for k in 0..PER_PERSON {
                    let (body, client_id) = (format!("message {k} from {n}"), format!("p{n}-m{k}"));
                    // Down, or up again before this person rejoined ("not in this room"): the same send, again.
                    loop {
                        match person.send_once(room, &body, &client_id).await {
                            Ok(Ok(_)) => break,
                            Err(error) if !error.is_connect() => cut_off += 1,
                            _ => {}
                        }
                        retries += 1;
                        assert!(retries < 2000, "a send never got through");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    acknowledged.fetch_add(1, Ordering::SeqCst);
                }
                (retries, cut_off)
            })
        })
        .collect();
    while acknowledged.load(Ordering::SeqCst) < 30 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    server = server_at(dir.path(), &database_url, addr);
    let (mut retries, mut cut_off) = (0, 0);
    for sender in senders {
        let (tries, cut) =
            tokio::time::timeout(Duration::from_secs(60), sender).await.expect("senders finish").unwrap();
        (retries, cut_off) = (retries + tries, cut_off + cut);
    }
    assert!(cut_off > 0, "no send was in flight when the server died: the test proved nothing");
    while !matches!(people[0].send_once(room, "the end", "the-end").await, Ok(Ok(_))) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every message exactly once: in the database, and at every follower, in order.
    let expected: BTreeSet<String> =
        (0..people.len()).flat_map(|n| (0..PER_PERSON).map(move |k| format!("message {k} from {n}"))).collect();
    for follower in followers {
        let received =
            tokio::time::timeout(Duration::from_secs(30), follower).await.expect("followers finish").unwrap();
        let seqs: Vec<i64> = received.iter().map(|m| m.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates: {seqs:?}");
        let texts: Vec<String> = received
            .into_iter()
            .filter(|m| m.kind == MessageKind::Text && m.body != "the end")
            .map(|m| m.body)
            .collect();
        assert_eq!(texts.len(), expected.len(), "a message arrived twice or never");
        assert_eq!(texts.into_iter().collect::<BTreeSet<_>>(), expected);
    }
    let db = chat::store::Db::open(&database_url, 1).await.unwrap();
    let (rows, distinct): (i64, i64) = chat::with_pool!(&db, |pool| {
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT client_id) FROM messages WHERE kind = 'text'")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert_eq!((rows, distinct), (expected.len() as i64 + 1, expected.len() as i64 + 1), "stored exactly once");
    eprintln!(
        "{} messages through a kill -9, {retries} retried sends ({cut_off} cut off), none doubled",
        expected.len()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_its_feed_catches_up_from_the_database_exactly_once() {
    use futures_util::StreamExt;

    let app = crate::helpers::spawn_app_with(|c| {
        c.no_rate_limits = true;
        // Bob reads nothing until all is sent, however long that takes on a busy machine: he must not be dropped
        // as too slow meanwhile.
        c.slow_client_secs = 600.0;
    })
    .await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("firehose", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let mut slow = bob.join_with_small_buffer(room.id).await;

    // Bob reads nothing while 8 MB of messages go out (sent in-process, to be quick): the server's writes to him
    // block once the socket buffers (4 MB at most here) are full, and his feed (256 frames) overflows behind them.
    const COUNT: i64 = 4000;
    let body = "x".repeat(1990);
    let author = alice.me().clone();
    let send_all = |numbers: std::ops::Range<i64>| {
        let sends = numbers.map(|n| {
            let (chat, author) = (app.chat.clone(), author.clone());
            let body = protocol::domain::MessageBody::parse(&format!("{n:04} {body}")).unwrap();
            async move { chat.send_text(room.id, &author, chat::Outgoing::text(body)).await.unwrap() }
        });
        futures_util::stream::iter(sends).buffer_unordered(8).collect::<Vec<_>>()
    };
    // Carol arrives three quarters of the way in, when Bob's socket is long full: the list that says so is gone
    // from his feed (a thousand messages come after it) when he reads.
    send_all(0..COUNT * 3 / 4).await;
    let carol = app.person().await;
    let (_carol_live, _) = carol.join(room.id).await;
    send_all(COUNT * 3 / 4..COUNT).await;

    // Now he reads: every message, once, in order, though most never fitted in his feed; and who is here.
    // (Every message, Carol's arrival among them, for the sequence; the texts, for what was said.)
    let (mut messages, mut texts, mut here) = (Vec::new(), Vec::new(), None::<protocol::model::PeopleChange>);
    while texts.len() < COUNT as usize {
        match slow.next().await.expect("the connection closed") {
            LiveEvent::Chat { message } => {
                if message.kind == protocol::model::MessageKind::Text {
                    texts.push(message.clone());
                }
                messages.push(message);
            }
            LiveEvent::People { change, .. } if here.as_ref().is_none_or(|h| change.version > h.version) => {
                here = Some(change)
            }
            _ => {}
        }
    }
    // The change that said so was dropped with the lag: he is told where the room stands instead, and a list
    // without Carol does not add up against it (so his page loads the whole list).
    let here = here.expect("Bob was never told who is here");
    let everyone = [&alice.me().id, &bob.me().id, &carol.me().id];
    assert_eq!((here.present, here.digest), (3, protocol::model::roster_digest(everyone)), "{here:?}");
    let after_bob_joined = messages.iter().skip_while(|m| m.kind == protocol::model::MessageKind::System);
    let seqs: Vec<i64> = after_bob_joined.map(|m| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a gap or a duplicate");
    let mut numbers: Vec<i64> = texts.iter().map(|m| m.body[..4].parse().unwrap()).collect();
    numbers.sort();
    assert_eq!(numbers, (0..COUNT).collect::<Vec<_>>(), "every message, once");
    assert!(app.chat.metrics().lag_recoveries.get() > 0, "Bob never fell behind: the test proved nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_from_many_people_at_once_arrive_in_order_each_once_and_a_rejoin_replays_them() {
    let app = crate::helpers::spawn_app_with(|c| c.no_rate_limits = true).await;
    let alice = app.person().await;
    let room = alice.create_room("reactions", 30, "").await.unwrap();
    let (mut live, _) = alice.join(room.id).await;
    let target = alice.send(room.id, "react to me").await.unwrap();
    let people: Vec<TestPerson> = futures_util::future::join_all((0..12).map(|_| app.person())).await;
    let mut connections = Vec::new();
    for person in &people {
        connections.push(person.join(room.id).await.0);
    }
    let since = app.count("SELECT last_seq FROM rooms").await;

    // Twelve people give two reactions each, all at once.
    let seq = target.seq.to_string();
    let reactions = people.iter().enumerate().flat_map(|(n, person)| {
        let emoji = [protocol::domain::Emoji::ALL[n % 3], protocol::domain::Emoji::ALL[3 + n % 2]];
        let seq = seq.clone();
        emoji.map(move |emoji| {
            let seq = seq.clone();
            async move {
                let args =
                    [("room", room.id.to_string()), ("seq", seq), ("emoji", emoji.into()), ("on", "true".into())];
                let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                person.call::<ChatMessage>("react", &args).await.unwrap()
            }
        })
    });
    futures_util::future::join_all(reactions).await;
    alice.send(room.id, "done").await.unwrap();

    // Every number once, in order, each frame taking up where the last one ended; applied in order, the
    // changes leave the counts the page shows.
    let applied = |events: Vec<LiveEvent>, shown: &mut ChatMessage| {
        let mut numbers = Vec::new();
        for event in events {
            if let LiveEvent::Reactions { from, seq, changes, .. } = event {
                assert_eq!(from, numbers.last().map_or(since + 1, |last| last + 1), "a frame after the last");
                assert_eq!((seq - from + 1) as usize, changes.len(), "a number for each change");
                numbers.extend(from..=seq);
                changes.iter().for_each(|change| shown.take_reaction(change, &alice.me().id));
            }
        }
        numbers
    };
    let mut shown = target.clone();
    let numbers = applied(live.until_said("done").await, &mut shown);
    assert_eq!(numbers, (since + 1..=since + 24).collect::<Vec<_>>());
    let protocol::model::RoomAccess::Open(page) = alice.room_page(room.id).await else { panic!("not let in") };
    let page_message = page.messages.iter().find(|m| m.seq == target.seq).unwrap().clone();
    assert_eq!(shown.reactions, page_message.reactions);
    assert_eq!(shown.reactions.iter().map(|r| r.count).sum::<u32>(), 24);
    assert_eq!(app.count("SELECT COUNT(*) FROM reactions").await, 24);

    // A page that was away since before them gets them again from the database, in the same form.
    let mut back = alice.rejoin(room.id, since).await;
    let mut replayed = target.clone();
    let numbers = applied(back.until_said("done").await, &mut replayed);
    assert_eq!(numbers, (since + 1..=since + 24).collect::<Vec<_>>());
    assert_eq!(replayed.reactions, page_message.reactions);
    drop(connections);
}
