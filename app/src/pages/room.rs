//! A room (`/room/:id`): the password gate, or the chat itself with its live messages, composer and GIF upload.

use leptos::html;
use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::{EnterRoom, delete_room, earlier_messages, kick, room_page, send_message};
use crate::components::{LocalTime, PersonBadge};
use crate::error::AppError;
use crate::live::{ClientCommand, LiveEvent, RefusalReason};
use crate::live_client::{Connection, use_live};
use crate::model::{ChatMessage, MESSAGE_MAX_CHARS, MessageKind, Participant, Person, RoomAccess, RoomId, RoomView};
use crate::pages::not_found::set_not_found_status;

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room_id = move || params.read().get("id").and_then(|id| id.parse::<RoomId>().ok());
    let access = Resource::new_blocking(room_id, |id| async move {
        match id {
            Some(id) => room_page(id).await,
            None => Ok(RoomAccess::NotFound),
        }
    });

    view! {
        <Transition fallback=|| view! { <main class="page"><p>"Loading the room…"</p></main> }>
            {move || Suspend::new(async move {
                match access.await {
                    Ok(RoomAccess::Open(view)) => view! { <ChatRoom view on_resync=move || access.refetch() /> }.into_any(),
                    Ok(RoomAccess::NeedsPassword { id, title }) => {
                        view! { <PasswordGate id title on_entered=move || access.refetch() /> }.into_any()
                    }
                    Ok(RoomAccess::Full { title, max_members, .. }) => view! {
                        <main class="page page-narrow">
                            <h1>{title}</h1>
                            <p role="alert">{format!("This room is full: all {max_members} places are taken.")}</p>
                            <p><A href="/">"Back to the rooms"</A></p>
                        </main>
                    }
                    .into_any(),
                    Ok(RoomAccess::Banned { title, .. }) => view! {
                        <main class="page page-narrow">
                            <h1>{title}</h1>
                            <p role="alert">"The owner removed you from this room. You cannot enter it again."</p>
                            <p><A href="/">"Back to the rooms"</A></p>
                        </main>
                    }
                    .into_any(),
                    Ok(RoomAccess::NotFound) => {
                        set_not_found_status();
                        view! {
                            <main class="page page-narrow">
                                <h1>"Room not found"</h1>
                                <p>"This room does not exist (any more)."</p>
                                <p><A href="/">"Back to the rooms"</A></p>
                            </main>
                        }
                        .into_any()
                    }
                    Err(error) => view! {
                        <main class="page page-narrow">
                            <p role="alert" class="error">{error.to_string()}</p>
                            <p><A href="/">"Back to the rooms"</A></p>
                        </main>
                    }
                    .into_any(),
                }
            })}
        </Transition>
    }
}

/// The password form of a locked room. The password is posted to a server function, never put in a URL.
#[component]
fn PasswordGate(id: RoomId, title: String, on_entered: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let enter = ServerAction::<EnterRoom>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = enter.value().get() {
            on_entered();
        }
    });
    let error = move || enter.value().get().and_then(|result| result.err()).map(|e| e.to_string());
    view! {
        <main class="page page-narrow">
            <p><A href="/">"← Rooms"</A></p>
            <h1>{title}</h1>
            <p>"This room is locked. Enter its password to join."</p>
            <ActionForm action=enter attr:class="form panel">
                <input type="hidden" name="id" value=id />
                <div class="field">
                    <label for="room-password">"Password"</label>
                    <input id="room-password" name="password" type="password" required autocomplete="current-password" />
                </div>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert">{error}</p>
                </Show>
                <button type="submit" class="button" disabled=move || enter.pending().get()>"Enter"</button>
            </ActionForm>
        </main>
    }
}

/// Inserts a message in sequence order, ignoring one already there (live events and replies may both bring it).
fn insert_message(messages: &mut Vec<ChatMessage>, message: ChatMessage) {
    match messages.binary_search_by_key(&message.seq, |m| m.seq) {
        Ok(_) => {}
        Err(position) => messages.insert(position, message),
    }
}

