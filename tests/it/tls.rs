//! TLS to the broker and to PostgreSQL, with certificates of a CA of the test's own: the chat works through each,
//! and a server it cannot verify (or one that cannot verify it) is refused at start, never spoken to in the clear.

use crate::helpers::{
    LiveClient, TestBroker, TestCerts, TestPostgres, spawn_app_with, spawn_cluster_on, start_refused,
};
use protocol::live::LiveEvent;
use sqlx::Connection;

async fn said(live: &mut LiveClient, body: &str) {
    live.expect(|e| matches!(e, LiveEvent::Chat { message } if message.body == body).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_joined_through_a_broker_that_speaks_only_tls_and_verifies_them() {
    crate::helpers::require!(Nats);
    let certs = TestCerts::new();
    // The NATS server refuses plain connections, and any client without a certificate its CA signed.
    let broker = TestBroker::start_tls(&certs, true);
    let (cert, key) = certs.client();
    let apps = spawn_cluster_on(&broker, 2, |config| {
        config.broker_ca_file = Some(certs.ca());
        config.broker_cert_file = Some(cert.clone());
        config.broker_key_file = Some(key.clone());
    })
    .await;
    let alice = apps[0].person().await;
    let bob = apps[1].person().await;
    let room = alice.create_room("sealed", 10, "").await.unwrap();
    let _alice_live = alice.join(room.id).await;
    let (mut bob_live, _) = bob.join(room.id).await;
    alice.send(room.id, "through TLS").await.unwrap();
    said(&mut bob_live, "through TLS").await;

    let url = broker.url.clone();
    let stranger = TestCerts::new();
    // The system's roots do not know the test's CA; nor does another CA; and a client without its certificate is
    // refused by the server.
    let without_ca = start_refused(|config| config.broker_url = Some(url.clone())).await;
    let another_ca = start_refused(|config| {
        config.broker_url = Some(url.clone());
        config.broker_ca_file = Some(stranger.ca());
    })
    .await;
    let without_certificate = start_refused(|config| {
        config.broker_url = Some(url.clone());
        config.broker_ca_file = Some(certs.ca());
    })
    .await;
    for said in [&without_ca, &another_ca, &without_certificate] {
        assert!(said.contains("connecting to the broker"), "{said}");
    }
    assert!(without_ca.contains("UnknownIssuer") && another_ca.contains("UnknownIssuer"), "{without_ca}\n{another_ca}");
    assert!(without_certificate.contains("BadCertificate"), "{without_certificate}");
    // A CA file means TLS even with a `nats://` URL: this server's certificate is checked (and found foreign).
    let plain_url = url.replacen("tls://", "nats://", 1);
    let plain = start_refused(|config| {
        config.broker_url = Some(plain_url.clone());
        config.broker_ca_file = Some(stranger.ca());
    })
    .await;
    assert!(plain.contains("UnknownIssuer"), "{plain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_runs_on_postgres_over_tls_with_the_server_verified() {
    crate::helpers::require!(Postgres);
    let certs = TestCerts::new();
    let postgres = TestPostgres::start_tls(&certs);
    let url = format!("{}?sslmode=verify-full&sslrootcert={}", postgres.url, certs.ca().display());
    let app = spawn_app_with(|config| config.database_url = Some(url.clone())).await;
    let alice = app.person().await;
    let room = alice.create_room("sealed", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    alice.send(room.id, "through TLS").await.unwrap();
    said(&mut alice_live, "through TLS").await;

    // Every connection of the server's (the chat's and the sessions') is encrypted.
    let mut observer = sqlx::PgConnection::connect(&url).await.unwrap();
    let (encrypted, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = 'gif_chat' AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut observer)
    .await
    .unwrap();
    assert!(encrypted >= 1 && plain == 0, "{encrypted} encrypted, {plain} in the clear");

    // A server whose certificate another CA signed is refused at start.
    let stranger = TestCerts::new();
    let foreign = format!("{}?sslmode=verify-full&sslrootcert={}", postgres.url, stranger.ca().display());
    let refused = start_refused(|config| config.database_url = Some(foreign.clone())).await;
    assert!(refused.contains("UnknownIssuer"), "{refused}");
}
