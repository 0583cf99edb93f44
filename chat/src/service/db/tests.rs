//! Repository tests on a real, migrated database: a SQLite file in a temporary directory, or a fresh database
//! on the PostgreSQL server the test command started (see [`crate::testing::test_db`]).

use super::*;
use crate::testing::test_db;

async fn count(db: &Db, sql: &str) -> i64 {
    with_pool!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await.unwrap())
}

/// Inserts a message, its pool wait observed nowhere.
async fn insert(db: &Db, room: RoomId, message: NewMessage<'_>) -> sqlx::Result<Option<Inserted>> {
    insert_message(db, room, message, &Histogram::new([1.0])).await
}

fn id(name: &str) -> PersonId {
    PersonId::trusted(name)
}

async fn room(db: &Db, owner: &PersonId, password_hash: Option<&str>) -> RoomId {
    let new = NewRoom { title: "test", max_members: 10, password_hash, owner, remove_at: i64::MAX };
    insert_room(db, new).await.unwrap().id
}

fn text<'a>(author: &'a PersonId, body: &'a str, client_id: Option<&'a str>) -> NewMessage<'a> {
    NewMessage {
        kind: MessageKind::Text,
        author: Some(author),
        recipient: None,
        body,
        client_id,
        reply_to: None,
        author_present: false,
        about: None,
    }
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
            match insert(&db, room, text(&alice, &body, None)).await.unwrap().unwrap() {
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
    let Some(Inserted::New(first)) = insert(&db, room, text(&alice, "hi", Some("c1"))).await.unwrap() else { panic!() };
    let Some(Inserted::Duplicate(again)) = insert(&db, room, text(&alice, "hi", Some("c1"))).await.unwrap() else {
        panic!()
    };
    assert_eq!(first, again);
    assert!(matches!(insert(&db, room, text(&bob, "hi", Some("c1"))).await.unwrap(), Some(Inserted::New(_))));
    assert!(insert(&db, RoomId::new(999), text(&alice, "hi", None)).await.unwrap().is_none());
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
    assert_eq!(readers(&db, room, 1).await.unwrap(), vec![(bob.clone(), 0)], "Bob has not read message 1");
    assert!(readers(&db, room, 0).await.unwrap().is_empty(), "only messages after the read mark count");

    assert!(matches!(kick(&db, room, &bob, &alice, "no").await.unwrap(), Kicked::NotOwner));
    assert!(!admission(&db, room, &alice).await.unwrap().unwrap().banned, "a non-owner's kick changes nothing");
    assert!(matches!(kick(&db, RoomId::new(999), &alice, &bob, "no").await.unwrap(), Kicked::NoRoom));

    let Kicked::Done(message) = kick(&db, room, &alice, &bob, "Bob was removed").await.unwrap() else { panic!() };
    assert_eq!((message.kind, message.body.as_str(), message.seq), (MessageKind::System, "Bob was removed", 1));
    let bob_now = admission(&db, room, &bob).await.unwrap().unwrap();
    assert!(bob_now.banned && !bob_now.granted);
    assert!(readers(&db, room, 1).await.unwrap().is_empty());

    // After the kick, nothing of the room reaches Bob, whatever a late write does.
    mark_read(&db, room, &bob, 1).await.unwrap();
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM read_marks WHERE visitor_id = 'bob'").await,
        0,
        "a leave racing the kick adds no read mark"
    );
    insert(&db, room, text(&alice, "after", None)).await.unwrap();
    assert!(messages_before(&db, room, &bob, None).await.unwrap().0.is_empty());
    assert!(room_events_after(&db, room, &bob, 0, 10, 10).await.unwrap().is_empty());
    assert!(insert(&db, room, text(&bob, "still here?", None)).await.unwrap().is_none());
    assert!(is_banned(&db, room, &bob).await.unwrap());
}

