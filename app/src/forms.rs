//! Errors of forms posted without the WASM (see `server::forms`): the page such a post lands on shows its error on
//! the form it came from, once.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use protocol::error::{AppError, FormError};

#[derive(Clone, Copy)]
struct Landing(StoredValue<Option<FormError>>);

/// In the app's root: the error the page was sent here with. Read on the server, and carried to the browser with
/// the page, so both render the same form.
pub fn provide_landing_error() {
    let error = SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        let error = crate::server::forms::take_form_error();
        #[cfg(not(feature = "ssr"))]
        let error = None;
        error
    });
    provide_context(Landing(StoredValue::new(error.into_inner())));
}

/// The error the page landed with, if the server function `S` answered it. In the browser it is taken: a form
/// built again later (after the room's data is reloaded) starts clean. On the server it is only read, as a page
/// may build a form more than once while its data comes in.
pub fn landing_error<S: ServerFn>() -> Option<AppError> {
    let Landing(slot) = use_context::<Landing>()?;
    let from_s = |landed: &FormError| landed.path == S::PATH;
    if cfg!(feature = "ssr") {
        slot.with_value(|landed| landed.as_ref().filter(|landed| from_s(landed)).map(|landed| landed.error.clone()))
    } else {
        slot.try_update_value(|landed| landed.take_if(|landed| from_s(landed))).flatten().map(|landed| landed.error)
    }
}

/// Inside the router: forgets the landing error when the reader goes to another page (in the browser; the server
/// renders one page), so that a form shown there, or here again later, starts clean.
#[component]
pub fn ForgetLandingError() -> impl IntoView {
    let (location, landing) = (leptos_router::hooks::use_location(), use_context::<Landing>());
    let page = move || (location.pathname.get(), location.search.get());
    Effect::new(move |previous: Option<_>| {
        let now = page();
        if previous.is_some_and(|previous| previous != now)
            && let Some(Landing(slot)) = landing
        {
            slot.set_value(None);
        }
        now
    });
}
