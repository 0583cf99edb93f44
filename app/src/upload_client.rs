//! Uploading a GIF from the browser. `fetch` cannot report upload progress, so this uses XMLHttpRequest.

#[cfg(feature = "hydrate")]
use crate::model::{ChatMessage, RoomId};

/// Posts `file` as the multipart field `gif` to `/room/<id>/gif`. Calls `on_progress` with 0.0–1.0 as bytes go
/// out, then `on_done` once with the stored message or the server's error message.
#[cfg(feature = "hydrate")]
pub fn upload_gif(
    room: RoomId,
    file: web_sys::File,
    on_progress: impl Fn(f64) + 'static,
    on_done: impl FnOnce(Result<ChatMessage, String>) + 'static,
) {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    let failed = |text: &str| Err(text.to_owned());
    let Ok(request) = web_sys::XmlHttpRequest::new() else {
        on_done(failed("This browser cannot upload files."));
        return;
    };
    let Ok(form) = web_sys::FormData::new() else {
        on_done(failed("This browser cannot upload files."));
        return;
    };
    let _ = form.append_with_blob_and_filename("gif", &file, &file.name());
    let _ = request.open("POST", &format!("/room/{room}/gif"));

    let progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
        if event.length_computable() && event.total() > 0.0 {
            on_progress(event.loaded() / event.total());
        }
    });
    if let Ok(upload) = request.upload() {
        upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
    }

    // Called exactly once, from `loadend` (which follows load, error and abort alike).
    let on_done = Rc::new(RefCell::new(Some(on_done)));
    let finished = {
        let request = request.clone();
        Closure::<dyn FnMut()>::new(move || {
            let Some(on_done) = on_done.borrow_mut().take() else { return };
            let status = request.status().unwrap_or(0);
            let body = request.response_text().ok().flatten().unwrap_or_default();
            let result = if status == 200 {
                serde_json::from_str::<ChatMessage>(&body).map_err(|_| "The server sent an unexpected answer.".to_owned())
            } else if status == 0 {
                Err("The upload failed: you seem to be offline.".to_owned())
            } else {
                Err(serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .unwrap_or_else(|| format!("The upload failed (HTTP {status}).")))
            };
            on_done(result);
        })
    };
    request.set_onloadend(Some(finished.as_ref().unchecked_ref()));
    // The closures must live until the request ends; they are small and each upload makes two.
    progress.forget();
    finished.forget();

    if request.send_with_opt_form_data(Some(&form)).is_err() {
        // loadend still fires and reports the failure.
    }
}