#[tokio::test]
async fn only_the_owner_sees_and_lifts_bans_and_the_list_marks_them_for_the_banned() {
    let (_dir, db) = test_db().await;
    let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
    let room = room(&db, &alice, None).await;
    for target in [&bob, &carol] {
        assert!(matches!(kick(&db, room, &alice, target, "removed").await.unwrap(), Kicked::Done(_)));
    }
    let banned = bans(&db, room, &alice, 10).await.unwrap().unwrap();
    let mut who: Vec<_> = banned.iter().map(|(person, _)| person.as_str()).collect();
    who.sort();
    assert_eq!(who, ["bob", "carol"]);
    assert_eq!(bans(&db, room, &alice, 1).await.unwrap().unwrap().len(), 1, "capped");
    assert!(bans(&db, room, &bob, 10).await.unwrap().is_none(), "not the owner: nothing");
    assert!(bans(&db, RoomId::new(999), &alice, 10).await.unwrap().is_none());
    let marked = |rows: Vec<RoomRow>| rows.into_iter().map(|row| row.banned).collect::<Vec<_>>();
    assert_eq!(marked(rooms_page(&db, &bob, None, 0, 10).await.unwrap()), [true]);
    assert_eq!(marked(rooms_page(&db, &alice, None, 0, 10).await.unwrap()), [false]);

    assert_eq!(lift_ban(&db, room, &carol, &bob).await.unwrap(), Lifted::NotOwner);
    assert!(is_banned(&db, room, &bob).await.unwrap(), "a non-owner's lift changes nothing");
    assert_eq!(lift_ban(&db, RoomId::new(999), &alice, &bob).await.unwrap(), Lifted::NoRoom);
    assert_eq!(lift_ban(&db, room, &alice, &bob).await.unwrap(), Lifted::Done);
    assert!(!is_banned(&db, room, &bob).await.unwrap());
    assert!(is_banned(&db, room, &carol).await.unwrap(), "only Bob's ban is lifted");
    assert_eq!(lift_ban(&db, room, &alice, &bob).await.unwrap(), Lifted::Done, "lifting twice is no error");
    assert_eq!(marked(rooms_page(&db, &bob, None, 0, 10).await.unwrap()), [false]);
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
        reply_to: None,
        author_present: false,
        about: None,
    };
    insert(&db, room, whisper).await.unwrap();
    insert(&db, room, text(&alice, "hello all", None)).await.unwrap();
    for (viewer, expected) in [(&alice, 2), (&bob, 2), (&carol, 1)] {
        assert_eq!(messages_before(&db, room, viewer, None).await.unwrap().0.len(), expected);
        assert_eq!(room_events_after(&db, room, viewer, 0, 2, 10).await.unwrap().len(), expected);
    }
    mark_read(&db, room, &carol, 0).await.unwrap();
    let unread = unread_for(&db, &carol).await.unwrap();
    assert_eq!(unread[0].1, 1, "carol's count skips the whisper");
    assert_eq!(unread[0].2.as_ref().unwrap().body, "hello all");
}

