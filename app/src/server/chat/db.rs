//! Rooms and messages in the database (the durable truth). Private to the chat core: every function takes the
//! pool and does one thing, in one statement or one transaction; the [`super::Chat`] service composes them.
//!
//! (Over 400 lines: a third is the repository tests on a real SQLite file, kept beside the queries they check.)

use sqlx::{FromRow, SqliteExecutor, SqlitePool};

use crate::model::{ChatMessage, MessageKind, PAGE_SIZE, PersonId, RoomId};
use crate::server::identity::person;
use crate::server::uploads;

/// A room row, including the secret the client never sees.
#[derive(Debug, Clone, FromRow)]
pub struct RoomRow {
    pub id: RoomId,
    pub title: String,
    pub max_members: i64,
    pub password_hash: Option<String>,
    pub owner_id: PersonId,
    pub created_at: i64,
}

/// A room as one person may or may not enter it: the room, whether they are banned from it, whether they gave
/// its password, and the latest message's number.
#[derive(Debug, Clone, FromRow)]
pub struct AdmissionRow {
    #[sqlx(flatten)]
    pub room: RoomRow,
    pub banned: bool,
    pub granted: bool,
    pub last_seq: i64,
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

const ROOM_COLUMNS: &str = "id, title, max_members, password_hash, owner_id, created_at";
const MESSAGE_COLUMNS: &str = "room_id, seq, kind, author_id, recipient_id, body, created_at";

/// SQL condition: the message is one `?` (the viewer's id, bound twice) may read. Whispers are for two people.
const VISIBLE_TO: &str = "(kind != 'whisper' OR author_id = ? OR recipient_id = ?)";
/// The reader is not banned from the room (both bound: the room, then the reader): someone removed gets nothing
/// of it, whatever else (a read mark, a connection that has not noticed yet) says otherwise. Uncorrelated, so
/// SQLite evaluates it once per query, not per message.
const NOT_BANNED: &str = "NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = ? AND b.visitor_id = ?)";

impl From<MessageRow> for ChatMessage {
    fn from(row: MessageRow) -> ChatMessage {
        let kind = MessageKind::parse(&row.kind).unwrap_or(MessageKind::System);
        let body = match kind {
            MessageKind::Gif => uploads::url_of(&row.body),
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

pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

pub struct NewRoom<'a> {
    pub title: &'a str,
    pub max_members: u32,
    pub password_hash: Option<&'a str>,
    pub owner: &'a PersonId,
}

/// Creates a room; a locked room's owner is granted it in the same transaction.
pub async fn insert_room(db: &SqlitePool, room: NewRoom<'_>) -> sqlx::Result<RoomRow> {
    let mut tx = db.begin().await?;
    let row = sqlx::query_as::<_, RoomRow>(&format!(
        "INSERT INTO rooms (title, max_members, password_hash, owner_id, created_at, last_active_at)
         VALUES (?, ?, ?, ?, ?, ?)
         RETURNING {ROOM_COLUMNS}"
    ))
    .bind(room.title)
    .bind(room.max_members)
    .bind(room.password_hash)
    .bind(room.owner)
    .bind(now_millis())
    .bind(now_millis())
    .fetch_one(&mut *tx)
    .await?;
    if row.password_hash.is_some() {
        grant_with(&mut *tx, row.id, room.owner).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// The room and what decides whether `person` may enter it, in one query. `None` if the room does not exist.
pub async fn admission(db: &SqlitePool, room: RoomId, person: &PersonId) -> sqlx::Result<Option<AdmissionRow>> {
    sqlx::query_as::<_, AdmissionRow>(&format!(
        "SELECT {ROOM_COLUMNS}, last_seq,
                EXISTS (SELECT 1 FROM room_bans WHERE room_id = rooms.id AND visitor_id = ?1) AS banned,
                EXISTS (SELECT 1 FROM room_grants WHERE room_id = rooms.id AND visitor_id = ?1) AS granted
         FROM rooms WHERE id = ?2"
    ))
    .bind(person)
    .bind(room)
    .fetch_optional(db)
    .await
}

pub async fn find_room(db: &SqlitePool, id: RoomId) -> sqlx::Result<Option<RoomRow>> {
    sqlx::query_as::<_, RoomRow>(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Every room (for start-up).
pub async fn all_rooms(db: &SqlitePool) -> sqlx::Result<Vec<RoomRow>> {
    sqlx::query_as::<_, RoomRow>(&format!("SELECT {ROOM_COLUMNS} FROM rooms")).fetch_all(db).await
}

/// Up to `limit` rooms after the first `offset`, the most recently active first; with `title`, only rooms whose
/// title contains it (ignoring ASCII case).
pub async fn rooms_page(db: &SqlitePool, title: Option<&str>, offset: u32, limit: u32) -> sqlx::Result<Vec<RoomRow>> {
    sqlx::query_as::<_, RoomRow>(&format!(
        "SELECT {ROOM_COLUMNS} FROM rooms
         WHERE ?1 IS NULL OR instr(lower(title), lower(?1)) > 0
         ORDER BY last_active_at DESC, id DESC LIMIT ?2 OFFSET ?3"
    ))
    .bind(title)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// What a new message says and who it is from and for.
pub struct NewMessage<'a> {
    pub kind: MessageKind,
    pub author: Option<&'a PersonId>,
    /// Only for whispers.
    pub recipient: Option<&'a PersonId>,
    /// The text, or a GIF's stored file name.
    pub body: &'a str,
    /// The sender's own id for the message, making retries safe.
    pub client_id: Option<&'a str>,
}

impl<'a> NewMessage<'a> {
    pub fn system(text: &'a str) -> NewMessage<'a> {
        NewMessage { kind: MessageKind::System, author: None, recipient: None, body: text, client_id: None }
    }
}

/// What committing a message did.
pub enum Inserted {
    New(ChatMessage),
    /// A retry: the message with this client id was already committed.
    Duplicate(ChatMessage),
}

/// Commits a message with the room's next sequence number, or finds the one a retry already committed.
/// `None` if the room does not exist (any more).
pub async fn insert_message(db: &SqlitePool, room: RoomId, message: NewMessage<'_>) -> sqlx::Result<Option<Inserted>> {
    match insert_message_with(db, room, &message).await {
        Ok(row) => Ok(row.map(Inserted::New)),
        // A retry of a send that was committed already: answer with the original.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Ok(find_by_client_id(db, room, &message).await?.map(Inserted::Duplicate))
        }
        Err(error) => Err(error),
    }
}

async fn insert_message_with(
    db: impl SqliteExecutor<'_>,
    room: RoomId,
    message: &NewMessage<'_>,
) -> sqlx::Result<Option<ChatMessage>> {
    // One statement: it takes the room's next number and inserts (the trigger `messages_advance_room_seq` moves
    // the counter on). SQLite runs one writer at a time, so two sends never get the same number. An author
    // banned meanwhile (a kick while their upload was being re-encoded) posts nothing.
    let row = sqlx::query_as::<_, MessageRow>(&format!(
        "INSERT INTO messages (room_id, seq, kind, author_id, recipient_id, body, created_at, client_id)
         SELECT id, last_seq + 1, ?, ?, ?, ?, ?, ? FROM rooms
         WHERE id = ? AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = rooms.id AND b.visitor_id = ?)
         RETURNING {MESSAGE_COLUMNS}"
    ))
    .bind(message.kind.as_str())
    .bind(message.author)
    .bind(message.recipient)
    .bind(message.body)
    .bind(now_millis())
    .bind(message.client_id)
    .bind(room)
    .bind(message.author)
    .fetch_optional(db)
    .await?;
    Ok(row.map(ChatMessage::from))
}

/// Whether `person` is banned from `room`.
pub async fn is_banned(db: &SqlitePool, room: RoomId, person: &PersonId) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = ? AND visitor_id = ?)")
        .bind(room)
        .bind(person)
        .fetch_one(db)
        .await
}

async fn find_by_client_id(
    db: &SqlitePool,
    room: RoomId,
    message: &NewMessage<'_>,
) -> sqlx::Result<Option<ChatMessage>> {
    let (Some(author), Some(client_id)) = (message.author, message.client_id) else {
        return Ok(None);
    };
    let row = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND author_id = ? AND client_id = ?"
    ))
    .bind(room)
    .bind(author)
    .bind(client_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(ChatMessage::from))
}

/// Up to a page of the messages `viewer` may read before `before_seq` (or the latest ones), oldest first, and
/// whether more exist.
pub async fn messages_before(
    db: &SqlitePool,
    room: RoomId,
    viewer: &PersonId,
    before_seq: Option<i64>,
) -> sqlx::Result<(Vec<ChatMessage>, bool)> {
    let mut rows = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ? AND seq < ? AND {VISIBLE_TO} AND {NOT_BANNED} ORDER BY seq DESC LIMIT ?"
    ))
    .bind(room)
    .bind(before_seq.unwrap_or(i64::MAX))
    .bind(viewer)
    .bind(viewer)
    .bind(room)
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
    room: RoomId,
    viewer: &PersonId,
    after_seq: i64,
    until_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<ChatMessage>> {
    let rows = sqlx::query_as::<_, MessageRow>(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ? AND seq > ? AND seq <= ? AND {VISIBLE_TO} AND {NOT_BANNED} ORDER BY seq LIMIT ?"
    ))
    .bind(room)
    .bind(after_seq)
    .bind(until_seq)
    .bind(viewer)
    .bind(viewer)
    .bind(room)
    .bind(viewer)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(ChatMessage::from).collect())
}

