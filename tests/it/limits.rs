//! Every way of writing is limited, per person, per client address and in total. Over a limit the answer is 429
//! with `Retry-After` and a sentence the page shows as it is; after the wait, the person may go on.
//! Client addresses come through `X-Forwarded-For` from a trusted proxy (127.0.0.1), as behind nginx.

use std::time::Duration;

use crate::helpers::{TestApp, TestPerson, spawn_app_with};
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::RoomId;

/// Checks a 429 answer and returns its wait and its JSON error.
async fn throttled(response: reqwest::Response) -> (u64, serde_json::Value) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!((error["error"].as_str(), error["retryAfter"].as_u64()), (Some("tooManyRequests"), Some(retry_after)));
    (retry_after, error)
}

async fn post(app: &TestApp, person: &TestPerson, endpoint: &str, args: &[(&str, &str)]) -> reqwest::Response {
    person.client.post(app.url(&format!("/api/{endpoint}"))).form(args).send().await.unwrap()
}

async fn send(app: &TestApp, person: &TestPerson, room: RoomId, body: &str) -> reqwest::Response {
    post(app, person, "send_message", &[("room", &room.to_string()), ("body", body)]).await
}

async fn upload(app: &TestApp, person: &TestPerson, room: RoomId) -> reqwest::Response {
    let form =
        reqwest::multipart::Form::new().part("gif", reqwest::multipart::Part::bytes(crate::helpers::another_gif()));
    person.client.post(app.url(&format!("/room/{room}/gif"))).multipart(form).send().await.unwrap()
}

fn behind_proxy(config: &mut gif_chat::Config) {
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_limited_per_person_per_address_and_in_total() {
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.limit_sends = "3/6s,5/30s,8/60s".parse().unwrap();
    })
    .await;
    let alice = app.person_from("10.0.0.1").await;
    let bob = app.person_from("10.0.0.1").await;
    let carol = app.person_from("10.0.0.2").await;
    let dave = app.person_from("10.0.0.3").await;
    let room = alice.create_room("busy", 10, "").await.unwrap().id;
    let _live = futures_util::future::join_all([&alice, &bob, &carol, &dave].map(|p| p.join(room))).await;

    for n in 0..3 {
        assert_eq!(send(&app, &alice, room, &format!("a{n}")).await.status(), 200);
    }
    let (wait, error) = throttled(send(&app, &alice, room, "one too many").await).await;
    assert_eq!(error["limit"], "sending");
    assert_eq!(error["message"], format!("You are sending too fast. Wait {wait} s."));
    assert!((1..=3).contains(&wait), "{wait}");

    // Bob has sent nothing, but his address has only two of its five left.
    for n in 0..2 {
        assert_eq!(send(&app, &bob, room, &format!("b{n}")).await.status(), 200);
    }
    assert_eq!(throttled(send(&app, &bob, room, "address full").await).await.1["limit"], "sending");

    // Carol, elsewhere, uses the last three of the server's eight: then even Dave, who did nothing, waits.
    for n in 0..3 {
        assert_eq!(send(&app, &carol, room, &format!("c{n}")).await.status(), 200);
    }
    let (_, error) = throttled(send(&app, &dave, room, "server full").await).await;
    assert_eq!(
        (error["limit"].as_str(), error["message"].as_str().map(|m| m.starts_with("gif-chat is very busy"))),
        (Some("busy"), Some(true))
    );

    let stored = app.count("SELECT COUNT(*) FROM messages WHERE kind = 'text'").await;
    assert_eq!(stored, 8, "refused sends store nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_over_the_limit_may_send_again_after_the_wait() {
    let app = spawn_app_with(|c| c.limit_sends = "2/2s,100/1m,1000/1m".parse().unwrap()).await;
    let alice = app.person().await;
    let room = alice.create_room("patience", 10, "").await.unwrap().id;
    let _live = alice.join(room).await;
    for body in ["one", "two"] {
        assert_eq!(send(&app, &alice, room, body).await.status(), 200);
    }
    let (wait, _) = throttled(send(&app, &alice, room, "three").await).await;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(send(&app, &alice, room, "three, later").await.status(), 200, "the wait announced was enough");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_new_identities_are_limited() {
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.limit_rooms = "2/60s,100/1m,1000/1m".parse().unwrap();
        c.limit_new_sessions = "3/60s".parse().unwrap();
    })
    .await;
    let alice = app.person_from("10.0.0.1").await;
    for title in ["one", "two"] {
        alice.create_room(title, 5, "").await.unwrap();
    }
    let refused = post(&app, &alice, "create_room", &[("title", "three"), ("max_members", "5")]).await;
    let (_, error) = throttled(refused).await;
    assert_eq!(error["limit"], "creatingRooms");
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 2);

    // Alice's session was her address's first; two more may start, then a fourth identity waits. Reading is
    // never limited: only the first action, which stores a session, is.
    for _ in 0..2 {
        app.person_from("10.0.0.1").await;
    }
    let fourth = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let forwarded = |request: reqwest::RequestBuilder| request.header("X-Forwarded-For", "10.0.0.1");
    assert_eq!(forwarded(fourth.get(app.url("/"))).send().await.unwrap().status(), 200);
    let sessions = app.session_rows().await;
    let (_, error) = throttled(forwarded(fourth.post(app.url("/api/whoami"))).send().await.unwrap()).await;
    assert_eq!(error["limit"], "newVisitors");
    assert_eq!(app.session_rows().await, sessions, "a refused identity stores nothing");
    app.person_from("10.0.0.2").await;
}

