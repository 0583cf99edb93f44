//! Who is here, with whisper and (for the owner) remove actions and the list of bans; and the owner's delete
//! button.

use leptos::html;
use leptos::prelude::*;

use leptos_router::hooks::use_navigate;

use crate::api::{bans, delete_room, kick, lift_ban, talk_privately};
use crate::browser;
use crate::components::PersonBadge;
use protocol::model::{Ban, Participant, Person, PersonId, RoomId};

/// The screens on which who is here is folded away (the same width as the phone layout in style/main.css).
const PHONE_WIDTH: &str = "(max-width: 720px)";

/// Who is here: color, name, "you", the owner; whisper to anyone, and (for the owner) remove anyone, after a
/// confirmation that says it is a ban, and see and lift the bans.
#[component]
pub fn ParticipantPanel(
    room_id: RoomId,
    participants: Memo<Vec<Participant>>,
    me_id: PersonId,
    i_am_owner: Memo<bool>,
    whisper_to: RwSignal<Option<Person>>,
    /// A private conversation: nobody to invite to another.
    private: bool,
) -> impl IntoView {
    let me_id = StoredValue::new(me_id);
    let error = RwSignal::new(None::<String>);
    // "Talk privately": the private room of the two opens (made, or the one they have), the other is invited.
    let navigate = use_navigate();
    let talk = move |person: Person| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match talk_privately(room_id, person.id.to_string()).await {
                Ok(private) => navigate(&format!("/room/{}", private.id), Default::default()),
                Err(failure) => drop(error.try_set(Some(failure.to_string()))),
            }
        });
    };
    let talk = StoredValue::new(talk);
    // Whom the owner is about to remove: their line asks first ("Remove and ban"), a press away from undoing.
    let confirming = RwSignal::new(None::<PersonId>);
    // Bumped by each removal: the list of bans, if open, loads again.
    let removals = RwSignal::new(0u32);
    let remove = move |person: Person| {
        confirming.set(None);
        leptos::task::spawn_local(async move {
            match kick(room_id, person.id.to_string()).await {
                Ok(()) => removals.update(|count| *count += 1),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    // On a phone the conversation owns the screen: who is here folds into one line with the count, a tap away
    // (a disclosure button in the heading, so the heading stays a heading). Unfolded as rendered (so before the
    // WASM arrives, or without it, the list shows), folded once hydrated on a narrow screen, and again whenever
    // the screen becomes narrow; the person may unfold it.
    let unfolded = RwSignal::new(true);
    browser::on_media_change(PHONE_WIDTH, move |narrow| unfolded.set(!narrow));
    view! {
        <aside class="participants" aria-labelledby="participants-heading">
            <h2 id="participants-heading">
                <button type="button" class="disclosure" aria-expanded=move || unfolded.get().to_string()
                    aria-controls="participant-list" on:click=move |_| unfolded.update(|open| *open = !*open)>
                    "Here now " <span class="count">{move || format!("({})", participants.read().len())}</span>
                </button>
            </h2>
            <div id="participant-list" hidden=move || !unfolded.get()>
            <ul aria-live="polite">
                <For each=move || participants.get() key=|p| (p.person.id.clone(), p.owner, p.tag.clone()) let:participant>
                    {
                        let Participant { person, owner, tag } = participant;
                        let is_me = me_id.with_value(|id| *id == person.id);
                        let for_whisper = person.clone();
                        let for_talk = person.clone();
                        let for_kick = person.clone();
                        let name = person.name.clone();
                        view! {
                            <li class="participant">
                                <span class="who">
                                    <PersonBadge person is_me tag=Signal::stored(tag) />
                                    {owner.then(|| view! { <span class="badge">"owner"</span> })}
                                </span>
                                {(!is_me).then(|| view! {
                                    <span class="actions">
                                        <button type="button" class="link-button"
                                            aria-label=format!("Whisper to {name}")
                                            on:click=move |_| whisper_to.set(Some(for_whisper.clone()))>
                                            "Whisper"
                                        </button>
                                        {(!private).then(|| view! {
                                            <button type="button" class="link-button"
                                                aria-label=format!("Talk privately with {}", for_talk.name)
                                                on:click=move |_| talk.with_value(|talk| talk(for_talk.clone()))>
                                                "Talk privately"
                                            </button>
                                        })}
                                        <Show when=move || i_am_owner.get()>
                                            <RemoveAction person=for_kick.clone() confirming on_confirm=remove />
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
            <Show when=move || i_am_owner.get()>
                <BanList room_id removals />
            </Show>
            </div>
        </aside>
    }
}

/// The owner's "Remove…": it asks first, in the person's line, saying that it is a ban ("Remove and ban"), with
/// Cancel (or Escape) a press away. The question takes the focus, and gives it back when cancelled.
#[component]
fn RemoveAction(
    person: Person,
    confirming: RwSignal<Option<PersonId>>,
    on_confirm: impl Fn(Person) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = StoredValue::new(person.id.clone());
    let asking = Memo::new(move |_| confirming.with(|who| id.with_value(|id| who.as_ref() == Some(id))));
    let name = person.name.clone();
    let (ask, confirm) = (NodeRef::<html::Button>::new(), NodeRef::<html::Button>::new());
    let cancel = move || {
        confirming.set(None);
        request_animation_frame(move || {
            if let Some(ask) = ask.get_untracked() {
                let _ = ask.focus();
            }
        });
    };
    Effect::new(move |_| {
        if asking.get()
            && let Some(confirm) = confirm.get()
        {
            let _ = confirm.focus();
        }
    });
    let question = format!("Remove {name} and ban them from this room? They cannot come back unless you let them.");
    let person = StoredValue::new(person);
    view! {
        <Show when=move || asking.get()
            fallback=move || view! {
                <button type="button" class="link-button danger" node_ref=ask
                    aria-label=format!("Remove {}…", person.with_value(|p| p.name.clone()))
                    on:click=move |_| confirming.set(Some(id.get_value()))>
                    "Remove…"
                </button>
            }>
            <span class="confirm" role="group" aria-label=question.clone()
                on:keydown=move |event: leptos::ev::KeyboardEvent| if event.key() == "Escape" { cancel() }>
                <span class="confirm-question">{question.clone()}</span>
                <button type="button" class="button button-danger button-small" node_ref=confirm
                    on:click=move |_| on_confirm(person.get_value())>
                    "Remove and ban"
                </button>
                <button type="button" class="button button-quiet button-small" on:click=move |_| cancel()>"Cancel"</button>
            </span>
        </Show>
    }
}

/// The owner's list of the people they removed, each with "Let back in". Loaded when opened, and again after
/// each removal.
#[component]
fn BanList(room_id: RoomId, removals: RwSignal<u32>) -> impl IntoView {
    let open = RwSignal::new(false);
    let banned = RwSignal::new(Vec::<Ban>::new());
    let status = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        removals.track();
        if !open.get() {
            return;
        }
        leptos::task::spawn_local(async move {
            match bans(room_id).await {
                Ok(list) => {
                    error.set(None);
                    banned.set(list);
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    });
    let let_back = move |ban: Ban| {
        leptos::task::spawn_local(async move {
            match lift_ban(room_id, ban.person.id.to_string()).await {
                Ok(()) => {
                    banned.update(|list| list.retain(|b| b.person.id != ban.person.id));
                    status.set(Some(format!("{} may enter again.", ban.person.name)));
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    view! {
        <section class="bans" aria-labelledby="bans-heading">
            <h3 id="bans-heading">
                <button type="button" class="disclosure" aria-expanded=move || open.get().to_string()
                    aria-controls="ban-list" on:click=move |_| open.update(|open| *open = !*open)>
                    "Removed"
                </button>
            </h3>
            <div id="ban-list" hidden=move || !open.get()>
                <Show when=move || banned.with(Vec::is_empty)>
                    <p class="hint">"Nobody. Whoever you remove is listed here, and can be let back in."</p>
                </Show>
                <ul>
                    <For each=move || banned.get() key=|ban| ban.person.id.clone() let:ban>
                        {
                            let label = format!("Let {} back in", ban.person.name);
                            let person = ban.person.clone();
                            view! {
                                <li class="banned-person">
                                    <span class="who"><PersonBadge person /></span>
                                    <button type="button" class="link-button" aria-label=label
                                        on:click=move |_| let_back(ban.clone())>
                                        "Let back in"
                                    </button>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </div>
            // A live region, not a `status` role: the page's one status is the connection's.
            <p id="ban-status" class="visually-hidden" aria-live="polite">{move || status.get()}</p>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </section>
    }
}

/// The room's menu (⋯): who the reader is, and for the owner, "Delete room…". A pop-up that closes on Escape and
/// on a press outside; without the WASM it still opens and closes (a disclosure).
#[component]
pub fn RoomMenu(room_id: RoomId, me: Person, i_am_owner: Memo<bool>) -> impl IntoView {
    let details = NodeRef::<html::Details>::new();
    browser::close_like_a_popup(details);
    view! {
        <details class="room-menu" node_ref=details>
            <summary class="button button-quiet" title="Room menu">
                <span aria-hidden="true">"⋯"</span>
                <span class="visually-hidden">"Room menu"</span>
            </summary>
            <div class="panel menu-panel">
                <p class="menu-you">"You are " <PersonBadge person=me /></p>
                <Show when=move || i_am_owner.get()
                    fallback=|| view! { <p class="hint">"The room's owner can delete it and remove people."</p> }>
                    <DeleteRoomButton room_id />
                </Show>
            </div>
        </details>
    }
}

#[component]
fn DeleteRoomButton(room_id: RoomId) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let on_click = move |_| {
        if !browser::confirm("Delete this room for everyone? Its messages and GIFs go with it.") {
            return;
        }
        leptos::task::spawn_local(async move {
            // Success needs nothing here: the room's removal arrives over the live channel, like for everyone.
            if let Err(failure) = delete_room(room_id).await {
                error.set(Some(failure.to_string()));
            }
        });
    };
    view! {
        <button type="button" class="button button-danger" on:click=on_click>"Delete room…"</button>
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert">{move || error.get()}</p>
        </Show>
    }
}
