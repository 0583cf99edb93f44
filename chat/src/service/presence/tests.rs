//! The rules, on a real migrated database (SQLite, or PostgreSQL when the test command gives one), with the
//! clock passed in.

use super::*;
use crate::service::db::{NewRoom, insert_room};
use crate::testing::test_db;

const GRACES: Graces = Graces { leave: 1_000, room: 10_000, lost: 20_000 };
const T: i64 = 1_000_000;

async fn room(db: &Db, owner: &str, max: u32) -> RoomId {
    let owner = PersonId::trusted(owner);
    let new = NewRoom { title: "t", max_members: max, password_hash: None, owner: &owner, remove_at: i64::MAX };
    insert_room(db, new).await.unwrap().id
}

fn id(name: &str) -> PersonId {
    PersonId::trusted(name)
}

async fn join_as(db: &Db, room: RoomId, name: &str, instance: &str) -> JoinOutcome {
    join(db, room, &id(name), Entry::Connection { instance }, T, GRACES).await.unwrap()
}

fn names(snapshot: &Snapshot) -> Vec<&str> {
    snapshot.people.iter().map(|p| p.id.as_str()).collect()
}

#[tokio::test]
async fn two_tabs_on_two_processes_count_once_and_leave_once() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "alice", 2).await;
    for instance in ["one", "two"] {
        register(&db, instance, T, 60_000).await.unwrap();
    }
    assert!(matches!(join_as(&db, room, "alice", "one").await, JoinOutcome::Arrived { .. }));
    assert!(matches!(join_as(&db, room, "alice", "two").await, JoinOutcome::AlreadyHere { .. }));
    assert!(leave(&db, room, &id("alice"), "one", T).await.unwrap(), "the last connection through one");
    assert_eq!(finish_departures(&db, room, T + 5_000, GRACES).await.unwrap(), None, "still here through two");
    assert!(is_present(&db, room, &id("alice")).await.unwrap());
    assert!(leave(&db, room, &id("alice"), "two", T + 6_000).await.unwrap());
    assert_eq!(finish_departures(&db, room, T + 6_500, GRACES).await.unwrap(), None, "within the leave grace");
    let departures = finish_departures(&db, room, T + 7_000, GRACES).await.unwrap().unwrap();
    assert_eq!(departures.left, vec![person("alice")]);
    assert!(departures.owner_away && departures.new_owner.is_none(), "the owner left the room empty");
    assert_eq!(departures.remove_at, Some(T + 7_000 + GRACES.room));
    assert!(!is_present(&db, room, &id("alice")).await.unwrap());
}

#[tokio::test]
async fn a_person_who_comes_back_during_the_leave_grace_never_left() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "alice", 2).await;
    join_as(&db, room, "alice", "one").await;
    leave(&db, room, &id("alice"), "one", T).await.unwrap();
    assert!(matches!(join_as(&db, room, "alice", "two").await, JoinOutcome::AlreadyHere { .. }));
    // The row through one goes after the grace; Alice is still here through two.
    assert_eq!(finish_departures(&db, room, T + 5_000, GRACES).await.unwrap(), None);
    assert_eq!(names(&snapshot(&db, room).await.unwrap().unwrap()), ["alice"]);
}