#[tokio::test]
async fn a_title_search_ignores_case_and_takes_wildcards_literally() {
    let (_dir, db) = test_db().await;
    let alice = id("alice");
    for title in ["100% Fun", "a_b", "axb", "C:\\temp"] {
        let new = NewRoom { title, max_members: 10, password_hash: None, owner: &alice, remove_at: i64::MAX };
        insert_room(&db, new).await.unwrap();
    }
    let titles = |rows: Vec<RoomRow>| rows.into_iter().map(|row| row.title).collect::<Vec<_>>();
    assert_eq!(titles(rooms_page(&db, &alice, Some("fun"), 0, 10).await.unwrap()), ["100% Fun"]);
    assert_eq!(titles(rooms_page(&db, &alice, Some("%"), 0, 10).await.unwrap()), ["100% Fun"]);
    assert_eq!(titles(rooms_page(&db, &alice, Some("_"), 0, 10).await.unwrap()), ["a_b"]);
    assert_eq!(titles(rooms_page(&db, &alice, Some("\\"), 0, 10).await.unwrap()), ["C:\\temp"]);
    assert_eq!(rooms_page(&db, &alice, None, 0, 10).await.unwrap().len(), 4);
    assert_eq!(titles(rooms_page(&db, &alice, None, 1, 1).await.unwrap()), ["axb"], "newest first, paged");
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
        reply_to: None,
        author_present: false,
        about: None,
    };
    insert(&db, room, gif).await.unwrap();
    assert_eq!(gif_files(&db).await.unwrap(), vec!["a.gif"]);
    assert_eq!(delete_room(&db, room, Deletion::DueBy(now_millis())).await.unwrap(), None, "not due");
    assert_eq!(delete_room(&db, room, Deletion::OwnedBy(&id("mallory"))).await.unwrap(), None, "not the owner");
    assert_eq!(delete_room(&db, room, Deletion::OwnedBy(&alice)).await.unwrap(), Some(vec!["a.gif".to_owned()]));
    assert!(find_room(&db, room).await.unwrap().is_none());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages").await, 0);
    // Someone who was in it leaves afterwards: their read mark is for nothing, and no error.
    mark_read(&db, room, &id("bob"), 1).await.unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM read_marks").await, 0);
}

#[tokio::test]
async fn read_marks_only_move_forward_and_are_pruned_by_age_and_per_room() {
    let (_dir, db) = test_db().await;
    let alice = id("alice");
    let (busy, quiet) = (room(&db, &alice, None).await, room(&db, &alice, None).await);
    mark_read(&db, busy, &alice, 5).await.unwrap();
    mark_read(&db, busy, &alice, 3).await.unwrap();
    assert_eq!(readers(&db, busy, 9).await.unwrap(), vec![(alice.clone(), 5)], "a late, older mark moves nothing");

    for n in 0..5 {
        mark_read(&db, busy, &id(&format!("reader{n}")), 0).await.unwrap();
    }
    mark_read(&db, quiet, &id("reader0"), 0).await.unwrap();
    // The busy room keeps its three most recent marks; the quiet one is under the cap.
    let marks = "SELECT COUNT(*) FROM read_marks";
    assert_eq!(prune_read_marks(&db, 0, 3).await.unwrap(), 3);
    assert_eq!(count(&db, marks).await, 4);
    assert_eq!(count(&db, &format!("SELECT COUNT(*) FROM read_marks WHERE room_id = {}", quiet.get())).await, 1);
    // Marks older than the cut are gone, wherever they are.
    assert_eq!(prune_read_marks(&db, now_millis() + 1, 3).await.unwrap(), 4);
    assert_eq!(count(&db, marks).await, 0);
}

/// Puts `person` in `room` (a live connection through a test process).
/// A 15-minute window for edits.
const WINDOW: i64 = 15 * 60_000;

async fn be_present(db: &Db, room: RoomId, person: &PersonId) {
    let sql =
        "INSERT INTO presence (room_id, visitor_id, instance_id, connections, arrival) VALUES ($1, $2, 'test', 1, 1)";
    with_pool!(db, |pool| sqlx::query(sql).bind(room).bind(person).execute(pool).await.map(drop).unwrap());
}

