//! gif-chat's user interface: the HTML shell, the router and the pages, shared by the server (SSR) and the
//! browser (hydration).

pub mod api;
pub mod components;
pub mod error;
pub mod live;
pub mod live_client;
pub mod model;
pub mod pages;
pub mod upload_client;
pub mod validate;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
    path,
};

use crate::live_client::provide_live_channel;
use crate::pages::{HomePage, NotFound, RoomPage};

/// The document around every server-rendered page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.ico" />
                <AutoReload options=options.clone() />
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
    mark_hydrated();

    view! {
        <Stylesheet id="leptos" href="/pkg/gif-chat.css" />
        <Title text="gif-chat" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=HomePage />
                <Route path=path!("/room/:id") view=RoomPage />
            </Routes>
        </Router>
    }
}

/// Sets `data-hydrated` on `<body>` once the WASM client has taken over the page. Effects never run during
/// SSR, so the attribute is an honest signal that event handlers are attached (the end-to-end tests wait for it).
fn mark_hydrated() {
    Effect::new(|_| {
        if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