/// Uploads small GIFs until one is refused; returns how many passed and the refusal's JSON.
async fn upload_until_refused(limits: impl FnOnce(&mut gif_chat::Config)) -> (usize, serde_json::Value, TestApp) {
    let app = spawn_app_with(limits).await;
    let alice = app.person().await;
    let room = alice.create_room("gifs", 5, "").await.unwrap().id;
    let _live = alice.join(room).await;
    for passed in 0..20 {
        let response = upload(&app, &alice, room).await;
        if response.status() == 429 {
            let error = throttled(response).await.1;
            return (passed, error, app);
        }
        assert_eq!(response.status(), 200);
    }
    panic!("twenty uploads passed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_limited_in_count_and_in_bytes() {
    let (passed, error, app) =
        upload_until_refused(|c| c.limit_uploads = "2/60s,100/1m,1000/1m".parse().unwrap()).await;
    assert_eq!((passed, error["limit"].as_str()), (2, Some("uploading")));
    assert_eq!(app.upload_files().len(), 4, "two GIFs and their stills: a refused upload leaves nothing");
    // Each upload is charged its size in MiB, at least one: a bucket of 3 MiB takes three small GIFs.
    let (passed, error, _) =
        upload_until_refused(|c| c.limit_upload_mib = "3/60s,100/1m,1000/1m".parse().unwrap()).await;
    assert_eq!((passed, error["limit"].as_str()), (3, Some("uploading")));
}

/// Starts an upload that sends its headers and part of its body, then stalls (the connection stays open).
async fn stalled_upload(app: &TestApp, person: &TestPerson, room: RoomId) -> tokio::net::TcpStream {
    let head = format!(
        "POST /room/{room}/gif HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary=X\r\nContent-Length: 100000\r\n\r\n\
         --X\r\nContent-Disposition: form-data; name=\"gif\"; filename=\"a.gif\"\r\n\r\nGIF89a",
        app.addr,
        person.cookie_header()
    );
    app.send_raw(head.as_bytes()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_may_have_only_so_many_uploads_in_flight() {
    let app = spawn_app_with(|c| c.limit_uploads_at_once = 1).await;
    let alice = app.person().await;
    let room = alice.create_room("slow", 5, "").await.unwrap().id;
    let _live = alice.join(room).await;
    let stalled = stalled_upload(&app, &alice, room).await;
    // Once its first bytes are being written to disk, the stalled upload certainly holds its place.
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while app.upload_files().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the stalled upload never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let error = throttled(upload(&app, &alice, room).await).await.1;
    assert_eq!(error["limit"], "uploadsAtOnce");
    assert_eq!(error["message"], "Your other GIFs are still uploading. Wait 1 s.");
    drop(stalled);
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while upload(&app, &alice, room).await.status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the abandoned upload kept its place");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_connections_per_address_and_commands_per_connection_are_limited() {
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.limit_connections = 2;
        c.limit_commands = "3/60s".parse().unwrap();
    })
    .await;
    let alice = app.person_from("10.0.0.1").await;
    let neighbour = app.person_from("10.0.0.1").await;
    let first = alice.connect().await;
    let _second = neighbour.connect().await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(refused)) = alice.connect_with_origin(None).await else {
        panic!("a third connection from one address was accepted")
    };
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(app.person_from("10.0.0.2").await.connect_with_origin(None).await.is_ok(), "other addresses may");
    first.close().await;
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    let mut live = loop {
        if let Ok(live) = alice.connect_with_origin(None).await {
            break live;
        }
        assert!(tokio::time::Instant::now() < deadline, "a closed connection kept its place");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    for _ in 0..3 {
        live.send(&ClientCommand::Ping).await;
        live.expect(|event| matches!(event, LiveEvent::Pong).then_some(())).await;
    }
    live.send(&ClientCommand::Ping).await;
    assert_eq!(live.close_code().await, Some(1013), "the fourth command closes the connection: try again later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_is_turned_away_at_the_door() {
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.limit_address_writes = "5/60s".parse().unwrap();
    })
    .await;
    let flood = reqwest::Client::new();
    let post = |from: &'static str| {
        flood.post(app.url("/api/whoami")).header("X-Forwarded-For", from).header("Accept", "application/json").send()
    };
    for _ in 0..5 {
        assert_eq!(post("10.0.0.1").await.unwrap().status(), 200);
    }
    let (_, error) = throttled(post("10.0.0.1").await.unwrap()).await;
    assert_eq!(error["limit"], "requests");
    assert_eq!(error["message"].as_str().map(|m| m.starts_with("Too many requests from your network.")), Some(true));
    assert_eq!(app.session_rows().await, 5, "refused at the door: no session was stored");
    assert_eq!(post("10.0.0.2").await.unwrap().status(), 200, "other addresses are let in");
    // Reading is not a write: pages still load.
    let page = flood.get(app.url("/")).header("X-Forwarded-For", "10.0.0.1").send().await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_that_asks_again_at_once_is_answered_slowly_and_within_bounds() {
    use chat::limits::defaults::HELD_REFUSALS_PER_ADDRESS;
    const DELAY: Duration = Duration::from_secs(3);
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.limit_address_writes = "2/60s".parse().unwrap();
        c.refusal_delay_secs = DELAY.as_secs_f64();
    })
    .await;
    let flood = reqwest::Client::new();
    let post = |from: &'static str| {
        let request =
            flood.post(app.url("/api/whoami")).header("X-Forwarded-For", from).header("Accept", "application/json");
        async move {
            let started = std::time::Instant::now();
            let response = request.send().await.unwrap();
            (response.status().as_u16(), started.elapsed())
        }
    };
    for _ in 0..2 {
        assert_eq!(post("10.0.0.1").await.0, 200);
    }
    // More refused requests at once than may be held: the held ones wait, the others are answered at once.
    let extra = 8;
    let flooding =
        futures_util::future::join_all((0..HELD_REFUSALS_PER_ADDRESS as usize + extra).map(|_| post("10.0.0.1")));
    let flooding = tokio::spawn(flooding);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile someone else is let in straight away.
    let (status, took) = post("10.0.0.2").await;
    assert_eq!(status, 200);
    assert!(took < DELAY, "another address waited {took:?}");

    let answers = flooding.await.unwrap();
    assert!(answers.iter().all(|(status, _)| *status == 429), "{answers:?}");
    let held = answers.iter().filter(|(_, took)| *took >= DELAY).count();
    assert_eq!(held, HELD_REFUSALS_PER_ADDRESS as usize, "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_s_refusal_is_held_not_only_the_door_s() {
    const DELAY: Duration = Duration::from_secs(2);
    let app = spawn_app_with(|c| {
        behind_proxy(c);
        c.limit_new_sessions = "1/1h".parse().unwrap();
        c.limit_arrivals = "1/1m,100/1m,1000/1s".parse().unwrap();
        c.refusal_delay_secs = DELAY.as_secs_f64();
    })
    .await;
    let alice = app.person_from("10.0.0.1").await; // the address's one new identity
    let timed = |request: reqwest::RequestBuilder| async move {
        let started = std::time::Instant::now();
        let answer = request.send().await.unwrap();
        (answer, started.elapsed())
    };

    // Another new identity from the address is refused by the new-session limit: after the delay, as JSON and as
    // a plain form post's redirect.
    let stranger = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let whoami = || stranger.post(app.url("/api/whoami")).header("X-Forwarded-For", "10.0.0.1");
    let (answer, took) = timed(whoami().header("Accept", "application/json")).await;
    assert_eq!(throttled(answer).await.1["limit"], "newVisitors");
    assert!(took >= DELAY, "answered after {took:?}");
    let (answer, took) = timed(whoami().header("Accept", "text/html")).await;
    assert_eq!(answer.status(), 303);
    assert!(took >= DELAY, "the form's redirect after {took:?}");

    // A join over the arrivals limit is closed after the delay too.
    let first = alice.create_room("first", 10, "").await.unwrap();
    let second = alice.create_room("second", 10, "").await.unwrap();
    let (_here, _) = alice.join(first.id).await;
    let mut live = alice.connect().await;
    let started = std::time::Instant::now();
    live.send(&ClientCommand::Join { room: second.id, since: None }).await;
    assert_eq!(live.close_code().await, Some(1013));
    assert!(started.elapsed() >= DELAY, "closed after {:?}", started.elapsed());

    // A person's first request is answered at once.
    let (answer, took) = timed(app.person_from("10.0.0.2").await.client.post(app.url("/api/whoami"))).await;
    assert_eq!(answer.status(), 200);
    assert!(took < DELAY, "{took:?}");
}
