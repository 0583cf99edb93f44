//! The stored GIFs (table `stored_gifs`): what the uploads store holds, by name, with the bytes each takes, the
//! uploads on their way with it, and whether its files are being removed. The quota is counted here, never by
//! listing the store. How uploads and removals keep out of each other's way is in `service/gifs.rs`.

use super::now_millis;
use crate::store::{Db, with_pool};

/// Whether a message still shows the GIF (SQL, on `stored_gifs`).
const SHOWN: &str = "EXISTS (SELECT 1 FROM messages m WHERE m.kind = 'gif' AND m.body = stored_gifs.name)";

/// Whether the GIF is in the library (which keeps it, shown by a message or not).
const SHARED: &str = "EXISTS (SELECT 1 FROM gif_library l WHERE l.name = stored_gifs.name)";

/// SQL condition: no message shows the GIF, the library does not hold it, and no upload or post is on its way
/// with it (a claim made before `stale`, a parameter holding Unix ms, is one whose process died).
fn unused(stale: &str) -> String {
    format!("NOT {SHOWN} AND NOT {SHARED} AND (claims = 0 OR claimed_at < {stale})")
}

/// An upload claims the GIF `name` (its files taking `bytes`) before writing its files: recorded if it is new,
/// and kept while the upload is on its way. `Some(since)` if its files were being removed (since that time, Unix
/// ms): the upload must give that removal time to end before it writes them, and the GIF is then as new (its
/// video went with the removal: it is made again, and the quota counts what the upload writes).
pub async fn claim(db: &Db, name: &str, bytes: u64) -> sqlx::Result<Option<i64>> {
    let sql = "INSERT INTO stored_gifs (name, bytes, claims, claimed_at) VALUES ($1, $2, 1, $3)
               ON CONFLICT (name) DO UPDATE SET claims = stored_gifs.claims + 1, claimed_at = excluded.claimed_at,
                   bytes = CASE WHEN stored_gifs.bytes = 0 OR stored_gifs.released_at IS NOT NULL
                                THEN excluded.bytes ELSE stored_gifs.bytes END,
                   video = CASE WHEN stored_gifs.released_at IS NOT NULL THEN NULL ELSE stored_gifs.video END
               RETURNING released_at";
    with_pool!(db, |pool| sqlx::query_scalar(sql)
        .bind(name)
        .bind(bytes as i64)
        .bind(now_millis())
        .fetch_one(pool)
        .await)
}

/// An upload that claimed the GIF `name` ended (its message is in, or it failed). A removal it waited for is over.
pub async fn unclaim(db: &Db, name: &str) -> sqlx::Result<()> {
    let sql = "UPDATE stored_gifs SET claims = CASE WHEN claims > 0 THEN claims - 1 ELSE 0 END, released_at = NULL
               WHERE name = $1";
    with_pool!(db, |pool| sqlx::query(sql).bind(name).execute(pool).await.map(drop))
}

/// Marks the GIF `name` as being removed if nothing uses it (see [`unused`]; claims made before `stale_before`
/// do not count): whether it was (then its files are the caller's to remove, and [`released`] to call after).
pub async fn release(db: &Db, name: &str, stale_before: i64) -> sqlx::Result<bool> {
    let sql = format!("UPDATE stored_gifs SET released_at = $3 WHERE name = $1 AND {}", unused("$2"));
    let marked = with_pool!(db, |pool| sqlx::query(&sql)
        .bind(name)
        .bind(stale_before)
        .bind(now_millis())
        .execute(pool)
        .await?
        .rows_affected());
    Ok(marked > 0)
}

/// Forgets the GIF `name` after its files were removed, unless an upload claimed it meanwhile (then that upload
/// waited for the removal, and wrote them again).
pub async fn released(db: &Db, name: &str, stale_before: i64) -> sqlx::Result<()> {
    let sql = format!("DELETE FROM stored_gifs WHERE name = $1 AND released_at IS NOT NULL AND {}", unused("$2"));
    with_pool!(db, |pool| sqlx::query(&sql).bind(name).bind(stale_before).execute(pool).await.map(drop))
}

