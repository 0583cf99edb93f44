//! A person's alarms in the database (see `service::alarms`). Every change to someone's alarms is one
//! transaction that first writes their row of `alarm_heads`: that orders their changes (on SQLite the one writer,
//! on PostgreSQL the row's lock) and numbers them without gaps.

use sqlx::FromRow;

use super::now_millis;
use crate::identity::person;
use crate::store::{Db, with_pool};
use protocol::alarms::{Alarm, AlarmChange, AlarmKind, Alarms, MAX_ALARMS};
use protocol::model::{PersonId, RoomId};

/// An alarm to raise (or to update, when the person has one of this kind about this subject already).
#[derive(Debug, Clone)]
pub struct NewAlarm {
    pub person: PersonId,
    pub kind: AlarmKind,
    pub room: RoomId,
    /// The message it is about (0: the room itself): one alarm per subject.
    pub subject: i64,
    /// The message to show, if any.
    pub message: Option<i64>,
    pub actor: PersonId,
    pub emoji: Option<String>,
    pub on_gif: bool,
}

#[derive(Debug, FromRow)]
struct AlarmRow {
    id: i64,
    kind: String,
    room_id: RoomId,
    room_title: String,
    room_gone: bool,
    message: Option<i64>,
    actor_id: String,
    actors: i64,
    emoji: Option<String>,
    on_gif: bool,
    seq: i64,
    changed_at: i64,
}

impl From<AlarmRow> for Alarm {
    fn from(row: AlarmRow) -> Alarm {
        Alarm {
            id: row.id,
            // The table's CHECK allows only the kinds there are.
            kind: AlarmKind::parse(&row.kind).unwrap_or(AlarmKind::Reaction),
            room: row.room_id,
            room_title: row.room_title,
            room_gone: row.room_gone,
            message: row.message,
            actor: person(&row.actor_id),
            others: u32::try_from(row.actors - 1).unwrap_or(0),
            emoji: row.emoji,
            on_gif: row.on_gif,
            seq: row.seq,
            at: row.changed_at,
        }
    }
}

const ALARM_COLUMNS: &str = "a.id, a.kind, a.room_id, a.room_title,
     NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = a.room_id) AS room_gone,
     a.message, a.actor_id, a.actors, a.emoji, a.on_gif, a.seq, a.changed_at";

/// Takes the person's next change number (their head row, made at their first change): the first statement of
/// each change, which holds the person's changes in order until it commits. Their new number, and up to which
/// they read.
const NEXT_CHANGE: &str = "INSERT INTO alarm_heads (person_id, last_seq, read_seq, changed_at) VALUES ($1, 1, 0, $2)
     ON CONFLICT (person_id) DO UPDATE SET last_seq = alarm_heads.last_seq + 1, changed_at = excluded.changed_at
     RETURNING last_seq, read_seq";

const UNREAD: &str = "SELECT COUNT(*) FROM alarms WHERE person_id = $1 AND seq > $2";