#[tokio::test]
async fn a_line_about_someone_coming_or_going_is_stored_only_if_it_is_still_so() {
    let (_dir, db) = test_db().await;
    let (alice, bob) = (id("alice"), id("bob"));
    let room = room(&db, &alice, None).await;
    let about =
        |text: &'static str, person, present| NewMessage { about: Some((person, present)), ..NewMessage::system(text) };
    // Bob is away: "left" is true, "joined" is not (he went again before it was stored).
    assert!(insert(&db, room, about("Bob joined", &bob, true)).await.unwrap().is_none());
    assert!(insert(&db, room, about("Bob left", &bob, false)).await.unwrap().is_some());
    // He came back (through another process) before his departure was stored: "left" would now be false.
    be_present(&db, room, &bob).await;
    assert!(insert(&db, room, about("Bob left", &bob, false)).await.unwrap().is_none());
    assert!(insert(&db, room, about("Bob joined", &bob, true)).await.unwrap().is_some());
    // Other system lines are stored as before.
    assert!(insert(&db, room, NewMessage::system("Alice is the owner now")).await.unwrap().is_some());
    let (page, _) = messages_before(&db, room, &alice, None).await.unwrap();
    let said: Vec<&str> = page.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(said, ["Bob left", "Bob joined", "Alice is the owner now"]);
}

#[tokio::test]
async fn reactions_take_their_turn_in_the_rooms_sequence_and_are_caught_up_on_in_order() {
    let (_dir, db) = test_db().await;
    let (alice, bob) = (id("alice"), id("bob"));
    let room = room(&db, &alice, None).await;
    for person in [&alice, &bob] {
        be_present(&db, room, person).await;
    }
    let Some(Inserted::New(first)) = insert(&db, room, text(&alice, "first", None)).await.unwrap() else { panic!() };

    let Some(Applied::Changed { at, message }) = reaction(&db, room, first.seq, &bob, "😂", true).await.unwrap()
    else {
        panic!("a new reaction is a change")
    };
    assert_eq!(at, 2, "the change takes the room's next number");
    assert_eq!(message.reactions, [Reaction { emoji: "😂".into(), count: 1, mine: true }]);
    assert!(
        matches!(reaction(&db, room, first.seq, &bob, "😂", true).await.unwrap(), Some(Applied::Unchanged(_))),
        "giving it again changes nothing"
    );
    let Some(Inserted::New(second)) = insert(&db, room, text(&alice, "second", None)).await.unwrap() else { panic!() };
    assert_eq!(second.seq, 3, "messages and changes share the sequence, without gaps");
    reaction(&db, room, first.seq, &alice, "😂", true).await.unwrap();
    reaction(&db, room, first.seq, &bob, "😂", false).await.unwrap();
    assert!(matches!(reaction(&db, room, first.seq, &bob, "😂", false).await.unwrap(), Some(Applied::Unchanged(_))));

    // A page that had message 1 catches up on the rest in order: the change, the message, two more changes,
    // each change carrying the message as it stands now, the reader's own reactions marked.
    let events = room_events_after(&db, room, &alice, 1, 10, 10).await.unwrap();
    let order: Vec<(i64, i64, Option<bool>)> =
        events.iter().map(|e| (e.at, e.message.seq, e.reaction.as_ref().map(|r| r.added))).collect();
    assert_eq!(order, [(2, 1, Some(true)), (3, 3, None), (4, 1, Some(true)), (5, 1, Some(false))]);
    assert_eq!(events[0].message.reactions, [Reaction { emoji: "😂".into(), count: 1, mine: true }]);
    assert_eq!(events[3].reaction.as_ref().map(|r| r.by.as_str()), Some("bob"));
    assert_eq!(events[3].reaction.as_ref().map(|r| r.count), Some(1), "the count as the message stands now");
    assert_eq!(room_events_after(&db, room, &alice, 3, 4, 10).await.unwrap().len(), 1, "up to `until` only");
    let (page, _) = messages_before(&db, room, &bob, None).await.unwrap();
    assert_eq!(page[0].reactions, [Reaction { emoji: "😂".into(), count: 1, mine: false }], "Bob's is gone");

    let listed = reactors(&db, room, first.seq, &bob, 30).await.unwrap();
    assert_eq!(listed, [("😂".to_owned(), vec![alice.clone()], 1)]);
}