/// Deletes a room and its messages; returns the GIF files its messages pointed at, for the caller to delete.
pub async fn delete_room(db: &SqlitePool, room: RoomId) -> sqlx::Result<Vec<String>> {
    let mut tx = db.begin().await?;
    // Start with a write, so the transaction takes the write lock at once (a read first would have to upgrade,
    // which fails if another write commits in between).
    let files =
        sqlx::query_scalar::<_, String>("DELETE FROM messages WHERE room_id = ? AND kind = 'gif' RETURNING body")
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM rooms WHERE id = ?").bind(room).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(files)
}

/// Remembers that `person` may enter the password room `room`.
pub async fn grant(db: &SqlitePool, room: RoomId, person: &PersonId) -> sqlx::Result<()> {
    grant_with(db, room, person).await
}

async fn grant_with(db: impl SqliteExecutor<'_>, room: RoomId, person: &PersonId) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO room_grants (room_id, visitor_id, granted_at) VALUES (?, ?, ?)")
        .bind(room)
        .bind(person)
        .bind(now_millis())
        .execute(db)
        .await?;
    Ok(())
}

/// The sequence number of the room's latest message (0 for none), or `None` if the room does not exist.
pub async fn last_seq(db: &SqlitePool, room: RoomId) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar::<_, i64>("SELECT last_seq FROM rooms WHERE id = ?").bind(room).fetch_optional(db).await
}

