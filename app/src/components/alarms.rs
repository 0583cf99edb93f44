//! The person's alarms on every page: the bell (its unread count, its panel) and the list both it and the
//! `/alarms` page show. The alarms come over the live channel (the whole list when it (re)connects, then each
//! change); before that, the bell shows the count the server rendered.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::task::spawn_local;

use crate::api::{
    DeclineInvitation, MarkAlarmsRead, MutePerson, decline_invitation, mark_alarms_read, mute_person, unread_alarms,
};
use crate::browser::{self, Notifications};
use crate::components::Age;
use crate::live_client::{LiveChannel, use_live};
use protocol::alarms::{Alarm, AlarmKind, Alarms};
use protocol::error::AppError;
use protocol::live::{ClientCommand, LiveEvent};

/// The person's alarms as the app knows them (provided once, in the root component).
#[derive(Clone, Copy)]
pub struct AlarmState {
    alarms: RwSignal<Alarms>,
    /// Whether `alarms` came from the server yet (before, only the rendered count is known).
    loaded: RwSignal<bool>,
    /// The count the server rendered the page with.
    rendered: Resource<Result<u32, AppError>>,
    /// A count the server answered since (marking read) while `alarms` had not come yet.
    answered: RwSignal<Option<u32>>,
    /// The latest alarm raised while the app runs, for the bell's live region.
    latest: RwSignal<Option<Alarm>>,
    /// Whether this device shows desktop notifications (the person opted in, and the browser allows them).
    notifying: RwSignal<bool>,
    live: LiveChannel,
}

impl AlarmState {
    /// How many are unread: the live count once loaded, `rendered` (the server's, as the page was made) before.
    /// (Tolerant reads: a page whose reader left mid-render may still ask, leptos-rs/leptos#3595.)
    pub fn unread_or(&self, rendered: u32) -> u32 {
        match self.loaded.try_get() {
            Some(true) => self.alarms.try_with(|alarms| alarms.unread).unwrap_or(0),
            _ => self.answered.try_get().flatten().unwrap_or(rendered),
        }
    }

    /// Whether the alarms came from the server yet.
    pub fn is_loaded(&self) -> bool {
        self.loaded.get()
    }

    /// The alarms as the bell knows them.
    pub fn alarms(&self) -> Alarms {
        self.alarms.get()
    }

    /// Marks every alarm the bell knows as read (every page of the person's is told).
    pub fn mark_all_read(&self) {
        self.mark_read(self.alarms.with_untracked(|alarms| alarms.seq));
    }

    /// Marks the alarms up to the change `up_to` as read.
    pub fn mark_read(&self, up_to: i64) {
        let (answered, loaded) = (self.answered, self.loaded);
        spawn_local(async move {
            if let Ok(unread) = mark_alarms_read(up_to).await
                && loaded.try_get_untracked() == Some(false)
            {
                // The list has not come yet: at least the count is known.
                answered.try_set(Some(unread));
            }
        });
    }

    fn receive(&self, event: LiveEvent) {
        match event {
            LiveEvent::Alarms { alarms } => {
                self.alarms.set(alarms);
                self.loaded.set(true);
            }
            LiveEvent::Alarm { change } => {
                let applied = self.alarms.try_update(|alarms| alarms.apply(&change)).unwrap_or(false);
                if !applied {
                    // A change missed (the server sends them in order; this is a safety net): the whole list.
                    if change.seq > self.alarms.with_untracked(|alarms| alarms.seq) {
                        self.live.send(&ClientCommand::WatchAlarms { since: None });
                    }
                    return;
                }
                if let Some(alarm) = change.alarms.first() {
                    self.latest.set(Some(alarm.clone()));
                    if self.notifying.get_untracked() && browser::page_hidden() {
                        browser::notify(&alarm.what(), &alarm.place(), &format!("alarm-{}", alarm.id), alarm.link());
                    }
                }
            }
            _ => {}
        }
    }
}

pub fn use_alarms() -> AlarmState {
    expect_context::<AlarmState>()
}

/// Creates the alarms' state and watches them on the live channel. Call once, in the root component, after the
/// live channel is provided.
pub fn provide_alarms() {
    let state = AlarmState {
        alarms: RwSignal::new(Alarms::default()),
        loaded: RwSignal::new(false),
        rendered: Resource::new_blocking(|| (), |_| unread_alarms()),
        answered: RwSignal::new(None),
        latest: RwSignal::new(None),
        notifying: RwSignal::new(false),
        live: use_live(),
    };
    provide_context(state);
    // The person's choice is the browser's (its permission), asked again on each load.
    Effect::new(move |_| state.notifying.set(browser::notifications() == Some(Notifications::Allowed)));
    state.live.watch_alarms(
        move || {
            let since = state.loaded.get_untracked().then(|| state.alarms.with_untracked(|alarms| alarms.seq));
            ClientCommand::WatchAlarms { since }
        },
        move |event| state.receive(event),
    );
}

