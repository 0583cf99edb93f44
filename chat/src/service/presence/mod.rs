//! Who is in which room, shared by every server process using the database.
//!
//! A person (a session) is in a room while any row of theirs is in `presence`: one row per room, person and
//! process they are connected through, counting that process's live connections. Two tabs count once, on one
//! process or on two. A row whose last connection closed stays for the leave grace (a reload is not a leave),
//! then goes; when it was the person's last row, they have left. A visit (someone without the live channel posting
//! a plain form, `Chat::visit`) is a row of its own, with no connection and its end set when it starts.
//!
//! Every change begins by bumping the room's presence version (`UPDATE rooms … RETURNING`): that statement takes
//! the room's row lock on PostgreSQL and the database's write lock on SQLite, so the changes of one room happen
//! one after another across every process, and joins can never exceed a room's limit. The [`Snapshot`] taken in
//! the same transaction carries the version: announcements may be published in any order after that, and
//! receivers drop those older than what they have. A change that turns out to change nothing rolls back.
//!
//! Each process holds a lease in `instances` that it renews every second. When a process's lease runs out (it
//! crashed, or lost the database), another one [`reap`]s it: its rows start their leave grace as if its
//! connections had closed. Room timers are rows too (`rooms.remove_at`, `rooms.owner_away_since`): the process
//! that started one also sets a timer of its own for it, and every process looks for timers that came due
//! ([`due_work`]) every second, so no room's life depends on one process staying up.
//!
//! Every function that depends on the time takes `now` (Unix ms): the rules are tested without waiting.
//!
//! (Over 400 lines: every statement on the presence table and the rules they carry, leases, graces and room
//! timers, kept together because each rule spans several of them. The tests are in `tests.rs`.)

use sqlx::FromRow;

use crate::identity::person;
use crate::store::{Db, with_pool};
use protocol::model::{Person, PersonId, RoomId};

/// How long the presence rules wait, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Graces {
    /// A person whose last connection closed still counts this long.
    pub leave: i64,
    /// An empty room lives this long; an owner who left it empty keeps it this long.
    pub room: i64,
    /// Added to an empty room's life when its last people went with their process (a crash or a restart): their
    /// clients are reconnecting with back-off, possibly to another process.
    pub lost: i64,
}

/// Who is in a room and who owns it, at one presence version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// In order of arrival.
    pub people: Vec<Person>,
    pub owner: PersonId,
    pub version: u64,
}

