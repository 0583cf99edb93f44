//! The store of uploaded GIFs. Files arrive as temporary files in `.incoming/` of the local uploads directory,
//! are validated and re-encoded there, and are then stored under a name made from their content (`<hex>.gif`, its
//! still `<hex>.still.gif`, and later the video made of it, `<hex>.mp4`), in one of two places, chosen by one
//! setting:
//!
//! - **a directory** (the embedded default): the uploads directory itself; storing is an atomic rename;
//! - **S3-compatible object storage** ([`objects`]): a bucket (and a prefix in it), shared by every process of a
//!   chat on several machines with no shared file system. The local directory then holds only the temporary
//!   files and a bounded cache of the GIFs served from here.
//!
//! A GIF is named by its content (a keyed hash of it, so that nobody who holds a GIF can ask the server whether
//! it was posted): storing one again (a retried upload, the same GIF from two places) is harmless, and two
//! messages may show the same files. What the store holds is recorded in the database (table
//! `stored_gifs`, see `service::db::gifs`): the quota is counted there, and a GIF's files go when no message shows
//! it (see `Chat::release_gifs`). A sweep (at start-up, then every few minutes) removes what a crash left behind.
//!
//! The disk cannot be filled through it: stored GIFs may take at most a quota in all, and an upload is refused
//! when the local file system's free space would fall below a floor (507, "storage full"; nothing is left
//! behind). An upload reserves its size when it is admitted, before a byte of it is read: uploads still arriving
//! count against both, so a few slow ones cannot be admitted together into space only one of them has.
//!
//! Neither place is ever waited on without a limit, nor from an async worker when it is a file system: a stalled
//! one (a shared mount that hangs, a bucket that does not answer) must not freeze text chat. File system calls run
//! on blocking threads, waited for at most [`FILE_PATIENCE`]; object storage requests have their own timeouts.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use hmac::{Hmac, Mac};
use sha2::Sha256;
pub use tempfile::NamedTempFile;

use crate::error::{ServerError, ServerResult};
use protocol::error::AppError;
pub use protocol::model::still_of;

mod objects;
pub use objects::{S3Keys, S3Location};

/// How long a request waits for the uploads' file system before answering that uploads are unavailable.
pub const FILE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `work` (file system calls) on a blocking thread, waiting for it at most [`FILE_PATIENCE`].
pub async fn off_the_workers<T: Send + 'static>(
    context: &'static str,
    work: impl FnOnce() -> ServerResult<T> + Send + 'static,
) -> ServerResult<T> {
    match tokio::time::timeout(FILE_PATIENCE, tokio::task::spawn_blocking(work)).await {
        Ok(done) => done?,
        Err(_) => Err(ServerError::Io { context, source: std::io::ErrorKind::TimedOut.into() }),
    }
}

/// Where uploads are written before they are validated. Never served: served names are plain `<hex>.gif`.
const INCOMING_DIR: &str = ".incoming";

/// Where stored GIFs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadsAt {
    /// In the uploads directory itself.
    Directory,
    /// In S3-compatible object storage (the uploads directory keeps temporary files and a cache).
    ObjectStorage(S3Location),
}

#[derive(Debug, Clone)]
pub struct UploadStore {
    /// The local uploads directory: the stored GIFs themselves, or (with object storage) only temporary files and
    /// the cache.
    dir: PathBuf,
    /// The bucket, when GIFs are kept in object storage.
    objects: Option<objects::Objects>,
    space: StorageLimits,
    /// Bytes taken by stored GIFs, as the database counts them (see [`UploadStore::set_used`]).
    used: Arc<AtomicU64>,
    /// Bytes reserved by uploads admitted and not yet stored (see [`Reservation`]).
    reserved: Arc<AtomicU64>,
    /// How long each file system call waits first, in ms: zero, except in the tests of a file system that hangs
    /// (see [`UploadStore::stall`]).
    stall_ms: Arc<AtomicU64>,
    /// The key GIFs are named with (see [`StoredName`]): the same for every process of a chat (derived from its
    /// stored secrets when the chat starts), so they all name a GIF alike.
    naming_key: Arc<OnceLock<[u8; 32]>>,
}

