//! GIF uploads: pick, drop or paste anywhere on the chat; progress and refusals shown.

use leptos::prelude::*;

use crate::browser;
use protocol::model::RoomId;

/// Wraps the chat: a GIF can be picked, dropped anywhere on it, or pasted. Shows progress and refusals.
#[component]
pub fn Uploader(room_id: RoomId, children: Children) -> impl IntoView {
    let progress = RwSignal::new(None::<f64>);
    let error = RwSignal::new(None::<String>);
    let dragging = RwSignal::new(false);

    let start = move |file: browser::PickedFile| {
        if progress.get_untracked().is_some() {
            return;
        }
        error.set(None);
        progress.set(Some(0.0));
        browser::upload_gif(
            room_id,
            file,
            move |fraction| progress.set(Some(fraction)),
            move |result| {
                progress.set(None);
                if let Err(failure) = result {
                    error.set(Some(failure.to_string()));
                }
                // Success needs nothing here: the message arrives over the live channel like everyone else's.
            },
        );
    };
    let on_pick = move |event: leptos::ev::Event| {
        if let Some(file) = browser::picked_file(&event) {
            start(file);
        }
    };
    let on_drop = move |event: leptos::ev::DragEvent| {
        event.prevent_default();
        dragging.set(false);
        if let Some(file) = browser::dropped_file(&event) {
            start(file);
        }
    };
    let on_paste = move |event: leptos::ev::ClipboardEvent| {
        if let Some(file) = browser::pasted_file(&event) {
            start(file);
        }
    };

    view! {
        <section
            class="chat"
            class:dragging=move || dragging.get()
            aria-label="Chat"
            on:dragover=move |event: leptos::ev::DragEvent| { event.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
            on:paste=on_paste
        >
            {children()}
            <div class="uploader">
                // The input is what the keyboard reaches (Tab, then Space or Enter opens the file picker); the label
                // beside it is what people see, and shows the input's focus (style/main.css).
                <input id="gif-input" class="visually-hidden" type="file" accept="image/gif" on:change=on_pick />
                <label for="gif-input" class="button button-quiet">"GIF"</label>
                <Show when=move || progress.get().is_some()>
                    <progress max="100" value=move || percent(progress.get()) aria-label="Uploading GIF"></progress>
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
                <span class="hint">"…or drop or paste a GIF here."</span>
            </div>
        </section>
    }
}

/// The upload's progress in whole percent (an integer: the bundle then needs no float printing).
fn percent(fraction: Option<f64>) -> u32 {
    (fraction.unwrap_or(0.0).clamp(0.0, 1.0) * 100.0).round() as u32
}
