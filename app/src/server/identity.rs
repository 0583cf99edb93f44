//! Who a visitor is: a random public id kept in their session, and the color and short name derived from it.
//!
//! Like color-hash, the color comes from a hash of the id, so it is stable across reloads and restarts. Unlike
//! color-hash, only the hue varies: lightness and chroma are fixed in Oklch, a perceptually uniform space, so every
//! color is equally easy to read and all of them pass WCAG AA (4.5:1) as text on the page background. A person
//! carries only the hue; the stylesheet draws it (`oklch(50% 0.13 <hue>)`, see `--person-color`).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::Method;
use palette::{FromColor, Oklab, Oklch};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use tower_sessions::cookie::{Cookie, CookieBuilder, CookieJar, Key, SameSite, time};

use crate::domain::{Hue, PersonId, stable_hash};
use crate::error::AppError;
use crate::model::Person;
use crate::server::AppState;
use crate::server::address::ClientAddress;
use crate::server::error::app_error_response;
use crate::server::store::{Db, server_secret};

/// Oklch chroma of identity colors (`--person-color` in style/main.css): colorful enough to tell hues apart. Their
/// lightness is the theme's (`--person-lightness`: dark on the light theme, light on the dark one); the chroma
/// is the same in both, so two hues are as far apart in either theme. The unit tests check all 3,600 hues on
/// every background of both themes.
const CHROMA: f32 = 0.13;

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

/// Derives a person's public identity from their id (one this server made).
pub fn person(id: &str) -> Person {
    let hash = stable_hash(id.as_bytes());
    // The top 16 bits pick the hue; the name uses other bits, so color and name vary independently.
    let hue = Hue::from_tenths((((hash >> 48) * u64::from(Hue::STEPS)) >> 16) as u32);
    Person { id: PersonId::trusted(id), name: short_name(hash), hue }
}

