//! Several server processes (here: instances in one test process, each with its own address, hub and
//! memory) sharing one database and joined by a real NATS server.

mod common;

use app::live::{ClientCommand, LiveEvent};
use app::model::{ChatMessage, MessageKind};
use common::{LiveClient, make_gif, spawn_cluster};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_and_its_messages_cross_instances() {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_broker_lost_while_down_is_caught_up_from_the_database() {
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