#[tokio::test]
async fn only_someone_in_the_room_who_may_read_a_message_reacts_to_it_and_a_whisper_s_reactions_stay_its_own() {
    let (_dir, db) = test_db().await;
    let (alice, bob, carol, dave) = (id("alice"), id("bob"), id("carol"), id("dave"));
    let room = room(&db, &alice, None).await;
    for person in [&alice, &bob, &carol] {
        be_present(&db, room, person).await;
    }
    let whisper = NewMessage { kind: MessageKind::Whisper, recipient: Some(&bob), ..text(&alice, "psst", None) };
    let Some(Inserted::New(whisper)) = insert(&db, room, whisper).await.unwrap() else { panic!() };
    assert!(reaction(&db, room, whisper.seq, &carol, "👀", true).await.unwrap().is_none(), "not Carol's to see");
    assert!(reaction(&db, room, whisper.seq, &dave, "👀", true).await.unwrap().is_none(), "Dave is not in the room");
    assert!(reaction(&db, room, 99, &bob, "👀", true).await.unwrap().is_none(), "no such message");
    assert!(matches!(reaction(&db, room, whisper.seq, &bob, "👀", true).await.unwrap(), Some(Applied::Changed { .. })));
    assert!(room_events_after(&db, room, &carol, 0, 10, 10).await.unwrap().is_empty(), "nor its changes");
    assert_eq!(room_events_after(&db, room, &alice, 0, 10, 10).await.unwrap().len(), 2);

    // Removed from the room: Bob's reactions stop there.
    kick(&db, room, &alice, &bob, "Bob was removed").await.unwrap();
    assert!(reaction(&db, room, whisper.seq, &bob, "👀", false).await.unwrap().is_none());
}

#[tokio::test]
async fn forty_people_reacting_at_once_each_get_one_number_and_the_counts_add_up() {
    let (_dir, db) = test_db().await;
    let alice = id("alice");
    let room = room(&db, &alice, None).await;
    let Some(Inserted::New(target)) = insert(&db, room, text(&alice, "react to me", None)).await.unwrap() else {
        panic!()
    };
    let people: Vec<PersonId> = (0..40).map(|n| id(&format!("p{n}"))).collect();
    for person in &people {
        be_present(&db, room, person).await;
    }
    let reactions = people.iter().enumerate().map(|(n, person)| {
        let (db, person) = (db.clone(), person.clone());
        tokio::spawn(async move {
            let emoji = Emoji::ALL[n % 4];
            // Each twice (a retry): the second changes nothing.
            let first = react(&db, room, 1, &person, emoji, true).await.unwrap();
            let again = reaction(&db, room, 1, &person, emoji, true).await.unwrap();
            assert!(matches!(again, Some(Applied::Unchanged(_))));
            match first {
                Some((Applied::Changed { at, .. }, count)) => (at, emoji, count),
                other => panic!("{other:?}"),
            }
        })
    });
    let mut made: Vec<(i64, &str, u32)> =
        futures_util::future::join_all(reactions).await.into_iter().map(Result::unwrap).collect();
    made.sort();
    let numbers: Vec<i64> = made.iter().map(|(at, ..)| *at).collect();
    assert_eq!(numbers, (target.seq + 1..=target.seq + 40).collect::<Vec<_>>(), "every number once, no gaps");
    // Each change says the count it left: per emoji, in the order of their numbers, one more each time.
    for emoji in &Emoji::ALL[..4] {
        let counts: Vec<u32> = made.iter().filter(|(_, e, _)| e == emoji).map(|(.., count)| *count).collect();
        assert_eq!(counts, (1..=10).collect::<Vec<_>>(), "{emoji}");
    }
    let (page, _) = messages_before(&db, room, &alice, None).await.unwrap();
    let counts: Vec<(String, u32)> = page[0].reactions.iter().map(|r| (r.emoji.clone(), r.count)).collect();
    assert_eq!(counts, Emoji::ALL[..4].iter().map(|e| ((*e).to_owned(), 10)).collect::<Vec<_>>());
    let events = room_events_after(&db, room, &alice, 0, 100, 100).await.unwrap();
    assert_eq!(events.iter().map(|e| e.at).collect::<Vec<_>>(), (1..=41).collect::<Vec<_>>(), "caught up in order");
}

