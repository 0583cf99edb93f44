//! Running gif-chat for a community: health probes, the version, backups (issue 15).
//!
//! (Over 400 lines: one test per operator's task (probes, version, logs, metrics, backups), each readable on its own.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::helpers::{ServerProcess, TestPerson, make_gif, spawn_app, spawn_app_with};
use gif_chat::Config;
use protocol::model::{MessageKind, RoomAccess, RoomId};
use serde_json::Value;

/// A probe's JSON answer and status.
async fn probe(app: &crate::helpers::TestApp, path: &str) -> (u16, Value) {
    let response = app.get(path).await;
    assert!(response.headers().get("set-cookie").is_none(), "{path} handed out a cookie");
    assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Probes `/readyz` until `check` says `expected` (answers are reused for a second), and returns the last answer.
async fn ready_until(app: &crate::helpers::TestApp, check: &str, expected: &str) -> (u16, Value) {
    let mut answer = probe(app, "/readyz").await;
    for _ in 0..40 {
        if answer.1["checks"][check] == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = probe(app, "/readyz").await;
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_without_a_session_and_name_what_fails() {
    let app = spawn_app().await;

    let (status, health) = probe(&app, "/healthz").await;
    assert_eq!((status, health), (200, serde_json::json!({ "status": "ok" })), "no version or commit for anyone");

    let (status, ready) = probe(&app, "/readyz").await;
    assert_eq!((status, &ready["status"]), (200, &Value::from("ready")), "{ready}");
    for check in ["database", "migrations", "uploads", "sessions", "running"] {
        assert_eq!(ready["checks"][check], "ok", "{ready}");
    }

    // Uploads cannot be written: the directory became a file.
    std::fs::remove_dir_all(&app.config.uploads_dir).unwrap();
    std::fs::write(&app.config.uploads_dir, b"not a directory").unwrap();
    // Text chat still works: degraded, not taken out of the balancer.
    let (status, ready) = ready_until(&app, "uploads", "the uploads directory is not writable").await;
    assert_eq!((status, &ready["status"]), (200, &Value::from("degraded")), "{ready}");
    assert_eq!(ready["checks"]["uploads"], "the uploads directory is not writable", "{ready}");
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
    std::fs::remove_file(&app.config.uploads_dir).unwrap();
    std::fs::create_dir(&app.config.uploads_dir).unwrap();
    assert_eq!(ready_until(&app, "uploads", "ok").await.0, 200);

    // The database lost a migration this build expects (say, an older backup was restored under a newer build).
    let newest: i64 = app.count("SELECT MAX(version) FROM _sqlx_migrations").await;
    app.execute(&format!("DELETE FROM _sqlx_migrations WHERE version = {newest}")).await;
    let (status, ready) = ready_until(&app, "migrations", &format!("not applied: [{newest}]")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["migrations"], format!("not applied: [{newest}]"), "{ready}");

    // The sessions' database stops answering (its table is gone): named, without the cause.
    let sessions = app.sessions_db().await;
    let statement = format!("DROP TABLE {}", app.sessions_table());
    chat::store::with_pool!(&sessions, |pool| sqlx::query(&statement).execute(pool).await.map(drop)).unwrap();
    let kind = if crate::helpers::on_postgres() { "PostgreSQL" } else { "SQLite" };
    let (status, ready) = ready_until(&app, "sessions", &format!("{kind} does not answer")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["sessions"], format!("{kind} does not answer"), "{ready}");

    // The process is alive all along.
    assert_eq!(probe(&app, "/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutting_down_server_is_not_ready() {
    let app = spawn_app().await;
    app.chat.begin_shutdown();
    let (status, ready) = ready_until(&app, "running", "shutting down").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["running"], "shutting down", "{ready}");
}

/// Told to stop, a server with a drain period first says it is not ready while it still serves, then stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_server_serves_while_it_says_it_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut like = Config::for_dir(dir.path(), crate::helpers::site_root());
    like.database_url = Some(crate::helpers::fresh_database(dir.path()).await);
    std::fs::create_dir_all(&like.data_dir).unwrap();
    let mut server = ServerProcess::spawn(&like, &["--drain-secs=5"]);
    let url = |path: &str| format!("http://{}{path}", server.addr);
    assert_eq!(reqwest::get(url("/readyz")).await.unwrap().status(), 200);
    let asked = std::time::Instant::now();
    server.terminate();
    let mut saw_draining = false;
    while asked.elapsed() < std::time::Duration::from_secs(12) {
        let Ok(ready) = reqwest::get(url("/readyz")).await else { break };
        // Well inside the drain period (near its end, the next request may find the server gone, as it should).
        if ready.status() == 503 && asked.elapsed() < std::time::Duration::from_secs(4) {
            let ready: Value = ready.json().await.unwrap();
            assert_eq!(ready["checks"]["running"], "shutting down", "{ready}");
            let page = reqwest::get(url("/")).await.unwrap();
            assert_eq!(page.status(), 200, "draining, it still serves pages");
            // Read whole: a page dropped halfway leaves its rendering to fail in the server's log.
            assert!(page.text().await.unwrap().contains("<h1>gif-chat</h1>"));
            saw_draining = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(saw_draining, "never said it was shutting down");
    assert!(asked.elapsed() >= std::time::Duration::from_secs(5), "stopped before its drain period");
    assert!(server.wait_for_exit(std::time::Duration::from_secs(10)), "did not stop after draining");
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gif-chat")).arg("--version").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(printed.trim(), format!("gif-chat {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}

/// Runs `gif-chat` with the store options of `config` and then `command` (a subcommand and its arguments);
/// returns whether it succeeded and what it printed (standard output, then standard error).
async fn gif_chat(config: &Config, command: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gif-chat"))
        .arg("--data-dir")
        .arg(&config.data_dir)
        .arg("--uploads-dir")
        .arg(&config.uploads_dir)
        .args(config.database_url.iter().map(|url| format!("--database-url={url}")))
        .args(config.uploads_url.iter().map(|url| format!("--uploads-url={url}")))
        .args(command)
        .envs(
            config
                .s3_keys
                .iter()
                .flat_map(|keys| [("AWS_ACCESS_KEY_ID", &keys.id), ("AWS_SECRET_ACCESS_KEY", &keys.secret)]),
        )
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), printed)
}

/// Every message of `room` that `person` may read, by sequence number.
async fn history(person: &TestPerson, room: RoomId) -> BTreeMap<i64, (MessageKind, String)> {
    let RoomAccess::Open(view) = person.room_page(room).await else { panic!("the room does not open") };
    let mut messages: BTreeMap<_, _> = view.messages.into_iter().map(|m| (m.seq, (m.kind, m.body))).collect();
    let mut has_earlier = view.has_earlier;
    while has_earlier {
        let before = messages.keys().next().copied().unwrap().to_string();
        let page: protocol::model::MessagePage =
            person.call("earlier_messages", &[("room", &room.to_string()), ("before", &before)]).await.unwrap();
        messages.extend(page.messages.into_iter().map(|m| (m.seq, (m.kind, m.body))));
        has_earlier = page.has_earlier;
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_live_chat_restores_every_acknowledged_message_and_gif() {
    let app = spawn_app_with(|config| config.no_rate_limits = true).await;
    if crate::helpers::on_postgres() {
        let (ok, printed) = gif_chat(&app.config, &["backup", "/tmp/never.db"]).await;
        assert!(!ok && printed.contains("pg_dump"), "{printed}");
        return;
    }
    let alice = app.person().await;
    let room = alice.create_room("kept safe", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    alice.upload(&room.id.to_string(), "first.gif", make_gif(16, 2)).await.unwrap();
    // And a GIF with its video.
    let clip = alice.upload(&room.id.to_string(), "clip.gif", chat::testing::moving_gif(120, 90, 10)).await.unwrap();
    let with_video = "SELECT COUNT(*) FROM messages WHERE video IS NOT NULL";
    crate::helpers::eventually("the clip has its video", || async { app.count(with_video).await == 1 }).await;
    // And a GIF only the library keeps (its room is gone).
    let gone = alice.create_room("gone", 10, "").await.unwrap();
    let (_gone_live, _) = alice.join(gone.id).await;
    let shared =
        alice.upload_sharing(&gone.id.to_string(), "s.gif", crate::helpers::another_gif(), Some("kept")).await.unwrap();
    alice.call::<()>("delete_room", &[("room", &gone.id.to_string())]).await.unwrap();

    // Alice goes on chatting, now and then with a GIF, while the backup is taken. What was acknowledged before
    // the backup began must be in it; what came during may be, as long as nothing before it is missing.
    let (backing_up, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let chatter = tokio::spawn({
        let (alice, backing_up, stop) = (alice.clone(), backing_up.clone(), stop.clone());
        async move {
            let mut acknowledged = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let message = if n % 10 == 9 {
                    alice.upload(&room.id.to_string(), "more.gif", make_gif(8, 1)).await.unwrap()
                } else {
                    alice.send(room.id, &format!("message {n}")).await.unwrap()
                };
                // Acknowledged before the backup began: committed before it, so it must be in it. (Read after the
                // answer: a send that began before the backup may commit after its snapshot.)
                let before_backup = !backing_up.load(Ordering::SeqCst);
                acknowledged.push((message.seq, before_backup));
            }
            acknowledged
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let (file, gifs) = (backup_dir.path().join("chat.db"), backup_dir.path().join("gifs"));
    backing_up.store(true, Ordering::SeqCst);
    let (ok, printed) =
        gif_chat(&app.config, &["backup", file.to_str().unwrap(), "--gifs", gifs.to_str().unwrap()]).await;
    assert!(ok, "{printed}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let acknowledged = chatter.await.unwrap();
    assert!(acknowledged.iter().filter(|(_, before)| *before).count() > 10, "too little chat before the backup");
    assert!(printed.contains("0 missing"), "{printed}");
    assert!(!backup_dir.path().join("chat.db.partial").exists(), "the backup left its partial file");
    // It holds the cookie key and the sessions: for its owner's eyes only.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    // Never written over what the server uses.
    let live_db = app.config.data_dir.join("gif-chat.db");
    let (ok, printed) = gif_chat(&app.config, &["backup", live_db.to_str().unwrap()]).await;
    assert!(!ok && printed.contains("a database the server uses"), "{printed}");
    let uploads = app.config.uploads_dir.to_str().unwrap();
    let (ok, printed) = gif_chat(&app.config, &["backup", file.to_str().unwrap(), "--gifs", uploads]).await;
    assert!(!ok && printed.contains("the uploads directory"), "{printed}");

    // Restored into a fresh data directory, a server on it has every message up to the snapshot, each GIF they
    // refer to, and Alice is still Alice (the sessions and the cookie key came along), owning her room.
    let restored_dir = tempfile::tempdir().unwrap();
    let mut target = Config::for_dir(restored_dir.path(), crate::helpers::site_root());
    // With GIFs in object storage, into a new bucket.
    let restored_s3 = match app.s3 {
        Some(_) => Some(crate::helpers::TestS3::start().await),
        None => None,
    };
    if let Some(s3) = &restored_s3 {
        s3.configure(&mut target);
    }
    let (ok, printed) = gif_chat(&target, &["restore", file.to_str().unwrap(), "--gifs", gifs.to_str().unwrap()]).await;
    assert!(ok, "{printed}");
    let (again, printed) = gif_chat(&target, &["restore", file.to_str().unwrap()]).await;
    assert!(!again && printed.contains("does not overwrite"), "{printed}");
    let restored = spawn_app_with(|config| {
        config.data_dir = target.data_dir.clone();
        config.uploads_dir = target.uploads_dir.clone();
        config.uploads_url = target.uploads_url.clone();
        config.database_url = None;
    })
    .await;
    let alice_again = alice.via(restored.addr);
    let RoomAccess::Open(view) = alice_again.room_page(room.id).await else { panic!("the room does not open") };
    assert_eq!(view.me.id, alice.me().id, "Alice lost her identity");
    assert_eq!(view.room.owner.id, alice.me().id);

    let messages = history(&alice_again, room.id).await;
    let newest = *messages.keys().last().unwrap();
    for (seq, before_backup) in &acknowledged {
        assert!(
            messages.contains_key(seq) || (!before_backup && *seq > newest),
            "acknowledged message {seq} (before the backup: {before_backup}) is missing; the backup holds up to {newest}"
        );
    }
    let mut gifs_seen = 0;
    for (kind, body) in messages.values() {
        if *kind == MessageKind::Gif {
            // Its still came along (not made again on demand).
            let still = protocol::model::still_of(body.trim_start_matches("/gif/"));
            let still_path = match &restored_s3 {
                Some(s3) => s3.object_path(&still),
                None => restored.stored_path(&still),
            };
            assert!(still_path.is_file(), "{still} was not restored");
            let response = restored.get(body).await;
            assert_eq!(response.status(), 200, "{body}");
            assert_eq!(&response.bytes().await.unwrap()[..6], b"GIF89a");
            gifs_seen += 1;
        }
    }
    assert!(gifs_seen >= 2, "{gifs_seen} GIFs");
    assert_eq!(restored.get(&shared.body).await.status(), 200, "the library's GIF was not restored");
    let video = restored.get(&clip.body.replace(".gif", ".mp4")).await;
    assert_eq!(video.status(), 200, "the clip's video was not restored");
    assert_eq!(video.headers()["content-type"], "video/mp4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_what_is_not_a_sound_gif_chat_backup() {
    if crate::helpers::on_postgres() {
        return;
    }
    let app = spawn_app().await;
    app.person().await.create_room("backed up", 5, "").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    assert!(gif_chat(&app.config, &["backup", backup.to_str().unwrap()]).await.0);
    let target = Config::for_dir(&dir.path().join("restored"), crate::helpers::site_root());
    let restore = |file: std::path::PathBuf| {
        let target = target.clone();
        async move { gif_chat(&target, &["restore", file.to_str().unwrap()]).await }
    };
    /// A copy of the backup, changed by `sql`.
    async fn tampered(backup: &Path, name: &str, sql: &str) -> std::path::PathBuf {
        let copy = backup.with_file_name(name);
        std::fs::copy(backup, &copy).unwrap();
        let db = chat::store::Db::open(&format!("sqlite://{}", copy.display()), 1).await.unwrap();
        chat::store::with_pool!(&db, |pool| sqlx::query(sql).execute(pool).await.map(drop)).unwrap();
        db.close().await;
        copy
    }

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, just some text that goes on").unwrap();
    let (ok, printed) = restore(garbage).await;
    assert!(!ok, "{printed}");
    let (ok, printed) = restore(dir.path().join("absent.db")).await;
    assert!(!ok && printed.contains("no database at"), "{printed}");
    let newer = tampered(&backup, "newer.db", "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99991231000000, 'future', TRUE, X'00', 0)").await;
    let (ok, printed) = restore(newer).await;
    assert!(!ok && printed.contains("made by a newer gif-chat"), "{printed}");
    let foreign = tampered(&backup, "foreign.db", "UPDATE _sqlx_migrations SET checksum = X'00'").await;
    let (ok, printed) = restore(foreign).await;
    assert!(!ok && printed.contains("is not a gif-chat database"), "{printed}");
    assert!(!target.data_dir.join("gif-chat.db").exists(), "a refused restore left a database");

    // A write-ahead log left in the data directory would be replayed into the restored file: refused too.
    std::fs::create_dir_all(&target.data_dir).unwrap();
    std::fs::write(target.data_dir.join("gif-chat.db-wal"), b"stale").unwrap();
    let (ok, printed) = restore(backup.clone()).await;
    assert!(!ok && printed.contains("gif-chat.db-wal exists"), "{printed}");
    std::fs::remove_file(target.data_dir.join("gif-chat.db-wal")).unwrap();
    let (ok, printed) = restore(backup).await;
    assert!(ok && printed.contains("1 rooms"), "{printed}");
}

/// The samples of a Prometheus text page: `name{labels}` → value.
async fn scrape(app: &crate::helpers::TestApp) -> BTreeMap<String, f64> {
    let url = format!("http://{}/metrics", app.metrics_addr.expect("metrics are served"));
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
            (name.to_owned(), value.parse().unwrap_or_else(|_| panic!("not a number: {line}")))
        })
        .collect()
}

/// How much each sample moved from `before` to `after` (absent before: from 0).
fn moved(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, name: &str) -> f64 {
    after.get(name).copied().unwrap_or_else(|| panic!("no {name} in {after:#?}"))
        - before.get(name).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_short_chat_exactly() {
    let app = spawn_app_with(|config| {
        config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        // Four sends each, then the fifth is refused.
        config.limit_sends = "4/10m,1000/10s,10000/1s".parse().unwrap();
    })
    .await;
    let before = scrape(&app).await;
    assert_eq!(before["gif_chat_live_connections"], 0.0);
    let build = format!(
        "gif_chat_build_info{{version=\"{}\",commit=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        gif_chat::health::COMMIT
    );
    assert_eq!(before.get(&build), Some(&1.0), "{before:#?}");

    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("counted", 10, "").await.unwrap();
    let (_alice_live, _) = alice.join(room.id).await;
    let (bob_live, _) = bob.join(room.id).await;
    for n in 0..3 {
        alice.send(room.id, &format!("text {n}")).await.unwrap();
    }
    let to = bob.me().id.to_string();
    let _: protocol::model::ChatMessage =
        alice.call("send_message", &[("room", &room.id.to_string()), ("body", "psst"), ("to", &to)]).await.unwrap();
    assert_eq!(alice.send(room.id, "one too many").await.unwrap_err().status, 429);
    let gif = alice.upload(&room.id.to_string(), "cat.gif", make_gif(8, 2)).await.unwrap();
    assert_eq!(bob.upload(&room.id.to_string(), "cat.gif", b"PNG, honestly".to_vec()).await.unwrap_err().status, 415);
    assert_eq!(app.get(&gif.body).await.status(), 200);

    let after = scrape(&app).await;
    let m = |name: &str| moved(&before, &after, name);
    assert_eq!(after["gif_chat_live_connections"], 2.0);
    assert_eq!(after["gif_chat_rooms"], 1.0);
    assert_eq!(after["gif_chat_people_present"], 2.0);
    assert_eq!(m("gif_chat_messages_committed_total{kind=\"text\"}"), 3.0);
    assert_eq!(m("gif_chat_messages_committed_total{kind=\"whisper\"}"), 1.0);
    assert_eq!(m("gif_chat_messages_committed_total{kind=\"gif\"}"), 1.0);
    assert_eq!(m("gif_chat_send_seconds_count"), 4.0, "acknowledged sends: three texts and a whisper");
    assert!(m("gif_chat_send_seconds_sum") > 0.0);
    assert_eq!(m("gif_chat_rate_limited_total{limit=\"sending\"}"), 1.0);
    assert_eq!(m("gif_chat_uploads_stored_total"), 1.0);
    assert!(after["gif_chat_stored_gifs_bytes"] > 0.0, "the stored GIF's bytes");
    let served: f64 = ["directory", "cache", "bucket"]
        .iter()
        .map(|from| m(&format!("gif_chat_gifs_served_total{{from=\"{from}\"}}")))
        .sum();
    assert_eq!(served, 1.0, "the GIF, served once");
    assert_eq!(m("gif_chat_uploads_refused_total{reason=\"not_a_gif\"}"), 1.0);
    let committed: f64 = ["text", "whisper", "gif", "system"]
        .iter()
        .map(|kind| m(&format!("gif_chat_messages_committed_total{{kind=\"{kind}\"}}")))
        .sum();
    assert_eq!(m("gif_chat_db_pool_wait_seconds_count"), committed, "each insert's wait for a connection is timed");
    for limit in ["uploading", "creating_rooms", "commands", "password_attempts"] {
        assert_eq!(after[&format!("gif_chat_rate_limited_total{{limit=\"{limit}\"}}")], 0.0, "{limit}");
    }
    assert_eq!(after["gif_chat_feed_lag_recoveries_total"], 0.0);
    assert_eq!(after["gif_chat_slow_clients_dropped_total"], 0.0);
    assert!(after["gif_chat_db_connections{state=\"idle\"}"] >= 1.0);

    // Bob closes his page: one live connection fewer.
    drop(bob_live);
    for _ in 0..100 {
        if scrape(&app).await["gif_chat_live_connections"] == 1.0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a closed connection is still counted");
}

/// The JSON log lines a server process printed so far, parsed (its standard error, where a panic would go, is
/// not JSON and is left out).
fn json_events(server: &ServerProcess) -> Vec<Value> {
    let lines = server.output();
    let json = lines.iter().filter(|line| line.starts_with('{'));
    json.map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_never_what_people_say_or_their_secrets() {
    if crate::helpers::on_postgres() {
        return; // The same logging on either store: once is enough.
    }
    let dir = tempfile::tempdir().unwrap();
    // Debug: everything the server's own code and its libraries say short of tracing each byte.
    let like = Config::for_dir(dir.path(), crate::helpers::site_root());
    let filter = "debug,hyper=info,h2=info,tungstenite=info,tokio_tungstenite=info";
    let server = ServerProcess::spawn_logging(&like, &["--log-format=json"], filter);
    let (alice, bob) = (crate::helpers::person_at(server.addr).await, crate::helpers::person_at(server.addr).await);
    let room = alice.create_room("logged", 10, "correct horse battery").await.unwrap();
    assert_eq!(bob.enter(room.id, "wrong staple").await.unwrap_err().status, 403);
    bob.enter(room.id, "correct horse battery").await.unwrap();
    let (alice_live, _) = alice.join(room.id).await;
    let (_bob_live, _) = bob.join(room.id).await;
    alice.send(room.id, "a sentence only people read").await.unwrap();
    let to = bob.me().id.to_string();
    let _: protocol::model::ChatMessage = alice
        .call("send_message", &[("room", &room.id.to_string()), ("body", "a whispered aside"), ("to", &to)])
        .await
        .unwrap();
    alice.upload(&room.id.to_string(), "holiday-photo-of-my-house.gif", make_gif(8, 1)).await.unwrap();
    alice_live.close().await;
    let cookie = alice.cookie_header();
    let session = cookie.split(';').find_map(|c| c.trim().strip_prefix("gif_chat_session=")).unwrap().to_owned();

    // The live connection's closing line is written after its page went: wait for it.
    let mut events = json_events(&server);
    for _ in 0..100 {
        if events.iter().any(|e| e["message"] == "live connection closed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        events = json_events(&server);
    }
    let all = server.output().join("\n");
    for secret in [
        "correct horse battery",
        "wrong staple",
        "a sentence only people read",
        "a whispered aside",
        "holiday-photo-of-my-house",
    ] {
        assert!(!all.contains(secret), "the log holds {secret:?}");
    }
    // Nor the session cookie, nor any long piece of it (its id, its signature).
    for piece in std::iter::once(session.as_str()).chain(session.split(|c: char| !c.is_ascii_alphanumeric())) {
        assert!(piece.len() < 12 || !all.contains(piece), "the log holds the session cookie's {piece:?}");
    }

    // Each request's lines name it by an id of its own; so do a live connection's.
    let request = |event: &Value| {
        event["spans"].as_array().and_then(|spans| spans.iter().find(|span| span["name"] == "request")).cloned()
    };
    let request_id = |event: &Value| request(event).and_then(|span| span["request_id"].as_str().map(str::to_owned));
    let send = events
        .iter()
        .find(|e| {
            e["message"] == "finished processing request"
                && request(e).is_some_and(|span| span["path"] == "/api/send_message")
        })
        .expect("a send's access line");
    assert_eq!(send["level"], "INFO");
    assert!(send["status"].is_number() && send["latency"].is_string(), "{send}");
    let closed = events.iter().find(|e| e["message"] == "live connection closed").expect("a live connection's line");
    assert_eq!(request(closed).unwrap()["path"], "/ws", "{closed}");
    let ids: std::collections::HashSet<_> = events.iter().filter_map(request_id).collect();
    assert!(ids.len() >= 8, "{ids:?}");
    assert!(ids.iter().all(|id| id.len() == 36), "{ids:?}");
    assert_ne!(request_id(send), request_id(closed));

    // The id goes back to the client (to quote when reporting a problem), and is always the server's own.
    let response = reqwest::Client::new()
        .get(format!("http://{}/", server.addr))
        .header("x-request-id", "forged-into-the-logs")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let mut logged = String::new();
    for _ in 0..50 {
        logged = server.output().join("\n");
        if logged.contains(&id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged.contains(&id) && !logged.contains("forged-into-the-logs"), "the request is logged by our id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_finds_a_gif_of_the_chat_gone_says_so_and_fails() {
    if crate::helpers::on_postgres() {
        return; // The SQLite backup: PostgreSQL is backed up with pg_dump.
    }
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("pictures", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let kept = alice.upload(&room.id.to_string(), "kept.gif", make_gif(8, 1)).await.unwrap();
    let lost = alice.upload(&room.id.to_string(), "lost.gif", make_gif(9, 1)).await.unwrap();
    // Someone removed a stored GIF by hand (a bad clean-up, a disk error).
    let lost_name = lost.body.trim_start_matches("/gif/").to_owned();
    std::fs::remove_file(app.stored_path(&lost_name)).unwrap();
    let backup_dir = tempfile::tempdir().unwrap();
    let (file, gifs) = (backup_dir.path().join("chat.db"), backup_dir.path().join("gifs"));
    let (ok, printed) =
        gif_chat(&app.config, &["backup", file.to_str().unwrap(), "--gifs", gifs.to_str().unwrap()]).await;
    assert!(!ok, "a backup missing a GIF the chat shows succeeded: {printed}");
    assert!(printed.contains("1 GIF(s) the chat still shows") && printed.contains(&lost_name), "{printed}");
    // What could be saved was: the database and the other GIF.
    assert!(file.is_file() && gifs.join(kept.body.trim_start_matches("/gif/")).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_gifs_moves_an_uploads_directory_into_a_bucket() {
    if crate::helpers::on_object_storage() {
        return; // It moves the GIFs of a directory.
    }
    let mut app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("moving", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let mut gifs = Vec::new();
    for name in ["one.gif", "two.gif"] {
        gifs.push(alice.upload(&room.id.to_string(), name, crate::helpers::another_gif()).await.unwrap().body);
    }
    let s3 = crate::helpers::TestS3::start().await;
    let mut bucketed = app.config.clone();
    s3.configure(&mut bucketed);
    let uploads = app.config.uploads_dir.to_str().unwrap().to_owned();
    let (ok, printed) = gif_chat(&bucketed, &["copy-gifs", &uploads]).await;
    assert!(ok && printed.contains("2 GIFs referenced, 2 copied, 0 missing"), "{printed}");
    assert_eq!(s3.objects().len(), 4, "two GIFs and their stills");
    // Again (after the servers stopped): only what is not there yet.
    let (ok, printed) = gif_chat(&bucketed, &["copy-gifs", &uploads]).await;
    assert!(ok && printed.contains("2 GIFs referenced, 0 copied, 0 missing"), "{printed}");

    // The server, on the bucket now, serves them without the directory.
    std::fs::remove_dir_all(&app.config.uploads_dir).unwrap();
    app.config = bucketed.clone();
    app.restart().await;
    for gif in &gifs {
        assert_eq!(app.get(gif).await.status(), 200, "{gif}");
        assert_eq!(app.get(&protocol::model::still_of(gif)).await.status(), 200, "{gif}'s still");
    }

    // A GIF the chat shows that is in neither place: the command fails and says so.
    let lost = alice.via(app.addr).upload(&room.id.to_string(), "three.gif", crate::helpers::another_gif()).await;
    std::fs::remove_file(s3.object_path(lost.unwrap().body.trim_start_matches("/gif/"))).unwrap();
    std::fs::create_dir_all(&uploads).unwrap();
    let (ok, printed) = gif_chat(&bucketed, &["copy-gifs", &uploads]).await;
    assert!(!ok && printed.contains("1 GIF(s) the chat shows are neither in"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_command_lists_entries_and_takes_one_out_with_its_gif() {
    let app = spawn_app().await;
    let alice = app.person().await;
    let room = alice.create_room("sharing", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let id = room.id.to_string();
    let shared = alice.upload_sharing(&id, "cat.gif", crate::helpers::another_gif(), Some("sleepy cat")).await.unwrap();
    let name = shared.body.trim_start_matches("/gif/").to_owned();
    // The room goes; the library keeps the GIF.
    alice.call::<()>("delete_room", &[("room", &id)]).await.unwrap();
    crate::helpers::eventually("the room is gone", || async { app.count("SELECT COUNT(*) FROM rooms").await == 0 })
        .await;
    assert_eq!(app.get(&shared.body).await.status(), 200);

    let (ok, listed) = gif_chat(&app.config, &["library", "list"]).await;
    assert!(ok, "{listed}");
    let entry = listed.lines().find(|line| line.starts_with(&name)).unwrap_or_else(|| panic!("{listed}"));
    assert!(entry.ends_with(&format!("{}\tsleepy cat", alice.me().id.as_str())), "{entry}");

    let (ok, printed) = gif_chat(&app.config, &["library", "remove", &name]).await;
    assert!(ok, "{printed}");
    assert_eq!(app.count("SELECT COUNT(*) FROM stored_gifs").await, 0, "its GIF went with it");
    assert_eq!(app.get(&shared.body).await.status(), 404);
    let (ok, listed) = gif_chat(&app.config, &["library", "list"]).await;
    assert!(ok && !listed.contains(&name), "{listed}");
    let (ok, printed) = gif_chat(&app.config, &["library", "remove", &name]).await;
    assert!(!ok && printed.contains("is not in the library"), "{printed}");
}
