//! Holding the door (issue 29): what a public anonymous chat must refuse or bound so that a few cheap clients
//! cannot take it from everyone else. Connections that never ask, HTTP/2 connections left idle, and too many
//! connections from one address.

use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::helpers::{PATIENCE, spawn_app_with};

/// Reads until the server closes the connection; `None` if it is still open after [`PATIENCE`].
async fn closed_after(stream: &mut tokio::net::TcpStream) -> Option<Duration> {
    let started = Instant::now();
    let mut sink = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut sink)).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_ask_are_closed_within_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_secs = 0.5).await;
    // Not a byte; and the HTTP/2 preface with its SETTINGS, then nothing (no request ever).
    let mut silent = app.send_raw(b"").await;
    let preface = [&b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..], &[0, 0, 0, 4, 0, 0, 0, 0, 0]].concat();
    let mut preface_only = app.send_raw(&preface).await;
    for (what, stream) in [("a silent socket", &mut silent), ("an HTTP/2 preface", &mut preface_only)] {
        let closed = closed_after(stream).await;
        assert!(closed.is_some(), "{what} was still open after {PATIENCE:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_and_a_busy_one_is_not() {
    let app = spawn_app_with(|c| c.idle_secs = 1.0).await;
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut client, connection) = h2::client::handshake(tcp).await.expect("an HTTP/2 handshake (h2c)");
    let connection = tokio::spawn(connection);
    // Requests one after another, 0.3 s apart, for longer than the idle timeout: the connection stays.
    for n in 0..6 {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let request = http::Request::get(format!("http://{}/healthz", app.addr)).body(()).unwrap();
        let (answer, _) = client.send_request(request, true).expect("the connection still takes requests");
        let answer = answer.await.expect("an answer");
        assert_eq!(answer.status(), 200);
    }
    assert!(!connection.is_finished(), "a connection in use was closed");
    // Then nothing: the server says goodbye and closes it.
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, connection).await.expect("an idle HTTP/2 connection stayed open").unwrap().ok();
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before its idle timeout: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_may_hold_only_so_many_connections_open() {
    let app = spawn_app_with(|c| c.limit_http_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(app.send_raw(b"").await);
    }
    // The fourth is closed at once (long before the header timeout), while the three stay open.
    let mut fourth = app.send_raw(b"").await;
    let closed = closed_after(&mut fourth).await.expect("a fourth connection from one address was kept");
    assert!(closed < Duration::from_secs(5), "{closed:?}");
    let mut probe = [0u8; 1];
    for stream in &held {
        assert!(matches!(stream.try_read(&mut probe), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock));
    }
    // One of them closes: there is room again, and it serves.
    drop(held.pop());
    let answer = tokio::time::timeout(PATIENCE, async {
        loop {
            let mut stream = app.send_raw(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes()).await;
            let mut answer = vec![0; 1024];
            match stream.read(&mut answer).await {
                Ok(read) if read > 0 => return String::from_utf8_lossy(&answer[..read]).into_owned(),
                // The server may not have seen the close yet.
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("no room again after a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
