//! gif-chat behind a real reverse proxy: Debian's nginx, started here in a temp directory, ends TLS with a
//! self-signed certificate and passes requests (and websocket upgrades) on. The app runs with `--public-url
//! https://localhost:<port>` and `--trusted-proxy` naming the proxy. docs/operating.md's "Behind a reverse proxy
//! (TLS)" shows the same configuration.
//!
//! HTTPS requests are made with curl (the test's HTTP client has no TLS), each from a loopback address of its
//! own, so the client address the app sees can be told from the proxy's.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{LiveClient, spawn_app_with};
use protocol::live::{ClientCommand, LiveEvent};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The address nginx connects to the app from (`proxy_bind`): the one proxy the app trusts.
const PROXY_ADDRESS: &str = "127.0.0.3";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// nginx in front of `app`: TLS on `tls_port`, plain HTTP on `plain_port`, both passing everything on.
struct Nginx {
    child: Child,
}

impl Nginx {
    fn start(dir: &Path, app: SocketAddr, tls_port: u16, plain_port: u16) -> Nginx {
        let run = |program: &str, args: &[&str]| {
            let status = Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
            assert!(status.is_ok_and(|s| s.success()), "{program} {args:?} failed (scripts/setup.sh installs it)");
        };
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
        );
        // nginx's workers drop to an unprivileged user when started as root: they must reach the temp files.
        for temp in ["body", "proxy"] {
            std::fs::create_dir_all(dir.join(temp)).unwrap();
        }
        run("chmod", &["-R", "a+rwX", dir.to_str().unwrap()]);
        let d = dir.display();
        let config = format!(
            r#"
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        listen 127.0.0.1:{plain_port};
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        client_max_body_size 12m;
        location / {{
            proxy_pass http://{app};
            proxy_bind {PROXY_ADDRESS};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 120s;
        }}
    }}
}}
"#,
            cert = cert.display(),
            key = key.display(),
        );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let nginx = if Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" };
        let child = Command::new(nginx)
            .args(["-p", dir.to_str().unwrap(), "-c", config_path.to_str().unwrap(), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting nginx (scripts/setup.sh installs it)");
        Nginx { child }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What curl got: the status, the headers (lowercase names) and the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// An HTTPS request through nginx with curl, from the loopback address `from`.
async fn curl(from: &str, tls_port: u16, method: &str, path: &str, extra: &[&str]) -> Answer {
    let url = format!("https://localhost:{tls_port}{path}");
    let resolve = format!("localhost:{tls_port}:127.0.0.1");
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "-k", "-i", "--max-time", "10", "--interface", from, "--resolve", &resolve, "-X", method])
        .args(if method == "POST" { ["-H", "Accept: application/json"].as_slice() } else { &[] })
        .args(extra)
        .arg(&url)
        .output()
        .await
        .expect("running curl (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split_whitespace().nth(1)).and_then(|s| s.parse().ok());
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer { status: status.unwrap_or(0), headers, body: body.to_owned() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_with_tls_cookies_are_secure_clients_are_told_apart_and_the_live_channel_works() {
    crate::helpers::require!(Nginx);
    let (tls_port, plain_port) = (free_port(), free_port());
    let public = format!("https://localhost:{tls_port}");
    let app = spawn_app_with(|c| {
        c.public_url = Some(public.clone());
        c.trusted_proxies = vec![format!("{PROXY_ADDRESS}/32").parse().unwrap()];
        // One new identity per client address: shows which address the app took each request for.
        c.limit_new_sessions = "1/1h".parse().unwrap();
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let _nginx = Nginx::start(dir.path(), app.addr, tls_port, plain_port);
    let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
    while curl("127.0.0.1", tls_port, "GET", "/", &[]).await.status != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nginx did not come up: {:?}",
            std::fs::read_to_string(dir.path().join("error.log"))
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Over TLS: the page, HSTS, and a Secure, __Host- cookie.
    let page = curl("127.0.0.5", tls_port, "GET", "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("gif-chat"));
    assert_eq!(page.header("strict-transport-security"), ["max-age=31536000"]);
    let reader = page.header("set-cookie")[0].to_owned();
    assert!(reader.starts_with("__Host-gif_chat_visitor=") && reader.contains("Secure"), "{reader}");

    // A first action stores a session: Secure too. One per client address (as set above): the app sees each
    // client's own address, not the proxy's, and a forged X-Forwarded-For does not change it.
    let origin = format!("Origin: {public}");
    let act = |from: &'static str, forged: Option<&'static str>| {
        let origin = origin.clone();
        async move {
            let mut args = vec!["-H".to_owned(), origin];
            if let Some(forged) = forged {
                args.extend(["-H".to_owned(), format!("X-Forwarded-For: {forged}")]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            curl(from, tls_port, "POST", "/api/whoami", &args).await
        }
    };
    let first = act("127.0.0.5", None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let session = first.header("set-cookie")[0].to_owned();
    assert!(session.starts_with("__Host-gif_chat_session=") && session.contains("Secure"), "{session}");
    assert_eq!(act("127.0.0.5", None).await.status, 429, "the same client, a second new identity");
    assert_eq!(act("127.0.0.5", Some("203.0.113.9")).await.status, 429, "a forged address was believed");
    assert_eq!(act("127.0.0.6", None).await.status, 200, "another client is someone else, not the proxy");
    let forged = curl("127.0.0.7", tls_port, "POST", "/api/whoami", &["-H", "Origin: https://evil.example"]).await;
    assert_eq!(forged.status, 403);

    // The live channel, upgraded through nginx, with the session's cookie and the public origin.
    let cookie = session.split(';').next().unwrap().to_owned();
    let me: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    let create = curl(
        "127.0.0.5",
        tls_port,
        "POST",
        "/api/create_room",
        &["-H", &origin, "-H", &format!("Cookie: {cookie}"), "-d", "title=Behind+nginx&max_members=5"],
    )
    .await;
    assert_eq!(create.status, 200, "{}", create.body);
    let room: protocol::model::RoomSummary = serde_json::from_str(&create.body).unwrap();
    assert_eq!(room.owner.id.as_str(), me["id"].as_str().unwrap());
    let mut request = format!("ws://127.0.0.1:{plain_port}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Cookie", cookie.parse().unwrap());
    request.headers_mut().insert("Origin", public.parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(request).await.expect("the upgrade through nginx");
    let mut live = LiveClient::new(stream);
    live.send(&ClientCommand::Join { room: room.id, since: None }).await;
    live.expect(|event| matches!(event, LiveEvent::Joined { .. }).then_some(())).await;
    let sent = curl(
        "127.0.0.5",
        tls_port,
        "POST",
        "/api/send_message",
        &["-H", &origin, "-H", &format!("Cookie: {cookie}"), "-d", &format!("room={}&body=through+the+proxy", room.id)],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let body = live
        .expect(|event| match event {
            LiveEvent::Chat { message } if message.kind == protocol::model::MessageKind::Text => {
                Some(message.body.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(body, "through the proxy");
}
