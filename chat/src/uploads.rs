//! The store of uploaded GIFs: owns the uploads directory from end to end. Files arrive as temporary files in
//! `.incoming/` (on the same file system, so storing one is an atomic rename), are stored under a fresh random
//! name, are served by name, and go when their room goes. A stored file exists exactly when a message row
//! points at it; a sweep (at start-up, then every few minutes) removes what a crash left behind.
//!
//! Several server processes may share the directory (one chat on several machines, with a shared file system):
//! the sweep then must not take another process's upload in flight, so it only removes files older than any
//! upload takes.
//!
//! The disk cannot be filled through it: stored GIFs may take at most a quota in all, and an upload is refused
//! when the file system's free space would fall below a floor (507, "storage full"; nothing is left behind). An
//! upload reserves its size when it is admitted, before a byte of it is read: uploads still arriving count against
//! both, so a few slow ones cannot be admitted together into space only one of them has.
//!
//! The file system is never waited on from an async worker: a stalled one (a shared mount that hangs) must not
//! freeze text chat. The calls that may block run on blocking threads, and the async side waits for them at most
//! [`FILE_PATIENCE`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

pub use tempfile::NamedTempFile;

use crate::error::{ServerError, ServerResult};
use protocol::error::AppError;
pub use protocol::model::still_of;

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

#[derive(Debug, Clone)]
pub struct UploadStore {
    dir: PathBuf,
    space: StorageLimits,
    /// Bytes taken by stored GIFs (counted at start, then kept up to date by storing and removing).
    used: Arc<AtomicU64>,
    /// Bytes reserved by uploads admitted and not yet stored (see [`Reservation`]).
    reserved: Arc<AtomicU64>,
    /// How long each file system call waits first, in ms: zero, except in the tests of a file system that hangs
    /// (see [`UploadStore::stall`]).
    stall_ms: Arc<AtomicU64>,
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
        give_back(&self.reserved, self.bytes);
    }
}

/// How much of the disk uploads may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLimits {
    /// The most all stored GIFs together may take, in bytes.
    pub quota: u64,
    /// Free space the file system keeps, in bytes: no upload may take it below this.
    pub min_free: u64,
}

const QUOTA_REACHED: &str = "gif-chat has no room left for more GIFs right now. Text still works.";
const DISK_FULL: &str = "The server's disk is nearly full, so GIFs cannot be stored right now. Text still works.";

/// A stored GIF's file name: 32 lowercase hex digits and `.gif`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredName(String);

impl StoredName {
    fn fresh() -> StoredName {
        StoredName(format!("{}.gif", uuid::Uuid::new_v4().simple()))
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
}

/// The stored GIF a file of the uploads directory belongs to: itself, or the GIF a still is of. `None` for
/// anything else (temporary files, strangers), which is never served.
pub fn owner_of(file: &str) -> Option<StoredName> {
    match file.strip_suffix(".still.gif") {
        Some(stem) => StoredName::parse(&format!("{stem}.gif")),
        None => StoredName::parse(file),
    }
}

/// The URL path a stored GIF of this name is served at.
pub fn url_of(name: &str) -> String {
    format!("/gif/{name}")
}

/// A stored file that is removed again when dropped (giving its bytes back to the quota), unless
/// [`Stored::keep`] says a row now points at it.
#[must_use]
pub struct Stored {
    /// The GIF's file and its still's, with their sizes.
    files: Vec<(PathBuf, u64)>,
    pub name: StoredName,
    used: Arc<AtomicU64>,
}

impl Stored {
    pub fn keep(mut self) {
        self.files.clear();
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        for (path, size) in self.files.drain(..) {
            if std::fs::remove_file(path).is_ok() {
                give_back(&self.used, size);
            }
        }
    }
}

/// Takes `bytes` off the count of stored bytes, never below zero (a sweep may have recounted them meanwhile).
fn give_back(used: &AtomicU64, bytes: u64) {
    let _ = used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| Some(used.saturating_sub(bytes)));
}

/// Bytes the stored GIFs in `dir` take.
fn stored_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|entry| owner_of(&entry.file_name().to_string_lossy()).is_some())
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

impl UploadStore {
    /// Opens the store, creating the directory if needed, and counts what it holds.
    pub fn open(dir: PathBuf, space: StorageLimits) -> std::io::Result<UploadStore> {
        std::fs::create_dir_all(dir.join(INCOMING_DIR))?;
        let used = Arc::new(AtomicU64::new(stored_bytes(&dir)));
        Ok(UploadStore { dir, space, used, reserved: Arc::default(), stall_ms: Arc::default() })
    }