/// An admitted upload's place in the quota and above the free-space floor, until it is stored or given up (it
/// is given back when this drops).
#[must_use]
pub struct Reservation {
    bytes: u64,
    reserved: Arc<AtomicU64>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = self.reserved.fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| Some(r.saturating_sub(self.bytes)));
    }
}

/// How much of the disk uploads may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    /// The most all stored GIFs together may take, in bytes.
    pub quota: u64,
    /// Free space the local file system keeps, in bytes: no upload may take it below this.
    pub min_free: u64,
}

const QUOTA_REACHED: &str = "gif-chat has no room left for more GIFs right now. Text still works.";
const DISK_FULL: &str = "The server's disk is nearly full, so GIFs cannot be stored right now. Text still works.";

/// A stored GIF's file name: 32 lowercase hex digits and `.gif`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredName(String);

impl StoredName {
    /// The name of a GIF with this content: the first 128 bits of its HMAC-SHA-256 under the chat's naming key,
    /// in hex.
    fn of_content(digest: &[u8]) -> StoredName {
        let hex: String = digest[..16].iter().map(|byte| format!("{byte:02x}")).collect();
        StoredName(format!("{hex}.gif"))
    }

    /// Only names the store could have made: anything else (paths, temporary files) is never served.
    pub fn parse(name: &str) -> Option<StoredName> {
        let stem = name.strip_suffix(".gif")?;
        let hex = stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        hex.then(|| StoredName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL path the GIF is served at.
    pub fn url(&self) -> String {
        url_of(&self.0)
    }

    /// The file name of its still (its first frame alone), stored beside it: `<hex>.still.gif`.
    pub fn still(&self) -> String {
        still_of(&self.0)
    }

    /// The file name of the looping video made of it (see `crate::video`), stored beside it: `<hex>.mp4`.
    pub fn video(&self) -> String {
        format!("{}.{VIDEO_EXTENSION}", self.stem())
    }

    fn stem(&self) -> &str {
        self.0.strip_suffix(".gif").expect("a stored name ends in .gif")
    }

    /// Its files: the GIF's, its still's and its video's (which it may not have).
    pub fn files(&self) -> [String; 3] {
        [self.0.clone(), self.still(), self.video()]
    }
}

/// The extension of a stored GIF's video: an MP4 file (H.264), which every browser plays.
const VIDEO_EXTENSION: &str = "mp4";

/// The stored GIF a stored file belongs to: itself, or the GIF a still or a video is of. `None` for anything else
/// (temporary files, strangers), which is never served.
pub fn owner_of(file: &str) -> Option<StoredName> {
    let derived = file.strip_suffix(".still.gif").or_else(|| file.strip_suffix(&format!(".{VIDEO_EXTENSION}")));
    match derived {
        Some(stem) => StoredName::parse(&format!("{stem}.gif")),
        None => StoredName::parse(file),
    }
}

/// The type a stored file is served as.
pub fn content_type_of(file: &str) -> &'static str {
    if file.ends_with(&format!(".{VIDEO_EXTENSION}")) { "video/mp4" } else { "image/gif" }
}

/// The URL path a stored GIF of this name is served at.
pub fn url_of(name: &str) -> String {
    format!("/gif/{name}")
}

/// A validated, re-encoded GIF and its still, named and holding its place in the quota, ready to be stored
/// ([`UploadStore::put`]). The place is given back once the database counts the GIF ([`Prepared::counted`]), or
/// when it drops.
#[must_use]
pub struct Prepared {
    pub name: StoredName,
    /// The bytes the GIF and its still take.
    pub bytes: u64,
    gif: NamedTempFile,
    still: NamedTempFile,
    held: Option<Reservation>,
}

impl Prepared {
    /// The database counts the GIF now (its row is in, and the store's count of what is stored was read since):
    /// its place among the reservations is given back, so that it is not counted twice.
    pub fn counted(&mut self) {
        self.held = None;
    }
}

/// A stored file as the store found it (for the sweep).
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub file: String,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// A stored file ready to be served from the local file system. Keep it until the file is opened: a cached copy
/// stays until then even if the cache lets it go.
pub struct Servable {
    pub path: PathBuf,
    /// Where it came from: `directory`, `cache` (this process's copy of the bucket's) or `bucket` (fetched now).
    pub from: &'static str,
    _cached: Option<Arc<objects::Cached>>,
}

impl UploadStore {
    /// Opens the store: the local directory (created if needed) and, for object storage, its client. Nothing is
    /// asked of the bucket yet (the readiness probe asks).
    pub fn open(dir: PathBuf, at: UploadsAt, space: StorageLimits) -> std::io::Result<UploadStore> {
        std::fs::create_dir_all(dir.join(INCOMING_DIR))?;
        let objects = match at {
            UploadsAt::Directory => None,
            UploadsAt::ObjectStorage(location) => Some(objects::Objects::open(location, &dir)?),
        };
        Ok(UploadStore {
            dir,
            objects,
            space,
            used: Arc::default(),
            reserved: Arc::default(),
            stall_ms: Arc::default(),
            naming_key: Arc::default(),
        })
    }