/// How visitors are recognised. Someone who only reads is known by a signed cookie carrying their id, which costs
/// the server nothing to keep; the first request that acts for them (a POST: create, send, enter, upload) stores
/// the id in their session, which from then on is what identifies them. Either way the id, and so the person,
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
    let acts = *request.method() != Method::GET && *request.method() != Method::HEAD;
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
                if let Err(error) = state.chat.limits().new_session(address) {
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

/// Below this Oklab distance two identity colors are too close to tell apart at a glance.
///
/// All identity colors of a theme share lightness and chroma, so their distance is 2·C·sin(Δhue/2), whatever the
/// lightness (so in both themes): 0.05 at C = 0.13 is a
/// hue difference of about 22°. A just-noticeable Oklab difference is about 0.02, but that is for large patches
/// side by side; for a small swatch and colored name seen in passing, 2.5 times that is a fair line. Two random
/// hues fall within 22° of each other with probability 44/360, about 1 in 8, so in a busy room it happens.
pub const CLOSE_COLOR_DISTANCE: f32 = 0.05;

/// An identity color in Oklch, at a theme's lightness.
fn identity_color(hue: Hue, lightness: f32) -> Oklch {
    Oklch::new(lightness, CHROMA, hue.degrees())
}

/// Oklab distance between the identity colors of two hues (the same in both themes).
pub fn color_distance(a: Hue, b: Hue) -> f32 {
    use palette::color_difference::EuclideanDistance;
    let lightness = 0.5;
    Oklab::from_color(identity_color(a, lightness)).distance(Oklab::from_color(identity_color(b, lightness)))
}

/// For each person, a distinguishing mark if someone else in `people` could be mistaken for them (a color
/// closer than [`CLOSE_COLOR_DISTANCE`], or the same name). The mark is the start of their id, long enough to
/// differ from everyone they could be mistaken for.
pub fn distinguishing_tags(people: &[Person]) -> Vec<Option<String>> {
    let mut tags = vec![None; people.len()];
    for (i, a) in people.iter().enumerate() {
        let rivals: Vec<&Person> = people
            .iter()
            .enumerate()
            .filter(|(j, b)| *j != i && (b.name == a.name || color_distance(a.hue, b.hue) < CLOSE_COLOR_DISTANCE))
            .map(|(_, b)| b)
            .collect();
        if rivals.is_empty() {
            continue;
        }
        let id = a.id.as_str();
        let mut length = 4.min(id.len());
        while length < id.len() && rivals.iter().any(|b| b.id.as_str().get(..length) == id.get(..length)) {
            length += 1;
        }
        tags[i] = Some(format!("#{}", &id[..length]));
    }
    tags
}

const ADJECTIVES: [&str; 64] = [
    "Amber", "Brave", "Breezy", "Bright", "Calm", "Clever", "Cosmic", "Cozy", "Crisp", "Curious", "Dapper", "Daring",
    "Dreamy", "Eager", "Fancy", "Fearless", "Fluffy", "Frosty", "Gentle", "Giddy", "Golden", "Happy", "Hasty",
    "Humble", "Jolly", "Keen", "Kind", "Lively", "Lucky", "Lunar", "Merry", "Mighty", "Misty", "Nimble", "Noble",
    "Peppy", "Plucky", "Polite", "Proud", "Quick", "Quiet", "Rapid", "Rosy", "Rustic", "Sassy", "Shiny", "Silent",
    "Silly", "Sleepy", "Snowy", "Solar", "Speedy", "Spicy", "Sunny", "Swift", "Tidy", "Tiny", "Velvet", "Witty",
    "Zany", "Zesty", "Wild", "Wise", "Young",
];

const ANIMALS: [&str; 64] = [
    "Alpaca", "Badger", "Beaver", "Bison", "Bobcat", "Camel", "Cheetah", "Cobra", "Cougar", "Coyote", "Crane", "Dingo",
    "Dolphin", "Donkey", "Eagle", "Falcon", "Ferret", "Finch", "Fox", "Gecko", "Gibbon", "Goose", "Heron", "Hippo",
    "Ibis", "Iguana", "Jackal", "Jaguar", "Koala", "Lemur", "Leopard", "Llama", "Lynx", "Magpie", "Marten", "Meerkat",
    "Moose", "Narwhal", "Ocelot", "Octopus", "Otter", "Owl", "Panda", "Panther", "Parrot", "Pelican", "Penguin",
    "Puffin", "Quail", "Rabbit", "Raccoon", "Raven", "Salmon", "Seal", "Sloth", "Swan", "Tapir", "Tiger", "Toucan",
    "Turtle", "Walrus", "Weasel", "Wombat", "Yak",
];

fn short_name(hash: u64) -> String {
    let adjective = ADJECTIVES[(hash & 63) as usize];
    let animal = ANIMALS[((hash >> 6) & 63) as usize];
    format!("{adjective} {animal}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use palette::color_difference::Wcag21RelativeContrast;
    use palette::{Clamp, Srgb};

    /// The stylesheet: the themes' colors are read from it, so the tests check what browsers draw.
    const STYLESHEET: &str = include_str!("../../../style/main.css");

    /// The custom properties (`--name: value;`) of the first `:root` block from `marker` on.
    fn theme(marker: &str) -> std::collections::HashMap<&'static str, &'static str> {
        let from = STYLESHEET.find(marker).expect("the theme's block");
        let start = from + STYLESHEET[from..].find(":root {").expect("its :root");
        let end = start + STYLESHEET[start..].find('}').expect("its end");
        STYLESHEET[start..end]
            .lines()
            .filter_map(|line| line.trim().strip_prefix("--")?.split_once(':'))
            .map(|(name, value)| (name, value.trim().trim_end_matches(';')))
            .collect()
    }

    fn hex(value: &str) -> Srgb<f32> {
        let channel = |at: usize| u8::from_str_radix(&value[at..at + 2], 16).expect("a #rrggbb color");
        Srgb::new(channel(1), channel(3), channel(5)).into_format()
    }

    /// About half the hues at these lightnesses and chroma lie a little outside sRGB. A browser draws them either
    /// by clipping each channel (as here) or by reducing chroma at the same lightness; clipping is the worse of
    /// the two for contrast, so passing here passes there.
    #[test]
    fn every_hue_reads_with_aa_contrast_on_every_background_of_both_themes() {
        assert!(STYLESHEET.contains(&format!("oklch(var(--person-lightness) {CHROMA} var(--person-hue))")));
        for marker in [":root {", "@media (prefers-color-scheme: dark)"] {
            let theme = theme(marker);
            let lightness: f32 = theme["person-lightness"].parse().expect("a lightness");
            // Where names are drawn in their color: the page, panels and cards, messages (others', one's own,
            // whispers).
            for background in ["bg", "surface", "message-bg", "mine-bg", "whisper-bg"] {
                let background = hex(theme[background]);
                let worst = (0..u32::from(Hue::STEPS))
                    .map(|tenth| {
                        let drawn: Srgb<u8> =
                            Srgb::from_color(identity_color(Hue::from_tenths(tenth), lightness)).clamp().into_format();
                        drawn.into_format::<f32>().relative_contrast(background)
                    })
                    .fold(f32::MAX, f32::min);
                assert!(worst >= 4.5, "{marker}: worst contrast {worst} on {background:?} is below WCAG AA");
            }
        }
    }

    /// Every pair of text and background colors the themes use reads at WCAG AA.
    #[test]
    fn theme_colors_read_with_aa_contrast() {
        let pairs = [
            ("text", "bg"),
            ("text", "surface"),
            ("text", "message-bg"),
            ("text", "mine-bg"),
            ("text", "tag-bg"),
            ("muted", "bg"),
            ("muted", "surface"),
            ("muted", "message-bg"),
            ("muted", "mine-bg"),
            ("muted", "whisper-bg"),
            ("muted", "tag-bg"),
            ("accent", "bg"),
            ("accent", "surface"),
            ("accent", "message-bg"),
            ("accent", "mine-bg"),
            ("accent", "whisper-bg"),
            ("unread-text", "unread-bg"),
            ("accent-text", "accent"),
            ("danger", "bg"),
            ("danger", "surface"),
            ("danger", "offline-bg"),
            ("whisper-text", "whisper-bg"),
            ("notice-text", "notice-bg"),
            ("badge-text", "badge-bg"),
        ];
        for marker in [":root {", "@media (prefers-color-scheme: dark)"] {
            let theme = theme(marker);
            for (text, background) in pairs {
                let contrast = hex(theme[text]).relative_contrast(hex(theme[background]));
                assert!(contrast >= 4.5, "{marker}: --{text} on --{background} is {contrast}");
            }
        }
    }

    const PINNED: (&str, u32) = ("Rustic Gecko", 1969);

    #[test]
    fn identity_is_stable_and_depends_only_on_the_id() {
        // The hash must never change, or every visitor gets a new identity (its FNV-1a is pinned in domain.rs).
        let a = person("0f8fad5bd9cb469fa16570867728950e");
        assert_eq!(a, person("0f8fad5bd9cb469fa16570867728950e"));
        assert_eq!((a.name.as_str(), a.hue), (PINNED.0, Hue::from_tenths(PINNED.1)));
        assert_ne!(a, person("0f8fad5bd9cb469fa16570867728950f"));
    }

    #[test]
    fn people_with_close_colors_or_equal_names_get_distinct_tags() {
        // Find two ids whose colors fall below the threshold, and one far from both.
        let people: Vec<Person> = (0..400).map(|n| person(&format!("{n:032x}"))).collect();
        let (a, b) = people
            .iter()
            .enumerate()
            .flat_map(|(i, a)| people[i + 1..].iter().map(move |b| (a, b)))
            .find(|(a, b)| color_distance(a.hue, b.hue) < CLOSE_COLOR_DISTANCE / 2.0)
            .expect("some pair of 400 visitors has close colors");
        let far = people
            .iter()
            .find(|c| {
                [a, b].iter().all(|x| color_distance(x.hue, c.hue) > 3.0 * CLOSE_COLOR_DISTANCE && x.name != c.name)
            })
            .unwrap();
        let tags = distinguishing_tags(&[a.clone(), far.clone(), b.clone()]);
        let (tag_a, tag_far, tag_b) = (tags[0].clone().unwrap(), tags[1].clone(), tags[2].clone().unwrap());
        assert_eq!(tag_far, None, "someone nobody resembles needs no tag");
        assert_ne!(tag_a, tag_b, "the two look-alikes are told apart");
        assert!(tag_a.starts_with('#') && a.id.as_str().starts_with(&tag_a[1..]));

        // Ids that share their first characters get longer tags.
        let twin_a = Person { id: PersonId::trusted("abcd1111"), name: "Same Name".into(), hue: Hue::from_tenths(0) };
        let twin_b =
            Person { id: PersonId::trusted("abcd2222"), name: "Same Name".into(), hue: Hue::from_tenths(1800) };
        let tags = distinguishing_tags(&[twin_a, twin_b]);
        assert_eq!(tags, vec![Some("#abcd1".to_owned()), Some("#abcd2".to_owned())]);
    }

    #[test]
    fn color_distance_is_the_chord_between_hues() {
        assert!(color_distance(Hue::from_tenths(100), Hue::from_tenths(100)) < 1e-6);
        // Same lightness and chroma: the distance is 2·C·sin(Δhue/2); opposite hues are 2·C apart.
        let opposite = color_distance(Hue::from_tenths(0), Hue::from_tenths(1800));
        assert!((opposite - 2.0 * CHROMA).abs() < 1e-3, "{opposite}");
        let close = color_distance(Hue::from_tenths(0), Hue::from_tenths(220));
        assert!((close - CLOSE_COLOR_DISTANCE).abs() < 2e-3, "22° apart is the look-alike line: {close}");
    }

    #[test]
    fn different_ids_spread_over_hues_and_names() {
        let people: Vec<Person> = (0..200).map(|n| person(&format!("visitor-{n}"))).collect();
        let colors: std::collections::HashSet<_> = people.iter().map(|p| p.hue).collect();
        let names: std::collections::HashSet<_> = people.iter().map(|p| &p.name).collect();
        assert!(colors.len() > 150, "only {} distinct colors for 200 visitors", colors.len());
        assert!(names.len() > 180, "only {} distinct names for 200 visitors", names.len());
    }
}