#[tokio::test]
async fn a_visit_counts_until_it_ends_or_a_live_connection_takes_over() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "alice", 2).await;
    let visit = |name: &'static str, until: i64| {
        let db = db.clone();
        async move { join(&db, room, &id(name), Entry::Visit { until }, T, GRACES).await.unwrap() }
    };
    assert!(matches!(visit("alice", T + 60_000).await, JoinOutcome::Arrived { .. }));
    assert_eq!(finish_departures(&db, room, T + 60_000, GRACES).await.unwrap(), None, "still visiting");
    let departures = finish_departures(&db, room, T + 60_000 + GRACES.leave, GRACES).await.unwrap().unwrap();
    assert_eq!(departures.left, [person("alice")]);
    assert_eq!(departures.remove_at, Some(T + 60_000 + GRACES.leave + GRACES.room), "nobody is reconnecting");

    // Another post moves the visit's end.
    visit("bob", T + 60_000).await;
    assert!(matches!(visit("bob", T + 90_000).await, JoinOutcome::AlreadyHere { .. }));
    assert_eq!(finish_departures(&db, room, T + 60_000 + GRACES.leave, GRACES).await.unwrap(), None);
    // Bob's page opens its live connection: the visit ends, the connection keeps him, and when it closes he
    // leaves after the leave grace like anyone (not at the visit's end).
    assert!(matches!(join_as(&db, room, "bob", "one").await, JoinOutcome::AlreadyHere { .. }));
    assert!(leave(&db, room, &id("bob"), "one", T + 1_000).await.unwrap());
    let departures = finish_departures(&db, room, T + 1_000 + GRACES.leave, GRACES).await.unwrap().unwrap();
    assert_eq!(departures.left, [person("bob")]);

    // A visit needs a free seat, but does not keep it from a live arrival: the visit ending soonest gives it up.
    visit("carol", T + 60_000).await;
    visit("dave", T + 50_000).await;
    assert_eq!(visit("erin", T + 60_000).await, JoinOutcome::Full);
    let JoinOutcome::Arrived { bumped, snapshot, .. } = join_as(&db, room, "erin", "one").await else { panic!() };
    assert_eq!((bumped, snapshot.present()), (vec![person("dave")], 2));
    let JoinOutcome::Arrived { bumped, .. } = join_as(&db, room, "frank", "two").await else { panic!() };
    assert_eq!(bumped, vec![person("carol")]);
    // Seats held live are not taken.
    assert_eq!(join_as(&db, room, "grace", "one").await, JoinOutcome::Full);
}

#[tokio::test]
async fn a_full_room_refuses_newcomers_but_not_people_already_in() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 2).await;
    join_as(&db, room, "a", "one").await;
    join_as(&db, room, "b", "two").await;
    assert_eq!(join_as(&db, room, "c", "one").await, JoinOutcome::Full);
    assert!(matches!(join_as(&db, room, "a", "two").await, JoinOutcome::AlreadyHere { .. }));
    assert_eq!(join_as(&db, RoomId::new(999), "a", "one").await, JoinOutcome::Removed);
}

#[tokio::test]
async fn concurrent_joiners_through_several_processes_never_exceed_the_limit() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "owner", 5).await;
    let joins = (0..30).map(|n| {
        let db = db.clone();
        tokio::spawn(async move {
            let instance = if n % 2 == 0 { "one" } else { "two" };
            matches!(join_as(&db, room, &format!("p{n}"), instance).await, JoinOutcome::Arrived { .. })
        })
    });
    let arrived = futures_util::future::join_all(joins).await.into_iter().filter(|ok| *ok.as_ref().unwrap());
    assert_eq!(arrived.count(), 5);
    assert_eq!(snapshot(&db, room).await.unwrap().unwrap().present(), 5);
}

#[tokio::test]
async fn every_change_has_a_higher_version_and_the_owner_passes_to_the_longest_present() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    let version = |outcome: JoinOutcome| match outcome {
        JoinOutcome::Arrived { snapshot, .. } => snapshot.version,
        other => panic!("{other:?}"),
    };
    let v1 = version(join_as(&db, room, "a", "one").await);
    let v2 = version(join_as(&db, room, "b", "two").await);
    let v3 = version(join_as(&db, room, "c", "one").await);
    leave(&db, room, &id("a"), "one", T).await.unwrap();
    let departure = finish_departures(&db, room, T + GRACES.leave, GRACES).await.unwrap().unwrap();
    assert!(v1 < v2 && v2 < v3 && v3 < departure.snapshot.version);
    assert_eq!(departure.new_owner, Some(person("b")));
    assert_eq!(departure.snapshot.owner, id("b"));
    let kicked = evict(&db, room, &id("c"), T, GRACES).await.unwrap().unwrap();
    assert!(kicked.snapshot.version > departure.snapshot.version);
    assert_eq!(names(&kicked.snapshot), ["b"]);
    assert_eq!(evict(&db, room, &id("c"), T, GRACES).await.unwrap(), None, "once");
    let stored = snapshot(&db, room).await.unwrap().unwrap();
    assert_eq!((stored.owner, stored.version), (id("b"), kicked.snapshot.version));
}

