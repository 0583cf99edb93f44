//! A visitor as the load tool plays one: a session cookie, server-function calls, live connections, uploads.
//! Everything goes through the documented public interface (docs/protocol.md).

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig};

pub type Live = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone)]
pub struct Visitor {
    http: reqwest::Client,
    addr: SocketAddr,
    cookie: String,
    /// The local address this visitor's connections come from (a different client address per person).
    local: Option<IpAddr>,
}

/// The `name=value` part of a response's first `Set-Cookie`.
fn set_cookie(response: &reqwest::Response) -> Option<String> {
    let header = response.headers().get(reqwest::header::SET_COOKIE)?.to_str().ok()?;
    Some(header.split(';').next()?.to_owned())
}

impl Visitor {
    /// Opens the room list once, as a browser would, then acts once (`whoami`), which stores the session; keeps
    /// the session cookie.
    pub async fn arrive(http: &reqwest::Client, addr: SocketAddr) -> anyhow::Result<Visitor> {
        let response = http.get(format!("http://{addr}/")).send().await?;
        let reader = set_cookie(&response).context("no visitor cookie")?;
        let mut visitor = Visitor { http: http.clone(), addr, cookie: reader, local: None };
        let response = visitor.post("whoami", &[]).await?;
        if !response.status().is_success() {
            bail!("whoami: HTTP {}", response.status());
        }
        // (A server that made the session on the first visit sets no cookie now: the first one is the session's.)
        if let Some(session) = set_cookie(&response) {
            visitor.cookie = session;
        }
        Ok(visitor)
    }

    /// Like [`Visitor::arrive`], from the local address `local` (any of 127.0.0.0/8 on Linux): to the server, a
    /// person on a network of their own.
    pub async fn arrive_from(local: IpAddr, addr: SocketAddr) -> anyhow::Result<Visitor> {
        let http = reqwest::Client::builder().local_address(local).build()?;
        let mut visitor = Visitor::arrive(&http, addr).await?;
        visitor.local = Some(local);
        Ok(visitor)
    }

    /// The same person (their session) through another server of the same chat.
    pub fn via(&self, addr: SocketAddr) -> Visitor {
        Visitor { addr, ..self.clone() }
    }

    /// The same client (and local address) without any cookie: a stranger each time it acts.
    pub fn without_cookie(&self) -> Visitor {
        Visitor { cookie: String::new(), ..self.clone() }
    }

    /// A client without a session (the minimal server has none).
    pub fn anonymous(http: &reqwest::Client, addr: SocketAddr) -> Visitor {
        Visitor { http: http.clone(), addr, cookie: String::new(), local: None }
    }

    /// A plain form post (as a browser without the WASM sends it: its sender visits the room) that says, as a
    /// trusted reverse proxy would, it comes from `address`; the answer as it came (its redirect not followed:
    /// a flood of page loads is another attack, of reads, which no write limit is for).
    pub async fn post_form_from(
        &self,
        address: &str,
        endpoint: &str,
        args: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        static NO_REDIRECTS: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let http = NO_REDIRECTS.get_or_init(|| {
            let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
            let builder = match self.local {
                Some(local) => builder.local_address(local),
                None => builder,
            };
            builder.build().expect("a client without redirects")
        });
        http.post(format!("http://{}/api/{endpoint}", self.addr))
            .header("Cookie", &self.cookie)
            .header("Accept", "text/html")
            .header("X-Forwarded-For", address)
            .form(args)
            .send()
            .await
    }

    /// A server-function request; the answer as it came.
    pub async fn post(&self, endpoint: &str, args: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("http://{}/api/{endpoint}", self.addr))
            .header("Cookie", &self.cookie)
            .header("Accept", "application/json")
            .form(args)
            .send()
            .await
    }

    pub async fn call(&self, endpoint: &str, args: &[(&str, &str)]) -> anyhow::Result<Value> {
        let response = self.post(endpoint, args).await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("{endpoint}: HTTP {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    pub async fn create_room(&self, title: &str, max_members: u32) -> anyhow::Result<i64> {
        let room = self.call("create_room", &[("title", title), ("max_members", &max_members.to_string())]).await?;
        room["id"].as_i64().context("no room id")
    }

    /// Sends a message; returns its sequence number once it is committed.
    pub async fn send(&self, room: i64, body: &str, client_id: &str) -> anyhow::Result<i64> {
        let message =
            self.call("send_message", &[("room", &room.to_string()), ("body", body), ("client_id", client_id)]).await?;
        message["seq"].as_i64().context("no seq")
    }

    /// A live connection with small buffers (as a browser's would be, and so the tool can hold 20,000).
    pub async fn connect(&self, path: &str) -> anyhow::Result<Live> {
        let mut request = format!("ws://{}{path}", self.addr).into_client_request()?;
        if !self.cookie.is_empty() {
            request.headers_mut().insert("Cookie", self.cookie.parse()?);
        }
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let Some(local) = self.local else {
            let (live, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
            return Ok(live);
        };
        let socket = if local.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.bind(SocketAddr::new(local, 0))?;
        let tcp = socket.connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
        let (live, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
        Ok(live)
    }

    /// Connects and joins `room`; returns once the server confirmed.
    pub async fn join(&self, room: i64) -> anyhow::Result<Live> {
        let mut live = self.connect("/ws").await?;
        live.send(Message::text(format!(r#"{{"type":"join","room":{room},"since":null}}"#))).await?;
        while let Some(message) = live.next().await {
            if let Message::Text(text) = message? {
                let event: Value = serde_json::from_str(&text)?;
                match event["type"].as_str() {
                    Some("joined") => return Ok(live),
                    Some("refused") => bail!("join refused: {}", event["message"]),
                    _ => {}
                }
            }
        }
        bail!("connection closed while joining")
    }

    /// Uploads a GIF; the answer as it came.
    pub async fn post_gif(&self, room: i64, gif: Vec<u8>) -> anyhow::Result<reqwest::Response> {
        let part = reqwest::multipart::Part::bytes(gif).file_name("load.gif").mime_str("image/gif")?;
        Ok(self
            .http
            .post(format!("http://{}/room/{room}/gif", self.addr))
            .header("Cookie", &self.cookie)
            .multipart(reqwest::multipart::Form::new().part("gif", part))
            .send()
            .await?)
    }

    pub async fn upload(&self, room: i64, gif: Vec<u8>) -> anyhow::Result<Value> {
        let response = self.post_gif(room, gif).await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("upload: HTTP {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<usize> {
        let response =
            self.http.get(format!("http://{}{path}", self.addr)).header("Cookie", &self.cookie).send().await?;
        if !response.status().is_success() {
            bail!("GET {path}: HTTP {}", response.status());
        }
        Ok(response.bytes().await?.len())
    }
}

/// A `chat` event's message, if the frame is one.
pub fn chat_message(text: &str) -> Option<Value> {
    let event: Value = serde_json::from_str(text).ok()?;
    (event["type"] == "chat").then(|| event["message"].clone())
}
