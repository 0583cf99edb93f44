//! The chat's database: SQLite (the embedded default, one file) or PostgreSQL (shared by several servers).
//!
//! Both run the same queries, written once. [`with_pool!`] hands a query's code the concrete pool of whichever
//! database this is; the compiler then checks that code once per database, with its real types, so nothing is
//! lowered to a common denominator (no `sqlx::Any`). The SQL itself is the part of the standard both speak:
//! `$1` parameters, `ON CONFLICT`, `RETURNING`. Where the two really differ, a trait here says so once
//! ([`LockRoom`]); the schemas (`migrations/sqlite`, `migrations/postgres`) differ only in types and syntax.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use protocol::model::RoomId;

/// A connection pool to the chat's database.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db` (a [`Db`]): the same code for both databases,
/// compiled and type-checked for each. `?` and `return` in the body act on the enclosing function.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub use crate::with_pool;

impl Db {
    /// Connects to the database at `url`: `sqlite://path` (the file is created if missing) or
    /// `postgres://user@host:port/database` (the database must exist). At most `connections` at once.
    pub async fn open(url: &str, connections: u32) -> sqlx::Result<Db> {
        if Db::is_postgres_url(url) {
            // A database that is down answers "unavailable" within seconds rather than holding requests.
            let pool = PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            return Ok(Db::Postgres(pool));
        }
        if !url.starts_with("sqlite:") {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: expected sqlite://… or postgres://…").into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL is durable against application crashes; only an OS crash can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    let mut handle = connection.lock_handle().await?;
                    busy::wait_briefly(handle.as_raw_handle());
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Db::Sqlite(pool))
    }

    /// Whether `url` names a PostgreSQL database.
    pub fn is_postgres_url(url: &str) -> bool {
        url.starts_with("postgres://") || url.starts_with("postgresql://")
    }

    /// Brings the schema up to date with this database's migrations (`migrations/sqlite` or
    /// `migrations/postgres`: the same schema in each one's types and syntax, each append-only).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let migrator = self.migrator();
        with_pool!(self, |pool| migrator.run(pool).await)
    }

    /// The migrations this build knows that the database has not applied (or whose run failed): empty when its
    /// schema is the one this build expects.
    pub async fn pending_migrations(&self) -> sqlx::Result<Vec<i64>> {
        let applied: Vec<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(pool).await?
        });
        let known = self.migrator();
        Ok(known.iter().map(|migration| migration.version).filter(|version| !applied.contains(version)).collect())
    }

    /// This database's migrations.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        migrator(matches!(self, Db::Postgres(_)))
    }

    /// Which database this is, for logs and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    }

    /// Closes every connection (waiting for those in use to be returned).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

/// The migrations this build carries (embedded at compile time) for PostgreSQL or for SQLite.
pub fn migrator(postgres: bool) -> sqlx::migrate::Migrator {
    if postgres { sqlx::migrate!("../migrations/postgres") } else { sqlx::migrate!("../migrations/sqlite") }
}

/// How a SQLite connection waits for the write lock another connection holds.
pub mod busy {
    use std::ffi::{c_int, c_void};
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use libsqlite3_sys::{sqlite3, sqlite3_busy_handler};

    /// How long a writer waits for the lock before its statement fails with "database is locked".
    pub const PATIENCE: Duration = Duration::from_secs(5);

    /// The looks at a locked database so far, in this process (every connection's).
    static LOOKS: AtomicU64 = AtomicU64::new(0);

    /// Times a writer found the database locked and looked again, since the process started.
    pub fn looks() -> u64 {
        LOOKS.load(Ordering::Relaxed)
    }

    /// Replaces SQLite's own busy timeout on `connection`, which sleeps 1, 2, 5, 10, 15… ms between looks: under
    /// concurrent writers each collision then costs milliseconds after the lock is long free, which is where
    /// people's sends got their slowest moments. This one looks again after 50 µs, backing off to 1 ms.
    pub fn wait_briefly(connection: NonNull<sqlite3>) {
        // SAFETY: `connection` is an open connection this thread holds exclusively (its sqlx handle is locked);
        // the handler is a plain function that uses no pointer.
        unsafe { sqlite3_busy_handler(connection.as_ptr(), Some(look_again), std::ptr::null_mut()) };
    }