/// `on_resync` reloads the room (its history and participants) when the live channel says the page is too far
/// behind to catch up message by message.
#[component]
fn ChatRoom(view: RoomView, on_resync: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let RoomView { room, me, participants, messages, has_earlier } = view;
    let room_id = room.id;
    let max_members = room.max_members;
    // The position to resume the live channel from: only what arrived over it (or was rendered) counts, not
    // replies to our own sends, which can arrive before earlier messages from others.
    let live_seq = StoredValue::new(messages.last().map_or(0, |m| m.seq));
    let messages = RwSignal::new(messages);
    let has_earlier = RwSignal::new(has_earlier);
    let participants = RwSignal::new(participants);
    let present = Memo::new(move |_| participants.read().len());
    let me_id = StoredValue::new(me.id.clone());
    let i_am_owner = Memo::new(move |_| {
        participants.with(|people| people.iter().any(|p| p.owner && me_id.with_value(|id| *id == p.person.id)))
    });
    // Whom the composer whispers to, if anyone.
    let whisper_to = RwSignal::new(None::<Person>);
    // Marks that tell look-alikes apart, by person id (from the participant list, applied to messages too).
    let tag_of = move |id: &str| {
        participants.with(|people| people.iter().find(|p| p.person.id == id).and_then(|p| p.tag.clone()))
    };

    let live = use_live();
    // Set when the room sends the reader away (refused, removed); an effect does the navigation.
    let sent_away = RwSignal::new(None::<&'static str>);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(notice) = sent_away.get() {
            navigate(&format!("/?notice={notice}"), NavigateOptions::default());
        }
    });
    let leave_with = move |notice: &'static str| sent_away.set(Some(notice));
    live.subscribe(
        move || ClientCommand::Join { room: room_id, since: Some(live_seq.get_value()) },
        move |event| match event {
            LiveEvent::Chat { message } if message.room_id == room_id => {
                live_seq.update_value(|seq| *seq = (*seq).max(message.seq));
                messages.update(|list| insert_message(list, message));
            }
            LiveEvent::Participants { room, people } if room == room_id => {
                // A whisper target who left can no longer be whispered to.
                whisper_to.update(|to| {
                    if to.as_ref().is_some_and(|t| !people.iter().any(|p| p.person.id == t.id)) {
                        *to = None;
                    }
                });
                participants.set(people);
            }
            LiveEvent::Kicked { room } if room == room_id => leave_with("kicked"),
            LiveEvent::Resync { room } if room == room_id => on_resync(),
            LiveEvent::Refused { room, reason, .. } if room == room_id => leave_with(match reason {
                RefusalReason::Full => "full",
                RefusalReason::Password => "password",
                RefusalReason::NotFound => "gone",
                RefusalReason::Banned => "kicked",
            }),
            LiveEvent::RemoveRoom { id } if id == room_id => leave_with("removed"),
            _ => {}
        },
    );

    // Scrolling: follow new messages while the reader is at the bottom; otherwise offer a pill.
    let log_ref = NodeRef::<html::Ol>::new();
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    let scroll_to_bottom = move || {
        if let Some(log) = log_ref.get_untracked() {
            log.set_scroll_top(log.scroll_height());
        }
        unseen.set(false);
    };
    Effect::new(move |previous_last: Option<Option<i64>>| {
        let last = messages.with(|m| m.last().map(|m| m.seq));
        let grew = previous_last.is_some_and(|previous| last > previous);
        if at_bottom.get_untracked() {
            scroll_to_bottom();
        } else if grew {
            unseen.set(true);
        }
        last
    });
    let on_scroll = move |_| {
        if let Some(log) = log_ref.get_untracked() {
            let bottom = log.scroll_height() - log.scroll_top() - log.client_height() < 48;
            at_bottom.set(bottom);
            if bottom {
                unseen.set(false);
            }
        }
    };

    let loading_earlier = RwSignal::new(false);
    let load_earlier = move |_| {
        let Some(first) = messages.with_untracked(|m| m.first().map(|m| m.seq)) else { return };
        loading_earlier.set(true);
        leptos::task::spawn_local(async move {
            let previous_height = log_ref.get_untracked().map(|log| log.scroll_height());
            if let Ok(page) = earlier_messages(room_id, first).await {
                has_earlier.set(page.has_earlier);
                messages.update(|list| page.messages.into_iter().for_each(|m| insert_message(list, m)));
                // Keep the reader's place: what they were looking at stays where it was.
                if let (Some(log), Some(previous)) = (log_ref.get_untracked(), previous_height) {
                    request_animation_frame(move || log.set_scroll_top(log.scroll_top() + log.scroll_height() - previous));
                }
            }
            loading_earlier.set(false);
        });
    };

    let connection = live.state();
    view! {
        <main class="page chat-page">
            <header class="chat-header">
                <A href="/" attr:class="back">"← Rooms"</A>
                <h1>
                    {room.title}
                    {room.locked.then(|| view! { <span class="lock" role="img" aria-label="password required">" 🔒"</span> })}
                </h1>
                <p class="room-count" aria-live="polite">{move || format!("{}/{max_members} present", present.get())}</p>
                <p class="you">"You are " <PersonBadge person=me is_me=true /></p>
                <Show when=move || i_am_owner.get()>
                    <DeleteRoomButton room_id />
                </Show>
            </header>
            <p class="offline" role="status" hidden=move || connection.get() != Connection::Offline>
                "Offline — reconnecting…"
            </p>
            <div class="chat-layout">
            <Uploader room_id>
                <div class="log-wrap">
                    <ol class="messages" role="log" aria-live="polite" aria-label="Messages" node_ref=log_ref on:scroll=on_scroll>
                        <Show when=move || has_earlier.get()>
                            <li class="earlier">
                                <button type="button" class="button button-quiet" on:click=load_earlier disabled=move || loading_earlier.get()>
                                    "Load earlier"
                                </button>
                            </li>
                        </Show>
                        <For each=move || messages.get() key=|message| message.seq let:message>
                            <MessageItem message me=me_id.get_value() tag_of />
                        </For>
                    </ol>
                    <button type="button" class="pill" hidden=move || !unseen.get() on:click=move |_| scroll_to_bottom()>
                        "New messages ↓"
                    </button>
                </div>
                <Composer room_id whisper_to on_sent=move |message| messages.update(|list| insert_message(list, message)) />
            </Uploader>
            <ParticipantPanel room_id participants me_id=me_id.get_value() i_am_owner whisper_to />
            </div>
        </main>
    }
}

