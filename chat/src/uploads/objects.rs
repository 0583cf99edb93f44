//! GIFs in S3-compatible object storage, through Apache Arrow's `object_store` client: objects
//! `<prefix>gif/<name>` in one bucket, shared by every process of the chat. Credentials come from the environment
//! as every S3 client reads them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, …); the bucket,
//! prefix, endpoint and region from the uploads URL (see [`S3Location::parse`]).
//!
//! GIFs are served by the processes, never by the bucket (whose keys stay private; browsers do not cache
//! presigned redirects): each process keeps a local cache of the files it served or stored, bounded in bytes
//! (least recently used go first), so a popular GIF is fetched from the bucket once, whoever asks and however many
//! ask at once. Every request to the bucket has a deadline and few retries: a bucket that does not answer makes
//! uploads fail within seconds with "GIFs cannot be stored right now", while text chat and cached GIFs go on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use tokio::io::AsyncWriteExt;

use super::{NamedTempFile, StoredFile, owner_of};
use crate::error::{ServerError, ServerResult};

/// How long a request to the bucket may take, retries included, before the store counts as unreachable; a
/// request carrying a GIF has more time for its bytes (see [`patience_for`]).
const REQUEST_PATIENCE: Duration = Duration::from_secs(10);

/// The slowest transfer to or from the bucket that is waited for, in bytes per second (a GIF of 10 MiB: 20 s).
const TRANSFER_RATE: u64 = 1024 * 1024;

/// How long a request carrying `bytes` may take.
fn patience_for(bytes: u64) -> Duration {
    REQUEST_PATIENCE + Duration::from_secs(bytes / TRANSFER_RATE)
}

/// Where the local caches of the processes using an uploads directory keep their files: a directory each.
const CACHE_DIR: &str = ".cache";

/// The largest object the cache takes (a stored GIF is far smaller: this only bounds what a wrong object costs).
const LARGEST_OBJECT: u64 = 256 * 1024 * 1024;

/// A bucket and a prefix in it, with how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Prepended to every key: empty, or ending in `/`.
    pub prefix: String,
    /// The service's URL (`http://127.0.0.1:9000`, `https://s3.example.net`); `None`: AWS S3 itself.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The most bytes the local cache of GIFs served from the bucket may take.
    pub cache_bytes: u64,
    /// The credentials, if given (from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, as every S3 client reads
    /// them); else the client looks for them where AWS's own clients do (a session token, the instance's role…).
    pub keys: Option<S3Keys>,
}

/// An access key and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Keys {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Keys({}, secret hidden)", self.id)
    }
}

impl S3Location {
    /// Reads `s3://bucket[/prefix][?endpoint=URL&region=NAME]`.
    pub fn parse(url: &str, cache_bytes: u64) -> Result<S3Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an object storage URL: expected s3://bucket/prefix?endpoint=…"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!("{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '-' and '.')"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") {
            return Err(format!("the prefix {prefix:?} may not hold '.' or '..'"));
        }
        let mut location = S3Location {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            endpoint: None,
            region: None,
            cache_bytes,
            keys: None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "endpoint" if value.starts_with("http://") || value.starts_with("https://") => {
                    location.endpoint = Some(value.trim_end_matches('/').to_owned());
                }
                "endpoint" => return Err(format!("the endpoint {value:?} is not an http:// or https:// URL")),
                "region" => location.region = Some(value.into_owned()),
                other => return Err(format!("unknown object storage setting {other:?} (known: endpoint, region)")),
            }
        }
        Ok(location)
    }
}

/// The bucket, and this process's cache of it.
#[derive(Debug, Clone)]
pub(super) struct Objects {
    store: Arc<AmazonS3>,
    location: Arc<S3Location>,
    pub(super) cache: moka::future::Cache<String, Arc<Cached>>,
    cache_dir: Arc<CacheDir>,
}

/// This process's cache directory, `.cache/<id>/` in the uploads directory, which several processes may share:
/// each holds a lock on `.cache/<id>.lock` for as long as it runs, so the others can tell the directories of
/// processes that are gone (their lock is free) and remove them. Removed when dropped.
#[derive(Debug)]
struct CacheDir {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: std::fs::File,
}