    /// Sets the key GIFs are named with (once: later calls change nothing).
    pub fn set_naming_key(&self, key: [u8; 32]) {
        let _ = self.naming_key.set(key);
    }

    /// Where stored GIFs are kept, for logs and errors: the directory, or `s3://bucket/prefix`.
    pub fn describe(&self) -> String {
        match &self.objects {
            Some(objects) => objects.describe(),
            None => self.dir.display().to_string(),
        }
    }

    /// Whether GIFs are kept in object storage (else in the uploads directory).
    pub fn in_object_storage(&self) -> bool {
        self.objects.is_some()
    }

    /// Bytes taken by stored GIFs.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Sets the bytes stored GIFs take, as the database counts them (at start, after each upload and removal,
    /// and by the sweep).
    pub fn set_used(&self, bytes: u64) {
        self.used.store(bytes, Ordering::Relaxed);
    }

    /// Makes every file system call of the store (on its blocking threads) wait `by` first, as a hung shared
    /// file system would: for the tests that text chat does not wait on it.
    #[cfg(any(test, feature = "testing"))]
    pub fn stall(&self, by: std::time::Duration) {
        self.stall_ms.store(by.as_millis() as u64, Ordering::Relaxed);
    }

    /// Where every file system call begins (blocking): see [`UploadStore::stall`].
    fn file_system(&self) {
        let stall = self.stall_ms.load(Ordering::Relaxed);
        if stall > 0 {
            std::thread::sleep(std::time::Duration::from_millis(stall));
        }
    }

    /// Bytes reserved by uploads admitted and not stored yet.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }

    /// Reserves `bytes` for an upload being admitted (its declared size, or the largest allowed): within the quota
    /// and above the free-space floor, counting every upload admitted before it that is not stored yet.
    pub async fn reserve(&self, bytes: u64) -> ServerResult<Reservation> {
        let store = self.clone();
        let free = off_the_workers("reading the free space", move || {
            store.file_system();
            Ok(free_space(&store.dir))
        })
        .await?;
        Ok(self.reserve_within(bytes, free)?)
    }

    /// Takes `bytes` of the quota at once, if they fit besides what is stored and reserved, and leave the disk
    /// (with `free` bytes free now) its floor.
    fn reserve_within(&self, bytes: u64, free: Option<u64>) -> Result<Reservation, AppError> {
        let reserved = self.reserved.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let reservation = Reservation { bytes, reserved: self.reserved.clone() };
        if self.used().saturating_add(reserved) > self.space.quota {
            return Err(AppError::StorageFull(QUOTA_REACHED.into()));
        }
        match free {
            Some(free) if free < self.space.min_free.saturating_add(reserved) => {
                tracing::warn!(free, floor = self.space.min_free, "refusing an upload: the disk is nearly full");
                Err(AppError::StorageFull(DISK_FULL.into()))
            }
            _ => Ok(reservation),
        }
    }

