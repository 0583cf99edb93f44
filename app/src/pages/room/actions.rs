//! What a person does with a message besides reacting: reply to it, edit their own text, delete their own message
//! (or, as the room's owner, anyone's), and the quote a reply shows.

use leptos::html;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::{DeleteMessage, delete_message, edit_message};
use crate::browser;
use crate::components::hydrated;
use protocol::domain::MessageBody;
use protocol::model::{ChatMessage, MessageKind, Person, PersonId, Quote, RoomId, still_of};

/// What a message's controls need from the room page.
#[derive(Clone, Copy)]
pub struct Conversation {
    pub room: RoomId,
    /// The log, which the server's answers update.
    pub messages: RwSignal<Vec<ChatMessage>>,
    pub me: StoredValue<PersonId>,
    pub i_am_owner: Memo<bool>,
    /// The message the composer's next message answers.
    pub replying: RwSignal<Option<Quote>>,
    /// The message whose text is being changed, if any (one at a time).
    pub editing: RwSignal<Option<i64>>,
    /// The composer's whisper target (a reply to a whisper is whispered back).
    pub whisper_to: RwSignal<Option<Person>>,
    /// Brings message `seq` into view, loading earlier pages of the log until it is there.
    pub jump_to: Callback<i64>,
    /// How long after sending a message its author may change its text.
    pub edit_window_millis: i64,
}

impl Conversation {
    /// The message `seq` as the log has it.
    pub fn message(self, seq: i64) -> Option<ChatMessage> {
        self.messages.with(|list| list.binary_search_by_key(&seq, |m| m.seq).ok().map(|at| list[at].clone()))
    }

    /// Takes in the server's answer to one of the reader's own changes: the message as it stands, made for them.
    pub fn answered(self, message: ChatMessage) {
        self.messages.update(|list| {
            if let Ok(at) = list.binary_search_by_key(&message.seq, |m| m.seq) {
                list[at] = message;
            }
        });
    }

    /// Makes the composer's next message a reply to `message` (a whisper is answered by whispering back).
    fn reply_to(self, message: &ChatMessage) {
        if message.kind == MessageKind::Whisper {
            self.whisper_to.set(self.me.with_value(|me| message.whispered_with(me).cloned()));
        }
        self.replying.set(Some(Quote::of(message)));
    }
}

