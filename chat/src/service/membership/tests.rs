//! The rules of who is here, on values: the announcements, the tags that tell look-alikes apart, the digest.

use super::*;
use protocol::domain::Hue;
use protocol::model::Roster;

fn someone(id: &str, name: &str, hue: u32) -> Person {
    Person { id: PersonId::trusted(id), name: name.to_owned(), hue: Hue::from_tenths(hue) }
}

fn snapshot(people: &[&Person], owner: &Person, version: u64) -> Snapshot {
    Snapshot { people: people.iter().map(|p| (*p).clone()).collect(), owner: owner.id.clone(), version }
}

#[test]
fn each_change_turns_the_list_before_it_into_the_list_after_it() {
    // Two people of the same name, so tags come and go; the owner leaves, so ownership passes.
    let (ann, twin, bob) = (
        someone("aaaa1111", "Happy Fox", 0),
        someone("aaaa2222", "Happy Fox", 1800),
        someone("bbbb", "Quiet Owl", 900),
    );
    let first = snapshot(&[&ann], &ann, 1);
    let steps = [
        (snapshot(&[&ann, &twin], &ann, 2), Some(&twin), vec![]),
        (snapshot(&[&ann, &twin, &bob], &ann, 3), Some(&bob), vec![]),
        (snapshot(&[&twin, &bob], &twin, 4), None, vec![ann.clone()]),
        (snapshot(&[&twin, &bob], &bob, 5), None, vec![]),
    ];
    let mut list = participants(&first);
    for (after, arrived, left) in &steps {
        let change = people_change(after, *arrived, left);
        assert!(change.apply(&mut list), "version {}", after.version);
        assert_eq!(list, participants(after), "version {}", after.version);
    }
    // The twins were told apart while both were here, and only then.
    assert!(participants(&steps[1].0).iter().filter(|p| p.tag.is_some()).count() == 2);
    assert!(list.iter().all(|p| p.tag.is_none()));
    // A change is small: the newcomer, and the tags that changed, not the whole list.
    let change = people_change(&steps[1].0, Some(&bob), &[]);
    assert_eq!((change.arrived.len(), change.retagged.len()), (1, 0));
}

#[test]
fn a_list_that_missed_a_change_does_not_add_up() {
    let (ann, bob, cid) =
        (someone("a1", "Amber Elk", 0), someone("b2", "Brave Yak", 900), someone("c3", "Calm Ant", 1800));
    let mut list = participants(&snapshot(&[&ann], &ann, 1));
    // Bob's arrival (version 2) is missed; Cid's (3) comes.
    let change = people_change(&snapshot(&[&ann, &bob, &cid], &ann, 3), Some(&cid), &[]);
    assert!(!change.apply(&mut list));
}

#[test]
fn the_digest_is_what_the_protocol_says_in_any_order() {
    // Worked out apart from this code, from the description in docs/protocol.md ("Live protocol", the `people`
    // event: FNV-1a 64, MurmurHash3's finalizer, XOR, folded): clients in other languages compute the same.
    let (a, b) = (PersonId::trusted("a1"), PersonId::trusted("b2"));
    assert_eq!(roster_digest([&a, &b]), 3_125_186_144);
    assert_eq!(roster_digest([&b, &a]), 3_125_186_144);
    assert_eq!(roster_digest([]), 0);
}

#[test]
fn someone_who_left_and_came_back_goes_last() {
    let (ann, bob, cid) =
        (someone("a1", "Amber Elk", 0), someone("b2", "Brave Yak", 900), someone("c3", "Calm Ant", 1800));
    let mut list = participants(&snapshot(&[&ann, &bob, &cid], &ann, 1));
    // Bob's leaving (2) is missed; his coming back (3) arrives.
    let back = snapshot(&[&ann, &cid, &bob], &ann, 3);
    assert!(people_change(&back, Some(&bob), &[]).apply(&mut list));
    assert_eq!(list, participants(&back));
}

