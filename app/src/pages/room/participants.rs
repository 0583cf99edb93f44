//! Who is here, with whisper and (for the owner) remove actions; and the owner's delete button.

use leptos::prelude::*;

use crate::api::{delete_room, kick};
use crate::browser;
use crate::components::PersonBadge;
use protocol::model::{Participant, Person, PersonId, RoomId};

/// The screens on which who is here is folded away (the same width as the phone layout in style/main.css).
const PHONE_WIDTH: &str = "(max-width: 720px)";

/// Who is here: color, name, "you", the owner; whisper to anyone, and (for the owner) remove anyone.
#[component]
pub fn ParticipantPanel(
    room_id: RoomId,
    participants: Memo<Vec<Participant>>,
    me_id: PersonId,
    i_am_owner: Memo<bool>,
    whisper_to: RwSignal<Option<Person>>,
) -> impl IntoView {
    let me_id = StoredValue::new(me_id);
    let error = RwSignal::new(None::<String>);
    let remove = move |person: Person| {
        leptos::task::spawn_local(async move {
            if let Err(failure) = kick(room_id, person.id.to_string()).await {
                error.set(Some(failure.to_string()));
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
            <ul id="participant-list" aria-live="polite" hidden=move || !unfolded.get()>
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
pub fn DeleteRoomButton(room_id: RoomId) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let on_click = move |_| {
        if !browser::confirm("Delete this room for everyone?") {
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
        <button type="button" class="button button-danger" on:click=on_click>"Delete room"</button>
        <Show when=move || error.get().is_some()>
            <p class="error" role="alert">{move || error.get()}</p>
        </Show>
    }
}
