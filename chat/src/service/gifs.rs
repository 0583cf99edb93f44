//! GIFs from upload to removal: validated and re-encoded, recorded in the database (`stored_gifs`), stored (see
//! [`crate::uploads`]) and posted; removed when no message shows them any more; swept when a crash left them
//! behind. The database says what is stored and counts the quota; the store is only listed by the sweep.
//!
//! A GIF is named by its content, so several messages may show the same one, and an upload of a GIF may be on
//! its way (on any process) while its last message goes. The database keeps them apart:
//!
//! - an upload **claims** its GIF before writing the files (the row counts the uploads on their way), and lets
//!   the claim go once its message is in, or it failed;
//! - a removal first **marks** the GIF as being removed, which it may only do while no message shows it and no
//!   upload claims it; removes the files; then forgets the row, unless an upload claimed it meanwhile;
//! - an upload that claims a GIF marked as being removed waits [`REMOVAL_TIME`] from the mark before writing its
//!   files, so that they are not removed from under it; a removal removes no file after half of that (the sweep
//!   finishes what it left);
//! - files in the store that nothing records (a crash between writing them and recording them) are recorded as
//!   being removed by the sweep, then removed the same way.
//!
//! A claim older than [`UPLOAD_GRACE`] is an upload whose process died (an upload gives up before that).
//!
//! Once its GIF is posted, an upload goes on to make the GIF's looping video (see [`crate::video`]), under the same
//! claim, renewed for it (the video gives up after half the grace too): the video is stored beside the GIF, recorded on the GIF's row (the quota counts it), and every message
//! showing the GIF switches to it, each switch a change in its room's sequence (as an edit is), so that pages
//! that were away learn of it when they catch up. A GIF whose video would not be smaller, or that has transparent
//! pixels (a video has none), keeps none.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tempfile::NamedTempFile;

use super::Chat;
use super::db;
use super::membership::Admission;
use crate::error::{ServerError, ServerResult};
use crate::gif::{self, GifError};
use crate::store::Db;
use crate::uploads::{Reservation, Servable, StoredName, UploadStore, owner_of};
use crate::video::{VideoError, VideoSettings};
use protocol::error::AppError;
use protocol::model::ChatMessage;

/// Decoding and re-encoding is CPU work: at most this many uploads do it at once.
static REENCODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Making videos is too (ffmpeg uses two threads): one at a time, apart from the uploads' turns.
static VIDEOS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// GIFs smaller than this keep no video: an MP4's container and headers alone take about a kilobyte, so there is
/// little to gain, and a child process to spend.
const VIDEO_WORTH_BYTES: u64 = 8 * 1024;

/// Whether the log said already that ffmpeg could not be run (it says so once).
static FFMPEG_MISSING_TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How long an upload's claim holds its GIF: an upload gives up after half of it, so an older claim is one whose
/// process died.
pub(super) const UPLOAD_GRACE: Duration = Duration::from_secs(2 * 60);

/// How long the removal of a GIF's files may take (its requests time out well before).
const REMOVAL_TIME: Duration = Duration::from_secs(30);

/// Stored files the database does not record are removed once they are this old: younger ones may be an upload
/// in flight (of this process, or of another sharing the store), which takes seconds at most.
pub(super) const UPLOAD_SWEEP_AGE: Duration = Duration::from_secs(10 * 60);

