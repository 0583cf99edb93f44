//! Forms posted by a browser without the WASM (JavaScript off, or not loaded yet): each is answered with a
//! redirect to the page to show, its error carried there once; such a post brings its sender into the room for
//! a visit.

use crate::helpers::{spawn_app, spawn_app_with};
use protocol::live::LiveEvent;
use protocol::model::MessageKind;
use reqwest::header::{LOCATION, SET_COOKIE};

fn location(response: &reqwest::Response) -> &str {
    response.headers().get(LOCATION).expect("a redirect").to_str().unwrap()
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response.headers().get_all(SET_COOKIE).iter().map(|value| value.to_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_form_post_brings_its_sender_into_the_room_for_a_visit() {
    let app = spawn_app_with(|c| {
        c.visit_secs = 1.0;
        c.leave_grace_secs = 0.1;
    })
    .await;
    let (alice, bob, carol) = (app.person().await, app.person().await, app.person().await);
    let room = alice.create_room("plain", 10, "").await.unwrap();
    let (mut alice_live, _) = alice.join(room.id).await;
    let page = format!("/room/{}", room.id);

    let answer = bob.post_form("send_message", &[("room", &room.id.to_string()), ("body", "no script")], &page).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(alice.people_in(&mut alice_live, room.id, 2).await.len(), 2);
    let message = alice_live
        .expect(|e| match e {
            LiveEvent::Chat { message } if message.kind == MessageKind::Text => Some(message.clone()),
            _ => None,
        })
        .await;
    assert_eq!((message.body.as_str(), &message.author.as_ref().unwrap().id), ("no script", &bob.me().id));
    assert_eq!(location(&answer), format!("{page}#m{}", message.seq), "the room, at the message");

    // The visit ends: Bob leaves like a closed connection (the change of who is here comes first).
    alice.people_in(&mut alice_live, room.id, 1).await;
    alice_live
        .expect(|e| match e {
            LiveEvent::Chat { message } => (message.body == format!("{} left", bob.me().name)).then_some(()),
            _ => None,
        })
        .await;

    // A call that asks for JSON (the WASM, a script) is no visit: it still needs the live channel. (A script can
    // ask for HTML too, and visit: a message, rate limited, for each visit's length.)
    let refused = carol.send(room.id, "from a script").await.unwrap_err();
    assert_eq!(refused.message, "You are not in this room.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_plain_form_comes_back_to_its_page_with_the_error_once() {
    let app = spawn_app().await;
    let bob = app.person().await;
    let answer = bob.post_form("create_room", &[("title", "  "), ("max_members", "5")], "/?notice=full").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/?notice=full", "back where the form was");
    assert!(set_cookies(&answer).iter().any(|c| c.starts_with("gif_chat_form_error=")), "{answer:?}");
    let cookies = bob.cookie_header();

    let page = bob.page("/?notice=full").await;
    let deleted = set_cookies(&page).iter().any(|c| c.starts_with("gif_chat_form_error=;") && c.contains("Max-Age=0"));
    assert!(deleted, "the page that shows the error deletes it: {:?}", set_cookies(&page));
    assert!(page.text().await.unwrap().contains("Give the room a title."));
    assert!(!bob.page("/").await.text().await.unwrap().contains("Give the room a title."), "shown once");

    // The cookie is signed: the server's own cookie, sent back as it came, shows its error; the same cookie
    // with its message changed (well formed, its signature now wrong) shows nothing.
    let genuine = set_cookies(&answer)
        .into_iter()
        .find_map(|c| c.strip_prefix("gif_chat_form_error=").map(|rest| rest.split(';').next().unwrap().to_owned()))
        .unwrap();
    let send_back = |value: String| {
        let cookie = format!("{cookies}; gif_chat_form_error={value}");
        app.client.get(app.url("/?notice=full")).header("Cookie", cookie).send()
    };
    let page = send_back(genuine.clone()).await.unwrap().text().await.unwrap();
    assert!(page.contains("Give the room a title."), "the genuine cookie is shown");
    let title = genuine.find("Give").expect("the message in the cookie's value");
    let forged = genuine.replacen(&genuine[title..title + 4], "Fake", 1);
    assert_ne!(forged, genuine);
    let page = send_back(forged).await.unwrap().text().await.unwrap();
    assert!(!page.contains("Fake") && !page.contains("the room a title"), "a forged cookie was believed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_form_refused_before_its_function_runs_comes_back_too() {
    let app = spawn_app().await;
    let bob = app.person().await;
    let room = bob.create_room("big", 10, "").await.unwrap();
    let page = format!("/room/{}", room.id);
    let huge = "x".repeat(100 * 1024);
    let answer = bob.post_form("send_message", &[("room", &room.id.to_string()), ("body", &huge)], &page).await;
    assert_eq!((answer.status().as_u16(), location(&answer)), (303, page.as_str()));
    let shown = bob.page(&page).await.text().await.unwrap();
    assert!(shown.contains("The request is too large."), "the body-size refusal is shown on the room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_url_cannot_carry_an_error() {
    let app = spawn_app().await;
    let bob = app.person().await;
    let answer = bob.page("/room/7?before=5&__path=/api/enter_room&__err=eyJlcnJvciI6Indyb25nUGFzc3dvcmQifQ").await;
    assert_eq!((answer.status().as_u16(), location(&answer)), (303, "/room/7?before=5"));
    // Never to another site, whatever the path looks like.
    let answer = bob.page("//elsewhere.example/?__path=x").await;
    assert_eq!((answer.status().as_u16(), location(&answer)), (303, "/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_the_wasm_still_get_json() {
    let app = spawn_app().await;
    let bob = app.person().await;
    let refused = bob.create_room(" ", 5, "").await.unwrap_err();
    assert_eq!((refused.status, refused.message.as_str()), (422, "Give the room a title."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_hold_no_seat_a_live_member_needs() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave) = (app.person().await, app.person().await, app.person().await, app.person().await);
    // A room for two; its owner is elsewhere. Two people post forms in it, and never open the live channel.
    let room = alice.create_room("two seats", 2, "").await.unwrap();
    let page = format!("/room/{}", room.id);
    for (who, text) in [(&bob, "first"), (&carol, "second")] {
        let answer = who.post_form("send_message", &[("room", &room.id.to_string()), ("body", text)], &page).await;
        assert_eq!(answer.status(), 303);
    }
    let visits = "SELECT COUNT(*) FROM presence WHERE instance_id = 'visit'";
    assert_eq!(app.count(visits).await, 2);

    // A member with the live channel still gets in: the visit that ends soonest (Bob's) gives up its seat.
    assert!(matches!(dave.room_page(room.id).await, protocol::model::RoomAccess::Open(_)), "the page lets Dave in");
    let (mut dave_live, present) = dave.join(room.id).await;
    assert_eq!(present, 2);
    let people = dave.people_in(&mut dave_live, room.id, 2).await;
    assert!(people.iter().any(|p| p.person.id == carol.me().id) && !people.iter().any(|p| p.person.id == bob.me().id));
    dave_live
        .expect(|e| match e {
            LiveEvent::Chat { message } => (message.body == format!("{} left", bob.me().name)).then_some(()),
            _ => None,
        })
        .await;

    // A live connection ends its person's visit: from then on the connection keeps Carol here.
    let (_carol_live, _) = carol.join(room.id).await;
    assert_eq!(app.count(visits).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_form_send_that_is_refused_leaves_no_visit() {
    let app = spawn_app().await;
    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("careful", 10, "").await.unwrap();
    let page = format!("/room/{}", room.id);
    // A whisper to someone who is not here: refused by name, and Bob never entered.
    let to = alice.me().id.to_string();
    let answer =
        bob.post_form("send_message", &[("room", &room.id.to_string()), ("body", "psst"), ("to", &to)], &page).await;
    assert_eq!(answer.status(), 303, "a plain form is answered with the page to go to");
    assert_eq!(app.count("SELECT COUNT(*) FROM presence").await, 0, "the refused send left a visit");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0, "nor any message ('joined' included)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_form_sent_twice_makes_one_message() {
    let app = spawn_app().await;
    let (alice, bob) = (app.person().await, app.person().await);
    let room = alice.create_room("once", 10, "").await.unwrap();
    let page = format!("/room/{}", room.id);
    // The page's form carries an id of its own; posting that form again (a reload that resends it) finds the first.
    let html = bob.page(&page).await.text().await.unwrap();
    let (_, rest) = html.split_once(r#"name="client_id" value=""#).expect("the form carries a client id");
    let client_id = &rest[..rest.find('"').unwrap()];
    assert_eq!(client_id.len(), 32, "{client_id}");
    let room_id = room.id.to_string();
    let form = [("room", room_id.as_str()), ("body", "hello"), ("client_id", client_id)];
    let post = || bob.post_form("send_message", &form, &page);
    let (first, again) = (post().await, post().await);
    assert_eq!((first.status(), again.status()), (reqwest::StatusCode::SEE_OTHER, reqwest::StatusCode::SEE_OTHER));
    assert_eq!(location(&first), location(&again), "both land on the one message");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages WHERE kind = 'text'").await, 1);
    // Another page load is another form: another message.
    let html = bob.page(&page).await.text().await.unwrap();
    assert!(!html.contains(client_id), "each page has its own id");
}
