//! Accepting and serving HTTP connections.
//!
//! `axum::serve` would do, except that it gives hyper no timer and lets a connection live as long as its peer
//! keeps it: a socket that never sends a byte, one that sends only the HTTP/2 preface, one whose headers trickle
//! in a byte at a time, or an HTTP/2 connection left open with nothing on it each hold a task and a file
//! descriptor, and a few thousand of them leave nobody able to connect. This loop is axum's (HTTP/1 and HTTP/2,
//! upgrades for the websocket, the peer's address as `ConnectInfo`, graceful shutdown) with what [`Door`] adds,
//! and `TCP_NODELAY`; and a request that changes something runs to its end whoever leaves. [`close_if_body_unread`] tells clients which connections will not be reused.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chat::limits::{ConnectionPermit, Limits};
use http::{HeaderValue, Method, Version, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use app::server::address::TrustedProxies;

/// How long connections are given to end once the server stops (a request still running then is cut off).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What a connection must do to be kept open.
#[derive(Clone)]
pub struct Door {
    /// Time to send a request's headers: the first request's from the moment the connection is accepted (whatever
    /// the protocol, before a byte arrives), a later HTTP/1 request's from the end of the previous answer.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in flight (HTTP/2 has no timeout of its own; an
    /// HTTP/1 connection meets the header timeout first).
    pub idle_timeout: Duration,
    /// Open connections per client address, when given; a trusted proxy's connections are not counted (everyone
    /// behind it shares them).
    pub per_address: Option<(Arc<Limits>, TrustedProxies)>,
}

impl Door {
    /// A place for a connection from `peer`: `Err` when its address already has as many open as allowed.
    fn admit(&self, peer: IpAddr) -> Result<Option<ConnectionPermit>, ()> {
        match &self.per_address {
            Some((limits, proxies)) if !proxies.trusts(peer) => limits.open_connection(peer).map_err(|_| ()),
            _ => Ok(None),
        }
    }
}

/// Serves `router` on every connection `listener` accepts until `shutdown` completes, then stops accepting, lets
/// the open connections finish their requests (for at most [`SHUTDOWN_GRACE`]), and returns once they have.
pub async fn serve(listener: TcpListener, router: Router, door: Door, shutdown: impl Future<Output = ()> + Send) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(door.header_timeout);
    // The websocket over HTTP/2 (RFC 8441), as axum::serve allows it.
    builder.http2().timer(TokioTimer::new()).enable_connect_protocol();

    let (connections, stopping) = (TaskTracker::new(), CancellationToken::new());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Refused by closing it: whoever holds this many connections open is not a browser.
        let Ok(permit) = door.admit(peer.ip()) else { continue };
        // Live frames are small and must leave at once: with Nagle's algorithm a frame written while an
        // earlier one is unacknowledged waits for the peer's delayed ACK (40 ms on Linux). The load tool saw
        // exactly that after every ping.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not disable Nagle's algorithm");
        }
        let activity = Arc::new(Activity::new());
        let service = {
            let (router, activity) = (router.clone(), activity.clone());
            hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = activity.request(&request);
                // A request that changes something runs in a task of its own, to its end: its client going away
                // (or resetting its HTTP/2 stream) must not stop it between a commit and its announcement.
                let whole =
                    !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::CONNECT);
                let answer = router.clone().oneshot(request.map(Body::new));
                async move {
                    let response = if whole {
                        tokio::spawn(answer).await.unwrap_or_else(|error| {
                            tracing::error!(%error, "the task answering a request failed");
                            Ok(http::StatusCode::INTERNAL_SERVER_ERROR.into_response())
                        })?
                    } else {
                        answer.await?
                    };
                    // Until its body is sent (or dropped), the request is in flight.
                    Ok::<_, std::convert::Infallible>(response.map(|body| in_flight.around(body)))
                }
            })
        };
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let (door, stopping) = (door.clone(), stopping.clone());
        connections.spawn(async move {
            let _permit = permit;
            if let Err(error) = watched(connection, &activity, &door, &stopping).await {
                tracing::debug!(%peer, error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

/// Drives one connection, closing it when [`Door`] says so or when the server stops.
async fn watched<C>(
    connection: C,
    activity: &Activity,
    door: &Door,
    stopping: &CancellationToken,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulConnection,
{
    let mut connection = std::pin::pin!(connection);
    // When the connection must be gone, once it has been asked to finish.
    let mut cut_off: Option<Instant> = None;
    loop {
        let check = cut_off.unwrap_or_else(|| activity.next_check(door));
        tokio::select! {
            ended = connection.as_mut() => return ended,
            () = stopping.cancelled(), if cut_off.is_none() => {
                connection.as_mut().finish();
                cut_off = Some(Instant::now() + SHUTDOWN_GRACE);
            }
            () = tokio::time::sleep_until(check) => {
                if cut_off.is_some() {
                    return Ok(());
                }
                match activity.verdict(door) {
                    Verdict::Keep => {}
                    // Nothing was ever asked: nothing to finish.
                    Verdict::Drop => return Ok(()),
                    // Nothing in flight: HTTP/2 says goodbye (GOAWAY), and the connection gets the header timeout
                    // to go.
                    Verdict::Finish => {
                        connection.as_mut().finish();
                        cut_off = Some(Instant::now() + door.header_timeout);
                    }
                }
            }
        }
    }
}

/// A connection that can be asked to finish what it is doing and close (hyper's graceful shutdown).
trait GracefulConnection {
    fn finish(self: Pin<&mut Self>);
}

impl<I, S, E, B> GracefulConnection for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: http_body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    fn finish(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// What is happening on one connection, as the [`Door`] judges it.
struct Activity {
    opened: Instant,
    /// Whether a request's headers have arrived.
    asked: AtomicBool,
    /// Whether a request asked to turn the connection into something else (a websocket): its own timeouts then
    /// apply (the live channel's pings and silence limit).
    upgraded: AtomicBool,
    /// Requests whose answers have not been sent yet.
    in_flight: AtomicU32,
    /// When the last request began or ended, in milliseconds since `opened`.
    last_change_ms: AtomicU64,
}

enum Verdict {
    Keep,
    /// Close at once.
    Drop,
    /// Let it finish what it is doing, then close.
    Finish,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            asked: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
            last_change_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.store(elapsed, Ordering::Release);
    }

    /// A request arrived; it is in flight until the returned guard drops.
    fn request<T>(self: &Arc<Self>, request: &http::Request<T>) -> InFlight {
        // HTTP/1's `Upgrade`, or HTTP/2's extended CONNECT (RFC 8441).
        if request.headers().contains_key(header::UPGRADE) || request.method() == Method::CONNECT {
            self.upgraded.store(true, Ordering::Release);
        }
        self.asked.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// When the connection may next deserve closing.
    fn next_check(&self, door: &Door) -> Instant {
        if !self.asked.load(Ordering::Acquire) {
            // A first request may come meanwhile; then the idle timeout counts from it.
            return self.opened + door.header_timeout.min(door.idle_timeout);
        }
        let last_change = Duration::from_millis(self.last_change_ms.load(Ordering::Acquire));
        (self.opened + last_change + door.idle_timeout).max(Instant::now() + Duration::from_millis(10))
    }

    fn verdict(&self, door: &Door) -> Verdict {
        if !self.asked.load(Ordering::Acquire) {
            return if self.opened.elapsed() >= door.header_timeout { Verdict::Drop } else { Verdict::Keep };
        }
        let last_change = Duration::from_millis(self.last_change_ms.load(Ordering::Acquire));
        let idle = self.opened.elapsed().saturating_sub(last_change);
        let quiet = self.in_flight.load(Ordering::Acquire) == 0 && !self.upgraded.load(Ordering::Acquire);
        if quiet && idle >= door.idle_timeout { Verdict::Finish } else { Verdict::Keep }
    }
}

/// A request in flight; dropping it ends the request.
struct InFlight(Arc<Activity>);

impl InFlight {
    /// The answer's body, which holds the request in flight until it is sent or dropped.
    fn around(self, body: Body) -> Body {
        Body::new(Answer { body, _in_flight: self })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// An answer's body and the request it answers.
struct Answer {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Marks an HTTP/1 answer `Connection: close` when its request's body was not read to the end.
///
/// A refusal decided from the headers alone (an upload to a room that is gone, a body over its limit) is sent
/// without reading the body. Unless all of the body has arrived by then, hyper closes the connection after the
/// answer, since the rest of the body stands between it and the next request; but the answer did not say so.
/// The client put the connection back in its pool, and its next request raced the close and failed
/// ("connection reset", "incomplete message"): the upload tests saw it about once in a hundred runs.
pub async fn close_if_body_unread(request: Request, next: Next) -> Response {
    if request.version() > Version::HTTP_11 || http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    let read_to_end = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| Body::new(Watched { body, read_to_end: read_to_end.clone() }));
    let mut response = next.run(request).await;
    if !read_to_end.load(Ordering::Acquire) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that notes when it has been read to the end.
struct Watched {
    body: Body,
    read_to_end: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read_to_end.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// After a failed accept: a peer that gave up before we took its connection costs nothing; anything else (out
/// of file descriptors, above all) gets a pause, so the loop does not spin while nothing can be accepted.
async fn pause_after(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