/// Takes `lock` if nobody holds it (a process holds its own until it ends, even if killed): `Ok(false)` if someone
/// does; an error if the file system has no such locks.
fn try_lock(lock: &std::fs::File) -> std::io::Result<bool> {
    match rustix::fs::flock(lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

impl CacheDir {
    fn create(uploads_dir: &Path) -> std::io::Result<CacheDir> {
        use std::os::unix::fs::MetadataExt;
        let caches = uploads_dir.join(CACHE_DIR);
        std::fs::create_dir_all(&caches)?;
        Self::remove_stale(&caches)?;
        // Another id is tried only if a process starting at the same moment removed the first (see below).
        for _ in 0..8 {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let lock_path = caches.join(format!("{id}.lock"));
            let lock = std::fs::File::options().write(true).create_new(true).open(&lock_path)?;
            // Between its making and this, another process may have taken it for a dead one's and removed it:
            // then it is no longer at its path, and another id is tried.
            let same = |there: std::fs::Metadata| {
                lock.metadata().is_ok_and(|made| (made.dev(), made.ino()) == (there.dev(), there.ino()))
            };
            let locked = try_lock(&lock).inspect_err(|_| {
                let _ = std::fs::remove_file(&lock_path);
            })?;
            if !(locked && std::fs::metadata(&lock_path).is_ok_and(same)) {
                continue;
            }
            let path = caches.join(id);
            std::fs::create_dir(&path)?;
            return Ok(CacheDir { path, lock_path, _lock: lock });
        }
        Err(std::io::Error::other(format!("could not make a cache directory of its own in {}", caches.display())))
    }

    /// Removes the caches of processes that are gone: their lock is free (a directory without a lock is older
    /// than any start takes).
    fn remove_stale(caches: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(caches)?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|extension| extension == "lock") {
                if let Ok(lock) = std::fs::File::open(&path)
                    && try_lock(&lock)?
                {
                    // Held while both go: nobody takes this id meanwhile.
                    let _ = std::fs::remove_dir_all(path.with_extension(""));
                    let _ = std::fs::remove_file(&path);
                }
            } else if !path.with_extension("lock").exists()
                && let Ok(made) = entry.metadata().and_then(|metadata| metadata.modified())
                && made.elapsed().is_ok_and(|age| age > Duration::from_secs(600))
            {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
        Ok(())
    }
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// A file of the local cache: removed when the last one holding it lets go (the cache, or a response still
/// opening it).
#[derive(Debug)]
pub struct Cached {
    path: tempfile::TempPath,
    bytes: u64,
}

impl Cached {
    pub fn path(&self) -> PathBuf {
        self.path.to_path_buf()
    }
}

/// A failure to reach the bucket: uploads are unavailable (503), text chat is not concerned.
fn unreachable(context: &'static str) -> impl FnOnce(object_store::Error) -> ServerError {
    move |error| ServerError::Io { context, source: std::io::Error::other(error) }
}

fn timed_out(context: &'static str) -> ServerError {
    ServerError::Io { context, source: std::io::ErrorKind::TimedOut.into() }
}

impl Objects {
    pub(super) fn open(location: S3Location, uploads_dir: &Path) -> std::io::Result<Objects> {
        let mut client =
            // Each request has its own deadline (below); this only bounds one that would have none.
            ClientOptions::new().with_connect_timeout(Duration::from_secs(2)).with_timeout(Duration::from_secs(120));
        if location.endpoint.as_deref().is_some_and(|endpoint| endpoint.starts_with("http://")) {
            client = client.with_allow_http(true);
        }
        let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(4), ..RetryConfig::default() };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(endpoint) = &location.endpoint {
            // Path-style requests (`endpoint/bucket/key`): what every S3-compatible server answers.
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        if let Some(region) = &location.region {
            builder = builder.with_region(region);
        }
        if let Some(S3Keys { id, secret }) = &location.keys {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let store = builder.build().map_err(std::io::Error::other)?;
        let cache_dir = Arc::new(CacheDir::create(uploads_dir)?);
        let cache = moka::future::Cache::builder()
            .max_capacity(location.cache_bytes)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .weigher(|_file: &String, cached: &Arc<Cached>| u32::try_from(cached.bytes).unwrap_or(u32::MAX))
            .build();
        Ok(Objects { store: Arc::new(store), location: Arc::new(location), cache, cache_dir })
    }

    /// This process's cache directory.
    #[cfg(test)]
    pub(super) fn cache_path(&self) -> &Path {
        &self.cache_dir.path
    }

    pub(super) fn describe(&self) -> String {
        let S3Location { bucket, prefix, endpoint, .. } = &*self.location;
        let at = endpoint.as_deref().map(|endpoint| format!(" at {endpoint}")).unwrap_or_default();
        format!("s3://{bucket}/{prefix}{at}")
    }

    fn key(&self, file: &str) -> Key {
        Key::from(format!("{}gif/{file}", self.location.prefix))
    }

    /// Whether the bucket answers (and accepts our credentials): a look for an object that is never there.
    pub(super) async fn probe(&self, patience: Duration) -> Result<(), String> {
        match tokio::time::timeout(patience, self.store.head(&self.key("probe"))).await {
            Ok(Ok(_) | Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "readiness: the uploads bucket does not answer");
                Err(format!("the uploads bucket {} does not answer", self.describe()))
            }
            Err(_) => Err(format!("the uploads bucket did not answer within {patience:?}")),
        }
    }

    /// Stores a GIF and its still (the still first: a GIF is never there without it), then keeps both in the
    /// cache: whoever is shown the GIF next is served from here.
    pub(super) async fn put(&self, files: Vec<(String, NamedTempFile)>) -> ServerResult<()> {
        for (file, temporary) in files {
            let contents = super::off_the_workers("reading an upload", {
                let path = temporary.path().to_owned();
                move || std::fs::read(path).map_err(ServerError::io("reading an upload"))
            })
            .await?;
            let bytes = contents.len() as u64;
            let key = self.key(&file);
            let put = self.store.put(&key, PutPayload::from(contents));
            tokio::time::timeout(patience_for(bytes), put)
                .await
                .map_err(|_| timed_out("storing a GIF in the bucket"))?
                .map_err(unreachable("storing a GIF in the bucket"))?;
            // Into the cache, under a name of its own (the one it had may be cached still, on its way out).
            let cached = self.cache_dir.path.join(uuid::Uuid::new_v4().simple().to_string());
            let kept = temporary.persist(&cached).map_err(|error| error.error);
            match kept.and_then(|_| tempfile::TempPath::try_from_path(cached)) {
                Ok(path) => self.cache.insert(file, Arc::new(Cached { path, bytes })).await,
                Err(error) => tracing::warn!(%error, "keeping a stored GIF in the cache"),
            }
        }
        Ok(())
    }

    /// The cached copy of a stored file, fetched from the bucket first if this process has none (once, however
    /// many ask at once), and whether this call fetched it. `None` if the bucket has no such object.
    pub(super) async fn cached(&self, file: &str) -> ServerResult<Option<(Arc<Cached>, bool)>> {
        let fetched = std::sync::atomic::AtomicBool::new(false);
        let fetch = async {
            fetched.store(true, std::sync::atomic::Ordering::Relaxed);
            self.fetch(file).await
        };
        match self.cache.try_get_with(file.to_owned(), fetch).await {
            Ok(cached) => Ok(Some((cached, fetched.load(std::sync::atomic::Ordering::Relaxed)))),
            Err(error) => match &*error {
                Fetch::Missing => Ok(None),
                Fetch::Failed(context, source) => {
                    Err(ServerError::Io { context, source: std::io::Error::new(source.kind(), source.to_string()) })
                }
            },
        }
    }

    /// Fetches an object into a new file of the cache.
    async fn fetch(&self, file: &str) -> Result<Arc<Cached>, Fetch> {
        let cache = &self.cache_dir.path;
        // Made again if someone removed it while the server ran.
        let temporary = tempfile::Builder::new()
            .tempfile_in(cache)
            .or_else(|_| std::fs::create_dir_all(cache).and_then(|()| tempfile::Builder::new().tempfile_in(cache)))
            .map_err(|error| Fetch::Failed("fetching a GIF from the bucket", error))?;
        let (local, path) = temporary.into_parts();
        let bytes = self.fetch_into(file, tokio::fs::File::from_std(local)).await?;
        Ok(Arc::new(Cached { path, bytes }))
    }

    /// Fetches an object into `local`, streamed, with a deadline for the answer and one for its bytes: the bytes
    /// it has.
    async fn fetch_into(&self, file: &str, mut local: tokio::fs::File) -> Result<u64, Fetch> {
        const CONTEXT: &str = "fetching a GIF from the bucket";
        let failed = |source: std::io::Error| Fetch::Failed(CONTEXT, source);
        let timed_out = || failed(std::io::ErrorKind::TimedOut.into());
        let found = match tokio::time::timeout(REQUEST_PATIENCE, self.store.get(&self.key(file))).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(found)) => found,
            Ok(Err(object_store::Error::NotFound { .. })) => return Err(Fetch::Missing),
            Ok(Err(error)) => return Err(failed(std::io::Error::other(error))),
        };
        let size = found.meta.size;
        if size > LARGEST_OBJECT {
            return Err(failed(std::io::Error::other(format!("{file} is {size} bytes"))));
        }
        let fetch = async {
            let mut bytes = 0;
            let mut chunks = found.into_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|error| failed(std::io::Error::other(error)))?;
                bytes += chunk.len() as u64;
                local.write_all(&chunk).await.map_err(failed)?;
            }
            local.flush().await.map_err(failed)?;
            Ok(bytes)
        };
        tokio::time::timeout(patience_for(size), fetch).await.unwrap_or_else(|_| Err(timed_out()))
    }

    /// Removes an object (and its cached copy). An object that is not there is not an error.
    pub(super) async fn delete(&self, file: &str) -> ServerResult<()> {
        self.cache.invalidate(file).await;
        match tokio::time::timeout(REQUEST_PATIENCE, self.store.delete(&self.key(file))).await {
            Ok(Ok(()) | Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(error)) => Err(unreachable("removing a GIF from the bucket")(error)),
            Err(_) => Err(timed_out("removing a GIF from the bucket")),
        }
    }

    /// Every stored file under the prefix (listed page by page; only the sweep and the backup ask).
    pub(super) async fn list(&self) -> ServerResult<Vec<StoredFile>> {
        const CONTEXT: &str = "listing the bucket";
        let prefix = Key::from(format!("{}gif", self.location.prefix));
        let listing = async {
            let mut found = Vec::new();
            let mut objects = self.store.list(Some(&prefix));
            while let Some(object) = objects.next().await {
                let object = object.map_err(unreachable(CONTEXT))?;
                let Some(file) = object.location.filename().filter(|file| owner_of(file).is_some()) else { continue };
                let modified = SystemTime::from(object.last_modified);
                found.push(StoredFile { file: file.to_owned(), bytes: object.size, modified });
            }
            Ok(found)
        };
        // A listing takes a request per thousand objects: its patience grows with them, but not forever.
        tokio::time::timeout(REQUEST_PATIENCE * 30, listing).await.map_err(|_| timed_out(CONTEXT))?
    }

    /// Copies a stored file out of the bucket into the new file `to` (a backup). `Ok(false)` if the bucket has no
    /// such object.
    pub(super) async fn download(&self, file: &str, to: &Path) -> ServerResult<bool> {
        let local = tokio::fs::File::create(to).await.map_err(ServerError::io("copying a GIF out"))?;
        match self.fetch_into(file, local).await {
            Ok(_) => Ok(true),
            Err(Fetch::Missing) => Ok(false),
            Err(Fetch::Failed(context, source)) => Err(ServerError::Io { context, source }),
        }
    }

    /// Copies a file into the bucket as the stored file `file` (a restore, or a move from a directory).
    pub(super) async fn upload(&self, file: &str, from: &Path) -> ServerResult<()> {
        let contents = tokio::fs::read(from).await.map_err(ServerError::io("reading a GIF to copy in"))?;
        let (key, bytes) = (self.key(file), contents.len() as u64);
        let put = self.store.put(&key, PutPayload::from(contents));
        tokio::time::timeout(patience_for(bytes), put)
            .await
            .map_err(|_| timed_out("copying a GIF into the bucket"))?
            .map_err(unreachable("copying a GIF into the bucket"))?;
        Ok(())
    }
}

/// Why an object is not in the cache (errors are shared by everyone who waited for the same fetch).
#[derive(Debug)]
enum Fetch {
    Missing,
    Failed(&'static str, std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::S3Location;

    #[test]
    fn object_storage_urls_name_a_bucket_a_prefix_and_where_to_reach_it() {
        let location = S3Location::parse("s3://gifs/chat/one?endpoint=http://127.0.0.1:9000/&region=eu-1", 5).unwrap();
        assert_eq!(location.bucket, "gifs");
        assert_eq!(location.prefix, "chat/one/");
        assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(location.region.as_deref(), Some("eu-1"));
        assert_eq!(S3Location::parse("s3://gifs", 5).unwrap().prefix, "");
        for bad in
            ["gifs/chat", "s3://Gifs", "s3://g", "s3://gifs/../x", "s3://gifs?endpoint=ftp://x", "s3://gifs?secret=x"]
        {
            assert!(S3Location::parse(bad, 5).is_err(), "{bad} was accepted");
        }
    }
}