/// The bell: a button named "Alarms" (with the unread count) that opens the alarms' panel. Without the WASM it is
/// a form that goes to the `/alarms` page.
#[component]
pub fn Bell() -> impl IntoView {
    let state = use_alarms();
    let open = RwSignal::new(false);
    // Read up to here when the panel opened: those after it are shown as new while it stays open.
    let seen = RwSignal::new(0_i64);
    let toggle = move || {
        let opening = !open.get_untracked();
        open.set(opening);
        if opening {
            seen.set(state.alarms.with_untracked(|alarms| alarms.read_up_to));
            if state.unread_or(0) > 0 {
                state.mark_all_read();
            }
        }
    };
    let close_on_escape = move |event: leptos::ev::KeyboardEvent| {
        if event.key() == "Escape" && open.get_untracked() {
            open.set(false);
            browser::focus_by_id("bell-button");
        }
    };
    view! {
        <div class="bell" on:keydown=close_on_escape>
            // The count the page was made with waits for the server's answer (it is in the page's HTML).
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let rendered = state.rendered.await.unwrap_or(0);
                    let unread = move || state.unread_or(rendered);
                    let label = move || match unread() {
                        0 => "Alarms".to_owned(),
                        unread => format!("Alarms, {unread} unread"),
                    };
                    view! {
                        <form method="get" action="/alarms" on:submit=move |event| { event.prevent_default(); toggle(); }>
                            <button id="bell-button" type="submit" class="bell-button" aria-label=label
                                aria-expanded=move || open.try_get().unwrap_or(false).to_string() aria-controls="alarm-panel">
                                <svg class="bell-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
                                    <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6v-5a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z" />
                                </svg>
                                <Show when=move || { unread() > 0 }>
                                    <span class="bell-count" aria-hidden="true">{unread}</span>
                                </Show>
                            </button>
                        </form>
                    }
                })}
            </Transition>
            // Told to screen readers as it arrives (the panel may be closed). A live region without the `status`
            // role: the page's one status is its connection's.
            <p class="visually-hidden" aria-live="polite">
                {move || state.latest.get().map(|alarm| format!("{} {}", alarm.what(), alarm.place()))}
            </p>
            <Show when=move || open.get()>
                <section id="alarm-panel" class="panel alarm-panel" aria-labelledby="alarm-panel-heading">
                    <div class="alarm-panel-head">
                        <h2 id="alarm-panel-heading">"Alarms"</h2>
                        <button type="button" class="link-button" on:click=move |_| state.mark_all_read()>
                            "Mark all read"
                        </button>
                    </div>
                    <NotifyHere />
                    // Before the live channel brought them (or while it cannot), the page has none to show.
                    <Show when=move || state.loaded.get()
                        fallback=|| view! { <p class="hint">"Loading your alarms…"</p> }>
                        <AlarmList alarms=Signal::derive(move || state.alarms.get().alarms) read_up_to=seen />
                    </Show>
                    <p class="hint"><a href="/alarms">"All alarms"</a></p>
                </section>
            </Show>
        </div>
    }
}

/// The top line of a page without a header of its own (a room's password gate, a refusal, an address that names
/// nothing): back to the rooms, and the bell.
#[component]
pub fn TopBar() -> impl IntoView {
    view! {
        <nav class="top-bar" aria-label="Top">
            <leptos_router::components::A href="/">"← Rooms"</leptos_router::components::A>
            <Bell />
        </nav>
    }
}

/// "Notify me on this device": asks the browser once the person opts in; alarms that arrive while the page is
/// hidden are then shown as desktop notifications.
#[component]
fn NotifyHere() -> impl IntoView {
    let state = use_alarms();
    let support = RwSignal::new(browser::notifications());
    let ask = move |_| {
        browser::ask_for_notifications(move |answer| {
            support.set(Some(answer));
            state.notifying.set(answer == Notifications::Allowed);
        })
    };
    move || match support.get() {
        None => ().into_any(),
        Some(Notifications::Allowed) => view! {
            <p class="hint">"Alarms show as notifications on this device while the page is hidden."</p>
        }
        .into_any(),
        Some(Notifications::Refused) => {
            view! { <p class="hint">"This browser blocks notifications from this site."</p> }.into_any()
        }
        Some(Notifications::NotAsked) => view! {
            <button type="button" class="link-button" on:click=ask>"Notify me on this device"</button>
        }
        .into_any(),
    }
}

