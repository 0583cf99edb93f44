//! The server starts on a fresh database, renders the first page and serves the client bundle.

use crate::helpers::spawn_app;
use chat::store::{Db, with_pool};

/// The path of the client file with `extension` that a page names (`/pkg/gif-chat.<hash>.js`).
fn named_in(html: &str, extension: &str) -> String {
    html.match_indices("/pkg/")
        .map(|(at, _)| html[at..].split(['"', '\'', ' ', ')']).next().unwrap_or_default())
        .find(|path| path.ends_with(&format!(".{extension}")))
        .unwrap_or_else(|| panic!("no .{extension} named in {html}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_list_is_server_rendered_with_hydration_scripts() {
    let app = spawn_app().await;

    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>gif-chat</title>"), "no title in {html}");
    assert!(html.contains("<h1>gif-chat</h1>"), "no heading in {html}");
    // cargo-leptos builds with `hash-files`: the names carry the content's hash.
    for extension in ["js", "wasm", "css"] {
        let path = named_in(&html, extension);
        assert!(path.starts_with("/pkg/gif-chat.") && path.matches('.').count() == 2, "{path} carries no hash");
    }
    // SSR never runs effects: the hydration marker must come from the browser only.
    assert!(!html.contains("data-hydrated"), "SSR must not mark the page hydrated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_bundle_and_styles_are_served_and_kept_for_good() {
    let app = spawn_app().await;
    let missing = "run `cargo leptos build` before `cargo test` (make test does)";
    let html = app.get("/").await.text().await.unwrap();

    let js = app.get(&named_in(&html, "js")).await;
    assert_eq!(js.status(), 200, "JS bundle missing: {missing}");
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(js.text().await.unwrap().contains("hydrate"));

    let wasm = app.get(&named_in(&html, "wasm")).await;
    assert_eq!(wasm.status(), 200, "WASM bundle missing: {missing}");
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(&wasm.bytes().await.unwrap()[..4], b"\0asm");

    let css = app.get(&named_in(&html, "css")).await;
    assert_eq!(css.status(), 200, "stylesheet missing: {missing}");
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));

    // A name no build made (an old page after a deploy) is not found, and the browser keeps no such answer.
    let gone = app.get("/pkg/gif-chat.0ld0ld0ld.js").await;
    assert_eq!(gone.status(), 404);
    assert!(gone.headers().get("cache-control").is_none());

    assert_eq!(app.get("/favicon.ico").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_address_is_a_404_page_with_a_way_back() {
    let app = spawn_app().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Not found"));
    assert!(html.contains(r#"href="/""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_is_created_and_migrated() {
    let app = spawn_app().await;
    let tables_sql = match app.db().await {
        Db::Sqlite(_) => {
            let db_file = app.config.data_dir.join("gif-chat.db");
            assert!(db_file.exists(), "expected the SQLite file at {}", db_file.display());
            assert!(app.config.data_dir.join("sessions.db").exists(), "sessions have their own file");
            assert_eq!(app.text("PRAGMA journal_mode").await, "wal");
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        }
        Db::Postgres(_) => {
            let sessions =
                app.count("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'tower_sessions'");
            assert_eq!(sessions.await, 1, "sessions have a schema of their own");
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        }
    };
    let tables: Vec<String> =
        with_pool!(&app.db().await, |pool| sqlx::query_scalar(tables_sql).fetch_all(pool).await).unwrap();
    for table in ["messages", "rooms", "server_secrets", "room_bans", "room_grants", "read_marks"] {
        assert!(tables.iter().any(|t| t == table), "missing table {table} in {tables:?}");
    }
    assert!(!tables.iter().any(|t| t == "tower_sessions"), "sessions are not among the chat's tables");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_kept_in_the_chat_database_by_earlier_versions_move_to_their_own() {
    if crate::helpers::on_postgres() {
        return eprintln!("SQLite only: sessions were never kept anywhere else on PostgreSQL");
    }
    let mut app = spawn_app().await;
    app.execute(
        "CREATE TABLE tower_sessions (id TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL, expiry_date INTEGER NOT NULL)",
    )
    .await;
    app.execute(
        "INSERT INTO tower_sessions VALUES ('returning', x'01', '2999-01-01T00:00:00Z'), ('gone', x'02', '2000-01-01T00:00:00Z')",
    )
    .await;
    app.restart().await;
    assert_eq!(app.session_rows().await, 1, "live sessions move, expired ones do not");
    assert_eq!(app.sessions_where("id = 'returning'").await, 1);
    let old_table = app.count("SELECT COUNT(*) FROM sqlite_master WHERE name = 'tower_sessions'").await;
    assert_eq!(old_table, 0, "the old table is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rooms_make_a_small_page_and_can_be_paged_and_searched() {
    let app = spawn_app().await;
    let alice = app.person().await;
    // 10,000 rooms, the oldest activity first; room 1 is the needle in the haystack.
    app.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
         INSERT INTO rooms (title, max_members, owner_id, created_at, last_active_at)
         SELECT CASE i WHEN 1 THEN 'The Needle Room' ELSE 'Room ' || i END, 10, 'someone', i, i FROM n",
    )
    .await;

    let page = app.get("/").await.text().await.unwrap();
    let cards = page.matches("class=\"room-card\"").count();
    println!("room list page with 10,000 rooms: {} bytes, {cards} rooms shown", page.len());
    assert_eq!(cards, 50, "the page shows one page of rooms");
    assert!(page.len() < 150_000, "the page is {} bytes", page.len());
    assert!(page.contains("Show more rooms"));
    assert!(page.contains("Room 10000") && !page.contains("Room 9950<"), "the most recently active come first");

    let first: protocol::model::ListedRooms = alice.call("find_rooms", &[]).await.unwrap();
    let second: protocol::model::ListedRooms = alice.call("find_rooms", &[("offset", "50")]).await.unwrap();
    assert!(first.has_more && second.has_more);
    assert_eq!(first.rooms.last().unwrap().title, "Room 9951");
    assert_eq!(second.rooms.first().unwrap().title, "Room 9950");
    let found: protocol::model::ListedRooms = alice.call("find_rooms", &[("title", "needle")]).await.unwrap();
    assert_eq!(found.rooms.iter().map(|r| r.title.as_str()).collect::<Vec<_>>(), ["The Needle Room"]);
    assert!(!found.has_more);
    let listed: Vec<protocol::model::RoomSummary> = alice.call("list_rooms", &[]).await.unwrap();
    assert_eq!(listed.len(), 50);

    // A message makes a room the most recently active.
    let (_live, _) = alice.join(found.rooms[0].id).await;
    alice.send(found.rooms[0].id, "anyone?").await.unwrap();
    let first: protocol::model::ListedRooms = alice.call("find_rooms", &[]).await.unwrap();
    assert_eq!(first.rooms[0].title, "The Needle Room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompressed_client_files_go_to_browsers_that_accept_them() {
    // A site as `cargo leptos build --release --precompress` leaves it: hashed names, a .br and a .gz beside each.
    let site = tempfile::tempdir().unwrap();
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(site.path().join("hash.txt"), "js: j5h4sh\nwasm: w4sh\ncss: c55h4sh\n").unwrap();
    for (name, body) in [
        ("gif-chat.w4sh.wasm", &b"\0asm\x01\0\0\0 plain"[..]),
        ("gif-chat.w4sh.wasm.br", b"as brotli"),
        ("gif-chat.w4sh.wasm.gz", b"as gzip"),
    ] {
        std::fs::write(pkg.join(name), body).unwrap();
    }
    let app = crate::helpers::spawn_app_with(|config| config.site_root = site.path().to_owned()).await;

    let html = app.get("/").await.text().await.unwrap();
    assert_eq!(named_in(&html, "wasm"), "/pkg/gif-chat.w4sh.wasm");
    assert_eq!(named_in(&html, "js"), "/pkg/gif-chat.j5h4sh.js");
    assert_eq!(named_in(&html, "css"), "/pkg/gif-chat.c55h4sh.css");

    let client = reqwest::Client::new();
    for (accepts, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), &b"as brotli"[..]),
        ("gzip", Some("gzip"), b"as gzip"),
        ("identity", None, b"\0asm\x01\0\0\0 plain"),
    ] {
        let response =
            client.get(app.url("/pkg/gif-chat.w4sh.wasm")).header("accept-encoding", accepts).send().await.unwrap();
        assert_eq!(response.status(), 200, "asking with {accepts}");
        assert_eq!(response.headers().get("content-encoding").map(|v| v.to_str().unwrap()), encoding, "{accepts}");
        assert_eq!(response.headers()["content-type"], "application/wasm");
        assert_eq!(response.headers()["vary"], "accept-encoding");
        assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(response.bytes().await.unwrap(), body, "{accepts}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_files_without_precompressed_variants_are_compressed_as_sent_but_pages_never_are() {
    use std::io::Read;
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let get =
        |path: String, encodings: &'static str| client.get(app.url(&path)).header("accept-encoding", encodings).send();
    let html = app.get("/").await.text().await.unwrap();

    // The debug build's site has no .gz beside its files: the answer is compressed on the fly.
    let css = get(named_in(&html, "css"), "gzip").await.unwrap();
    assert_eq!(css.headers()["content-encoding"], "gzip");
    assert_eq!(css.headers()["vary"], "accept-encoding");
    let compressed = css.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_string(&mut text).unwrap();
    assert!(text.contains("--person-hue"), "not the stylesheet: {text}");

    // Pages can hold a whisper next to anyone's text: they go uncompressed whatever the browser accepts (BREACH),
    // and so do server functions' answers.
    let page = get("/".into(), "gzip, deflate, br, zstd").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("content-encoding").is_none());
    let person = app.person().await;
    let answer = client
        .post(app.url("/api/whoami"))
        .header("cookie", person.cookie_header())
        .header("accept", "application/json")
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("content-encoding").is_none());
}

/// The expiry of the only stored session, as the database writes it.
async fn session_expiry(app: &crate::helpers::TestApp) -> String {
    let sql = if crate::helpers::on_postgres() {
        "SELECT expiry_date::text FROM tower_sessions.session"
    } else {
        "SELECT CAST(expiry_date AS TEXT) FROM tower_sessions"
    };
    with_pool!(&app.sessions_db().await, |pool| sqlx::query_scalar(sql).fetch_one(pool).await).unwrap()
}

/// tower-sessions extends a session only when it changes; a visit renews it (at most once per period, a day by
/// default), so it lasts 30 days after the last visit, not after the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_renews_the_session_at_most_once_per_period() {
    for (period, renewed) in [(0.0, true), (86_400.0, false)] {
        let app = crate::helpers::spawn_app_with(|config| config.session_renew_secs = period).await;
        let alice = app.person().await;
        let room = alice.create_room("renewals", 5, "").await.unwrap();
        let made = session_expiry(&app).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        alice.room_page(room.id).await;
        let after = session_expiry(&app).await;
        assert_eq!(after > made, renewed, "period {period}: {made} -> {after}");
        assert_eq!(app.session_rows().await, 1);
    }
}