#[tokio::test]
async fn edits_and_deletions_are_changes_in_the_sequence_and_catch_up_brings_the_message_as_it_stands() {
    let (_dir, db) = test_db().await;
    let (alice, bob) = (id("alice"), id("bob"));
    let room = room(&db, &alice, None).await;
    for person in [&alice, &bob] {
        be_present(&db, room, person).await;
    }
    let Some(Inserted::New(first)) = insert(&db, room, text(&alice, "first", None)).await.unwrap() else { panic!() };
    reaction(&db, room, first.seq, &bob, "😂", true).await.unwrap();
    let now = now_millis();
    let Some(Applied::Changed { at, message }) =
        edit(&db, room, first.seq, &alice, "first!", now, WINDOW).await.unwrap()
    else {
        panic!("an edit is a change")
    };
    assert_eq!((at, message.body.as_str(), message.edited_at), (3, "first!", Some(now)));
    assert!(matches!(
        edit(&db, room, first.seq, &alice, "first!", now, WINDOW).await.unwrap(),
        Some(Applied::Unchanged(_))
    ));
    assert!(edit(&db, room, first.seq, &bob, "mine now", now, WINDOW).await.unwrap().is_none(), "not Bob's to edit");
    let late = first.created_at + WINDOW;
    assert!(
        edit(&db, room, first.seq, &alice, "too late", late, WINDOW).await.unwrap().is_none(),
        "15 minutes are over"
    );

    let reply = NewMessage { reply_to: Some(first.seq), ..text(&bob, "agreed", None) };
    let Some(Inserted::New(mut reply)) = insert(&db, room, reply).await.unwrap() else { panic!() };
    with_quote(&db, room, &mut reply).await.unwrap();
    let quote = reply.reply_to.clone().expect("a reply quotes");
    assert_eq!((quote.seq, quote.excerpt.as_str(), quote.deleted), (first.seq, "first!", false));

    let deleted = delete_message(&db, room, first.seq, Deleter::Author(&alice)).await.unwrap().expect("hers");
    let Applied::Changed { at, message } = deleted.applied else { panic!("a deletion is a change") };
    assert_eq!(at, 5);
    assert_eq!(message.deleted, Some(Deleted::ByAuthor));
    assert!(message.body.is_empty() && message.reactions.is_empty(), "a tombstone keeps nothing of it");
    assert!(deleted.file.is_none(), "text has no file");
    let again = delete_message(&db, room, first.seq, Deleter::Author(&alice)).await.unwrap().expect("still hers");
    assert!(matches!(again.applied, Applied::Unchanged(_)), "deleting it again changes nothing");
    let (page, _) = messages_before(&db, room, &bob, None).await.unwrap();
    assert!(page[1].reply_to.as_ref().is_some_and(|quote| quote.deleted && quote.excerpt.is_empty()));

    // A page that had nothing catches up on all of it, in order, each change with the message as it is now.
    let events = room_events_after(&db, room, &bob, 0, 10, 10).await.unwrap();
    let order: Vec<(i64, i64)> = events.iter().map(|e| (e.at, e.message.seq)).collect();
    assert_eq!(order, [(1, 1), (2, 1), (3, 1), (4, 4), (5, 1)]);
    assert!(events.iter().filter(|e| e.message.seq == 1).all(|e| e.message.deleted == Some(Deleted::ByAuthor)));
    assert!(
        edit(&db, room, first.seq, &alice, "back", now, WINDOW).await.unwrap().is_none(),
        "a tombstone is not edited"
    );
}

