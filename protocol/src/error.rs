//! What the client is told when something is refused or fails: one [`Refusal`] for "you may not be here", and
//! one wire error, [`AppError`], with one JSON shape for server functions and the upload route alike:
//!
//! ```json
//! {"error": "refused", "reason": "full", "message": "This room is full."}
//! {"error": "invalid", "message": "Give the room a title."}
//! {"error": "tooManyRequests", "limit": "sending", "retryAfter": 3, "message": "You are sending too fast. Wait 3 s."}
//! ```
//!
//! Server-side failures are logged with their cause where they turn into an `AppError` (see
//! `server::error::ServerError`); the client only ever learns "something went wrong".

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::InvalidInput;

/// Why a person may not see, enter or post to a room. Pages, server functions, the live channel and uploads all
/// answer with this one type; on the wire it is a camelCase code (`"notFound"`, `"full"`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Refusal {
    /// The room does not exist, or no longer does.
    NotFound,
    /// The room is locked and this person has not given its password.
    Password,
    /// Every place is taken.
    Full,
    /// The owner removed this person from the room; they cannot come back while it exists.
    Banned,
    /// Posting needs being in the room (joined on the live channel).
    NotPresent,
}

impl Refusal {
    pub const ALL: [Refusal; 5] =
        [Refusal::NotFound, Refusal::Password, Refusal::Full, Refusal::Banned, Refusal::NotPresent];

    /// The code used on the wire and in `/?notice=<code>`.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotFound => "notFound",
            Refusal::Password => "password",
            Refusal::Full => "full",
            Refusal::Banned => "banned",
            Refusal::NotPresent => "notPresent",
        }
    }

    pub fn from_code(code: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|refusal| refusal.code() == code)
    }

    pub fn status(self) -> u16 {
        match self {
            Refusal::NotFound => 404,
            Refusal::Password | Refusal::Banned | Refusal::NotPresent => 403,
            Refusal::Full => 409,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotFound => "This room does not exist (any more).",
            Refusal::Password => "This room needs its password.",
            Refusal::Full => "This room is full.",
            Refusal::Banned => "The owner removed you from this room.",
            Refusal::NotPresent => "You are not in this room.",
        })
    }
}

/// Which limit a request ran into (see `server::limits`): it says what the person did too fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Limit {
    PasswordAttempts,
    Sending,
    Reacting,
    Editing,
    Deleting,
    Typing,
    Uploading,
    /// More uploads in flight at once than allowed.
    UploadsAtOnce,
    CreatingRooms,
    /// Sharing GIFs to the library too fast.
    Sharing,
    /// Inviting people to private conversations too fast.
    Inviting,
    /// Too many new identities from one network.
    NewVisitors,
    /// Too many connections open from one network.
    Connections,
    /// Entering rooms (arriving where one was not) too fast.
    Arrivals,
    /// Too many live commands on one connection.
    Commands,
    /// Too many requests that write, of any kind, from one network (checked before anything else).
    Requests,
    /// The whole server's ceiling: not this person's doing.
    Busy,
}

impl Limit {
    /// Every limit.
    pub const ALL: [Limit; 17] = [
        Limit::PasswordAttempts,
        Limit::Sending,
        Limit::Reacting,
        Limit::Editing,
        Limit::Deleting,
        Limit::Typing,
        Limit::Uploading,
        Limit::UploadsAtOnce,
        Limit::CreatingRooms,
        Limit::Sharing,
        Limit::Inviting,
        Limit::NewVisitors,
        Limit::Connections,
        Limit::Arrivals,
        Limit::Commands,
        Limit::Requests,
        Limit::Busy,
    ];

    /// Its name in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Limit::PasswordAttempts => "password_attempts",
            Limit::Sending => "sending",
            Limit::Reacting => "reacting",
            Limit::Editing => "editing",
            Limit::Deleting => "deleting",
            Limit::Typing => "typing",
            Limit::Uploading => "uploading",
            Limit::UploadsAtOnce => "uploads_at_once",
            Limit::CreatingRooms => "creating_rooms",
            Limit::Sharing => "sharing",
            Limit::Inviting => "inviting",
            Limit::NewVisitors => "new_visitors",
            Limit::Connections => "connections",
            Limit::Arrivals => "arrivals",
            Limit::Commands => "commands",
            Limit::Requests => "requests",
            Limit::Busy => "busy",
        }
    }

    /// What the person is told, before "Wait N s.".
    fn sentence(self) -> &'static str {
        match self {
            Limit::PasswordAttempts => "Too many password attempts.",
            Limit::Sending => "You are sending too fast.",
            Limit::Reacting => "You are reacting too fast.",
            Limit::Editing => "You are editing too fast.",
            Limit::Deleting => "You are deleting too fast.",
            Limit::Typing => "Your page says you are typing too often.",
            Limit::Uploading => "You are sending GIFs too fast.",
            Limit::UploadsAtOnce => "Your other GIFs are still uploading.",
            Limit::CreatingRooms => "You are creating rooms too fast.",
            Limit::Sharing => "You are adding GIFs to the library too fast.",
            Limit::Inviting => "You are inviting people too fast.",
            Limit::NewVisitors => "Too many new visitors from your network.",
            Limit::Connections => "Too many connections from your network.",
            Limit::Arrivals => "You are entering rooms too fast.",
            Limit::Commands => "Your page is sending too many requests.",
            Limit::Requests => "Too many requests from your network.",
            Limit::Busy => "gif-chat is very busy right now.",
        }
    }
}

