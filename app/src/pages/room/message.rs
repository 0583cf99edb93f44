//! One message of the chat log.

use leptos::prelude::*;

use super::actions::{Conversation, EditBox, MessageActions, QuoteLink};
use super::outbox::{Outbox, Pending};
use super::reactions::ReactionBar;
use crate::components::{DayLabel, LocalTime, PersonBadge};
use protocol::mentions;
use protocol::model::{ChatMessage, MessageKind, Person, PersonId, still_of};

/// `new_day`: the message is the first of its day, after a separator saying which. `grouped`: it continues its
/// author's group (their name and time show once, on the group's first message; a screen reader still hears them).
#[component]
pub fn MessageItem(
    message: ChatMessage,
    new_day: bool,
    grouped: bool,
    /// For a system line, the system lines right before it, shown with it as one line.
    earlier_updates: Vec<String>,
    me: PersonId,
    tag_of: impl Fn(&PersonId) -> Option<String> + Copy + Send + Sync + 'static,
    /// The composer's whisper target: a whisper received offers to answer it privately.
    whisper_to: RwSignal<Option<Person>>,
) -> impl IntoView {
    let whole = message.clone();
    let ChatMessage {
        seq,
        kind,
        author,
        recipient,
        body,
        created_at,
        reply_to,
        edited_at,
        deleted,
        video,
        mentions,
        ..
    } = message;
    let separator = new_day.then(|| view! { <li class="day-separator"><DayLabel millis=created_at /></li> });
    let item = match (kind, author) {
        (MessageKind::System, _) | (_, None) => view! {
            <li class="message system" id=format!("m{seq}") data-seq=seq>
                <span class="body">{updates_line(earlier_updates, body)}</span>
                " · "
                <LocalTime millis=created_at />
                <ReactionBar seq />
            </li>
        }
        .into_any(),
        (kind, Some(author)) => {
            let is_mine = me == author.id;
            let style = author.hue.css_style();
            let author_id = author.id.clone();
            let talk = expect_context::<Conversation>();
            let content = match deleted {
                // A tombstone: what it was is gone, who took it back is said.
                Some(deleted) => view! { <p class="body tombstone">{deleted.notice()}</p> }.into_any(),
                None if kind == MessageKind::Gif => {
                    view! { <Gif src=body video alt=format!("GIF from {}", author.name) /> }.into_any()
                }
                None => {
                    let text = StoredValue::new(body);
                    let (mentioned, me) = (StoredValue::new(mentions), me.clone());
                    (move || match talk.editing.get() == Some(seq) {
                        true => {
                            view! { <EditBox seq text=text.get_value() mentions=mentioned.get_value() /> }.into_any()
                        }
                        false => view! {
                            <p class="body">
                                {text.with_value(|text| mentioned.with_value(|people| linked(text, people, Some(&me))))}
                                {edited_at.map(|_| view! { " " <span class="edited">"(edited)"</span> })}
                            </p>
                        }
                        .into_any(),
                    })
                    .into_any()
                }
            };
            let quote = reply_to.map(|quote| view! { <QuoteLink quote=*quote /> });
            let foot = deleted.is_none().then(|| {
                view! {
                    <div class="message-foot">
                        <ReactionBar seq />
                        <MessageActions message=whole />
                    </div>
                }
            });
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
                    class:grouped=grouped data-seq=seq style=style>
                    <div class="meta">
                        <PersonBadge person=author is_me=is_mine tag=Signal::derive(move || tag_of(&author_id)) />
                        {whisper}
                        <LocalTime millis=created_at />
                    </div>
                    {quote}
                    {content}
                    {foot}
                </li>
            }
            .into_any()
        }
    };
    view! { {separator} {item} }
}

/// A message of one's own on its way: "Sending…" until the server has it (offline, until the connection is back);
/// if the server refused it, why, with Retry and Discard.
#[component]
pub fn PendingItem(pending: Pending, outbox: Outbox) -> impl IntoView {
    let Pending { client_id, text, to, refused, delayed, mentions, .. } = pending;
    let whisper =
        to.as_ref().map(|to| view! { <span class="whisper-label">{format!("whisper to {}", to.name)}</span> });
    let excerpt: String = text.chars().take(40).collect();
    let (retry_id, discard_id) = (client_id.clone(), client_id);
    let state = match refused {
        None => view! {
            <span class="pending-state">
                {match delayed {
                    Some(why) => format!("Not sent yet: {why}"),
                    None => "Sending…".to_owned(),
                }}
            </span>
        }
        .into_any(),
        Some(why) => view! {
            <span class="pending-state refused">{format!("Not sent: {why}")}</span>
            <span class="pending-actions">
                <button type="button" class="link-button" aria-label=format!("Retry sending “{excerpt}”")
                    on:click=move |_| outbox.retry(&retry_id)>"Retry"</button>
                <button type="button" class="link-button" aria-label=format!("Discard “{excerpt}”")
                    on:click=move |_| outbox.discard(&discard_id)>"Discard"</button>
            </span>
        }
        .into_any(),
    };
    view! {
        <li class="message mine pending" class:whisper=to.is_some()>
            <div class="meta">{whisper}{state}</div>
            <p class="body">{linked(&text, &mentions, None)}</p>
        </li>
    }
}

