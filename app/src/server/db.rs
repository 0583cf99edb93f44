//! Rooms and messages in the database (the durable truth). Every function takes the pool or a transaction and
//! does one thing; the [`crate::server::chat`] service composes them.

use sqlx::{FromRow, SqlitePool};

use crate::model::{ChatMessage, MessageKind, PAGE_SIZE, RoomId};
use crate::server::identity::person;

/// A room row, including the secret the client never sees.
#[derive(Debug, Clone, FromRow)]
pub struct RoomRow {
    pub id: RoomId,
    pub title: String,
    pub max_members: i64,
    pub password_hash: Option<String>,
    pub owner_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
struct MessageRow {
    room_id: RoomId,
    seq: i64,
    kind: String,
    author_id: Option<String>,
    recipient_id: Option<String>,
    body: String,
    created_at: i64,
}

const MESSAGE_COLUMNS: &str = "room_id, seq, kind, author_id, recipient_id, body, created_at";

/// SQL condition: the message is one `?` (the viewer's id, bound twice) may read. Whispers are for two people.
const VISIBLE_TO: &str = "(kind != 'whisper' OR author_id = ? OR recipient_id = ?)";

impl From<MessageRow> for ChatMessage {
    fn from(row: MessageRow) -> ChatMessage {
        let kind = MessageKind::parse(&row.kind).unwrap_or(MessageKind::System);
        let body = match kind {
            MessageKind::Gif => gif_path(&row.body),
            _ => row.body,
        };
        ChatMessage {
            room_id: row.room_id,
            seq: row.seq,
            kind,
            author: row.author_id.as_deref().map(person),
            recipient: row.recipient_id.as_deref().map(person),
            body,
            created_at: row.created_at,
        }
    }
}

/// The URL path a stored GIF is served at.
pub fn gif_path(file_name: &str) -> String {
    format!("/gif/{file_name}")
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub struct NewRoom<'a> {
    pub title: &'a str,
    pub max_members: u32,
    pub password_hash: Option<&'a str>,
    pub owner_id: &'a str,
}

pub async fn insert_room(db: &SqlitePool, room: NewRoom<'_>) -> sqlx::Result<RoomRow> {
    sqlx::query_as::<_, RoomRow>(
        "INSERT INTO rooms (title, max_members, password_hash, owner_id, created_at)
         VALUES (?, ?, ?, ?, ?)
         RETURNING id, title, max_members, password_hash, owner_id, created_at",
    )
    .bind(room.title)
    .bind(room.max_members)
    .bind(room.password_hash)
    .bind(room.owner_id)
    .bind(now_millis())
    .fetch_one(db)
    .await
}

pub async fn find_room(db: &SqlitePool, id: RoomId) -> sqlx::Result<Option<RoomRow>> {
    sqlx::query_as::<_, RoomRow>(
        "SELECT id, title, max_members, password_hash, owner_id, created_at FROM rooms WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// All rooms, newest first.
pub async fn list_rooms(db: &SqlitePool) -> sqlx::Result<Vec<RoomRow>> {
    sqlx::query_as::<_, RoomRow>(
        "SELECT id, title, max_members, password_hash, owner_id, created_at FROM rooms ORDER BY id DESC",
    )
    .fetch_all(db)
    .await
}

/// What a new message says and who it is from and for.
pub struct NewMessage<'a> {
    pub kind: MessageKind,
    pub author_id: Option<&'a str>,
    /// Only for whispers.
    pub recipient_id: Option<&'a str>,
    pub body: &'a str,
    /// The sender's own id for the message, making retries safe.
    pub client_id: Option<&'a str>,
}

/// What committing a message did.
pub enum Inserted {
    New(ChatMessage),
    /// A retry: the message with this client id was already committed.
    Duplicate(ChatMessage),
}

/// Commits a message with the room's next sequence number, or finds the one a retry already committed.
/// `None` if the room does not exist (any more).
pub async fn insert_message(db: &SqlitePool, room_id: RoomId, message: NewMessage<'_>) -> sqlx::Result<Option<Inserted>> {
    // One statement: it takes the room's next number and inserts (the trigger `messages_advance_room_seq` moves
    // the counter on). SQLite runs one writer at a time, so two sends never get the same number.
    let inserted = sqlx::query_as::<_, MessageRow>(&format!(
        "INSERT INTO messages (room_id, seq, kind, author_id, recipient_id, body, created_at, client_id)
         SELECT id, last_seq + 1, ?, ?, ?, ?, ?, ? FROM rooms WHERE id = ?
         RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind(message.kind.as_str())
    .bind(message.author_id)
    .bind(message.recipient_id)
    .bind(message.body)
    .bind(now_millis())
    .bind(message.client_id)
    .bind(room_id)
    .fetch_optional(db)
    .await;
    match inserted {
        Ok(row) => Ok(row.map(|row| Inserted::New(row.into()))),
        // A retry of a send that was committed already: answer with the original.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Ok(find_by_client_id(db, room_id, &message).await?.map(Inserted::Duplicate))
        }
        Err(error) => Err(error),
    }
}

async fn find_by_client_id(db: &SqlitePool, room_id: RoomId, message: &NewMessage<'_>) -> sqlx::Result<Option<ChatMessage>> {
    let (Some(author_id), Some(client_id)) = (message.author_id, message.client_id) else {
        return Ok(None);
    };
    let row = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND author_id = ? AND client_id = ?"
    ))
    .bind(room_id)
    .bind(author_id)
    .bind(client_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(ChatMessage::from))
}

/// Up to a page of the messages `viewer` may read before `before_seq` (or the latest ones), oldest first, and
/// whether more exist.
pub async fn messages_before(
    db: &SqlitePool,
    room_id: RoomId,
    viewer: &str,
    before_seq: Option<i64>,
) -> sqlx::Result<(Vec<ChatMessage>, bool)> {
    let mut rows = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ? AND seq < ? AND {VISIBLE_TO} ORDER BY seq DESC LIMIT ?"
    ))
    .bind(room_id)
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(viewer)
    .bind(viewer)
    .bind(PAGE_SIZE + 1)
    .fetch_all(db)
    .await?;
    let has_earlier = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    rows.reverse();
    Ok((rows.into_iter().map(ChatMessage::from).collect(), has_earlier))
}

