//! The store of uploaded GIFs: owns the uploads directory from end to end. Files arrive as temporary files in
//! `.incoming/` (on the same file system, so storing one is an atomic rename), are stored under a fresh random
//! name, are served by name, and go when their room goes. A stored file exists exactly when a message row
//! points at it; the start-up sweep removes what a crash left behind.

use std::collections::HashSet;
use std::path::PathBuf;

use tempfile::NamedTempFile;

use crate::server::error::{ServerError, ServerResult};

/// Where uploads are written before they are validated. Never served: served names are plain `<hex>.gif`.
const INCOMING_DIR: &str = ".incoming";

#[derive(Debug, Clone)]
pub struct UploadStore {
    dir: PathBuf,
}

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
}

/// The URL path a stored GIF of this name is served at.
pub fn url_of(name: &str) -> String {
    format!("/gif/{name}")
}

/// A stored file that is removed again when dropped, unless [`Stored::keep`] says a row now points at it.
#[must_use]
pub struct Stored {
    path: Option<PathBuf>,
    pub name: StoredName,
}

impl Stored {
    pub fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl UploadStore {
    /// Opens the store, creating the directory if needed.
    pub fn open(dir: PathBuf) -> std::io::Result<UploadStore> {
        std::fs::create_dir_all(dir.join(INCOMING_DIR))?;
        Ok(UploadStore { dir })
    }

    /// A new temporary file for an arriving upload; it is removed when dropped.
    pub fn incoming(&self) -> ServerResult<NamedTempFile> {
        let incoming = self.dir.join(INCOMING_DIR);
        // Recreated if someone removed it while the server ran.
        std::fs::create_dir_all(&incoming).map_err(ServerError::io("creating the incoming directory"))?;
        tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(incoming)
            .map_err(ServerError::io("creating an upload file"))
    }

    /// Stores a finished temporary file under a fresh name (an atomic rename).
    pub fn store(&self, file: NamedTempFile) -> ServerResult<Stored> {
        let name = StoredName::fresh();
        let path = self.dir.join(name.as_str());
        file.persist(&path).map_err(|error| ServerError::io("storing an upload")(error.error))?;
        Ok(Stored { path: Some(path), name })
    }

    /// Where a stored GIF is on disk.
    pub fn path_of(&self, name: &StoredName) -> PathBuf {
        self.dir.join(name.as_str())
    }

    /// Removes the files of a deleted room's GIFs.
    pub async fn remove(&self, names: impl IntoIterator<Item = String>) {
        for name in names {
            let Some(name) = StoredName::parse(&name) else { continue };
            let path = self.path_of(&name);
            if let Err(error) = tokio::fs::remove_file(&path).await
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(%error, path = %path.display(), "deleting a removed room's GIF");
            }
        }
    }

    /// Removes what a crash can leave: temporary files, and GIFs no message points at (`referenced`).
    /// Returns how many stored GIFs went.
    pub async fn sweep(&self, referenced: HashSet<String>) -> usize {
        let _ = tokio::fs::remove_dir_all(self.dir.join(INCOMING_DIR)).await;
        let _ = tokio::fs::create_dir_all(self.dir.join(INCOMING_DIR)).await;
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else { return 0 };
        let mut removed = 0;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = StoredName::parse(&name).is_some() && !referenced.contains(&name);
            if orphan && tokio::fs::remove_file(entry.path()).await.is_ok() {
                removed += 1;
            }
        }
        removed
    }
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
        }
    }

    #[tokio::test]
    async fn a_stored_file_goes_unless_kept_and_the_sweep_removes_orphans_and_debris() {
        let dir = tempfile::tempdir().unwrap();
        let store = UploadStore::open(dir.path().to_owned()).unwrap();
        let dropped = store.store(store.incoming().unwrap()).unwrap();
        let dropped_path = store.path_of(&dropped.name);
        assert!(dropped_path.exists());
        drop(dropped);
        assert!(!dropped_path.exists(), "an unkept file is removed");

        let kept = store.store(store.incoming().unwrap()).unwrap();
        let kept_name = kept.name.clone();
        kept.keep();
        let orphan = store.store(store.incoming().unwrap()).unwrap();
        let orphan_name = orphan.name.clone();
        orphan.keep();
        let debris = store.incoming().unwrap().keep().unwrap().1;

        let removed = store.sweep(HashSet::from([kept_name.as_str().to_owned()])).await;
        assert_eq!(removed, 1);
        assert!(store.path_of(&kept_name).exists());
        assert!(!store.path_of(&orphan_name).exists());
        assert!(!debris.exists());
    }
}