#[component]
fn MessageItem(
    message: ChatMessage,
    me: String,
    tag_of: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ChatMessage { seq, kind, author, recipient, body, created_at, .. } = message;
    match (kind, author) {
        (MessageKind::System, _) | (_, None) => view! {
            <li class="message system" data-seq=seq>
                <span class="body">{body}</span>
                " · "
                <LocalTime millis=created_at />
            </li>
        }
        .into_any(),
        (kind, Some(author)) => {
            let is_mine = me == author.id;
            let style = format!("--person-color: {}", author.color);
            let author_id = author.id.clone();
            let content = if kind == MessageKind::Gif {
                let alt = format!("GIF from {}", author.name);
                view! { <img class="gif" src=body alt=alt loading="lazy" /> }.into_any()
            } else {
                view! { <p class="body">{body}</p> }.into_any()
            };
            let whisper = recipient.map(|recipient| {
                let label = if is_mine { format!("whisper to {}", recipient.name) } else { "whispered to you".to_owned() };
                view! { <span class="whisper-label">{label}</span> }
            });
            view! {
                <li class="message" class:mine=is_mine class:whisper=kind == MessageKind::Whisper data-seq=seq style=style>
                    <div class="meta">
                        <PersonBadge person=author is_me=is_mine tag=Signal::derive(move || tag_of(&author_id)) />
                        {whisper}
                        <LocalTime millis=created_at />
                    </div>
                    {content}
                </li>
            }
            .into_any()
        }
    }
}

