//! Rooms and messages in the database (the durable truth). Private to the chat core: every function takes the
//! database and does one thing, in one statement or one transaction; the [`super::Chat`] service composes them.
//! Each is written once for both databases (see [`crate::store`]).
//!
//! (Over 400 lines: every statement on rooms and messages, side by side, because one transaction often touches
//! both: a send locks its room, a kick bans and announces, a deletion takes the room's messages and files. The
//! tests are in `tests.rs`.)

use prometheus_client::metrics::histogram::Histogram;
use sqlx::FromRow;
use sqlx::pool::PoolConnection;

use crate::identity::person;
use crate::metrics::Timer;
use crate::store::{Db, LockRoom, with_pool};
use crate::uploads;
use protocol::domain::Emoji;
use protocol::mentions;
use protocol::model::{
    ChatMessage, Deleted, MessageKind, PAGE_SIZE, PersonId, Quote, Reaction, ReactionChange, RoomId,
};

/// A room row, including the secret the client never sees.
#[derive(Debug, Clone, FromRow)]
pub struct RoomRow {
    pub id: RoomId,
    pub title: String,
    pub max_members: i64,
    pub password_hash: Option<String>,
    pub owner_id: PersonId,
    pub created_at: i64,
    /// Orders announcements of who is here (see `presence.rs`).
    pub presence_version: i64,
    /// How many people are in the room (only where the query counts them, with [`PRESENT`]; else 0).
    #[sqlx(default)]
    pub present: i64,
    /// Whether the one asking is banned from the room (only where the query asks, as [`rooms_page`] does).
    #[sqlx(default)]
    pub banned: bool,
    /// Whether it is a private room of two (only where the query asks, as [`admission`] does).
    #[sqlx(default)]
    pub private: bool,
}

/// A room as one person may or may not enter it: the room, whether they are banned from it, whether they gave
/// its password, and the latest message's number.
#[derive(Debug, Clone, FromRow)]
pub struct AdmissionRow {
    #[sqlx(flatten)]
    pub room: RoomRow,
    pub banned: bool,
    pub granted: bool,
    /// Whether they are in the room now.
    pub here: bool,
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
    reply_to: Option<i64>,
    edited_at: Option<i64>,
    deleted_by: Option<String>,
    /// A GIF's video file, once it was made (see `gifs::video_made`).
    video: Option<String>,
}

const ROOM_COLUMNS: &str = "id, title, max_members, password_hash, owner_id, created_at, presence_version";
/// The column counting the people in the room (of a query on `rooms`).
const PRESENT: &str = "(SELECT COUNT(DISTINCT visitor_id) FROM presence p WHERE p.room_id = rooms.id) AS present";
const MESSAGE_COLUMNS: &str =
    "room_id, seq, kind, author_id, recipient_id, body, created_at, reply_to, edited_at, deleted_by, video";

/// SQL condition: the message is one `viewer` (a parameter, such as `$2`) may read. Whispers are for two people.
fn visible_to(viewer: &str) -> String {
    visible_in("", viewer)
}

/// [`visible_to`], for the messages of a query that names them (`alias`, e.g. `m.`).
fn visible_in(alias: &str, viewer: &str) -> String {
    format!("({alias}kind != 'whisper' OR {alias}author_id = {viewer} OR {alias}recipient_id = {viewer})")
}

/// SQL condition: `reader` is not banned from `room` (both parameters): someone removed gets nothing of it,
/// whatever else (a read mark, a connection that has not noticed yet) says otherwise. Uncorrelated, so it is
/// evaluated once per query, not per message.
fn not_banned(room: &str, reader: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = {room} AND b.visitor_id = {reader})")
}

impl From<MessageRow> for ChatMessage {
    fn from(row: MessageRow) -> ChatMessage {
        let kind = MessageKind::parse(&row.kind).unwrap_or(MessageKind::System);
        let deleted = row.deleted_by.as_deref().and_then(Deleted::parse);
        let body = match kind {
            MessageKind::Gif if deleted.is_none() => uploads::url_of(&row.body),
            _ => row.body,
        };
        ChatMessage {
            room_id: row.room_id,
            seq: row.seq,
            kind,
            author: row.author_id.as_deref().map(person),
            recipient: row.recipient_id.as_deref().map(person),
            created_at: row.created_at,
            reactions: Vec::new(),
            // Filled in by [`with_details`] (the quote needs the message it answers).
            reply_to: row.reply_to.map(|seq| {
                Box::new(Quote { seq, kind: MessageKind::Text, author: None, excerpt: String::new(), deleted: true })
            }),
            edited_at: row.edited_at,
            video: row
                .video
                .filter(|_| kind == MessageKind::Gif && deleted.is_none())
                .map(|file| uploads::url_of(&file)),
            mentions: match kind {
                MessageKind::Text | MessageKind::Whisper => {
                    mentions::mentioned(&body).into_iter().map(person).collect()
                }
                _ => Vec::new(),
            },
            body,
            deleted,
        }
    }
}

pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64);
    now.unwrap_or_default() + CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Added to this process's clock: zero, except in the tests of a clock that is wrong (`--clock-offset-ms`).
pub static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The database's clock, in Unix ms: the one clock every process sharing the database reads.
pub async fn database_now_millis(db: &Db) -> sqlx::Result<i64> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)")
                .fetch_one(pool)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint").fetch_one(pool).await
        }
    }
}

pub struct NewRoom<'a> {
    pub title: &'a str,
    pub max_members: u32,
    pub password_hash: Option<&'a str>,
    pub owner: &'a PersonId,
    /// When the room is removed (Unix ms) unless someone enters it first.
    pub remove_at: i64,
}

const GRANT: &str =
    "INSERT INTO room_grants (room_id, visitor_id, granted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// Inserts the room `$room` (a [`NewRoom`]) on the transaction `$tx`: its row. A macro, so that it runs on