    /// The pause before look number `looks + 1`, or `None` to give up (after about [`PATIENCE`]).
    pub(crate) fn pause(looks: u32) -> Option<Duration> {
        const QUICK: u32 = 20; // 1 ms of 50 µs pauses
        const SHORT: u32 = 40; // then 10 ms of 250 µs
        let waited = Duration::from_micros(50) * looks.min(QUICK)
            + Duration::from_micros(250) * looks.saturating_sub(QUICK).min(SHORT)
            + Duration::from_millis(1) * looks.saturating_sub(QUICK + SHORT);
        (waited < PATIENCE).then_some(match looks {
            0..QUICK => Duration::from_micros(50),
            _ if looks < QUICK + SHORT => Duration::from_micros(250),
            _ => Duration::from_millis(1),
        })
    }

    /// SQLite's busy handler: called on the connection's own thread (sqlx's worker for it), so it may sleep.
    extern "C" fn look_again(_: *mut c_void, looks: c_int) -> c_int {
        match pause(u32::try_from(looks).unwrap_or(0)) {
            Some(pause) => {
                LOOKS.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(pause);
                1
            }
            None => 0,
        }
    }
}

/// Makes a transaction the only writer of one room's messages until it ends, so that the room's next sequence
/// number, read in the transaction's next statement, is still the next one when it commits, and no gap or
/// double appears under concurrent senders.
pub(crate) trait LockRoom {
    async fn lock_room(&mut self, room: RoomId) -> sqlx::Result<()>;
}

/// SQLite has one writer at a time: a transaction whose first statement writes holds the database's write lock
/// from that statement on, which covers every room. Every caller starts with a write, so there is nothing to do.
impl LockRoom for Transaction<'_, Sqlite> {
    async fn lock_room(&mut self, _room: RoomId) -> sqlx::Result<()> {
        Ok(())
    }
}

/// PostgreSQL writes concurrently: the room's row lock orders its writers. Taken by a statement of its own, so
/// that the statements after it (in READ COMMITTED, each with a new snapshot) see everything committed by the
/// writers it waited for: the counter they moved and the bans they made.
impl LockRoom for Transaction<'_, Postgres> {
    async fn lock_room(&mut self, room: RoomId) -> sqlx::Result<()> {
        sqlx::query("SELECT 1 FROM rooms WHERE id = $1 FOR UPDATE").bind(room).execute(&mut **self).await?;
        Ok(())
    }
}

/// A key for one purpose, derived from a stored secret (HMAC-SHA-512 of the purpose's name): what one purpose
/// signs, another never accepts, and none of them reveals the secret.
pub fn derived_key(secret: &[u8], purpose: &str) -> [u8; 64] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A value of the `server_secrets` table: the one stored, or, on the first start, `fresh` (stored now). Every
/// process sharing the database reads the same one.
pub async fn server_secret(db: &Db, name: &str, fresh: &[u8]) -> sqlx::Result<Vec<u8>> {
    with_pool!(db, |pool| {
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(fresh)
            .execute(pool)
            .await?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(pool).await
    })
}

/// A database's or broker's URL without its password, for messages.
pub fn redacted_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) if rest.split('@').next().is_some_and(|user| user.contains(':')) => {
            let user = rest.split([':', '@']).next().unwrap_or_default();
            format!("{scheme}://{user}:…{}", &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_looks_again_soon_then_less_often_and_gives_up_after_its_patience() {
        assert_eq!(busy::pause(0), Some(Duration::from_micros(50)));
        assert_eq!(busy::pause(30), Some(Duration::from_micros(250)));
        assert_eq!(busy::pause(100), Some(Duration::from_millis(1)));
        let waited: Duration = (0..).map_while(busy::pause).sum();
        assert!(waited >= busy::PATIENCE && waited <= busy::PATIENCE + Duration::from_millis(2), "{waited:?}");
    }

    #[tokio::test]
    async fn a_writer_that_finds_the_database_locked_waits_with_our_handler() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}", dir.path().join("busy.db").display()), 2).await.unwrap();
        let Db::Sqlite(pool) = &db else { unreachable!() };
        sqlx::query("CREATE TABLE t (n INTEGER)").execute(pool).await.unwrap();
        // One connection holds the write lock for a moment; the other's insert waits for it, looking again and
        // again (SQLite's own handler would have slept instead, and counted nothing).
        let mut holder = pool.acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *holder).await.unwrap();
        let before = busy::looks();
        let writer = tokio::spawn({
            let pool = pool.clone();
            async move { sqlx::query("INSERT INTO t VALUES (1)").execute(&pool).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        sqlx::query("COMMIT").execute(&mut *holder).await.unwrap();
        writer.await.unwrap().unwrap();
        assert!(busy::looks() > before, "the insert waited in our handler");
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(pool).await.unwrap();
        assert_eq!(count, 1);
    }
}
