//! Forms that work before the WASM arrives, or without it (progressive enhancement), on the server's side.
//!
//! A plain HTML form post to a server function (the browser's own, no WASM) is answered by the server-function
//! machinery with a redirect: where the function said (`leptos_axum::redirect`: a new room), or back to the page
//! the form was on. An error travels in that redirect's URL (`?__path=…&__err=…`), from where Leptos would show it
//! on the page. Here it moves into a short-lived signed cookie instead, which the page it lands on reads once
//! ([`take_form_error`]; `crate::forms` shows it on the form): a URL anyone can write must not put words on our
//! page (a link could make the password form say anything), so pages never take errors from their URL, and a
//! page URL carrying one is cleaned by a redirect. Errors raised before a server function runs (a rate limit, a
//! body too large) are JSON answers; for a plain form they take the same way back.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, REFERER, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode, Uri};
use leptos::prelude::*;
use leptos::server_fn::error::ServerFnUrlError;
use tower_sessions::cookie::{Cookie, SameSite, time};

use crate::server::AppState;
use protocol::error::{AppError, FormError};

/// The cookie that carries a plain form post's error to the page it lands on.
const COOKIE: &str = "gif_chat_form_error";
/// Long enough for the redirect to be followed; the page that reads it deletes it.
const COOKIE_SECONDS: i64 = 60;
/// The query parameters the server-function machinery puts an error in.
const URL_ERROR_KEYS: [&str; 2] = ["__path", "__err"];

/// Whether a request with these headers is a browser's plain form post (no WASM): it accepts HTML, where the
/// WASM's calls ask for JSON. The same rule the server-function machinery redirects by.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers.get(ACCEPT).and_then(|accept| accept.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

/// Middleware: answers every plain form post to a server function with a redirect (303) to a page of this site,
/// its error, if any, in the cookie; and cleans page URLs that carry an error.
pub async fn plain_forms(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (path, query) = (request.uri().path(), request.uri().query().unwrap_or_default());
    if request.method() == Method::GET && !path.starts_with("/api/") {
        let cleaned = url_error(query);
        if cleaned.carried {
            return see_other(&with_query(path, &cleaned.query), HeaderMap::new());
        }
    }
    if request.method() != Method::POST || !path.starts_with("/api/") || !accepts_html(request.headers()) {
        return next.run(request).await;
    }
    let function = path.to_owned();
    // Back to the page the form was on (the Referrer-Policy sends it to this site), or else the room list.
    let back = request
        .headers()
        .get(REFERER)
        .and_then(|referer| referer.to_str().ok())
        .and_then(page_of)
        .unwrap_or_else(|| "/".to_owned());
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let location = parts.headers.get(LOCATION).and_then(|location| location.to_str().ok()).and_then(page_of);
    let (target, error) = match location {
        Some(location) => {
            let (page, fragment) = location.split_once('#').unwrap_or((&location, ""));
            let (path, query) = page.split_once('?').unwrap_or((page, ""));
            let cleaned = url_error(query);
            let target = with_query(path, &cleaned.query);
            (if fragment.is_empty() { target } else { format!("{target}#{fragment}") }, cleaned.error)
        }
        None => (back, None),
    };
    let error = match error {
        Some(error) => Some(error),
        None if parts.status.is_client_error() || parts.status.is_server_error() => {
            let bytes = axum::body::to_bytes(body, crate::server::bodies::MAX_FORM_BYTES).await.unwrap_or_default();
            Some(serde_json::from_slice::<AppError>(&bytes).unwrap_or(AppError::Internal))
        }
        None => None,
    };
    let mut headers = parts.headers;
    for name in [LOCATION, CONTENT_TYPE, CONTENT_LENGTH] {
        headers.remove(name);
    }
    headers.remove("serverfnerror");
    if let Some(error) = error {
        let carried = Carried { issued: now_secs(), error: FormError { path: function, error } };
        let json = serde_json::to_string(&carried).unwrap_or_default();
        let cookie = Cookie::build((state.identities.cookie_name(COOKIE), json))
            .same_site(SameSite::Strict)
            .max_age(time::Duration::seconds(COOKIE_SECONDS));
        if let Some(cookie) = state.identities.signed_cookie(cookie) {
            headers.append(SET_COOKIE, cookie);
        }
    }
    see_other(&target, headers)
}

