//! The room list (`/`): every open room, live, and the form to create one.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::{CreateRoom, load_lobby};
use crate::components::{Age, PersonBadge};
use crate::live::{ClientCommand, LiveEvent};
use crate::live_client::use_live;
use crate::model::{DEFAULT_MEMBERS, Lobby, MAX_MEMBERS, MIN_MEMBERS, RoomSummary, TITLE_MAX_CHARS};

#[component]
pub fn HomePage() -> impl IntoView {
    let data = Resource::new_blocking(|| (), |_| load_lobby());
    view! {
        <main class="page">
            <Transition fallback=|| view! { <p>"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(lobby) => view! { <LobbyView lobby /> }.into_any(),
                        Err(error) => view! { <p role="alert" class="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn LobbyView(lobby: Lobby) -> impl IntoView {
    let Lobby { me, rooms } = lobby;
    let rooms = RwSignal::new(rooms);
    let (form_open, set_form_open) = signal(false);

    use_live().subscribe(
        || ClientCommand::SubscribeLobby,
        move |event| match event {
            LiveEvent::Rooms { rooms: all } => rooms.set(all),
            LiveEvent::NewRoom { room } => rooms.update(|list| {
                if !list.iter().any(|r| r.id == room.id) {
                    list.insert(0, room);
                }
            }),
            LiveEvent::RemoveRoom { id } => rooms.update(|list| list.retain(|r| r.id != id)),
            LiveEvent::RoomPresence { id, present } => rooms.update(|list| {
                if let Some(room) = list.iter_mut().find(|r| r.id == id) {
                    room.present = present;
                }
            }),
            LiveEvent::RoomActivity { id, preview } => rooms.update(|list| {
                if let Some(room) = list.iter_mut().find(|r| r.id == id) {
                    room.unread = Some(room.unread.unwrap_or(0) + 1);
                    room.last_message = Some(preview);
                }
            }),
            _ => {}
        },
    );

    view! {
        <header class="page-header">
            <div>
                <h1>"gif-chat"</h1>
                <p class="you">"You are " <PersonBadge person=me is_me=true /></p>
            </div>
            <button
                type="button"
                class="button"
                aria-expanded=move || form_open.get().to_string()
                aria-controls="create-room"
                on:click=move |_| set_form_open.update(|open| *open = !*open)
            >
                "New room"
            </button>
        </header>
        <Notice />
        <section id="create-room" class="panel" hidden=move || !form_open.get()>
            <h2>"Create a room"</h2>
            <CreateRoomForm />
        </section>
        <section aria-labelledby="rooms-heading">
            <h2 id="rooms-heading">"Rooms"</h2>
            <Show
                when=move || !rooms.read().is_empty()
                fallback=|| view! { <p class="empty">"No rooms yet. Create the first one."</p> }
            >
                <ul class="room-list" aria-live="polite">
                    <For each=move || rooms.get() key=|room| (room.id, room.present, room.unread) let:room>
                        <RoomCard room />
                    </For>
                </ul>
            </Show>
        </section>
    }
}

/// A message carried back to the list in the query string (`/?notice=full`). Only known codes are shown, so the
/// URL cannot put arbitrary text on the page.
#[component]
fn Notice() -> impl IntoView {
    let query = use_query_map();
    let text = move || {
        query.read().get("notice").and_then(|code| match code.as_str() {
            "full" => Some("That room is full."),
            "gone" => Some("That room does not exist any more."),
            "removed" => Some("The room you were in was removed."),
            "password" => Some("That room needs its password."),
            "kicked" => Some("The owner removed you from that room."),
            _ => None,
        })
    };
    view! {
        <Show when=move || text().is_some()>
            <p class="notice" role="alert">{text}</p>
        </Show>
    }
}

#[component]
fn CreateRoomForm() -> impl IntoView {
    let create = ServerAction::<CreateRoom>::new();
    let error = move || create.value().get().and_then(|result| result.err()).map(|e| e.to_string());
    view! {
        <ActionForm action=create attr:class="form">
            <div class="field">
                <label for="room-title">"Title"</label>
                <input id="room-title" name="title" type="text" required minlength="1" maxlength=TITLE_MAX_CHARS autocomplete="off" />
            </div>
            <div class="field">
                <label for="room-max">"Max members"</label>
                <input id="room-max" name="max_members" type="number" required min=MIN_MEMBERS max=MAX_MEMBERS value=DEFAULT_MEMBERS />
            </div>
            <div class="field">
                <label for="room-password">"Password"</label>
                <input id="room-password" name="password" type="password" autocomplete="new-password" aria-describedby="room-password-hint" />
                <p id="room-password-hint" class="hint">"Optional. Only people who know it can enter."</p>
            </div>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">{error}</p>
            </Show>
            <button type="submit" class="button" disabled=move || create.pending().get()>"Create room"</button>
        </ActionForm>
    }
}

#[component]
fn RoomCard(room: RoomSummary) -> impl IntoView {
    let href = format!("/room/{}", room.id);
    view! {
        <li class="room-card" data-room-id=room.id>
            <div class="room-main">
                <A href=href attr:class="room-title">{room.title}</A>
                {room.locked.then(|| view! { <span class="lock" role="img" aria-label="password required" title="Password required">"🔒"</span> })}
                {room.unread.filter(|n| *n > 0).map(|n| view! { <span class="unread">{format!("{n} new")}</span> })}
            </div>
            {room.last_message.map(|preview| view! {
                <p class="preview">
                    {preview.author.map(|author| view! { <PersonBadge person=author />": " })}
                    {preview.whisper.then_some("(whisper) ")}
                    {preview.text}
                </p>
            })}
            <div class="room-meta">
                <span class="room-count">{format!("{}/{} present", room.present, room.max_members)}</span>
                <span class="room-owner">"by " <PersonBadge person=room.owner /></span>
                <Age millis=room.created_at />
            </div>
        </li>
    }
}
