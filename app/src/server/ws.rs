//! The live channel: one websocket per page. The client subscribes to the room list or joins one room, and may
//! watch the person's alarms besides; the server pushes those topics' events, in order and without gaps or
//! duplicates (filled from the database).
//!
//! (Over 400 lines: one connection's loop, whose parts, subscription, gap filling, lag recovery, pings and
//! backpressure, share its state and are easier to check side by side.)

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use governor::DefaultDirectRateLimiter;
use http::{HeaderMap, StatusCode};
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument;

use crate::server::AppState;
use crate::server::address::ClientAddress;
use crate::server::error::app_error_response;
use crate::server::identity::Visitor;
use ::chat::error::ServerError;
use ::chat::hub::{Feed, Frame, Text};
use ::chat::limits::{ConnectionPermit, Limits};
use ::chat::metrics::LiveConnection;
use ::chat::{AfterLag, Chat};
use protocol::error::{AppError, Limit, Refusal};
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{Person, RoomId};

/// A hub frame as a websocket text message. axum takes text only as its own type, so the UTF-8 is checked again
/// (no copy: the bytes stay shared).
fn text_message(text: &Text) -> Message {
    Message::Text(Utf8Bytes::try_from(text.bytes()).expect("hub frames are UTF-8"))
}

/// Largest frame a client may send: commands are tiny JSON objects.
const MAX_INCOMING_BYTES: usize = 4 * 1024;
/// The socket's read buffer (tungstenite's default is 128 KiB per connection). Commands are a few dozen bytes;
/// a rare bigger one (up to MAX_INCOMING_BYTES) is read in several chunks. With the boxed handlers below, this
/// took an idle connection from 9.1 to 3.5 KiB of server memory (the load tool's idle scenario).
const READ_BUFFER_BYTES: usize = 512;
/// How often the server pings, and how long a connection may stay silent before it is considered dead.
const PING_EVERY: Duration = Duration::from_secs(30);
const SILENCE_LIMIT: Duration = Duration::from_secs(75);
/// The most frames, and about the most bytes, that a connection passes on when it wakes (those already waiting):
/// a connection woken late sends its backlog at once, not a wake-up per frame.
const FRAMES_PER_WRITE: usize = 32;
const BYTES_PER_WRITE: usize = 16 * 1024;
/// The socket writes as soon as more than this is queued (and at the end of each backlog). Its write buffer
/// never gives back capacity, so this bounds what every connection keeps (about this plus its largest frame):
/// with tungstenite's default (128 KiB), each kept the size of its biggest backlog.
const WRITE_CHUNK_BYTES: usize = 1024;
/// Messages read from the database per query while catching up.
const CATCH_UP_BATCH: i64 = 200;
/// The most messages replayed to a rejoining client; further behind, it is told to reload the history instead
/// (a page of 50 plus "Load earlier" serves a long absence better than a flood of frames).
pub const REPLAY_LIMIT: i64 = 500;

/// Close codes (RFC 6455).
const POLICY_VIOLATION: u16 = 1008;
const UNSUPPORTED_DATA: u16 = 1003;
const TOO_BIG: u16 = 1009;
const TRY_AGAIN_LATER: u16 = 1013;
const SERVICE_RESTART: u16 = 1012;

/// `GET /ws`: upgrades same-origin requests to the live channel.
pub async fn ws_handler(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    address: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
) -> Response {
    // Browsers always send `Origin` on a handshake: another site's page must not use the visitor's cookie.
    if !state.origins.permits(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin websocket refused").into_response();
    }
    let address = address.map(|address| address.0.0);
    let permit = match state.limits.connect(address) {
        Ok(permit) => permit,
        Err(error) => return app_error_response(error),
    };
    // The connection's log lines carry the upgrade request's id (its span: this handler runs in it).
    let span = tracing::Span::current();
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_CHUNK_BYTES)
        .max_message_size(MAX_INCOMING_BYTES)
        .max_frame_size(MAX_INCOMING_BYTES)
        .on_upgrade(move |socket| Connection::new(&state, visitor.person, address, permit).run(socket).instrument(span))
}

/// What a connection is subscribed to. Dropping a feed releases its topic.
enum Subscription {
    None,
    /// The room list, and the person's own topic (activity in rooms they follow).
    RoomList {
        list: Feed,
        mine: Feed,
    },
    /// `last_seq`: the highest message sequence number sent to this client.
    Room {
        id: RoomId,
        feed: Feed,
        last_seq: i64,
    },
}

/// The person's alarms, on a connection that watches them: their feed, and the number of the last change sent.
struct AlarmWatch {
    feed: Feed,
    seq: i64,
}

