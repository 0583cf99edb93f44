//! The message box: Enter sends, Shift+Enter starts a new line. Sends are retried with the same message id.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::{SendMessage, send_message};
use crate::browser;
use crate::domain::MessageBody;
use crate::error::AppError;
use crate::forms::landing_error;
use crate::model::{ChatMessage, Person, RoomId};

/// How often a send that did not get through is retried (after 1, 2 and 4 s).
const SEND_RETRIES: u32 = 3;

/// The message box: Enter sends, Shift+Enter starts a new line. Without the WASM it is a plain form: the Send
/// button posts it, and the page comes back with the message (or the error).
#[component]
pub fn Composer(
    room_id: RoomId,
    whisper_to: RwSignal<Option<Person>>,
    on_sent: impl Fn(ChatMessage) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(landing_error::<SendMessage>().map(|error| error.to_string()));
    let sending = RwSignal::new(false);
    let send = move || {
        let text = draft.get_untracked();
        // The server's own rule, checked here first: nothing invalid leaves the browser.
        if let Err(problem) = MessageBody::parse(&text) {
            error.set(Some(problem.to_string()));
            return;
        }
        error.set(None);
        sending.set(true);
        draft.set(String::new());
        let to = whisper_to.get_untracked().map(|person| person.id.to_string());
        // One id for the message, reused by every retry: the server stores it once, however often it arrives.
        let client_id = browser::random_uuid();
        leptos::task::spawn_local(async move {
            let mut attempt = 0;
            let result = loop {
                let result = send_message(room_id, text.clone(), to.clone(), client_id.clone()).await;
                match result {
                    // The request did not get through (or its answer did not come back): try again, a few times.
                    Err(AppError::Unreachable(_)) if attempt < SEND_RETRIES => {
                        attempt += 1;
                        browser::sleep_ms(500 << attempt).await;
                    }
                    other => break other,
                }
            };
            match result {
                Ok(message) => on_sent(message),
                Err(failure) => {
                    error.set(Some(failure.to_string()));
                    // Give the text back, unless the reader has started a new one.
                    draft.update(|d| {
                        if d.is_empty() {
                            *d = text;
                        }
                    });
                }
            }
            sending.set(false);
        });
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send();
        }
    };
    view! {
        <form class="composer" method="post" action=SendMessage::url() on:submit=move |event| { event.prevent_default(); send(); }>
            <input type="hidden" name="room" value=room_id.get() />
            <Show when=move || whisper_to.read().is_some()>
                <p class="whisper-target">
                    {move || format!("Whispering to {}", whisper_to.read().as_ref().map(|p| p.name.clone()).unwrap_or_default())}
                    " "
                    <button type="button" class="link-button" on:click=move |_| whisper_to.set(None)>"Cancel whisper"</button>
                </p>
            </Show>
            <label for="message" class="visually-hidden">"Message"</label>
            <textarea
                id="message"
                name="body"
                rows="2"
                maxlength=MessageBody::MAX_CHARS
                placeholder="Write a message…"
                aria-describedby="composer-hint"
                prop:value=move || draft.get()
                on:input=move |event| draft.set(event_target_value(&event))
                on:keydown=on_keydown
            ></textarea>
            <button type="submit" class="button" disabled=move || sending.get()>"Send"</button>
            <p id="composer-hint" class="hint composer-hint">"Enter sends, Shift+Enter starts a new line."</p>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}