/// The GIFs nothing uses (see [`unused`]) that were last claimed before `stale_before` (Unix ms): an upload whose
/// process died, a removal that failed.
pub async fn forsaken(db: &Db, stale_before: i64) -> sqlx::Result<Vec<String>> {
    let sql = format!("SELECT name FROM stored_gifs WHERE claimed_at < $1 AND {}", unused("$1"));
    with_pool!(db, |pool| sqlx::query_scalar(&sql).bind(stale_before).fetch_all(pool).await)
}

/// Whether the GIF `name` is stored and not being removed (or an upload claims it again): whether to serve it.
pub async fn is_stored(db: &Db, name: &str) -> sqlx::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM stored_gifs WHERE name = $1 AND (released_at IS NULL OR claims > 0))";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(name).fetch_one(pool).await)
}

/// Records files of the GIF `name` that the store holds and nothing records (a crash between writing them and
/// their row, or a removal that was cut short) as being removed, unless the GIF is recorded: whether it was (then
/// they are the caller's to remove, and [`released`] to call after, as for any removal).
pub async fn adopt_orphan(db: &Db, name: &str) -> sqlx::Result<bool> {
    let sql = "INSERT INTO stored_gifs (name, bytes, claimed_at, released_at) VALUES ($1, 0, 0, $2)
               ON CONFLICT (name) DO NOTHING";
    let adopted =
        with_pool!(db, |pool| sqlx::query(sql).bind(name).bind(now_millis()).execute(pool).await?.rows_affected());
    Ok(adopted > 0)
}

/// Every stored GIF with the bytes its row says it takes (0: not measured yet).
pub async fn all(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    let sql = "SELECT name, bytes FROM stored_gifs";
    with_pool!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)
}

/// Sets the bytes of a GIF stored before they were recorded (measured by the sweep).
pub async fn measured(db: &Db, name: &str, bytes: u64) -> sqlx::Result<()> {
    let sql = "UPDATE stored_gifs SET bytes = $2 WHERE name = $1 AND bytes = 0";
    with_pool!(db, |pool| sqlx::query(sql).bind(name).bind(bytes as i64).execute(pool).await.map(drop))
}

/// The bytes all stored GIFs take: what the quota counts.
pub async fn total_bytes(db: &Db) -> sqlx::Result<u64> {
    let sql = "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM stored_gifs";
    let total: i64 = with_pool!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)?;
    Ok(total.max(0) as u64)
}

/// An upload that goes on to make its GIF's video renews its claim on it (from now, the claim's grace again).
pub async fn renew_claim(db: &Db, name: &str) -> sqlx::Result<()> {
    let sql = "UPDATE stored_gifs SET claimed_at = $2 WHERE name = $1 AND claims > 0";
    with_pool!(db, |pool| sqlx::query(sql).bind(name).bind(now_millis()).execute(pool).await.map(drop))
}

/// The video recorded for the GIF `name`: its file, `Some("")` if it has none for good, `None` if none was made
/// yet (or the GIF is not stored).
pub async fn video_of(db: &Db, name: &str) -> sqlx::Result<Option<String>> {
    let sql = "SELECT video FROM stored_gifs WHERE name = $1";
    let found: Option<Option<String>> =
        with_pool!(db, |pool| sqlx::query_scalar(sql).bind(name).fetch_optional(pool).await)?;
    Ok(found.flatten())
}

/// Whether the GIF `name` is stored and no video was made of it yet (nor found not worth making).
pub async fn lacks_video(db: &Db, name: &str) -> sqlx::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM stored_gifs WHERE name = $1 AND video IS NULL)";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(name).fetch_one(pool).await)
}

/// Records the video of the GIF `name` (its file `video`, stored, taking `bytes`), or with `None` that it has
/// none for good: the quota counts the video's bytes from now on. Whether this call recorded it (else another
/// did, or the GIF is gone: then a video file stored is the caller's to remove).
pub async fn video_made(db: &Db, name: &str, video: Option<(&str, u64)>) -> sqlx::Result<bool> {
    let (file, bytes) = video.unwrap_or(("", 0));
    let sql = "UPDATE stored_gifs SET video = $2, bytes = bytes + $3 WHERE name = $1 AND video IS NULL";
    let recorded = with_pool!(db, |pool| sqlx::query(sql)
        .bind(name)
        .bind(file)
        .bind(bytes as i64)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(recorded > 0)
}