/// Where a frame came from.
enum Source {
    Subscription,
    Alarms,
}

struct Connection {
    chat: Arc<Chat>,
    me: Person,
    /// Where the client connects from, and the limits on how fast it may enter rooms.
    address: Option<IpAddr>,
    limits: Arc<Limits>,
    subscription: Subscription,
    alarms: Option<AlarmWatch>,
    /// Bounds how fast this connection's commands (`join`, `subscribeLobby`, `ping`) may come (`None`: no limits).
    commands: Option<DefaultDirectRateLimiter>,
    /// How long the client may take to accept one frame.
    patience: Duration,
    /// This connection's place among its address's connections, released when it ends.
    _permit: Option<ConnectionPermit>,
    /// Counts it among the live connections while it lives.
    _live: LiveConnection,
}

/// Why a connection ends.
enum End {
    ClientGone,
    /// The client did not take a frame within the patience given (its page reconnects and catches up).
    TooSlow,
    Close(u16, &'static str),
}

impl End {
    /// Why, in words for the log.
    fn describe(&self) -> &'static str {
        match self {
            End::ClientGone => "the client went away",
            End::TooSlow => "the client was too slow to take its frames",
            End::Close(_, reason) => reason,
        }
    }
}

impl Connection {
    fn new(state: &AppState, me: Person, address: Option<IpAddr>, permit: Option<ConnectionPermit>) -> Connection {
        let (chat, commands, patience) = (state.chat.clone(), state.limits.commands(), state.edge.slow_client);
        let live = LiveConnection::new(&chat.metrics().live_connections);
        Connection {
            chat,
            me,
            address,
            limits: state.limits.clone(),
            subscription: Subscription::None,
            alarms: None,
            commands,
            patience,
            _permit: permit,
            _live: live,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        tracing::debug!("live connection open");
        let (sink, mut stream) = socket.split();
        let mut sink = Sink { inner: sink, patience: self.patience };
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut last_heard = tokio::time::Instant::now();
        let stopping = self.chat.connections_end();

        let end = loop {
            tokio::select! {
                () = stopping.cancelled() => break End::Close(SERVICE_RESTART, "server restarting"),
                incoming = stream.next() => {
                    last_heard = tokio::time::Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(_))) if self.commands.as_ref().is_some_and(|bucket| bucket.check().is_err()) => {
                            // A page sends a command when it opens or changes rooms: this many is a loop or a bot.
                            self.chat.metrics().rate_limited(Limit::Commands);
                            break End::Close(TRY_AGAIN_LATER, "too many commands, slow down");
                        }
                        Some(Ok(Message::Text(text))) => match serde_json::from_str::<ClientCommand>(&text) {
                            Ok(command) => {
                                // Boxed: the command handlers are large futures, needed rarely; inline they would
                                // make every idle connection's task as big as the biggest of them.
                                if let Err(end) = Box::pin(self.handle(command, &mut sink)).await {
                                    break end;
                                }
                            }
                            Err(_) => break End::Close(POLICY_VIOLATION, "malformed or unknown command"),
                        },
                        Some(Ok(Message::Binary(_))) => break End::Close(UNSUPPORTED_DATA, "text frames only"),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => break End::ClientGone,
                        Some(Err(error)) => {
                            if is_too_big(&error) {
                                break End::Close(TOO_BIG, "frame too large");
                            }
                            break End::ClientGone;
                        }
                    }
                }
                (source, frame) = next_frame(&mut self.subscription, &mut self.alarms) => {
                    let forwarded = match source {
                        Source::Subscription => self.forward_ready(frame, &mut sink).await,
                        Source::Alarms => Box::pin(self.forward_alarm(frame, &mut sink)).await,
                    };
                    if let Err(end) = forwarded {
                        break end;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        break End::ClientGone;
                    }
                    if send(&mut sink, Message::Ping(Default::default())).await.is_err() {
                        break End::ClientGone;
                    }
                }
            }
        };

        match end {
            End::Close(code, reason) => {
                let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
                let _ = send(&mut sink, Message::Close(Some(frame))).await;
            }
            End::TooSlow => {
                self.chat.metrics().slow_clients_dropped.inc();
            }
            End::ClientGone => {}
        }
        tracing::debug!(reason = end.describe(), "live connection closed");
        self.unsubscribe().await;
    }

    async fn handle(&mut self, command: ClientCommand, sink: &mut Sink) -> Result<(), End> {
        match command {
            ClientCommand::Ping => send_event(sink, &LiveEvent::Pong).await,
            ClientCommand::SubscribeLobby => {
                self.unsubscribe().await;
                // Subscribe first, then snapshot: an event published in between arrives after the snapshot and
                // is applied to it, so nothing is missed.
                let (list, mine) = self.chat.room_list_feeds(&self.me);
                self.subscription = Subscription::RoomList { list, mine };
                self.send_room_list(sink).await
            }
            ClientCommand::Join { room, since } => self.join(room, since, sink).await,
            ClientCommand::WatchAlarms { since } => {
                // Subscribe first, then read: a change committed in between comes on the feed.
                self.alarms = Some(AlarmWatch { feed: self.chat.alarm_feed(&self.me.id), seq: -1 });
                let (latest, _) = self.chat.alarm_standing(&self.me.id).await.map_err(|error| {
                    tracing::error!(%error, "reading where a person's alarms stand");
                    End::Close(TRY_AGAIN_LATER, "try again")
                })?;
                match (&mut self.alarms, since) {
                    (Some(watch), Some(since)) if since == latest => {
                        watch.seq = latest;
                        Ok(())
                    }
                    _ => self.send_alarms(sink).await,
                }
            }
            ClientCommand::Typing { room } => {
                // Only in the room this connection is in; over the limit it is dropped (nothing to tell: the next
                // keystroke sends another).
                if matches!(self.subscription, Subscription::Room { id, .. } if id == room)
                    && self.limits.typing(&self.me.id, self.address).is_ok()
                {
                    self.chat.typing(room, &self.me);
                }
                Ok(())
            }
        }
    }

    async fn join(&mut self, room: RoomId, since: Option<i64>, sink: &mut Sink) -> Result<(), End> {
        self.unsubscribe().await;
        let (limits, address, me) = (&self.limits, self.address, &self.me.id);
        let joined = match self.chat.join(room, &self.me, &|| limits.arrive(me, address)).await {
            Ok(joined) => joined,
            Err(ServerError::Client(AppError::Refused(refusal))) => return refuse(sink, room, refusal).await,
            // Its page reconnects after a while and tries again.
            Err(ServerError::Client(AppError::TooManyRequests { .. })) => {
                // Held as the HTTP refusals are (see `hold_refusals`): a churn of joins waits, not the CPU.
                limits.hold_before_refusing(address).await;
                return Err(End::Close(TRY_AGAIN_LATER, "entering rooms too fast, slow down"));
            }
            Err(error) => {
                tracing::error!(%error, %room, "checking a join");
                return Err(End::Close(TRY_AGAIN_LATER, "try again"));
            }
        };
        let current = joined.last_seq;
        // Without a position, the client has everything up to now (it just rendered the page).
        let mut last_seq = since.unwrap_or(current).clamp(0, current);
        let too_far_behind = current - last_seq > REPLAY_LIMIT;
        if too_far_behind {
            last_seq = current;
        }
        self.subscription = Subscription::Room { id: room, feed: joined.feed, last_seq };
        send_event(sink, &LiveEvent::Joined { room, present: joined.present }).await?;
        if too_far_behind {
            send_event(sink, &LiveEvent::Resync { room }).await?;
        }
        if let Some(change) = joined.people {
            send_event(sink, &LiveEvent::People { room, change }).await?;
        }
        self.catch_up(current, sink).await
    }

    /// Sends, from the database, the room's messages after the last one sent, up to `until` (those this person
    /// may read: other people's whispers are skipped, but counted as passed).
    async fn catch_up(&mut self, until: i64, sink: &mut Sink) -> Result<(), End> {
        let Subscription::Room { id, last_seq, .. } = &mut self.subscription else {
            return Ok(());
        };
        while *last_seq < until {
            let (batch, more_after) =
                self.chat.catch_up(*id, &self.me.id, *last_seq, until, CATCH_UP_BATCH).await.map_err(|error| {
                    tracing::error!(%error, room = %id, "catching up");
                    End::Close(TRY_AGAIN_LATER, "try again")
                })?;
            for event in batch {
                send_event(sink, &event).await?;
            }
            *last_seq = more_after.unwrap_or(until);
        }
        Ok(())
    }

    async fn send_room_list(&self, sink: &mut Sink) -> Result<(), End> {
        let page = self.chat.list_rooms(&self.me, None, 0).await.map_err(|error| {
            tracing::error!(%error, "listing rooms");
            End::Close(TRY_AGAIN_LATER, "try again")
        })?;
        send_event(sink, &LiveEvent::Rooms { rooms: page.rooms, has_more: page.has_more }).await
    }

    /// Passes `frame` on, with the frames that were waiting behind it (at most [`FRAMES_PER_WRITE`] or about
    /// [`BYTES_PER_WRITE`]), in one wake-up: a connection that was woken late sends its backlog at once (in writes
    /// of about [`WRITE_CHUNK_BYTES`]) rather than waking up for each frame.
    async fn forward_ready(&mut self, first: Result<Frame, RecvError>, sink: &mut Sink) -> Result<(), End> {
        let size = |frame: &Result<Frame, RecvError>| frame.as_ref().map_or(0, |frame| frame.text.len());
        let (mut frames, mut bytes) = (1, size(&first));
        self.forward(first, sink).await?;
        while frames < FRAMES_PER_WRITE && bytes < BYTES_PER_WRITE {
            let Some(frame) = ready_frame(&mut self.subscription) else { break };
            (frames, bytes) = (frames + 1, bytes + size(&frame));
            self.forward(frame, sink).await?;
        }
        sink.flush().await
    }

    /// Passes a frame of the subscribed topic on to the client, keeping room messages gap-free and in order.
    /// Queued: the caller flushes.
    async fn forward(&mut self, frame: Result<Frame, RecvError>, sink: &mut Sink) -> Result<(), End> {
        let frame = match frame {
            Ok(frame) => frame,
            Err(RecvError::Closed) => return Err(End::Close(TRY_AGAIN_LATER, "server shutting down")),
            Err(RecvError::Lagged(_)) => return Box::pin(self.recover_from_lag(sink)).await,
        };
        if !frame.is_for(&self.me.id) {
            // Someone else's whisper or kick: not ours to see, but its sequence number is passed.
            if let (Subscription::Room { last_seq, .. }, Some(seq)) = (&mut self.subscription, frame.seq)
                && frame.first_seq() == Some(*last_seq + 1)
            {
                *last_seq = seq;
            }
            return Ok(());
        }
        // (A frame may cover several numbers of the sequence: reactions gathered, from `first_seq` to `seq`.)
        match (&mut self.subscription, frame.seq) {
            (Subscription::Room { last_seq, .. }, Some(seq)) if seq <= *last_seq => Ok(()),
            (Subscription::Room { last_seq, .. }, Some(seq)) if frame.first_seq() == Some(*last_seq + 1) => {
                // Counted as sent once queued: if the flush then fails the client is gone, and its read mark
                // may cover the few frames of this write it never got (their room shows them as read).
                *last_seq = seq;
                sink.queue(text_message(&frame.text)).await
            }
            // Published out of commit order, or missed (or partly sent already): fill the gap (this frame
            // included) from the database.
            // (Boxed, like the other database paths: rare, and large as futures.)
            (Subscription::Room { .. }, Some(seq)) => {
                self.chat.metrics().gap_fills.inc();
                Box::pin(self.catch_up(seq, sink)).await
            }
            (Subscription::None, _) => Ok(()),
            _ => {
                sink.queue(text_message(&frame.text)).await?;
                if frame.ends_membership {
                    // Kicked: presence already forgot this person; stop following the room.
                    self.subscription = Subscription::None;
                }
                Ok(())
            }
        }
    }

    /// Passes a change to the person's alarms on, if it is the next one; after a gap or a lag, the whole list.
    async fn forward_alarm(&mut self, frame: Result<Frame, RecvError>, sink: &mut Sink) -> Result<(), End> {
        let Some(watch) = &mut self.alarms else { return Ok(()) };
        match frame {
            Ok(frame) => match frame.seq {
                // A person's first change: their numbering started again (it is forgotten a month after their last
                // alarm went), so what this page has is from before.
                Some(1) if watch.seq >= 1 => self.send_alarms(sink).await,
                Some(seq) if seq <= watch.seq => Ok(()),
                Some(seq) if seq == watch.seq + 1 => {
                    watch.seq = seq;
                    send(sink, text_message(&frame.text)).await
                }
                _ => self.send_alarms(sink).await,
            },
            Err(RecvError::Closed) => Err(End::Close(TRY_AGAIN_LATER, "server shutting down")),
            Err(RecvError::Lagged(_)) => self.send_alarms(sink).await,
        }
    }

    /// Sends the person's alarms as they stand (the client replaces its list).
    async fn send_alarms(&mut self, sink: &mut Sink) -> Result<(), End> {
        let alarms = self.chat.alarms(&self.me.id).await.map_err(|error| {
            tracing::error!(%error, "reading a person's alarms");
            End::Close(TRY_AGAIN_LATER, "try again")
        })?;
        if let Some(watch) = &mut self.alarms {
            watch.seq = alarms.seq;
        }
        send_event(sink, &LiveEvent::Alarms { alarms }).await
    }

    /// The connection fell behind the broadcast buffer. Rooms catch up from the database (messages, and who is
    /// here), so nothing is lost; the room list gets a fresh snapshot.
    async fn recover_from_lag(&mut self, sink: &mut Sink) -> Result<(), End> {
        self.chat.metrics().lag_recoveries.inc();
        match self.subscription {
            // Events without a sequence number may be among those dropped: a kick (the one that matters), and
            // changes of who is here (the client is told where the room stands, to check its list against).
            Subscription::Room { id, .. } => match self.chat.after_lag(id, &self.me.id).await {
                Ok(AfterLag::Removed) => {
                    send_event(sink, &LiveEvent::Kicked { room: id }).await?;
                    self.subscription = Subscription::None;
                    Ok(())
                }
                Ok(AfterLag::Behind { people, last_seq }) => {
                    if let Some(change) = people {
                        send_event(sink, &LiveEvent::People { room: id, change }).await?;
                    }
                    self.catch_up(last_seq, sink).await
                }
                Err(error) => {
                    // The database cannot say: stay, and catch up as far as it will answer.
                    tracing::warn!(%error, room = %id, "reading where the room stands after a lag");
                    self.catch_up(0, sink).await
                }
            },
            Subscription::RoomList { .. } => self.send_room_list(sink).await,
            Subscription::None => Ok(()),
        }
    }

    /// Leaves whatever the connection follows (its feeds release their topics as they drop); leaving a room
    /// counts everything sent to this connection as read.
    async fn unsubscribe(&mut self) {
        if let Subscription::Room { id, last_seq, .. } = std::mem::replace(&mut self.subscription, Subscription::None) {
            self.chat.leave(id, &self.me.id, last_seq).await;
        }
    }
}