    /// A new temporary file for an arriving upload, removed when dropped (off the async workers).
    pub async fn incoming_file(&self) -> ServerResult<NamedTempFile> {
        let store = self.clone();
        off_the_workers("creating an upload file", move || store.incoming()).await
    }

    /// A new temporary file for an arriving upload; it is removed when dropped. (Blocking.)
    pub fn incoming(&self) -> ServerResult<NamedTempFile> {
        self.file_system();
        let incoming = self.dir.join(INCOMING_DIR);
        // Recreated if someone removed it while the server ran.
        std::fs::create_dir_all(&incoming).map_err(ServerError::io("creating the incoming directory"))?;
        tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(incoming)
            .map_err(ServerError::io("creating an upload file"))
    }

    /// Whether GIFs can be stored: a probe file is made in the incoming directory, written, and removed; and the
    /// bucket, if GIFs are kept in one, answers. At most `patience`.
    pub async fn probe(&self, patience: std::time::Duration) -> Result<(), String> {
        let store = self.clone();
        let local = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut probe = store.incoming()?;
            probe.write_all(b"probe").map_err(ServerError::io("writing a probe file"))
        });
        match tokio::time::timeout(patience, local).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "readiness: the uploads directory is not writable");
                return Err("the uploads directory is not writable".to_owned());
            }
            Ok(Err(error)) => return Err(format!("the uploads probe failed: {error}")),
            Err(_) => return Err(format!("the uploads directory did not answer within {patience:?}")),
        }
        match &self.objects {
            Some(objects) => objects.probe(patience).await,
            None => Ok(()),
        }
    }

    /// Names a validated, re-encoded GIF (`gif`, with its still) by its content and takes its place in the
    /// quota (the upload's reservation, `held`, turns into its exact size): atomically, so concurrent uploads
    /// cannot overshoot it together. (Blocking: it reads the GIF.)
    pub fn prepare(&self, gif: NamedTempFile, still: NamedTempFile, held: Reservation) -> ServerResult<Prepared> {
        let measure = |file: &NamedTempFile| {
            file.as_file().metadata().map(|metadata| metadata.len()).map_err(ServerError::io("measuring an upload"))
        };
        let key = self.naming_key.get().ok_or(AppError::UploadsUnavailable)?;
        self.file_system();
        let bytes = measure(&gif)? + measure(&still)?;
        let mut digest = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        let mut reader = std::io::BufReader::new(gif.reopen().map_err(ServerError::io("reading an upload"))?);
        let mut buffer = [0u8; 64 * 1024];
        loop {
            match reader.read(&mut buffer).map_err(ServerError::io("reading an upload"))? {
                0 => break,
                read => digest.update(&buffer[..read]),
            }
        }
        let name = StoredName::of_content(&digest.finalize().into_bytes());
        drop(held);
        let held = self.reserve_within(bytes, free_space(&self.dir))?;
        Ok(Prepared { name, bytes, gif, still, held: Some(held) })
    }

    /// Stores a prepared GIF and its still: their files in the directory, or their objects in the bucket (then
    /// also kept in the local cache, to be served from here at once). Storing a GIF that is there already (the same
    /// content) leaves it as it is, but for the time it was last stored (the sweep goes by it).
    pub async fn put(&self, prepared: Prepared) -> ServerResult<()> {
        let Prepared { name, gif, still, .. } = prepared;
        self.put_files(vec![(name.still(), still), (name.as_str().to_owned(), gif)]).await
    }

    /// Stores the video made of the stored GIF `name` (see `crate::video`), as [`UploadStore::put`] stores a GIF.
    pub async fn put_video(&self, name: &StoredName, video: NamedTempFile) -> ServerResult<()> {
        self.put_files(vec![(name.video(), video)]).await
    }

    /// Stores temporary files under their stored names, in this order.
    async fn put_files(&self, files: Vec<(String, NamedTempFile)>) -> ServerResult<()> {
        match &self.objects {
            Some(objects) => objects.put(files).await,
            None => {
                let store = self.clone();
                off_the_workers("storing an upload", move || {
                    store.file_system();
                    for (target, file) in files {
                        let path = store.dir.join(target);
                        match file.persist_noclobber(&path) {
                            Ok(_) => {}
                            // The same GIF, stored already (its content is its name): stored again now.
                            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => {
                                let stored = std::fs::File::options().write(true).open(&path);
                                stored
                                    .and_then(|stored| stored.set_modified(SystemTime::now()))
                                    .map_err(ServerError::io("storing an upload"))?;
                            }
                            Err(error) => return Err(ServerError::io("storing an upload")(error.error)),
                        }
                    }
                    Ok(())
                })
                .await
            }
        }
    }

    /// Where a stored GIF is in the uploads directory (GIFs stored there only).
    fn path_of(&self, name: &StoredName) -> Option<PathBuf> {
        self.objects.is_none().then(|| self.dir.join(name.as_str()))
    }

    /// Whether the stored GIF `name` is in the uploads directory without its still (a GIF stored before stills
    /// were made; object storage came later, so every GIF there has one). (Blocking.)
    pub fn lacks_still(&self, name: &StoredName) -> bool {
        self.path_of(name).is_some_and(|gif| gif.is_file() && !self.dir.join(name.still()).exists())
    }

    /// Makes the still of the stored GIF `name` with `make` (from the GIF's path, into a temporary file) and stores
    /// it beside it, unless one is there already (another request made it meanwhile). (Blocking.)
    pub fn store_still(
        &self,
        name: &StoredName,
        make: impl FnOnce(&Path, &std::fs::File) -> ServerResult<()>,
    ) -> ServerResult<()> {
        let Some(gif) = self.path_of(name) else { return Ok(()) };
        let still = self.incoming()?;
        make(&gif, still.as_file())?;
        match still.persist_noclobber(self.dir.join(name.still())) {
            Ok(_) => Ok(()),
            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(ServerError::io("storing a still")(error.error)),
        }
    }

    /// A stored file (a GIF or its still) to serve: from the directory, or from the local cache of the bucket
    /// (fetched into it first if need be). `None` if the store has no such file.
    pub async fn servable(&self, file: &str) -> ServerResult<Option<Servable>> {
        if owner_of(file).is_none() {
            return Ok(None);
        }
        match &self.objects {
            Some(objects) => Ok(objects.cached(file).await?.map(|(cached, fetched)| Servable {
                path: cached.path(),
                from: if fetched { "bucket" } else { "cache" },
                _cached: Some(cached),
            })),
            None => Ok(Some(Servable { path: self.dir.join(file), from: "directory", _cached: None })),
        }
    }

    /// Removes stored files by their names (a stored GIF's video, alone): whether every one went (or was not there).
    pub async fn remove_files(&self, files: impl IntoIterator<Item = String>) -> bool {
        self.remove_each(files, None).await
    }

    /// Removes stored GIFs (their files: the GIF, its still and its video), none after `deadline` if given: whether
    /// every file went (or was not there) in time.
    pub async fn remove(&self, names: impl IntoIterator<Item = StoredName>, deadline: Option<Instant>) -> bool {
        self.remove_each(names.into_iter().flat_map(|name| name.files()), deadline).await
    }

    async fn remove_each(&self, files: impl IntoIterator<Item = String>, deadline: Option<Instant>) -> bool {
        let mut all_gone = true;
        for file in files {
            let removal = async {
                match &self.objects {
                    Some(objects) => objects.delete(&file).await,
                    None => {
                        let path = self.dir.join(&file);
                        off_the_workers("removing a GIF", move || match std::fs::remove_file(path) {
                            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                                Err(ServerError::io("removing a GIF")(error))
                            }
                            _ => Ok(()),
                        })
                        .await
                    }
                }
            };
            let removed = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), removal).await {
                    Ok(removed) => removed,
                    Err(_) => return false,
                },
                None => removal.await,
            };
            if let Err(error) = removed {
                tracing::warn!(%error, file, "removing a stored GIF (the sweep will try again)");
                all_gone = false;
            }
        }
        all_gone
    }

    /// Every stored file (GIFs and stills; nothing else the place may hold), with its size and age.
    pub async fn list(&self) -> ServerResult<Vec<StoredFile>> {
        if let Some(objects) = &self.objects {
            return objects.list().await;
        }
        let store = self.clone();
        off_the_workers("listing the uploads directory", move || {
            store.file_system();
            let entries = std::fs::read_dir(&store.dir).map_err(ServerError::io("listing the uploads directory"))?;
            Ok(entries
                .flatten()
                .filter_map(|entry| {
                    let file = entry.file_name().to_string_lossy().into_owned();
                    owner_of(&file)?;
                    let metadata = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
                    Some(StoredFile { file, bytes: metadata.len(), modified: metadata.modified().ok()? })
                })
                .collect())
        })
        .await
    }

    /// Copies the stored file `file` to `to` (a backup): `Ok(false)` if the store has no such file.
    pub async fn copy_out(&self, file: &str, to: &Path) -> ServerResult<bool> {
        if let Some(objects) = &self.objects {
            return objects.download(file, to).await;
        }
        match tokio::fs::copy(self.dir.join(file), to).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(ServerError::io("copying a GIF out")(error)),
        }
    }

    /// Copies the file at `from` into the store as the stored file `file` (a restore, or a move into a bucket).
    pub async fn copy_in(&self, file: &str, from: &Path) -> ServerResult<()> {
        if let Some(objects) = &self.objects {
            return objects.upload(file, from).await;
        }
        let (from, to) = (from.to_owned(), self.dir.join(file));
        off_the_workers("copying a GIF in", move || {
            // Whole or not at all: copied beside it, then renamed into place.
            let temporary = tempfile::NamedTempFile::new_in(to.parent().expect("a stored file is in a directory"))
                .map_err(ServerError::io("copying a GIF in"))?;
            std::fs::copy(&from, temporary.path()).map_err(ServerError::io("copying a GIF in"))?;
            temporary.persist(&to).map_err(|error| ServerError::io("copying a GIF in")(error.error))?;
            Ok(())
        })
        .await
    }

    /// Looks for what a crash can leave: removes temporary files older than `cutoff`, and finds the stored files of
    /// GIFs the database does not record (`recorded`), of those last modified before `cutoff` (younger ones may be
    /// an upload in flight). Returns the stored files of recorded GIFs (for the caller to measure what was not
    /// measured yet) and the GIFs nothing records (for the caller to remove, once sure nothing claimed them since).
    pub async fn sweep(
        &self,
        recorded: &HashSet<String>,
        cutoff: SystemTime,
    ) -> ServerResult<(Vec<StoredFile>, HashSet<StoredName>)> {
        let incoming = self.dir.join(INCOMING_DIR);
        let debris = off_the_workers("sweeping the incoming directory", move || {
            for entry in std::fs::read_dir(&incoming).into_iter().flatten().flatten() {
                if entry.metadata().is_ok_and(|metadata| metadata.modified().is_ok_and(|at| at < cutoff)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            std::fs::create_dir_all(&incoming).map_err(ServerError::io("creating the incoming directory"))
        });
        debris.await?;
        let (mut kept, mut unrecorded) = (Vec::new(), std::collections::HashMap::new());
        for found in self.list().await? {
            let owner = owner_of(&found.file).expect("only stored files are listed");
            if recorded.contains(owner.as_str()) {
                kept.push(found);
            } else {
                // Old only if all its files are (a GIF and its still are stored together).
                let old = unrecorded.entry(owner).or_insert(true);
                *old &= found.modified < cutoff;
            }
        }
        let orphans = unrecorded.into_iter().filter(|(_, old)| *old).map(|(owner, _)| owner).collect();
        Ok((kept, orphans))
    }
}

/// Bytes an unprivileged process may still write on the file system holding `dir` (`None` if unknown).
pub fn free_space(dir: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(test)]
mod tests;