/// Alarms, newest first, each linking to its message; those changed after `read_up_to` marked new. Each has
/// "Mute ‹name›" (a plain form without the WASM).
#[component]
pub fn AlarmList(#[prop(into)] alarms: Signal<Vec<Alarm>>, #[prop(into)] read_up_to: Signal<i64>) -> impl IntoView {
    let muted = RwSignal::new(Vec::<String>::new());
    view! {
        <Show when=move || alarms.with(|alarms| !alarms.is_empty())
            fallback=|| view! { <p class="empty">"No alarms. Reactions and replies to your messages show here."</p> }>
            <ul class="alarm-list">
                <For each=move || alarms.get() key=|alarm| (alarm.id, alarm.seq) let(alarm)>
                    <AlarmItem unread=alarm.unread(read_up_to.get_untracked()) alarm muted />
                </For>
            </ul>
        </Show>
    }
}

#[component]
fn AlarmItem(alarm: Alarm, unread: bool, muted: RwSignal<Vec<String>>) -> impl IntoView {
    let (what, place, link) = (alarm.what(), alarm.place(), alarm.link());
    let actor = alarm.actor.clone();
    let actor_id = actor.id.as_str().to_owned();
    let is_muted = {
        let id = actor_id.clone();
        move || muted.with(|muted| muted.contains(&id))
    };
    let mute = {
        let id = actor_id.clone();
        move |event: leptos::ev::SubmitEvent| {
            event.prevent_default();
            let id = id.clone();
            spawn_local(async move {
                if mute_person(id.clone(), Some(true)).await.is_ok() {
                    muted.try_update(|muted| muted.push(id));
                }
            });
        }
    };
    view! {
        <li class="alarm" class:unread=unread>
            <span class="person" style=actor.hue.css_style()><span class="swatch" aria-hidden="true"></span></span>
            <span class="alarm-text">
                {unread.then(|| view! { <span class="visually-hidden">"New: "</span> })}
                {match link {
                    Some(link) => view! { <a href=link>{what}</a> }.into_any(),
                    None => view! { <span>{what}</span> }.into_any(),
                }}
                " " <span class="alarm-where">{place}</span> " · " <Age millis=alarm.at />
            </span>
            {(alarm.kind == AlarmKind::Invitation && !alarm.room_gone).then(|| view! { <Invitation alarm=alarm.clone() /> })}
            <form class="inline-form alarm-mute" method="post" action=MutePerson::url() on:submit=mute>
                <input type="hidden" name="person" value=actor_id />
                <Show when=is_muted fallback=move || view! {
                    <button type="submit" class="link-button">{format!("Mute {}", actor.name)}</button>
                }>
                    <span class="hint">"Muted"</span>
                </Show>
            </form>
        </li>
    }
}

/// An invitation's answers: "Accept" enters the private room, "Decline" tells the one who invited (a plain form
/// without the WASM; with it, the invitation goes from the list when the server withdraws it).
#[component]
fn Invitation(alarm: Alarm) -> impl IntoView {
    let room = alarm.room;
    let error = RwSignal::new(None::<String>);
    let decline = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        spawn_local(async move {
            if let Err(failure) = decline_invitation(room).await {
                error.try_set(Some(failure.to_string()));
            }
        });
    };
    view! {
        <span class="alarm-answers">
            <a class="button button-small" href=format!("/room/{room}")>"Accept"</a>
            <form class="inline-form" method="post" action=DeclineInvitation::url() on:submit=decline>
                <input type="hidden" name="room" value=room.get() />
                <button type="submit" class="button button-quiet button-small">"Decline"</button>
            </form>
            <Show when=move || error.get().is_some()>
                <span class="error" role="alert">{move || error.get()}</span>
            </Show>
        </span>
    }
}

/// "Mark all read" as a plain form (the `/alarms` page), for up to the change `seq`.
#[component]
pub fn MarkAllRead(seq: i64) -> impl IntoView {
    let state = use_alarms();
    view! {
        <form class="inline-form" method="post" action=MarkAlarmsRead::url()
            on:submit=move |event| { event.prevent_default(); state.mark_read(seq); }>
            <input type="hidden" name="up_to" value=seq />
            <button type="submit" class="button button-quiet">"Mark all read"</button>
        </form>
    }
}