/// whichever database's transaction it is given.
macro_rules! insert_room_row {
    ($tx:expr, $room:expr) => {
        sqlx::query_as::<_, RoomRow>(&format!(
            "INSERT INTO rooms (title, max_members, password_hash, owner_id, created_at, last_active_at,
                                presence_version, remove_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7)
             RETURNING {ROOM_COLUMNS}"
        ))
        .bind($room.title)
        .bind(i64::from($room.max_members))
        .bind($room.password_hash)
        .bind($room.owner)
        .bind(now_millis())
        // Versions start from the time in microseconds: a client comparing them across a room's removal and a
        // restart keeps seeing them grow, and they stay exact as JavaScript numbers.
        .bind(now_millis() * 1000)
        .bind($room.remove_at)
        .fetch_one(&mut *$tx)
    };
}

/// Creates a room; a locked room's owner is granted it in the same transaction.
pub async fn insert_room(db: &Db, room: NewRoom<'_>) -> sqlx::Result<RoomRow> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let row = insert_room_row!(tx, room).await?;
        if row.password_hash.is_some() {
            sqlx::query(GRANT).bind(row.id).bind(room.owner).bind(now_millis()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(row)
    })
}

/// The room and what decides whether `person` may enter it, in one query. `None` if the room does not exist, or
/// is a private room that is not theirs (to anyone else it does not exist).
pub async fn admission(db: &Db, room: RoomId, person: &PersonId) -> sqlx::Result<Option<AdmissionRow>> {
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, last_seq,
                EXISTS (SELECT 1 FROM room_bans WHERE room_id = rooms.id AND visitor_id = $1) AS banned,
                EXISTS (SELECT 1 FROM room_grants WHERE room_id = rooms.id AND visitor_id = $1) AS granted,
                EXISTS (SELECT 1 FROM presence WHERE room_id = rooms.id AND visitor_id = $1) AS here,
                EXISTS (SELECT 1 FROM private_rooms pr WHERE pr.room_id = rooms.id) AS private
         FROM rooms WHERE id = $2 AND {}",
        private::open_to("rooms.id", "$1")
    );
    with_pool!(db, |pool| sqlx::query_as(&sql).bind(person).bind(room).fetch_optional(pool).await)
}

pub async fn find_room(db: &Db, id: RoomId) -> sqlx::Result<Option<RoomRow>> {
    let sql = format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1");
    with_pool!(db, |pool| sqlx::query_as(&sql).bind(id).fetch_optional(pool).await)
}

/// Up to `limit` rooms after the first `offset`, the most recently active first; with `title`, only rooms whose
/// title contains it (ignoring case). Each says whether `viewer` is banned from it. Private rooms are never listed.
pub async fn rooms_page(
    db: &Db,
    viewer: &PersonId,
    title: Option<&str>,
    offset: u32,
    limit: u32,
) -> sqlx::Result<Vec<RoomRow>> {
    // A LIKE pattern matching the text anywhere, its own wildcards taken literally.
    let pattern = title.map(|text| {
        let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    });
    let sql = format!(
        "SELECT {ROOM_COLUMNS}, {PRESENT},
                EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = rooms.id AND b.visitor_id = $4) AS banned
         FROM rooms
         WHERE ($1 IS NULL OR lower(title) LIKE lower($1) ESCAPE '\\')
           AND NOT EXISTS (SELECT 1 FROM private_rooms pr WHERE pr.room_id = rooms.id)
         ORDER BY last_active_at DESC, id DESC LIMIT $2 OFFSET $3"
    );
    with_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(&pattern)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .bind(viewer)
            .fetch_all(pool)
            .await
    })
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
    /// The message it answers (checked by the caller: one the author may read, in the same room, and a whisper's
    /// answer is a whisper between the same two).
    pub reply_to: Option<i64>,
    /// Whether the author must be in the room when the message commits (a send; not an upload, which was
    /// admitted when it began, nor a system message). Checked in the insert itself, so a send is one statement.
    pub author_present: bool,
    /// For a system line about one person's coming (`true`) or going (`false`): committed only if, as it commits,
    /// they are (are not) in the room. Their arrival and departure are stored after the changes of presence, and
    /// a quick return through another process could otherwise store "left" after "joined".
    pub about: Option<(&'a PersonId, bool)>,
}

impl<'a> NewMessage<'a> {
    /// A GIF, stored under `name`, posted by `author` (admitted when the upload began).
    pub fn gif(author: &'a PersonId, name: &'a str) -> NewMessage<'a> {
        NewMessage {
            kind: MessageKind::Gif,
            author: Some(author),
            recipient: None,
            body: name,
            client_id: None,
            reply_to: None,
            author_present: false,
            about: None,
        }
    }

    pub fn system(text: &'a str) -> NewMessage<'a> {
        NewMessage {
            kind: MessageKind::System,
            author: None,
            recipient: None,
            body: text,
            client_id: None,
            reply_to: None,
            author_present: false,
            about: None,
        }
    }
}

/// What committing a message did.
pub enum Inserted {
    New(ChatMessage),
    /// A retry: the message with this client id was already committed.
    Duplicate(ChatMessage),
}

/// One statement that takes the room's next number and inserts the message (the trigger
/// `messages_advance_room_seq` moves the room's counter on). On PostgreSQL it runs in a transaction that locked
/// the room first ([`LockRoom`]), so two sends never get the same number. An author banned meanwhile (a kick while
/// their upload was being re-encoded) posts nothing, nor one who must be present and is not. A macro, so that it
/// runs on whichever database's transaction it is given.
macro_rules! insert_message_query {
    ($room:expr, $message:expr) => {
        sqlx::query_as::<_, MessageRow>(&format!(
            "INSERT INTO messages (room_id, seq, kind, author_id, recipient_id, body, created_at, client_id, reply_to,
                                   video)
             SELECT id, last_seq + 1, $1, $2, $3, $4, $5, $6, $9,
                    CASE WHEN $1 = 'gif' THEN (SELECT NULLIF(g.video, '') FROM stored_gifs g WHERE g.name = $4) END
             FROM rooms
             WHERE id = $7 AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = rooms.id AND b.visitor_id = $2)
               AND (NOT $8 OR EXISTS (SELECT 1 FROM presence p WHERE p.room_id = rooms.id AND p.visitor_id = $2))
               AND ($10 IS NULL
                    OR EXISTS (SELECT 1 FROM presence p WHERE p.room_id = rooms.id AND p.visitor_id = $10) = $11)
             RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind($message.kind.as_str())
        .bind($message.author)
        .bind($message.recipient)
        .bind($message.body)
        .bind(now_millis())
        .bind($message.client_id)
        .bind($room)
        .bind($message.author_present)
        .bind($message.reply_to)
        .bind($message.about.map(|(person, _)| person))
        .bind($message.about.is_some_and(|(_, present)| present))
    };
}

