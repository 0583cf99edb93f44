//! Who a visitor is, as the web sees it: a random public id kept in their session (for a reader, in a signed
//! cookie), and the layer that gives every request one. The name and color derived from the id: `chat::identity`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use tower_sessions::cookie::{Cookie, CookieBuilder, CookieJar, Key, SameSite, time};

use ::chat::identity::person;
use ::chat::store::{Db, derived_key, server_secret};

use crate::server::AppState;
use crate::server::address::ClientAddress;
use crate::server::error::app_error_response;
use protocol::domain::PersonId;
use protocol::error::AppError;
use protocol::model::Person;

const SESSION_KEY: &str = "visitor";

/// What the session stores about its visitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredVisitor {
    id: String,
    /// When the session was last renewed (Unix seconds; 0 for sessions made before renewals). A session expires
    /// 30 days after it last changed, so a visit renews it, at most once per [`Identities`]' renewal period.
    #[serde(default)]
    renewed: i64,
}

/// The visitor of the current request, put into the request's extensions by [`visitor_layer`].
#[derive(Debug, Clone)]
pub struct Visitor {
    pub person: Person,
}

/// How visitors are recognised. Someone who only reads is known by a signed cookie carrying their id, which costs
/// the server nothing to keep; the first request that acts for them (a POST: create, send, enter, upload; or
/// opening the live channel) stores the id in their session, which from then on is what identifies them. New
/// sessions are limited per client address (`--limit-new-sessions`): they are the only way to a new identity. Either way the id, and so the person,
/// is the same: a reader who starts talking keeps their name and color.
#[derive(Clone)]
pub struct Identities {
    /// Sign the visitor cookie and the forms' cookies, each its own: both derived from one secret kept in the
    /// database, so every instance sharing it accepts the same cookies.
    visitor_key: Key,
    forms_key: Key,
    /// Behind TLS the cookie is `Secure` and `__Host-` prefixed, like the session's.
    secure: bool,
    /// How long after its last renewal a visit renews a session (one write per visitor per period at most).
    renew_after: std::time::Duration,
}

/// How long a reader's visitor cookie lasts after their last visit (the same as a session's inactivity expiry).
const VISITOR_COOKIE_DAYS: i64 = 30;
const VISITOR_COOKIE: &str = "gif_chat_visitor";

impl Identities {
    /// With the keys derived from `secret` (at least 32 bytes).
    pub fn new(secret: &[u8], secure: bool) -> Identities {
        let key = |purpose: &str| Key::from(&derived_key(secret, purpose));
        Identities {
            visitor_key: key("visitor cookie"),
            forms_key: key("form error cookie"),
            secure,
            renew_after: std::time::Duration::from_secs(86_400),
        }
    }

    /// Visits renew a session at most once per `period` (a day by default).
    pub fn renewing_sessions_every(self, period: std::time::Duration) -> Identities {
        Identities { renew_after: period, ..self }
    }

    /// Loads the cookie-signing key from the database, making it on the first start. Instances starting together
    /// race to insert theirs; all of them then read the one that won.
    pub async fn load(db: &Db, secure: bool) -> sqlx::Result<Identities> {
        let fresh = Key::generate();
        let stored = server_secret(db, "visitor_cookie_key", fresh.master()).await?;
        if stored.len() < 32 {
            return Err(sqlx::Error::Protocol("the stored visitor cookie key is too short".into()));
        }
        Ok(Identities::new(&stored, secure))
    }

    /// A cookie's name as this server sets it: behind TLS `__Host-` prefixed (this host only, over TLS only).
    pub fn cookie_name(&self, name: &str) -> String {
        if self.secure { format!("__Host-{name}") } else { name.to_owned() }
    }

    /// The value of the form cookie `name` in the request's headers, if this server signed it.
    pub fn signed_value(&self, headers: &http::HeaderMap, name: &str) -> Option<String> {
        signed_value(&self.forms_key, headers, name)
    }

    /// A `Set-Cookie` value for the form cookie `cookie` (path `/`, HTTP only, `Secure` behind TLS), signed.
    pub fn signed_cookie(&self, cookie: CookieBuilder<'static>) -> Option<http::HeaderValue> {
        self.signed_with(&self.forms_key, cookie)
    }

    fn signed_with(&self, key: &Key, cookie: CookieBuilder<'static>) -> Option<http::HeaderValue> {
        let cookie = cookie.path("/").http_only(true).secure(self.secure).build();
        let name = cookie.name().to_owned();
        let mut jar = CookieJar::new();
        jar.signed_mut(key).add(cookie);
        http::HeaderValue::from_str(&jar.get(&name)?.encoded().to_string()).ok()
    }

    /// A `Set-Cookie` value that deletes the cookie `name`.
    pub fn removal_cookie(&self, name: String) -> http::HeaderValue {
        let cookie =
            Cookie::build((name, "")).path("/").http_only(true).secure(self.secure).max_age(time::Duration::ZERO);
        http::HeaderValue::from_str(&cookie.build().encoded().to_string())
            .expect("a cookie without a value is a valid header")
    }