/// "Wait 3 s." or "Wait 2 min.": the wait, in the unit a person reads at a glance.
fn wait_sentence(seconds: u64) -> String {
    if seconds <= 90 { format!("Wait {seconds} s.") } else { format!("Wait {} min.", seconds.div_ceil(60)) }
}

/// The error that crosses the wire. Its `Display` is the message the UI shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(into = "WireError", from = "WireError")]
pub enum AppError {
    /// Input that breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// A request that is malformed as a whole (not multipart, a missing field, arguments that do not parse).
    #[error("{0}")]
    BadRequest(String),
    /// An upload over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// An upload that is not a clean GIF.
    #[error("{0}")]
    NotAGif(String),
    #[error("{0}")]
    Refused(Refusal),
    #[error("Wrong password.")]
    WrongPassword,
    /// Not allowed, whatever the client sends (a non-owner's kick or delete).
    #[error("{0}")]
    Forbidden(String),
    /// Over a limit; the next attempt is allowed after `retry_after` seconds.
    #[error("{} {}", limit.sentence(), wait_sentence(*retry_after))]
    TooManyRequests { limit: Limit, retry_after: u64 },
    /// The request's body stopped arriving (a stalled or deliberately slow upload).
    #[error("{0}")]
    Timeout(String),
    /// The server has no room left for uploads (its quota, or its disk).
    #[error("{0}")]
    StorageFull(String),
    /// The server cannot do its work right now (its database is unreachable); trying again later will do.
    #[error("The chat cannot reach its database right now. Try again in a moment.")]
    Unavailable,
    /// GIFs cannot be stored right now (the uploads' storage does not answer or cannot be written); text messages
    /// still work.
    #[error("GIFs cannot be stored right now; text messages still work. Try again later.")]
    UploadsUnavailable,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The request did not get through, or its answer did not come back (raised in the browser).
    #[error("{0}")]
    Unreachable(String),
}

impl AppError {
    /// A whisper whose recipient is not in the room: it is not sent, and never goes to everyone instead. The
    /// browser says the same before asking, when its own list already shows them gone.
    pub fn whisper_not_sent(recipient: &str) -> AppError {
        AppError::Invalid(format!("{recipient} is not here: your whisper was not sent."))
    }

    /// The HTTP status the error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid(_) => 422,
            AppError::BadRequest(_) => 400,
            AppError::TooLarge(_) => 413,
            AppError::NotAGif(_) => 415,
            AppError::Refused(refusal) => refusal.status(),
            AppError::WrongPassword | AppError::Forbidden(_) => 403,
            AppError::TooManyRequests { .. } => 429,
            AppError::StorageFull(_) => 507,
            AppError::Timeout(_) => 408,
            AppError::Unavailable | AppError::UploadsUnavailable => 503,
            AppError::Internal | AppError::Unreachable(_) => 500,
        }
    }

    /// Seconds to wait before trying again, for the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            AppError::Unavailable => Some(UNAVAILABLE_RETRY_SECS),
            AppError::UploadsUnavailable => Some(UPLOADS_RETRY_SECS),
            _ => None,
        }
    }
}

/// How long a client is asked to wait when the server cannot reach its database, or store uploads.
const UNAVAILABLE_RETRY_SECS: u64 = 5;
const UPLOADS_RETRY_SECS: u64 = 30;

