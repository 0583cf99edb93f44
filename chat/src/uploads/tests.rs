//! The store on both of its places: a directory, and a real S3 server (s3s-fs, checking every signature) on
//! 127.0.0.1:0.

use std::io::Write;
use std::time::Duration;

use super::*;

const EVERYTHING: StorageLimits = StorageLimits { quota: u64::MAX, min_free: 0 };

/// A store of one kind, with what it needs kept alive (its directories, its S3 server).
struct Place {
    store: UploadStore,
    /// The S3 server, with object storage (stop it by dropping it).
    s3: Option<s3_server::S3Server>,
    _dirs: Vec<tempfile::TempDir>,
}

fn s3_location(endpoint: String, keys: S3Keys) -> S3Location {
    let mut location = S3Location::parse(&format!("s3://gifs/chat?endpoint={endpoint}"), 1 << 20).unwrap();
    location.keys = Some(keys);
    location
}

fn test_keys() -> S3Keys {
    S3Keys { id: s3_server::ACCESS_KEY.into(), secret: s3_server::SECRET_KEY.into() }
}

async fn directory(space: StorageLimits) -> Place {
    let dir = tempfile::tempdir().unwrap();
    let store = UploadStore::open(dir.path().join("uploads"), UploadsAt::Directory, space).unwrap();
    store.set_naming_key([7; 32]);
    Place { store, s3: None, _dirs: vec![dir] }
}

async fn object_storage(space: StorageLimits) -> Place {
    let (local, objects) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s3 = s3_server::start(listener, objects.path(), &["gifs"]).unwrap();
    let at = UploadsAt::ObjectStorage(s3_location(s3.endpoint(), test_keys()));
    let store = UploadStore::open(local.path().join("uploads"), at, space).unwrap();
    store.set_naming_key([7; 32]);
    Place { store, s3: Some(s3), _dirs: vec![local, objects] }
}

async fn both(space: StorageLimits) -> [Place; 2] {
    [directory(space).await, object_storage(space).await]
}

/// A temporary file of the store's with these contents (a GIF's or a still's, as far as the store can tell).
fn file(store: &UploadStore, contents: &[u8]) -> NamedTempFile {
    let mut file = store.incoming().unwrap();
    file.write_all(contents).unwrap();
    file
}

async fn stored(store: &UploadStore, contents: &[u8]) -> StoredName {
    let held = store.reserve(0).await.unwrap();
    let prepared = store.prepare(file(store, contents), file(store, b"still"), held).unwrap();
    let name = prepared.name.clone();
    store.put(prepared).await.unwrap();
    name
}

async fn served(store: &UploadStore, file: &str) -> Option<Vec<u8>> {
    let servable = store.servable(file).await.unwrap()?;
    std::fs::read(&servable.path).ok()
}

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
    for Place { store, .. } in both(StorageLimits { quota: 100, min_free: 0 }).await {
        let first = store.reserve(60).await.unwrap();
        assert!(store.reserve(60).await.is_err(), "two uploads of 60 bytes are admitted into a quota of 100");
        assert_eq!(store.reserved(), 60, "a refused reservation holds nothing");
        drop(first);
        let second = store.reserve(60).await.unwrap();
        // Prepared, the reservation turns into the GIF's size; once the database counts it, it is given back.
        let mut prepared = store.prepare(file(&store, b"GIF89a"), file(&store, b"still"), second).unwrap();
        assert_eq!((prepared.bytes, store.reserved()), (11, 11));
        store.set_used(90);
        assert!(store.reserve(0).await.is_err(), "the prepared GIF's 11 bytes fit no longer besides 90 stored");
        store.set_used(11);
        prepared.counted();
        assert_eq!(store.reserved(), 0, "counted twice");
        store.put(prepared).await.unwrap();
        assert_eq!((store.reserved(), store.used()), (0, 11));
    }
}

