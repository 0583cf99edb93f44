//! GIF uploads: pick, drop anywhere on the room page, or paste; progress (name, percent, Cancel) and refusals.

use leptos::prelude::*;

use super::picker::GifPicker;
use crate::browser;
use protocol::model::{MAX_LIBRARY_WORDS, RoomId};

/// An upload under way: the file's name and how much of it went out (0.0–1.0).
#[derive(Clone, PartialEq)]
struct Sending {
    name: String,
    fraction: f64,
}

/// Wraps the chat: a GIF can be picked, dropped anywhere on the page (the browser never opens it instead), or
/// pasted. Shows the upload's name and progress with a Cancel button, and refusals. In a room without a password
/// (`locked` false), an upload can be shared to the library, with words to find it by. Beside it, the picker.
#[component]
pub fn Uploader(room_id: RoomId, locked: bool, children: Children) -> impl IntoView {
    let share = RwSignal::new(false);
    let words = RwSignal::new(String::new());
    let sending = RwSignal::new(None::<Sending>);
    let error = RwSignal::new(None::<String>);
    let status = RwSignal::new(String::new());
    let dragging = RwSignal::new(false);
    let upload = StoredValue::new(None::<browser::Upload>);
    // Set by Cancel: the aborted request's end is then no failure to report.
    let cancelled = StoredValue::new(false);

    let start = move |file: browser::PickedFile| {
        if sending.with_untracked(Option::is_some) {
            return;
        }
        let name = browser::file_name(&file);
        error.set(None);
        cancelled.set_value(false);
        status.set(format!("Uploading {name}…"));
        sending.set(Some(Sending { name: name.clone(), fraction: 0.0 }));
        let shared = (share.get_untracked() && !locked).then(|| words.get_untracked());
        let started = browser::upload_gif(
            room_id,
            file,
            shared,
            move |fraction| sending.update(|s| s.iter_mut().for_each(|s| s.fraction = fraction)),
            move |result| {
                sending.set(None);
                upload.set_value(None);
                match result {
                    _ if cancelled.get_value() => status.set(format!("Upload of {name} cancelled.")),
                    // Success needs nothing more: the message arrives over the live channel like everyone else's.
                    Ok(_) => {
                        status.set(format!("{name} sent."));
                        // Shared once: the next GIF is the person's own again unless they say otherwise.
                        share.set(false);
                        words.set(String::new());
                    }
                    Err(failure) => {
                        status.set(String::new());
                        error.set(Some(failure.to_string()));
                    }
                }
            },
        );
        upload.set_value(started);
    };
    let cancel = move |_| {
        cancelled.set_value(true);
        upload.with_value(|upload| upload.iter().for_each(browser::Upload::cancel));
    };
    let on_pick = move |event: leptos::ev::Event| {
        if let Some(file) = browser::picked_file(&event) {
            start(file);
        }
    };
    browser::on_file_drop(move |over| dragging.set(over), start);
    let on_paste = move |event: leptos::ev::ClipboardEvent| {
        if let Some(file) = browser::pasted_file(&event) {
            start(file);
        }
    };
    let name = move || sending.with(|s| s.as_ref().map(|s| s.name.clone()).unwrap_or_default());
    let percent = move || sending.with(|s| percent(s.as_ref().map(|s| s.fraction)));

    view! {
        <section class="chat" class:dragging=move || dragging.get() aria-label="Chat" on:paste=on_paste>
            {children()}
            <div class="uploader">
                // The input is what the keyboard reaches (Tab, then Space or Enter opens the file picker); the label
                // beside it is what people see, and shows the input's focus (style/main.css).
                <input id="gif-input" class="visually-hidden" type="file" accept="image/gif" on:change=on_pick />
                <label for="gif-input" class="button button-quiet">"GIF"</label>
                <GifPicker room_id />
                {(!locked).then(|| view! {
                    <label class="share-choice">
                        <input type="checkbox" prop:checked=move || share.get()
                            on:change=move |event| share.set(event_target_checked(&event)) />
                        " Add to the library"
                    </label>
                    <Show when=move || share.get()>
                        <label for="share-words" class="visually-hidden">"Words to find it by"</label>
                        <input id="share-words" type="text" maxlength=MAX_LIBRARY_WORDS placeholder="Words to find it by"
                            prop:value=move || words.get() on:input=move |event| words.set(event_target_value(&event)) />
                    </Show>
                })}
                <Show when=move || sending.with(Option::is_some)>
                    <span class="upload">
                        <span class="upload-name">{name}</span>
                        <progress max="100" value=percent aria-label=move || format!("Uploading {}", name())></progress>
                        <span class="upload-percent" aria-hidden="true">{move || format!("{}%", percent())}</span>
                        <button type="button" class="link-button" on:click=cancel>"Cancel upload"</button>
                    </span>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
                <span class="hint" hidden=move || sending.with(Option::is_some)>"…or drop or paste a GIF anywhere here."</span>
                // A live region, not a `status` role: the page's one status is the connection's.
                <span id="upload-status" class="visually-hidden" aria-live="polite">{move || status.get()}</span>
            </div>
        </section>
    }
}

/// The upload's progress in whole percent (an integer: the bundle then needs no float printing).
fn percent(fraction: Option<f64>) -> u32 {
    (fraction.unwrap_or(0.0).clamp(0.0, 1.0) * 100.0).round() as u32
}
