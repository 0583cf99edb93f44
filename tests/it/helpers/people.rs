//! People: each with their own cookie jar (so their own session), calling server functions and uploading as the
//! page would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, Person, RoomAccess, RoomId, RoomSummary};
use reqwest::cookie::{CookieStore, Jar};
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::*;

/// A new person on the server at `addr`.
pub async fn person_at(addr: SocketAddr) -> TestPerson {
    person_behind_proxy(addr, None).await
}

/// A new person whose requests say, as a reverse proxy would, that they come from `forwarded_for`
/// (`X-Forwarded-For`; believed only if the server trusts 127.0.0.1 as a proxy).
pub async fn person_behind_proxy(addr: SocketAddr, forwarded_for: Option<&str>) -> TestPerson {
    let jar = Arc::new(Jar::default());
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(client) = forwarded_for {
        headers.insert("X-Forwarded-For", client.parse().unwrap());
    }
    // A request that never ends fails the test with a message instead of hanging it.
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .default_headers(headers)
        .timeout(PATIENCE * 3)
        .build()
        .unwrap();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let forwarded_for = forwarded_for.map(str::to_owned);
    let mut person = TestPerson { addr, client, jar, me: None, forwarded_for };
    person.me = Some(person.call::<Person>("whoami", &[]).await.expect("whoami"));
    person
}

/// An error answer: the HTTP status and the message the UI would show.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

#[derive(Clone)]
pub struct TestPerson {
    addr: SocketAddr,
    pub client: reqwest::Client,
    jar: Arc<Jar>,
    me: Option<Person>,
    forwarded_for: Option<String>,
}

impl TestPerson {
    pub fn me(&self) -> &Person {
        self.me.as_ref().unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The same person (the same session cookie) talking to the server at `addr`: another instance of a
    /// cluster, as a load balancer without stickiness would send them.
    pub fn via(&self, addr: SocketAddr) -> TestPerson {
        TestPerson { addr, ..self.clone() }
    }

    /// Calls a server function the way a script would: form-encoded arguments, JSON back.
    pub async fn call<T: DeserializeOwned>(&self, endpoint: &str, args: &[(&str, &str)]) -> Result<T, Refusal> {
        self.try_call(endpoint, args).await.expect("server function request failed")
    }

    /// Like [`TestPerson::call`], but a failed request (server down) is an `Err` instead of a panic.
    pub async fn try_call<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        args: &[(&str, &str)],
    ) -> Result<Result<T, Refusal>, reqwest::Error> {
        let response = self
            .client
            .post(self.url(&format!("/api/{endpoint}")))
            .header("Accept", "application/json")
            .form(args)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok(Self::answer(endpoint, status, body))
    }

