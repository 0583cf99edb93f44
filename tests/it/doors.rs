//! Holding the door: what a public anonymous chat must refuse or bound so that a few cheap clients cannot take
//! it from everyone else: connections that never ask, idle HTTP/2 connections, too many connections from one
//! address, free identities and arrivals, requests cut short, sizes, stalled uploads and file systems, clocks.
//!
//! (Over 400 lines: one test per hole, each readable on its own; what they share is in `helpers`.)

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::helpers::{PATIENCE, spawn_app_with};

/// Reads until the server closes the connection; `None` if it is still open after [`PATIENCE`].
async fn closed_after(stream: &mut tokio::net::TcpStream) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut sink)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_ask_are_closed_within_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_secs = 0.5).await;
    // Not a byte; and the HTTP/2 preface with its SETTINGS, then nothing (no request ever).
    let mut silent = app.send_raw(b"").await;
    let preface = [&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], &[0, 0, 0, 4, 0, 0, 0, 0, 0]].concat();
    let mut preface_only = app.send_raw(&preface).await;
    for (what, stream) in [("a silent socket", &mut silent), ("an HTTP/2 preface", &mut preface_only)] {
        let closed = closed_after(stream).await;
        assert!(closed.is_some(), "{what} was still open after {PATIENCE:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_and_a_busy_one_is_not() {
    let app = spawn_app_with(|c| c.idle_secs = 1.0).await;
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.expect("an HTTP/2 handshake (h2c)");
    let connection = tokio::spawn(connection);
    // Requests one after another, 0.3 s apart, for longer than the idle timeout: the connection stays.
    for n in 0..6 {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let request = http::Request::get(format!("http://{}/healthz", app.addr)).body(()).unwrap();
        let (answer, _) = client.send_request(request, true).expect("the connection still takes requests");
        let answer = answer.await.expect("an answer");
        assert_eq!(answer.status(), 200);
    }
    assert!(!connection.is_finished(), "a connection in use was closed");
    // Then nothing: the server says goodbye and closes it.
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, connection).await.expect("an idle HTTP/2 connection stayed open").unwrap().ok();
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before its idle timeout: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_may_hold_only_so_many_connections_open() {
    let app = spawn_app_with(|c| c.limit_http_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(app.send_raw(b"").await);
    }
    // The fourth is closed at once (long before the header timeout), while the three stay open.
    let mut fourth = app.send_raw(b"").await;
    let closed = closed_after(&mut fourth).await.expect("a fourth connection from one address was kept");
    assert!(closed < Duration::from_secs(5), "{closed:?}");
    let mut probe = [0u8; 1];
    for stream in &held {
        assert!(matches!(stream.try_read(&mut probe), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock));
    }
    // One of them closes: there is room again, and it serves.
    drop(held.pop());
    let answer = tokio::time::timeout(PATIENCE, async {
        loop {
            let mut stream =
                app.send_raw(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes()).await;
            let mut answer = vec![0; 1024];
            match stream.read(&mut answer).await {
                Ok(read) if read > 0 => return String::from_utf8_lossy(&answer[..read]).into_owned(),
                // The server may not have seen the close yet.
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("no room again after a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// Opens the live channel with no cookie at all, as a script would; `None` if the handshake is refused.
async fn cookieless_live(app: &crate::helpers::TestApp) -> Option<crate::helpers::LiveClient> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/ws", app.addr).into_client_request().unwrap();
    request.headers_mut().insert("Origin", format!("http://{}", app.addr).parse().unwrap());
    match tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request)).await.expect("a handshake in time")
    {
        Ok((stream, _)) => Some(crate::helpers::LiveClient::new(stream)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429, "a refused handshake says why");
            None
        }
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookieless_sockets_are_counted_identities_and_their_comings_and_goings_are_coalesced() {
    use protocol::live::{ClientCommand, LiveEvent};
    let app = spawn_app_with(|c| {
        c.limit_new_sessions = "20/1h".parse().unwrap();
        c.leave_grace_secs = 0.0;
    })
    .await;
    let alice = app.person().await;
    let room = alice.create_room("open door", 100, "").await.unwrap();
    let (mut watching, _) = alice.join(room.id).await;
    let system = "SELECT COUNT(*) FROM messages WHERE kind = 'system'";
    let (before, started) = (app.count(system).await, Instant::now());

    // Sixty scripts in turn: a fresh socket, no cookie, into the room and out again.
    let (mut people, mut refused) = (0, 0);
    for _ in 0..60 {
        let Some(mut live) = cookieless_live(&app).await else {
            refused += 1;
            continue;
        };
        live.send(&ClientCommand::Join { room: room.id, since: None }).await;
        live.expect(|event| matches!(event, LiveEvent::Joined { .. }).then_some(())).await;
        live.close().await;
        people += 1;
    }
    // Alice took one of the twenty new identities the address may make.
    assert_eq!((people, refused), (19, 41), "each cookieless socket is a new identity, counted");
    assert!(app.session_rows().await <= 20, "{} sessions", app.session_rows().await);

    // 38 comings and goings: the first five of each ten seconds one by one, the rest together at the window's end.
    let windows = started.elapsed().as_secs() / 10 + 1;
    let stored = app.count(system).await - before;
    assert!(stored <= 5 * windows as i64 + 2, "{stored} system messages in {windows} window(s)");
    let together = watching
        .expect(|event| match event {
            LiveEvent::Chat { message } if message.body.contains(" others joined") => Some(message.body.clone()),
            _ => None,
        })
        .await;
    assert!(together.contains(" and "), "{together}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_network_may_enter_rooms_only_so_fast() {
    use protocol::live::ClientCommand;
    let app = spawn_app_with(|c| c.limit_arrivals = "100/1m,3/1m,1000/1s".parse().unwrap()).await;
    let alice = app.person().await;
    let room = alice.create_room("busy door", 100, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    // A second tab of someone already here is not an arrival.
    let (_alice_again, _) = alice.join(room.id).await;
    let (_bob, _) = app.person().await.join(room.id).await;
    let (_carol, _) = app.person().await.join(room.id).await;
    let mut dave = app.person().await.connect().await;
    dave.send(&ClientCommand::Join { room: room.id, since: None }).await;
    assert_eq!(dave.close_code().await, Some(1013), "the fourth arrival from one address in a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_client_leaves_mid_request_is_announced_if_it_was_committed() {
    use protocol::live::LiveEvent;
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| c.no_rate_limits = true).await;
    let alice = app.person().await;
    let room = alice.create_room("cut short", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (mut watching, _) = app.person().await.join(room.id).await;
    // A hundred sends, each connection dropped a moment after its request went out: some are cancelled before
    // the commit, some after it (a client that goes away, an HTTP/2 reset).
    for n in 0..100u64 {
        let body = format!("room={}&body=cut{n}", room.id);
        let request = format!(
            "POST /api/send_message HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {cookie}\r\n\
             Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len(),
            addr = app.addr,
            cookie = alice.cookie_header()
        );
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_micros(n % 10 * 300)).await;
        drop(stream);
    }
    // Whatever was committed is announced, each once (the only wait between a commit and its announcement is the
    // insert itself).
    let committed = tokio::time::timeout(PATIENCE, async {
        loop {
            let stored = app.count("SELECT COUNT(*) FROM messages WHERE body LIKE 'cut%'").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            if app.count("SELECT COUNT(*) FROM messages WHERE body LIKE 'cut%'").await == stored {
                return stored;
            }
        }
    })
    .await
    .expect("sends kept committing");
    let mut announced = std::collections::HashSet::new();
    while (announced.len() as i64) < committed {
        if let LiveEvent::Chat { message } = watching.next().await.expect("the room's feed stays open")
            && message.body.starts_with("cut")
        {
            assert!(announced.insert(message.seq), "announced twice: {}", message.seq);
        }
    }
    // Nearly every send was carried through: its request runs in a task of its own (see `src/connections.rs`),
    // so nothing that has begun stops halfway when its client goes away. (One or two in a hundred can still be
    // lost before they begin: the connection closes while hyper hands the body over. Never half done.)
    assert!(committed >= 90, "only {committed} of 100 sends whose clients left were carried through");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_are_capped_and_a_message_of_invisible_characters_is_empty() {
    let app = crate::helpers::spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("caps", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let long = "a".repeat(81);
    let refused = alice.call::<serde_json::Value>("find_rooms", &[("title", &long)]).await.unwrap_err();
    assert_eq!(refused.message, "Search for at most 80 characters.");
    let refused = alice.call::<serde_json::Value>("find_rooms", &[("offset", "20000")]).await.unwrap_err();
    assert!(refused.message.contains("search by title"), "{}", refused.message);
    assert!(alice.call::<serde_json::Value>("find_rooms", &[("title", "caps")]).await.is_ok());

    let refused = alice.send(room.id, "\u{200B}\u{FEFF}\u{2800}").await.unwrap_err();
    assert_eq!(refused.message, "Write something first.");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'text'").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_are_the_servers_alone() {
    use std::os::unix::fs::PermissionsExt;
    // The embedded default: SQLite files in the data directory, made by the server.
    let app = spawn_app_with(|c| {
        c.database_url = None;
        c.sessions_database_url = None;
    })
    .await;
    app.person().await.create_room("private", 5, "").await.unwrap();
    let data = &app.config.data_dir;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data), 0o700, "the data directory");
    for file in ["gif-chat.db", "gif-chat.db-wal", "sessions.db"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_gifs_cannot_be_stored_uploads_say_so_and_text_chat_goes_on() {
    let app = crate::helpers::spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("no gifs today", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    // The uploads' storage breaks (here: the directory became a file).
    std::fs::remove_dir_all(&app.config.uploads_dir).unwrap();
    std::fs::write(&app.config.uploads_dir, b"not a directory").unwrap();
    let refused = alice.upload(&room.id.to_string(), "a.gif", crate::helpers::make_gif(8, 2)).await.unwrap_err();
    assert_eq!(
        (refused.status, refused.message.as_str()),
        (503, "GIFs cannot be stored right now; text messages still work. Try again later.")
    );
    alice.send(room.id, "words still work").await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_address_without_a_public_url_is_warned_about() {
    if crate::helpers::on_postgres() {
        return; // Start-up on either store says the same.
    }
    let dir = tempfile::tempdir().unwrap();
    let mut like = gif_chat::Config::for_dir(dir.path(), crate::helpers::site_root());
    let warning = "neither --public-url nor --allowed-origin is set";
    like.addr = "0.0.0.0:0".parse().unwrap();
    let open = crate::helpers::ServerProcess::spawn(&like, &[]);
    crate::helpers::eventually("the warning is logged", || async { open.output().iter().any(|l| l.contains(warning)) })
        .await;
    // On loopback (development), or with a public URL, nothing to warn about.
    like.addr = "127.0.0.1:0".parse().unwrap();
    let local = crate::helpers::ServerProcess::spawn(&like, &[]);
    let public = {
        let mut like = like.clone();
        like.addr = "0.0.0.0:0".parse().unwrap();
        crate::helpers::ServerProcess::spawn(&like, &["--public-url=https://chat.example.com"])
    };
    for server in [&local, &public] {
        // Serving: whatever start-up said is out.
        assert_eq!(reqwest::get(format!("http://{}/healthz", server.addr)).await.unwrap().status(), 200);
        assert!(!server.output().iter().any(|line| line.contains(warning)), "{:?}", server.output());
    }
}

/// Starts an upload of `declared` bytes as `who` and sends only its first bytes (a GIF's header), then nothing:
/// the connection stays open, as a slow or stalled upload's does.
async fn stalled_upload(
    app: &crate::helpers::TestApp,
    who: &crate::helpers::TestPerson,
    room: protocol::model::RoomId,
    declared: u64,
) -> tokio::net::TcpStream {
    let head = format!(
        "POST /room/{room}/gif HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"gif\"; filename=\"a.gif\"\r\n\r\nGIF89a",
        who.cookie_header(),
        addr = app.addr,
    );
    app.send_raw(head.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_still_arriving_hold_their_place_above_the_free_space_floor() {
    const MIB: u64 = 1024 * 1024;
    let app = spawn_app_with(|c| {
        c.max_upload_bytes = 50 * MIB;
        c.limit_upload_mib = "1000/1m,1000/1m,1000/1s".parse().unwrap();
        // Room above the floor for one 50 MiB upload (with 25 MiB to spare), not for two.
        let free = chat::uploads::free_space(c.data_dir.parent().unwrap()).unwrap();
        c.min_free_disk = free - 75 * MIB;
    })
    .await;
    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("slow lines", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (_bob_live, _) = bob.join(room.id).await;
    let first = stalled_upload(&app, &alice, room.id, 50 * MIB).await;
    crate::helpers::eventually("the first upload is admitted", || async { app.chat.uploads().reserved() > 0 }).await;
    // The second is refused at once: the first, still arriving, holds its place.
    let mut second = stalled_upload(&app, &bob, room.id, 50 * MIB).await;
    let answer = crate::helpers::first_answer(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 507"), "{answer}");
    // The first gives up: its place is free again.
    drop(first);
    crate::helpers::eventually("the reservation is given back", || async { app.chat.uploads().reserved() == 0 }).await;
    let _third = stalled_upload(&app, &bob, room.id, 50 * MIB).await;
    crate::helpers::eventually("a new upload is admitted", || async { app.chat.uploads().reserved() > 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_trickles_in_meets_its_deadline_and_shutdown_does_not_wait_for_one() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| c.upload_secs = 1.0).await;
    let alice = app.person().await;
    let room = alice.create_room("trickle", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    // A byte every 200 ms: never idle long enough for the idle timeout, never done.
    let stream = stalled_upload(&app, &alice, room.id, 100_000).await;
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(PATIENCE, tokio::io::AsyncReadExt::read(&mut reader, &mut answer)).await;
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer[..read.expect("an answer in time").unwrap()]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("took too long"), "{answer}");
    crate::helpers::eventually("nothing is left of it", || async {
        app.chat.uploads().reserved() == 0 && app.upload_files().is_empty()
    })
    .await;

    // A stalled upload does not hold up a shutdown.
    let _stalled = stalled_upload(&app, &alice, room.id, 100_000).await;
    crate::helpers::eventually("the upload is admitted", || async { app.chat.uploads().reserved() > 0 }).await;
    let started = Instant::now();
    app.stop().await;
    assert!(started.elapsed() < Duration::from_secs(5), "the shutdown waited {:?} for the upload", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_clock_is_off_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut like = gif_chat::Config::for_dir(dir.path(), crate::helpers::site_root());
    like.database_url = Some(crate::helpers::fresh_database(dir.path()).await);
    // Ten seconds ahead of the database (of every other process sharing it): its leases and timers would take
    // the others' people out and remove rooms during their grace.
    for (offset, way) in [("10000", "10.0 s ahead of"), ("-4000", "4.0 s behind")] {
        let (started, printed) =
            crate::helpers::ServerProcess::start_refused(&like, &[&format!("--clock-offset-ms={offset}")]);
        assert!(!started, "{printed}");
        assert!(printed.contains(&format!("this machine's clock is {way} the database's")), "{printed}");
    }
    // Within the bound, it serves.
    let server = crate::helpers::ServerProcess::spawn(&like, &["--clock-offset-ms=300"]);
    let ready = reqwest::get(format!("http://{}/readyz", server.addr)).await.unwrap();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["clock"], "ok", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_uploads_file_system_stops_gifs_and_nothing_else() {
    let app = crate::helpers::spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("hung mount", 10, "").await.unwrap();
    let (mut live, _) = alice.join(room.id).await;
    // Every file call of the uploads' store now hangs for five seconds, as a stalled shared mount does.
    app.chat.uploads().stall(Duration::from_secs(5));
    let upload = {
        let alice = alice.clone();
        let room = room.id.to_string();
        tokio::spawn(async move { alice.upload(&room, "a.gif", crate::helpers::make_gif(8, 2)).await })
    };
    // Text goes on meanwhile, and the readiness probe answers (degraded: text chat works) within its patience.
    let started = Instant::now();
    alice.send(room.id, "still talking").await.unwrap();
    let sent = started.elapsed();
    live.until_said("still talking").await;
    let started = Instant::now();
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    let probed = started.elapsed();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(body["checks"]["uploads"].as_str().unwrap().contains("did not answer"), "{body}");
    // The upload is told, rather than left waiting on the mount.
    let refused = upload.await.unwrap().unwrap_err();
    assert_eq!(refused.status, 503, "{}", refused.message);
    println!("with the uploads' file system hung: a text send took {sent:?}, the readiness probe {probed:?}");
    app.chat.uploads().stall(Duration::ZERO);
}