/// Commits a message with the room's next sequence number, or finds the one a retry already committed.
/// `None` if nothing was inserted: the room does not exist (any more), the author is banned from it, or the
/// author must be present and is not.
/// The wait for a connection of the pool (which queues its callers while every connection is busy) is observed
/// in `pool_wait`.
pub async fn insert_message(
    db: &Db,
    room: RoomId,
    message: NewMessage<'_>,
    pool_wait: &Histogram,
) -> sqlx::Result<Option<Inserted>> {
    let inserted = match db {
        // One statement, one round trip: SQLite's single writer lock, taken before the statement reads, orders
        // the sends.
        Db::Sqlite(pool) => {
            let mut connection = acquire_timed(pool, pool_wait).await?;
            insert_message_query!(room, &message).fetch_optional(&mut *connection).await
        }
        Db::Postgres(pool) => {
            let mut connection = acquire_timed(pool, pool_wait).await?;
            let mut tx = sqlx::Connection::begin(&mut *connection).await?;
            tx.lock_room(room).await?;
            let row = insert_message_query!(room, &message).fetch_optional(&mut *tx).await;
            if row.is_ok() {
                tx.commit().await?;
            }
            row
        }
    };
    match inserted {
        Ok(row) => Ok(row.map(|row| Inserted::New(row.into()))),
        // A retry of a send that was committed already: answer with the original.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Ok(find_by_client_id(db, room, &message).await?.map(Inserted::Duplicate))
        }
        Err(error) => Err(error),
    }
}

/// A connection of `pool`, the time it took observed in `waited`.
async fn acquire_timed<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    waited: &Histogram,
) -> sqlx::Result<PoolConnection<DB>> {
    let timer = Timer::start();
    let connection = pool.acquire().await;
    timer.observe(waited);
    connection
}

/// The whole chat's open rooms, and the people present in them (once per room they are in).
pub async fn census(db: &Db) -> sqlx::Result<(i64, i64)> {
    let sql = "SELECT (SELECT COUNT(*) FROM rooms),
                      (SELECT COUNT(*) FROM (SELECT DISTINCT room_id, visitor_id FROM presence) AS here)";
    with_pool!(db, |pool| sqlx::query_as(sql).fetch_one(pool).await)
}

/// Whether `person` is banned from `room`.
pub async fn is_banned(db: &Db, room: RoomId, person: &PersonId) -> sqlx::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND visitor_id = $2)";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(room).bind(person).fetch_one(pool).await)
}

async fn find_by_client_id(db: &Db, room: RoomId, message: &NewMessage<'_>) -> sqlx::Result<Option<ChatMessage>> {
    let (Some(author), Some(client_id)) = (message.author, message.client_id) else {
        return Ok(None);
    };
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND author_id = $2 AND client_id = $3");
    let row: Option<MessageRow> = with_pool!(db, |pool| {
        sqlx::query_as(&sql).bind(room).bind(author).bind(client_id).fetch_optional(pool).await?
    });
    Ok(row.map(ChatMessage::from))
}

/// Up to a page of the messages `viewer` may read before `before_seq` (or the latest ones), oldest first, and
/// whether more exist.
pub async fn messages_before(
    db: &Db,
    room: RoomId,
    viewer: &PersonId,
    before_seq: Option<i64>,
) -> sqlx::Result<(Vec<ChatMessage>, bool)> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = $1 AND seq < $2 AND {} AND {} ORDER BY seq DESC LIMIT $4",
        visible_to("$3"),
        not_banned("$1", "$3"),
    );
    let mut rows: Vec<MessageRow> = with_pool!(db, |pool| {
        sqlx::query_as(&sql)
            .bind(room)
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(viewer)
            .bind(PAGE_SIZE + 1)
            .fetch_all(pool)
            .await?
    });
    let has_earlier = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    rows.reverse();
    let mut messages: Vec<ChatMessage> = rows.into_iter().map(ChatMessage::from).collect();
    with_details(db, room, viewer, messages.iter_mut()).await?;
    Ok((messages, has_earlier))
}

/// Something that happened in a room, at its number in the room's sequence (which messages and changes share):
/// a new message (`at` is its own `seq`), or a change to one (`message` as it stands now).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEvent {
    pub at: i64,
    pub message: ChatMessage,
    /// For a reaction's change: what it was, whose, and the count it leaves (as the message stands now).
    pub reaction: Option<ReactionChange>,
}

#[derive(FromRow)]
struct EventRow {
    #[sqlx(flatten)]
    message: MessageRow,
    at: i64,
    what: Option<String>,
    actor_id: Option<String>,
    emoji: Option<String>,
}