/// Ann alone (1), then Bob (2), Cid (3) and Dee (4) arrive, each change published by its own task.
fn four_arrivals() -> (Vec<Participant>, Vec<PeopleChange>, Vec<Participant>) {
    let ann = someone("a1", "Amber Elk", 0);
    let (bob, cid, dee) =
        (someone("b2", "Brave Yak", 900), someone("c3", "Calm Ant", 1800), someone("d4", "Deft Emu", 2700));
    let changes = vec![
        people_change(&snapshot(&[&ann, &bob], &ann, 2), Some(&bob), &[]),
        people_change(&snapshot(&[&ann, &bob, &cid], &ann, 3), Some(&cid), &[]),
        people_change(&snapshot(&[&ann, &bob, &cid, &dee], &ann, 4), Some(&dee), &[]),
    ];
    let last = participants(&snapshot(&[&ann, &bob, &cid, &dee], &ann, 4));
    (participants(&snapshot(&[&ann], &ann, 1)), changes, last)
}

#[test]
fn an_overtaken_change_is_waited_for_not_loaded_again() {
    let (first, changes, last) = four_arrivals();
    let mut roster = Roster::new(first.clone(), 1);
    // 4 and 3 overtake 2: they wait, the list stays as it was.
    assert!(!roster.receive(changes[2].clone()));
    assert!(!roster.receive(changes[1].clone()));
    assert!(roster.is_waiting());
    assert_eq!((roster.people(), roster.version()), (first.as_slice(), 1));
    // 2 comes: all three apply, in order.
    assert!(roster.receive(changes[0].clone()));
    assert!(!roster.is_waiting());
    assert_eq!((roster.people(), roster.version()), (last.as_slice(), 4));
    // A change seen already, or older than the list, changes nothing.
    assert!(!roster.receive(changes[1].clone()));
    assert_eq!(roster.version(), 4);
}

#[test]
fn a_lost_change_waits_until_the_whole_list_is_loaded() {
    let (first, changes, last) = four_arrivals();
    let mut roster = Roster::new(first, 1);
    // 2 is lost for good (the connection fell behind): 3 cannot add up without it.
    assert!(!roster.receive(changes[1].clone()));
    assert!(roster.is_waiting());
    // The whole list as of 3 is loaded; 4 came meanwhile and applies on top of it.
    assert!(!roster.receive(changes[2].clone()));
    let mut at_three = last.clone();
    at_three.pop();
    assert!(roster.replace(at_three, 3));
    assert!(!roster.is_waiting());
    assert_eq!((roster.people(), roster.version()), (last.as_slice(), 4));
    // A whole list older than the one kept is dropped.
    assert!(!roster.replace(Vec::new(), 2));
    assert_eq!(roster.people(), last.as_slice());
}

#[test]
fn a_list_that_adds_up_again_past_a_lost_change_is_still_loaded_whole() {
    let (ann, bob, cid) =
        (someone("a1", "Amber Elk", 0), someone("b2", "Brave Yak", 900), someone("c3", "Calm Ant", 1800));
    let mut roster = Roster::new(participants(&snapshot(&[&ann], &ann, 1)), 1);
    // Bob arrives (2, lost), Cid arrives (3), Bob leaves (4): after 4 the count and digest match again, but
    // what 2 said (a tag, a place in the order) could be missing.
    assert!(!roster.receive(people_change(&snapshot(&[&ann, &bob, &cid], &ann, 3), Some(&cid), &[])));
    assert!(roster.receive(people_change(&snapshot(&[&ann, &cid], &ann, 4), None, std::slice::from_ref(&bob))));
    assert_eq!(roster.version(), 4);
    assert!(roster.is_waiting(), "to be loaded whole");
    assert!(roster.replace(participants(&snapshot(&[&ann, &cid], &ann, 4)), 4));
    assert!(!roster.is_waiting());
}

#[test]
fn the_change_that_made_a_version_says_more_than_where_the_room_stood() {
    let (first, changes, _) = four_arrivals();
    let mut roster = Roster::new(first, 1);
    // A connection fell behind: it is told where the room stands (4), then the changes it had not read yet.
    let mut standing = changes[2].clone();
    (standing.arrived, standing.retagged) = (Vec::new(), Vec::new());
    assert!(!roster.receive(standing));
    assert!(roster.receive(changes[0].clone()));
    assert!(roster.receive(changes[1].clone()));
    assert_eq!(roster.version(), 3);
    assert!(roster.is_waiting(), "where the room stood at 4 does not add up from 3");
    assert!(roster.receive(changes[2].clone()));
    assert!(!roster.is_waiting());
    assert_eq!(roster.version(), 4);
}
