//! `/alarms`: the person's alarms as a page: what the bell's panel shows, with plain links and forms, so that it
//! works without JavaScript too; and the people they muted.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::{MutePerson, load_alarms, muted_people};
use crate::components::{AlarmList, Bell, MarkAllRead, PersonBadge, use_alarms};
use protocol::alarms::Alarms;
use protocol::model::Person;

#[component]
pub fn AlarmsPage() -> impl IntoView {
    let data = Resource::new_blocking(|| (), |_| async { (load_alarms().await, muted_people().await) });
    view! {
        <Title text="Alarms · gif-chat" />
        <main class="page page-narrow">
            <header class="page-header">
                <div>
                    <p class="back-line"><A href="/">"← Rooms"</A></p>
                    <h1>"Alarms"</h1>
                </div>
                <Bell />
            </header>
            <Transition fallback=|| view! { <p>"Loading your alarms…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        (Ok(alarms), muted) => {
                            let muted = muted.unwrap_or_default();
                            view! { <AlarmsContent alarms muted /> }.into_any()
                        }
                        (Err(error), _) => view! { <p role="alert" class="error">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn AlarmsContent(alarms: Alarms, muted: Vec<Person>) -> impl IntoView {
    let state = use_alarms();
    let Alarms { alarms: rendered, seq, read_up_to, .. } = alarms;
    // Live once the bell has the person's alarms; as rendered before (and without the WASM).
    let shown = Signal::derive(move || if state.is_loaded() { state.alarms().alarms } else { rendered.clone() });
    view! {
        <section aria-labelledby="alarms-heading">
            <div class="alarm-panel-head">
                <h2 id="alarms-heading" class="visually-hidden">"Your alarms"</h2>
                <MarkAllRead seq />
            </div>
            <AlarmList alarms=shown read_up_to=Signal::stored(read_up_to) />
        </section>
        {(!muted.is_empty()).then(|| view! {
            <section aria-labelledby="muted-heading" class="muted-people">
                <h2 id="muted-heading">"Muted"</h2>
                <p class="hint">"Nothing these people do alarms you, until your session ends."</p>
                <ul>
                    {muted.into_iter().map(|person| view! { <MutedPerson person /> }).collect_view()}
                </ul>
            </section>
        })}
    }
}

/// A muted person, with "Unmute" (a plain form without the WASM; the page reloads either way).
#[component]
fn MutedPerson(person: Person) -> impl IntoView {
    let id = person.id.as_str().to_owned();
    view! {
        <li>
            <PersonBadge person />
            " "
            <form class="inline-form" method="post" action=MutePerson::url()>
                <input type="hidden" name="person" value=id />
                <input type="hidden" name="on" value="false" />
                <button type="submit" class="link-button">"Unmute"</button>
            </form>
        </li>
    }
}