/// What `viewer` may see of what happened in the room after `after_seq` up to `until_seq` (new messages, and
/// changes to messages they may read), in order, at most `limit`: for a live connection catching up.
pub async fn room_events_after(
    db: &Db,
    room: RoomId,
    viewer: &PersonId,
    after_seq: i64,
    until_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<RoomEvent>> {
    let columns_of_m = MESSAGE_COLUMNS.split(", ").map(|column| format!("m.{column}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT * FROM (
             SELECT {MESSAGE_COLUMNS}, seq AS at, NULL AS what, NULL AS actor_id, NULL AS emoji FROM messages
             WHERE room_id = $1 AND seq > $2 AND seq <= $3 AND {visible} AND {not_banned}
             UNION ALL
             SELECT {columns_of_m}, c.seq AS at, c.what, c.actor_id, c.emoji
             FROM message_changes c JOIN messages m ON m.room_id = c.room_id AND m.seq = c.target
             WHERE c.room_id = $1 AND c.seq > $2 AND c.seq <= $3 AND {visible_m} AND {not_banned}
         ) AS events ORDER BY at LIMIT $5",
        visible = visible_to("$4"),
        visible_m = visible_in("m.", "$4"),
        not_banned = not_banned("$1", "$4"),
    );
    let rows: Vec<EventRow> = with_pool!(db, |pool| {
        sqlx::query_as(&sql).bind(room).bind(after_seq).bind(until_seq).bind(viewer).bind(limit).fetch_all(pool).await?
    });
    let mut events: Vec<RoomEvent> = rows
        .into_iter()
        .map(|row| {
            let message = ChatMessage::from(row.message);
            let reaction = match (row.what.as_deref(), row.actor_id, row.emoji) {
                (Some(what), Some(by), Some(emoji)) => Some(ReactionChange {
                    message: message.seq,
                    emoji,
                    by: PersonId::trusted(by),
                    added: what == "react",
                    count: 0,
                }),
                _ => None,
            };
            RoomEvent { at: row.at, message, reaction }
        })
        .collect();
    with_details(db, room, viewer, events.iter_mut().map(|event| &mut event.message)).await?;
    // A reaction's count is the message's now (changes taken in order end there).
    for RoomEvent { message, reaction, .. } in &mut events {
        if let Some(reaction) = reaction {
            reaction.count = message.reaction_of(&reaction.emoji).map_or(0, |of| of.count);
        }
    }
    Ok(events)
}

/// Fills in what `messages` (all of `room`) carry besides their rows: their reactions, with which are `viewer`'s,
/// and the quotes of the messages they answer. A query for each, for all of them.
pub(crate) async fn with_details<'m>(
    db: &Db,
    room: RoomId,
    viewer: &PersonId,
    messages: impl Iterator<Item = &'m mut ChatMessage>,
) -> sqlx::Result<()> {
    let mut messages: Vec<&mut ChatMessage> = messages.collect();
    with_quotes(db, room, &mut messages).await?;
    let mut seqs: Vec<i64> = messages.iter().map(|message| message.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    if seqs.is_empty() {
        return Ok(());
    }
    let list = (0..seqs.len()).map(|n| format!("${}", n + 3)).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT seq, emoji, COUNT(*) AS count, MAX(CASE WHEN visitor_id = $2 THEN 1 ELSE 0 END) = 1 AS mine
         FROM reactions WHERE room_id = $1 AND seq IN ({list}) GROUP BY seq, emoji"
    );
    let rows: Vec<(i64, String, i64, bool)> = with_pool!(db, |pool| {
        let mut query = sqlx::query_as(&sql).bind(room).bind(viewer);
        for seq in &seqs {
            query = query.bind(*seq);
        }
        query.fetch_all(pool).await?
    });
    for message in &mut messages {
        message.reactions = rows
            .iter()
            .filter(|(seq, ..)| *seq == message.seq)
            .map(|(_, emoji, count, mine)| Reaction { emoji: emoji.clone(), count: *count as u32, mine: *mine })
            .collect();
        message.reactions.sort_by_key(|reaction| Emoji::position(&reaction.emoji));
    }
    Ok(())
}

/// Fills in the quote of `message` (of `room`), if it is a reply.
pub(crate) async fn with_quote(db: &Db, room: RoomId, message: &mut ChatMessage) -> sqlx::Result<()> {
    with_quotes(db, room, &mut [message]).await
}

/// Fills in the quotes of the replies among `messages` (all of `room`): one query. The answered message is one
/// every reader of the reply may read (see [`NewMessage::reply_to`]).
async fn with_quotes(db: &Db, room: RoomId, messages: &mut [&mut ChatMessage]) -> sqlx::Result<()> {
    let mut seqs: Vec<i64> = messages.iter().filter_map(|m| m.reply_to.as_ref().map(|quote| quote.seq)).collect();
    seqs.sort_unstable();
    seqs.dedup();
    if seqs.is_empty() {
        return Ok(());
    }
    let list = (0..seqs.len()).map(|n| format!("${}", n + 2)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq IN ({list})");
    let rows: Vec<MessageRow> = with_pool!(db, |pool| {
        let mut query = sqlx::query_as(&sql).bind(room);
        for seq in &seqs {
            query = query.bind(*seq);
        }
        query.fetch_all(pool).await?
    });
    let quotes: Vec<Quote> = rows.into_iter().map(|row| Quote::of(&ChatMessage::from(row))).collect();
    for message in messages.iter_mut() {
        if let Some(quote) = message.reply_to.as_mut()
            && let Some(found) = quotes.iter().find(|found| found.seq == quote.seq)
        {
            **quote = found.clone();
        }
    }
    Ok(())
}

/// What a change to a message (a reaction, an edit, a deletion) did.
#[derive(Debug)]
pub enum Applied {
    /// Made: the change's number, and the message as it stands (the actor's reactions marked).
    Changed { at: i64, message: ChatMessage },
    /// Already so (a retry, or a second tab): nothing changed.
    Unchanged(ChatMessage),
}

/// Inserts the change `what` to message `target`, with the room's next number (see the trigger
/// `message_changes_advance_room_seq`): its number. A macro, so that it runs on whichever database's transaction
/// it is given.
macro_rules! record_change {
    ($tx:expr, $room:expr, $target:expr, $actor:expr, $what:expr, $emoji:expr, $now:expr) => {
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO message_changes (room_id, seq, target, actor_id, what, emoji, created_at)
             SELECT id, last_seq + 1, $2, $3, $4, $5, $6 FROM rooms WHERE id = $1 RETURNING seq",
        )
        .bind($room)
        .bind($target)
        .bind($actor)
        .bind($what)
        .bind($emoji)
        .bind($now)
        .fetch_one(&mut *$tx)
    };
}

