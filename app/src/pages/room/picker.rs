//! The GIF picker: a dialog ("Choose a GIF") with three shelves as tabs: the GIFs of this room, one's own, and the
//! library shared with everyone on the server (searched by words). Choosing one posts it by reference: no upload,
//! the same files; the message arrives over the live channel like any other.

use leptos::prelude::*;

use crate::api::{offered_gifs, repost_gif};
use crate::browser;
use protocol::model::{OfferedGif, RoomId, Shelf, still_of};

/// The button that opens the picker, and the picker.
#[component]
pub fn GifPicker(room_id: RoomId) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let open = RwSignal::new(false);
    let shelf = RwSignal::new(Shelf::Room);
    // What is typed in the search box, and (a moment after the typing stops) what is searched for.
    let (typed, search) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let error = RwSignal::new(None::<String>);
    let posting = RwSignal::new(false);

    let show = move |_| {
        error.set(None);
        open.set(true);
        browser::show_dialog(dialog);
    };
    let close = move || browser::close_dialog(dialog);
    let choose = move |gif: String| {
        if posting.get_untracked() {
            return;
        }
        posting.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let posted = repost_gif(room_id, gif).await;
            let _ = posting.try_set(false);
            match posted {
                // The message arrives over the live channel like everyone else's.
                Ok(_) => close(),
                Err(failure) => {
                    let _ = error.try_set(Some(failure.to_string()));
                }
            }
        });
    };
    // The arrow keys move between the tabs (and choose the shelf), as in any tab list.
    let on_tab_key = move |event: leptos::ev::KeyboardEvent| {
        let at = Shelf::ALL.iter().position(|s| *s == shelf.get_untracked()).unwrap_or(0);
        let next = match event.key().as_str() {
            "ArrowRight" => (at + 1) % Shelf::ALL.len(),
            "ArrowLeft" => (at + Shelf::ALL.len() - 1) % Shelf::ALL.len(),
            "Home" => 0,
            "End" => Shelf::ALL.len() - 1,
            _ => return,
        };
        event.prevent_default();
        shelf.set(Shelf::ALL[next]);
        browser::focus_by_id(&tab_id(Shelf::ALL[next]));
    };

    view! {
        <button type="button" class="button button-quiet" aria-haspopup="dialog" on:click=show>"Choose a GIF"</button>
        <dialog node_ref=dialog class="gif-picker" aria-labelledby="gif-picker-title"
            on:close=move |_| open.set(false)>
            <div class="gif-picker-head">
                <h2 id="gif-picker-title">"Choose a GIF"</h2>
                <button type="button" class="link-button" on:click=move |_| close()>"Close"</button>
            </div>
            <div role="tablist" aria-label="Where the GIFs come from" on:keydown=on_tab_key>
                {Shelf::ALL
                    .into_iter()
                    .map(|tab| {
                        let selected = move || shelf.get() == tab;
                        view! {
                            <button type="button" role="tab" id=tab_id(tab) aria-controls="gif-shelf"
                                aria-selected=move || selected().to_string()
                                tabindex=move || if selected() { "0" } else { "-1" }
                                on:click=move |_| shelf.set(tab)>
                                {tab.title()}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
            <div id="gif-shelf" role="tabpanel" aria-labelledby=move || tab_id(shelf.get())>
                <Show when=move || shelf.get() == Shelf::Library>
                    <label for="gif-search">"Search the library"</label>
                    <input id="gif-search" type="search" autocomplete="off" maxlength="100"
                        prop:value=move || typed.get()
                        on:input=move |event| {
                            let value = event_target_value(&event);
                            typed.set(value.clone());
                            // Asked once the typing pauses, not at every key.
                            leptos::task::spawn_local(async move {
                                browser::sleep_ms(SEARCH_PAUSE_MS).await;
                                if typed.try_get_untracked().as_deref() == Some(value.as_str()) {
                                    let _ = search.try_set(value);
                                }
                            });
                        } />
                </Show>
                <Show when=move || error.get().is_some()>
                    <p class="error" role="alert">{move || error.get()}</p>
                </Show>
                // Asked only while the dialog is open, again when the shelf or the search changes.
                <Show when=move || open.get()>
                    <ShelfGrid room_id shelf search choose posting />
                </Show>
            </div>
        </dialog>
    }
}

/// How long the typing in the library's search box pauses before the library is asked.
const SEARCH_PAUSE_MS: u32 = 250;

fn tab_id(shelf: Shelf) -> String {
    format!("gif-tab-{}", shelf.as_str())
}

/// The GIFs of one shelf, as a grid of buttons (each the GIF's still), newest first.
#[component]
fn ShelfGrid(
    room_id: RoomId,
    shelf: RwSignal<Shelf>,
    search: RwSignal<String>,
    choose: impl Fn(String) + Copy + Send + Sync + 'static,
    posting: RwSignal<bool>,
) -> impl IntoView {
    let offered = LocalResource::new(move || {
        let (shelf, search) = (shelf.get(), search.get());
        async move { offered_gifs(room_id, shelf, (!search.trim().is_empty()).then_some(search)).await }
    });
    let empty = move || match shelf.get() {
        Shelf::Room => "No GIFs in this room yet.",
        Shelf::Mine => "GIFs you upload show here.",
        Shelf::Library if search.with(|s| s.trim().is_empty()) => "Nobody shared a GIF to the library yet.",
        Shelf::Library => "No GIF in the library has those words.",
    };
    view! {
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || {
                offered.get().map(|found| match found {
                    Err(failure) => view! { <p class="error" role="alert">{failure.to_string()}</p> }.into_any(),
                    Ok(gifs) if gifs.is_empty() => view! { <p class="hint">{empty()}</p> }.into_any(),
                    Ok(gifs) => {
                        let count = gifs.len();
                        view! {
                            <ul class="gif-grid">
                                {gifs
                                    .into_iter()
                                    .enumerate()
                                    .map(|(at, OfferedGif { name, words, .. })| {
                                        let label = match &words {
                                            Some(words) => format!("Post the GIF “{words}”"),
                                            None => format!("Post GIF {} of {count}", at + 1),
                                        };
                                        let still = still_of(&format!("/gif/{name}"));
                                        view! {
                                            <li>
                                                <button type="button" class="gif-choice" aria-label=label
                                                    disabled=move || posting.get()
                                                    on:click=move |_| choose(name.clone())>
                                                    <img src=still alt="" loading="lazy" />
                                                </button>
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        }
                        .into_any()
                    }
                })
            }}
        </Suspense>
    }
}
