//! How many characters a field still takes, said before the limit is met.

use leptos::prelude::*;

/// "12 characters left", shown once what is typed nears `max` (its last tenth, at least its last 20), so nobody
/// meets a limit without a word. Characters are counted as the server counts them. The field names it in its
/// `aria-describedby` (`id`), so a screen reader says it with the field, not at every key.
#[component]
pub fn CharactersLeft(#[prop(into)] typed: Signal<usize>, max: usize, id: &'static str) -> impl IntoView {
    let left = move || max.saturating_sub(typed.get());
    let far_from_it = move || left() > (max / 10).max(20);
    view! {
        <p id=id class="hint characters-left" hidden=far_from_it>
            {move || match left() {
                1 => "1 character left".to_owned(),
                left => format!("{left} characters left"),
            }}
        </p>
    }
}
