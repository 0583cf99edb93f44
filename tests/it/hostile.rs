//! Hostile and broken input: each gets a clear error, the server keeps serving, and nothing half-written stays.
//!
//! (Over 400 lines: one test per kind of hostile or broken input, each readable on its own; what they share is
//! in `helpers`.)

use std::time::Duration;

use crate::helpers::{LiveClient, make_gif, spawn_app};
use futures_util::{SinkExt, StreamExt};
use protocol::error::Refusal;
use protocol::live::LiveEvent;
use protocol::model::RoomAccess;
use tokio_tungstenite::tungstenite::Message;

/// Sends a raw frame and returns the close code the server answers with.
async fn close_code_after(live: &mut LiveClient, frame: Message) -> u16 {
    live.stream.send(frame).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), live.stream.next()).await.expect("no answer") {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_websocket_frames_close_only_their_own_connection() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("robust", 10, "").await.unwrap();
    let (mut bystander, _) = alice.join(room.id).await;

    for (frame, code) in [
        (Message::text("{not json"), 1008),
        (Message::text(r#"{"type":"launchMissiles"}"#), 1008),
        (Message::text(r#"{"type":"join","room":"seven"}"#), 1008),
        (Message::binary(vec![1, 2, 3]), 1003),
        (Message::text(format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(5000))), 1009),
    ] {
        let mut attacker = alice.connect().await;
        assert_eq!(close_code_after(&mut attacker, frame.clone()).await, code, "{frame:?}");
    }
    let sent = alice.send(room.id, "still here").await.unwrap();
    assert_eq!(
        bystander
            .expect(|e| match e {
                LiveEvent::Chat { message } if message.body == "still here" => Some(message.seq),
                _ => None,
            })
            .await,
        sent.seq
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_password_guesses_are_rate_limited_with_a_retry_time() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("vault", 10, "correct horse").await.unwrap();
    let id = room.id.to_string();
    let guesser = app.person().await;
    for n in 0..5 {
        let refusal = guesser.enter(room.id, &format!("guess {n}")).await.unwrap_err();
        assert_eq!(refusal.status, 403);
    }
    let response = guesser
        .client
        .post(app.url("/api/enter_room"))
        .header("Accept", "application/json")
        .form(&[("id", id.as_str()), ("password", "correct horse")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "even the right password waits");
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=13).contains(&retry_after), "{retry_after}");
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!((error["error"].as_str(), error["retryAfter"].as_u64()), (Some("tooManyRequests"), Some(retry_after)));
    assert!(matches!(guesser.room_page(room.id).await, RoomAccess::Refused { refusal: Refusal::Password, .. }));

    // Someone else is not punished for the guesser (below the per-address limit).
    let friend = app.person().await;
    friend.enter(room.id, "correct horse").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_other_responses_carry_security_headers() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the policy");
    assert!(html.contains(&format!(r#"nonce="{nonce}""#)), "the hydration script carries the policy's nonce");
    for directive in ["default-src 'self'", "'wasm-unsafe-eval'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("'unsafe-inline'; ")
            || !csp.split("script-src").nth(1).unwrap().split(';').next().unwrap().contains("unsafe-inline")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");

    let second = app.get("/").await.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert_ne!(second, csp, "a fresh nonce per page");

    let api = app.client.post(app.url("/api/list_rooms")).header("Accept", "application/json").send().await.unwrap();
    assert_eq!(api.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'; sandbox");
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_and_arguments_are_clear_errors() {
    let app = spawn_app().await;
    let alice = app.person().await;
    for path in ["/room/abc", "/room/-1", "/room/99999999999999999999999", "/room/1%00"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let refusal = alice.call::<RoomAccess>("room_page", &[("id", "abc")]).await.unwrap_err();
    assert_eq!(refusal.status, 400);
    let refusal = alice
        .call::<protocol::model::ChatMessage>("send_message", &[("room", "1;DROP TABLE rooms")])
        .await
        .unwrap_err();
    assert_eq!(refusal.status, 400);
    let refusal = alice
        .call::<protocol::model::ChatMessage>("send_message", &[("room", "1"), ("body", "x"), ("client_id", "bad id!")])
        .await
        .unwrap_err();
    // Input is checked before anything else: a bad message id is the client's mistake, whatever the room.
    assert_eq!(
        (refusal.status, refusal.message.as_str()),
        (422, "A message id has at most 64 letters, digits, - or _.")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0);
    assert_eq!(app.get("/").await.status(), 200, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_titles_and_messages_is_shown_as_text() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("<img src=x onerror=alert(1)>", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    alice.send(room.id, "<script>alert('hi')</script>").await.unwrap();
    for path in ["/".to_owned(), format!("/room/{}", room.id)] {
        let html = alice.client.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("<img src=x"), "{path}: {html}");
        assert!(!html.contains("<script>alert"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_joiners_never_exceed_five_places() {
    let app = spawn_app().await;
    let owner = app.person().await;
    let room = owner.create_room("crowded", 5, "").await.unwrap();
    let people = futures_util::future::join_all((0..50).map(|_| app.person())).await;
    let (joined, _connections) = crate::helpers::TestPerson::join_all_at_once(&people, room.id).await;
    assert_eq!(joined, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_without_the_gif_field_are_refused_and_leave_nothing() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("fields", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let form = reqwest::multipart::Form::new()
        .part("picture", reqwest::multipart::Part::bytes(make_gif(4, 1)).file_name("a.gif"));
    let response = alice.client.post(app.url(&format!("/room/{}/gif", room.id))).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("No file in the"));

    // A body that claims more than the limit is refused from its headers, before a byte of it is read.
    let head = format!(
        "POST /room/{}/gif HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n--x",
        room.id,
        alice.cookie_header(),
        64 * 1024 * 1024,
        addr = app.addr,
    );
    let answer = crate::helpers::first_answer(&mut app.send_raw(head.as_bytes()).await).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(app.upload_files().is_empty(), "{:?}", app.upload_files());
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_failure_is_a_plain_500_that_names_no_internals() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("fragile", 10, "").await.unwrap();
    // Break the database under the running server: the admission query reads this table.
    app.execute("DROP TABLE room_grants").await;
    let response = alice
        .client
        .post(app.url("/api/room_page"))
        .header("Accept", "application/json")
        .form(&[("id", room.id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        error,
        serde_json::json!({"error": "internal", "message": "Something went wrong on our side. Please try again."})
    );
    assert!(!body.contains("room_grants") && !body.contains("no such table"), "{body}");
    // The same failure on the live channel closes it with "try again later", not "room not found".
    let mut live = alice.connect().await;
    live.send(&protocol::live::ClientCommand::Join { room: room.id, since: None }).await;
    assert!(live.next_or_closed().await.is_none(), "the join was not refused as if the room were missing");
}

/// A forged request: what another site's page (or one on another port of this host) can make a browser send.
async fn forged_post(
    app: &crate::helpers::TestApp,
    client: &reqwest::Client,
    path: &str,
    origin: &str,
) -> reqwest::Response {
    client
        .post(app.url(path))
        .header("Origin", origin)
        .header("Accept", "application/json")
        .form(&[("title", "forged"), ("max_members", "5")])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_other_origins_are_refused_and_given_no_session() {
    let app = spawn_app().await;
    let victim = app.person().await;
    let own = format!("http://{}", app.addr);
    let same_site_other_port = format!("http://127.0.0.1:{}", app.addr.port() + 1);
    for origin in ["http://evil.example", same_site_other_port.as_str(), "null"] {
        // With the victim's cookie: refused, with the usual JSON error, and nothing happens.
        let response = forged_post(&app, &victim.client, "/api/create_room", origin).await;
        assert_eq!(response.status(), 403, "{origin}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "forbidden", "{origin}");
        let upload = victim
            .client
            .post(app.url("/room/1/gif"))
            .header("Origin", origin)
            .multipart(reqwest::multipart::Form::new().part("gif", reqwest::multipart::Part::bytes(make_gif(4, 1))))
            .send()
            .await
            .unwrap();
        assert_eq!(upload.status(), 403, "upload from {origin}");
        // Without a cookie: refused before any session exists, so none is minted.
        let fresh = reqwest::Client::new();
        let response = forged_post(&app, &fresh, "/api/create_room", origin).await;
        assert_eq!(response.status(), 403);
        assert!(response.headers().get("set-cookie").is_none(), "a forged request got a session from {origin}");
    }
    // A browser that sends no Origin still says where the request comes from.
    let response = victim
        .client
        .post(app.url("/api/create_room"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("title", "forged"), ("max_members", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0, "no forged request created a room");
    assert_eq!(app.session_rows().await, 1, "only the victim's own session exists");

    // The app's own pages may, and so may tools that send no browser headers at all.
    assert_eq!(forged_post(&app, &victim.client, "/api/create_room", &own).await.status(), 200);
    assert!(victim.create_room("from a script", 5, "").await.is_ok());
    // Reading is never refused: a link from another site still opens the page.
    let page = victim.client.get(app.url("/")).header("Origin", "http://evil.example").send().await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_origins_replace_the_host_rule_for_posts_and_the_live_channel() {
    let app = crate::helpers::spawn_app_with(|c| c.allowed_origins = vec!["https://chat.example.com".into()]).await;
    let alice = app.person().await;
    let own_host = format!("http://{}", app.addr);
    assert_eq!(forged_post(&app, &alice.client, "/api/create_room", "https://chat.example.com").await.status(), 200);
    assert_eq!(forged_post(&app, &alice.client, "/api/create_room", &own_host).await.status(), 403);
    assert!(alice.connect_with_origin(Some("https://chat.example.com")).await.is_ok());
    assert!(alice.connect_with_origin(Some(&own_host)).await.is_err(), "the live channel follows the same list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_the_cookie_is_secure_and_host_prefixed_and_hsts_is_sent() {
    let app = crate::helpers::spawn_app_with(|c| c.public_url = Some("https://chat.example.com".into())).await;
    let response = reqwest::Client::new().get(app.url("/")).send().await.unwrap();
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
    let reader_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    // The public URL is the allowed origin.
    let client = reqwest::Client::new();
    let acted = forged_post(&app, &client, "/api/create_room", "https://chat.example.com").await;
    assert_eq!(acted.status(), 200);
    let session_cookie = acted.headers()["set-cookie"].to_str().unwrap().to_owned();
    for (cookie, name) in [(reader_cookie, "__Host-gif_chat_visitor="), (session_cookie, "__Host-gif_chat_session=")] {
        assert!(cookie.starts_with(name), "{cookie}");
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        assert!(!cookie.contains("Domain="), "a __Host- cookie has no Domain: {cookie}");
    }
    assert_eq!(forged_post(&app, &client, "/api/create_room", "http://chat.example.com").await.status(), 403);

    // Plain HTTP (no public URL): no Secure flag, no prefix, no HSTS, so local development works.
    let plain = spawn_app().await;
    let response = reqwest::Client::new().get(plain.url("/")).send().await.unwrap();
    assert!(response.headers().get("strict-transport-security").is_none());
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("gif_chat_visitor=") && !cookie.contains("Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_deleted_while_the_server_runs() {
    let app = crate::helpers::spawn_app_with(|c| c.session_cleanup_secs = 0.2).await;
    let alice = app.person().await;
    let stale = format!(
        "INSERT INTO {} (id, data, expiry_date) VALUES ('stale', '', '2000-01-01T00:00:00Z')",
        app.sessions_table()
    );
    chat::with_pool!(&app.sessions_db().await, |pool| sqlx::query(&stale).execute(pool).await.map(drop)).unwrap();
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while app.sessions_where("id = 'stale'").await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the expired session was never deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.session_rows().await, 1, "the live session stays");
    assert!(alice.create_room("still me", 5, "").await.is_ok(), "and still works");
}

/// The id a visitor cookie carries (signed, not encrypted: the value is the signature, then the id and when it was
/// issued, `<id>.<unix seconds>`).
fn carried_id(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let value = cookie.strip_prefix("gif_chat_visitor=").expect("a visitor cookie").split(';').next().unwrap();
    let (signed_id, _issued) = value.rsplit_once('.').expect("an issue time");
    signed_id[signed_id.len() - 32..].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_cost_no_session_rows_and_keep_their_identity_when_they_act() {
    let app = spawn_app().await;
    // A flood of cookieless reads: each is answered with a visitor cookie, and none is stored.
    let flood = futures_util::future::join_all(
        (0..300).map(|n| reqwest::Client::new().get(app.url(&format!("/nope{n}"))).send()),
    )
    .await;
    for response in flood {
        let response = response.unwrap();
        assert_eq!(response.status(), 404);
        assert!(!response.headers()["set-cookie"].to_str().unwrap().contains("gif_chat_session"));
    }
    assert_eq!(app.session_rows().await, 0, "readers left session rows");

    // A reader keeps one identity across visits, and keeps it when they start to act.
    let reader = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let first = reader.get(app.url("/")).send().await.unwrap();
    let id = carried_id(&first);
    let again = reader.get(app.url("/")).send().await.unwrap();
    assert_eq!(carried_id(&again), id, "the cookie is renewed with the same id");
    assert_eq!(app.session_rows().await, 0);
    let me: serde_json::Value = reader.post(app.url("/api/whoami")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["id"], id.as_str(), "acting keeps the reader's identity");
    assert_eq!(app.session_rows().await, 1, "acting stores the session");
    reader.post(app.url("/api/whoami")).send().await.unwrap();
    assert_eq!(app.session_rows().await, 1);

    // A cookie this server did not sign is ignored: nobody can pick someone else's identity.
    let forged_value = format!("{}{id}", "A".repeat(44));
    let stranger = reqwest::Client::new()
        .post(app.url("/api/whoami"))
        .header("Cookie", format!("gif_chat_visitor={forged_value}"))
        .send()
        .await
        .unwrap();
    let stranger: serde_json::Value = stranger.json().await.unwrap();
    assert_ne!(stranger["id"], id.as_str(), "a forged visitor cookie was accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_body_stalls_times_out_and_leaves_nothing() {
    let app = crate::helpers::spawn_app_with(|c| c.upload_idle_secs = 0.5).await;
    let alice = app.person().await;
    let room = alice.create_room("slow", 5, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    // Headers, the start of the GIF, then nothing (a slowloris keeps the connection open and sends no more).
    let head = format!(
        "POST /room/{}/gif HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\
         Content-Type: multipart/form-data; boundary=X\r\nContent-Length: 100000\r\n\r\n\
         --X\r\nContent-Disposition: form-data; name=\"gif\"; filename=\"a.gif\"\r\n\r\nGIF89a",
        room.id,
        app.addr,
        alice.cookie_header()
    );
    let answer = crate::helpers::first_answer(&mut app.send_raw(head.as_bytes()).await).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"timeout\""), "{answer}");
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while !app.upload_files().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the stalled upload left {:?}", app.upload_files());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Uploads a small GIF as the only file of the form; returns the status and the JSON answer.
async fn upload_status(
    app: &crate::helpers::TestApp,
    person: &crate::helpers::TestPerson,
    room: protocol::model::RoomId,
) -> (u16, serde_json::Value) {
    let form =
        reqwest::multipart::Form::new().part("gif", reqwest::multipart::Part::bytes(crate::helpers::another_gif()));
    let response = person.client.post(app.url(&format!("/room/{room}/gif"))).multipart(form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_stop_at_the_quota_with_507_and_leave_nothing_and_resume_when_room_is_freed() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.max_uploads_total = 3000;
        c.no_rate_limits = true;
    })
    .await;
    let alice = app.person().await;
    let room = alice.create_room("gifs", 5, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let mut stored = 0;
    let refusal = loop {
        let (status, answer) = upload_status(&app, &alice, room.id).await;
        if status != 200 {
            assert_eq!(status, 507, "{answer}");
            break answer;
        }
        stored += 1;
        assert!(stored < 100, "the quota never stopped uploads");
    };
    assert!(stored >= 1);
    assert_eq!(refusal["error"], "storageFull");
    assert_eq!(refusal["message"], "gif-chat has no room left for more GIFs right now. Text still works.");
    let files = app.upload_files();
    assert_eq!(files.len(), 2 * stored, "a refused upload left a file (each GIF has its still): {files:?}");
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).unwrap().len()).sum();
    assert!(bytes <= 3000, "{bytes} bytes stored over a quota of 3000");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, stored as i64);

    // Deleting the room frees its GIFs' room (they are removed in the background).
    alice.call::<()>("delete_room", &[("room", &room.id.to_string())]).await.unwrap();
    let again = alice.create_room("again", 5, "").await.unwrap();
    let (_live, _) = alice.join(again.id).await;
    crate::helpers::eventually("the GIFs are removed", || async { app.upload_files().is_empty() }).await;
    assert_eq!(upload_status(&app, &alice, again.id).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_never_take_the_disk_below_its_free_space_floor() {
    let app = crate::helpers::spawn_app_with(|c| c.min_free_disk = u64::MAX / 2).await;
    let alice = app.person().await;
    let room = alice.create_room("gifs", 5, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let (status, answer) = upload_status(&app, &alice, room.id).await;
    assert_eq!((status, answer["error"].as_str()), (507, Some("storageFull")), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("disk is nearly full"));
    assert!(app.upload_files().is_empty());
    assert!(alice.send(room.id, "text still works").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_that_trickles_or_overflows_is_refused_before_any_server_function() {
    let app = crate::helpers::spawn_app_with(|c| c.upload_idle_secs = 0.5).await;
    let alice = app.person().await;
    // Half a form, then silence.
    let head = format!(
        "POST /api/create_room HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\ntitle=slow",
        app.addr,
        alice.cookie_header()
    );
    let answer = crate::helpers::first_answer(&mut app.send_raw(head.as_bytes()).await).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.count("SELECT COUNT(*) FROM rooms").await, 0);

    let huge = "x".repeat(100 * 1024);
    let response =
        alice.client.post(app.url("/api/send_message")).form(&[("room", "1"), ("body", &huge)]).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert!(alice.create_room("still fine", 5, "").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_trickle_in_lose_their_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::helpers::spawn_app_with(|c| c.header_read_secs = 0.5).await;
    // A slowloris: the request line and a header, then one more header byte every 100 ms, never the blank line.
    let stream = app.send_raw(format!("GET / HTTP/1.1\r\nHost: {}\r\n", app.addr).as_bytes()).await;
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"X").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(crate::helpers::PATIENCE, reader.read_to_end(&mut answer)).await;
    trickle.abort();
    let closed = matches!(read, Ok(Ok(_)) | Ok(Err(_)));
    assert!(closed, "the server still waits for the headers after {:?}", crate::helpers::PATIENCE);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "{}", String::from_utf8_lossy(&answer));

    // A client that sends its headers at once is served as always.
    let answer = crate::helpers::first_answer(
        &mut app.send_raw(format!("GET /healthz-not-here HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes()).await,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_server_will_close_is_announced_as_closing() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    // Uploads to a room that does not exist are refused from their headers alone, so the server never reads
    // their bodies: hyper then drops the connection, either at once or once the rest of the body has come in.
    // An answer that does not say `Connection: close` promises that the connection can take another request
    // (clients pool it on that promise).
    for (declared, sent) in [(200_000, 0), (100_000, 100_000), (200_000, 150_000)] {
        for _ in 0..5 {
            let head = format!(
                "POST /room/999/gif HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=b\r\n\
                 Content-Length: {declared}\r\n\r\n",
                app.addr
            );
            let mut stream = app.send_raw(&[head.as_bytes(), &vec![b'x'; sent]].concat()).await;
            let answer = crate::helpers::first_answer(&mut stream).await;
            assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
            if answer.to_lowercase().contains("\r\nconnection: close\r\n") {
                continue;
            }
            let next = format!("GET /nope HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
            let _ = stream.write_all(&[vec![b'x'; declared - sent], next.into_bytes()].concat()).await;
            let next_answer = crate::helpers::first_answer(&mut stream).await;
            assert!(
                next_answer.starts_with("HTTP/1.1 404"),
                "the answer kept the connection open ({answer}), but the next request got {next_answer:?}"
            );
        }
    }

    // Requests whose bodies are read (here a refused form), and requests without one, keep their connection.
    let form = "title=x";
    let request = format!(
        "POST /api/create_room HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        app.addr,
        form.len()
    );
    let get = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr);
    for request in [request, get] {
        let answer = crate::helpers::first_answer(&mut app.send_raw(request.as_bytes()).await).await;
        assert!(!answer.to_lowercase().contains("connection: close"), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_who_leave_in_the_middle_of_a_page_cost_the_server_nothing() {
    // The real binary: a render that deadlocked a worker thread would stall it, not this test's runtime.
    let dir = tempfile::tempdir().unwrap();
    let mut like = gif_chat::Config::for_dir(dir.path(), crate::helpers::site_root());
    like.database_url = Some(crate::helpers::fresh_database(dir.path()).await);
    std::fs::create_dir_all(&like.data_dir).unwrap();
    let server = crate::helpers::ServerProcess::spawn(&like, &["--no-rate-limits"]);
    let alice = crate::helpers::person_at(server.addr).await;
    let room = alice.create_room("a page people leave", 10, "").await.unwrap();
    let paths = ["/".to_owned(), format!("/room/{}", room.id), "/room/999999".to_owned(), "/room/abc".to_owned()];

    // A thousand readers ask for a page and go as soon as its status arrives, mid-render.
    let mut leaving = tokio::task::JoinSet::new();
    for n in 0..1000 {
        let (client, url) = (alice.client.clone(), format!("http://{}{}", server.addr, paths[n % paths.len()]));
        leaving.spawn(async move { client.get(url).send().await.map(|response| response.status()) });
        if leaving.len() >= 16 {
            leaving.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(left) = leaving.join_next().await {
        left.unwrap().unwrap();
    }

    // Every page still comes whole, at once.
    for path in &paths {
        let page = tokio::time::timeout(crate::helpers::PATIENCE, async {
            alice.client.get(format!("http://{}{path}", server.addr)).send().await.unwrap().text().await.unwrap()
        })
        .await
        .unwrap_or_else(|_| panic!("{path} no longer answers: a render that lost its reader stalled the server"));
        assert!(page.contains("</body>"), "{path} came cut short: {page}");
    }
    let panics: Vec<String> = server.output().into_iter().filter(|line| line.contains("panicked")).collect();
    assert!(panics.is_empty(), "renders that lost their reader panicked: {panics:?}");
}
