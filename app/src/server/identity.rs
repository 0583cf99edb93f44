//! Who a visitor is, as the web sees it: a random public id kept in their session (for a reader, in a signed
//! cookie), and the layer that gives every request one. The name and color derived from the id: `chat::identity`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use tower_sessions::cookie::{Cookie, CookieBuilder, CookieJar, Key, SameSite, time};

use ::chat::identity::person;
use ::chat::store::{Db, server_secret};

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
    /// Signs the visitor cookie. Kept in the database, so every instance sharing it accepts the same cookies.
    key: Key,
    /// Behind TLS the cookie is `Secure` and `__Host-` prefixed, like the session's.
    secure: bool,
    /// How long after its last renewal a visit renews a session (one write per visitor per period at most).
    renew_after: std::time::Duration,
}

/// How long a reader's visitor cookie lasts after their last visit (the same as a session's inactivity expiry).
const VISITOR_COOKIE_DAYS: i64 = 30;
const VISITOR_COOKIE: &str = "gif_chat_visitor";

impl Identities {
    pub fn new(key: Key, secure: bool) -> Identities {
        Identities { key, secure, renew_after: std::time::Duration::from_secs(86_400) }
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
        let key = Key::try_from(stored.as_slice())
            .map_err(|error| sqlx::Error::Protocol(format!("the stored visitor cookie key is unusable: {error}")))?;
        Ok(Identities::new(key, secure))
    }

    /// A cookie's name as this server sets it: behind TLS `__Host-` prefixed (this host only, over TLS only).
    pub fn cookie_name(&self, name: &str) -> String {
        if self.secure { format!("__Host-{name}") } else { name.to_owned() }
    }

    /// The value of the cookie `name` in the request's headers, if this server signed it.
    pub fn signed_value(&self, headers: &http::HeaderMap, name: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        for header in headers.get_all(http::header::COOKIE) {
            for cookie in Cookie::split_parse_encoded(header.to_str().unwrap_or_default()).flatten() {
                jar.add_original(cookie.into_owned());
            }
        }
        Some(jar.signed(&self.key).get(name)?.value().to_owned())
    }

    /// A `Set-Cookie` value for `cookie` (path `/`, HTTP only, `Secure` behind TLS), signed.
    pub fn signed_cookie(&self, cookie: CookieBuilder<'static>) -> Option<http::HeaderValue> {
        let cookie = cookie.path("/").http_only(true).secure(self.secure).build();
        let name = cookie.name().to_owned();
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(cookie);
        http::HeaderValue::from_str(&jar.get(&name)?.encoded().to_string()).ok()
    }

    /// A `Set-Cookie` value that deletes the cookie `name`.
    pub fn removal_cookie(&self, name: String) -> http::HeaderValue {
        let cookie =
            Cookie::build((name, "")).path("/").http_only(true).secure(self.secure).max_age(time::Duration::ZERO);
        http::HeaderValue::from_str(&cookie.build().encoded().to_string())
            .expect("a cookie without a value is a valid header")
    }

    /// The id in the request's visitor cookie, if it carries one this server signed.
    fn carried_id(&self, headers: &http::HeaderMap) -> Option<String> {
        let id = self.signed_value(headers, &self.cookie_name(VISITOR_COOKIE))?;
        PersonId::parse(&id).is_ok().then_some(id)
    }

    /// A `Set-Cookie` value carrying `id`, signed.
    fn visitor_cookie(&self, id: &str) -> Option<http::HeaderValue> {
        let cookie = Cookie::build((self.cookie_name(VISITOR_COOKIE), id.to_owned()))
            .same_site(SameSite::Lax)
            .max_age(time::Duration::days(VISITOR_COOKIE_DAYS));
        self.signed_cookie(cookie)
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
            let id = state.identities.carried_id(request.headers()).unwrap_or_else(new_visitor_id);
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
    if renew_cookie && let Some(cookie) = state.identities.visitor_cookie(&id) {
        response.headers_mut().append(http::header::SET_COOKIE, cookie);
    }
    response
}

fn new_visitor_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
