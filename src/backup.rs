//! `gif-chat backup` and `gif-chat restore`: a consistent copy of a SQLite store, taken while the server runs,
//! and the way back from it.
//!
//! A backup is one SQLite file: the chat's database as of one moment (SQLite's `VACUUM INTO`, a snapshot that
//! writers do not wait for), with the visitors' sessions added, so that people keep their identity (and their
//! rooms) after a restore. With `--gifs DIR`, the GIFs that snapshot refers to are copied into `DIR` after it,
//! and `DIR` then holds exactly those: the file and the directory together are the backup. GIF files never
//! change once stored, so a daily backup into the same directory copies only the new ones.
//!
//! A restore puts the file in place as the chat's database (the server moves the sessions back into their own
//! database when it starts) and the GIFs into the store. It refuses to overwrite a database.
//!
//! The GIFs are copied out of (and back into) wherever the server keeps them: its uploads directory, or its
//! bucket (`--uploads-url`). The same commands move an uploads directory into a bucket: a backup with `--gifs`
//! from the directory, then a restore with `--uploads-url` (docs/operating.md, "GIFs in object storage").
//!
//! PostgreSQL has its own tools for this (`pg_dump`, `pg_restore`): see docs/operating.md, "Backups".

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use chat::store::{Db, migrator};
use chat::uploads::{StoredName, UploadStore, owner_of};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::Config;
use crate::database::UNEXPIRED_SESSIONS;

/// The sessions' table, as tower-sessions' SQLite store makes it.
const SESSIONS_TABLE: &str =
    "CREATE TABLE tower_sessions (id TEXT PRIMARY KEY NOT NULL, data BLOB NOT NULL, expiry_date INTEGER NOT NULL)";

/// What a backup holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    pub rooms: i64,
    pub messages: i64,
    pub sessions: i64,
    pub gifs: GifCopy,
}

/// What copying GIFs did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GifCopy {
    /// GIFs the database refers to.
    pub referenced: usize,
    /// Of those, copied now (the others were there already).
    pub copied: usize,
    /// Of those, not found: removed since the snapshot (their room went), or lost.
    pub missing: usize,
    /// Files no longer referenced, removed from the backup's directory.
    pub removed: usize,
}

impl std::fmt::Display for BackupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let BackupReport { rooms, messages, sessions, gifs } = self;
        write!(f, "{rooms} rooms, {messages} messages, {sessions} sessions; {gifs}")
    }
}

impl std::fmt::Display for GifCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let GifCopy { referenced, copied, missing, removed } = self;
        write!(f, "{referenced} GIFs referenced, {copied} copied, {missing} missing, {removed} no longer needed")
    }
}

/// The SQLite file a URL names, or why there is none.
fn sqlite_file(url: &str, what: &str) -> anyhow::Result<PathBuf> {
    if Db::is_postgres_url(url) {
        bail!(
            "the {what} is on PostgreSQL: back it up with pg_dump and restore it with pg_restore (see \
             docs/operating.md, \"Backups\"); gif-chat backup and restore handle SQLite files"
        );
    }
    Ok(SqliteConnectOptions::from_str(url)?.get_filename().to_owned())
}

/// `path` with `suffix` added to its file name (where a file is written before it is renamed into place).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Makes a rename into `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?.sync_all()
}

/// Opens an existing SQLite file (never creating one).
async fn open_existing(path: &Path) -> anyhow::Result<SqliteConnection> {
    if !path.is_file() {
        bail!("no database at {}", path.display());
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .disable_statement_logging();
    SqliteConnection::connect_with(&options).await.with_context(|| format!("opening {}", path.display()))
}

/// Whether SQLite finds `db` sound.
async fn quick_check(db: &mut SqliteConnection, path: &Path) -> anyhow::Result<()> {
    let verdict: String = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut *db).await?;
    if verdict != "ok" {
        bail!("{} is damaged: {verdict}", path.display());
    }
    Ok(())
}

/// The GIFs a chat's database keeps: those its messages show (a deleted one's body is empty, no GIF's name), and
/// those its library holds.
const KEPT_GIFS: &str = "SELECT body FROM messages WHERE kind = 'gif' UNION SELECT name FROM gif_library";