/// Stores the room's owner as decided at presence version `version`, unless a later decision is stored already.
pub async fn set_owner(db: &SqlitePool, room: RoomId, owner: &PersonId, version: u64) -> sqlx::Result<()> {
    sqlx::query("UPDATE rooms SET owner_id = ?, owner_version = ? WHERE id = ? AND owner_version < ?")
        .bind(owner)
        .bind(version as i64)
        .bind(room)
        .bind(version as i64)
        .execute(db)
        .await?;
    Ok(())
}

/// What a kick did.
#[derive(Debug)]
pub enum Kicked {
    /// Banned, unfollowed and ungranted; the room was told in this system message.
    Done(ChatMessage),
    NotOwner,
    NoRoom,
}

/// The owner `by` removes `target` from `room`, in one transaction: the ban, the end of their read mark and
/// password grant, and the system message saying so. Whoever is not the owner changes nothing.
pub async fn kick(
    db: &SqlitePool,
    room: RoomId,
    by: &PersonId,
    target: &PersonId,
    announcement: &str,
) -> sqlx::Result<Kicked> {
    let mut tx = db.begin().await?;
    // The ban comes first (a write: the transaction holds the write lock from here), and only as the owner.
    let banned = sqlx::query(
        "INSERT OR REPLACE INTO room_bans (room_id, visitor_id, banned_at)
         SELECT id, ?, ? FROM rooms WHERE id = ? AND owner_id = ?",
    )
    .bind(target)
    .bind(now_millis())
    .bind(room)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    if banned.rows_affected() == 0 {
        let exists = sqlx::query_scalar::<_, i64>("SELECT 1 FROM rooms WHERE id = ?")
            .bind(room)
            .fetch_optional(&mut *tx)
            .await?;
        return Ok(if exists.is_some() { Kicked::NotOwner } else { Kicked::NoRoom });
    }
    sqlx::query("DELETE FROM read_marks WHERE room_id = ? AND visitor_id = ?")
        .bind(room)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM room_grants WHERE room_id = ? AND visitor_id = ?")
        .bind(room)
        .bind(target)
        .execute(&mut *tx)
        .await?;
    let message = insert_message_with(&mut *tx, room, &NewMessage::system(announcement)).await?;
    tx.commit().await?;
    Ok(message.map_or(Kicked::NoRoom, Kicked::Done))
}

