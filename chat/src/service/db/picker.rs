//! What the GIF picker offers (see `service::picker`): the GIFs of a room, a person's own, and the library's; and
//! the claim a post by reference makes on a stored GIF. Only GIFs still stored (and not being removed) are
//! offered.

use super::now_millis;
use crate::store::{Db, with_pool};
use protocol::model::RoomId;

/// A GIF the picker offers: its stored name, the words it was shared with (library only), and when it was last
/// posted, uploaded or shared (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Offered {
    pub name: String,
    pub words: Option<String>,
    pub at: i64,
}

/// SQL condition on `g` (`stored_gifs`): stored, not being removed.
const STORED: &str = "g.released_at IS NULL";

/// The GIFs shown in `room` by messages not taken back, most recently posted first, at most `limit`.
pub async fn in_room(db: &Db, room: RoomId, limit: i64) -> sqlx::Result<Vec<Offered>> {
    let sql = format!(
        "SELECT m.body AS name, NULL AS words, MAX(m.created_at) AS at
         FROM messages m JOIN stored_gifs g ON g.name = m.body
         WHERE m.room_id = $1 AND m.kind = 'gif' AND m.deleted_by IS NULL AND {STORED}
         GROUP BY m.body ORDER BY MAX(m.seq) DESC LIMIT $2"
    );
    with_pool!(db, |pool| sqlx::query_as(&sql).bind(room).bind(limit).fetch_all(pool).await)
}

/// The GIFs `visitor` uploaded that are still stored, most recent first, at most `limit`.
pub async fn uploaded_by(db: &Db, visitor: &str, limit: i64) -> sqlx::Result<Vec<Offered>> {
    let sql = format!(
        "SELECT u.name, NULL AS words, u.uploaded_at AS at FROM gif_uploads u JOIN stored_gifs g ON g.name = u.name
         WHERE u.visitor_id = $1 AND {STORED} ORDER BY u.uploaded_at DESC LIMIT $2"
    );
    with_pool!(db, |pool| sqlx::query_as(&sql).bind(visitor).bind(limit).fetch_all(pool).await)
}

/// How many uploads a person's "Mine" tab remembers: the oldest beyond are forgotten.
pub const UPLOADS_REMEMBERED: i64 = 100;

/// Remembers that `visitor` uploaded the GIF `name` (now, if again), forgetting their oldest beyond
/// [`UPLOADS_REMEMBERED`].
pub async fn remember_upload(db: &Db, visitor: &str, name: &str) -> sqlx::Result<()> {
    let remember = "INSERT INTO gif_uploads (visitor_id, name, uploaded_at) VALUES ($1, $2, $3)
                    ON CONFLICT (visitor_id, name) DO UPDATE SET uploaded_at = excluded.uploaded_at";
    let forget = "DELETE FROM gif_uploads WHERE visitor_id = $1 AND name NOT IN
                  (SELECT name FROM gif_uploads WHERE visitor_id = $1 ORDER BY uploaded_at DESC LIMIT $2)";
    with_pool!(db, |pool| {
        sqlx::query(remember).bind(visitor).bind(name).bind(now_millis()).execute(pool).await?;
        sqlx::query(forget).bind(visitor).bind(UPLOADS_REMEMBERED).execute(pool).await.map(drop)
    })
}

/// Forgets the uploads of GIFs no longer stored (for the sweep).
pub async fn forget_gone_uploads(db: &Db) -> sqlx::Result<u64> {
    let sql = "DELETE FROM gif_uploads WHERE NOT EXISTS (SELECT 1 FROM stored_gifs g WHERE g.name = gif_uploads.name)";
    with_pool!(db, |pool| Ok(sqlx::query(sql).execute(pool).await?.rows_affected()))
}

/// The words of a search, as the store's full-text index reads them: letters and digits only (everything else
/// separates words), lowercase, at most a few words of bounded length. Empty: no search.
pub fn search_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.chars().take(32).collect::<String>().to_lowercase())
        .take(6)
        .collect()
}