/// Raises `alarm`, or updates the person's alarm of its kind about its subject (the latest actor, counted once
/// each): the change, or `None` when there is none to make. None when the person muted the actor, is banned from
/// the room, the room is gone, or (for a reaction) the actor was counted already: one alarm per message and
/// kind, not one per click. The person's oldest alarms beyond [`MAX_ALARMS`] go in the same change.
pub async fn raise(db: &Db, alarm: &NewAlarm) -> sqlx::Result<Option<AlarmChange>> {
    let now = now_millis();
    let may = "SELECT r.title FROM rooms r WHERE r.id = $1
                 AND NOT EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = r.id AND b.visitor_id = $2)
                 AND NOT EXISTS (SELECT 1 FROM alarm_mutes m WHERE m.person_id = $2 AND m.muted_id = $3)";
    let existing = "SELECT id FROM alarms WHERE person_id = $1 AND room_id = $2 AND kind = $3 AND subject = $4";
    let counted = "SELECT EXISTS (SELECT 1 FROM alarm_actors WHERE alarm_id = $1 AND actor_id = $2)";
    let upsert = "INSERT INTO alarms
             (person_id, kind, room_id, room_title, subject, message, actor_id, actors, emoji, on_gif, seq, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11)
         ON CONFLICT (person_id, room_id, kind, subject) DO UPDATE SET message = excluded.message,
             actor_id = excluded.actor_id, emoji = excluded.emoji, seq = excluded.seq, changed_at = excluded.changed_at
         RETURNING id";
    let count_actors = "INSERT INTO alarm_actors (alarm_id, actor_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    let recount = "UPDATE alarms SET actors = (SELECT COUNT(*) FROM alarm_actors WHERE alarm_id = $1) WHERE id = $1";
    let found = format!("SELECT {ALARM_COLUMNS} FROM alarms a WHERE a.id = $1");
    let kind = alarm.kind.as_str();
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let (seq, read_up_to): (i64, i64) =
            sqlx::query_as(NEXT_CHANGE).bind(&alarm.person).bind(now).fetch_one(&mut *tx).await?;
        // Asked after the person's row is held: a withdrawal (which holds it too) comes wholly before or after.
        let title: Option<String> = sqlx::query_scalar(may)
            .bind(alarm.room)
            .bind(&alarm.person)
            .bind(&alarm.actor)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(title) = title else { return Ok(None) };
        if alarm.kind == AlarmKind::Reaction {
            let id: Option<i64> = sqlx::query_scalar(existing)
                .bind(&alarm.person)
                .bind(alarm.room)
                .bind(kind)
                .bind(alarm.subject)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(id) = id
                && sqlx::query_scalar::<_, bool>(counted).bind(id).bind(&alarm.actor).fetch_one(&mut *tx).await?
            {
                // Rolled back: the number taken is given back.
                return Ok(None);
            }
        }
        let id: i64 = sqlx::query_scalar(upsert)
            .bind(&alarm.person)
            .bind(kind)
            .bind(alarm.room)
            .bind(&title)
            .bind(alarm.subject)
            .bind(alarm.message)
            .bind(&alarm.actor)
            .bind(&alarm.emoji)
            .bind(alarm.on_gif)
            .bind(seq)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(count_actors).bind(id).bind(&alarm.actor).execute(&mut *tx).await?;
        sqlx::query(recount).bind(id).execute(&mut *tx).await?;
        let gone = sqlx::query_scalar(
            "DELETE FROM alarms WHERE id IN
                 (SELECT id FROM alarms WHERE person_id = $1 ORDER BY seq DESC LIMIT 1000 OFFSET $2)
             RETURNING id",
        )
        .bind(&alarm.person)
        .bind(MAX_ALARMS as i64)
        .fetch_all(&mut *tx)
        .await?;
        let row: AlarmRow = sqlx::query_as(&found).bind(id).fetch_one(&mut *tx).await?;
        let unread: i64 = sqlx::query_scalar(UNREAD).bind(&alarm.person).bind(read_up_to).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(AlarmChange { seq, alarms: vec![row.into()], gone, read_up_to, unread: unread as u32 }))
    })
}

/// Withdraws `person`'s alarms about `room` (they were removed from it), or only those of `kind` (an invitation
/// declined): the change, if they had any.
pub async fn withdraw(
    db: &Db,
    person: &PersonId,
    room: RoomId,
    kind: Option<AlarmKind>,
) -> sqlx::Result<Option<AlarmChange>> {
    take_out(db, person, Some(room), kind, None).await
}

/// Removes `person`'s alarms (about `room`, of `kind`, changed before `before`: each only if given) as one of their
/// changes: the change, if any went. It holds the person's row first (a write that changes nothing), as a raise
/// does: a raise in flight is either taken out here or comes after (and finds the ban, for a withdrawal).
async fn take_out(
    db: &Db,
    person: &PersonId,
    room: Option<RoomId>,
    kind: Option<AlarmKind>,
    before: Option<i64>,
) -> sqlx::Result<Option<AlarmChange>> {
    let hold = "UPDATE alarm_heads SET changed_at = changed_at WHERE person_id = $1";
    let taken = "DELETE FROM alarms WHERE person_id = $1 AND ($2 IS NULL OR room_id = $2)
                   AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR changed_at < $4)
                 RETURNING id";
    let kind = kind.map(AlarmKind::as_str);
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(hold).bind(person).execute(&mut *tx).await?;
        let gone: Vec<i64> =
            sqlx::query_scalar(taken).bind(person).bind(room).bind(kind).bind(before).fetch_all(&mut *tx).await?;
        if gone.is_empty() {
            return Ok(None);
        }
        let (seq, read_up_to): (i64, i64) =
            sqlx::query_as(NEXT_CHANGE).bind(person).bind(now_millis()).fetch_one(&mut *tx).await?;
        let unread: i64 = sqlx::query_scalar(UNREAD).bind(person).bind(read_up_to).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(AlarmChange { seq, alarms: Vec::new(), gone, read_up_to, unread: unread as u32 }))
    })
}