/// `actor` gives (`on`) or takes back their `emoji` reaction to message `seq`, in one transaction with the change
/// it makes in the room's sequence: only someone in the room, not banned from it, who may read the message.
/// Idempotent: giving a reaction one has, or taking back one one has not, changes nothing. `None` if the actor may
/// not react to it (or it does not exist); else what was done, and how many have given that emoji to the message
/// once it was.
pub async fn react(
    db: &Db,
    room: RoomId,
    seq: i64,
    actor: &PersonId,
    emoji: &str,
    on: bool,
) -> sqlx::Result<Option<(Applied, u32)>> {
    let allowed = format!(
        "EXISTS (SELECT 1 FROM messages WHERE room_id = $1 AND seq = $2 AND deleted_by IS NULL AND {}) AND {}",
        visible_to("$3"),
        in_the_room("$1", "$3"),
    );
    // The first statement writes (on SQLite the transaction holds the write lock from there on).
    let change = if on {
        format!(
            "INSERT INTO reactions (room_id, seq, visitor_id, emoji, reacted_at) SELECT $1, $2, $3, $4, $5
             WHERE {allowed} ON CONFLICT DO NOTHING"
        )
    } else {
        format!(
            "DELETE FROM reactions WHERE room_id = $1 AND seq = $2 AND visitor_id = $3 AND emoji = $4 AND $5 > 0 AND {allowed}"
        )
    };
    let found = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2");
    let counted = "SELECT COUNT(*) FROM reactions WHERE room_id = $1 AND seq = $2 AND emoji = $3";
    let now = now_millis();
    let outcome = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        tx.lock_room(room).await?;
        let changed =
            sqlx::query(&change).bind(room).bind(seq).bind(actor).bind(emoji).bind(now).execute(&mut *tx).await?;
        let at: Option<i64> = if changed.rows_affected() > 0 {
            let what = if on { "react" } else { "unreact" };
            Some(record_change!(tx, room, seq, actor, what, Some(emoji), now).await?)
        } else {
            let may = format!("SELECT {allowed}");
            let may: bool = sqlx::query_scalar(&may).bind(room).bind(seq).bind(actor).fetch_one(&mut *tx).await?;
            if !may {
                return Ok(None);
            }
            None
        };
        let row: MessageRow = sqlx::query_as(&found).bind(room).bind(seq).fetch_one(&mut *tx).await?;
        let count: i64 = sqlx::query_scalar(counted).bind(room).bind(seq).bind(emoji).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((at, row, count as u32)))
    })?;
    let Some((at, row, count)) = outcome else { return Ok(None) };
    Ok(Some((applied(db, room, actor, at, row.into()).await?, count)))
}

/// The outcome of a change to a message: `at`, the change's number if one was made, and the message as it stands
/// (`message`) with its details, `actor`'s reactions marked.
async fn applied(
    db: &Db,
    room: RoomId,
    actor: &PersonId,
    at: Option<i64>,
    mut message: ChatMessage,
) -> sqlx::Result<Applied> {
    with_details(db, room, actor, std::iter::once(&mut message)).await?;
    Ok(match at {
        Some(at) => Applied::Changed { at, message },
        None => Applied::Unchanged(message),
    })
}

/// SQL condition: `person` is in `room` now and not banned from it (both parameters): who may change anything
/// in it.
fn in_the_room(room: &str, person: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM presence p WHERE p.room_id = {room} AND p.visitor_id = {person}) AND {}",
        not_banned(room, person)
    )
}

/// The GIF messages showing the stored GIF `gif` switch to its video (`video`, its file name), each with the change
/// it makes in its room's sequence (the author's: the video is made of their upload), a transaction per message:
/// what each switch did. A message posted after the video was recorded (`gifs::video_made`) has it already.
pub async fn show_video(db: &Db, gif: &str, video: &str) -> sqlx::Result<Vec<Applied>> {
    let showing = "SELECT room_id, seq, author_id FROM messages
                   WHERE kind = 'gif' AND body = $1 AND deleted_by IS NULL AND video IS NULL";
    let showing: Vec<(RoomId, i64, String)> =
        with_pool!(db, |pool| sqlx::query_as(showing).bind(gif).fetch_all(pool).await)?;
    let switch = "UPDATE messages SET video = $3
                  WHERE room_id = $1 AND seq = $2 AND body = $4 AND deleted_by IS NULL AND video IS NULL";
    let found = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2");
    let mut switched = Vec::with_capacity(showing.len());
    for (room, seq, author) in showing {
        let author = PersonId::trusted(author);
        let now = now_millis();
        let outcome = with_pool!(db, |pool| {
            let mut tx = pool.begin().await?;
            tx.lock_room(room).await?;
            let changed = sqlx::query(switch).bind(room).bind(seq).bind(video).bind(gif).execute(&mut *tx).await?;
            // Deleted meanwhile: nothing to switch.
            let outcome = match changed.rows_affected() {
                0 => None,
                _ => {
                    let at = record_change!(tx, room, seq, &author, "video", None::<&str>, now).await?;
                    Some((at, sqlx::query_as::<_, MessageRow>(&found).bind(room).bind(seq).fetch_one(&mut *tx).await?))
                }
            };
            tx.commit().await?;
            Ok::<_, sqlx::Error>(outcome)
        })?;
        if let Some((at, row)) = outcome {
            switched.push(applied(db, room, &author, Some(at), row.into()).await?);
        }
    }
    Ok(switched)
}

/// The message `seq` of `room`, if it exists.
pub async fn message(db: &Db, room: RoomId, seq: i64) -> sqlx::Result<Option<ChatMessage>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2");
    let row: Option<MessageRow> =
        with_pool!(db, |pool| sqlx::query_as(&sql).bind(room).bind(seq).fetch_optional(pool).await?);
    Ok(row.map(ChatMessage::from))
}

