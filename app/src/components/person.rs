//! A person as the UI shows them everywhere: their color swatch and short name.

use leptos::prelude::*;

use protocol::model::Person;

/// What a look-alike mark is, for whoever wonders (the tooltip; a screen reader hears "Ann, told apart by #ca87").
const TAG_MEANS: &str = "Another person here has a name that looks like this one: the mark tells them apart";

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
            {move || tag.try_get().flatten().map(|tag| view! {
                <span class="person-tag" title=TAG_MEANS>
                    <span class="visually-hidden">", told apart by "</span>
                    {tag}
                </span>
            })}
            {is_me.then(|| view! { <span class="you-tag">" (you)"</span> })}
        </span>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn a_look_alike_mark_says_what_it_is() {
        let person = chat::identity::person("0123456789abcdef0123456789abcdef");
        let html = Owner::new()
            .with(|| view! { <PersonBadge person tag=Signal::stored(Some("#ca87".to_owned())) /> }.to_html());
        assert!(html.contains(&format!(r#"title="{TAG_MEANS}""#)), "{html}");
        assert!(html.contains(", told apart by "), "{html}");
        assert!(html.contains("#ca87"), "{html}");
    }
}