    fn answer<T: DeserializeOwned>(endpoint: &str, status: u16, body: String) -> Result<T, Refusal> {
        if (200..300).contains(&status) {
            Ok(serde_json::from_str(&body).unwrap_or_else(|e| panic!("{endpoint}: {e}: {body}")))
        } else {
            let error: protocol::error::AppError =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("{endpoint} error {status}: {e}: {body}"));
            Err(Refusal { status, message: error.to_string() })
        }
    }

    /// Follows `live` (the connection of a page in `room`) until `count` people are in the room as the page
    /// knows it, and returns its list. As the page does, it holds changes that do not add up, and loads the whole
    /// list when they have been held for a second (it joined after others, or missed a change; counted in
    /// `live.reloads`). The events it reads are kept for `next`.
    pub async fn people_in(
        &self,
        live: &mut LiveClient,
        room: RoomId,
        count: u32,
    ) -> Vec<protocol::model::Participant> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut held_since = None;
        while live.roster.is_waiting() || live.roster.people().len() != count as usize {
            assert!(tokio::time::Instant::now() < deadline, "never {count} people: {:?}", live.roster.people());
            held_since = if live.roster.is_waiting() { held_since.or(Some(tokio::time::Instant::now())) } else { None };
            if held_since.is_some_and(|since| since.elapsed() >= Duration::from_secs(1)) {
                let room = room.to_string();
                let whole: protocol::model::People = self.call("who_is_here", &[("room", &room)]).await.unwrap();
                live.roster.replace(whole.people, whole.version);
                live.reloads += 1;
                held_since = None;
                continue;
            }
            match tokio::time::timeout(Duration::from_millis(100), live.read()).await {
                Ok(Some(event)) => live.unread.push_back(event),
                Ok(None) => panic!("the connection closed while waiting for {count} people"),
                Err(_nothing_yet) => {}
            }
        }
        live.roster.people().to_vec()
    }

    /// Posts a form to a server function as a browser without the WASM does (it accepts HTML), from the page
    /// `from`; the answer is not followed.
    pub async fn post_form(&self, endpoint: &str, args: &[(&str, &str)], from: &str) -> reqwest::Response {
        self.plain_client()
            .post(self.url(&format!("/api/{endpoint}")))
            .header("Accept", "text/html,application/xhtml+xml")
            .header("Referer", self.url(from))
            .form(args)
            .send()
            .await
            .expect("form post failed")
    }

    /// Loads a page as a browser does (with this person's cookies), without following redirects.
    pub async fn page(&self, path: &str) -> reqwest::Response {
        self.plain_client().get(self.url(path)).header("Accept", "text/html").send().await.expect("GET failed")
    }

    fn plain_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_provider(self.jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PATIENCE * 3)
            .build()
            .unwrap()
    }

    pub async fn create_room(&self, title: &str, max: u32, password: &str) -> Result<RoomSummary, Refusal> {
        self.call("create_room", &[("title", title), ("max_members", &max.to_string()), ("password", password)]).await
    }

    pub async fn room_page(&self, id: RoomId) -> RoomAccess {
        self.call("room_page", &[("id", &id.to_string())]).await.unwrap()
    }

    pub async fn enter(&self, id: RoomId, password: &str) -> Result<(), Refusal> {
        self.call("enter_room", &[("id", &id.to_string()), ("password", password)]).await
    }

    pub async fn send(&self, room: RoomId, body: &str) -> Result<ChatMessage, Refusal> {
        self.call("send_message", &[("room", &room.to_string()), ("body", body)]).await
    }

    /// Sends with the client's own message id, as the browser does (so a retry is safe).
    pub async fn send_once(
        &self,
        room: RoomId,
        body: &str,
        client_id: &str,
    ) -> Result<Result<ChatMessage, Refusal>, reqwest::Error> {
        self.try_call("send_message", &[("room", &room.to_string()), ("body", body), ("client_id", client_id)]).await
    }

    /// Every person tries to join `room` at the same moment; returns how many got in (the rest must have been
    /// refused as full). The connections stay open until the caller drops them.
    pub async fn join_all_at_once(people: &[TestPerson], room: RoomId) -> (usize, Vec<LiveClient>) {
        let attempts = people.iter().map(|person| async move {
            let mut live = person.connect().await;
            live.send(&ClientCommand::Join { room, since: None }).await;
            let joined = live
                .expect(|e| match e {
                    LiveEvent::Joined { .. } => Some(true),
                    LiveEvent::Refused { reason: protocol::error::Refusal::Full, .. } => Some(false),
                    _ => None,
                })
                .await;
            (joined, live)
        });
        let results = futures_util::future::join_all(attempts).await;
        let joined = results.iter().filter(|(joined, _)| *joined).count();
        (joined, results.into_iter().map(|(_, live)| live).collect())
    }

    /// Joins `room` on a new connection, resuming after `since`, retrying until the server answers.
    pub async fn rejoin(&self, room: RoomId, since: i64) -> LiveClient {
        loop {
            if let Ok(mut live) = self.connect_with_origin(None).await {
                live.send(&ClientCommand::Join { room, since: Some(since) }).await;
                return live;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Uploads `bytes` as the `gif` field, named `file_name`.
    pub async fn upload(&self, room: &str, file_name: &str, bytes: Vec<u8>) -> Result<ChatMessage, Refusal> {
        self.upload_sharing(room, file_name, bytes, None).await
    }

    /// Uploads `bytes` as [`TestPerson::upload`] does, and with `words` shares it to the library (the form's
    /// `library` and `words` fields, before the file as the page sends them).
    pub async fn upload_sharing(
        &self,
        room: &str,
        file_name: &str,
        bytes: Vec<u8>,
        words: Option<&str>,
    ) -> Result<ChatMessage, Refusal> {
        let part =
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("image/gif").unwrap();
        let mut form = reqwest::multipart::Form::new();
        if let Some(words) = words {
            form = form.text("library", "on").text("words", words.to_owned());
        }
        let form = form.part("gif", part);
        let response = self.client.post(self.url(&format!("/room/{room}/gif"))).multipart(form).send().await.unwrap();
        json_or_refusal(response).await
    }

    pub fn cookie_header(&self) -> String {
        let url = self.url("/").parse().unwrap();
        self.jar.cookies(&url).expect("no session cookie").to_str().unwrap().to_owned()
    }

    /// Opens the live channel as a same-origin page would.
    pub async fn connect(&self) -> LiveClient {
        self.connect_with_origin(Some(&format!("http://{}", self.addr))).await.expect("websocket handshake")
    }

    pub async fn connect_with_origin(&self, origin: Option<&str>) -> Result<LiveClient, tungstenite::Error> {
        let mut request = format!("ws://{}/ws", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("Cookie", self.cookie_header().parse().unwrap());
        if let Some(client) = &self.forwarded_for {
            request.headers_mut().insert("X-Forwarded-For", client.parse().unwrap());
        }
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().unwrap());
        }
        let (stream, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
            .await
            .expect("the websocket handshake did not finish in time")?;
        Ok(LiveClient::new(stream))
    }

    /// Opens the live channel over a socket with a tiny receive buffer (4 KiB), joins `room` and waits until
    /// joined: a reader that can be made to fall behind, or never to read at all.
    pub async fn join_with_small_buffer(&self, room: RoomId) -> LiveClient {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let tcp = socket.connect(self.addr).await.unwrap();
        let mut request = format!("ws://{}/ws", self.addr).into_client_request().unwrap();
        request.headers_mut().insert("Cookie", self.cookie_header().parse().unwrap());
        let (stream, _) = tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket handshake");
        let mut live = LiveClient::new(stream);
        live.send(&ClientCommand::Join { room, since: None }).await;
        live.expect(|event| matches!(event, LiveEvent::Joined { .. }).then_some(())).await;
        live
    }

    /// Opens the live channel and joins `room`; returns the client and the count present.
    pub async fn join(&self, room: RoomId) -> (LiveClient, u32) {
        let mut live = self.connect().await;
        live.send(&ClientCommand::Join { room, since: None }).await;
        let present = live
            .expect(|event| match event {
                LiveEvent::Joined { present, .. } => Some(*present),
                LiveEvent::Refused { message, .. } => panic!("join refused: {message}"),
                _ => None,
            })
            .await;
        (live, present)
    }
}

/// An answer of the upload route: the same JSON error shape as the server functions'.
pub async fn json_or_refusal<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, Refusal> {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    TestPerson::answer("upload", status, body)
}
