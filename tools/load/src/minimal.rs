//! The ceiling for fan-out: a broadcast-only websocket server with nothing else (no sessions, no persistence,
//! no rooms). `POST /send` broadcasts its body as a `chat` event with the next sequence number to every
//! connection on `/ws`, serialized once, exactly like gif-chat's hub does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;

#[derive(Clone)]
struct Minimal {
    frames: broadcast::Sender<Utf8Bytes>,
    seq: Arc<AtomicI64>,
}

pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let state = Minimal { frames: broadcast::channel(1024).0, seq: Arc::new(AtomicI64::new(0)) };
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ws", get(upgrade))
        .route("/send", post(send))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn send(State(state): State<Minimal>, body: String) -> impl IntoResponse {
    let seq = state.seq.fetch_add(1, Ordering::SeqCst) + 1;
    // The same shape, field order and size as gif-chat's `chat` event, so clients do equal work.
    let body = serde_json::to_string(&body).unwrap_or_default();
    let event = format!(
        r##"{{"type":"chat","message":{{"room_id":1,"seq":{seq},"kind":"text","author":{{"id":"0123456789abcdef0123456789abcdef","name":"Minimal Server","hue":1969}},"recipient":null,"body":{body},"created_at":1795318867250}}}}"##
    );
    let _ = state.frames.send(event.into());
    seq.to_string()
}

async fn upgrade(State(state): State<Minimal>, ws: WebSocketUpgrade) -> impl IntoResponse {
    let frames = state.frames.subscribe();
    ws.read_buffer_size(4096).on_upgrade(move |socket| forward(socket, frames))
}

async fn forward(socket: WebSocket, mut frames: broadcast::Receiver<Utf8Bytes>) {
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(text) => if sink.send(Message::Text(text)).await.is_err() { break },
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            },
            incoming = stream.next() => if !matches!(incoming, Some(Ok(_))) { break },
        }
    }
}