/// `person` has read their alarms up to their change `up_to` (never moving back, never past their latest): the
/// change, if it moved.
pub async fn mark_read(db: &Db, person: &PersonId, up_to: i64) -> sqlx::Result<Option<AlarmChange>> {
    // (SET reads the row as it was: `read_seq` goes up to the latest change before this one.)
    let sql = "UPDATE alarm_heads
               SET read_seq = CASE WHEN $2 < last_seq THEN $2 ELSE last_seq END,
                   last_seq = last_seq + 1, changed_at = $3
               WHERE person_id = $1 AND read_seq < CASE WHEN $2 < last_seq THEN $2 ELSE last_seq END
               RETURNING last_seq, read_seq";
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let moved: Option<(i64, i64)> =
            sqlx::query_as(sql).bind(person).bind(up_to).bind(now_millis()).fetch_optional(&mut *tx).await?;
        let Some((seq, read_up_to)) = moved else { return Ok(None) };
        let unread: i64 = sqlx::query_scalar(UNREAD).bind(person).bind(read_up_to).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(AlarmChange { seq, alarms: Vec::new(), gone: Vec::new(), read_up_to, unread: unread as u32 }))
    })
}

/// `person`'s alarms as they stand, newest first.
pub async fn alarms(db: &Db, person: &PersonId) -> sqlx::Result<Alarms> {
    let head = "SELECT last_seq, read_seq FROM alarm_heads WHERE person_id = $1";
    let listed = format!("SELECT {ALARM_COLUMNS} FROM alarms a WHERE a.person_id = $1 ORDER BY a.seq DESC LIMIT $2");
    // The number first, then the list: on PostgreSQL each statement sees its own moment, so the list may hold a
    // change after the number (the page applies that change again when it comes: harmless), never miss one
    // before it. The unread count is the list's own.
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        let head: Option<(i64, i64)> = sqlx::query_as(head).bind(person).fetch_optional(&mut *tx).await?;
        let Some((seq, read_up_to)) = head else { return Ok(Alarms::default()) };
        let rows: Vec<AlarmRow> =
            sqlx::query_as(&listed).bind(person).bind(MAX_ALARMS as i64).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let alarms: Vec<Alarm> = rows.into_iter().map(Alarm::from).collect();
        let unread = alarms.iter().filter(|alarm| alarm.unread(read_up_to)).count() as u32;
        Ok(Alarms { alarms, seq, read_up_to, unread })
    })
}

/// The number of `person`'s latest change (0 before their first), and how many of their alarms are unread.
pub async fn standing(db: &Db, person: &PersonId) -> sqlx::Result<(i64, u32)> {
    let sql =
        "SELECT h.last_seq, (SELECT COUNT(*) FROM alarms a WHERE a.person_id = h.person_id AND a.seq > h.read_seq)
               FROM alarm_heads h WHERE h.person_id = $1";
    let found: Option<(i64, i64)> = with_pool!(db, |pool| sqlx::query_as(sql).bind(person).fetch_optional(pool).await)?;
    Ok(found.map_or((0, 0), |(seq, unread)| (seq, unread as u32)))
}

/// The most people one person keeps muted: muting another forgets the one muted longest ago.
pub const MAX_MUTES: i64 = 100;