impl Chat {
    /// Validates and re-encodes an uploaded file, stores it and posts it as the admitted person's GIF, and with
    /// `share` (words to find it by, see [`super::library_words`]) shares it to the library. Runs to completion in
    /// its own task even if the client goes away: the files and the message rows never disagree, and a committed
    /// message is always announced.
    pub async fn post_gif(
        self: &Arc<Self>,
        admission: Admission,
        raw: NamedTempFile,
        reservation: Reservation,
        share: Option<String>,
    ) -> ServerResult<ChatMessage> {
        if share.is_some() {
            self.may_share_from(&admission)?;
        }
        let chat = self.clone();
        self.tasks
            .spawn(async move {
                let (clean, still) = (chat.uploads.incoming_file().await?, chat.uploads.incoming_file().await?);
                let limits = chat.settings.gif;
                let permit = REENCODING.acquire().await.expect("the semaphore is never closed");
                // The re-encoding is heavy work, at a lower priority than people's requests (see `crate::heavy`);
                // storing (writes made durable) is not, so that its disk writes do not wait behind everyone's.
                // Whichever owns the temporary files last removes them when it ends, whatever the outcome.
                let (clean, still, reencoded) = crate::heavy::run(move || {
                    let reencoded = gif::reencode(raw.path(), clean.as_file(), still.as_file(), limits).map_err(
                        |error| match error {
                            GifError::Rejected(message) => ServerError::Client(AppError::NotAGif(message)),
                            GifError::Io(source) => ServerError::Io { context: "re-encoding a GIF", source },
                        },
                    )?;
                    Ok::<_, ServerError>((clean, still, reencoded))
                })
                .await??;
                drop(permit);
                let uploads = chat.uploads.clone();
                let mut prepared =
                    tokio::task::spawn_blocking(move || uploads.prepare(clean, still, reservation)).await??;
                let name = prepared.name.clone();
                // Claimed before its files are written: from here, nothing removes them while this upload runs.
                let removal = db::gifs::claim(&chat.db, name.as_str(), prepared.bytes).await?;
                // The database counts it now: it no longer holds a place of its own in the quota (if the count
                // could not be read, it keeps its place until it is stored).
                if recount(&chat.db, &chat.uploads).await {
                    prepared.counted();
                }
                let posted = async {
                    if let Some(since) = removal {
                        // Its files are being removed (its last message went a moment ago): let that end first.
                        let end = since + REMOVAL_TIME.as_millis() as i64 - db::now_millis();
                        tokio::time::sleep(Duration::from_millis(end.max(0) as u64)).await;
                    }
                    // Its own time (the wait above is within the claim's grace besides).
                    let claimed = Instant::now();
                    chat.uploads.put(prepared).await?;
                    if claimed.elapsed() > UPLOAD_GRACE / 2 {
                        tracing::warn!(took = ?claimed.elapsed(), "storing a GIF took too long: the upload gives up");
                        return Err(AppError::UploadsUnavailable.into());
                    }
                    let message = db::NewMessage::gif(&admission.person().id, name.as_str());
                    chat.post(admission.room(), message).await
                };
                let posted = posted.await;
                if posted.is_ok() {
                    let person = admission.person();
                    if let Err(error) = db::picker::remember_upload(&chat.db, person.id.as_str(), name.as_str()).await {
                        tracing::warn!(%error, "remembering an upload for its uploader's picker");
                    }
                    if let Some(words) = &share
                        && let Err(error) = chat.share_gif(&name, words, person).await
                    {
                        tracing::warn!(%error, "sharing a GIF to the library");
                    }
                }
                match (&posted, chat.settings.videos.clone()) {
                    // The claim goes on with the making of the video, which lets it go.
                    (Ok(_), Some(videos)) => {
                        chat.tasks.clone().spawn(chat.clone().video_of_upload(name, reencoded, videos));
                    }
                    _ => chat.let_go_of_claim(&name).await,
                }
                posted
            })
            .await?
    }

