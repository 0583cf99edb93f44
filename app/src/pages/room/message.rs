//! One message of the chat log.

use leptos::prelude::*;

use crate::components::{LocalTime, PersonBadge};
use protocol::model::{ChatMessage, MessageKind, Person, PersonId, still_of};

#[component]
pub fn MessageItem(
    message: ChatMessage,
    me: PersonId,
    tag_of: impl Fn(&PersonId) -> Option<String> + Copy + Send + Sync + 'static,
    /// The composer's whisper target: a whisper received offers to answer it privately.
    whisper_to: RwSignal<Option<Person>>,
) -> impl IntoView {
    let ChatMessage { seq, kind, author, recipient, body, created_at, .. } = message;
    match (kind, author) {
        (MessageKind::System, _) | (_, None) => view! {
            <li class="message system" id=format!("m{seq}") data-seq=seq>
                <span class="body">{body}</span>
                " · "
                <LocalTime millis=created_at />
            </li>
        }
        .into_any(),
        (kind, Some(author)) => {
            let is_mine = me == author.id;
            let style = author.hue.css_style();
            let author_id = author.id.clone();
            let content = if kind == MessageKind::Gif {
                view! { <Gif src=body alt=format!("GIF from {}", author.name) /> }.into_any()
            } else {
                view! { <p class="body">{body}</p> }.into_any()
            };
            let whisperer = author.clone();
            let whisper = recipient.map(|recipient| {
                if is_mine {
                    view! { <span class="whisper-label">{format!("whisper to {}", recipient.name)}</span> }.into_any()
                } else {
                    let label = format!("Reply privately to {}", whisperer.name);
                    view! {
                        <span class="whisper-label">"whispered to you"</span>
                        <button type="button" class="link-button reply-privately" aria-label=label
                            on:click=move |_| whisper_to.set(Some(whisperer.clone()))>
                            "Reply privately"
                        </button>
                    }
                    .into_any()
                }
            });
            view! {
                <li class="message" id=format!("m{seq}") class:mine=is_mine class:whisper=kind == MessageKind::Whisper
                    data-seq=seq style=style>
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

/// A GIF in the log. For people who asked their system for reduced motion it shows its still (the first frame,
/// made by the server when the GIF was uploaded), with a button that plays it; for everyone else it plays. The
/// picture is chosen by the browser from a media query, so this holds before the page is live too.
#[component]
fn Gif(src: String, alt: String) -> impl IntoView {
    let still = still_of(&src);
    let playing = RwSignal::new(false);
    // The button says what pressing it does: "Play" while the still shows, "Pause" while the GIF plays.
    let what = alt.clone();
    let label = move || format!("{} {what}", if playing.get() { "Pause" } else { "Play" });
    view! {
        <div class="gif-frame">
            <picture>
                // Without this source the browser picks the animated GIF again.
                <Show when=move || !playing.get()>
                    <source srcset=still.clone() media="(prefers-reduced-motion: reduce)" />
                </Show>
                <img class="gif" src=src alt=alt loading="lazy" />
            </picture>
            <button type="button" class="gif-play link-button" aria-label=label
                on:click=move |_| playing.update(|playing| *playing = !*playing)>
                {move || if playing.get() { "Pause" } else { "Play" }}
            </button>
        </div>
    }
}