#[tokio::test]
async fn an_owner_who_left_the_room_empty_keeps_it_through_the_grace_then_it_passes_on() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    join_as(&db, room, "a", "one").await;
    leave(&db, room, &id("a"), "one", T).await.unwrap();
    let away_at = T + GRACES.leave;
    assert!(finish_departures(&db, room, away_at, GRACES).await.unwrap().unwrap().owner_away);
    // Someone arrives during the grace: they do not take over.
    let JoinOutcome::Arrived { snapshot, takes_over, .. } = join_as(&db, room, "b", "two").await else { panic!() };
    assert!(!takes_over);
    assert_eq!(snapshot.owner, id("a"));
    assert_eq!(hand_over_if_owner_away(&db, room, away_at + 1, GRACES).await.unwrap(), None, "not yet");
    let after_grace = away_at + GRACES.room;
    let due = due_work(&db, after_grace, GRACES).await.unwrap();
    assert_eq!(due.hand_overs, vec![room]);
    let (successor, snapshot) = hand_over_if_owner_away(&db, room, after_grace, GRACES).await.unwrap().unwrap();
    assert_eq!((successor.id, snapshot.owner), (id("b"), id("b")));
    assert_eq!(hand_over_if_owner_away(&db, room, after_grace, GRACES).await.unwrap(), None, "once");

    // Away past the grace with the room empty: the next arrival takes over; the owner coming back in time
    // keeps it.
    let other = self::room(&db, "d", 5).await;
    join(&db, other, &id("d"), Entry::Connection { instance: "one" }, 0, GRACES).await.unwrap();
    leave(&db, other, &id("d"), "one", 0).await.unwrap();
    finish_departures(&db, other, GRACES.leave, GRACES).await.unwrap().unwrap();
    let JoinOutcome::Arrived { snapshot, takes_over, .. } = join_as(&db, other, "e", "two").await else { panic!() };
    assert!(takes_over);
    assert_eq!(snapshot.owner, id("e"));
}

#[tokio::test]
async fn an_owner_back_in_time_keeps_the_room_and_a_newcomer_never_jumps_the_queue() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    join_as(&db, room, "a", "one").await;
    leave(&db, room, &id("a"), "one", T).await.unwrap();
    let away_at = T + GRACES.leave;
    finish_departures(&db, room, away_at, GRACES).await.unwrap().unwrap();
    join(&db, room, &id("b"), Entry::Connection { instance: "two" }, away_at + 1, GRACES).await.unwrap();
    // Past the grace, with Bob here: a newcomer does not take over (Bob, here longest, will).
    let after_grace = away_at + GRACES.room;
    let JoinOutcome::Arrived { takes_over, .. } =
        join(&db, room, &id("c"), Entry::Connection { instance: "one" }, after_grace, GRACES).await.unwrap()
    else {
        panic!()
    };
    assert!(!takes_over);
    // The owner comes back before the hand-over ran: they keep their room.
    join(&db, room, &id("a"), Entry::Connection { instance: "two" }, after_grace, GRACES).await.unwrap();
    assert_eq!(hand_over_if_owner_away(&db, room, after_grace, GRACES).await.unwrap(), None);
    assert_eq!(snapshot(&db, room).await.unwrap().unwrap().owner, id("a"));
}