/// How many of a run of system lines one line shows (the latest); the rest are counted.
const UPDATES_SHOWN: usize = 5;

/// System lines in a row as one: "Ann joined · Bob left", the latest last; a long run says how many came before.
fn updates_line(mut earlier: Vec<String>, latest: String) -> String {
    earlier.push(latest);
    let hidden = earlier.len().saturating_sub(UPDATES_SHOWN);
    let line = earlier[hidden..].join(" · ");
    match hidden {
        0 => line,
        n => format!("({n} earlier) {line}"),
    }
}

/// A piece of a message's text: as it was written, or a web address.
#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    Link(&'t str),
}

/// Splits `text` into its web addresses and the text around them. Only `http://` and `https://` addresses
/// become links: never `javascript:`, `data:` or any other scheme, and nothing without a scheme.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    let mut pieces = Vec::new();
    let mut rest_from = 0;
    for link in finder.links(text).filter(|link| is_web_address(link.as_str())) {
        if link.start() > rest_from {
            pieces.push(Piece::Text(&text[rest_from..link.start()]));
        }
        pieces.push(Piece::Link(link.as_str()));
        rest_from = link.end();
    }
    if rest_from < text.len() {
        pieces.push(Piece::Text(&text[rest_from..]));
    }
    pieces
}