/// The library's GIFs whose words start with every word of `words` (see [`search_words`]; all of the library if
/// there is none), most recently shared first, at most `limit`.
pub async fn library(db: &Db, words: &[String], limit: i64) -> sqlx::Result<Vec<Offered>> {
    let columns = "l.name, l.words, l.added_at AS at";
    let joined = format!("JOIN stored_gifs g ON g.name = l.name WHERE {STORED}");
    if words.is_empty() {
        let sql = format!("SELECT {columns} FROM gif_library l {joined} ORDER BY l.added_at DESC LIMIT $1");
        return with_pool!(db, |pool| sqlx::query_as(&sql).bind(limit).fetch_all(pool).await);
    }
    match db {
        // FTS5: each word a quoted prefix ("cat"*), all of them required.
        Db::Sqlite(pool) => {
            let matching = words.iter().map(|word| format!("\"{word}\"*")).collect::<Vec<_>>().join(" AND ");
            let sql = format!(
                "SELECT {columns} FROM gif_library_words w JOIN gif_library l ON l.id = w.rowid {joined}
                   AND gif_library_words MATCH $1 ORDER BY l.added_at DESC LIMIT $2"
            );
            sqlx::query_as(&sql).bind(matching).bind(limit).fetch_all(pool).await
        }
        // tsquery: each word a prefix (cat:*), all of them required.
        Db::Postgres(pool) => {
            let matching = words.iter().map(|word| format!("{word}:*")).collect::<Vec<_>>().join(" & ");
            let sql = format!(
                "SELECT {columns} FROM gif_library l {joined} AND l.search @@ to_tsquery('simple', $1)
                 ORDER BY l.added_at DESC LIMIT $2"
            );
            sqlx::query_as(&sql).bind(matching).bind(limit).fetch_all(pool).await
        }
    }
}

/// Shares the stored GIF `name` in the library with `words`, by `visitor`: whether it was added (a GIF shared
/// already keeps the words it was first shared with).
pub async fn share(db: &Db, name: &str, words: &str, visitor: &str) -> sqlx::Result<bool> {
    let sql = "INSERT INTO gif_library (name, words, added_by, added_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (name) DO NOTHING";
    let added = with_pool!(db, |pool| sqlx::query(sql)
        .bind(name)
        .bind(words)
        .bind(visitor)
        .bind(now_millis())
        .execute(pool)
        .await?
        .rows_affected());
    Ok(added > 0)
}

/// Takes the GIF `name` out of the library: whether it was there. (Its files are the caller's to let go.)
pub async fn unshare(db: &Db, name: &str) -> sqlx::Result<bool> {
    let sql = "DELETE FROM gif_library WHERE name = $1";
    Ok(with_pool!(db, |pool| sqlx::query(sql).bind(name).execute(pool).await?.rows_affected()) > 0)
}

/// Every library entry: name, words, who shared it, when (Unix ms); oldest first.
pub async fn library_entries(db: &Db) -> sqlx::Result<Vec<(String, String, String, i64)>> {
    let sql = "SELECT name, words, added_by, added_at FROM gif_library ORDER BY added_at";
    with_pool!(db, |pool| sqlx::query_as(sql).fetch_all(pool).await)
}

/// A post by reference claims the stored GIF `name` for `visitor` in `room`, as an upload does (nothing removes it
/// until the claim goes: `gifs::unclaim`), if they may post it there: it is stored and not being removed, and it
/// is shown in that room, or they uploaded it, or it is in the library (and the server keeps one: `library`).
/// Whether it was claimed.
pub async fn claim_to_post(db: &Db, name: &str, room: RoomId, visitor: &str, library: bool) -> sqlx::Result<bool> {
    let sql = "UPDATE stored_gifs SET claims = claims + 1, claimed_at = $4
               WHERE name = $1 AND released_at IS NULL AND (
                   EXISTS (SELECT 1 FROM messages m
                           WHERE m.kind = 'gif' AND m.body = $1 AND m.room_id = $2 AND m.deleted_by IS NULL)
                   OR EXISTS (SELECT 1 FROM gif_uploads u WHERE u.visitor_id = $3 AND u.name = $1)
                   OR ($5 AND EXISTS (SELECT 1 FROM gif_library l WHERE l.name = $1)))";
    let claimed = with_pool!(db, |pool| sqlx::query(sql)
        .bind(name)
        .bind(room)
        .bind(visitor)
        .bind(now_millis())
        .bind(library)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(claimed > 0)
}