/// What a database holds, and the stored GIFs it keeps ([`KEPT_GIFS`]).
async fn contents(db: &mut SqliteConnection) -> anyhow::Result<(BackupReport, BTreeSet<String>)> {
    let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
    let has_library: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gif_library')")
            .fetch_one(&mut *db)
            .await?;
    // A backup made before the library has none.
    let sql = if has_library { KEPT_GIFS } else { "SELECT body FROM messages WHERE kind = 'gif'" };
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *db).await?;
    // Only names the store makes: a tampered file cannot name a path outside the directories.
    let names: BTreeSet<String> =
        names.into_iter().filter_map(|name| StoredName::parse(&name)).map(|name| name.as_str().to_owned()).collect();
    let report = BackupReport {
        rooms: count("SELECT COUNT(*) FROM rooms").fetch_one(&mut *db).await?,
        messages: count("SELECT COUNT(*) FROM messages").fetch_one(&mut *db).await?,
        sessions: count("SELECT COUNT(*) FROM tower_sessions").fetch_one(&mut *db).await.unwrap_or(0),
        gifs: GifCopy { referenced: names.len(), ..GifCopy::default() },
    };
    Ok((report, names))
}

/// Copies the GIFs named in `names` out of the store into `to` (each written beside, then renamed into place: a
/// crash leaves no half file under a GIF's name), keeping those `to` has already.
/// Each GIF's still (its first frame) and video go with it where it has them (GIFs stored before stills were made
/// have none until the server makes it; a GIF whose video would not be smaller has none).
async fn export_gifs(names: &BTreeSet<String>, store: &UploadStore, to: &Path) -> anyhow::Result<GifCopy> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut copy = GifCopy { referenced: names.len(), ..GifCopy::default() };
    for name in names.iter().filter_map(|name| StoredName::parse(name)) {
        let mut copied = false;
        // The GIF first: without it, the rest is not looked for.
        for file in name.files() {
            let target = to.join(&file);
            if target.is_file() {
                continue;
            }
            let partial = beside(&target, ".partial");
            let found = store.copy_out(&file, &partial).await.map_err(|error| {
                anyhow::anyhow!("copying {file} out of {}: {}", store.describe(), error.into_app_error())
            });
            match found {
                Ok(true) => {
                    std::fs::File::open(&partial)?.sync_all()?;
                    std::fs::rename(&partial, &target)?;
                    copied = true;
                }
                Ok(false) => {
                    let _ = std::fs::remove_file(&partial);
                    // A GIF missing (its still and its video may be).
                    if file == name.as_str() {
                        tracing::warn!(
                            gif = name.as_str(),
                            "a GIF the database refers to is not in {}",
                            store.describe()
                        );
                        copy.missing += 1;
                        break;
                    }
                }
                Err(error) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(error);
                }
            }
        }
        copy.copied += usize::from(copied);
    }
    sync_dir(to)?;
    Ok(copy)
}

/// Copies the GIFs named in `names` from the directory `from` into the store (the directory store writes each
/// beside, then renames it into place; an object appears whole or not at all).
async fn import_gifs(names: &BTreeSet<String>, from: &Path, store: &UploadStore) -> anyhow::Result<GifCopy> {
    let mut copy = GifCopy { referenced: names.len(), ..GifCopy::default() };
    for name in names {
        if !from.join(name).is_file() {
            tracing::warn!(gif = %name, "a GIF the database refers to is not in {}", from.display());
            copy.missing += 1;
            continue;
        }
        let Some(name) = StoredName::parse(name) else { continue };
        // The GIF last: once it is there, so are the rest.
        for file in name.files().into_iter().rev() {
            let source = from.join(&file);
            if source.is_file() {
                store.copy_in(&file, &source).await.map_err(|error| {
                    anyhow::anyhow!("copying {file} into {}: {}", store.describe(), error.into_app_error())
                })?;
            }
        }
        copy.copied += 1;
    }
    Ok(copy)
}

