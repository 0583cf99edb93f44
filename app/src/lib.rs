//! gif-chat's user interface: the HTML shell, the router and the pages, shared by the server (SSR) and the
//! browser (hydration).
// Leptos views are deeply nested types; release builds (no type erasure) need more than the default 128.
#![recursion_limit = "256"]

pub mod api;
pub mod browser;
pub mod components;
pub mod forms;
pub mod live_client;
pub mod pages;
// The shared types live in `protocol`; these names keep `protocol::model::…` and `app::model::…` paths working.
pub use protocol::{codec, domain, error, live, model};
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{Route, Router, Routes},
    path,
};

use crate::live_client::provide_live_channel;
use crate::pages::{AlarmsPage, NotFound, RoomListPage, RoomPage};

/// The document around every server-rendered page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.ico" />
                <AutoReload options=options.clone() />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_live_channel();
    components::provide_alarms();
    forms::provide_landing_error();
    pages::provide_sent_away();
    browser::mark_hydrated();

    view! {
        <Title text="gif-chat" />
        <Router>
            <forms::ForgetLandingError />
            <Routes fallback=NotFound>
                // In order: the pages' data is in place in the HTML the server sends, not streamed after it for a
                // script to fill in, so they work before the WASM arrives, and without JavaScript. (The data is
                // what the pages wait for anyway: their resources are blocking. `PartiallyBlocked` would say the
                // same, but Leptos 0.8 serves it out of order.)
                <Route path=StaticSegment("") view=RoomListPage ssr=SsrMode::InOrder />
                <Route path=path!("/room/:id") view=RoomPage ssr=SsrMode::InOrder />
                <Route path=StaticSegment("alarms") view=AlarmsPage ssr=SsrMode::InOrder />
            </Routes>
        </Router>
    }
}

/// The page's Content-Security-Policy: scripts only from this site, and only those the server put in the page
/// (the hydration script carries this response's nonce and loads the rest); WASM may be compiled; inline style
/// attributes are allowed (identity colors are set that way), inline scripts and other sites are not.
#[cfg(feature = "ssr")]
fn set_content_security_policy() {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}