impl From<InvalidInput> for AppError {
    fn from(error: InvalidInput) -> AppError {
        AppError::Invalid(error.0)
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> AppError {
        AppError::Refused(refusal)
    }
}

/// A plain form post's error, and the server function (its path, `/api/…`) that answered it: carried to the page
/// the post lands on (see `app::forms`).
#[derive(Debug, Clone, Serialize)]
pub struct FormError {
    pub path: String,
    pub error: AppError,
}

read_from_map!(FormError { path, error });

/// The one JSON shape of every error answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireError {
    error: String,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Refusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<Limit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

read_from_map!(WireError { error, message, reason = default, limit = default, retry_after as "retryAfter" = default });

impl From<AppError> for WireError {
    fn from(error: AppError) -> WireError {
        let code = match &error {
            AppError::Invalid(_) => "invalid",
            AppError::BadRequest(_) => "badRequest",
            AppError::TooLarge(_) => "tooLarge",
            AppError::NotAGif(_) => "notAGif",
            AppError::Refused(_) => "refused",
            AppError::WrongPassword => "wrongPassword",
            AppError::Forbidden(_) => "forbidden",
            AppError::TooManyRequests { .. } => "tooManyRequests",
            AppError::StorageFull(_) => "storageFull",
            AppError::Timeout(_) => "timeout",
            AppError::Unavailable => "unavailable",
            AppError::UploadsUnavailable => "uploadsUnavailable",
            AppError::Internal => "internal",
            AppError::Unreachable(_) => "unreachable",
        };
        let reason = match &error {
            AppError::Refused(refusal) => Some(*refusal),
            _ => None,
        };
        let limit = match &error {
            AppError::TooManyRequests { limit, .. } => Some(*limit),
            _ => None,
        };
        WireError {
            error: code.to_owned(),
            message: error.to_string(),
            reason,
            limit,
            retry_after: error.retry_after(),
        }
    }
}

impl From<WireError> for AppError {
    fn from(wire: WireError) -> AppError {
        match (wire.error.as_str(), wire.reason, wire.retry_after) {
            ("tooManyRequests", _, Some(retry_after)) => {
                AppError::TooManyRequests { limit: wire.limit.unwrap_or(Limit::Busy), retry_after }
            }
            ("storageFull", ..) => AppError::StorageFull(wire.message),
            ("timeout", ..) => AppError::Timeout(wire.message),
            ("invalid", ..) => AppError::Invalid(wire.message),
            ("badRequest", ..) => AppError::BadRequest(wire.message),
            ("tooLarge", ..) => AppError::TooLarge(wire.message),
            ("notAGif", ..) => AppError::NotAGif(wire.message),
            ("refused", Some(refusal), _) => AppError::Refused(refusal),
            ("wrongPassword", ..) => AppError::WrongPassword,
            ("forbidden", ..) => AppError::Forbidden(wire.message),
            ("unreachable", ..) => AppError::Unreachable(wire.message),
            ("unavailable", ..) => AppError::Unavailable,
            ("uploadsUnavailable", ..) => AppError::UploadsUnavailable,
            _ => AppError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<AppError> {
        let mut all = vec![
            AppError::Invalid("Give the room a title.".into()),
            AppError::BadRequest("No file.".into()),
            AppError::TooLarge("A GIF may be at most 10 MiB.".into()),
            AppError::NotAGif("That file is not a GIF.".into()),
            AppError::WrongPassword,
            AppError::Forbidden("Only the room's owner can do that.".into()),
            AppError::TooManyRequests { limit: Limit::Sending, retry_after: 12 },
            AppError::StorageFull("No room left for GIFs.".into()),
            AppError::Timeout("The upload stalled.".into()),
            AppError::Unavailable,
            AppError::UploadsUnavailable,
            AppError::Internal,
            AppError::Unreachable("offline".into()),
        ];
        all.extend(Refusal::ALL.map(AppError::Refused));
        all
    }

    #[test]
    fn every_error_survives_the_wire_in_one_shape() {
        for error in every_variant() {
            let json: serde_json::Value = serde_json::to_value(&error).unwrap();
            assert!(json["error"].is_string() && json["message"] == error.to_string(), "{json}");
            assert_eq!(serde_json::from_value::<AppError>(json).unwrap(), error);
        }
        let json = serde_json::to_value(AppError::Refused(Refusal::Full)).unwrap();
        assert_eq!(json, serde_json::json!({"error": "refused", "reason": "full", "message": "This room is full."}));
    }

    #[test]
    fn every_error_has_its_status() {
        let statuses: Vec<u16> = every_variant().iter().map(AppError::status).collect();
        assert_eq!(
            statuses,
            [422, 400, 413, 415, 403, 403, 429, 507, 408, 503, 503, 500, 500, 404, 403, 409, 403, 403]
        );
        let throttled = AppError::TooManyRequests { limit: Limit::Sending, retry_after: 3 };
        assert_eq!(throttled.retry_after(), Some(3));
        assert_eq!(throttled.to_string(), "You are sending too fast. Wait 3 s.");
        let long = AppError::TooManyRequests { limit: Limit::CreatingRooms, retry_after: 100 };
        assert_eq!(long.to_string(), "You are creating rooms too fast. Wait 2 min.");
    }

    #[test]
    fn refusal_codes_round_trip() {
        for refusal in Refusal::ALL {
            assert_eq!(Refusal::from_code(refusal.code()), Some(refusal));
            assert_eq!(serde_json::to_string(&refusal).unwrap(), format!("\"{}\"", refusal.code()));
        }
        assert_eq!(Refusal::from_code("<script>"), None);
    }
}