/// Copies the GIFs the chat's database (SQLite or PostgreSQL) shows from the directory `from` into the configured
/// store, but for those it holds already: `referenced` GIFs, `copied` now, `missing` from `from` (and not stored).
pub async fn copy_gifs(config: &Config, from: &Path) -> anyhow::Result<GifCopy> {
    let db = Db::open(&config.database_url(), 1).await.context("opening the chat's database")?;
    let shown: Vec<String> = chat::store::with_pool!(&db, |pool| sqlx::query_scalar(KEPT_GIFS).fetch_all(pool).await)?;
    let store = open_store(config)?;
    let stored = stored_files(&store).await?;
    let names: BTreeSet<String> =
        shown.iter().filter_map(|name| StoredName::parse(name)).map(|n| n.as_str().to_owned()).collect();
    let wanted: BTreeSet<String> = names.iter().filter(|name| !stored.contains(*name)).cloned().collect();
    let copy = GifCopy { referenced: names.len(), ..import_gifs(&wanted, from, &store).await? };
    if copy.missing > 0 {
        bail!(
            "{copy}: {} GIF(s) the chat shows are neither in {} nor in {}",
            copy.missing,
            from.display(),
            store.describe()
        );
    }
    Ok(copy)
}

/// The files `store` holds (GIFs, their stills and videos).
async fn stored_files(store: &UploadStore) -> anyhow::Result<BTreeSet<String>> {
    let found = store
        .list()
        .await
        .map_err(|error| anyhow::anyhow!("listing {}: {}", store.describe(), error.into_app_error()))?;
    Ok(found.into_iter().map(|found| found.file).collect())
}

/// The store the server keeps its GIFs in, as configured.
fn open_store(config: &Config) -> anyhow::Result<UploadStore> {
    UploadStore::open(config.uploads_dir.clone(), config.uploads_at()?, config.storage_limits())
        .with_context(|| format!("opening the uploads directory {}", config.uploads_dir.display()))
}