#[tokio::test]
async fn the_owner_removes_anyones_message_others_only_their_own_and_a_removed_person_nothing() {
    let (_dir, db) = test_db().await;
    let (alice, bob, carol) = (id("alice"), id("bob"), id("carol"));
    let room = room(&db, &alice, None).await;
    for person in [&alice, &bob, &carol] {
        be_present(&db, room, person).await;
    }
    let gif = NewMessage { kind: MessageKind::Gif, ..text(&bob, "b.gif", None) };
    let Some(Inserted::New(gif)) = insert(&db, room, gif).await.unwrap() else { panic!() };
    let Some(Inserted::New(bobs)) = insert(&db, room, text(&bob, "hello", None)).await.unwrap() else { panic!() };
    let Some(Inserted::New(alices)) = insert(&db, room, text(&alice, "hi", None)).await.unwrap() else { panic!() };
    let whisper = NewMessage { kind: MessageKind::Whisper, recipient: Some(&carol), ..text(&bob, "psst", None) };
    let Some(Inserted::New(whisper)) = insert(&db, room, whisper).await.unwrap() else { panic!() };

    assert!(delete_message(&db, room, alices.seq, Deleter::Owner(&bob)).await.unwrap().is_none(), "Bob owns nothing");
    assert!(delete_message(&db, room, alices.seq, Deleter::Author(&bob)).await.unwrap().is_none(), "nor wrote it");
    assert!(
        delete_message(&db, room, whisper.seq, Deleter::Owner(&alice)).await.unwrap().is_none(),
        "the owner cannot see a whisper between others, nor remove it"
    );
    let removed =
        delete_message(&db, room, gif.seq, Deleter::Owner(&alice)).await.unwrap().expect("the owner's to remove");
    assert_eq!(removed.file.as_deref(), Some("b.gif"), "the GIF's file is the caller's to delete");
    let Applied::Changed { message, .. } = removed.applied else { panic!() };
    assert_eq!(message.deleted, Some(Deleted::ByOwner));
    assert!(gif_files(&db).await.unwrap().is_empty(), "a deleted GIF is not backed up or kept by the sweep");

    // Removed from the room: Bob can neither edit nor unsend there any more.
    kick(&db, room, &alice, &bob, "Bob was removed").await.unwrap();
    assert!(edit(&db, room, bobs.seq, &bob, "edited", now_millis(), WINDOW).await.unwrap().is_none());
    assert!(delete_message(&db, room, bobs.seq, Deleter::Author(&bob)).await.unwrap().is_none());
}

#[tokio::test]
async fn forty_writers_sending_editing_deleting_and_reacting_at_once_share_one_gapless_sequence() {
    let (_dir, db) = test_db().await;
    let alice = id("alice");
    let room = room(&db, &alice, None).await;
    let people: Vec<PersonId> = (0..40).map(|n| id(&format!("p{n}"))).collect();
    let mut own = Vec::new();
    for person in &people {
        be_present(&db, room, person).await;
        let Some(Inserted::New(message)) = insert(&db, room, text(person, "before", None)).await.unwrap() else {
            panic!()
        };
        own.push(message.seq);
    }
    let writers = people.iter().zip(own).enumerate().map(|(n, (person, seq))| {
        let (db, person) = (db.clone(), person.clone());
        tokio::spawn(async move {
            // Each does its change twice (a retry): the second adds nothing.
            let mut numbers = Vec::new();
            for attempt in 0..2 {
                let made = match n % 4 {
                    0 => match insert(&db, room, text(&person, "new", Some("c1"))).await.unwrap() {
                        Some(Inserted::New(message)) => Some(message.seq),
                        _ => None,
                    },
                    1 => match edit(&db, room, seq, &person, "edited", now_millis(), WINDOW).await.unwrap() {
                        Some(Applied::Changed { at, .. }) => Some(at),
                        _ => None,
                    },
                    2 => match delete_message(&db, room, seq, Deleter::Author(&person)).await.unwrap() {
                        Some(MessageDeletion { applied: Applied::Changed { at, .. }, .. }) => Some(at),
                        _ => None,
                    },
                    _ => match reaction(&db, room, 1, &person, "🔥", true).await.unwrap() {
                        Some(Applied::Changed { at, .. }) => Some(at),
                        _ => None,
                    },
                };
                assert_eq!(made.is_some(), attempt == 0, "writer {n}, attempt {attempt}");
                numbers.extend(made);
            }
            numbers
        })
    });
    let mut numbers: Vec<i64> =
        futures_util::future::join_all(writers).await.into_iter().flat_map(Result::unwrap).collect();
    numbers.sort();
    assert_eq!(numbers, (41..=80).collect::<Vec<_>>(), "every change one number, no gaps");
    let events = room_events_after(&db, room, &alice, 40, 100, 100).await.unwrap();
    assert_eq!(events.iter().map(|e| e.at).collect::<Vec<_>>(), (41..=80).collect::<Vec<_>>(), "in order, once");
}

