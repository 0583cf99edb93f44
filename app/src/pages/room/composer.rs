//! The message box: Enter sends, Shift+Enter starts a new line; `@` offers the people here to mention. What is
//! sent goes through the room's outbox.

use leptos::html;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::actions::ReplyingTo;
use super::outbox::Outbox;
use crate::api::SendMessage;
use crate::browser;
use crate::components::{CharactersLeft, PersonBadge};
use crate::forms::landing_error;
use protocol::domain::MessageBody;
use protocol::error::AppError;
use protocol::mentions;
use protocol::model::{Participant, Person, PersonId, Quote, RoomId};

/// A mouse or trackpad (a desktop), not a touch screen alone.
const FINE_POINTER: &str = "(pointer: fine)";

/// The message box: Enter sends, Shift+Enter starts a new line. Without the WASM it is a plain form: the Send
/// button posts it, and the page comes back with the message (or the error).
#[component]
pub fn Composer(
    room_id: RoomId,
    whisper_to: RwSignal<Option<Person>>,
    /// Whether the whisper target (if any) is in the room now, as the list of who is here says.
    whisper_target_here: Memo<bool>,
    /// Where sent messages wait until the server has them (shown in the log as pending).
    outbox: Outbox,
    /// The message the next one answers, if any.
    replying: RwSignal<Option<Quote>>,
    /// Called as the person types (others are told, at most every 2 s).
    on_typing: impl Fn() + Copy + Send + Sync + 'static,
    /// Called as a message leaves the box (the view follows it to the bottom).
    on_send: impl Fn() + Copy + Send + Sync + 'static,
    /// Who is here (offered by `@`), and who the writer is (not offered).
    people: Memo<Vec<Participant>>,
    me: PersonId,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    // The mentions picked from the `@` list: what they wrote in the box ("@Rustic Gecko"), and who.
    let chosen = StoredValue::new(Vec::<(String, Person)>::new());
    let mentioning = RwSignal::new(None::<Mentioning>);
    let active = RwSignal::new(0_usize);
    let me = StoredValue::new(me);
    let offered = Memo::new(move |_| {
        let Some(query) = mentioning.with(|m| m.as_ref().map(|m| m.query.to_lowercase())) else { return Vec::new() };
        people.with(|people| {
            people
                .iter()
                .filter(|p| me.with_value(|me| p.person.id != *me))
                .filter(|p| {
                    let name = p.person.name.to_lowercase();
                    name.starts_with(&query) || name.split(' ').any(|word| word.starts_with(&query))
                })
                .take(MENTIONS_OFFERED)
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    // What is typed is kept in the browser, per room, until it is sent: a reload or a closed tab loses nothing.
    let draft_key = format!("gif-chat.draft.{room_id}");
    Effect::new(move |first_run: Option<()>| {
        let text = draft.get();
        if first_run.is_none() {
            if let Some(kept) = browser::stored(&draft_key).filter(|_| text.is_empty()) {
                draft.set(kept);
            }
        } else if text.is_empty() {
            browser::forget(&draft_key);
        } else {
            browser::store(&draft_key, &text);
        }
    });
    let error = RwSignal::new(landing_error::<SendMessage>().map(|error| error.to_string()));
    let send = move || {
        let typed = draft.get_untracked();
        // The mentions picked and still in the text go as their people.
        let (text, mentioned) = chosen.with_value(|chosen| {
            let kept: Vec<&(String, Person)> =
                chosen.iter().filter(|(shown, _)| typed.contains(shown.as_str())).collect();
            let pairs: Vec<(String, String)> =
                kept.iter().map(|(shown, person)| (shown.clone(), person.id.as_str().to_owned())).collect();
            let mut people: Vec<Person> = kept.into_iter().map(|(_, person)| person.clone()).collect();
            people.dedup_by(|a, b| a.id == b.id);
            (mentions::with_tokens(&typed, &pairs), people)
        });
        // The server's own rule, checked here first: nothing invalid leaves the browser.
        if let Err(problem) = MessageBody::parse(&text) {
            error.set(Some(problem.to_string()));
            return;
        }
        let to = whisper_to.get_untracked();
        // A whisper to someone who stepped out stays here, unsent (the server refuses it too, whatever this page
        // believes): it is never sent to everyone instead.
        if let Some(to) = &to
            && !whisper_target_here.get_untracked()
        {
            error.set(Some(AppError::whisper_not_sent(&to.name).to_string()));
            return;
        }
        error.set(None);
        draft.set(String::new());
        chosen.set_value(Vec::new());
        mentioning.set(None);
        // Shown at once as pending, and kept in the browser until the server has it (offline too).
        outbox.send(text, to, replying.get_untracked(), mentioned);
        replying.set(None);
        on_send();
    };
    // A refusal is said under the box. The text comes back into the box if the box is empty and would send it
    // the same way (public, or to the same person); otherwise it waits in the log, marked, for Retry or Discard.
    Effect::new(move |_| {
        let Some((refused, why)) = outbox.refused.get() else { return };
        error.set(Some(why.to_string()));
        let same_way = whisper_to.with_untracked(|to| to.as_ref().map(|p| &p.id) == refused.to.as_ref().map(|p| &p.id));
        if same_way && draft.with_untracked(String::is_empty) {
            outbox.discard(&refused.client_id);
            draft.set(refused.text);
        }
    });
    let textarea = NodeRef::<html::Textarea>::new();
    // Puts `person` in place of the `@…` being typed.
    let choose = move |person: Participant| {
        let Some(at) = mentioning.get_untracked() else { return };
        let shown = match &person.tag {
            Some(tag) => format!("@{}{tag}", person.person.name),
            None => format!("@{}", person.person.name),
        };
        let text = draft.get_untracked();
        let (before, after) = (&text[..at.start], &text[at.end.min(text.len())..]);
        let caret = before.len() + shown.len() + 1;
        let text = format!("{before}{shown} {after}");
        chosen.update_value(|chosen| chosen.push((shown, person.person)));
        mentioning.set(None);
        draft.set(text.clone());
        browser::set_caret(textarea, &text, caret);
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        let listed = offered.with_untracked(Vec::len);
        if listed > 0 && !event.is_composing() {
            let moved = match event.key().as_str() {
                "ArrowDown" => Some((active.get_untracked() + 1) % listed),
                "ArrowUp" => Some((active.get_untracked() + listed - 1) % listed),
                _ => None,
            };
            if let Some(moved) = moved {
                event.prevent_default();
                active.set(moved);
                return;
            }
            if event.key() == "Enter" || event.key() == "Tab" {
                event.prevent_default();
                if let Some(person) = offered.with_untracked(|offered| offered.get(active.get_untracked()).cloned()) {
                    choose(person);
                }
                return;
            }
            if event.key() == "Escape" {
                event.prevent_default();
                mentioning.set(None);
                return;
            }
        }
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send();
        } else if event.key() == "Escape" && replying.with_untracked(Option::is_some) {
            // Escape cancels a reply first, then a whisper.
            event.prevent_default();
            replying.set(None);
        } else if event.key() == "Escape" && whisper_to.with_untracked(Option::is_some) {
            // Escape leaves whisper mode (a visible change: the box and its label turn public again).
            event.prevent_default();
            whisper_to.set(None);
        }
    };
    // Choosing someone to whisper to (in the panel, or "Reply privately"), or a message to reply to, puts the
    // cursor in the box.
    Effect::new(move |previous: Option<Option<i64>>| {
        let answered = replying.with(|quote| quote.as_ref().map(|quote| quote.seq));
        if previous.is_some_and(|previous| previous != answered)
            && answered.is_some()
            && let Some(textarea) = textarea.get_untracked()
        {
            let _ = textarea.focus();
        }
        answered
    });
    Effect::new(move |previous: Option<Option<PersonId>>| {
        let target = whisper_to.with(|to| to.as_ref().map(|person| person.id.clone()));
        if previous.is_some_and(|previous| previous != target)
            && target.is_some()
            && let Some(textarea) = textarea.get_untracked()
        {
            let _ = textarea.focus();
        }
        target
    });
    // Entering the room puts the cursor in the box, where a keyboard's typing goes first; not on a touch screen,
    // where focus would open the on-screen keyboard over the conversation.
    // (On the next frame: a page the router brings is built before it is put in the document.)
    Effect::new(move |_| {
        if let Some(textarea) = textarea.get()
            && browser::media_matches(FINE_POINTER)
        {
            request_animation_frame(move || drop(textarea.focus()));
        }
    });
    let target_name = move || whisper_to.read().as_ref().map(|p| p.name.clone()).unwrap_or_default();
    view! {
        <form class="composer" method="post" action=SendMessage::url() on:submit=move |event| { event.prevent_default(); send(); }>
            <input type="hidden" name="room" value=room_id.get() />
            // Without the WASM, the form itself is the send: one id per page, so posting it again (a reload that
            // resends, a double click) finds the first message instead of making a second.
            <input type="hidden" name="client_id" value=plain_form_id() />
            // Announced when it appears, changes or ends: whisper mode is never entered or left unseen.
            <div class="whisper-status" aria-live="polite">
                <Show when=move || whisper_to.read().is_some()>
                    <p class="whisper-target">
                        {move || format!("Whispering to {}", target_name())}
                        <Show when=move || !whisper_target_here.get()>
                            <span class="whisper-away">{move || format!(" ({} is not here now)", target_name())}</span>
                        </Show>
                        " "
                        <button type="button" class="link-button" on:click=move |_| whisper_to.set(None)>"Cancel whisper"</button>
                    </p>
                </Show>
            </div>
            <div class="reply-status" aria-live="polite"><ReplyingTo /></div>
            <label for="message" class="visually-hidden">"Message"</label>
            <textarea
                node_ref=textarea
                id="message"
                name="body"
                rows="2"
                class:whispering=move || whisper_to.read().is_some()
                maxlength=MessageBody::MAX_CHARS
                placeholder=move || match whisper_to.read().as_ref() {
                    Some(to) => format!("Whisper to {}…", to.name),
                    None => "Write a message…".to_owned(),
                }
                aria-describedby="composer-hint message-left"
                aria-autocomplete="list"
                aria-controls="mention-list"
                aria-activedescendant=move || (!offered.read().is_empty()).then(|| format!("mention-{}", active.get()))
                prop:value=move || draft.get()
                on:input=move |event| {
                    let text = event_target_value(&event);
                    if !text.trim().is_empty() {
                        on_typing();
                    }
                    let now = browser::caret(textarea).and_then(|caret| mentioning_at(&text, caret));
                    if now.as_ref().map(|m| &m.query) != mentioning.with_untracked(|m| m.as_ref().map(|m| m.query.clone())).as_ref() {
                        active.set(0);
                    }
                    mentioning.set(now);
                    draft.set(text);
                }
                on:keydown=on_keydown
                on:blur=move |_| mentioning.set(None)
            ></textarea>
            <ul id="mention-list" class="mention-list" role="listbox" aria-label="People to mention"
                hidden=move || offered.read().is_empty()>
                {move || offered.get().into_iter().enumerate().map(|(n, person)| {
                    let picked = person.clone();
                    view! {
                        <li id=format!("mention-{n}") role="option" aria-selected=move || (active.get() == n).to_string()
                            // Pressed, not clicked: the box keeps the focus (and the list stays until chosen).
                            on:mousedown=move |event| { event.prevent_default(); choose(picked.clone()); }>
                            <PersonBadge person=person.person tag=Signal::stored(person.tag) />
                        </li>
                    }
                }).collect_view()}
            </ul>
            <button type="submit" class="button">"Send"</button>
            <p id="composer-hint" class="hint composer-hint">"Enter sends, Shift+Enter starts a new line."
                <Show when=move || whisper_to.read().is_some()>" Escape ends the whisper."</Show>
            </p>
            <CharactersLeft typed=Signal::derive(move || draft.with(|draft| draft.chars().count()))
                max=MessageBody::MAX_CHARS id="message-left" />
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}

/// How many people the `@` list offers at once.
const MENTIONS_OFFERED: usize = 8;

/// A mention being typed: `@` at byte `start` of the box's text, the cursor at `end`, and what was typed between.
#[derive(Debug, Clone, PartialEq)]
struct Mentioning {
    start: usize,
    end: usize,
    query: String,
}

/// The mention being typed where the cursor is (`caret`, a byte offset of `text`): an `@` at the start or after a
/// space, then at most two words of a name.
fn mentioning_at(text: &str, caret: usize) -> Option<Mentioning> {
    let before = text.get(..caret)?;
    let start = before.rfind('@')?;
    let query = &before[start + 1..];
    let starts_a_word = before[..start].chars().next_back().is_none_or(char::is_whitespace);
    let short = query.chars().count() <= 30 && query.matches(' ').count() <= 1 && !query.contains('\n');
    (starts_a_word && short && !query.starts_with(' ')).then(|| Mentioning {
        start,
        end: caret,
        query: query.to_owned(),
    })
}

/// The client id a page's plain form sends (rendered on the server; the WASM sends its own per message).
fn plain_form_id() -> String {
    #[cfg(feature = "ssr")]
    return uuid::Uuid::new_v4().simple().to_string();
    #[cfg(not(feature = "ssr"))]
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_is_typed_after_an_at_sign_that_starts_a_word() {
        let at = |text: &str| mentioning_at(text, text.len()).map(|m| (m.start, m.query));
        assert_eq!(at("hi @Ru"), Some((3, "Ru".to_owned())));
        assert_eq!(at("@"), Some((0, String::new())));
        assert_eq!(at("hi @Rustic Ge"), Some((3, "Rustic Ge".to_owned())), "a name of two words");
        assert_eq!(at("hi @Rustic Gecko and"), None, "a third word: not a name any more");
        assert_eq!(at("mail me@example"), None, "not at the start of a word");
        assert_eq!(at("hi @ there"), None);
        assert_eq!(at("no at sign"), None);
        assert_eq!(mentioning_at("hi @Ru and more", 6).map(|m| (m.start, m.end)), Some((3, 6)), "where the cursor is");
    }
}