/// `author` changes the text of their message `seq` to `body` at `now`, with the change it makes in the room's
/// sequence, in one transaction: only their own text or whisper, not deleted, less than `window_millis` after
/// sending, while they are in the room. The same text again changes nothing. `None` if not allowed (the caller
/// finds out why).
pub async fn edit(
    db: &Db,
    room: RoomId,
    seq: i64,
    author: &PersonId,
    body: &str,
    now: i64,
    window_millis: i64,
) -> sqlx::Result<Option<Applied>> {
    let allowed = format!(
        "room_id = $1 AND seq = $2 AND author_id = $3 AND kind IN ('text', 'whisper') AND deleted_by IS NULL
         AND created_at > $5 - $6 AND {}",
        in_the_room("$1", "$3"),
    );
    let change = format!("UPDATE messages SET body = $4, edited_at = $5 WHERE {allowed} AND body != $4");
    let found = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2");
    let outcome = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        tx.lock_room(room).await?;
        let changed = sqlx::query(&change)
            .bind(room)
            .bind(seq)
            .bind(author)
            .bind(body)
            .bind(now)
            .bind(window_millis)
            .execute(&mut *tx)
            .await?;
        let at = match changed.rows_affected() {
            0 => None,
            _ => Some(record_change!(tx, room, seq, author, "edit", None::<&str>, now).await?),
        };
        let row: Option<MessageRow> = sqlx::query_as(&found).bind(room).bind(seq).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row.map(|row| (at, row)))
    })?;
    match outcome {
        // Unchanged only if it already says this, and they could have changed it.
        Some((None, row)) if row.body != body || row.author_id.as_deref() != Some(author.as_str()) => Ok(None),
        Some((at, row)) => applied(db, room, author, at, row.into()).await.map(Some),
        None => Ok(None),
    }
}

/// Who deletes a message: its author, or the room's owner (anyone's message but a system line, that they may
/// read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleter<'a> {
    Author(&'a PersonId),
    Owner(&'a PersonId),
}

/// What deleting a message did: the outcome, and the GIF file it pointed at (now pointed at by this message no
/// more: the caller deletes it unless another message points at it).
pub struct MessageDeletion {
    pub applied: Applied,
    pub file: Option<String>,
}

/// Deletes message `seq`: its text (or GIF) and reactions go, the row stays as a tombstone saying by whom, with
/// the change it makes in the room's sequence, in one transaction; only while the deleter is in the room. A
/// message deleted already changes nothing. `None` if not allowed.
pub async fn delete_message(db: &Db, room: RoomId, seq: i64, by: Deleter<'_>) -> sqlx::Result<Option<MessageDeletion>> {
    let (actor, deleted, whose) = match by {
        Deleter::Author(author) => (author, Deleted::ByAuthor, "author_id = $3"),
        Deleter::Owner(owner) => (
            owner,
            Deleted::ByOwner,
            "kind != 'system' AND EXISTS (SELECT 1 FROM rooms r WHERE r.id = $1 AND r.owner_id = $3)",
        ),
    };
    // The first statement writes (see `react`); it keeps the body, which the answer needs for the GIF's file.
    let mark = format!(
        "UPDATE messages SET deleted_by = $4
         WHERE room_id = $1 AND seq = $2 AND deleted_by IS NULL AND {whose} AND {} AND {}
         RETURNING kind, body",
        visible_to("$3"),
        in_the_room("$1", "$3"),
    );
    let found = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE room_id = $1 AND seq = $2");
    let now = now_millis();
    let outcome = with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        tx.lock_room(room).await?;
        let marked: Option<(String, String)> = sqlx::query_as(&mark)
            .bind(room)
            .bind(seq)
            .bind(actor)
            .bind(deleted.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let (at, file) = match marked {
            Some((kind, body)) => {
                sqlx::query("UPDATE messages SET body = '', video = NULL WHERE room_id = $1 AND seq = $2")
                    .bind(room)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM reactions WHERE room_id = $1 AND seq = $2")
                    .bind(room)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                let at = record_change!(tx, room, seq, actor, "delete", None::<&str>, now).await?;
                (Some(at), (kind == MessageKind::Gif.as_str()).then_some(body))
            }
            None => (None, None),
        };
        let row: Option<MessageRow> = sqlx::query_as(&found).bind(room).bind(seq).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row.map(|row| (at, file, row)))
    })?;
    let Some((at, file, row)) = outcome else { return Ok(None) };
    let message = ChatMessage::from(row);
    // Deleted already: unchanged, if this deleter may see that.
    if at.is_none() && (message.deleted.is_none() || !message.readable_by(actor)) {
        return Ok(None);
    }
    Ok(Some(MessageDeletion { applied: applied(db, room, actor, at, message).await?, file }))
}

/// Who reacted to message `seq` with each emoji (the first `per_emoji` of each, earliest first) and how many in
/// all, if `viewer` may read the message.
pub async fn reactors(
    db: &Db,
    room: RoomId,
    seq: i64,
    viewer: &PersonId,
    per_emoji: u32,
) -> sqlx::Result<Vec<(String, Vec<PersonId>, u32)>> {
    let sql = format!(
        "SELECT emoji, visitor_id FROM (
             SELECT emoji, visitor_id, reacted_at,
                    ROW_NUMBER() OVER (PARTITION BY emoji ORDER BY reacted_at, visitor_id) AS place
             FROM reactions WHERE room_id = $1 AND seq = $2
               AND EXISTS (SELECT 1 FROM messages WHERE room_id = $1 AND seq = $2 AND {})
         ) AS ranked WHERE place <= $4 ORDER BY reacted_at, visitor_id",
        visible_to("$3"),
    );
    let counts = "SELECT emoji, COUNT(*) FROM reactions WHERE room_id = $1 AND seq = $2 GROUP BY emoji";
    let rows: Vec<(String, String)> = with_pool!(db, |pool| {
        sqlx::query_as(&sql).bind(room).bind(seq).bind(viewer).bind(i64::from(per_emoji)).fetch_all(pool).await?
    });
    let counts: Vec<(String, i64)> =
        with_pool!(db, |pool| sqlx::query_as(counts).bind(room).bind(seq).fetch_all(pool).await?);
    let mut listed: Vec<(String, Vec<PersonId>, u32)> = Vec::new();
    for (emoji, visitor) in rows {
        match listed.iter_mut().find(|(known, ..)| *known == emoji) {
            Some((_, people, _)) => people.push(PersonId::trusted(visitor)),
            None => listed.push((emoji, vec![PersonId::trusted(visitor)], 0)),
        }
    }
    for (emoji, _, count) in &mut listed {
        *count = counts.iter().find(|(known, _)| known == emoji).map_or(0, |(_, count)| *count as u32);
    }
    listed.sort_by_key(|(emoji, ..)| Emoji::position(emoji));
    Ok(listed)
}