/// Records that `person` has read `room` up to `seq` (never moving the mark back). Someone banned from the room
/// gets no mark (a leave racing the kick must not make them follow the room again).
pub async fn mark_read(db: &SqlitePool, room: RoomId, person: &PersonId, seq: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO read_marks (room_id, visitor_id, last_read_seq)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM room_bans WHERE room_id = ?1 AND visitor_id = ?2)
         ON CONFLICT (room_id, visitor_id) DO UPDATE SET last_read_seq = max(last_read_seq, excluded.last_read_seq)",
    )
    .bind(room)
    .bind(person)
    .bind(seq)
    .execute(db)
    .await?;
    Ok(())
}

/// People who entered `room` before (and so follow it from the room list), unless banned from it since.
pub async fn readers(db: &SqlitePool, room: RoomId) -> sqlx::Result<Vec<PersonId>> {
    sqlx::query_scalar::<_, PersonId>(
        "SELECT visitor_id FROM read_marks r WHERE room_id = ?
         AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.room_id AND b.visitor_id = r.visitor_id)",
    )
    .bind(room)
    .fetch_all(db)
    .await
}

/// For every room `viewer` entered before: how many messages from others came since they read it, and the
/// latest of them.
pub async fn unread_for(db: &SqlitePool, viewer: &PersonId) -> sqlx::Result<Vec<(RoomId, u32, Option<ChatMessage>)>> {
    let counts = sqlx::query_as::<_, (RoomId, i64)>(
        "SELECT r.room_id, (SELECT COUNT(*) FROM messages m
                WHERE m.room_id = r.room_id AND m.seq > r.last_read_seq AND m.kind != 'system'
                  AND m.author_id != r.visitor_id
                  AND (m.kind != 'whisper' OR m.recipient_id = r.visitor_id))
         FROM read_marks r WHERE r.visitor_id = ?
           AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.room_id AND b.visitor_id = r.visitor_id)",
    )
    .bind(viewer)
    .fetch_all(db)
    .await?;
    let mut result = Vec::with_capacity(counts.len());
    for (room, count) in counts {
        let last = sqlx::query_as::<_, MessageRow>(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE room_id = ? AND kind != 'system' AND author_id != ? AND {VISIBLE_TO}
             ORDER BY seq DESC LIMIT 1"
        ))
        .bind(room)
        .bind(viewer)
        .bind(viewer)
        .bind(viewer)
        .fetch_optional(db)
        .await?;
        result.push((room, count as u32, last.map(ChatMessage::from)));
    }
    Ok(result)
}