/// Who is here: color, name, "you", the owner; whisper to anyone, and (for the owner) remove anyone.
#[component]
fn ParticipantPanel(
    room_id: RoomId,
    participants: RwSignal<Vec<Participant>>,
    me_id: String,
    i_am_owner: Memo<bool>,
    whisper_to: RwSignal<Option<Person>>,
) -> impl IntoView {
    let me_id = StoredValue::new(me_id);
    let error = RwSignal::new(None::<String>);
    let remove = move |person: Person| {
        leptos::task::spawn_local(async move {
            if let Err(failure) = kick(room_id, person.id.clone()).await {
                error.set(Some(failure.to_string()));
            }
        });
    };
    view! {
        <aside class="participants" aria-labelledby="participants-heading">
            <h2 id="participants-heading">
                "Here now " <span class="count">{move || format!("({})", participants.read().len())}</span>
            </h2>
            <ul aria-live="polite">
                <For each=move || participants.get() key=|p| (p.person.id.clone(), p.owner, p.tag.clone()) let:participant>
                    {
                        let Participant { person, owner, tag } = participant;
                        let is_me = me_id.with_value(|id| *id == person.id);
                        let for_whisper = person.clone();
                        let for_kick = person.clone();
                        let name = person.name.clone();
                        view! {
                            <li class="participant">
                                <PersonBadge person is_me tag=Signal::stored(tag) />
                                {owner.then(|| view! { <span class="badge">"owner"</span> })}
                                {(!is_me).then(|| view! {
                                    <span class="actions">
                                        <button type="button" class="link-button"
                                            aria-label=format!("Whisper to {name}")
                                            on:click=move |_| whisper_to.set(Some(for_whisper.clone()))>
                                            "Whisper"
                                        </button>
                                        <Show when=move || i_am_owner.get()>
                                            {
                                                let for_kick = for_kick.clone();
                                                let name = for_kick.name.clone();
                                                view! {
                                                    <button type="button" class="link-button danger"
                                                        aria-label=format!("Remove {name}")
                                                        on:click=move |_| remove(for_kick.clone())>
                                                        "Remove"
                                                    </button>
                                                }
                                            }
                                        </Show>
                                    </span>
                                })}
                            </li>
                        }
                    }
                </For>
            </ul>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </aside>
    }
}

#[component]
fn DeleteRoomButton(room_id: RoomId) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let sure = window().confirm_with_message("Delete this room for everyone?").unwrap_or(false);
            if !sure {
                return;
            }
        }
        leptos::task::spawn_local(async move {
            // Success needs nothing here: the room's removal arrives over the live channel, like for everyone.
            if let Err(failure) = delete_room(room_id).await {
                error.set(Some(failure.to_string()));
            }
        });
    };
    view! {
        <button type="button" class="button button-danger" on:click=on_click>"Delete room"</button>
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert">{move || error.get()}</p>
        </Show>
    }
}

/// How often a send that did not get through is retried (after 1, 2 and 4 s).
const SEND_RETRIES: u32 = 3;

/// A fresh id for a message the browser sends (a UUID from the browser's crypto).
fn new_message_id() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        window().crypto().ok().map(|crypto| crypto.random_uuid())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

async fn sleep_ms(millis: u32) {
    #[cfg(feature = "hydrate")]
    {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis as i32);
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = millis;
}

