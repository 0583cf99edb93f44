//! The page for any address that names nothing.

use leptos::prelude::*;

use crate::components::TopBar;

/// Answers the current SSR request with 404 (no effect in the browser).
pub fn set_not_found_status() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    set_not_found_status();
    view! {
        <main class="page page-narrow">
            <TopBar />
            <h1>"Not found"</h1>
            <p>"There is nothing at this address."</p>
            <p><a href="/">"Back to the rooms"</a></p>
        </main>
    }
}