#[tokio::test]
async fn a_gif_is_named_by_its_content_stored_once_served_listed_and_removed_with_its_still() {
    for Place { store, _dirs, .. } in both(EVERYTHING).await {
        let place = store.describe();
        let name = stored(&store, b"GIF89a one").await;
        assert_eq!(stored(&store, b"GIF89a one").await, name, "{place}: the same GIF, stored again, has one name");
        let other = stored(&store, b"GIF89a two").await;
        assert_ne!(other, name);
        assert_eq!(served(&store, name.as_str()).await.as_deref(), Some(&b"GIF89a one"[..]), "{place}");
        assert_eq!(served(&store, &name.still()).await.as_deref(), Some(&b"still"[..]), "{place}");
        assert!(store.servable("../gif-chat.db").await.unwrap().is_none(), "{place}: a stranger's name is served");

        let mut listed: Vec<(String, u64)> =
            store.list().await.unwrap().into_iter().map(|found| (found.file, found.bytes)).collect();
        listed.sort();
        let mut expected = vec![
            (name.as_str().to_owned(), 10),
            (name.still(), 5),
            (other.as_str().to_owned(), 10),
            (other.still(), 5),
        ];
        expected.sort();
        assert_eq!(listed, expected, "{place}: only stored files are listed (no temporary or cached ones)");

        store.remove([name.clone()], None).await;
        assert!(served(&store, name.as_str()).await.is_none(), "{place}: a removed GIF is still served");
        assert!(served(&store, &name.still()).await.is_none(), "{place}: a removed GIF's still is still served");
        assert_eq!(store.list().await.unwrap().len(), 2, "{place}");
        // Removing what is not there is no failure.
        store.remove([name], None).await;
    }
}

#[tokio::test]
async fn the_sweep_removes_unrecorded_files_and_debris_once_they_are_old_enough() {
    for Place { store, _dirs, .. } in both(EVERYTHING).await {
        let place = store.describe();
        let kept = stored(&store, b"GIF89a kept").await;
        let orphan = stored(&store, b"GIF89a orphan").await;
        let debris = store.incoming().unwrap().keep().unwrap().1;
        let recorded = HashSet::from([kept.as_str().to_owned()]);

        // Files younger than the cutoff may be another process's upload in flight: they are not named.
        let a_minute_ago = SystemTime::now() - Duration::from_secs(60);
        let (found, orphans) = store.sweep(&recorded, a_minute_ago).await.unwrap();
        assert_eq!((found.len(), orphans.len()), (2, 0), "{place}");
        assert!(debris.exists(), "{place}");

        let (found, orphans) = store.sweep(&recorded, SystemTime::now() + Duration::from_secs(5)).await.unwrap();
        assert_eq!(found.len(), 2, "{place}: the kept GIF and its still are found");
        assert_eq!(orphans, HashSet::from([orphan]), "{place}");
        assert!(!debris.exists(), "{place}: an old temporary file stays");
    }
}

#[tokio::test]
async fn cached_gifs_are_served_while_the_bucket_is_away_and_uploads_fail_at_once_with_a_clear_error() {
    let Place { store, s3, _dirs } = object_storage(EVERYTHING).await;
    let cached = stored(&store, b"GIF89a cached").await;
    store.probe(Duration::from_secs(5)).await.expect("the bucket answers");
    drop(s3);

    assert_eq!(served(&store, cached.as_str()).await.as_deref(), Some(&b"GIF89a cached"[..]));
    let elsewhere = format!("{}.gif", "c".repeat(32));
    let asked = tokio::time::timeout(Duration::from_secs(30), store.servable(&elsewhere));
    let error = asked.await.expect("a fetch from a bucket that is away waited too long").err().expect("served");
    assert_eq!(error.into_app_error(), AppError::UploadsUnavailable);
    let probed = store.probe(Duration::from_secs(30)).await;
    assert!(probed.is_err_and(|trouble| trouble.contains("does not answer")), "the probe found the bucket");

    let held = store.reserve(0).await.unwrap();
    let prepared = store.prepare(file(&store, b"GIF89a later"), file(&store, b"still"), held).unwrap();
    let put = tokio::time::timeout(Duration::from_secs(30), store.put(prepared)).await.expect("the put waited");
    assert_eq!(put.expect_err("stored").into_app_error(), AppError::UploadsUnavailable);
    assert_eq!(store.reserved(), 0, "a failed put holds a place in the quota");
}