impl Snapshot {
    pub fn present(&self) -> u32 {
        self.people.len() as u32
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// A newcomer is in: announce them with this snapshot. `takes_over` is set when the owner left the room
    /// empty longer than its grace ago: the newcomer now owns it.
    Arrived {
        snapshot: Snapshot,
        takes_over: bool,
        /// Visitors whose seat the newcomer took (see [`join`]): they have left.
        bumped: Vec<Person>,
    },
    /// One more connection of someone already present; nothing to announce.
    AlreadyHere {
        snapshot: Snapshot,
    },
    Full,
    Removed,
    Banned,
}

/// People taken out of a room in one step: their leave grace ran out, or the owner kicked them.
#[derive(Debug, PartialEq, Eq)]
pub struct Departures {
    pub left: Vec<Person>,
    /// The owner was among them and someone is still here: the longest present now owns the room.
    pub new_owner: Option<Person>,
    /// The owner was among them and left the room empty: see [`hand_over_if_owner_away`] after the room's grace.
    pub owner_away: bool,
    /// The room is empty now, and will be removed at this time (Unix ms) unless someone arrives.
    pub remove_at: Option<i64>,
    pub snapshot: Snapshot,
}

/// A room as a change of its presence found it, its row locked.
#[derive(FromRow)]
struct Locked {
    presence_version: i64,
    owner_id: PersonId,
    max_members: i64,
    owner_away_since: Option<i64>,
}

/// The first statement of every change: takes the room's lock and its next presence version.
const BUMP: &str = "UPDATE rooms SET presence_version = presence_version + 1 WHERE id = $1
     RETURNING presence_version, owner_id, max_members, owner_away_since";

/// The people in a room, in order of arrival.
const PEOPLE: &str =
    "SELECT visitor_id FROM presence WHERE room_id = $1 GROUP BY visitor_id ORDER BY MIN(arrival), visitor_id";

/// Runs the statements of one change of a room's presence in a transaction on whichever database `$db` is:
/// `$tx` is the transaction, `$locked` the room's [`Locked`] row (`None`, and nothing else runs, if the room does
/// not exist). `$body` commits what it keeps; returning without committing rolls back.
macro_rules! in_room_change {
    ($db:expr, $room:expr, |$tx:ident, $locked:ident| $body:expr) => {
        with_pool!($db, |pool| {
            let mut $tx = pool.begin().await?;
            let $locked: Option<Locked> = sqlx::query_as(BUMP).bind($room).fetch_optional(&mut *$tx).await?;
            $body
        })
    };
}

/// The people of a room as of the transaction `$tx`.
macro_rules! people {
    ($tx:expr, $room:expr) => {{
        let ids: Vec<PersonId> = sqlx::query_scalar(PEOPLE).bind($room).fetch_all(&mut *$tx).await?;
        ids.iter().map(|id| person(id.as_str())).collect::<Vec<Person>>()
    }};
}

/// Stores, in the transaction `$tx`, who owns the room and its timers after departures (`$outcome`, an
/// [`AfterDepartures`]).
macro_rules! store_after_departures {
    ($tx:expr, $room:expr, $outcome:expr) => {
        sqlx::query("UPDATE rooms SET owner_id = $2, owner_away_since = $3, remove_at = $4 WHERE id = $1")
            .bind($room)
            .bind(&$outcome.departures.snapshot.owner)
            .bind($outcome.owner_away_since)
            .bind($outcome.departures.remove_at)
            .execute(&mut *$tx)
            .await?
    };
}

/// The `instance_id` of visit rows. A visit belongs to no process (its end is set when it starts, so nothing has to
/// end it): one row per person and room, whichever process took the post.
pub const VISIT: &str = "visit";

/// How someone comes into a room.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A live connection through the process `instance`.
    Connection { instance: &'a str },
    /// A visit (a plain form post, without the live channel), as if a connection had opened now and would close
    /// at `until` (Unix ms); another post moves its end.
    Visit { until: i64 },
}

/// The people in a room who hold a seat: everyone with a live connection (or in its leave grace), and the owner.
/// A visitor (a plain form post, no live channel) is present, listed, and may post, but a live arrival in a
/// full room takes a visitor's seat, the visit ending soonest first: otherwise anyone posting forms could keep a
/// small room closed to its members.
const SEATED: &str = "SELECT COUNT(DISTINCT visitor_id) FROM presence
     WHERE room_id = $1 AND (instance_id <> 'visit' OR visitor_id = (SELECT owner_id FROM rooms WHERE id = $1))";

/// How many seats of the room are held (see [`SEATED`]).
pub async fn seats_taken(db: &Db, room: RoomId) -> sqlx::Result<i64> {
    with_pool!(db, |pool| sqlx::query_scalar(SEATED).bind(room).fetch_one(pool).await)
}

/// Adds one connection, or a visit, of `who` to the room, if the room has space for them (people already present
/// always do; a live connection may take a visitor's seat, see [`SEATED`]) and they are not banned from it: the
/// check and the registration in one transaction, under the room's lock. A live connection ends its person's
/// visit: from then on the connection keeps them here.
pub async fn join(
    db: &Db,
    room: RoomId,
    who: &PersonId,
    entry: Entry<'_>,
    now: i64,
    graces: Graces,
) -> sqlx::Result<JoinOutcome> {
    const BANNED: &str = "SELECT EXISTS (SELECT 1 FROM room_bans WHERE room_id = $1 AND visitor_id = $2)";
    const COUNT: &str = "SELECT COUNT(DISTINCT visitor_id),
            EXISTS (SELECT 1 FROM presence WHERE room_id = $1 AND visitor_id = $2)
         FROM presence WHERE room_id = $1";
    // A person already here through another process keeps their place in the order of arrival.
    const CONNECT: &str = "INSERT INTO presence (room_id, visitor_id, instance_id, connections, arrival, left_at)
         VALUES ($1, $2, $3, 1,
                 COALESCE((SELECT MIN(arrival) FROM presence WHERE room_id = $1 AND visitor_id = $2), $4), NULL)
         ON CONFLICT (room_id, visitor_id, instance_id)
         DO UPDATE SET connections = presence.connections + 1, left_at = NULL";
    // Visitors without a live connection, who are not the owner, their visit ending soonest first.
    const VISITORS_BY_END: &str = "SELECT visitor_id FROM presence p WHERE room_id = $1 AND instance_id = 'visit'
           AND visitor_id <> (SELECT owner_id FROM rooms WHERE id = $1)
           AND NOT EXISTS (SELECT 1 FROM presence q
                           WHERE q.room_id = p.room_id AND q.visitor_id = p.visitor_id AND q.instance_id <> 'visit')
         ORDER BY left_at, visitor_id LIMIT $2";
    const END_VISIT_NOW: &str = "DELETE FROM presence WHERE room_id = $1 AND visitor_id = $2 AND instance_id = 'visit'";
    const VISIT_ROW: &str = "INSERT INTO presence (room_id, visitor_id, instance_id, connections, arrival, left_at)
         VALUES ($1, $2, $3, 0,
                 COALESCE((SELECT MIN(arrival) FROM presence WHERE room_id = $1 AND visitor_id = $2), $4), $5)
         ON CONFLICT (room_id, visitor_id, instance_id) DO UPDATE SET left_at = $5";
    in_room_change!(db, room, |tx, locked| {
        let Some(locked) = locked else { return Ok(JoinOutcome::Removed) };
        let version = locked.presence_version;
        let banned: bool = sqlx::query_scalar(BANNED).bind(room).bind(who).fetch_one(&mut *tx).await?;
        if banned {
            return Ok(JoinOutcome::Banned);
        }
        let (present, here): (i64, bool) = sqlx::query_as(COUNT).bind(room).bind(who).fetch_one(&mut *tx).await?;
        let mut bumped = Vec::new();
        if !here && present >= locked.max_members {
            let seated: i64 = sqlx::query_scalar(SEATED).bind(room).fetch_one(&mut *tx).await?;
            if seated >= locked.max_members || matches!(entry, Entry::Visit { .. }) {
                return Ok(JoinOutcome::Full);
            }
            let passing: Vec<PersonId> = sqlx::query_scalar(VISITORS_BY_END)
                .bind(room)
                .bind(present - locked.max_members + 1)
                .fetch_all(&mut *tx)
                .await?;
            for visitor in passing {
                sqlx::query(END_VISIT_NOW).bind(room).bind(&visitor).execute(&mut *tx).await?;
                bumped.push(person(visitor.as_str()));
            }
        }
        match entry {
            Entry::Connection { instance } => {
                sqlx::query(CONNECT).bind(room).bind(who).bind(instance).bind(version).execute(&mut *tx).await?;
                sqlx::query(END_VISIT_NOW).bind(room).bind(who).execute(&mut *tx).await?
            }
            Entry::Visit { until } => {
                sqlx::query(VISIT_ROW)
                    .bind(room)
                    .bind(who)
                    .bind(VISIT)
                    .bind(version)
                    .bind(until)
                    .execute(&mut *tx)
                    .await?
            }
        };
        if here {
            let snapshot = Snapshot { people: people!(tx, room), owner: locked.owner_id, version: version as u64 };
            tx.commit().await?;
            return Ok(JoinOutcome::AlreadyHere { snapshot });
        }
        // The owner is back; or they left the room empty longer than its grace ago and it is still empty: the
        // newcomer takes over. (With people here, the longest present does: `hand_over_if_owner_away`.)
        let owner_back = locked.owner_id == *who;
        let takes_over =
            !owner_back && present == 0 && locked.owner_away_since.is_some_and(|since| since <= now - graces.room);
        let owner = if takes_over { who.clone() } else { locked.owner_id };
        let owner_away_since = if owner_back || takes_over { None } else { locked.owner_away_since };
        sqlx::query("UPDATE rooms SET owner_id = $2, owner_away_since = $3, remove_at = NULL WHERE id = $1")
            .bind(room)
            .bind(&owner)
            .bind(owner_away_since)
            .execute(&mut *tx)
            .await?;
        let snapshot = Snapshot { people: people!(tx, room), owner, version: version as u64 };
        tx.commit().await?;
        Ok(JoinOutcome::Arrived { snapshot, takes_over, bumped })
    })
}

/// Ends `who`'s visit to the room as of `at` (Unix ms): their row is then due like a closed connection's.
pub async fn end_visit(db: &Db, room: RoomId, who: &PersonId, at: i64) -> sqlx::Result<()> {
    let sql = "UPDATE presence SET left_at = $3 WHERE room_id = $1 AND visitor_id = $2 AND instance_id = 'visit'";
    with_pool!(db, |pool| sqlx::query(sql).bind(room).bind(who).bind(at).execute(pool).await.map(drop))
}

/// Who is connected to which room through `instance`, as the database has it.
pub async fn connected_through(db: &Db, instance: &str) -> sqlx::Result<Vec<(RoomId, PersonId)>> {
    let sql = "SELECT room_id, visitor_id FROM presence WHERE instance_id = $1 AND connections > 0";
    with_pool!(db, |pool| sqlx::query_as(sql).bind(instance).fetch_all(pool).await)
}

/// One connection of `who` through `instance` closed. True if it was their last one there: their row now waits
/// out the leave grace (see [`finish_departures`]).
pub async fn leave(db: &Db, room: RoomId, who: &PersonId, instance: &str, now: i64) -> sqlx::Result<bool> {
    let sql = "UPDATE presence SET connections = connections - 1,
                left_at = CASE WHEN connections = 1 THEN $4 ELSE left_at END
         WHERE room_id = $1 AND visitor_id = $2 AND instance_id = $3 AND connections > 0
         RETURNING connections";
    let left: Option<i64> = with_pool!(db, |pool| {
        sqlx::query_scalar(sql).bind(room).bind(who).bind(instance).bind(now).fetch_optional(pool).await?
    });
    Ok(left == Some(0))
}

/// Takes out the rows whose leave grace is over. People with no row left have left: an owner among them hands
/// the room to the longest present, or, leaving it empty, keeps it for the room's grace; an empty room's removal
/// is scheduled. `None` if nobody left.
pub async fn finish_departures(db: &Db, room: RoomId, now: i64, graces: Graces) -> sqlx::Result<Option<Departures>> {
    let cutoff = now - graces.leave;
    in_room_change!(db, room, |tx, locked| {
        let Some(locked) = locked else { return Ok(None) };
        // The rows it deletes are the ones it reports, whatever is written meanwhile (leaves do not lock the room).
        let due: Vec<(PersonId, String)> = sqlx::query_as(
            "DELETE FROM presence WHERE room_id = $1 AND left_at <= $2 RETURNING visitor_id, instance_id",
        )
        .bind(room)
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(None);
        }
        let people = people!(tx, room);
        let mut left: Vec<Person> = Vec::new();
        for (id, _) in &due {
            if !people.iter().any(|p| p.id == *id) && !left.iter().any(|p| p.id == *id) {
                left.push(person(id.as_str()));
            }
        }
        if left.is_empty() {
            // Only rows of people still here through another process (or tab) went.
            tx.commit().await?;
            return Ok(None);
        }
        // Whether those who left went with their process (crashed or stopped): they may be reconnecting.
        let live: Vec<String> = sqlx::query_scalar("SELECT id FROM instances").fetch_all(&mut *tx).await?;
        let lost = due
            .iter()
            .any(|(id, instance)| left.iter().any(|p| p.id == *id) && instance != VISIT && !live.contains(instance));
        let outcome = after_departures(locked, left, people, now, graces, lost);
        store_after_departures!(tx, room, outcome);
        tx.commit().await?;
        Ok(Some(outcome.departures))
    })
}