/// Every stored GIF file name (for the start-up sweep of orphaned files).
pub async fn gif_files(db: &SqlitePool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar::<_, String>("SELECT body FROM messages WHERE kind = 'gif'").fetch_all(db).await
}

#[cfg(test)]
mod tests {
    //! Repository tests on a real, migrated SQLite file in a temporary directory (one per test).
    use super::*;

    async fn test_db() -> (tempfile::TempDir, SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("test.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePool::connect_with(options).await.unwrap();
        sqlx::migrate!("../migrations").run(&pool).await.unwrap();
        (dir, pool)
    }

    fn id(name: &str) -> PersonId {
        PersonId::trusted(name)
    }

    async fn room(db: &SqlitePool, owner: &PersonId, password_hash: Option<&str>) -> RoomId {
        let new = NewRoom { title: "test", max_members: 10, password_hash, owner };
        insert_room(db, new).await.unwrap().id
    }

    fn text<'a>(author: &'a PersonId, body: &'a str, client_id: Option<&'a str>) -> NewMessage<'a> {
        NewMessage { kind: MessageKind::Text, author: Some(author), recipient: None, body, client_id }
    }

    #[tokio::test]
    async fn concurrent_senders_get_every_number_once_without_gaps() {
        let (_dir, db) = test_db().await;
        let alice = id("alice");
        let room = room(&db, &alice, None).await;
        let sends = (0..40).map(|n| {
            let (db, alice) = (db.clone(), alice.clone());
            tokio::spawn(async move {
                let body = format!("m{n}");
                match insert_message(&db, room, text(&alice, &body, None)).await.unwrap().unwrap() {
                    Inserted::New(message) => message.seq,
                    Inserted::Duplicate(_) => panic!("no client id, no duplicate"),
                }
            })
        });
        let mut seqs: Vec<i64> = futures_util::future::join_all(sends).await.into_iter().map(Result::unwrap).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
        assert_eq!(last_seq(&db, room).await.unwrap(), Some(40));
    }

    #[tokio::test]
    async fn a_retried_send_finds_the_original_and_other_authors_may_reuse_the_id() {
        let (_dir, db) = test_db().await;
        let (alice, bob) = (id("alice"), id("bob"));
        let room = room(&db, &alice, None).await;
        let Some(Inserted::New(first)) = insert_message(&db, room, text(&alice, "hi", Some("c1"))).await.unwrap()
        else {
            panic!()
        };
        let Some(Inserted::Duplicate(again)) = insert_message(&db, room, text(&alice, "hi", Some("c1"))).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(first, again);
        assert!(matches!(
            insert_message(&db, room, text(&bob, "hi", Some("c1"))).await.unwrap(),
            Some(Inserted::New(_))
        ));
        assert!(insert_message(&db, RoomId::new(999), text(&alice, "hi", None)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn admission_reports_bans_and_grants_for_the_asker_only() {
        let (_dir, db) = test_db().await;
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        let room = room(&db, &alice, Some("$argon2id$…")).await;
        let owner = admission(&db, room, &alice).await.unwrap().unwrap();
        assert!(owner.granted && !owner.banned, "the owner of a locked room is granted it");
        grant(&db, room, &bob).await.unwrap();
        assert!(admission(&db, room, &bob).await.unwrap().unwrap().granted);
        assert!(!admission(&db, room, &carol).await.unwrap().unwrap().granted);
        assert!(admission(&db, RoomId::new(999), &alice).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_kick_is_all_or_nothing_and_only_the_owners() {
        let (_dir, db) = test_db().await;
        let (alice, bob) = (id("alice"), id("bob"));
        let room = room(&db, &alice, Some("hash")).await;
        grant(&db, room, &bob).await.unwrap();
        mark_read(&db, room, &bob, 0).await.unwrap();

        assert!(matches!(kick(&db, room, &bob, &alice, "no").await.unwrap(), Kicked::NotOwner));
        assert!(!admission(&db, room, &alice).await.unwrap().unwrap().banned, "a non-owner's kick changes nothing");
        assert!(matches!(kick(&db, RoomId::new(999), &alice, &bob, "no").await.unwrap(), Kicked::NoRoom));

        let Kicked::Done(message) = kick(&db, room, &alice, &bob, "Bob was removed").await.unwrap() else { panic!() };
        assert_eq!((message.kind, message.body.as_str(), message.seq), (MessageKind::System, "Bob was removed", 1));
        let bob_now = admission(&db, room, &bob).await.unwrap().unwrap();
        assert!(bob_now.banned && !bob_now.granted);
        assert!(readers(&db, room).await.unwrap().is_empty());

        // After the kick, nothing of the room reaches Bob, whatever a late write does.
        mark_read(&db, room, &bob, 1).await.unwrap();
        let marks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM read_marks WHERE visitor_id = 'bob'")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(marks, 0, "a leave racing the kick adds no read mark");
        insert_message(&db, room, text(&alice, "after", None)).await.unwrap();
        assert!(messages_before(&db, room, &bob, None).await.unwrap().0.is_empty());
        assert!(messages_after(&db, room, &bob, 0, 10, 10).await.unwrap().is_empty());
        assert!(insert_message(&db, room, text(&bob, "still here?", None)).await.unwrap().is_none());
        assert!(is_banned(&db, room, &bob).await.unwrap());
    }

    #[tokio::test]
    async fn whispers_are_read_by_their_two_people_only() {
        let (_dir, db) = test_db().await;
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        let room = room(&db, &alice, None).await;
        let whisper = NewMessage {
            kind: MessageKind::Whisper,
            author: Some(&alice),
            recipient: Some(&bob),
            body: "psst",
            client_id: None,
        };
        insert_message(&db, room, whisper).await.unwrap();
        insert_message(&db, room, text(&alice, "hello all", None)).await.unwrap();
        for (viewer, expected) in [(&alice, 2), (&bob, 2), (&carol, 1)] {
            assert_eq!(messages_before(&db, room, viewer, None).await.unwrap().0.len(), expected);
            assert_eq!(messages_after(&db, room, viewer, 0, 2, 10).await.unwrap().len(), expected);
        }
        mark_read(&db, room, &carol, 0).await.unwrap();
        let unread = unread_for(&db, &carol).await.unwrap();
        assert_eq!(unread[0].1, 1, "carol's count skips the whisper");
        assert_eq!(unread[0].2.as_ref().unwrap().body, "hello all");
    }

    #[tokio::test]
    async fn a_hand_over_written_late_does_not_undo_a_later_one() {
        let (_dir, db) = test_db().await;
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        let room = room(&db, &alice, None).await;
        set_owner(&db, room, &carol, 7).await.unwrap();
        set_owner(&db, room, &bob, 5).await.unwrap(); // decided earlier, written later
        assert_eq!(find_room(&db, room).await.unwrap().unwrap().owner_id, carol);
    }

    #[tokio::test]
    async fn deleting_a_room_returns_its_gif_files_and_leaves_no_rows() {
        let (_dir, db) = test_db().await;
        let alice = id("alice");
        let room = room(&db, &alice, None).await;
        let gif = NewMessage {
            kind: MessageKind::Gif,
            author: Some(&alice),
            recipient: None,
            body: "a.gif",
            client_id: None,
        };
        insert_message(&db, room, gif).await.unwrap();
        assert_eq!(gif_files(&db).await.unwrap(), vec!["a.gif"]);
        assert_eq!(delete_room(&db, room).await.unwrap(), vec!["a.gif"]);
        assert!(find_room(&db, room).await.unwrap().is_none());
        assert_eq!(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM messages").fetch_one(&db).await.unwrap(), 0);
    }
}
