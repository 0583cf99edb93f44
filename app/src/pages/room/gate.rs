//! The password form of a locked room.

use leptos::html;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::EnterRoom;
use crate::components::TopBar;
use crate::forms::landing_error;
use protocol::model::RoomId;

/// The password is posted to a server function, never put in a URL.
#[component]
pub fn PasswordGate(id: RoomId, title: String, on_entered: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let enter = ServerAction::<EnterRoom>::new();
    // Without the WASM the form posts itself, and the page comes back with its error.
    let landed = StoredValue::new(landing_error::<EnterRoom>().map(|error| error.to_string()));
    Effect::new(move |_| {
        if let Some(Ok(())) = enter.value().get() {
            on_entered();
        }
    });
    // The form's one field, read on submit (a plain form, not `ActionForm`: reading a form's fields generically
    // takes a query-string parser, 44 KB of the wasm before wasm-opt, for one password).
    let password_input = NodeRef::<html::Input>::new();
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let password = password_input.get_untracked().map(|input| input.value()).unwrap_or_default();
        enter.dispatch(EnterRoom { id, password });
    };
    // The page is the form: the cursor goes to its one field (also without the WASM: `autofocus`; and after
    // the router brings the page, which `autofocus` does not cover).
    Effect::new(move |_| {
        if let Some(input) = password_input.get() {
            request_animation_frame(move || drop(input.focus()));
        }
    });
    let error = move || match enter.value().get() {
        Some(result) => result.err().map(|error| error.to_string()),
        None => landed.get_value(),
    };
    view! {
        <main class="page page-narrow">
            <TopBar />
            <h1>{title}</h1>
            <p>"This room is locked. Enter its password to join."</p>
            <form class="form panel" method="post" action=EnterRoom::url() on:submit=on_submit>
                <input type="hidden" name="id" value=id.get() />
                <div class="field">
                    <label for="room-password">"Password"</label>
                    <input id="room-password" name="password" type="password" required autocomplete="current-password"
                        autofocus node_ref=password_input />
                </div>
                <Show when=move || error().is_some()>
                    <p class="error" role="alert">{error}</p>
                </Show>
                <button type="submit" class="button" disabled=move || enter.pending().get()>"Enter"</button>
            </form>
        </main>
    }
}