/// Removes `who` from the room at once, whatever their connections (a kick; the ban that keeps them out is
/// stored first). `None` if they were not present. (If they had become the owner meanwhile, the room passes on
/// as when an owner leaves.)
pub async fn evict(
    db: &Db,
    room: RoomId,
    who: &PersonId,
    now: i64,
    graces: Graces,
) -> sqlx::Result<Option<Departures>> {
    in_room_change!(db, room, |tx, locked| {
        let Some(locked) = locked else { return Ok(None) };
        let gone = sqlx::query("DELETE FROM presence WHERE room_id = $1 AND visitor_id = $2")
            .bind(room)
            .bind(who)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() == 0 {
            return Ok(None);
        }
        let people = people!(tx, room);
        let outcome = after_departures(locked, vec![person(who.as_str())], people, now, graces, false);
        store_after_departures!(tx, room, outcome);
        tx.commit().await?;
        Ok(Some(outcome.departures))
    })
}

struct AfterDepartures {
    departures: Departures,
    owner_away_since: Option<i64>,
}

/// The rules once `left` have gone and `people` remain: who owns the room, and whether it is empty.
fn after_departures(
    locked: Locked,
    left: Vec<Person>,
    people: Vec<Person>,
    now: i64,
    graces: Graces,
    lost: bool,
) -> AfterDepartures {
    let owner_left = left.iter().any(|p| p.id == locked.owner_id);
    let new_owner = if owner_left { people.first().cloned() } else { None };
    let owner_away = owner_left && people.is_empty();
    let owner_away_since = if owner_away { Some(now) } else { locked.owner_away_since };
    let remove_at = people.is_empty().then(|| now + graces.room + if lost { graces.lost } else { 0 });
    let owner = new_owner.as_ref().map_or(locked.owner_id, |p| p.id.clone());
    let snapshot = Snapshot { people, owner, version: locked.presence_version as u64 };
    AfterDepartures { departures: Departures { left, new_owner, owner_away, remove_at, snapshot }, owner_away_since }
}