/// Copies the chat's database, with the sessions, to `file` (replacing it), and, with `gifs`, the GIFs it refers
/// to into that directory. Safe while servers use the database: it reads a snapshot and writes nothing there.
/// The backup is readable by its owner only: it holds the key that signs visitors' cookies, and their sessions.
pub async fn backup(config: &Config, file: &Path, gifs: Option<&Path>) -> anyhow::Result<BackupReport> {
    let chat_file = sqlite_file(&config.database_url(), "chat's database")?;
    refuse_live_paths(config, &chat_file, file, gifs)?;
    let partial = beside(file, ".partial");
    let result = async {
        // Made empty first, with its mode: VACUUM INTO fills an empty file and keeps its permissions.
        let _ = std::fs::remove_file(&partial);
        private_file(&partial)?;
        let mut chat = open_existing(&chat_file).await?;
        sqlx::query("VACUUM INTO ?")
            .bind(partial.to_string_lossy())
            .execute(&mut chat)
            .await
            .with_context(|| format!("copying {} to {}", chat_file.display(), partial.display()))?;
        chat.close().await?;
        complete_backup(config, &partial, file, gifs).await
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Creates `path`, empty, readable and writable by its owner only.
fn private_file(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

/// A backup must never be written over what the server uses: its databases, or (with `--gifs`) its uploads.
fn refuse_live_paths(config: &Config, chat_file: &Path, file: &Path, gifs: Option<&Path>) -> anyhow::Result<()> {
    let resolved = |path: &Path| std::path::absolute(path).map(|path| path.canonicalize().unwrap_or(path));
    let target = resolved(file)?;
    let mut live = vec![resolved(chat_file)?];
    if let Ok(sessions) = sqlite_file(&config.sessions_database_url(), "sessions' database") {
        live.push(resolved(&sessions)?);
    }
    if live.contains(&target) {
        bail!("{} is a database the server uses: write the backup elsewhere", file.display());
    }
    if let Some(dir) = gifs {
        let (dir, uploads) = (resolved(dir)?, resolved(&config.uploads_dir)?);
        if dir.starts_with(&uploads) || uploads.starts_with(&dir) {
            bail!("--gifs {} is (or holds) the uploads directory: copy the GIFs elsewhere", dir.display());
        }
    }
    Ok(())
}

/// Adds the sessions to the copy at `partial` and checks it; copies the GIFs it refers to (adding only); moves it
/// to `file`; then removes from the GIFs' directory what it no longer refers to. Until the move, the previous
/// backup in `file` and its GIFs stay whole.
async fn complete_backup(
    config: &Config,
    partial: &Path,
    file: &Path,
    gifs: Option<&Path>,
) -> anyhow::Result<BackupReport> {
    let mut copy = open_existing(partial).await?;
    // One self-contained file (no write-ahead log beside it).
    sqlx::query("PRAGMA journal_mode = DELETE").execute(&mut copy).await?;
    let has_sessions: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'tower_sessions')")
            .fetch_one(&mut copy)
            .await?;
    let sessions_url = config.sessions_database_url();
    if Db::is_postgres_url(&sessions_url) {
        tracing::warn!("the sessions are on PostgreSQL: back them up with pg_dump; this backup holds the chat only");
    } else if !has_sessions {
        let sessions_file = sqlite_file(&sessions_url, "sessions' database")?;
        if sessions_file.is_file() {
            sqlx::query(SESSIONS_TABLE).execute(&mut copy).await?;
            sqlx::query("ATTACH DATABASE ? AS live").bind(sessions_file.to_string_lossy()).execute(&mut copy).await?;
            sqlx::query(&format!(
                "INSERT INTO tower_sessions SELECT id, data, expiry_date FROM live.tower_sessions WHERE {UNEXPIRED_SESSIONS}"
            ))
            .execute(&mut copy)
            .await
            .with_context(|| format!("copying the sessions from {}", sessions_file.display()))?;
            sqlx::query("DETACH DATABASE live").execute(&mut copy).await?;
        }
    }
    quick_check(&mut copy, partial).await?;
    let (mut report, names) = contents(&mut copy).await?;
    copy.close().await?;
    let mut lost = Vec::new();
    if let Some(dir) = gifs {
        // After the snapshot: every GIF it refers to was stored before it (a GIF's file is stored before its
        // message). One whose room went since is missing, and counted; one the chat still refers to is lost.
        report.gifs = export_gifs(&names, &open_store(config)?, dir).await?;
        if report.gifs.missing > 0 {
            let missing: Vec<&String> = names.iter().filter(|name| !dir.join(name.as_str()).is_file()).collect();
            lost = still_referenced(config, &missing).await?;
        }
    }
    std::fs::File::open(partial)?.sync_all()?;
    std::fs::rename(partial, file).with_context(|| format!("moving the backup to {}", file.display()))?;
    sync_dir(file.parent().unwrap_or(Path::new(".")))?;
    if let Some(dir) = gifs {
        for entry in std::fs::read_dir(dir)? {
            let file = entry?.file_name().to_string_lossy().into_owned();
            if owner_of(&file).is_some_and(|owner| !names.contains(owner.as_str())) {
                std::fs::remove_file(dir.join(&file))?;
                // Counted once per GIF, not again for its still.
                report.gifs.removed += usize::from(StoredName::parse(&file).is_some());
            }
        }
    }
    if !lost.is_empty() {
        bail!(
            "backed up to {} ({report}), but {} GIF(s) the chat still shows are not in {}: their files are gone \
             (the backup keeps their messages, not their pictures): {}",
            file.display(),
            lost.len(),
            open_store(config)?.describe(),
            lost.join(", ")
        );
    }
    Ok(report)
}

/// Those of `names` that the live database still keeps (a message shows it, or the library holds it; the others'
/// rooms went since the snapshot: their files were removed with them, as they should).
async fn still_referenced(config: &Config, names: &[&String]) -> anyhow::Result<Vec<String>> {
    let live = Db::open(&config.database_url(), 1).await.context("opening the chat's database")?;
    let mut referenced = Vec::new();
    for name in names {
        let sql = "SELECT EXISTS (SELECT 1 FROM messages WHERE kind = 'gif' AND body = $1)
                       OR EXISTS (SELECT 1 FROM gif_library WHERE name = $1)";
        let exists: bool = chat::store::with_pool!(&live, |pool| {
            sqlx::query_scalar(sql).bind(name.as_str()).fetch_one(pool).await
        })?;
        if exists {
            referenced.push((*name).clone());
        }
    }
    Ok(referenced)
}

/// Puts the backup `file` in place as the chat's database (which must not exist yet) and, with `gifs`, the GIFs
/// it refers to into the uploads directory. The server must not be running on that data directory.
pub async fn restore(config: &Config, file: &Path, gifs: Option<&Path>) -> anyhow::Result<BackupReport> {
    let target = sqlite_file(&config.database_url(), "chat's database")?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let existing = beside(&target, suffix);
        if existing.exists() {
            bail!(
                "{} exists: gif-chat restore does not overwrite a database. Stop the server and move the data \
                 directory's files away first",
                existing.display()
            );
        }
    }
    let mut backup = open_backup(file).await?;
    quick_check(&mut backup, file).await?;
    check_schema(&mut backup, file).await?;
    let (mut report, names) = contents(&mut backup).await?;
    backup.close().await?;

    // The GIFs first, the database last: a restore cut short leaves no database, and can simply be run again.
    let store = open_store(config)?;
    match gifs {
        Some(dir) => report.gifs = import_gifs(&names, dir, &store).await?,
        None => {
            let stored = stored_files(&store).await?;
            report.gifs.missing = names.iter().filter(|name| !stored.contains(*name)).count();
        }
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let partial = beside(&target, ".partial");
    let _ = std::fs::remove_file(&partial);
    std::fs::copy(file, &partial).with_context(|| format!("copying {} to {}", file.display(), partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    // A link, not a rename: it fails if a database appeared meanwhile (a server started), where a rename would
    // replace it.
    let linked = std::fs::hard_link(&partial, &target)
        .with_context(|| format!("putting the database in place at {}", target.display()));
    let _ = std::fs::remove_file(&partial);
    linked?;
    sync_dir(dir)?;
    Ok(report)
}

/// Opens a backup without writing to it (nor beside it).
async fn open_backup(path: &Path) -> anyhow::Result<SqliteConnection> {
    if !path.is_file() {
        bail!("no database at {}", path.display());
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true).disable_statement_logging();
    SqliteConnection::connect_with(&options).await.with_context(|| format!("opening {}", path.display()))
}

/// Whether `db` is a gif-chat database this build can run: every migration it has applied is one of this build's,
/// with the same contents.
async fn check_schema(db: &mut SqliteConnection, path: &Path) -> anyhow::Result<()> {
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations")
        .fetch_all(db)
        .await
        .with_context(|| format!("{} is not a gif-chat database", path.display()))?;
    let known = migrator(false);
    for (version, checksum) in &applied {
        match known.iter().find(|migration| migration.version == *version) {
            None => bail!(
                "{} was made by a newer gif-chat (its schema has migration {version}): restore it with that",
                path.display()
            ),
            Some(migration) if *migration.checksum != checksum[..] => {
                bail!("{} is not a gif-chat database (its migration {version} differs)", path.display())
            }
            Some(_) => {}
        }
    }
    if applied.is_empty() {
        bail!("{} is not a gif-chat database (no schema)", path.display());
    }
    Ok(())
}

/// `gif-chat library list|remove NAME`: what the library holds, or one entry taken out (and its GIF's files with it,
/// unless a message shows it). Prints what it did.
pub async fn library(config: &Config, action: &crate::config::LibraryAction) -> anyhow::Result<String> {
    use crate::config::LibraryAction;
    let db = Db::open(&config.database_url(), 1).await.context("opening the chat's database")?;
    let chat = chat::Chat::new(db, config.settings(), open_store(config)?);
    let refused = |error: chat::error::ServerError| anyhow::anyhow!("{}", error.into_app_error());
    match action {
        LibraryAction::List => {
            let mut listed = String::from("name\tshared at (Unix ms)\tshared by\twords\n");
            for (name, words, by, at) in chat.library_entries().await.map_err(refused)? {
                listed.push_str(&format!("{name}\t{at}\t{by}\t{words}\n"));
            }
            Ok(listed)
        }
        LibraryAction::Remove { name } => match chat.unshare_gif(name).await.map_err(refused)? {
            true => Ok(format!("took {name} out of the library\n")),
            false => anyhow::bail!("{name} is not in the library"),
        },
    }
}