/// The form error the page being rendered was sent here with, taken: the cookie is deleted with this response.
/// `None` outside a request (route listing) and when there is none.
pub fn take_form_error() -> Option<FormError> {
    let (parts, state) = (use_context::<http::request::Parts>()?, use_context::<AppState>()?);
    let name = state.identities.cookie_name(COOKIE);
    let carried = parts.headers.get_all(http::header::COOKIE).iter().any(|header| {
        header.to_str().is_ok_and(|cookies| cookies.split(';').any(|c| c.trim().starts_with(&format!("{name}="))))
    });
    if !carried {
        return None;
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(SET_COOKIE, state.identities.removal_cookie(name.clone()));
    }
    let carried: Carried = serde_json::from_str(&state.identities.signed_value(&parts.headers, &name)?).ok()?;
    // The browser drops the cookie after its minute; a copy of it kept and sent later is not believed either.
    (now_secs().abs_diff(carried.issued) <= COOKIE_SECONDS as u64).then_some(carried.error)
}

/// What the cookie holds: the error, and when it was made.
#[derive(serde::Serialize, serde::Deserialize)]
struct Carried {
    issued: u64,
    error: FormError,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The path, query and fragment of a URL (absolute, or a path), if it is one of this site's pages: only those are
/// followed. (A path that a browser would read as another host's, `//host` or `/\host`, is none.)
fn page_of(url: &str) -> Option<String> {
    if url.contains('\\') {
        return None;
    }
    let (url, fragment) = url.split_once('#').map_or((url, None), |(url, fragment)| (url, Some(fragment)));
    let uri: Uri = url.parse().ok()?;
    let page = uri.path_and_query()?.as_str();
    if !page.starts_with('/') || page.starts_with("//") || page.starts_with("/api/") {
        return None;
    }
    Some(match fragment {
        Some(fragment) => format!("{page}#{fragment}"),
        None => page.to_owned(),
    })
}

/// A query without the server-function error parameters.
struct Cleaned {
    query: String,
    /// Whether it had any.
    carried: bool,
    /// The error they carried.
    error: Option<AppError>,
}

fn url_error(query: &str) -> Cleaned {
    let mut cleaned = Cleaned { query: String::new(), carried: false, error: None };
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if !URL_ERROR_KEYS.contains(&key.as_ref()) {
            kept.append_pair(&key, &value);
            continue;
        }
        cleaned.carried = true;
        if key == "__err" {
            cleaned.error = Some(ServerFnUrlError::<AppError>::decode_err(&value));
        }
    }
    cleaned.query = kept.finish();
    cleaned
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

/// A redirect to `target`, one of this site's pages (else the room list).
fn see_other(target: &str, mut headers: HeaderMap) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let target = page_of(target).and_then(|page| http::HeaderValue::from_str(&page).ok());
    headers.insert(LOCATION, target.unwrap_or(http::HeaderValue::from_static("/")));
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_sites_pages_are_redirect_targets() {
        assert_eq!(page_of("http://127.0.0.1:3000/room/5?before=9").as_deref(), Some("/room/5?before=9"));
        assert_eq!(page_of("/room/5").as_deref(), Some("/room/5"));
        assert_eq!(page_of("/room/5#m12").as_deref(), Some("/room/5#m12"));
        assert_eq!(page_of("http://elsewhere.example/").as_deref(), Some("/"));
        assert_eq!(page_of("//elsewhere.example/x"), None);
        assert_eq!(page_of("/\\elsewhere.example/x"), None);
        assert_eq!(page_of("/api/send_message"), None);
        assert_eq!(page_of("not a url"), None);
    }

    #[test]
    fn behind_tls_the_cookie_is_this_hosts_alone() {
        let identities = crate::server::identity::Identities::new(&[1; 64], true);
        let name = identities.cookie_name(COOKIE);
        let set = identities.signed_cookie(Cookie::build((name.clone(), "x".to_owned()))).unwrap();
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-gif_chat_form_error=") && set.contains("Secure") && set.contains("Path=/"));
        assert!(!set.contains("Domain"), "{set}");
        let removal = identities.removal_cookie(name);
        let removal = removal.to_str().unwrap();
        assert!(removal.starts_with("__Host-gif_chat_form_error=;") && removal.contains("Max-Age=0"), "{removal}");
        assert!(removal.contains("Secure") && removal.contains("Path=/"), "{removal}");
    }

    #[test]
    fn the_error_parameters_are_taken_out_of_a_query() {
        let encoded =
            ServerFnUrlError::new("/api/enter_room", AppError::WrongPassword).to_url("http://x/room/5?keep=1").unwrap();
        let cleaned = url_error(encoded.query().unwrap());
        assert_eq!(cleaned.query, "keep=1");
        assert!(matches!(cleaned.error, Some(AppError::WrongPassword)));
        assert!(!url_error("notice=full").carried);
        let lone = url_error("__path=/api/x");
        assert!(lone.carried && lone.error.is_none(), "a lone path parameter is cleaned too, and is no error");
    }
}
