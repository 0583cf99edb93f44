//! Which origins may act with a visitor's cookie: the guard against cross-site (and same-site, other-port)
//! request forgery, for state-changing requests and the live channel alike.
//!
//! Browsers tell where a request comes from: `Origin` on every POST and websocket handshake, and
//! `Sec-Fetch-Site` on everything. A request from another origin is refused before the session layer runs, so it
//! neither acts nor mints a session cookie. A client that sends neither header is not a browser, and carries no
//! other site's ambient credentials: it is let through (bots and tools use the same interface).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, Method, header};

use crate::server::error::app_error_response;
use protocol::error::AppError;

/// The origins allowed to act: an explicit list, or (by default) the origin the request itself is addressed
/// to (its `Host`), which is what a page served by this server sends.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Lowercase `scheme://host[:port]`, without a trailing slash. Empty: the request's own host.
    allowed: Vec<String>,
}

/// Why a request was refused, for the log.
const REFUSED: &str = "This request did not come from gif-chat's own pages, so it was refused.";

impl OriginPolicy {
    /// `allowed` are origins such as `https://chat.example.com` (a trailing slash or path is ignored).
    pub fn new(allowed: impl IntoIterator<Item = impl AsRef<str>>) -> OriginPolicy {
        let allowed = allowed.into_iter().filter_map(|origin| normalize(origin.as_ref())).collect();
        OriginPolicy { allowed }
    }

    /// Whether a request with these headers may act with the visitor's cookie.
    pub fn permits(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(header::ORIGIN) {
            return origin.to_str().ok().and_then(normalize).is_some_and(|origin| self.allows(&origin, headers));
        }
        match headers.get("sec-fetch-site").map(|site| site.to_str().unwrap_or("")) {
            // A browser says where the request comes from even without `Origin`; "none" is the person typing.
            Some(site) => site == "same-origin" || site == "none",
            None => true,
        }
    }

    fn allows(&self, origin: &str, headers: &HeaderMap) -> bool {
        if !self.allowed.is_empty() {
            return self.allowed.iter().any(|allowed| allowed == origin);
        }
        // The request's own host, whatever the scheme (a proxy may end TLS in front of us), default ports aside.
        let host = headers.get(header::HOST).and_then(|host| host.to_str().ok());
        let host = host.map(|host| host.strip_suffix(":443").or(host.strip_suffix(":80")).unwrap_or(host));
        let authority = origin.split_once("://").map(|(_, authority)| authority);
        matches!((authority, host), (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host))
    }
}

/// `scheme://host[:port]`, lowercase, or `None` for something that is not an origin (`null`, garbage).
fn normalize(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    let authority = rest.split('/').next()?;
    let valid = matches!(scheme, "http" | "https")
        && !authority.is_empty()
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    // A default port is the same origin as none: `https://x:443` is `https://x`.
    let authority = match scheme {
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        _ => authority.strip_suffix(":80").unwrap_or(authority),
    };
    valid.then(|| format!("{scheme}://{authority}").to_ascii_lowercase())
}

/// Whether a request may change something or act for the visitor: anything but GET, HEAD and OPTIONS, and
/// websocket handshakes (a live connection joins rooms and sends).
pub fn changes_state(request: &Request) -> bool {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    !safe || request.headers().contains_key(header::UPGRADE)
}

/// Middleware: refuses state-changing requests (anything but GET, HEAD and OPTIONS, and websocket handshakes)
/// from another origin with 403 and the usual JSON error. Placed outside the session layer: a refused request
/// creates no session.
pub async fn refuse_cross_origin(State(policy): State<OriginPolicy>, request: Request, next: Next) -> Response {
    if !changes_state(&request) || policy.permits(request.headers()) {
        return next.run(request).await;
    }
    // One line per second at most, saying how many went unlogged: a flood of forged requests must not flood the
    // log (nor cost its disk).
    if let Some(unlogged) = REFUSALS_LOGGED.allow() {
        tracing::warn!(
            origin = ?request.headers().get(header::ORIGIN),
            fetch_site = ?request.headers().get("sec-fetch-site"),
            path = %request.uri().path(),
            unlogged,
            "refused a cross-origin request"
        );
    }
    app_error_response(AppError::Forbidden(REFUSED.into()))
}

