//! A room (`/room/:id`): the password gate, a refusal, or the chat itself. One file per component.

mod actions;
mod chat;
mod composer;
mod gate;
mod message;
mod outbox;
mod participants;
mod picker;
mod reactions;
mod uploader;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use crate::api::room_page;
use crate::components::TopBar;
use crate::live_client::use_live;
use crate::pages::not_found::set_not_found_status;
use chat::ChatRoom;
use gate::PasswordGate;
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{RoomAccess, RoomId, RoomLabel};

#[component]
pub fn RoomPage() -> impl IntoView {
    let (params, query) = (use_params_map(), use_query_map());
    let room_id = move || params.read().get("id").and_then(|id| id.parse::<RoomId>().ok());
    // `?before=N`: the page of messages before N ("Load earlier" as a link, for a page without the WASM).
    let before = move || query.read().get("before").and_then(|seq| seq.parse::<i64>().ok());
    let access = Resource::new_blocking(
        move || (room_id(), before()),
        |(id, before)| async move {
            let access = match id {
                Some(id) => room_page(id, before).await,
                None => Ok(RoomAccess::Refused { refusal: Refusal::NotFound, room: None }),
            };
            // Here, not in the view: the page waits for this resource before it sends its headers, but not for the
            // view that reads it (setting the status there raced the stream).
            if let Ok(RoomAccess::Refused { refusal: Refusal::NotFound, .. }) = &access {
                set_not_found_status();
            }
            access
        },
    );

    // Too far behind to catch up message by message: the room is loaded again, at its latest messages. On a page
    // of earlier ones (`?before=`) that means going to the room's own URL, which an effect does (navigating is
    // not done from inside a live-channel callback).
    let to_latest = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if to_latest.get()
            && let Some(id) = room_id()
        {
            to_latest.set(false);
            navigate(&format!("/room/{id}"), NavigateOptions { replace: true, ..Default::default() });
        }
    });
    let resync = move || if before().is_some() { to_latest.set(true) } else { access.refetch() };
    view! {
        <Transition fallback=|| view! { <main class="page"><p>"Loading the room…"</p></main> }>
            {move || {
                // Read before the wait, not after: by then the reader may have left, and the query with them
                // (leptos-rs/leptos#3595). The resource follows the same query, so this stays in step with it.
                let history = untrack(before).is_some();
                Suspend::new(async move {
                    match access.await {
                        Ok(RoomAccess::Open(view)) => {
                            view! { <ChatRoom view=*view history on_resync=resync /> }.into_any()
                        }
                        Ok(RoomAccess::Refused { refusal: Refusal::Password, room: Some(room) }) => {
                            view! { <PasswordGate id=room.id title=room.title on_entered=move || access.refetch() /> }
                                .into_any()
                        }
                        Ok(RoomAccess::Refused { refusal, room }) => {
                            view! { <Refused refusal room on_place=move || access.refetch() /> }.into_any()
                        }
                        Err(error) => view! {
                            <main class="page page-narrow">
                                <p role="alert" class="error">{error.to_string()}</p>
                                <p><A href="/">"Back to the rooms"</A></p>
                            </main>
                        }
                        .into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// Why the visitor cannot enter (a full room, a ban, a room that does not exist). A full room's page waits for a
/// place: `on_place` runs when the room list's live count says one freed.
#[component]
fn Refused(refusal: Refusal, room: Option<RoomLabel>, on_place: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let waiting = refusal == Refusal::Full && room.is_some();
    if let Some(room) = room.as_ref().filter(|_| waiting) {
        let (id, max) = (room.id, room.max_members);
        // Changes only, not the list's first snapshot: a place still held (someone's leave grace) would otherwise
        // have the page ask again and again.
        use_live().subscribe(
            || ClientCommand::SubscribeLobby,
            move |event| match event {
                LiveEvent::RoomPresence { id: changed, present, .. } if changed == id && present < max => on_place(),
                LiveEvent::RemoveRoom { id: removed } if removed == id => on_place(),
                _ => {}
            },
        );
    }
    let (heading, text) = match (refusal, &room) {
        (Refusal::NotFound, _) | (_, None) => ("Room not found".to_owned(), refusal.to_string()),
        (Refusal::Full, Some(room)) => (
            room.title.clone(),
            format!(
                "This room is full: all {} places are taken. This page waits for a place and takes you in as soon \
                 as one frees.",
                room.max_members
            ),
        ),
        (Refusal::Banned, Some(room)) => {
            (room.title.clone(), "The owner removed you from this room. You cannot enter it again.".to_owned())
        }
        (_, Some(room)) => (room.title.clone(), refusal.to_string()),
    };
    view! {
        <main class="page page-narrow">
            <TopBar />
            <h1>{heading}</h1>
            <p role="alert">{text}</p>
            <p><A href="/">"Back to the rooms"</A></p>
        </main>
    }
}