/// The room's grace after its owner left it empty is over: if they are still away, the longest present takes
/// over. Returns them and the room after; `None` if the owner is back, or nobody is here (then the next to arrive
/// takes over, see [`join`]).
pub async fn hand_over_if_owner_away(
    db: &Db,
    room: RoomId,
    now: i64,
    graces: Graces,
) -> sqlx::Result<Option<(Person, Snapshot)>> {
    in_room_change!(db, room, |tx, locked| {
        let Some(locked) = locked else { return Ok(None) };
        if locked.owner_away_since.is_none_or(|since| since > now - graces.room) {
            return Ok(None);
        }
        let people = people!(tx, room);
        let Some(successor) = people.first().cloned() else { return Ok(None) };
        sqlx::query("UPDATE rooms SET owner_id = $2, owner_away_since = NULL WHERE id = $1")
            .bind(room)
            .bind(&successor.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let snapshot = Snapshot { people, owner: successor.id.clone(), version: locked.presence_version as u64 };
        Ok(Some((successor, snapshot)))
    })
}

/// Whether `who` is in the room now.
pub async fn is_present(db: &Db, room: RoomId, who: &PersonId) -> sqlx::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM presence WHERE room_id = $1 AND visitor_id = $2)";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(room).bind(who).fetch_one(pool).await)
}