/// Which rooms [`delete_room`] deletes.
#[derive(Debug, Clone, Copy)]
pub enum Deletion<'a> {
    /// The room, whoever is in it, if this person owns it (checked in the deletion's transaction: an owner who
    /// handed the room over a moment before cannot delete it after).
    OwnedBy(&'a PersonId),
    /// The room if it is empty and its removal time (see `presence.rs`) is at or before this time (Unix ms).
    DueBy(i64),
}

/// Deletes a room and its messages; returns the GIF files its messages pointed at, for the caller to delete.
/// `None` if the room was not deleted (gone already, or, for [`Deletion::DueBy`], not due).
pub async fn delete_room(db: &Db, room: RoomId, which: Deletion<'_>) -> sqlx::Result<Option<Vec<String>>> {
    let (due, owner) = match which {
        Deletion::OwnedBy(owner) => (None, Some(owner)),
        Deletion::DueBy(now) => (Some(now), None),
    };
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        // No message can be added meanwhile, so every file is in the answer. (On SQLite the first statement is a
        // write, taking the write lock at once: a read first would have to upgrade, which fails if another write
        // commits in between.)
        tx.lock_room(room).await?;
        let chosen = sqlx::query(
            "UPDATE rooms SET remove_at = remove_at WHERE id = $1
             AND ($2 IS NULL OR (remove_at <= $2 AND NOT EXISTS (SELECT 1 FROM presence p WHERE p.room_id = $1)))
             AND ($3 IS NULL OR owner_id = $3)",
        )
        .bind(room)
        .bind(due)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if chosen.rows_affected() == 0 {
            return Ok(None);
        }
        let files = sqlx::query_scalar("DELETE FROM messages WHERE room_id = $1 AND kind = 'gif' RETURNING body")
            .bind(room)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM rooms WHERE id = $1").bind(room).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(files))
    })
}

/// Remembers that `person` may enter the password room `room`.
pub async fn grant(db: &Db, room: RoomId, person: &PersonId) -> sqlx::Result<()> {
    with_pool!(db, |pool| sqlx::query(GRANT).bind(room).bind(person).bind(now_millis()).execute(pool).await.map(drop))
}

/// The sequence number of the room's latest message (0 for none), or `None` if the room does not exist.
pub async fn last_seq(db: &Db, room: RoomId) -> sqlx::Result<Option<i64>> {
    let sql = "SELECT last_seq FROM rooms WHERE id = $1";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(room).fetch_optional(pool).await)
}

/// What a kick did.
#[derive(Debug)]
pub enum Kicked {
    /// Banned, unfollowed and ungranted; the room was told in this system message.
    Done(Box<ChatMessage>),
    NotOwner,
    NoRoom,
}

/// The owner `by` removes `target` from `room`, in one transaction: the ban, the end of their read mark and
/// password grant, and the system message saying so. Whoever is not the owner changes nothing.
pub async fn kick(db: &Db, room: RoomId, by: &PersonId, target: &PersonId, announcement: &str) -> sqlx::Result<Kicked> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        tx.lock_room(room).await?;
        // The ban comes first (on SQLite a write: the transaction holds the write lock from here), and only as
        // the owner.
        let banned = sqlx::query(
            "INSERT INTO room_bans (room_id, visitor_id, banned_at)
             SELECT id, $1, $2 FROM rooms WHERE id = $3 AND owner_id = $4
             ON CONFLICT (room_id, visitor_id) DO UPDATE SET banned_at = excluded.banned_at",
        )
        .bind(target)
        .bind(now_millis())
        .bind(room)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        if banned.rows_affected() == 0 {
            let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE id = $1)")
                .bind(room)
                .fetch_one(&mut *tx)
                .await?;
            return Ok(if exists { Kicked::NotOwner } else { Kicked::NoRoom });
        }
        for table in ["read_marks", "room_grants"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE room_id = $1 AND visitor_id = $2"))
                .bind(room)
                .bind(target)
                .execute(&mut *tx)
                .await?;
        }
        let message = insert_message_query!(room, &NewMessage::system(announcement)).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(message.map_or(Kicked::NoRoom, |message| Kicked::Done(Box::new(message.into()))))
    })
}

/// The people banned from `room` (at most `limit`, the latest first), with when (Unix ms): `None` unless `by`
/// owns the room.
pub async fn bans(db: &Db, room: RoomId, by: &PersonId, limit: u32) -> sqlx::Result<Option<Vec<(PersonId, i64)>>> {
    let Some(row) = find_room(db, room).await? else { return Ok(None) };
    if row.owner_id != *by {
        return Ok(None);
    }
    let sql = "SELECT visitor_id, banned_at FROM room_bans WHERE room_id = $1
               ORDER BY banned_at DESC, visitor_id LIMIT $2";
    with_pool!(db, |pool| sqlx::query_as(sql).bind(room).bind(i64::from(limit)).fetch_all(pool).await).map(Some)
}

/// What lifting a ban did.
#[derive(Debug, PartialEq)]
pub enum Lifted {
    /// The person may enter again (or was not banned: nothing changed).
    Done,
    NotOwner,
    NoRoom,
}

/// The owner `by` lets `target` into `room` again. Whoever is not the owner changes nothing.
pub async fn lift_ban(db: &Db, room: RoomId, by: &PersonId, target: &PersonId) -> sqlx::Result<Lifted> {
    let sql = "DELETE FROM room_bans WHERE room_id = $1 AND visitor_id = $2
                 AND EXISTS (SELECT 1 FROM rooms WHERE id = $1 AND owner_id = $3)";
    let lifted = with_pool!(db, |pool| {
        sqlx::query(sql).bind(room).bind(target).bind(by).execute(pool).await.map(|done| done.rows_affected())
    })?;
    if lifted > 0 {
        return Ok(Lifted::Done);
    }
    Ok(match find_room(db, room).await? {
        None => Lifted::NoRoom,
        Some(row) if row.owner_id != *by => Lifted::NotOwner,
        Some(_) => Lifted::Done,
    })
}