/// The messages `viewer` may read after `after_seq` up to `until_seq`, oldest first, at most `limit`.
pub async fn messages_after(
    db: &SqlitePool,
    room_id: RoomId,
    viewer: &str,
    after_seq: i64,
    until_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<ChatMessage>> {
    let rows = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ? AND seq > ? AND seq <= ? AND {VISIBLE_TO} ORDER BY seq LIMIT ?"
    ))
    .bind(room_id)
    .bind(after_seq)
    .bind(until_seq)
    .bind(viewer)
    .bind(viewer)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(ChatMessage::from).collect())
}

/// Deletes a room and its messages; returns the GIF files its messages pointed at, for the caller to delete.
pub async fn delete_room(db: &SqlitePool, room_id: RoomId) -> sqlx::Result<Vec<String>> {
    let mut tx = db.begin().await?;
    // Start with a write, so the transaction takes the write lock at once (a read first would have to upgrade,
    // which fails if another write commits in between).
    let files = sqlx::query_scalar::<_, String>("DELETE FROM messages WHERE room_id = ? AND kind = 'gif' RETURNING body")
        .bind(room_id)
        .fetch_all(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM rooms WHERE id = ?").bind(room_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(files)
}

/// Remembers that `visitor_id` may enter the password room `room_id`.
pub async fn grant(db: &SqlitePool, room_id: RoomId, visitor_id: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO room_grants (room_id, visitor_id, granted_at) VALUES (?, ?, ?)")
        .bind(room_id)
        .bind(visitor_id)
        .bind(now_millis())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn is_granted(db: &SqlitePool, room_id: RoomId, visitor_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, i64>("SELECT 1 FROM room_grants WHERE room_id = ? AND visitor_id = ?")
        .bind(room_id)
        .bind(visitor_id)
        .fetch_optional(db)
        .await
        .map(|found| found.is_some())
}

/// The sequence number of the room's latest message (0 for none), or `None` if the room does not exist.
pub async fn last_seq(db: &SqlitePool, room_id: RoomId) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar::<_, i64>("SELECT last_seq FROM rooms WHERE id = ?").bind(room_id).fetch_optional(db).await
}

pub async fn set_owner(db: &SqlitePool, room_id: RoomId, owner_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE rooms SET owner_id = ? WHERE id = ?").bind(owner_id).bind(room_id).execute(db).await?;
    Ok(())
}

pub async fn ban(db: &SqlitePool, room_id: RoomId, visitor_id: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO room_bans (room_id, visitor_id, banned_at) VALUES (?, ?, ?)")
        .bind(room_id)
        .bind(visitor_id)
        .bind(now_millis())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn is_banned(db: &SqlitePool, room_id: RoomId, visitor_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar::<_, i64>("SELECT 1 FROM room_bans WHERE room_id = ? AND visitor_id = ?")
        .bind(room_id)
        .bind(visitor_id)
        .fetch_optional(db)
        .await
        .map(|found| found.is_some())
}

/// Records that `visitor_id` has read `room_id` up to `seq` (never moving the mark back).
pub async fn mark_read(db: &SqlitePool, room_id: RoomId, visitor_id: &str, seq: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO read_marks (room_id, visitor_id, last_read_seq) VALUES (?, ?, ?)
         ON CONFLICT (room_id, visitor_id) DO UPDATE SET last_read_seq = max(last_read_seq, excluded.last_read_seq)",
    )
    .bind(room_id)
    .bind(visitor_id)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(())
}

/// People who entered `room_id` before (and so follow it from the room list).
pub async fn readers(db: &SqlitePool, room_id: RoomId) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar::<_, String>("SELECT visitor_id FROM read_marks WHERE room_id = ?").bind(room_id).fetch_all(db).await
}