/// `person` mutes (`on`) or unmutes `muted`: nothing they do raises an alarm for `person` while it lasts.
pub async fn mute(db: &Db, person: &PersonId, muted: &PersonId, on: bool) -> sqlx::Result<()> {
    let sql = if on {
        "INSERT INTO alarm_mutes (person_id, muted_id, muted_at) VALUES ($1, $2, $3)
         ON CONFLICT (person_id, muted_id) DO UPDATE SET muted_at = excluded.muted_at"
    } else {
        "DELETE FROM alarm_mutes WHERE person_id = $1 AND muted_id = $2 AND $3 > 0"
    };
    let beyond = "DELETE FROM alarm_mutes WHERE person_id = $1 AND muted_id IN
                  (SELECT muted_id FROM alarm_mutes WHERE person_id = $1
                   ORDER BY muted_at DESC, muted_id LIMIT 1000 OFFSET $2)";
    with_pool!(db, |pool| {
        sqlx::query(sql).bind(person).bind(muted).bind(now_millis()).execute(pool).await?;
        sqlx::query(beyond).bind(person).bind(MAX_MUTES).execute(pool).await.map(drop)
    })
}

/// The people `person` muted, the latest first.
pub async fn muted(db: &Db, person: &PersonId) -> sqlx::Result<Vec<PersonId>> {
    let sql = "SELECT muted_id FROM alarm_mutes WHERE person_id = $1 ORDER BY muted_at DESC, muted_id";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(person).fetch_all(pool).await)
}

/// Up to `limit` people with alarms that did not change since `before` (Unix ms): theirs to expire.
pub async fn expiring(db: &Db, before: i64, limit: i64) -> sqlx::Result<Vec<PersonId>> {
    let sql = "SELECT DISTINCT person_id FROM alarms WHERE changed_at < $1 LIMIT $2";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(before).bind(limit).fetch_all(pool).await)
}

/// Forgets `person`'s alarms that did not change since `before` (Unix ms), as one of their changes (their pages
/// are told, and it is ordered with their other changes as a withdrawal is): the change, if any went.
pub async fn expire(db: &Db, person: &PersonId, before: i64) -> sqlx::Result<Option<AlarmChange>> {
    take_out(db, person, None, None, Some(before)).await
}