/// Whether `who` has the room's page open now: a live connection to it, through any process (a visit after a
/// plain form, or a leave grace, is not one).
pub async fn is_connected(db: &Db, room: RoomId, who: &PersonId) -> sqlx::Result<bool> {
    let sql = "SELECT EXISTS (SELECT 1 FROM presence WHERE room_id = $1 AND visitor_id = $2 AND connections > 0)";
    with_pool!(db, |pool| sqlx::query_scalar(sql).bind(room).bind(who).fetch_one(pool).await)
}

/// Who is in the room now (`None` if it does not exist), read in one statement.
pub async fn snapshot(db: &Db, room: RoomId) -> sqlx::Result<Option<Snapshot>> {
    let sql = "SELECT r.presence_version, r.owner_id, p.visitor_id FROM rooms r
         LEFT JOIN (SELECT visitor_id, MIN(arrival) AS arrival FROM presence WHERE room_id = $1 GROUP BY visitor_id) p
           ON TRUE
         WHERE r.id = $1 ORDER BY p.arrival, p.visitor_id";
    let rows: Vec<(i64, PersonId, Option<PersonId>)> =
        with_pool!(db, |pool| sqlx::query_as(sql).bind(room).fetch_all(pool).await?);
    let Some((version, owner, _)) = rows.first().cloned() else { return Ok(None) };
    let people = rows.iter().filter_map(|(_, _, id)| id.as_ref()).map(|id| person(id.as_str())).collect();
    Ok(Some(Snapshot { people, owner, version: version as u64 }))
}