static REFUSALS_LOGGED: EveryOnceIn = EveryOnceIn::new();

/// Lets one event in per second through, counting the others.
struct EveryOnceIn {
    /// The second (since the process started) of the last event let through, plus one (0: none yet).
    last: std::sync::atomic::AtomicU64,
    held_back: std::sync::atomic::AtomicU64,
}

impl EveryOnceIn {
    const fn new() -> EveryOnceIn {
        EveryOnceIn { last: std::sync::atomic::AtomicU64::new(0), held_back: std::sync::atomic::AtomicU64::new(0) }
    }

    /// `Some(events held back since the last one let through)` if this one may go through.
    fn allow(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let now = START.get_or_init(std::time::Instant::now).elapsed().as_secs() + 1;
        let last = self.last.load(Relaxed);
        if last != now && self.last.compare_exchange(last, now, Relaxed, Relaxed).is_ok() {
            return Some(self.held_back.swap(0, Relaxed));
        }
        self.held_back.fetch_add(1, Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_is_logged_once_a_second_with_its_count() {
        let once = EveryOnceIn::new();
        assert_eq!(once.allow(), Some(0));
        let let_through = (0..10_000).filter(|_| once.allow().is_some()).count();
        assert!(let_through <= 1, "{let_through} of a burst were logged");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (http::HeaderName::from_static(name), value.parse().unwrap())).collect()
    }

    #[test]
    fn by_default_only_the_requests_own_host_may_act() {
        let policy = OriginPolicy::default();
        let own = headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]);
        assert!(policy.permits(&own));
        let behind_tls = headers(&[("host", "chat.example.com"), ("origin", "https://chat.example.com")]);
        assert!(policy.permits(&behind_tls));
        for origin in ["http://evil.example", "http://127.0.0.1:8000", "null", "http://127.0.0.1:3000.evil.example"] {
            let foreign = headers(&[("host", "127.0.0.1:3000"), ("origin", origin)]);
            assert!(!policy.permits(&foreign), "{origin} was let through");
        }
    }

    #[test]
    fn an_explicit_list_replaces_the_host_rule() {
        let policy = OriginPolicy::new(["https://Chat.Example.com/", "http://localhost:8080"]);
        let listed = headers(&[("host", "10.0.0.5:3000"), ("origin", "https://chat.example.com")]);
        assert!(policy.permits(&listed));
        let own_host_only = headers(&[("host", "10.0.0.5:3000"), ("origin", "http://10.0.0.5:3000")]);
        assert!(!policy.permits(&own_host_only));
    }

    #[test]
    fn default_ports_are_the_same_origin_as_none() {
        let policy = OriginPolicy::new(["https://chat.example.com:443"]);
        assert!(policy.permits(&headers(&[("host", "x"), ("origin", "https://chat.example.com")])));
        let listed = OriginPolicy::new(["https://chat.example.com"]);
        assert!(listed.permits(&headers(&[("host", "x"), ("origin", "https://chat.example.com:443")])));
        assert!(!listed.permits(&headers(&[("host", "x"), ("origin", "https://chat.example.com:8443")])));
        let own = OriginPolicy::default();
        assert!(own.permits(&headers(&[("host", "chat.example.com:80"), ("origin", "http://chat.example.com")])));
    }

    #[test]
    fn without_origin_the_fetch_metadata_decides_and_tools_pass() {
        let policy = OriginPolicy::default();
        assert!(!policy.permits(&headers(&[("host", "a"), ("sec-fetch-site", "cross-site")])));
        assert!(!policy.permits(&headers(&[("host", "a"), ("sec-fetch-site", "same-site")])));
        assert!(policy.permits(&headers(&[("host", "a"), ("sec-fetch-site", "same-origin")])));
        assert!(policy.permits(&headers(&[("host", "a")])), "curl, bots and the load tool send neither");
    }
}
