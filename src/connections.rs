//! Accepting and serving HTTP connections.
//!
//! `axum::serve` would do, except that it gives hyper no timer, and without one hyper cannot time out a request
//! whose headers trickle in a byte at a time: a few thousand such connections hold a few thousand tasks and
//! file descriptors forever. This loop is the same as axum's (HTTP/1 and HTTP/2, upgrades for the websocket,
//! the peer's address as `ConnectInfo`, graceful shutdown) with a header read timeout, and with `TCP_NODELAY`.
//! [`close_if_body_unread`] tells clients which connections will not be reused.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, Version, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `router` on every connection `listener` accepts until `shutdown` completes, then stops accepting, lets
/// the open connections finish their requests, and returns once they have.
///
/// A client gets `header_timeout` to send a request's headers (on a kept-alive connection: from the end of the
/// previous response); then the connection is closed. Bodies have their own limits (see `bodies` and uploads).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    // The websocket over HTTP/2 (RFC 8441), as axum::serve allows it.
    builder.http2().enable_connect_protocol();

    let connections = GracefulShutdown::new();
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
        // Live frames are small and must leave at once: with Nagle's algorithm a frame written while an
        // earlier one is unacknowledged waits for the peer's delayed ACK (40 ms on Linux). The load tool saw
        // exactly that after every ping.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "could not disable Nagle's algorithm");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
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