/// Starts the lease of a process (`now + lease` ms).
pub async fn register(db: &Db, instance: &str, now: i64, lease: i64) -> sqlx::Result<()> {
    let sql = "INSERT INTO instances (id, lease_until, started_at) VALUES ($1, $2, $3)";
    with_pool!(db, |pool| sqlx::query(sql).bind(instance).bind(now + lease).bind(now).execute(pool).await.map(drop))
}

/// Renews a process's lease. False if the others reaped it meanwhile (its people were taken out): the process
/// must start over under a new id.
pub async fn renew(db: &Db, instance: &str, now: i64, lease: i64) -> sqlx::Result<bool> {
    let sql = "UPDATE instances SET lease_until = $2 WHERE id = $1";
    let renewed =
        with_pool!(db, |pool| sqlx::query(sql).bind(instance).bind(now + lease).execute(pool).await?.rows_affected());
    Ok(renewed == 1)
}

/// A process stops: its people's rows start their leave grace (they are reconnecting to another process, or to
/// its successor), and its lease ends.
pub async fn retire(db: &Db, instance: &str, now: i64) -> sqlx::Result<()> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM instances WHERE id = $1").bind(instance).execute(&mut *tx).await?;
        sqlx::query("UPDATE presence SET connections = 0, left_at = $2 WHERE instance_id = $1 AND left_at IS NULL")
            .bind(instance)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// Ends the leases that ran out before `now`: the rows of those processes' people (and of any process with no
/// lease at all) start their leave grace. Returns the rooms where someone's grace started.
pub async fn reap(db: &Db, now: i64) -> sqlx::Result<Vec<RoomId>> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM instances WHERE lease_until < $1").bind(now).execute(&mut *tx).await?;
        let mut rooms: Vec<RoomId> = sqlx::query_scalar(
            "UPDATE presence SET connections = 0, left_at = $1 WHERE left_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = presence.instance_id)
             RETURNING room_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rooms.sort();
        rooms.dedup();
        Ok(rooms)
    })
}

/// Room timers that came due, whichever process started them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DueWork {
    /// Rooms with people whose leave grace is over ([`finish_departures`]).
    pub departures: Vec<RoomId>,
    /// Rooms whose owner left them empty longer than the grace ago, with someone here now
    /// ([`hand_over_if_owner_away`]).
    pub hand_overs: Vec<RoomId>,
    /// Empty rooms whose grace is over.
    pub removals: Vec<RoomId>,
}

pub async fn due_work(db: &Db, now: i64, graces: Graces) -> sqlx::Result<DueWork> {
    let departures = "SELECT DISTINCT room_id FROM presence WHERE left_at <= $1";
    let hand_overs = "SELECT id FROM rooms WHERE owner_away_since <= $1
         AND EXISTS (SELECT 1 FROM presence p WHERE p.room_id = rooms.id)";
    let removals = "SELECT id FROM rooms WHERE remove_at <= $1";
    with_pool!(db, |pool| {
        Ok(DueWork {
            departures: sqlx::query_scalar(departures).bind(now - graces.leave).fetch_all(pool).await?,
            hand_overs: sqlx::query_scalar(hand_overs).bind(now - graces.room).fetch_all(pool).await?,
            removals: sqlx::query_scalar(removals).bind(now).fetch_all(pool).await?,
        })
    })
}

/// Gives every empty room without a removal time one (`remove_at`): rooms stored before presence was shared.
pub async fn schedule_unscheduled_removals(db: &Db, remove_at: i64) -> sqlx::Result<()> {
    let sql = "UPDATE rooms SET remove_at = $1 WHERE remove_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM presence p WHERE p.room_id = rooms.id)";
    with_pool!(db, |pool| sqlx::query(sql).bind(remove_at).execute(pool).await.map(drop))
}

#[cfg(test)]
mod tests;
