//! A person as the UI shows them everywhere: their color swatch and short name.

use leptos::prelude::*;

use protocol::model::Person;

/// `tag` is the mark that tells look-alikes apart (see `Participant::tag`), when there is one.
#[component]
pub fn PersonBadge(
    person: Person,
    #[prop(optional)] is_me: bool,
    #[prop(optional, into)] tag: Signal<Option<String>>,
) -> impl IntoView {
    let style = person.hue.css_style();
    view! {
        <span class="person" style=style>
            <span class="swatch" aria-hidden="true"></span>
            <span class="person-name">{person.name}</span>
            // A tolerant read: a page whose reader left mid-render may still evaluate this after its signals are
            // gone (leptos-rs/leptos#3595); it must not panic the server's task.
            {move || tag.try_get().flatten().map(|tag| view! { <span class="person-tag">{tag}</span> })}
            {is_me.then(|| view! { <span class="you-tag">" (you)"</span> })}
        </span>
    }
}
