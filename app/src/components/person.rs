//! A person as the UI shows them everywhere: their color swatch and short name.

use leptos::prelude::*;

use crate::model::Person;

#[component]
pub fn PersonBadge(person: Person, #[prop(optional)] is_me: bool) -> impl IntoView {
    let style = format!("--person-color: {}", person.color);
    view! {
        <span class="person" style=style>
            <span class="swatch" aria-hidden="true"></span>
            <span class="person-name">{person.name}</span>
            {is_me.then(|| view! { <span class="you-tag">" (you)"</span> })}
        </span>
    }
}
