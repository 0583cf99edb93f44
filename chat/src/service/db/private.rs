//! Private rooms in the database (see `service::private`): a room for two, recorded in `private_rooms` with its
//! pair, at most one open room per pair.

use super::{NewRoom, ROOM_COLUMNS, RoomRow, now_millis};
use crate::store::{Db, with_pool};
use protocol::model::{PersonId, RoomId};

/// SQL condition: the room `room` (a column or parameter) is open to `person`: it is not private, or it is theirs.
pub fn open_to(room: &str, person: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM private_rooms pr WHERE pr.room_id = {room}
                       AND pr.first_id <> {person} AND pr.second_id <> {person})"
    )
}

/// A pair in the order the table keeps it (the smaller id first).
fn pair<'a>(a: &'a PersonId, b: &'a PersonId) -> (&'a PersonId, &'a PersonId) {
    if a.as_str() <= b.as_str() { (a, b) } else { (b, a) }
}

/// The private room `a` and `b` have open, if any.
pub async fn room_of(db: &Db, a: &PersonId, b: &PersonId) -> sqlx::Result<Option<RoomRow>> {
    let (first, second) = pair(a, b);
    let sql = format!(
        "SELECT {ROOM_COLUMNS} FROM rooms JOIN private_rooms pr ON pr.room_id = rooms.id
         WHERE pr.first_id = $1 AND pr.second_id = $2"
    );
    with_pool!(db, |pool| sqlx::query_as(&sql).bind(first).bind(second).fetch_optional(pool).await)
}

/// Creates `room` as the private room of its owner (who invites) and `invitee`, in one transaction: the room, or
/// `None` if the two have one open already (made meanwhile by one of them: [`room_of`] finds it).
pub async fn insert(db: &Db, room: NewRoom<'_>, invitee: &PersonId) -> sqlx::Result<Option<RoomRow>> {
    let (first, second) = pair(room.owner, invitee);
    let pair_row = "INSERT INTO private_rooms (room_id, inviter_id, invitee_id, first_id, second_id)
                    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (first_id, second_id) DO NOTHING";
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let row = insert_room_row!(tx, room).await?;
        let paired = sqlx::query(pair_row)
            .bind(row.id)
            .bind(room.owner)
            .bind(invitee)
            .bind(first)
            .bind(second)
            .execute(&mut *tx)
            .await?;
        if paired.rows_affected() == 0 {
            // Rolled back: the room goes with it.
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(row))
    })
}

/// Whether `room` is a private room (false for a room that does not exist).
pub async fn is_private(db: &Db, room: RoomId) -> sqlx::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM private_rooms WHERE room_id = $1)";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(room).fetch_one(pool).await)
}

/// Who is in the private room `room` with `person`, if it is a private room of theirs.
pub async fn other_in(db: &Db, room: RoomId, person: &PersonId) -> sqlx::Result<Option<PersonId>> {
    let sql = "SELECT CASE WHEN first_id = $2 THEN second_id ELSE first_id END FROM private_rooms
               WHERE room_id = $1 AND (first_id = $2 OR second_id = $2)";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(room).bind(person).fetch_optional(pool).await)
}
