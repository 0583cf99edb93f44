//! Accepting and serving HTTP connections.
//!
//! `axum::serve` would do, except that it gives hyper no timer, and without one hyper cannot time out a request
//! whose headers trickle in a byte at a time: a few thousand such connections hold a few thousand tasks and
//! file descriptors forever. This loop is the same as axum's (HTTP/1 and HTTP/2, upgrades for the websocket,
//! the peer's address as `ConnectInfo`, graceful shutdown) with a header read timeout, and with `TCP_NODELAY`.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
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
