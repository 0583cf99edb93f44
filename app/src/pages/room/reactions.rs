//! A message's reactions: a toggle button per emoji with its count (pressed when it is the reader's), who reacted
//! on hover and focus (loaded when first asked), and "React" with the fixed set of choices. Without the WASM it is
//! a plain form: each button posts its emoji, and the server gives or takes back the reader's reaction.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::actions::Conversation;
use crate::api::{React, react, who_reacted};
use crate::browser;
use crate::components::{PersonBadge, hydrated};
use protocol::domain::Emoji;
use protocol::model::Reactors;

/// The reactions under message `seq`, and "React".
#[component]
pub fn ReactionBar(seq: i64) -> impl IntoView {
    let reacting = expect_context::<Conversation>();
    let reactions = Memo::new(move |_| reacting.message(seq).map(|message| message.reactions).unwrap_or_default());
    let error = RwSignal::new(None::<String>);
    let choosing = RwSignal::new(false);
    // Who reacted, per emoji: asked for when someone first looks, and again after the counts change.
    let names = RwSignal::new(None::<Vec<Reactors>>);
    let asked = StoredValue::new(false);
    Effect::new(move |_| {
        reactions.track();
        names.set(None);
        asked.set_value(false);
    });
    let look = move || {
        if asked.get_value() {
            return;
        }
        asked.set_value(true);
        leptos::task::spawn_local(async move {
            if let Ok(listed) = who_reacted(reacting.room, seq).await {
                names.set(Some(listed));
            }
        });
    };
    let set = move |emoji: String, on: bool| {
        choosing.set(false);
        leptos::task::spawn_local(async move {
            match react(reacting.room, seq, emoji, Some(on)).await {
                Ok(message) => {
                    error.set(None);
                    reacting.answered(message);
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    // The form's buttons, a reaction's or a choice's, post their emoji; live, a click does it in place. (One
    // handler on the form for all of them, and one for looking at any reaction.)
    let press = move |event: leptos::ev::MouseEvent| {
        if let Some(emoji) = browser::event_value(&event, "button[name=emoji]") {
            event.prevent_default();
            let mine = reactions.with_untracked(|all| all.iter().any(|r| r.emoji == emoji && r.mine));
            set(emoji, !mine);
        }
    };
    let looking = move |event: &leptos::ev::Event| {
        if browser::event_value(event, "button.reaction").is_some() {
            look();
        }
    };
    let live = hydrated();
    view! {
        <form class="reactions" method="post" action=React::url() class:choosing=move || choosing.get()
            data-live=move || live.get().then_some("") on:submit=|event| event.prevent_default() on:click=press
            on:mouseover=move |event| looking(&event) on:focusin=move |event| looking(&event)>
            <input type="hidden" name="room" value=reacting.room.get() />
            <input type="hidden" name="seq" value=seq />
            <For each=move || reactions.get() key=|reaction| reaction.emoji.clone() let:reaction>
                {
                    let emoji = StoredValue::new(reaction.emoji.clone());
                    let current = move || reactions.with(|all| all.iter().find(|r| emoji.with_value(|e| r.emoji == *e)).cloned());
                    let mine = move || current().is_some_and(|r| r.mine);
                    let count = move || current().map_or(0, |r| r.count);
                    let tooltip = format!("reactors-{seq}-{}", Emoji::position(&reaction.emoji));
                    view! {
                        <span class="reaction-wrap">
                            <button type="submit" name="emoji" value=emoji.get_value() class="reaction"
                                aria-pressed=move || mine().to_string() aria-describedby=tooltip.clone()>
                                {emoji.get_value()} " " {count}
                            </button>
                            <span class="reactors" role="tooltip" id=tooltip>
                                <Who names emoji=emoji.get_value() />
                            </span>
                        </span>
                    }
                }
            </For>
            // Without the WASM the choices show while "React" (or a choice) has the focus.
            <span class="react-menu">
                <button type="button" class="link-button react-button" aria-expanded=move || choosing.get().to_string()
                    on:click=move |_| choosing.update(|open| *open = !*open)>
                    "React"
                </button>
                <span class="reaction-choices" role="group" aria-label="Reactions to choose from"
                    on:keydown=move |event: leptos::ev::KeyboardEvent| if event.key() == "Escape" { choosing.set(false) }>
                    {Emoji::ALL
                        .into_iter()
                        .map(|emoji| {
                            view! {
                                <button type="submit" name="emoji" value=emoji class="reaction-choice" aria-label=emoji>
                                    {emoji}
                                </button>
                            }
                        })
                        .collect_view()}
                </span>
            </span>
            <Show when=move || error.get().is_some()>
                <span class="error" role="alert">{move || error.get()}</span>
            </Show>
        </form>
    }
}

/// The people who reacted with `emoji`, once loaded.
#[component]
fn Who(names: RwSignal<Option<Vec<Reactors>>>, emoji: String) -> impl IntoView {
    move || {
        let listed = names.with(|names| names.as_ref().map(|all| all.iter().find(|r| r.emoji == emoji).cloned()));
        match listed {
            None => view! { <span>"…"</span> }.into_any(),
            Some(None) => view! { <span>"Nobody now"</span> }.into_any(),
            Some(Some(Reactors { people, count, .. })) => {
                let more = count.saturating_sub(people.len() as u32);
                view! {
                    <span class="reactor-names">
                        {people.into_iter().map(|person| view! { <PersonBadge person /> }).collect_view()}
                        {(more > 0).then(|| format!("and {more} more"))}
                    </span>
                }
                .into_any()
            }
        }
    }
}