/// The connection's sending half, and how long the client may take to accept a frame before it is dropped as too
/// slow to keep.
struct Sink {
    inner: futures_util::stream::SplitSink<WebSocket, Message>,
    patience: Duration,
}

impl Sink {
    /// Adds a frame to the socket's write buffer, writing only if the buffer is full: [`Sink::flush`] sends it.
    async fn queue(&mut self, message: Message) -> Result<(), End> {
        match tokio::time::timeout(self.patience, self.inner.feed(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::ClientGone),
            Err(_) => Err(End::TooSlow),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(self.patience, self.inner.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::ClientGone),
            Err(_) => Err(End::TooSlow),
        }
    }
}

/// A frame of the subscription that is already waiting, if any.
fn ready_frame(subscription: &mut Subscription) -> Option<Result<Frame, RecvError>> {
    match subscription {
        Subscription::Room { feed, .. } => feed.try_recv(),
        Subscription::RoomList { list, mine } => list.try_recv().or_else(|| mine.try_recv()),
        Subscription::None => None,
    }
}

/// Waits for the next frame of the subscription or of the alarms (forever, without either).
async fn next_frame(
    subscription: &mut Subscription,
    alarms: &mut Option<AlarmWatch>,
) -> (Source, Result<Frame, RecvError>) {
    let alarm = async {
        match alarms {
            Some(watch) => watch.feed.recv().await,
            None => std::future::pending().await,
        }
    };
    let subscribed = async {
        match subscription {
            Subscription::Room { feed, .. } => feed.recv().await,
            Subscription::RoomList { list, mine } => tokio::select! {
                frame = list.recv() => frame,
                frame = mine.recv() => frame,
            },
            Subscription::None => std::future::pending().await,
        }
    };
    tokio::select! {
        frame = subscribed => (Source::Subscription, frame),
        frame = alarm => (Source::Alarms, frame),
    }
}

async fn send(sink: &mut Sink, message: Message) -> Result<(), End> {
    match tokio::time::timeout(sink.patience, sink.inner.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::ClientGone),
        Err(_) => Err(End::TooSlow),
    }
}

async fn send_event(sink: &mut Sink, event: &LiveEvent) -> Result<(), End> {
    let text = serde_json::to_string(event).expect("live events always serialize");
    send(sink, Message::Text(text.into())).await
}

async fn refuse(sink: &mut Sink, room: RoomId, reason: Refusal) -> Result<(), End> {
    send_event(sink, &LiveEvent::Refused { room, reason, message: reason.to_string() }).await
}

/// Whether reading failed because the client sent a frame or message over the limit.
fn is_too_big(error: &axum::Error) -> bool {
    use std::error::Error;
    error
        .source()
        .and_then(|source| source.downcast_ref::<tungstenite::Error>())
        .is_some_and(|error| matches!(error, tungstenite::Error::Capacity(_)))
}