#[tokio::test]
async fn a_person_keeps_their_place_in_the_order_when_they_move_to_another_process() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    join_as(&db, room, "a", "one").await;
    join_as(&db, room, "b", "one").await;
    join_as(&db, room, "c", "one").await;
    // Bob reloads, and his page reconnects through the other process.
    leave(&db, room, &id("b"), "one", T).await.unwrap();
    join_as(&db, room, "b", "two").await;
    assert_eq!(finish_departures(&db, room, T + GRACES.leave, GRACES).await.unwrap(), None);
    leave(&db, room, &id("a"), "one", T).await.unwrap();
    let departures = finish_departures(&db, room, T + GRACES.leave, GRACES).await.unwrap().unwrap();
    assert_eq!(departures.new_owner, Some(person("b")), "Bob was here before Carol");
    assert_eq!(names(&departures.snapshot), ["b", "c"]);
}

#[tokio::test]
async fn an_evicted_person_is_gone_at_once_and_their_tabs_leave_quietly() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    join_as(&db, room, "a", "one").await;
    join_as(&db, room, "b", "one").await;
    join_as(&db, room, "b", "two").await;
    let kicked = evict(&db, room, &id("b"), T, GRACES).await.unwrap().unwrap();
    assert_eq!((kicked.left, names(&kicked.snapshot)), (vec![person("b")], vec!["a"]));
    assert!(!is_present(&db, room, &id("b")).await.unwrap());
    assert!(!leave(&db, room, &id("b"), "one", T).await.unwrap(), "the kicked tabs' later leaves do nothing");
    assert!(!leave(&db, room, &id("b"), "two", T).await.unwrap());
}

#[tokio::test]
async fn empty_rooms_come_due_for_removal_unless_someone_arrives() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    join_as(&db, room, "a", "one").await;
    leave(&db, room, &id("a"), "one", T).await.unwrap();
    let removal = finish_departures(&db, room, T + GRACES.leave, GRACES).await.unwrap().unwrap().remove_at.unwrap();
    assert_eq!(due_work(&db, removal - 1, GRACES).await.unwrap().removals, Vec::<RoomId>::new());
    assert_eq!(due_work(&db, removal, GRACES).await.unwrap().removals, vec![room]);
    join(&db, room, &id("b"), Entry::Connection { instance: "two" }, removal - 1, GRACES).await.unwrap();
    assert_eq!(due_work(&db, removal, GRACES).await.unwrap().removals, Vec::<RoomId>::new(), "cancelled");
}

#[tokio::test]
async fn a_process_whose_lease_ran_out_loses_its_people_after_the_leave_grace() {
    let (_dir, db) = test_db().await;
    let room = room(&db, "a", 5).await;
    register(&db, "one", T, 5_000).await.unwrap();
    register(&db, "two", T, 5_000).await.unwrap();
    join_as(&db, room, "a", "one").await;
    join_as(&db, room, "b", "two").await;
    join_as(&db, room, "c", "two").await;
    join_as(&db, room, "c", "one").await;
    // One renews; two crashed.
    assert!(renew(&db, "one", T + 4_000, 5_000).await.unwrap());
    assert_eq!(reap(&db, T + 5_000).await.unwrap(), [], "two's lease is not over yet");
    assert_eq!(reap(&db, T + 5_001).await.unwrap(), [room]);
    assert!(!renew(&db, "two", T + 5_002, 5_000).await.unwrap(), "a reaped process has to start over");
    let due = due_work(&db, T + 5_001 + GRACES.leave, GRACES).await.unwrap();
    assert_eq!(due.departures, vec![room]);
    let departures = finish_departures(&db, room, T + 5_001 + GRACES.leave, GRACES).await.unwrap().unwrap();
    assert_eq!(departures.left, vec![person("b")], "Carol is still here through one");
    assert_eq!(names(&departures.snapshot), ["a", "c"]);

    // A process that stops in order: its people's rows start the grace at once, as lost (their clients
    // reconnect with back-off), which an empty room's removal allows for.
    retire(&db, "one", T + 6_000).await.unwrap();
    let departures = finish_departures(&db, room, T + 6_000 + GRACES.leave, GRACES).await.unwrap().unwrap();
    assert_eq!(departures.left.len(), 2);
    assert_eq!(departures.remove_at, Some(T + 6_000 + GRACES.leave + GRACES.room + GRACES.lost));
}