    /// Bytes taken by stored GIFs.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
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
        let reserved = self.reserved.fetch_add(bytes, Ordering::AcqRel) + bytes;
        let reservation = Reservation { bytes, reserved: self.reserved.clone() };
        self.room_for(reserved, free)?;
        Ok(reservation)
    }

    /// Whether `pending` bytes (reservations, and what is being stored) fit besides what is stored: within the
    /// quota, and leaving the disk (with `free` bytes free now) its floor.
    fn room_for(&self, pending: u64, free: Option<u64>) -> Result<(), AppError> {
        if self.used().saturating_add(pending) > self.space.quota {
            return Err(AppError::StorageFull(QUOTA_REACHED.into()));
        }
        match free {
            Some(free) if free < self.space.min_free.saturating_add(pending) => {
                tracing::warn!(free, floor = self.space.min_free, "refusing an upload: the disk is nearly full");
                Err(AppError::StorageFull(DISK_FULL.into()))
            }
            _ => Ok(()),
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

    /// Whether uploads can be written: a probe file is made in the incoming directory, written, and removed.
    pub fn probe_writable(&self) -> ServerResult<()> {
        use std::io::Write;
        let mut probe = self.incoming()?;
        probe.write_all(b"probe").map_err(ServerError::io("writing a probe file"))
    }

    /// Stores a finished temporary file and its still under a fresh name (each an atomic rename), if their
    /// size fits besides the other uploads' reservations (the upload's own, `held`, turns into what it stores):
    /// the quota is taken atomically, so concurrent uploads cannot overshoot it together. (Blocking.)
    pub fn store(&self, file: NamedTempFile, still: NamedTempFile, held: Reservation) -> ServerResult<Stored> {
        let measure = |file: &NamedTempFile| {
            file.as_file().metadata().map(|metadata| metadata.len()).map_err(ServerError::io("measuring an upload"))
        };
        self.file_system();
        let (gif_size, still_size) = (measure(&file)?, measure(&still)?);
        let size = gif_size + still_size;
        drop(held);
        self.room_for(self.reserved.load(Ordering::Acquire).saturating_add(size), free_space(&self.dir))?;
        let quota = self.space.quota;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(size).filter(|total| *total <= quota)
            })
            .map_err(|_| AppError::StorageFull(QUOTA_REACHED.into()))?;
        let name = StoredName::fresh();
        // From here the guard owns the reservation: what is not stored is given back when it drops.
        let mut stored = Stored { files: Vec::new(), name, used: self.used.clone() };
        let mut unstored = size;
        for (file, target, file_size) in
            [(still, stored.name.still(), still_size), (file, stored.name.as_str().to_owned(), gif_size)]
        {
            let path = self.dir.join(target);
            if let Err(error) = file.persist(&path) {
                give_back(&self.used, unstored);
                return Err(ServerError::io("storing an upload")(error.error));
            }
            unstored -= file_size;
            stored.files.push((path, file_size));
        }
        Ok(stored)
    }

    /// Where a stored GIF is on disk.
    pub fn path_of(&self, name: &StoredName) -> PathBuf {
        self.dir.join(name.as_str())
    }

    /// Where the still of a stored GIF is on disk.
    pub fn still_path(&self, name: &StoredName) -> PathBuf {
        self.dir.join(name.still())
    }

    /// Where a file the uploads directory serves (a stored GIF or its still) is on disk.
    pub fn served_path(&self, file: &str) -> Option<PathBuf> {
        owner_of(file).map(|_| self.dir.join(file))
    }

    /// Stores `still` as the still of the stored GIF `name`, unless one is there already (counted in the quota,
    /// but never refused for it: it is a small part of a GIF already stored).
    pub fn store_still(&self, name: &StoredName, still: NamedTempFile) -> ServerResult<()> {
        let size = still.as_file().metadata().map_err(ServerError::io("measuring a still"))?.len();
        match still.persist_noclobber(self.dir.join(name.still())) {
            Ok(_) => {
                self.used.fetch_add(size, Ordering::Relaxed);
                Ok(())
            }
            // Another request made it meanwhile.
            Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(ServerError::io("storing a still")(error.error)),
        }
    }

    /// Removes the files of a deleted room's GIFs.
    pub async fn remove(&self, names: impl IntoIterator<Item = String>) {
        for name in names {
            let Some(name) = StoredName::parse(&name) else { continue };
            for path in [self.path_of(&name), self.dir.join(name.still())] {
                let size = tokio::fs::metadata(&path).await.map(|metadata| metadata.len()).unwrap_or(0);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => give_back(&self.used, size),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => tracing::warn!(%error, path = %path.display(), "deleting a removed room's GIF"),
                }
            }
        }
    }

    /// Removes what a crash can leave: temporary files, and GIFs no message points at (`referenced`), of those
    /// last modified before `cutoff` (younger ones may be another process's upload in flight). Returns how many
    /// stored GIFs went.
    pub async fn sweep(&self, referenced: HashSet<String>, cutoff: SystemTime) -> usize {
        let old = |metadata: &std::fs::Metadata| metadata.modified().is_ok_and(|modified| modified < cutoff);
        let incoming = self.dir.join(INCOMING_DIR);
        if let Ok(mut entries) = tokio::fs::read_dir(&incoming).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                if entry.metadata().await.is_ok_and(|metadata| old(&metadata)) {
                    let _ = tokio::fs::remove_file(entry.path()).await;
                }
            }
        }
        let _ = tokio::fs::create_dir_all(&incoming).await;
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else { return 0 };
        let mut removed = 0;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            // A still goes with its GIF.
            let orphan = owner_of(&name).is_some_and(|owner| !referenced.contains(owner.as_str()));
            if orphan
                && entry.metadata().await.is_ok_and(|metadata| old(&metadata))
                && tokio::fs::remove_file(entry.path()).await.is_ok()
            {
                // Counted once per GIF, not again for its still.
                removed += usize::from(StoredName::parse(&name).is_some());
            }
        }
        self.used.store(stored_bytes(&self.dir), Ordering::Relaxed);
        removed
    }
}