/// The controls of a message that is not deleted: "Reply", and on one's own "Edit" (text, while it may still be
/// changed) and "Delete"; the owner's "Remove message" on others'. Deleting asks first. Without the WASM, "Delete"
/// and "Remove message" are plain forms.
#[component]
pub fn MessageActions(message: ChatMessage) -> impl IntoView {
    let talk = expect_context::<Conversation>();
    let seq = message.seq;
    let mine = message.author.as_ref().is_some_and(|author| talk.me.with_value(|me| author.id == *me));
    // Editing needs the WASM: offered once the page is live (which also keeps the server's render, made at another
    // moment, from disagreeing with the browser's about the window).
    let live = hydrated();
    let editable = message.editable_by(&talk.me.get_value(), browser::now_millis(), talk.edit_window_millis);
    let removable = !mine && message.kind != MessageKind::System;
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Asking first puts the keyboard on the answer.
    let confirm_button = NodeRef::<html::Button>::new();
    Effect::new(move |_| {
        if confirming.get()
            && let Some(button) = confirm_button.get()
        {
            let _ = button.focus();
        }
    });
    let delete = move || {
        leptos::task::spawn_local(async move {
            match delete_message(talk.room, seq).await {
                Ok(message) => talk.answered(message),
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    let answered = StoredValue::new(message);
    let reply = move |_| {
        answered.with_value(|message| talk.reply_to(message));
    };
    let (ask, confirm) =
        if mine { ("Delete", "Delete for everyone") } else { ("Remove message", "Remove for everyone") };
    let may_delete = move || mine || (removable && talk.i_am_owner.get());
    view! {
        <span class="message-actions">
            <button type="button" class="link-button" on:click=reply>"Reply"</button>
            <Show when=move || editable && live.get()>
                <button type="button" class="link-button" on:click=move |_| talk.editing.set(Some(seq))>"Edit"</button>
            </Show>
            <Show when=may_delete>
                <form class="inline-form" method="post" action=DeleteMessage::url()
                    on:submit=move |event| { event.prevent_default(); confirming.set(true); }>
                    <input type="hidden" name="room" value=talk.room.get() />
                    <input type="hidden" name="seq" value=seq />
                    <Show when=move || !confirming.get()
                        fallback=move || view! {
                            <span class="confirm-delete" role="group" aria-label="Delete this message?"
                                on:keydown=move |event: leptos::ev::KeyboardEvent| if event.key() == "Escape" { confirming.set(false) }>
                                <button type="button" class="link-button danger" node_ref=confirm_button
                                    on:click=move |_| { confirming.set(false); delete(); }>{confirm}</button>
                                <button type="button" class="link-button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                            </span>
                        }>
                        <button type="submit" class="link-button">{ask}</button>
                    </Show>
                </form>
            </Show>
            <Show when=move || error.get().is_some()>
                <span class="error" role="alert">{move || error.get()}</span>
            </Show>
        </span>
    }
}

/// The box that changes the text of message `seq` in place: Enter (or Save) saves, Escape (or Cancel) leaves it.
#[component]
pub fn EditBox(seq: i64, text: String, mentions: Vec<Person>) -> impl IntoView {
    let talk = expect_context::<Conversation>();
    // Mentions are edited as the names they show ("@Rustic Gecko") and stored again as their people.
    let draft = RwSignal::new(protocol::mentions::with_names(&text, &mentions));
    let chosen: Vec<(String, String)> =
        mentions.iter().map(|person| (format!("@{}", person.name), person.id.as_str().to_owned())).collect();
    let chosen = StoredValue::new(chosen);
    let error = RwSignal::new(None::<String>);
    let textarea = NodeRef::<html::Textarea>::new();
    Effect::new(move |_| {
        if let Some(textarea) = textarea.get() {
            let _ = textarea.focus();
        }
    });
    let save = move || {
        let text = chosen.with_value(|chosen| protocol::mentions::with_tokens(&draft.get_untracked(), chosen));
        if let Err(problem) = MessageBody::parse(&text) {
            error.set(Some(problem.to_string()));
            return;
        }
        leptos::task::spawn_local(async move {
            match edit_message(talk.room, seq, text).await {
                Ok(message) => {
                    talk.answered(message);
                    talk.editing.set(None);
                }
                Err(failure) => error.set(Some(failure.to_string())),
            }
        });
    };
    let on_keydown = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            save();
        } else if event.key() == "Escape" {
            event.prevent_default();
            talk.editing.set(None);
        }
    };
    let id = format!("edit-{seq}");
    view! {
        <form class="edit-box" on:submit=move |event| { event.prevent_default(); save(); }>
            <label for=id.clone() class="visually-hidden">"Edit message"</label>
            <textarea node_ref=textarea id=id rows="2" maxlength=MessageBody::MAX_CHARS
                prop:value=move || draft.get() on:input=move |event| draft.set(event_target_value(&event))
                on:keydown=on_keydown></textarea>
            <span class="edit-actions">
                <button type="submit" class="link-button">"Save"</button>
                <button type="button" class="link-button" on:click=move |_| talk.editing.set(None)>"Cancel"</button>
                <span class="hint">"Enter saves, Escape cancels."</span>
            </span>
            <Show when=move || error.get().is_some()>
                <p class="error" role="alert">{move || error.get()}</p>
            </Show>
        </form>
    }
}

/// The message a reply answers, linking to it: its author and the start of its text (a GIF's still), or "Message
/// deleted". Without the WASM the link opens the page of the log that holds it.
#[component]
pub fn QuoteLink(quote: Quote) -> impl IntoView {
    let talk = expect_context::<Conversation>();
    let Quote { seq, kind, author, excerpt, deleted } = quote;
    let name = author.as_ref().map_or_else(|| "gif-chat".to_owned(), |author| author.name.clone());
    let style = author.as_ref().map(|author| author.hue.css_style());
    let what = if deleted {
        view! { <span class="quote-text tombstone">"Message deleted"</span> }.into_any()
    } else if kind == MessageKind::Gif {
        view! { <img class="quote-still" src=still_of(&excerpt) alt=format!("GIF from {name}") /> }.into_any()
    } else {
        view! { <span class="quote-text">{excerpt}</span> }.into_any()
    };
    let jump = move |event: leptos::ev::MouseEvent| {
        if event.button() != 0 || event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key() {
            return;
        }
        event.prevent_default();
        talk.jump_to.run(seq);
    };
    view! {
        <a class="quote" href=format!("/room/{}?before={}#m{seq}", talk.room, seq + 1) on:click=jump style=style>
            <span class="visually-hidden">"In reply to "</span>
            <span class="quote-author">{name}</span>
            {what}
        </a>
    }
}

/// Above the composer while the next message is a reply: "Replying to ‹name›", the quote, "Cancel reply".
#[component]
pub fn ReplyingTo() -> impl IntoView {
    let talk = expect_context::<Conversation>();
    move || {
        talk.replying.get().map(|quote| {
            let name = quote.author.as_ref().map_or_else(|| "gif-chat".to_owned(), |author| author.name.clone());
            let excerpt = match (quote.deleted, quote.kind) {
                (true, _) => "Message deleted".to_owned(),
                (false, MessageKind::Gif) => "GIF".to_owned(),
                (false, _) => quote.excerpt.clone(),
            };
            view! {
                <p class="replying-to">
                    <span>{format!("Replying to {name}")}</span>
                    <q class="replying-excerpt">{excerpt}</q>
                    <button type="button" class="link-button" on:click=move |_| talk.replying.set(None)>"Cancel reply"</button>
                </p>
            }
        })
    }
}