/// For every room `viewer` entered before: how many messages from others came since they read it, and the
/// latest of them.
pub async fn unread_for(db: &SqlitePool, viewer: &str) -> sqlx::Result<Vec<(RoomId, u32, Option<ChatMessage>)>> {
    let counts = sqlx::query_as::<_, (RoomId, i64)>(
        "SELECT r.room_id, (SELECT COUNT(*) FROM messages m
                WHERE m.room_id = r.room_id AND m.seq > r.last_read_seq AND m.kind != 'system'
                  AND m.author_id != r.visitor_id
                  AND (m.kind != 'whisper' OR m.recipient_id = r.visitor_id))
         FROM read_marks r WHERE r.visitor_id = ?",
    )
    .bind(viewer)
    .fetch_all(db)
    .await?;
    let mut result = Vec::with_capacity(counts.len());
    for (room_id, count) in counts {
        let last = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE room_id = ? AND kind != 'system' AND author_id != ? AND {VISIBLE_TO}
             ORDER BY seq DESC LIMIT 1"
        ))
        .bind(room_id)
        .bind(viewer)
        .bind(viewer)
        .bind(viewer)
        .fetch_optional(db)
        .await?;
        result.push((room_id, count as u32, last.map(ChatMessage::from)));
    }
    Ok(result)
}

/// Stops `visitor_id` following `room_id` from the room list (after a kick).
pub async fn forget_reader(db: &SqlitePool, room_id: RoomId, visitor_id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM read_marks WHERE room_id = ? AND visitor_id = ?").bind(room_id).bind(visitor_id).execute(db).await?;
    Ok(())
}

/// Takes back a password grant (after a kick).
pub async fn revoke(db: &SqlitePool, room_id: RoomId, visitor_id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM room_grants WHERE room_id = ? AND visitor_id = ?").bind(room_id).bind(visitor_id).execute(db).await?;
    Ok(())
}

/// Every stored GIF file name (for the start-up sweep of orphaned files).
pub async fn gif_files(db: &SqlitePool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar::<_, String>("SELECT body FROM messages WHERE kind = 'gif'").fetch_all(db).await
}
