//! The room list (`/`): every open room, and the form to create one.

use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let (form_open, set_form_open) = signal(false);

    view! {
        <main class="page">
            <header class="page-header">
                <h1>"gif-chat"</h1>
                <button
                    type="button"
                    class="button"
                    aria-expanded=move || form_open.get().to_string()
                    aria-controls="create-room"
                    on:click=move |_| set_form_open.update(|open| *open = !*open)
                >
                    "New room"
                </button>
            </header>
            <section id="create-room" class="panel" hidden=move || !form_open.get()>
                <h2>"Create a room"</h2>
                <p>"Rooms arrive in the next step."</p>
            </section>
            <section aria-labelledby="rooms-heading">
                <h2 id="rooms-heading">"Rooms"</h2>
                <p class="empty">"No rooms yet. Create the first one."</p>
            </section>
        </main>
    }
}
