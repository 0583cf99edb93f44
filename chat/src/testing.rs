//! Scratch databases for tests (this crate's, and with the `testing` feature, the server's integration tests):
//! a SQLite file in a temporary directory, or a new database on the PostgreSQL server the test command started.

use sqlx::Connection;

use crate::store::Db;

/// The environment variable naming a PostgreSQL server for the tests (`postgres://user@host:port/postgres`).
/// With it, every test runs on a fresh database of its own on that server instead of a SQLite file;
/// `scripts/test.sh` runs the suites once without it and once with it, on a server it starts.
pub const TEST_POSTGRES_ENV: &str = "GIF_CHAT_TEST_POSTGRES";

/// Creates a new, empty database on the PostgreSQL server that `server_url` connects to, and returns the URL
/// of the new database (the same, with another database name).
pub async fn create_scratch_database(server_url: &str) -> sqlx::Result<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CREATED: AtomicU64 = AtomicU64::new(0);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
    let name = format!("scratch_{}_{stamp}_{}", std::process::id(), CREATED.fetch_add(1, Ordering::Relaxed));
    let mut server = sqlx::PgConnection::connect(server_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut server).await?;
    server.close().await?;
    // postgres://user@host:port/old_name?options → postgres://user@host:port/new_name?options
    let (address, options) =
        server_url.split_once('?').map_or((server_url, String::new()), |(a, o)| (a, format!("?{o}")));
    let (scheme, rest) = address.split_once("://").unwrap_or(("postgres", address));
    let authority = rest.split('/').next().unwrap_or_default();
    Ok(format!("{scheme}://{authority}/{name}{options}"))
}

/// A fresh, migrated database for one test: a SQLite file in a new temporary directory, or, when
/// [`TEST_POSTGRES_ENV`] names a server, a new database on it. Keep the directory until the test ends.
pub async fn test_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let url = match std::env::var(TEST_POSTGRES_ENV) {
        Ok(server) => create_scratch_database(&server).await.expect("creating a scratch database"),
        Err(_) => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    let db = Db::open(&url, 8).await.expect("opening the test database");
    db.migrate().await.expect("migrating the test database");
    (dir, db)
}