#[tokio::test]
async fn a_gif_fetched_from_the_bucket_is_cached_once_however_many_ask_and_the_cache_is_bounded() {
    let Place { store, s3, _dirs } = object_storage(EVERYTHING).await;
    let s3 = s3.unwrap();
    // Another process stored these: this one has not cached them.
    let other = UploadStore::open(_dirs[0].path().join("other"), store_at(&s3), EVERYTHING).unwrap();
    other.set_naming_key([7; 32]);
    let big = vec![7u8; 700 * 1024];
    let first = stored(&other, &[b"GIF89a 1".as_slice(), &big].concat()).await;
    let second = stored(&other, &[b"GIF89a 2".as_slice(), &big].concat()).await;
    let asks: Vec<_> = (0..8).map(|_| store.servable(first.as_str())).collect();
    let served: Vec<Servable> =
        futures_util::future::join_all(asks).await.into_iter().map(|s| s.unwrap().unwrap()).collect();
    let paths: HashSet<&PathBuf> = served.iter().map(|servable| &servable.path).collect();
    assert_eq!(paths.len(), 1, "eight viewers at once made more than one copy");
    let fetched = served.iter().filter(|servable| servable.from == "bucket").count();
    assert_eq!(fetched, 1, "one of the eight fetched it, the others were served the cached copy");
    assert_eq!(store.servable(first.as_str()).await.unwrap().unwrap().from, "cache");
    // Served: its responses let go of it.
    drop(served);
    let cache = store.objects.as_ref().unwrap().cache_path();
    let cached_files = || std::fs::read_dir(cache).unwrap().count();
    assert_eq!(cached_files(), 1);
    // The cache holds 1 MiB: a second GIF of 700 KiB pushes the first one out (its file goes).
    let held = store.servable(second.as_str()).await.unwrap().unwrap();
    for _ in 0..100 {
        if cached_files() == 1 {
            break;
        }
        store.objects.as_ref().unwrap().cache.run_pending_tasks().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cached_files(), 1, "the cache went over its bound");
    assert!(held.path.exists(), "the file being served went from under its response");
}

#[tokio::test]
async fn each_process_has_its_own_cache_and_the_caches_of_processes_gone_are_removed() {
    let Place { store, s3, _dirs } = object_storage(EVERYTHING).await;
    let uploads = _dirs[0].path().join("uploads");
    let ours = store.objects.as_ref().unwrap().cache_path().to_owned();
    // A process that crashed: its directory is there, its lock free.
    let gone = uploads.join(".cache").join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    std::fs::write(gone.with_extension("lock"), b"").unwrap();
    std::fs::write(gone.join("a cached gif"), b"GIF89a").unwrap();
    let another = UploadStore::open(uploads.clone(), store_at(s3.as_ref().unwrap()), EVERYTHING).unwrap();
    let theirs = another.objects.as_ref().unwrap().cache_path().to_owned();
    assert!(!gone.exists() && !gone.with_extension("lock").exists(), "the cache of a process that is gone stays");
    assert!(ours.exists() && theirs.exists() && ours != theirs, "a running process lost its cache");
    drop(another);
    assert!(!theirs.exists() && !theirs.with_extension("lock").exists(), "a store that closed left its cache");
}

fn store_at(s3: &s3_server::S3Server) -> UploadsAt {
    UploadsAt::ObjectStorage(s3_location(s3.endpoint(), test_keys()))
}

#[tokio::test]
async fn a_bucket_that_refuses_our_signature_is_not_ready() {
    let Place { s3, _dirs, .. } = object_storage(EVERYTHING).await;
    let wrong = S3Keys { id: s3_server::ACCESS_KEY.into(), secret: "not the secret".into() };
    let at = UploadsAt::ObjectStorage(s3_location(s3.as_ref().unwrap().endpoint(), wrong));
    let store = UploadStore::open(_dirs[0].path().join("wrong"), at, EVERYTHING).unwrap();
    assert!(store.probe(Duration::from_secs(30)).await.is_err(), "a wrongly signed request was answered");
}