    /// The id in the request's visitor cookie, if it carries one this server signed within the cookie's life
    /// (a browser drops it then; a copy kept elsewhere is refused then too).
    fn carried_id(&self, headers: &http::HeaderMap, now: i64) -> Option<String> {
        let value = signed_value(&self.visitor_key, headers, &self.cookie_name(VISITOR_COOKIE))?;
        let (id, issued) = value.split_once('.')?;
        let age = now - issued.parse::<i64>().ok()?;
        let fresh = (-60..=VISITOR_COOKIE_DAYS * 86_400).contains(&age);
        (fresh && PersonId::parse(id).is_ok()).then(|| id.to_owned())
    }

    /// A `Set-Cookie` value carrying `id`, and when it was issued, signed.
    fn visitor_cookie(&self, id: &str, now: i64) -> Option<http::HeaderValue> {
        let cookie = Cookie::build((self.cookie_name(VISITOR_COOKIE), format!("{id}.{now}")))
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(VISITOR_COOKIE_DAYS));
        self.signed_with(&self.visitor_key, cookie)
    }
}

/// Middleware: gives every request a visitor, and exposes the [`Visitor`] to handlers (`Extension<Visitor>`) and
/// server functions (`leptos_axum::extract`). A reader gets (or keeps) a signed visitor cookie and no session;
/// the first state-changing request stores the visitor in a session (see [`Identities`]).
pub async fn visitor_layer(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    // A live connection acts too (it joins rooms, which announces the person): without a counted identity,
    // every cookieless handshake would be a new person for free.
    let acts = crate::server::origin::changes_state(&request);
    let (id, renew_cookie) = match session.get::<StoredVisitor>(SESSION_KEY).await {
        Ok(Some(stored)) => {
            // Reading a session does not extend it (tower-sessions counts only changes): a visit renews it, so it
            // expires 30 days after the last visit, not after the first.
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if now.saturating_sub(stored.renewed) >= state.identities.renew_after.as_secs() as i64 {
                let renewed = StoredVisitor { id: stored.id.clone(), renewed: now };
                if let Err(error) = session.insert(SESSION_KEY, &renewed).await {
                    tracing::warn!(%error, "renewing a session");
                }
            }
            (stored.id, false)
        }
        Ok(None) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let id = state.identities.carried_id(request.headers(), now).unwrap_or_else(new_visitor_id);
            if acts {
                // Each new session is a row: how many one network may make is limited.
                let address = request.extensions().get::<ClientAddress>().map(|address| address.0);
                if let Err(error) = state.limits.new_session(address) {
                    return app_error_response(error);
                }
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                if let Err(error) = session.insert(SESSION_KEY, &StoredVisitor { id: id.clone(), renewed: now }).await {
                    tracing::error!(%error, "storing a new visitor in the session");
                    return app_error_response(AppError::Unavailable);
                }
            }
            // A reader's cookie is renewed on each visit, so it expires after a month without one.
            (id, !acts)
        }
        // The session store is a database: when it fails, it is almost always unreachable (down, restarting).
        Err(error) => {
            tracing::error!(%error, "reading the session");
            return app_error_response(AppError::Unavailable);
        }
    };
    request.extensions_mut().insert(Visitor { person: person(&id) });
    let mut response = next.run(request).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if renew_cookie && let Some(cookie) = state.identities.visitor_cookie(&id, now) {
        response.headers_mut().append(http::header::SET_COOKIE, cookie);
    }
    response
}

fn new_visitor_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The value of the cookie `name` in `headers`, if it was signed with `key`.
fn signed_value(key: &Key, headers: &http::HeaderMap, name: &str) -> Option<String> {
    let mut jar = CookieJar::new();
    for header in headers.get_all(http::header::COOKIE) {
        for cookie in Cookie::split_parse_encoded(header.to_str().unwrap_or_default()).flatten() {
            jar.add_original(cookie.into_owned());
        }
    }
    Some(jar.signed(key).get(name)?.value().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_back(cookie: http::HeaderValue) -> http::HeaderMap {
        let pair = cookie.to_str().unwrap().split(';').next().unwrap().to_owned();
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, pair.parse().unwrap());
        headers
    }

    #[test]
    fn a_visitor_cookie_lasts_its_month_and_signs_for_nothing_else() {
        let identities = Identities::new(&[7; 64], false);
        let id = "0123456789abcdef0123456789abcdef";
        let issued = 1_800_000_000;
        let headers = sent_back(identities.visitor_cookie(id, issued).unwrap());
        assert_eq!(identities.carried_id(&headers, issued + 86_400).as_deref(), Some(id));
        assert_eq!(identities.carried_id(&headers, issued + 31 * 86_400), None, "a month after its last renewal");
        assert_eq!(identities.carried_id(&headers, issued - 3600), None, "issued in the future");
        // The forms' key does not accept it, nor another server's.
        assert_eq!(identities.signed_value(&headers, VISITOR_COOKIE), None);
        assert_eq!(Identities::new(&[8; 64], false).carried_id(&headers, issued), None);
    }
}