/// The message box: Enter sends, Shift+Enter starts a new line.
#[component]
fn Composer(
    room_id: RoomId,
    whisper_to: RwSignal<Option<Person>>,
    on_sent: impl Fn(ChatMessage) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let sending = RwSignal::new(false);
    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            error.set(Some("Write something first.".to_owned()));
            return;
        }
        error.set(None);
        sending.set(true);
        draft.set(String::new());
        let to = whisper_to.get_untracked().map(|person| person.id);
        // One id for the message, reused by every retry: the server stores it once, however often it arrives.
        let client_id = new_message_id();
        leptos::task::spawn_local(async move {
            let mut attempt = 0;
            let result = loop {
                let result = send_message(room_id, text.clone(), to.clone(), client_id.clone()).await;
                match result {
                    // The request did not get through (or its answer did not come back): try again, a few times.
                    Err(AppError::Request(_)) if attempt < SEND_RETRIES => {
                        attempt += 1;
                        sleep_ms(500 << attempt).await;
                    }
                    other => break other,
                }
            };
            match result {
                Ok(message) => on_sent(message),
                Err(failure) => {
                    error.set(Some(failure.to_string()));
                    // Give the text back, unless the reader has started a new one.
                    draft.update(|d| {
                        if d.is_empty() {
                            *d = text;
                        }
                    });
                }
            }
            sending.set(false);
        });
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send();
        }
    };
    view! {
        <form class="composer" on:submit=move |event| { event.prevent_default(); send(); }>
            <Show when=move || whisper_to.read().is_some()>
                <p class="whisper-target">
                    {move || format!("Whispering to {}", whisper_to.read().as_ref().map(|p| p.name.clone()).unwrap_or_default())}
                    " "
                    <button type="button" class="link-button" on:click=move |_| whisper_to.set(None)>"Cancel whisper"</button>
                </p>
            </Show>
            <label for="message" class="visually-hidden">"Message"</label>
            <textarea
                id="message"
                name="body"
                rows="2"
                maxlength=MESSAGE_MAX_CHARS
                placeholder="Write a message… (Enter sends, Shift+Enter for a new line)"
                prop:value=move || draft.get()
                on:input=move |event| draft.set(event_target_value(&event))
                on:keydown=on_keydown
            ></textarea>
            <button type="submit" class="button" disabled=move || sending.get()>"Send"</button>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}

/// Wraps the chat: a GIF can be picked, dropped anywhere on it, or pasted. Shows progress and refusals.
#[component]
fn Uploader(room_id: RoomId, children: Children) -> impl IntoView {
    let progress = RwSignal::new(None::<f64>);
    let error = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    let start = move |file: web_sys::File| {
        if progress.get_untracked().is_some() {
            return;
        }
        error.set(None);
        progress.set(Some(0.0));
        crate::upload_client::upload_gif(
            room_id,
            file,
            move |fraction| progress.set(Some(fraction)),
            move |result| {
                progress.set(None);
                if let Err(message) = result {
                    error.set(Some(message));
                }
                // Success needs nothing here: the message arrives over the live channel like everyone else's.
            },
        );
    };
    #[cfg(not(feature = "hydrate"))]
    let start = move |_: ()| {
        let _ = room_id;
    };

    let on_pick = move |_event: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let input: web_sys::HtmlInputElement = _event.target().unwrap().unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                start(file);
            }
            input.set_value("");
        }
    };
    let on_drop = move |event: leptos::ev::DragEvent| {
        event.prevent_default();
        dragging.set(false);
        #[cfg(feature = "hydrate")]
        if let Some(file) = event.data_transfer().and_then(|d| d.files()).and_then(|files| files.get(0)) {
            start(file);
        }
    };
    let on_paste = move |_event: leptos::ev::ClipboardEvent| {
        #[cfg(feature = "hydrate")]
        if let Some(file) = _event.clipboard_data().and_then(|d| d.files()).and_then(|files| files.get(0)) {
            _event.prevent_default();
            start(file);
        }
    };
    let _ = start;

    view! {
        <section
            class="chat"
            class:dragging=move || dragging.get()
            aria-label="Chat"
            on:dragover=move |event: leptos::ev::DragEvent| { event.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
            on:paste=on_paste
        >
            {children()}
            <div class="uploader">
                <label for="gif-input" class="button button-quiet">"GIF"</label>
                <input id="gif-input" class="visually-hidden" type="file" accept="image/gif" on:change=on_pick />
                <Show when=move || progress.get().is_some()>
                    <progress max="1" value=move || progress.get().unwrap_or(0.0) aria-label="Uploading GIF"></progress>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
                <span class="hint">"…or drop or paste a GIF here."</span>
            </div>
        </section>
    }
}