fn is_web_address(address: &str) -> bool {
    let scheme = address.split_once("://").map_or("", |(scheme, _)| scheme);
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

/// A message's text with its web addresses as links, opened in a new tab, telling the site neither where the
/// reader came from nor that the chat vouches for it, and its mentions of `people` as their names in their color
/// (highlighted where the reader is the one mentioned). The text itself is text (escaped like any other).
fn linked(text: &str, people: &[Person], me: Option<&PersonId>) -> impl IntoView + use<> {
    mentions::pieces(text)
        .into_iter()
        .flat_map(|piece| match piece {
            mentions::Piece::Mention(id) => match people.iter().find(|person| person.id.as_str() == id) {
                Some(person) => vec![mention(person, me == Some(&person.id))],
                None => vec![mentions::token(id).into_any()],
            },
            mentions::Piece::Text(text) => pieces(text)
                .into_iter()
                .map(|piece| match piece {
                    Piece::Text(text) => text.to_owned().into_any(),
                    Piece::Link(address) => view! {
                        <a href=address.to_owned() target="_blank" rel="noopener noreferrer nofollow ugc">{address.to_owned()}</a>
                    }
                    .into_any(),
                })
                .collect(),
        })
        .collect_view()
}

/// A mention of `person`, "@name" in their color; marked for the reader when it is them.
fn mention(person: &Person, is_me: bool) -> AnyView {
    let name = format!("@{}", person.name);
    view! {
        <span class="mention" class:mention-me=is_me style=person.hue.css_style()>
            {name}
            {is_me.then(|| view! { <span class="visually-hidden">" (you)"</span> })}
        </span>
    }
    .into_any()
}

/// A GIF in the log: played as its looping video once the server made one (a fraction of the GIF's bytes), else
/// as the GIF. For people who asked their system for reduced motion it shows its still (the first frame, made by
/// the server when the GIF was uploaded), with a button that plays it; for everyone else it plays. What shows is
/// chosen by the browser from a media query, so this holds before the page is live too.
#[component]
fn Gif(src: String, video: Option<String>, alt: String) -> impl IntoView {
    let still = still_of(&src);
    let playing = RwSignal::new(false);
    // The button says what pressing it does: "Play" while the still shows, "Pause" while the GIF plays.
    let what = alt.clone();
    let label = move || format!("{} {what}", if playing.get() { "Pause" } else { "Play" });
    let shown = match video {
        Some(video) => view! { <GifVideo video gif=src still alt playing /> }.into_any(),
        None => view! { <GifPicture gif=src still alt playing /> }.into_any(),
    };
    view! {
        <div class="gif-frame">
            {shown}
            <button type="button" class="gif-play link-button" aria-label=label
                on:click=move |_| playing.update(|playing| *playing = !*playing)>
                {move || if playing.get() { "Pause" } else { "Play" }}
            </button>
        </div>
    }
}

/// Where motion is welcome: the only place a GIF plays before its Play button is pressed.
const MOTION_WELCOME: &str = "(prefers-reduced-motion: no-preference)";

/// The GIF itself, or its still while it is not `playing` where reduced motion was asked for.
#[component]
fn GifPicture(gif: String, still: String, alt: String, playing: RwSignal<bool>) -> impl IntoView {
    view! {
        <picture>
            // Without this source the browser picks the animated GIF again.
            <Show when=move || !playing.get()>
                <source srcset=still.clone() media="(prefers-reduced-motion: reduce)" />
            </Show>
            <img class="gif" src=gif alt=alt loading="lazy" />
        </picture>
    }
}

/// The GIF's video, looping and muted like a GIF; its still shows until it plays, and stays where reduced motion
/// was asked for, until Play is pressed. The GIF is the fallback: of a browser without video, and of a video that
/// does not load.
#[component]
fn GifVideo(video: String, gif: String, still: String, alt: String, playing: RwSignal<bool>) -> impl IntoView {
    let failed = RwSignal::new(false);
    let reduced_motion = RwSignal::new(false);
    crate::browser::on_media_change("(prefers-reduced-motion: reduce)", move |reduced| {
        if reduced != reduced_motion.get_untracked() {
            reduced_motion.set(reduced);
        }
    });
    let node = NodeRef::<leptos::html::Video>::new();
    // A browser picks a video's source when it loads it: when Play is pressed (its source then plays whatever the
    // preference) or the preference changes, it picks again.
    Effect::new(move |ran: Option<()>| {
        playing.track();
        reduced_motion.track();
        if ran.is_some() {
            crate::browser::reload_video(node);
        }
    });
    let media = move || if playing.get() { "all" } else { MOTION_WELCOME };
    // A source whose media query does not match fails too: only one that should have played counts.
    let on_error = move |_| {
        if playing.get_untracked() || !reduced_motion.get_untracked() {
            failed.set(true);
        }
    };
    let (gif, still, alt) = (StoredValue::new(gif), StoredValue::new(still), StoredValue::new(alt));
    move || match failed.get() {
        true => {
            view! { <GifPicture gif=gif.get_value() still=still.get_value() alt=alt.get_value() playing /> }.into_any()
        }
        false => view! {
            // `muted` as an attribute is only a default for a video made by a script: the property mutes it (and
            // a muted video may play by itself).
            <video class="gif" node_ref=node autoplay loop muted prop:muted=true playsinline disablepictureinpicture
                poster=still.get_value() aria-label=alt.get_value()>
                <source src=video.clone() type="video/mp4" media=media on:error=on_error />
                <img class="gif" src=gif.get_value() alt=alt.get_value() loading="lazy" />
            </video>
        }
        .into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::Piece::{Link, Text};
    use super::{pieces, updates_line};

    #[test]
    fn updates_in_a_row_read_as_one_line_the_latest_last() {
        assert_eq!(updates_line(vec![], "Ann joined".into()), "Ann joined");
        assert_eq!(updates_line(vec!["Ann joined".into()], "Bob left".into()), "Ann joined · Bob left");
        let earlier = (1..=6).map(|n| format!("P{n} joined")).collect();
        assert_eq!(
            updates_line(earlier, "Ann left".into()),
            "(2 earlier) P3 joined · P4 joined · P5 joined · P6 joined · Ann left"
        );
    }

    #[test]
    fn web_addresses_are_found_and_the_text_around_them_kept() {
        assert_eq!(
            pieces("see https://example.com/a?b=c. ok"),
            [Text("see "), Link("https://example.com/a?b=c"), Text(". ok")]
        );
        assert_eq!(pieces("(HTTP://Example.com/x)"), [Text("("), Link("HTTP://Example.com/x"), Text(")")]);
        assert_eq!(
            pieces("https://a.example https://b.example"),
            [Link("https://a.example"), Text(" "), Link("https://b.example")]
        );
        assert_eq!(pieces("just words"), [Text("just words")]);
        assert_eq!(pieces(""), []);
    }

    #[test]
    fn nothing_but_http_and_https_becomes_a_link() {
        for text in [
            "javascript:alert(1)",
            "javascript://%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://files.example/x",
            "example.com",
            "mailto:someone@example.com",
        ] {
            assert_eq!(pieces(text), [Text(text)], "{text}");
        }
        // Markup around an address is not part of it (and stays text, escaped like any other).
        assert_eq!(pieces("<b>https://e.example</b>"), [Text("<b>"), Link("https://e.example"), Text("</b>")]);
    }
}