    /// The video part of an upload of the GIF `name` (see the module's documentation): its turn to make one, within
    /// half the claim's grace; then its claim renewed, and the video made within the other half; then the claim
    /// goes. Neither limit is a verdict on the GIF: it gets its video when it is uploaded again.
    async fn video_of_upload(self: Arc<Self>, name: StoredName, reencoded: gif::Reencoded, settings: VideoSettings) {
        let started = Instant::now();
        let half = UPLOAD_GRACE / 2;
        let work = async {
            let Ok(_turn) = tokio::time::timeout(half, VIDEOS.acquire()).await else {
                tracing::warn!(
                    gif = name.as_str(),
                    "no turn to make a GIF's video within {half:?}: it has none for now"
                );
                return Ok(Some("failed"));
            };
            db::gifs::renew_claim(&self.db, name.as_str()).await?;
            match tokio::time::timeout(half, self.make_video(&name, reencoded, &settings)).await {
                Ok(made) => made,
                Err(_) => {
                    tracing::warn!(
                        gif = name.as_str(),
                        "making a GIF's video took longer than {half:?}: it has none for now"
                    );
                    Ok(Some("failed"))
                }
            }
        };
        tokio::select! {
            // Dropped: ffmpeg is stopped, and the GIF has no video until it is uploaded again.
            () = self.stopping.cancelled() => {}
            made = work => match made {
                Ok(Some(outcome)) => {
                    self.metrics.gif_videos.get_or_create(&crate::metrics::OutcomeLabel { outcome }).inc();
                    if outcome == "made" {
                        self.metrics.gif_video_seconds.observe(started.elapsed().as_secs_f64());
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "making a GIF's video (it is shown as a GIF)"),
            }
        }
        self.let_go_of_claim(&name).await;
    }

    /// An upload or a post by reference of the GIF `name` ended (posted or failed, and its video made or not): its
    /// claim goes, and if nothing uses the GIF any more (the upload failed, or its message was deleted while the
    /// video was being made), its files go.
    pub(super) async fn let_go_of_claim(&self, name: &StoredName) {
        if let Err(error) = db::gifs::unclaim(&self.db, name.as_str()).await {
            tracing::warn!(%error, "letting go of an upload's claim (it lapses after the grace)");
        }
        self.release_now(name).await;
    }

    /// Makes the looping video of the stored GIF `name` (just posted; `reencoded` is what its validation found),
    /// unless it has one, or is known not to need one: stores it, records it, and switches the messages showing
    /// the GIF to it. Records that it has none for good if the video would not be smaller, if the GIF has
    /// transparent pixels, or if ffmpeg failed on it (but not if ffmpeg could not be run at all). What came of it
    /// (one of [`crate::video::OUTCOMES`]), or `None` if there was nothing to do.
    async fn make_video(
        &self,
        name: &StoredName,
        reencoded: gif::Reencoded,
        settings: &VideoSettings,
    ) -> ServerResult<Option<&'static str>> {
        if !db::gifs::lacks_video(&self.db, name.as_str()).await? {
            return Ok(None);
        }
        let none_for_good = |why| async move {
            db::gifs::video_made(&self.db, name.as_str(), None).await.map(|_| Some(why)).map_err(ServerError::from)
        };
        if !reencoded.opaque {
            return none_for_good("transparent").await;
        }
        // The GIF as stored: in the directory, or this process's cached copy of the bucket's.
        let Some(source) = self.uploads.servable(name.as_str()).await? else { return Ok(None) };
        let gif_bytes = measure(&source.path).await?;
        if gif_bytes < VIDEO_WORTH_BYTES {
            return none_for_good("larger").await;
        }
        let video = self.uploads.incoming_file().await?;
        // (On the upload's turn to make a video: see `video_of_upload`.)
        let made = crate::video::make(settings, &source.path, reencoded.last_delay, video.path()).await;
        match made {
            Ok(()) => {}
            Err(error @ VideoError::Unavailable(_)) => {
                if !FFMPEG_MISSING_TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(%error, "GIFs are shown without videos");
                }
                return Ok(Some("unavailable"));
            }
            // A busy moment, not the GIF's fault: it gets its video when it is uploaded again.
            Err(error @ VideoError::TimedOut(_)) => {
                tracing::warn!(%error, gif = name.as_str(), "making a GIF's video");
                return Ok(Some("failed"));
            }
            Err(error) => {
                tracing::warn!(%error, gif = name.as_str(), "making a GIF's video: it keeps none");
                return none_for_good("failed").await;
            }
        }
        drop(source);
        let video_bytes = measure(video.path()).await?;
        if video_bytes == 0 || video_bytes >= gif_bytes {
            return none_for_good("larger").await;
        }
        // Within the quota and above the free-space floor, as an upload.
        let held = self.uploads.reserve(video_bytes).await?;
        self.uploads.put_video(name, video).await?;
        let recorded = db::gifs::video_made(&self.db, name.as_str(), Some((&name.video(), video_bytes))).await?;
        drop(held);
        self.recount_stored().await;
        if recorded {
            for switched in db::show_video(&self.db, name.as_str(), &name.video()).await? {
                self.announce_change(switched);
            }
        } else if db::gifs::video_of(&self.db, name.as_str()).await?.as_deref() != Some(name.video().as_str()) {
            // Found not worth a video meanwhile, by another upload of the same GIF: the file stored is nobody's.
            self.uploads.remove_files([name.video()]).await;
        }
        // (Else recorded by another upload of the same GIF meanwhile: the same file, its messages switched by it.)
        Ok(Some("made"))
    }

    /// Makes the still of the stored GIF `name` if it has none (a GIF stored before stills were made): when it is
    /// first asked for. Only a GIF that is there and lacks its still waits for a turn to re-encode (a request for
    /// the still of a GIF that does not exist costs a look at the directory, off the async workers).
    pub async fn make_still(&self, name: &StoredName) -> ServerResult<()> {
        let (uploads, limits, name) = (self.uploads.clone(), self.settings.gif, name.clone());
        let lacking = {
            let (uploads, name) = (uploads.clone(), name.clone());
            move || uploads.lacks_still(&name)
        };
        if !tokio::task::spawn_blocking(lacking.clone()).await? {
            return Ok(());
        }
        let _permit = REENCODING.acquire().await.expect("the semaphore is never closed");
        crate::heavy::run(move || {
            // Made meanwhile by another request, or removed.
            if !lacking() {
                return Ok(());
            }
            uploads.store_still(&name, |gif, still| {
                gif::still(gif, still, limits).map_err(|error| match error {
                    GifError::Rejected(message) => {
                        ServerError::Io { context: "making a still", source: std::io::Error::other(message) }
                    }
                    GifError::Io(source) => ServerError::Io { context: "making a still", source },
                })
            })
        })
        .await?
    }

    /// Lets GIFs go that messages no longer show (`names`: a deleted message's, a removed room's): their records
    /// and their files, unless another message shows them or an upload is on its way with them. In the
    /// background: a store that is slow to answer must not hold up whoever deleted (nor the room timers).
    pub(super) fn release_gifs(&self, names: impl IntoIterator<Item = String>) {
        let names: Vec<StoredName> = names.into_iter().filter_map(|name| StoredName::parse(&name)).collect();
        if names.is_empty() {
            return;
        }
        let (db, uploads, stopping) = (self.db.clone(), self.uploads.clone(), self.stopping());
        self.tasks.spawn(async move {
            // A shutdown does not wait for it: what it did not do, the next sweep does.
            let releases = async {
                for name in &names {
                    release(&db, &uploads, name).await;
                }
                recount(&db, &uploads).await;
            };
            tokio::select! {
                () = stopping.cancelled() => {}
                () = releases => {}
            }
        });
    }

    /// Lets the GIF `name` go now if nothing uses it any more (its record, then its files), waiting for it.
    pub(super) async fn release_now(&self, name: &StoredName) {
        release(&self.db, &self.uploads, name).await;
        self.recount_stored().await;
    }

    /// The stored file `file` (a GIF or its still) to serve, if the chat has it: with GIFs in a bucket, only one the
    /// database records (so a GIF removed is gone from every process's cache at once, and a name nobody stored
    /// costs the bucket nothing); if the database does not answer, whatever the store has.
    pub async fn servable_gif(&self, file: &str) -> ServerResult<Option<Servable>> {
        let Some(owner) = owner_of(file) else { return Ok(None) };
        if self.uploads.in_object_storage() {
            match db::gifs::is_stored(&self.db, owner.as_str()).await {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(error) => tracing::warn!(%error, "looking a GIF up before serving it"),
            }
        }
        let servable = self.uploads.servable(file).await?;
        if let Some(servable) = &servable {
            self.metrics.gifs_served.get_or_create(&crate::metrics::SourceLabel { from: servable.from }).inc();
        }
        Ok(servable)
    }

    /// Reserves `bytes` of the quota for an upload being admitted, against what the database counts as stored now
    /// (other processes store GIFs too).
    pub async fn reserve_upload(&self, bytes: u64) -> ServerResult<Reservation> {
        self.recount_stored().await;
        self.uploads.reserve(bytes).await
    }

    /// Sets the bytes the quota counts as stored from the database (on failure, it keeps its last count).
    pub(super) async fn recount_stored(&self) {
        recount(&self.db, &self.uploads).await;
    }

    /// Runs the sweep, unless the server is shutting down (then it stops where it is: the next one goes on).
    pub(super) async fn sweep_uploads_until_stopping(&self) {
        tokio::select! {
            () = self.stopping.cancelled() => {}
            swept = self.sweep_uploads() => {
                if let Err(error) = swept {
                    tracing::warn!(%error, "sweeping the uploads store");
                }
            }
        }
    }

    /// Removes what a crash or an outage left behind: GIFs recorded that nothing used for [`UPLOAD_SWEEP_AGE`],
    /// and stored files that nothing records (of the same age); records the sizes of GIFs
    /// stored before sizes were recorded, and recounts the quota. A store that does not answer is left for the
    /// next sweep (text chat does not need it).
    pub(super) async fn sweep_uploads(&self) -> ServerResult<()> {
        let cutoff = db::now_millis() - UPLOAD_SWEEP_AGE.as_millis() as i64;
        for name in db::gifs::forsaken(&self.db, cutoff).await? {
            if let Some(name) = StoredName::parse(&name) {
                release(&self.db, &self.uploads, &name).await;
            }
        }
        let recorded = db::gifs::all(&self.db).await?;
        let unmeasured: HashSet<String> =
            recorded.iter().filter(|(_, bytes)| *bytes == 0).map(|(name, _)| name.clone()).collect();
        let mut known: HashSet<String> = recorded.into_iter().map(|(name, _)| name).collect();
        // Shown by a message and not recorded: never so, but a file a message shows is never swept.
        known.extend(db::gif_files(&self.db).await?);
        let cutoff = SystemTime::now() - UPLOAD_SWEEP_AGE;
        match self.uploads.sweep(&known, cutoff).await {
            Ok((found, orphans)) => {
                // Removed as any GIF is (recorded as being removed first): an upload of the same GIF that claims
                // it meanwhile waits for the removal, and writes the files again.
                for orphan in &orphans {
                    let marking = Instant::now();
                    if db::gifs::adopt_orphan(&self.db, orphan.as_str()).await? {
                        remove_released(&self.db, &self.uploads, orphan, marking, 0).await;
                    }
                }
                if !orphans.is_empty() {
                    tracing::info!(swept = orphans.len(), "removed stored GIFs that nothing recorded");
                }
                let mut sizes: std::collections::HashMap<String, u64> = Default::default();
                for file in found {
                    let owner = crate::uploads::owner_of(&file.file).expect("only stored files are listed");
                    *sizes.entry(owner.as_str().to_owned()).or_default() += file.bytes;
                }
                for name in unmeasured {
                    if let Some(bytes) = sizes.get(&name).filter(|bytes| **bytes > 0) {
                        db::gifs::measured(&self.db, &name, *bytes).await?;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, store = self.uploads.describe(), "sweeping the uploads store"),
        }
        self.recount_stored().await;
        let forgotten = db::picker::forget_gone_uploads(&self.db).await?;
        if forgotten > 0 {
            tracing::debug!(forgotten, "forgot the uploads of GIFs no longer stored");
        }
        Ok(())
    }
}

/// The bytes of the file at `path`.
async fn measure(path: &std::path::Path) -> ServerResult<u64> {
    let path = path.to_owned();
    crate::uploads::off_the_workers("measuring a GIF's file", move || {
        std::fs::metadata(path).map(|found| found.len()).map_err(ServerError::io("measuring a GIF's file"))
    })
    .await
}

/// Removes a GIF that nothing uses any more (see the module's documentation); failures are left to the sweep.
async fn release(db: &Db, uploads: &UploadStore, name: &StoredName) {
    let stale = db::now_millis() - UPLOAD_GRACE.as_millis() as i64;
    // Before the mark: its files must be gone before an upload that waits for the removal writes them again.
    let marking = Instant::now();
    match db::gifs::release(db, name.as_str(), stale).await {
        Ok(true) => remove_released(db, uploads, name, marking, stale).await,
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "removing a GIF no message shows (the sweep will)"),
    }
}