/// Forgets mutes, and people's numbering with no alarm left, untouched since `before` (Unix ms: a session's life;
/// a person whose numbering went starts again at 1, which tells a page still open to load their list again).
pub async fn forget_people(db: &Db, before: i64) -> sqlx::Result<()> {
    let mutes = "DELETE FROM alarm_mutes WHERE muted_at < $1";
    let heads = "DELETE FROM alarm_heads WHERE changed_at < $1
                 AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.person_id = alarm_heads.person_id)";
    with_pool!(db, |pool| {
        sqlx::query(mutes).bind(before).execute(pool).await?;
        sqlx::query(heads).bind(before).execute(pool).await.map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::db::{Deletion, NewRoom, delete_room, insert_room};
    use crate::testing::test_db;

    fn id(name: &str) -> PersonId {
        PersonId::trusted(name)
    }

    async fn room(db: &Db, owner: &PersonId) -> RoomId {
        let new = NewRoom { title: "Lunch", max_members: 10, password_hash: None, owner, remove_at: i64::MAX };
        insert_room(db, new).await.unwrap().id
    }

    fn reaction(person: &PersonId, room: RoomId, message: i64, actor: &PersonId) -> NewAlarm {
        NewAlarm {
            person: person.clone(),
            kind: AlarmKind::Reaction,
            room,
            subject: message,
            message: Some(message),
            actor: actor.clone(),
            emoji: Some("😂".into()),
            on_gif: false,
        }
    }

    #[tokio::test]
    async fn a_second_actor_updates_the_alarm_and_the_same_actor_again_changes_nothing() {
        let (_dir, db) = test_db().await;
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        let room = room(&db, &alice).await;
        let first = raise(&db, &reaction(&alice, room, 3, &bob)).await.unwrap().unwrap();
        assert_eq!((first.seq, first.read_up_to, first.unread, first.gone.len()), (1, 0, 1, 0));
        let alarm = &first.alarms[0];
        assert_eq!(
            (alarm.kind, alarm.room_title.as_str(), alarm.message, alarm.others),
            (AlarmKind::Reaction, "Lunch", Some(3), 0)
        );
        assert_eq!(alarm.actor.id, bob);
        assert!(!alarm.room_gone);

        let again = NewAlarm { emoji: Some("🎉".into()), ..reaction(&alice, room, 3, &bob) };
        assert!(raise(&db, &again).await.unwrap().is_none(), "one alarm per message, not per click");
        let second = raise(&db, &reaction(&alice, room, 3, &carol)).await.unwrap().unwrap();
        assert_eq!(second.seq, 2, "the number given back by the refused one is taken again: no gap");
        assert_eq!((second.alarms[0].id, second.alarms[0].others, second.unread), (alarm.id, 1, 1));
        assert_eq!(second.alarms[0].actor.id, carol, "the latest actor");

        // Another message, another alarm; a reply to the first is another kind.
        raise(&db, &reaction(&alice, room, 4, &bob)).await.unwrap().unwrap();
        let reply =
            NewAlarm { kind: AlarmKind::Reply, message: Some(9), emoji: None, ..reaction(&alice, room, 3, &bob) };
        let replied = raise(&db, &reply).await.unwrap().unwrap();
        assert_eq!((replied.seq, replied.unread), (4, 3));
        let list = alarms(&db, &alice).await.unwrap();
        assert_eq!(list.alarms.iter().map(|a| a.seq).collect::<Vec<_>>(), [4, 3, 2], "newest first");
        assert_eq!((list.seq, list.unread), (4, 3));
        assert_eq!(standing(&db, &alice).await.unwrap(), (4, 3));
        assert_eq!(standing(&db, &bob).await.unwrap(), (0, 0), "nobody alarmed Bob");
        assert_eq!(alarms(&db, &bob).await.unwrap(), Alarms::default());
    }

    #[tokio::test]
    async fn reading_counts_down_and_a_new_actor_makes_a_read_alarm_unread_again() {
        let (_dir, db) = test_db().await;
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        let room = room(&db, &alice).await;
        raise(&db, &reaction(&alice, room, 3, &bob)).await.unwrap().unwrap();
        raise(&db, &reaction(&alice, room, 4, &bob)).await.unwrap().unwrap();
        let read = mark_read(&db, &alice, 1).await.unwrap().unwrap();
        assert_eq!((read.seq, read.read_up_to, read.unread), (3, 1, 1), "read up to the first only");
        let read = mark_read(&db, &alice, 99).await.unwrap().unwrap();
        assert_eq!((read.seq, read.read_up_to, read.unread), (4, 3, 0), "never past the latest change");
        assert!(mark_read(&db, &alice, 2).await.unwrap().is_none(), "never back");
        assert!(mark_read(&db, &bob, 5).await.unwrap().is_none(), "nothing to read");
        let again = raise(&db, &reaction(&alice, room, 3, &carol)).await.unwrap().unwrap();
        assert_eq!((again.seq, again.unread), (5, 1));
        assert!(again.alarms[0].unread(again.read_up_to));
    }

    #[tokio::test]
    async fn muted_actors_banned_people_and_removed_rooms_raise_nothing_and_a_removal_withdraws() {
        let (_dir, db) = test_db().await;
        let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
        let room = room(&db, &alice).await;
        mute(&db, &alice, &bob, true).await.unwrap();
        assert!(raise(&db, &reaction(&alice, room, 3, &bob)).await.unwrap().is_none(), "muted");
        assert_eq!(muted(&db, &alice).await.unwrap(), std::slice::from_ref(&bob));
        mute(&db, &alice, &bob, false).await.unwrap();
        assert!(raise(&db, &reaction(&alice, room, 3, &bob)).await.unwrap().is_some(), "unmuted");

        // Carol is alarmed twice in the room, then removed from it: both are withdrawn in one change.
        let first = raise(&db, &reaction(&carol, room, 5, &bob)).await.unwrap().unwrap();
        let second = raise(&db, &reaction(&carol, room, 6, &bob)).await.unwrap().unwrap();
        let other = self::room(&db, &alice).await;
        raise(&db, &reaction(&carol, other, 1, &bob)).await.unwrap().unwrap();
        with_pool!(&db, |pool| sqlx::query(
            "INSERT INTO room_bans (room_id, visitor_id, banned_at) VALUES ($1, $2, 0)"
        )
        .bind(room)
        .bind(&carol)
        .execute(pool)
        .await
        .map(drop)
        .unwrap());
        assert!(raise(&db, &reaction(&carol, room, 7, &bob)).await.unwrap().is_none(), "banned");
        let withdrawn = withdraw(&db, &carol, room, None).await.unwrap().unwrap();
        let mut gone = withdrawn.gone.clone();
        gone.sort();
        assert_eq!(gone, [first.alarms[0].id, second.alarms[0].id]);
        assert_eq!((withdrawn.seq, withdrawn.unread), (4, 1), "the other room's is left");
        assert!(withdraw(&db, &carol, room, None).await.unwrap().is_none(), "nothing left to withdraw");

        // A removed room raises nothing; an alarm about it says it is gone.
        delete_room(&db, other, Deletion::OwnedBy(&alice)).await.unwrap().unwrap();
        assert!(raise(&db, &reaction(&carol, other, 2, &alice)).await.unwrap().is_none());
        let list = alarms(&db, &carol).await.unwrap();
        assert!(list.alarms[0].room_gone && list.alarms[0].link().is_none());
    }

    #[tokio::test]
    async fn a_person_keeps_their_latest_alarms_and_old_ones_go() {
        let (_dir, db) = test_db().await;
        let (alice, bob) = (id("alice"), id("bob"));
        let room = room(&db, &alice).await;
        let mut gone = Vec::new();
        for message in 1..=(MAX_ALARMS as i64 + 3) {
            gone.extend(raise(&db, &reaction(&alice, room, message, &bob)).await.unwrap().unwrap().gone);
        }
        let list = alarms(&db, &alice).await.unwrap();
        assert_eq!(list.alarms.len(), MAX_ALARMS);
        assert_eq!(list.alarms.last().unwrap().message, Some(4), "the three oldest went");
        assert_eq!(gone.len(), 3);
        assert_eq!(list.unread as usize, MAX_ALARMS);

        mute(&db, &alice, &bob, true).await.unwrap();
        assert!(expiring(&db, 0, 10).await.unwrap().is_empty(), "nothing that old");
        let later = now_millis() + 1000;
        assert_eq!(expiring(&db, later, 10).await.unwrap(), std::slice::from_ref(&alice));
        let expired = expire(&db, &alice, later).await.unwrap().unwrap();
        assert_eq!((expired.seq, expired.gone.len(), expired.unread), (MAX_ALARMS as i64 + 4, MAX_ALARMS, 0));
        assert!(expire(&db, &alice, later).await.unwrap().is_none());
        forget_people(&db, later).await.unwrap();
        assert_eq!(alarms(&db, &alice).await.unwrap(), Alarms::default(), "the numbering went with the alarms");
        assert!(muted(&db, &alice).await.unwrap().is_empty());

        // A person keeps their latest mutes only.
        for n in 0..(MAX_MUTES + 2) {
            mute(&db, &alice, &id(&format!("m{n}")), true).await.unwrap();
        }
        assert_eq!(muted(&db, &alice).await.unwrap().len() as i64, MAX_MUTES);
    }

    #[tokio::test]
    async fn concurrent_alarms_for_one_person_are_numbered_without_gaps() {
        let (_dir, db) = test_db().await;
        let alice = id("alice");
        let room = room(&db, &alice).await;
        let raises = (0..20).map(|n| {
            let (db, alice) = (db.clone(), alice.clone());
            tokio::spawn(async move {
                raise(&db, &reaction(&alice, room, 1, &id(&format!("p{n}")))).await.unwrap().unwrap()
            })
        });
        let mut seqs: Vec<i64> =
            futures_util::future::join_all(raises).await.into_iter().map(|change| change.unwrap().seq).collect();
        seqs.sort();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        let list = alarms(&db, &alice).await.unwrap();
        assert_eq!((list.alarms.len(), list.alarms[0].others, list.unread), (1, 19, 1));
    }
}