/// Bytes an unprivileged process may still write on the file system holding `dir` (`None` if unknown).
pub fn free_space(dir: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_stored_names_are_served() {
        assert!(StoredName::parse("0123456789abcdef0123456789abcdef.gif").is_some());
        for bad in [
            "../secret.gif",
            "0123456789abcdef0123456789abcdef.GIF",
            ".incoming/0123456789abcdef0123456789abcdef.gif",
            "0123456789abcdef0123456789abcdeg.gif",
            "x.gif",
            "0123456789abcdef0123456789abcdef.gif.clean",
        ] {
            assert!(StoredName::parse(bad).is_none(), "{bad} would be served");
            assert!(owner_of(bad).is_none(), "{bad} would be served");
        }
        let still = "0123456789abcdef0123456789abcdef.still.gif";
        assert_eq!(owner_of(still).unwrap().as_str(), "0123456789abcdef0123456789abcdef.gif");
        assert_eq!(still_of("0123456789abcdef0123456789abcdef.gif"), still);
        assert!(owner_of("../x.still.gif").is_none() && owner_of(".still.gif").is_none());
    }

    #[tokio::test]
    async fn uploads_admitted_hold_their_place_in_the_quota_until_stored_or_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::open(dir.path().to_owned(), StorageLimits { quota: 100, min_free: 0 }).unwrap();
        let first = store.reserve(60).await.unwrap();
        assert!(store.reserve(60).await.is_err(), "two uploads of 60 bytes are admitted into a quota of 100");
        assert_eq!(store.reserved(), 60, "a refused reservation holds nothing");
        drop(first);
        let second = store.reserve(60).await.unwrap();
        // Stored, the reservation turns into what it stored (a few bytes here).
        let stored = store.store(store.incoming().unwrap(), store.incoming().unwrap(), second).unwrap();
        assert_eq!((store.reserved(), store.used()), (0, 0));
        stored.keep();
    }

    #[tokio::test]
    async fn a_stored_file_goes_unless_kept_and_the_sweep_removes_orphans_and_debris() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::open(dir.path().to_owned(), StorageLimits { quota: u64::MAX, min_free: 0 }).unwrap();
        let nothing = || Reservation { bytes: 0, reserved: store.reserved.clone() };
        let stored = || store.store(store.incoming().unwrap(), store.incoming().unwrap(), nothing()).unwrap();
        let dropped = stored();
        let (dropped_path, dropped_still) = (store.path_of(&dropped.name), dir.path().join(dropped.name.still()));
        assert!(dropped_path.exists() && dropped_still.exists());
        drop(dropped);
        assert!(!dropped_path.exists() && !dropped_still.exists(), "an unkept file and its still are removed");

        let kept = stored();
        let kept_name = kept.name.clone();
        kept.keep();
        let orphan = stored();
        let orphan_name = orphan.name.clone();
        orphan.keep();
        let debris = store.incoming().unwrap().keep().unwrap().1;
        let referenced = || HashSet::from([kept_name.as_str().to_owned()]);

        // Files younger than the cutoff may be another process's upload in flight: they stay.
        let a_minute_ago = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(store.sweep(referenced(), a_minute_ago).await, 0);
        assert!(store.path_of(&orphan_name).exists() && debris.exists());

        let removed = store.sweep(referenced(), SystemTime::now() + std::time::Duration::from_secs(1)).await;
        assert_eq!(removed, 1);
        assert!(store.path_of(&kept_name).exists() && dir.path().join(kept_name.still()).exists());
        assert!(!store.path_of(&orphan_name).exists() && !dir.path().join(orphan_name.still()).exists());
        assert!(!debris.exists());

        // A removed room's GIF goes with its still.
        store.remove([kept_name.as_str().to_owned()]).await;
        assert!(!store.path_of(&kept_name).exists() && !dir.path().join(kept_name.still()).exists());
        assert_eq!(store.used(), 0);
    }
}