/// Removes the files of a GIF marked as being removed since `marking` (at the latest), then its row. No file is
/// removed once half of [`REMOVAL_TIME`] has passed since the mark (an upload waiting for the removal may write
/// them again after it): what is left then is left to the next sweep.
async fn remove_released(db: &Db, uploads: &UploadStore, name: &StoredName, marking: Instant, stale: i64) {
    if uploads.remove([name.clone()], Some(marking + REMOVAL_TIME / 2)).await
        && let Err(error) = db::gifs::released(db, name.as_str(), stale).await
    {
        tracing::warn!(%error, "forgetting a removed GIF (the sweep will)");
    }
}

/// Sets the bytes the quota counts as stored from the database: whether it could (else it keeps its last count).
async fn recount(db: &Db, uploads: &UploadStore) -> bool {
    match db::gifs::total_bytes(db).await {
        Ok(bytes) => {
            uploads.set_used(bytes);
            true
        }
        Err(error) => {
            tracing::warn!(%error, "counting the stored GIFs");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::with_pool;
    use crate::uploads::{StorageLimits, UploadsAt};

    /// A GIF's file and its still's in `dir` (no video), last modified `age` ago.
    fn files(dir: &std::path::Path, name: &StoredName, age: Duration) {
        for file in [name.as_str().to_owned(), name.still()] {
            let path = dir.join(file);
            std::fs::write(&path, b"GIF89a").unwrap();
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(SystemTime::now() - age).unwrap();
        }
    }

    #[tokio::test]
    async fn the_sweep_removes_what_nothing_uses_measures_old_gifs_and_recounts_the_quota() {
        let (dir, db) = crate::testing::test_db().await;
        let uploads_dir = dir.path().join("uploads");
        let space = StorageLimits { quota: u64::MAX, min_free: 0 };
        let uploads = UploadStore::open(uploads_dir.clone(), UploadsAt::Directory, space).unwrap();
        let chat = Chat::new(db.clone(), Default::default(), uploads);
        let name = |n: u8| StoredName::parse(&format!("{}.gif", format!("{n:02x}").repeat(16))).unwrap();
        let an_hour = Duration::from_secs(3600);
        let set = |sql: &'static str, name: StoredName| {
            let db = db.clone();
            async move {
                with_pool!(&db, |pool| sqlx::query(sql).bind(name.as_str()).execute(pool).await.map(drop)).unwrap();
            }
        };
        // An upload whose process died an hour ago, after writing its files.
        let (dead, fresh, legacy, stray) = (name(1), name(2), name(3), name(4));
        db::gifs::claim(&db, dead.as_str(), 12).await.unwrap();
        set("UPDATE stored_gifs SET claimed_at = 0 WHERE name = $1", dead.clone()).await;
        files(&uploads_dir, &dead, an_hour);
        // An upload on its way now.
        db::gifs::claim(&db, fresh.as_str(), 12).await.unwrap();
        files(&uploads_dir, &fresh, Duration::ZERO);
        // A GIF stored before sizes were recorded (its row made by the migration), which a message shows.
        let alice = protocol::model::PersonId::trusted("alice");
        let room = db::NewRoom { title: "t", max_members: 10, password_hash: None, owner: &alice, remove_at: i64::MAX };
        let room = db::insert_room(&db, room).await.unwrap().id;
        let histogram = prometheus_client::metrics::histogram::Histogram::new([1.0]);
        db::insert_message(&db, room, db::NewMessage::gif(&alice, legacy.as_str()), &histogram).await.unwrap();
        set("INSERT INTO stored_gifs (name, bytes, claimed_at) VALUES ($1, 0, 0)", legacy.clone()).await;
        files(&uploads_dir, &legacy, an_hour);
        // Files nothing records: old, and young (an upload in flight elsewhere, not claimed yet).
        files(&uploads_dir, &stray, an_hour);
        // With a video.
        let stray_video = uploads_dir.join(stray.video());
        std::fs::write(&stray_video, b"mp4").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&stray_video)
            .unwrap()
            .set_modified(SystemTime::now() - an_hour)
            .unwrap();
        let young = name(5);
        files(&uploads_dir, &young, Duration::ZERO);

        chat.sweep_uploads().await.unwrap();
        let exists = |name: &StoredName| uploads_dir.join(name.as_str()).exists();
        assert!(!exists(&dead) && !exists(&stray) && !stray_video.exists(), "what nothing uses stayed");
        assert!(exists(&fresh) && exists(&legacy) && exists(&young), "what is used, or may be, went");
        let mut recorded = db::gifs::all(&db).await.unwrap();
        recorded.sort();
        assert_eq!(recorded, vec![(fresh.as_str().to_owned(), 12), (legacy.as_str().to_owned(), 12)]);
        assert_eq!(chat.uploads.used(), 24, "the quota counts the stored GIFs");
    }

    #[tokio::test]
    async fn an_upload_during_its_gifs_removal_finds_it_as_new_without_its_video() {
        let (_dir, db) = crate::testing::test_db().await;
        let name = format!("{}.gif", "cd".repeat(16));
        db::gifs::claim(&db, &name, 10).await.unwrap();
        assert!(db::gifs::video_made(&db, &name, Some((&name.replace(".gif", ".mp4"), 5))).await.unwrap());
        db::gifs::unclaim(&db, &name).await.unwrap();
        assert!(db::gifs::release(&db, &name, 0).await.unwrap(), "nothing uses it: its removal begins");
        // An upload of the same GIF claims it meanwhile: it writes the GIF and its still again, not the video.
        assert!(db::gifs::claim(&db, &name, 12).await.unwrap().is_some(), "the upload learns of the removal");
        assert_eq!(db::gifs::video_of(&db, &name).await.unwrap(), None, "its video is to be made again");
        assert!(db::gifs::lacks_video(&db, &name).await.unwrap());
        assert_eq!(db::gifs::total_bytes(&db).await.unwrap(), 12, "the quota counts what the upload writes");
    }

    #[tokio::test]
    async fn asking_for_the_still_of_a_gif_that_is_not_there_waits_for_no_re_encoding() {
        let (dir, db) = crate::testing::test_db().await;
        let space = crate::uploads::StorageLimits { quota: u64::MAX, min_free: 0 };
        let at = crate::uploads::UploadsAt::Directory;
        let uploads = crate::uploads::UploadStore::open(dir.path().join("uploads"), at, space).unwrap();
        let chat = Chat::new(db, Default::default(), uploads);
        // Every turn to re-encode is taken (two long uploads).
        let _busy = REENCODING.acquire_many(2).await.unwrap();
        let name = StoredName::parse(&format!("{}.gif", "ab".repeat(16))).expect("a stored GIF's name");
        let asked = tokio::time::timeout(Duration::from_secs(5), chat.make_still(&name)).await;
        assert!(matches!(asked, Ok(Ok(()))), "a missing GIF's still waited for a re-encoding turn");
    }
}
