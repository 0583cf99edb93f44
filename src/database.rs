//! Opening the databases: the chat's (SQLite by default, or PostgreSQL) and the sessions'.

use anyhow::Context;
use async_trait::async_trait;
use chat::store::{Db, redacted_url};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::Config;

/// Connections to the chat's database; on PostgreSQL, another few for the sessions.
const CHAT_CONNECTIONS: u32 = 8;
const SESSION_CONNECTIONS_POSTGRES: u32 = 4;

/// The data directory holds the default SQLite files: make it if one of them is used (only its owner may enter
/// it).
fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let default_files = config.database_url.is_none() || config.sessions_database_url.is_none();
    if default_files && !Db::is_postgres_url(&config.database_url()) && !config.data_dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .recursive(true)
            .create(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    }
    Ok(())
}

/// A SQLite database's files (the database, its write-ahead log and shared memory) are readable and writable by
/// the server's user alone, whatever the umask made them: they hold sessions, whispers and password hashes.
fn keep_private(url: &str) -> anyhow::Result<()> {
    use std::str::FromStr;
    if Db::is_postgres_url(url) {
        return Ok(());
    }
    let database = sqlx::sqlite::SqliteConnectOptions::from_str(url)?.get_filename().to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let mut file = database.clone().into_os_string();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        #[cfg(unix)]
        if file.exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private", file.display()))?;
        }
    }
    Ok(())
}

/// Opens (creating a SQLite file if needed) the chat's database and brings its schema up to date.
pub async fn connect_database(config: &Config) -> anyhow::Result<Db> {
    prepare_data_dir(config)?;
    let url = config.database_url();
    let db =
        Db::open(&url, CHAT_CONNECTIONS).await.with_context(|| format!("opening database {}", redacted_url(&url)))?;
    db.migrate().await.context("running database migrations")?;
    keep_private(&url)?;
    Ok(db)
}

/// Opens the sessions' database and creates their table. On SQLite it is a separate file, so session writes
/// never wait on the chat's write lock (nor the chat on theirs), with one connection: tower-sessions creates each
/// new session in a transaction, and a burst of them would otherwise wait on SQLite's write lock in its busy
/// handler (unfair, and holding connections); queued here, they wait their turn in order. On PostgreSQL (by
/// default the chat's own database, in a schema of their own), whose writers do not block each other, a small
/// pool of its own keeps session traffic from taking the chat's connections.
pub async fn connect_sessions(config: &Config) -> anyhow::Result<Db> {
    prepare_data_dir(config)?;
    let url = config.sessions_database_url();
    let connections = if Db::is_postgres_url(&url) { SESSION_CONNECTIONS_POSTGRES } else { 1 };
    let db = Db::open(&url, connections)
        .await
        .with_context(|| format!("opening the sessions database {}", redacted_url(&url)))?;
    match Sessions::new(db.clone()) {
        Sessions::Sqlite(store) => store.migrate().await,
        Sessions::Postgres(store) => store.migrate().await,
    }
    .context("creating the session table")?;
    keep_private(&url)?;
    Ok(db)
}

/// Whether the sessions' database answers, reading their table.
pub async fn sessions_answer(db: &Db) -> sqlx::Result<()> {
    match db {
        Db::Sqlite(pool) => sqlx::query("SELECT 1 FROM tower_sessions LIMIT 1").execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query("SELECT 1 FROM tower_sessions.session LIMIT 1").execute(pool).await.map(drop),
    }
}

/// The sessions' store (tower-sessions' sqlx stores), on either database.
#[derive(Debug, Clone)]
pub enum Sessions {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Sessions {
    pub fn new(db: Db) -> Sessions {
        match db {
            Db::Sqlite(pool) => Sessions::Sqlite(SqliteStore::new(pool)),
            Db::Postgres(pool) => Sessions::Postgres(PostgresStore::new(pool)),
        }
    }
}

/// Which rows of a SQLite sessions table are sessions still in use (as tower-sessions' store decides).
pub(crate) const UNEXPIRED_SESSIONS: &str = "datetime(expiry_date) > datetime('now')";

/// Sessions used to live in the chat's SQLite database: move the unexpired ones to their own database once, so
/// nobody loses their identity in the upgrade. (PostgreSQL support came later: nothing to move there.)
pub async fn adopt_sessions_from_chat_database(chat: &Db, sessions: &Db) -> anyhow::Result<()> {
    let (Db::Sqlite(chat), Db::Sqlite(sessions)) = (chat, sessions) else {
        return Ok(());
    };
    let old_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tower_sessions')",
    )
    .fetch_one(chat)
    .await?;
    if !old_table {
        return Ok(());
    }
    let live: Vec<(String, Vec<u8>, String)> =
        sqlx::query_as(&format!("SELECT id, data, expiry_date FROM tower_sessions WHERE {UNEXPIRED_SESSIONS}"))
            .fetch_all(chat)
            .await?;
    let mut tx = sessions.begin().await?;
    for (id, data, expiry_date) in &live {
        sqlx::query("INSERT OR IGNORE INTO tower_sessions (id, data, expiry_date) VALUES (?, ?, ?)")
            .bind(id)
            .bind(data)
            .bind(expiry_date)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    sqlx::query("DROP TABLE tower_sessions").execute(chat).await?;
    tracing::info!(sessions = live.len(), "moved the sessions to their own database");
    Ok(())
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.create(record).await,
            Sessions::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.save(record).await,
            Sessions::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Sessions::Sqlite(store) => store.load(id).await,
            Sessions::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.delete(id).await,
            Sessions::Postgres(store) => store.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(store) => store.delete_expired().await,
            Sessions::Postgres(store) => store.delete_expired().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use chat::store::redacted_url as redacted;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redacted("postgres://chat:s3cret@db:5432/chat"), "postgres://chat:…@db:5432/chat");
        assert_eq!(redacted("postgres://chat@db/chat"), "postgres://chat@db/chat");
        assert_eq!(redacted("sqlite://data/gif-chat.db"), "sqlite://data/gif-chat.db");
    }
}
