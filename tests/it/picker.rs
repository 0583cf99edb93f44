//! The GIF picker: the shelves (the room's GIFs, one's own, the library, searched by words), posting by reference
//! (no upload, no new file), who may post what, and the library keeping its GIFs.

use protocol::model::{ChatMessage, MessageKind, OfferedGif};

use crate::helpers::{TestPerson, another_gif, spawn_app, spawn_app_with};

async fn shelf(person: &TestPerson, room: &str, shelf: &str, search: &str) -> Vec<String> {
    let args = [("room", room), ("shelf", shelf), ("search", search)];
    let offered: Vec<OfferedGif> = person.call("offered_gifs", &args).await.unwrap();
    offered.into_iter().map(|gif| gif.name).collect()
}

fn name_of(message: &ChatMessage) -> String {
    message.body.trim_start_matches("/gif/").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gif_picker_offers_the_rooms_gifs_ones_own_and_the_library_and_posts_them_by_reference() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (app.person().await, app.person().await, app.person().await);
    let here = alice.create_room("here", 10, "").await.unwrap();
    let there = carol.create_room("there", 10, "").await.unwrap();
    let (here_id, there_id) = (here.id.to_string(), there.id.to_string());
    let (_alice_live, _) = alice.join(here.id).await;
    let (_bob_live, _) = bob.join(here.id).await;
    let (_carol_live, _) = carol.join(there.id).await;

    let shared = alice.upload_sharing(&here_id, "dance.gif", another_gif(), Some("  Happy   dance ")).await.unwrap();
    let own = alice.upload(&here_id, "mine.gif", another_gif()).await.unwrap();
    let (shared, own) = (name_of(&shared), name_of(&own));
    assert_eq!(shelf(&alice, &here_id, "mine", "").await, [own.clone(), shared.clone()], "newest first");
    assert_eq!(shelf(&bob, &here_id, "mine", "").await, Vec::<String>::new());
    assert_eq!(shelf(&bob, &here_id, "room", "").await, [own.clone(), shared.clone()]);
    // The library, searched by the start of its words (any case, any order), or all of it.
    for search in ["", "hap", "DANCE", "dan hap"] {
        assert_eq!(
            shelf(&carol, &there_id, "library", search).await,
            std::slice::from_ref(&shared),
            "searching {search:?}"
        );
    }
    for search in ["appy", "happy sad", "mine"] {
        assert!(shelf(&carol, &there_id, "library", search).await.is_empty(), "searching {search:?}");
    }
    // A room without a password shows its GIFs to anyone, as its page does.
    assert_eq!(shelf(&carol, &here_id, "room", "").await.len(), 2);

    // Posted again by reference: the same files, no new one, announced like any GIF.
    let files = app.upload_files().len();
    let again: ChatMessage = bob.call("repost_gif", &[("room", &here_id), ("gif", &own)]).await.unwrap();
    assert_eq!((again.kind, name_of(&again), again.author.as_ref()), (MessageKind::Gif, own.clone(), Some(bob.me())));
    let from_library: ChatMessage = carol.call("repost_gif", &[("room", &there_id), ("gif", &shared)]).await.unwrap();
    assert_eq!(name_of(&from_library), shared);
    assert_eq!(app.upload_files().len(), files, "no new file");
    assert_eq!(app.count("SELECT COUNT(*) FROM stored_gifs").await, 2, "counted once each");

    // Only what one may see: not another room's GIF (unless one's own or the library's), not a name made up.
    let refusal = carol.call::<ChatMessage>("repost_gif", &[("room", &there_id), ("gif", &own)]).await.unwrap_err();
    assert_eq!((refusal.status, refusal.message.as_str()), (422, "That GIF is not available any more."));
    let made_up = format!("{}.gif", "ab".repeat(16));
    assert_eq!(
        carol.call::<ChatMessage>("repost_gif", &[("room", &there_id), ("gif", &made_up)]).await.unwrap_err().status,
        422
    );
    assert_eq!(
        carol.call::<ChatMessage>("repost_gif", &[("room", &there_id), ("gif", "../x")]).await.unwrap_err().status,
        404
    );
    // Alice may post her own anywhere she is.
    let (_alice_there, _) = alice.join(there.id).await;
    alice.call::<ChatMessage>("repost_gif", &[("room", &there_id), ("gif", &own)]).await.unwrap();

    // The rooms go: the library's GIF stays (the library holds it), the other goes, and leaves Alice's shelf.
    alice.call::<()>("delete_room", &[("room", &here_id)]).await.unwrap();
    carol.call::<()>("delete_room", &[("room", &there_id)]).await.unwrap();
    crate::helpers::eventually("the GIF no message shows is removed", || async {
        app.count("SELECT COUNT(*) FROM stored_gifs").await == 1
    })
    .await;
    assert_eq!(app.get(&format!("/gif/{shared}")).await.status(), 200);
    assert_eq!(app.get(&format!("/gif/{own}")).await.status(), 404);
    let elsewhere = bob.create_room("elsewhere", 10, "").await.unwrap().id.to_string();
    assert_eq!(shelf(&alice, &elsewhere, "mine", "").await, std::slice::from_ref(&shared));
    assert_eq!(shelf(&alice, &elsewhere, "library", "happy").await, [shared]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gif_from_a_room_with_a_password_is_never_shared_and_sharing_is_limited() {
    let app = spawn_app_with(|config| config.limit_shares = "2/1h,30/1h,300/1m".parse().unwrap()).await;
    let alice = app.person().await;
    let locked = alice.create_room("locked", 10, "secret words").await.unwrap();
    let (_live, _) = alice.join(locked.id).await;
    let refusal = alice.upload_sharing(&locked.id.to_string(), "a.gif", another_gif(), Some("cat")).await.unwrap_err();
    assert_eq!(
        (refusal.status, refusal.message.as_str()),
        (422, "GIFs from a room with a password are never added to the library.")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM gif_library").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'gif'").await, 0, "nothing posted");
    // Its GIFs are for those who gave its password.
    alice.upload(&locked.id.to_string(), "a.gif", another_gif()).await.unwrap();
    let bob = app.person().await;
    let args = [("room", locked.id.to_string()), ("shelf", "room".to_owned())];
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refusal = bob.call::<Vec<OfferedGif>>("offered_gifs", &args).await.unwrap_err();
    assert_eq!(refusal.status, 403);

    let open = alice.create_room("open", 10, "").await.unwrap();
    let (_live, _) = alice.join(open.id).await;
    let id = open.id.to_string();
    let refusal = alice.upload_sharing(&id, "a.gif", another_gif(), Some(" ?! ")).await.unwrap_err();
    assert_eq!(
        (refusal.status, refusal.message.as_str()),
        (422, "Give a few words to find the GIF by in the library.")
    );
    for n in 0..2 {
        alice.upload_sharing(&id, "a.gif", another_gif(), Some(&format!("cat {n}"))).await.unwrap();
    }
    let refusal = alice.upload_sharing(&id, "a.gif", another_gif(), Some("cat 3")).await.unwrap_err();
    assert_eq!(refusal.status, 429);
    assert!(refusal.message.starts_with("You are adding GIFs to the library too fast."), "{}", refusal.message);
    assert_eq!(app.count("SELECT COUNT(*) FROM gif_library").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_library_refuses_sharing_and_its_shelf() {
    let app = spawn_app_with(|config| config.no_gif_library = true).await;
    let alice = app.person().await;
    let room = alice.create_room("no library", 10, "").await.unwrap();
    let (_live, _) = alice.join(room.id).await;
    let id = room.id.to_string();
    let refusal = alice.upload_sharing(&id, "a.gif", another_gif(), Some("cat")).await.unwrap_err();
    assert_eq!((refusal.status, refusal.message.as_str()), (422, "This server keeps no GIF library."));
    let refusal = alice.call::<Vec<OfferedGif>>("offered_gifs", &[("room", &id), ("shelf", "library")]).await;
    assert_eq!(refusal.unwrap_err().message, "This server keeps no GIF library.");
    // The other shelves stay.
    alice.upload(&id, "a.gif", another_gif()).await.unwrap();
    assert_eq!(shelf(&alice, &id, "mine", "").await.len(), 1);
}
