//! The GIF chat's rules, end to end over real HTTP and websockets: rooms, passwords, capacity, live messages,
//! uploads and the removal of empty rooms.
//!
//! (Over 400 lines: one test per rule of the chat, each readable on its own; what they share is in `helpers`.)

use std::time::Duration;

use crate::helpers::{PATIENCE, make_gif, spawn_app, spawn_app_with};
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, MessageKind, RoomAccess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_room_is_listed_owned_and_open_to_its_creator() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("Cats <3", 10, "").await.unwrap();
    assert_eq!(room.title, "Cats <3");
    assert_eq!(room.owner, *alice.me());
    assert!(!room.locked);

    let bob = app.person().await;
    assert_ne!(bob.me(), alice.me(), "two browsers are two people");
    let rooms: Vec<protocol::model::RoomSummary> = bob.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms.iter().map(|r| r.id).collect::<Vec<_>>(), vec![room.id]);

    let RoomAccess::Open(view) = alice.room_page(room.id).await else { panic!("creator cannot enter") };
    assert_eq!(view.room.id, room.id);
    assert_eq!(view.me, *alice.me());

    // The SSR list escapes the title.
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("Cats &lt;3"), "title not escaped in {html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_listed_newest_first() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let first = alice.create_room("first", 10, "").await.unwrap();
    let second = alice.create_room("second", 10, "").await.unwrap();
    let rooms: Vec<protocol::model::RoomSummary> = alice.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms.iter().map(|r| r.id).collect::<Vec<_>>(), vec![second.id, first.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rooms_are_refused_with_a_reason_and_leave_no_row() {
    let app = spawn_app().await;
    let alice = app.person().await;
    for (title, max, expected) in [
        ("", "10", "Give the room a title."),
        (&"x".repeat(81) as &str, "10", "A title has at most 80 characters."),
        ("ok", "1", "Max members is a whole number from 2 to 100."),
        ("ok", "101", "Max members is a whole number from 2 to 100."),
        ("ok", "lots", "Max members is a whole number from 2 to 100."),
    ] {
        let refusal = alice
            .call::<protocol::model::RoomSummary>("create_room", &[("title", title), ("max_members", max)])
            .await
            .unwrap_err();
        assert_eq!((refusal.status, refusal.message.as_str()), (422, expected));
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_room_needs_its_password_which_is_remembered_and_never_shown() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("secret club", 5, "hunter2").await.unwrap();
    assert!(room.locked);
    assert!(matches!(alice.room_page(room.id).await, RoomAccess::Open(_)), "the owner needs no password");

    let bob = app.person().await;
    assert!(matches!(bob.room_page(room.id).await, RoomAccess::Refused { refusal: Refusal::Password, .. }));
    // Without the password, the live channel refuses to join too.
    let mut live = bob.connect().await;
    live.send(&ClientCommand::Join { room: room.id, since: None }).await;
    let reason = live
        .expect(|e| match e {
            LiveEvent::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refusal::Password);

    let wrong = bob.enter(room.id, "hunter3").await.unwrap_err();
    assert_eq!((wrong.status, wrong.message.as_str()), (403, "Wrong password."));
    bob.enter(room.id, "hunter2").await.unwrap();
    assert!(matches!(bob.room_page(room.id).await, RoomAccess::Open(_)), "the grant is remembered");
    bob.join(room.id).await;

    let stored = app.text("SELECT password_hash FROM rooms").await;
    assert!(stored.starts_with("$argon2id$"), "stored as {stored}");
    for body in
        [app.get("/").await.text().await.unwrap(), app.get(&format!("/room/{}", room.id)).await.text().await.unwrap()]
    {
        assert!(!body.contains("argon2") && !body.contains("hunter2"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_room_is_a_404_page_and_a_refusal_on_the_live_channel() {
    let app = spawn_app().await;
    for path in ["/room/999", "/room/not-a-number"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Room not found") && html.contains(r#"href="/""#), "{html}");
    }
    let alice = app.person().await;
    let mut live = alice.connect().await;
    live.send(&ClientCommand::Join { room: protocol::model::RoomId::new(999), since: None }).await;
    let reason = live
        .expect(|e| match e {
            LiveEvent::Refused { reason, .. } => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, Refusal::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_joiners_fill_five_places_and_no_more() {
    let app = spawn_app().await;
    let owner = app.person().await;
    let room = owner.create_room("tight", 5, "").await.unwrap();
    let mut people = Vec::new();
    for _ in 0..20 {
        people.push(app.person().await);
    }
    let (joined, _connections) = crate::helpers::TestPerson::join_all_at_once(&people, room.id).await;
    assert_eq!(joined, 5);

    // A sixth person sees the room as full on the page too.
    let late = app.person().await;
    assert!(matches!(late.room_page(room.id).await, RoomAccess::Refused { refusal: Refusal::Full, .. }));
    let rooms: Vec<protocol::model::RoomSummary> = late.call("list_rooms", &[]).await.unwrap();
    assert_eq!(rooms[0].present, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_of_one_person_take_one_place() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("pair", 2, "").await.unwrap();
    let (_tab1, present) = alice.join(room.id).await;
    assert_eq!(present, 1);
    let (_tab2, present) = alice.join(room.id).await;
    assert_eq!(present, 1, "the second tab is the same person");
    let bob = app.person().await;
    let (_bob_tab, present) = bob.join(room.id).await;
    assert_eq!(present, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_everyone_in_the_room_including_the_senders_other_tabs() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("chatty", 10, "").await.unwrap();
    let (mut alice_tab, _) = alice.join(room.id).await;
    let (mut alice_other_tab, _) = alice.join(room.id).await;
    let (mut bob_tab, _) = bob.join(room.id).await;

    let sent = alice.send(room.id, "  hello <b>bob</b>  ").await.unwrap();
    assert_eq!(sent.body, "hello <b>bob</b>");
    assert_eq!(sent.author.as_ref(), Some(alice.me()));
    for live in [&mut alice_tab, &mut alice_other_tab, &mut bob_tab] {
        let message = live
            .expect(|e| match e {
                LiveEvent::Chat { message } if message.kind == MessageKind::Text => Some(message.clone()),
                _ => None,
            })
            .await;
        assert_eq!(message, sent);
    }
    let reply = bob.send(room.id, "hi alice").await.unwrap();
    assert!(reply.seq > sent.seq, "sequence numbers increase");
    assert_eq!(alice_tab.next_chat().await, reply);

    // The page renders the history, escaped.
    let html =
        alice.client.get(format!("http://{}/room/{}", app.addr, room.id)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("hello &lt;b&gt;bob&lt;/b&gt;"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_validated_and_only_people_in_the_room_may_send() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("strict", 10, "").await.unwrap();
    let outsider = alice.send(room.id, "hello?").await.unwrap_err();
    assert_eq!((outsider.status, outsider.message.as_str()), (403, "You are not in this room."));

    let (_live, _) = alice.join(room.id).await;
    let empty = alice.send(room.id, "  \n ").await.unwrap_err();
    assert_eq!(empty.status, 422);
    let long = alice.send(room.id, &"x".repeat(2001)).await.unwrap_err();
    assert_eq!((long.status, long.message.as_str()), (422, "A message has at most 2000 characters."));
    assert!(alice.send(room.id, &"x".repeat(2000)).await.is_ok());
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'text'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_leaves_are_persisted_system_messages() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.1).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("hello", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (bob_live, _) = bob.join(room.id).await;

    let joined = alice_live
        .expect(|e| match e {
            LiveEvent::Chat { message } if message.body.contains(&bob.me().name) => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!(joined.kind, MessageKind::System);
    assert_eq!(joined.body, format!("{} joined", bob.me().name));

    bob_live.close().await;
    let left = alice_live.next_chat().await;
    assert_eq!((left.kind, left.body), (MessageKind::System, format!("{} left", bob.me().name)));

    let RoomAccess::Open(view) = alice.room_page(room.id).await else { panic!() };
    let bodies: Vec<_> = view.messages.iter().map(|m| m.body.as_str()).collect();
    assert!(bodies.contains(&format!("{} joined", bob.me().name).as_str()), "{bodies:?}");
    assert!(bodies.contains(&format!("{} left", bob.me().name).as_str()), "{bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_within_the_leave_grace_is_not_a_leave() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 1.0).await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("steady", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let (bob_live, _) = bob.join(room.id).await;
    bob_live.close().await;
    let (_bob_again, _) = bob.join(room.id).await;
    // Bob's row is live again (its leave grace was called off), so no departure can come of the close: past the
    // grace, nothing was said.
    let waiting = format!("SELECT COUNT(*) FROM presence WHERE visitor_id = '{}' AND left_at IS NOT NULL", bob.me().id);
    assert_eq!(app.count(&waiting).await, 0);
    alice.send(room.id, "marker").await.unwrap();
    let events = alice_live.until_said("marker").await;
    assert!(
        !events.iter().any(|e| matches!(e, LiveEvent::Chat { message } if message.body.ends_with(" left"))),
        "{events:?}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE body LIKE '% left'").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_list_is_live() {
    let app = spawn_app_with(|c| c.leave_grace_secs = 0.1).await;
    let watcher = app.person().await;
    let mut lobby = watcher.connect().await;
    lobby.send(&ClientCommand::SubscribeLobby).await;
    let snapshot = lobby
        .expect(|e| match e {
            LiveEvent::Rooms { rooms, .. } => Some(rooms.clone()),
            _ => None,
        })
        .await;
    assert!(snapshot.is_empty());

    let alice = app.person().await;
    let room = alice.create_room("new!", 3, "").await.unwrap();
    let announced = lobby
        .expect(|e| match e {
            LiveEvent::NewRoom { room } => Some(room.clone()),
            _ => None,
        })
        .await;
    assert_eq!(announced, room);

    let (live, _) = alice.join(room.id).await;
    let count = lobby
        .expect(|e| match e {
            LiveEvent::RoomPresence { id, present, .. } if *id == room.id => Some(*present),
            _ => None,
        })
        .await;
    assert_eq!(count, 1);
    live.close().await;
    let count = lobby
        .expect(|e| match e {
            LiveEvent::RoomPresence { id, present, .. } if *id == room.id => Some(*present),
            _ => None,
        })
        .await;
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_origin_websocket_handshake_is_refused() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let error = alice.connect_with_origin(Some("http://evil.example")).await.err().expect("handshake accepted");
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 403),
        other => panic!("unexpected error {other}"),
    }
    assert!(alice.connect_with_origin(None).await.is_ok(), "non-browser clients send no Origin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_gif_is_stored_served_and_announced() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("gifs", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;

    let message = alice.upload(&room.id.to_string(), "../../cat.gif", make_gif(16, 3)).await.unwrap();
    assert_eq!(message.kind, MessageKind::Gif);
    assert!(message.body.starts_with("/gif/") && !message.body.contains("cat"), "{}", message.body);
    assert_eq!(
        bob_live
            .expect(|e| match e {
                LiveEvent::Chat { message } if message.kind == MessageKind::Gif => Some(message.clone()),
                _ => None,
            })
            .await,
        message
    );

    let response = app.get(&message.body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let served = response.bytes().await.unwrap();
    assert!(served.starts_with(b"GIF89a"));
    let frames = gif::DecodeOptions::new().read_info(&served[..]).unwrap().into_iter().count();
    assert_eq!(frames, 3);

    // For people who asked for reduced motion, its first frame alone is stored beside it and served.
    let still_url = protocol::model::still_of(&message.body);
    let still = app.get(&still_url).await;
    assert_eq!(still.status(), 200);
    assert_eq!(still.headers()["content-type"], "image/gif");
    let still = still.bytes().await.unwrap();
    assert_eq!(gif::DecodeOptions::new().read_info(&still[..]).unwrap().into_iter().count(), 1);

    // Exactly two files: the stored GIF and its still (no temporary debris).
    assert_eq!(app.upload_files().len(), 2, "{:?}", app.upload_files());

    // A GIF stored (in a directory) before stills were made gets its still when it is first asked for. (Object
    // storage came later: every GIF there has its still.)
    if app.s3.is_none() {
        let still_file = app.stored_path(still_url.trim_start_matches("/gif/"));
        std::fs::remove_file(&still_file).unwrap();
        let remade = app.get(&still_url).await;
        assert_eq!(remade.status(), 200);
        assert_eq!(remade.bytes().await.unwrap(), still, "the same first frame, made again");
        assert!(still_file.is_file());
    }

    // Both go with the room.
    alice.call::<()>("delete_room", &[("room", &room.id.to_string())]).await.unwrap();
    for _ in 0..50 {
        if app.upload_files().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.upload_files(), Vec::<std::path::PathBuf>::new());
    assert_eq!(app.get(&still_url).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_gif_switches_to_its_video_which_is_served_caught_up_on_and_goes_with_it() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (app.person().await, app.person().await, app.person().await);
    let room = alice.create_room("clips", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    let gif = chat::testing::moving_gif(200, 150, 20);

    // Announced at once as a GIF; then switched to its video, a change in the room's sequence.
    let message = alice.upload(&room.id.to_string(), "clip.gif", gif.clone()).await.unwrap();
    assert_eq!((message.kind, message.video.as_deref()), (MessageKind::Gif, None));
    let (at, switched) = bob_live
        .expect(|e| match e {
            LiveEvent::Changed { seq, message } if message.video.is_some() => Some((*seq, message.clone())),
            _ => None,
        })
        .await;
    assert_eq!((switched.seq, &switched.body), (message.seq, &message.body), "the same message, the same GIF");
    assert!(at > message.seq);
    let video_url = switched.video.clone().unwrap();
    assert_eq!(video_url, message.body.replace(".gif", ".mp4"), "named by the GIF's content");

    // Served like the GIF, in parts too (browsers ask for ranges of a video).
    let response = app.get(&video_url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert!(response.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let video = response.bytes().await.unwrap();
    assert!(video.len() * 3 < gif.len(), "{} bytes of video for {} of GIF", video.len(), gif.len());
    let part = alice.client.get(app.url(&video_url)).header("Range", "bytes=0-99").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &video).unwrap();
    let probed = chat::testing::probe(file.path());
    assert_eq!((probed.codec.as_str(), probed.pixel_format.as_str()), ("h264", "yuv420p"));
    assert_eq!((probed.width, probed.height, probed.frames), (200, 150, 20));

    // The quota counts it with its GIF and still.
    let name = message.body.trim_start_matches("/gif/");
    let files = [name.to_owned(), protocol::model::still_of(name), name.replace(".gif", ".mp4")];
    let on_disk: u64 = files.iter().map(|file| std::fs::metadata(app.stored_path(file)).unwrap().len()).sum();
    assert_eq!(app.count("SELECT bytes FROM stored_gifs").await as u64, on_disk);

    // A page that was away learns of the switch when it catches up.
    let mut carol_live = carol.connect().await;
    carol_live.send(&ClientCommand::Join { room: room.id, since: Some(message.seq) }).await;
    let caught_up = carol_live
        .expect(|e| match e {
            LiveEvent::Changed { seq, message } if *seq == at => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!(caught_up.video.as_deref(), Some(video_url.as_str()));

    // The same GIF posted again shows its video at once.
    let again = alice.upload(&room.id.to_string(), "again.gif", gif).await.unwrap();
    assert_eq!(again.video.as_deref(), Some(video_url.as_str()));

    // All its files go with the room.
    alice.call::<()>("delete_room", &[("room", &room.id.to_string())]).await.unwrap();
    crate::helpers::eventually("the GIF's files are removed", || async { app.upload_files().is_empty() }).await;
    assert_eq!(app.get(&video_url).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gif_with_transparent_pixels_or_too_small_to_gain_keeps_no_video() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("no clips", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    // A clip whose last frame clears itself to the background: the loop shows the page behind it a moment.
    let mut frames = gif::DecodeOptions::new();
    frames.set_color_output(gif::ColorOutput::Indexed);
    let clip = chat::testing::moving_gif(200, 150, 6);
    let mut decoder = frames.read_info(&clip[..]).unwrap();
    let palette = decoder.global_palette().unwrap().to_vec();
    let mut transparent = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut transparent, 200, 150, &palette).unwrap();
        let mut first = true;
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            let mut frame = frame.clone();
            if !first {
                frame.dispose = gif::DisposalMethod::Background;
                frame.width = 100;
                frame.buffer = frame.buffer[..100 * 150].to_vec().into();
            }
            first = false;
            encoder.write_frame(&frame).unwrap();
        }
    }
    let small = make_gif(16, 3);
    for gif in [transparent, small] {
        let message = alice.upload(&room.id.to_string(), "clip.gif", gif).await.unwrap();
        let name = message.body.trim_start_matches("/gif/").to_owned();
        let sql = format!("SELECT COUNT(*) FROM stored_gifs WHERE name = '{name}' AND video = ''");
        crate::helpers::eventually("the GIF is found to need no video", || async { app.count(&sql).await == 1 }).await;
    }
    assert!(app.upload_files().iter().all(|file| !file.to_string_lossy().ends_with(".mp4")));
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE video IS NOT NULL").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_gif_posted_twice_is_stored_once_and_goes_when_no_message_shows_it() {
    let app = spawn_app().await;
    let (alice, bob) = (app.person().await, app.person().await);
    let here = alice.create_room("here", 10, "").await.unwrap();
    let there = bob.create_room("there", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(here.id).await;
    let (_bob_live, _) = bob.join(there.id).await;
    let gif = crate::helpers::another_gif();
    let first = alice.upload(&here.id.to_string(), "a.gif", gif.clone()).await.unwrap();
    let second = bob.upload(&there.id.to_string(), "b.gif", gif).await.unwrap();
    assert_eq!(first.body, second.body, "GIFs are named by their content");
    assert_eq!(app.upload_files().len(), 2, "one GIF and its still: {:?}", app.upload_files());
    assert_eq!(app.count("SELECT COUNT(*) FROM stored_gifs").await, 1, "counted once in the quota");

    // Alice unsends hers: Bob's still shows it.
    let seq = first.seq.to_string();
    alice.call::<ChatMessage>("delete_message", &[("room", &here.id.to_string()), ("seq", &seq)]).await.unwrap();
    assert_eq!(app.get(&second.body).await.status(), 200);
    assert_eq!(app.upload_files().len(), 2);

    // Bob's room goes, and the GIF with it (removed in the background).
    bob.call::<()>("delete_room", &[("room", &there.id.to_string())]).await.unwrap();
    crate::helpers::eventually("the GIF is removed", || async { app.upload_files().is_empty() }).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM stored_gifs").await, 0);
    assert_eq!(app.get(&second.body).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let app = spawn_app_with(|c| c.max_upload_bytes = 64 * 1024).await;
    let alice = app.person().await;
    let outsider = app.person().await;
    let room = alice.create_room("picky", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let id = room.id.to_string();

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let refusal = alice.upload(&id, "cat.gif", png).await.unwrap_err();
    assert_eq!((refusal.status, refusal.message.as_str()), (415, "That file is not a GIF."));

    let mut truncated = make_gif(16, 2);
    truncated.truncate(truncated.len() / 2);
    assert_eq!(alice.upload(&id, "half.gif", truncated).await.unwrap_err().status, 415);

    assert_eq!(alice.upload(&id, "empty.gif", Vec::new()).await.unwrap_err().message, "The file is empty.");

    let mut big = make_gif(16, 1);
    big.resize(100 * 1024, 0);
    let refusal = alice.upload(&id, "big.gif", big).await.unwrap_err();
    assert_eq!((refusal.status, refusal.message.as_str()), (413, "A GIF may be at most 64 KiB."));

    let refusal = alice.upload("999", "cat.gif", make_gif(8, 1)).await.unwrap_err();
    assert_eq!(refusal.status, 404);
    let refusal = alice.upload("nope", "cat.gif", make_gif(8, 1)).await.unwrap_err();
    assert_eq!(refusal.status, 404);
    let refusal = outsider.upload(&id, "cat.gif", make_gif(8, 1)).await.unwrap_err();
    assert_eq!((refusal.status, refusal.message.as_str()), (403, "You are not in this room."));

    let not_multipart = alice.client.post(app.url(&format!("/room/{id}/gif"))).body("GIF89a").send().await.unwrap();
    assert_eq!(not_multipart.status(), 400);

    assert!(app.upload_files().is_empty(), "debris: {:?}", app.upload_files());
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, 0);
    // And the server still serves.
    assert!(alice.upload(&id, "cat.gif", make_gif(8, 1)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_room_is_removed_after_the_grace_with_its_messages_and_files() {
    let app = spawn_app_with(|c| {
        c.leave_grace_secs = 0.05;
        c.room_grace_secs = 0.5;
    })
    .await;
    let watcher = app.person().await;
    let mut lobby = watcher.connect().await;
    lobby.send(&ClientCommand::SubscribeLobby).await;

    let alice = app.person().await;
    let room = alice.create_room("short-lived", 10, "").await.unwrap();
    let (live, _) = alice.join(room.id).await;
    alice.upload(&room.id.to_string(), "cat.gif", make_gif(8, 1)).await.unwrap();
    alice.send(room.id, "bye").await.unwrap();
    assert_eq!(app.upload_files().len(), 2, "the GIF and its still");
    live.close().await;

    let removed = lobby
        .expect(|e| match e {
            LiveEvent::RemoveRoom { id } => Some(*id),
            _ => None,
        })
        .await;
    assert_eq!(removed, room.id);
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    // Its GIFs go in the background.
    crate::helpers::eventually("the room's GIFs are removed", || async { app.upload_files().is_empty() }).await;
    assert_eq!(app.get(&format!("/room/{}", room.id)).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_users_reload_does_not_destroy_the_room() {
    let app = spawn_app_with(|c| {
        c.leave_grace_secs = 0.05;
        c.room_grace_secs = 1.0;
    })
    .await;
    let alice = app.person().await;
    let room = alice.create_room("mine", 10, "").await.unwrap();
    let (live, _) = alice.join(room.id).await;
    live.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_again, present) = alice.join(room.id).await;
    assert_eq!(present, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 1, "the room survived the reload");
    let _ = PATIENCE;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoining_client_catches_up_on_what_it_missed() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let bob = app.person().await;
    let room = alice.create_room("catch-up", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let first = alice.send(room.id, "one").await.unwrap();
    let second = alice.send(room.id, "two").await.unwrap();
    let third = alice.send(room.id, "three").await.unwrap();

    let mut live = bob.connect().await;
    live.send(&ClientCommand::Join { room: room.id, since: Some(first.seq) }).await;
    let mut bodies = Vec::new();
    while bodies.len() < 3 {
        let message = live.next_chat().await;
        bodies.push((message.seq, message.body));
    }
    // Missed messages first, in order and once; then Bob's own arrival.
    assert_eq!(bodies[0], (second.seq, "two".to_owned()));
    assert_eq!(bodies[1], (third.seq, "three".to_owned()));
    assert_eq!(bodies[2].1, format!("{} joined", bob.me().name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_served_in_pages_of_fifty() {
    // One person writes a long history quickly: faster than the send limit allows.
    let app = crate::helpers::spawn_app_with(|c| c.no_rate_limits = true).await;
    let alice = app.person().await;
    let room = alice.create_room("long", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    for n in 1..=60 {
        alice.send(room.id, &format!("message {n}")).await.unwrap();
    }
    let RoomAccess::Open(view) = alice.room_page(room.id).await else { panic!() };
    assert_eq!(view.messages.len(), 50);
    assert!(view.has_earlier);
    assert_eq!(view.messages.last().unwrap().body, "message 60");
    assert!(view.messages.windows(2).all(|w| w[0].seq + 1 == w[1].seq), "oldest first, no gaps");

    let first = view.messages[0].seq;
    let page: protocol::model::MessagePage = alice
        .call("earlier_messages", &[("room", &room.id.to_string()), ("before", &first.to_string())])
        .await
        .unwrap();
    assert!(!page.has_earlier);
    // 11 earlier: the join message and messages 1–10.
    assert_eq!(page.messages.len(), 11);
    assert_eq!(page.messages.last().unwrap().seq, first - 1);
    assert_eq!(page.messages.last().unwrap().body, "message 10");

    // A password room's history is not readable without the password.
    let locked = alice.create_room("locked", 10, "pw").await.unwrap();
    let bob = app.person().await;
    let refusal = bob
        .call::<protocol::model::MessagePage>(
            "earlier_messages",
            &[("room", &locked.id.to_string()), ("before", "100")],
        )
        .await
        .unwrap_err();
    assert_eq!(refusal.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cross_origin_handshake_gets_no_session() {
    let app = spawn_app().await;
    let request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{}/ws", app.addr));
    let mut request = request.unwrap();
    request.headers_mut().insert("Origin", "http://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
        panic!("the handshake was accepted")
    };
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none(), "a refused handshake was given a session");
    assert_eq!(app.session_rows().await, 0);
}