/// A reaction given or taken back, without the count it leaves.
async fn reaction(
    db: &Db,
    room: RoomId,
    seq: i64,
    actor: &PersonId,
    emoji: &str,
    on: bool,
) -> sqlx::Result<Option<Applied>> {
    Ok(react(db, room, seq, actor, emoji, on).await?.map(|(applied, _)| applied))
}

#[tokio::test]
async fn a_gif_goes_only_when_no_message_shows_it_and_no_upload_is_on_its_way_with_it() {
    let (_dir, db) = test_db().await;
    // Claims older than a minute are an upload's whose process died.
    let stale = || now_millis() - 60_000;
    let name = "0123456789abcdef0123456789abcdef.gif";
    assert_eq!(gifs::claim(&db, name, 100).await.unwrap(), None, "a new GIF");
    assert!(!gifs::release(&db, name, stale()).await.unwrap(), "released while its upload is on its way");
    // A second upload of the same GIF (another person, another process): counted once.
    assert_eq!(gifs::claim(&db, name, 100).await.unwrap(), None);
    assert_eq!(gifs::total_bytes(&db).await.unwrap(), 100);

    // The first one's message is in; the second gives up.
    let alice = id("alice");
    let room = room(&db, &alice, None).await;
    insert(&db, room, NewMessage::gif(&alice, name)).await.unwrap().unwrap();
    gifs::unclaim(&db, name).await.unwrap();
    gifs::unclaim(&db, name).await.unwrap();
    assert!(!gifs::release(&db, name, stale()).await.unwrap(), "released while a message shows it");

    // Its message goes: so may the GIF. An upload that claims it while its files are removed is told since when,
    // and its claim keeps the row (it waits for the removal, then writes the files again).
    delete_room(&db, room, Deletion::OwnedBy(&alice)).await.unwrap().unwrap();
    assert!(gifs::release(&db, name, stale()).await.unwrap());
    assert!(gifs::claim(&db, name, 100).await.unwrap().is_some(), "the upload was not told of the removal");
    gifs::released(&db, name, stale()).await.unwrap();
    assert_eq!(gifs::all(&db).await.unwrap(), vec![(name.to_owned(), 100)], "a claimed GIF was forgotten");
    gifs::unclaim(&db, name).await.unwrap();
    assert!(gifs::release(&db, name, stale()).await.unwrap());
    gifs::released(&db, name, stale()).await.unwrap();
    assert!(gifs::all(&db).await.unwrap().is_empty());
    assert_eq!(gifs::total_bytes(&db).await.unwrap(), 0);

    // An upload whose process died: its claim holds the GIF for the grace only.
    gifs::claim(&db, name, 100).await.unwrap();
    assert!(gifs::forsaken(&db, stale()).await.unwrap().is_empty());
    let later = now_millis() + 1;
    assert_eq!(gifs::forsaken(&db, later).await.unwrap(), vec![name.to_owned()]);
    assert!(gifs::release(&db, name, later).await.unwrap());
}