/// Records that `person` has read `room` up to `seq` (never moving the mark back). Someone banned from the room
/// gets no mark (a leave racing the kick must not make them follow the room again), nor does a room that is gone
/// (its people leave after its deletion).
pub async fn mark_read(db: &Db, room: RoomId, person: &PersonId, seq: i64) -> sqlx::Result<()> {
    let sql = "INSERT INTO read_marks (room_id, visitor_id, last_read_seq, marked_at)
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM rooms WHERE id = $1)
           AND NOT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND visitor_id = $2)
         ON CONFLICT (room_id, visitor_id) DO UPDATE
         SET last_read_seq = MAX_OF(excluded.last_read_seq, read_marks.last_read_seq), marked_at = excluded.marked_at";
    let sql = sql.replace("MAX_OF", if matches!(db, Db::Postgres(_)) { "GREATEST" } else { "MAX" });
    with_pool!(db, |pool| {
        sqlx::query(&sql).bind(room).bind(person).bind(seq).bind(now_millis()).execute(pool).await.map(drop)
    })
}

/// Removes the read marks nobody renewed since `older_than` (Unix milliseconds), and in each room all but the
/// `per_room` most recent: a room's followers are told of each of its messages, so they must not grow without
/// bound (a crowd of fresh identities passing through would otherwise leave thousands). How many went.
pub async fn prune_read_marks(db: &Db, older_than: i64, per_room: i64) -> sqlx::Result<u64> {
    let expired = "DELETE FROM read_marks WHERE marked_at < $1";
    let beyond = "DELETE FROM read_marks WHERE (room_id, visitor_id) IN (
             SELECT room_id, visitor_id FROM (
                 SELECT room_id, visitor_id,
                        ROW_NUMBER() OVER (PARTITION BY room_id ORDER BY marked_at DESC, visitor_id) AS place
                 FROM read_marks
                 WHERE room_id IN (SELECT room_id FROM read_marks GROUP BY room_id HAVING COUNT(*) > $1)
             ) AS ranked WHERE place > $1)";
    with_pool!(db, |pool| {
        let expired = sqlx::query(expired).bind(older_than).execute(pool).await?.rows_affected();
        Ok(expired + sqlx::query(beyond).bind(per_room).execute(pool).await?.rows_affected())
    })
}

/// This database's cluster id: made at the first start, shared by every process using the database (they find
/// each other at the broker by it).
pub async fn cluster_id(db: &Db) -> sqlx::Result<String> {
    let fresh = uuid::Uuid::new_v4().simple().to_string();
    let stored = crate::store::server_secret(db, "cluster_id", fresh.as_bytes()).await?;
    String::from_utf8(stored).map_err(|_| sqlx::Error::Protocol("the stored cluster id is not text".into()))
}

/// People who entered `room` before (and so follow it from the room list), have not read message `seq` and
/// have no live connection to the room now, unless banned from the room since, each with the last message they
/// read (so one query serves every message up to `seq`). One statement, so one moment: someone who left before
/// it saved their read mark before leaving (`Chat::leave`), and someone connected saw the message in the room.
pub async fn readers(db: &Db, room: RoomId, seq: i64) -> sqlx::Result<Vec<(PersonId, i64)>> {
    let sql = "SELECT visitor_id, last_read_seq FROM read_marks r WHERE room_id = $1 AND last_read_seq < $2
         AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.room_id AND b.visitor_id = r.visitor_id)
         AND NOT EXISTS (SELECT 1 FROM presence p
                         WHERE p.room_id = r.room_id AND p.visitor_id = r.visitor_id AND p.connections > 0)";
    with_pool!(db, |pool| sqlx::query_as(sql).bind(room).bind(seq).fetch_all(pool).await)
}

/// For every room `viewer` entered before: how many messages from others came since they read it, and the
/// latest of them. The count and the latest come from one statement, so they agree: a message committed in
/// between would otherwise be the latest without being counted, and the list, which counts the notices of
/// messages after the latest it loaded, would never count it.
pub async fn unread_for(db: &Db, viewer: &PersonId) -> sqlx::Result<Vec<(RoomId, u32, Option<ChatMessage>)>> {
    let from_others = "m.room_id = r.room_id AND m.kind != 'system' AND m.author_id != r.visitor_id
                  AND (m.kind != 'whisper' OR m.recipient_id = r.visitor_id)";
    let counts_sql = format!(
        "SELECT r.room_id,
                (SELECT COUNT(*) FROM messages m WHERE {from_others} AND m.seq > r.last_read_seq),
                (SELECT MAX(m.seq) FROM messages m WHERE {from_others})
         FROM read_marks r WHERE r.visitor_id = $1
           AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.room_id AND b.visitor_id = r.visitor_id)"
    );
    // The latest message joined to its room's counts: one statement, however many rooms.
    let sql = format!(
        "WITH counts (room_id, unread, latest) AS ({counts_sql})
         SELECT c.room_id, c.unread, m.seq, m.kind, m.author_id, m.recipient_id, m.body, m.created_at, m.deleted_by
         FROM counts c LEFT JOIN messages m ON m.room_id = c.room_id AND m.seq = c.latest"
    );
    type Row = (
        RoomId,
        i64,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = with_pool!(db, |pool| sqlx::query_as(&sql).bind(viewer).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(room_id, unread, seq, kind, author_id, recipient_id, body, created_at, deleted_by)| {
            let latest = match (seq, kind, body, created_at) {
                (Some(seq), Some(kind), Some(body), Some(created_at)) => {
                    let (reply_to, edited_at, video) = (None, None, None);
                    let row = MessageRow {
                        room_id,
                        seq,
                        kind,
                        author_id,
                        recipient_id,
                        body,
                        created_at,
                        reply_to,
                        edited_at,
                        deleted_by,
                        video,
                    };
                    Some(row.into())
                }
                _ => None,
            };
            (room_id, unread as u32, latest)
        })
        .collect())
}

/// Every GIF file name a message shows (for the sweep of orphaned files).
pub async fn gif_files(db: &Db) -> sqlx::Result<Vec<String>> {
    let sql = "SELECT body FROM messages WHERE kind = 'gif' AND deleted_by IS NULL";
    with_pool!(db, |pool| sqlx::query_scalar(sql).fetch_all(pool).await)
}

pub mod alarms;
pub mod gifs;
pub mod picker;
pub mod private;

#[cfg(test)]
mod tests;
