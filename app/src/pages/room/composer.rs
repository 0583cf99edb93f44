//! The message box: Enter sends, Shift+Enter starts a new line. What is sent goes through the room's outbox.

use leptos::html;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::actions::ReplyingTo;
use super::outbox::Outbox;
use crate::api::SendMessage;
use crate::browser;
use crate::components::CharactersLeft;
use crate::forms::landing_error;
use protocol::domain::MessageBody;
use protocol::error::AppError;
use protocol::model::{Person, PersonId, Quote, RoomId};

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
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
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
        let text = draft.get_untracked();
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
        // Shown at once as pending, and kept in the browser until the server has it (offline too).
        outbox.send(text, to, replying.get_untracked());
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
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
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
    let textarea = NodeRef::<html::Textarea>::new();
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
                prop:value=move || draft.get()
                on:input=move |event| {
                    let text = event_target_value(&event);
                    if !text.trim().is_empty() {
                        on_typing();
                    }
                    draft.set(text);
                }
                on:keydown=on_keydown
            ></textarea>
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

/// The client id a page's plain form sends (rendered on the server; the WASM sends its own per message).
fn plain_form_id() -> String {
    #[cfg(feature = "ssr")]
    return uuid::Uuid::new_v4().simple().to_string();
    #[cfg(not(feature = "ssr"))]
    String::new()
}
