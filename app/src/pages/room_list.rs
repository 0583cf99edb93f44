//! The room list (`/`): the most recently active rooms, live, a page at a time, searchable by title; and the
//! form to create one.

use leptos::html;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::{CreateRoom, find_rooms, load_room_list};
use crate::browser;
use crate::components::{Age, Bell, CharactersLeft, PersonBadge, duration_words};
use crate::forms::landing_error;
use crate::live_client::use_live;
use protocol::domain::{MemberLimit, RoomPassword, Title};
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{MessagePreview, ROOM_PAGE, RoomId, RoomListView, RoomSummary};

#[component]
pub fn RoomListPage() -> impl IntoView {
    let data = Resource::new_blocking(|| (), |_| load_room_list());
    // Read here, not in the suspended view: a page whose reader went away is disposed while its stream may still
    // build that view, and the router's context is gone by then.
    let query = use_query_map();
    view! {
        <main class="page">
            <Transition fallback=|| view! { <p>"Loading rooms…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(list) => view! { <RoomListContent list query /> }.into_any(),
                        Err(error) => view! { <p role="alert" class="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn RoomListContent(list: RoomListView, query: Memo<ParamsMap>) -> impl IntoView {
    let RoomListView { me, rooms: first_page, room_grace_secs } = list;
    let counted = StoredValue::new(CountedThrough::default());
    counted.update_value(|counted| counted.fresh(&first_page.rooms));
    let rooms = RwSignal::new(first_page.rooms);
    let has_more = RwSignal::new(first_page.has_more);
    // How many rooms the list holds: a page, plus the pages the reader asked for. New rooms push old ones out.
    let capacity = RwSignal::new(ROOM_PAGE);
    let search = RwSignal::new(String::new());
    let load_error = RwSignal::new(None::<String>);

    // Loads a page of rooms whose title contains `title`: the first replaces the list, later ones extend it. An
    // answer for a search the reader has since changed is dropped.
    let load = move |title: String, offset: usize| {
        leptos::task::spawn_local(async move {
            let answer = find_rooms(Some(title.clone()), Some(offset as u32)).await;
            // The reader may have left the list meanwhile (its signals are gone: reading one would panic,
            // leptos-rs/leptos#3595), or searched for something else.
            if search.try_with_untracked(|search| *search == title) != Some(true) {
                return;
            }
            match answer {
                Ok(page) => {
                    load_error.set(None);
                    has_more.set(page.has_more);
                    rooms.update(|list| {
                        if offset == 0 {
                            list.clear();
                        }
                        let new: Vec<RoomSummary> =
                            page.rooms.into_iter().filter(|room| !list.iter().any(|r| r.id == room.id)).collect();
                        counted
                            .update_value(|counted| if offset == 0 { counted.fresh(&new) } else { counted.add(&new) });
                        list.extend(new);
                    });
                    capacity.set(rooms.with_untracked(Vec::len).max(ROOM_PAGE));
                }
                Err(error) => load_error.set(Some(error.to_string())),
            }
        });
    };

    use_live().subscribe(
        || ClientCommand::SubscribeLobby,
        move |event| match event {
            // A fresh first page; while searching, the results stay.
            LiveEvent::Rooms { rooms: all, has_more: more } if search.with_untracked(String::is_empty) => {
                counted.update_value(|counted| counted.fresh(&all));
                rooms.set(all);
                has_more.set(more);
                capacity.set(ROOM_PAGE);
            }
            LiveEvent::NewRoom { room } => rooms.update(|list| {
                let matches =
                    search.with_untracked(|title| browser::lowercase(&room.title).contains(&browser::lowercase(title)));
                if matches && !list.iter().any(|r| r.id == room.id) {
                    counted.update_value(|counted| counted.add(std::slice::from_ref(&room)));
                    list.insert(0, room);
                    if list.len() > capacity.get_untracked()
                        && let Some(pushed_out) = list.pop()
                    {
                        counted.update_value(|counted| counted.forget(pushed_out.id));
                        has_more.set(true);
                    }
                }
            }),
            LiveEvent::RemoveRoom { id } => {
                counted.update_value(|counted| counted.forget(id));
                rooms.update(|list| list.retain(|r| r.id != id));
            }
            LiveEvent::RoomPresence { id, present, version } => rooms.update(|list| {
                // Announcements may overtake each other: only a newer one counts.
                if let Some(room) = list.iter_mut().find(|r| r.id == id && r.presence_version < version) {
                    room.present = present;
                    room.presence_version = version;
                }
            }),
            LiveEvent::RoomOwner { id, owner } => rooms.update(|list| {
                if let Some(room) = list.iter_mut().find(|r| r.id == id) {
                    room.owner = owner;
                }
            }),
            LiveEvent::RoomActivity { id, preview } => {
                rooms.update(|list| counted.with_value(|counted| count_activity(list, counted, id, preview)));
            }
            _ => {}
        },
    );

    view! {
        <header class="page-header">
            <div>
                <h1>"gif-chat"</h1>
                <p class="you">"You are " <PersonBadge person=me /></p>
            </div>
            <div class="header-actions">
                <NewRoom room_grace_secs />
                <Bell />
            </div>
        </header>
        <Notice query />
        <section aria-labelledby="rooms-heading">
            <h2 id="rooms-heading">"Rooms"</h2>
            <form class="room-search" role="search" on:submit=move |event| event.prevent_default()>
                <label for="room-search">"Find a room"</label>
                <input
                    id="room-search"
                    type="search"
                    placeholder="Part of its title"
                    maxlength="80"
                    autocomplete="off"
                    on:input=move |event| {
                        let title = event_target_value(&event);
                        search.set(title.clone());
                        load(title, 0);
                    }
                />
            </form>
            // `try_` reads: a page whose reader went away mid-render is disposed while its stream may still
            // evaluate these; they must not panic the server's task.
            <Show when=move || load_error.try_with(Option::is_some).unwrap_or(false)>
                <p class="error" role="alert">{move || load_error.get()}</p>
            </Show>
            <Show
                when=move || rooms.try_with(|list| !list.is_empty()).unwrap_or(false)
                fallback=move || {
                    if search.try_with(String::is_empty).unwrap_or(true) {
                        view! { <p class="empty">"No rooms yet. Create the first one."</p> }.into_any()
                    } else {
                        let title = move || search.try_get().unwrap_or_default();
                        view! { <p class="empty">"No room's title contains “"{title}"”."</p> }.into_any()
                    }
                }
            >
                <ul class="room-list" aria-live="polite">
                    <For each=move || rooms.get() key=|room| (room.id, room.present, room.unread, room.owner.id.clone(), room.banned) let:room>
                        <RoomCard room />
                    </For>
                </ul>
            </Show>
            <Show when=move || has_more.try_get().unwrap_or(false)>
                <button
                    type="button"
                    class="button button-quiet more-rooms"
                    on:click=move |_| load(search.get_untracked(), rooms.with_untracked(Vec::len))
                >
                    "Show more rooms"
                </button>
            </Show>
        </section>
    }
}

/// Why the reader was sent back to the list, carried in the query string as a refusal code (`/?notice=full`).
/// Only known codes are shown, so the URL cannot put arbitrary text on the page.
#[component]
fn Notice(query: Memo<ParamsMap>) -> impl IntoView {
    let sent_away = use_context::<SentAway>();
    let text = move || {
        let code = query.try_with(|query| query.get("notice")).flatten()?;
        let refusal = Refusal::from_code(&code)?;
        let room = sent_away.and_then(|SentAway(away)| {
            away.with(|away| away.as_ref().filter(|(why, _)| *why == refusal).map(|(_, title)| title.clone()))
        });
        Some(match room {
            Some(title) => about_room(refusal, &title),
            None => refusal.to_string(),
        })
    };
    view! {
        <Show when=move || text().is_some()>
            <p class="notice" role="alert">{text}</p>
        </Show>
    }
}

/// Why the reader was sent from a room to the list, and that room's title. Only the page that was in the room
/// knows it: the URL carries the reason's code alone, so a link cannot make the list say anything about a room.
#[derive(Clone, Copy)]
pub struct SentAway(pub RwSignal<Option<(Refusal, String)>>);

/// Makes the [`SentAway`] the room page and the list share.
pub fn provide_sent_away() {
    provide_context(SentAway(RwSignal::new(None)));
}

/// A notice that names the room it is about.
fn about_room(refusal: Refusal, title: &str) -> String {
    match refusal {
        Refusal::NotFound => format!("“{title}” no longer exists."),
        Refusal::Password => format!("“{title}” needs its password."),
        Refusal::Full => format!("“{title}” is full."),
        Refusal::Banned => format!("The owner removed you from “{title}”."),
        Refusal::NotPresent => format!("You are not in “{title}”."),
    }
}

/// "New room": a disclosure around the create form, which the browser opens and closes by itself (with the WASM
/// or without); with the WASM it also closes as a pop-up does (Escape, a press outside). Open from the start when
/// the page came back with the form's error.
#[component]
fn NewRoom(room_grace_secs: u32) -> impl IntoView {
    let landed = landing_error::<CreateRoom>().map(|error| error.to_string());
    let open = landed.is_some();
    let details = NodeRef::<html::Details>::new();
    browser::close_like_a_popup(details);
    view! {
        <details class="new-room" open=open node_ref=details>
            <summary class="button">"New room"</summary>
            <section class="panel" aria-labelledby="create-room-heading">
                <h2 id="create-room-heading">"Create a room"</h2>
                <CreateRoomForm landed room_grace_secs />
            </section>
        </details>
    }
}

/// The create form. Checked in the browser with the server's own rules before it is sent; without the WASM it
/// posts like any form (`landed` is the error a post came back with). It says how long a room outlives its
/// last person (`room_grace_secs`): then it goes, with its messages.
#[component]
fn CreateRoomForm(landed: Option<String>, room_grace_secs: u32) -> impl IntoView {
    let create = ServerAction::<CreateRoom>::new();
    let invalid = RwSignal::new(landed);
    let title_typed = RwSignal::new(0);
    let (title, members, password) =
        (NodeRef::<html::Input>::new(), NodeRef::<html::Input>::new(), NodeRef::<html::Input>::new());
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let value = |input: NodeRef<html::Input>| input.get_untracked().map(|i| i.value()).unwrap_or_default();
        let (title, max_members, password) = (value(title), value(members), value(password));
        let checked =
            Title::parse(&title).and(MemberLimit::parse(&max_members)).and(RoomPassword::parse(Some(&password)));
        match checked {
            Err(problem) => invalid.set(Some(problem.to_string())),
            Ok(_) => {
                invalid.set(None);
                create.dispatch(CreateRoom { title, max_members, password: Some(password) });
            }
        }
    };
    let error =
        move || invalid.get().or_else(|| create.value().get().and_then(|result| result.err()).map(|e| e.to_string()));
    view! {
        <form class="form" method="post" action=CreateRoom::url() on:submit=on_submit novalidate>
            <div class="field">
                <label for="room-title">"Title"</label>
                <input id="room-title" name="title" type="text" required minlength="1" maxlength=Title::MAX_CHARS
                    autocomplete="off" aria-describedby="room-title-left" node_ref=title
                    on:input=move |event| title_typed.set(event_target_value(&event).chars().count()) />
                <CharactersLeft typed=title_typed max=Title::MAX_CHARS id="room-title-left" />
            </div>
            <div class="field">
                <label for="room-max">"Max members"</label>
                <input id="room-max" name="max_members" type="number" required min=MemberLimit::MIN max=MemberLimit::MAX
                    value=MemberLimit::DEFAULT node_ref=members />
            </div>
            <div class="field">
                <label for="room-password">"Password"</label>
                <input id="room-password" name="password" type="password" autocomplete="new-password"
                    aria-describedby="room-password-hint" node_ref=password />
                <p id="room-password-hint" class="hint">"Optional. Only people who know it can enter."</p>
            </div>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">{error}</p>
            </Show>
            <p class="hint">
                {format!(
                    "A room closes {} after the last person leaves it, and its messages go with it.",
                    duration_words(room_grace_secs)
                )}
            </p>
            <button type="submit" class="button" disabled=move || create.pending().get()>"Create room"</button>
        </form>
    }
}

#[component]
fn RoomCard(room: RoomSummary) -> impl IntoView {
    let href = format!("/room/{}", room.id);
    view! {
        <li class="room-card" data-room-id=room.id.get()>
            <div class="room-main">
                <A href=href attr:class="room-title">{room.title}</A>
                {room.locked.then(|| view! { <span class="lock" role="img" aria-label="password required" title="Password required">"🔒"</span> })}
                {room.unread.filter(|n| *n > 0).map(|n| view! { <span class="unread">{format!("{n} new")}</span> })}
                {room.banned.then(|| view! { <span class="room-flag">"You were removed"</span> })}
                {(!room.banned && room.present >= room.max_members).then(|| view! { <span class="room-flag">"Full"</span> })}
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

/// A message in room `id` from someone else, which the reader has not read (`roomActivity`): the room's unread
/// count rises, and the preview shows the latest message. A message the list counted already (it was loaded
/// after the message was sent) is not new. Others are, whatever their order: sends committed together are
/// announced as each finishes.
fn count_activity(list: &mut [RoomSummary], counted: &CountedThrough, id: RoomId, preview: MessagePreview) {
    let Some(room) = list.iter_mut().find(|room| room.id == id) else { return };
    if counted.includes(id, preview.seq) {
        return;
    }
    room.unread = Some(room.unread.unwrap_or(0) + 1);
    if room.last_message.as_ref().is_none_or(|last| preview.seq > last.seq) {
        room.last_message = Some(preview);
    }
}

/// For each room on the list, the latest message its unread count covered when the server made its summary: an
/// activity up to it was counted already, any later one is new (each is announced once, in any order).
#[derive(Default)]
struct CountedThrough(std::collections::HashMap<RoomId, i64>);

impl CountedThrough {
    /// A whole new list: rooms it no longer holds are forgotten.
    fn fresh(&mut self, rooms: &[RoomSummary]) {
        self.0.clear();
        self.add(rooms);
    }

    fn add(&mut self, rooms: &[RoomSummary]) {
        for room in rooms {
            self.0.insert(room.id, room.last_message.as_ref().map_or(0, |last| last.seq));
        }
    }

    fn forget(&mut self, room: RoomId) {
        self.0.remove(&room);
    }

    fn includes(&self, room: RoomId, seq: i64) -> bool {
        self.0.get(&room).is_some_and(|through| seq <= *through)
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    fn preview(seq: i64) -> MessagePreview {
        MessagePreview { seq, author: None, text: format!("message {seq}"), whisper: false }
    }

    fn room(id: i64, unread: u32, last: i64) -> RoomSummary {
        RoomSummary {
            id: RoomId::new(id),
            title: format!("room {id}"),
            locked: false,
            max_members: 10,
            present: 1,
            presence_version: 1,
            owner: ::chat::identity::person("owner"),
            created_at: 0,
            unread: Some(unread),
            last_message: Some(preview(last)),
            banned: false,
            private: false,
        }
    }

    #[test]
    fn every_message_after_the_list_was_made_counts_once_in_whatever_order_it_comes() {
        // The list was made when message 5 was the latest, with one unread.
        let mut list = vec![room(1, 1, 5), room(2, 0, 9)];
        let mut counted = CountedThrough::default();
        counted.fresh(&list);
        let id = RoomId::new(1);
        for seq in [7, 6, 5, 4, 8] {
            count_activity(&mut list, &counted, id, preview(seq));
        }
        assert_eq!(list[0].unread, Some(4), "6, 7 and 8 are new, however late 6 came; 4 and 5 were counted");
        assert_eq!(list[0].last_message.as_ref().map(|last| last.seq), Some(8), "the preview is the latest");
        assert_eq!((list[1].unread, list[1].last_message.as_ref().map(|last| last.seq)), (Some(0), Some(9)));

        // A fresh list starts over from its own summaries; a room gone from it counts nothing.
        let mut list = vec![room(1, 4, 8)];
        counted.fresh(&list);
        count_activity(&mut list, &counted, id, preview(8));
        assert_eq!(list[0].unread, Some(4));
        counted.forget(id);
        count_activity(&mut list, &counted, RoomId::new(2), preview(10));
        assert_eq!(list[0].unread, Some(4));
    }
}
