//! Input rules, shared by the server (which enforces them) and the browser (which can explain them early).
//! Each function turns raw input into a valid value or an [`AppError::Invalid`] with a message for people.

use crate::error::AppError;
use crate::model::{MAX_MEMBERS, MESSAGE_MAX_CHARS, MIN_MEMBERS, PASSWORD_MAX_CHARS, TITLE_MAX_CHARS};

/// A room title: trimmed, 1–80 characters, no control characters.
pub fn title(raw: &str) -> Result<String, AppError> {
    let title = raw.trim();
    if title.is_empty() {
        return Err(AppError::invalid("Give the room a title."));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(AppError::invalid(format!("A title has at most {TITLE_MAX_CHARS} characters.")));
    }
    if title.chars().any(char::is_control) {
        return Err(AppError::invalid("A title is one line of text."));
    }
    Ok(title.to_owned())
}

/// A member limit: a whole number from 2 to 100.
pub fn max_members(raw: &str) -> Result<u32, AppError> {
    let error = || AppError::invalid(format!("Max members is a whole number from {MIN_MEMBERS} to {MAX_MEMBERS}."));
    let value: u32 = raw.trim().parse().map_err(|_| error())?;
    if (MIN_MEMBERS..=MAX_MEMBERS).contains(&value) { Ok(value) } else { Err(error()) }
}

/// An optional room password: empty means none; otherwise at most 128 characters.
pub fn new_password(raw: Option<&str>) -> Result<Option<String>, AppError> {
    match raw {
        None | Some("") => Ok(None),
        Some(password) if password.chars().count() > PASSWORD_MAX_CHARS => {
            Err(AppError::invalid(format!("A password has at most {PASSWORD_MAX_CHARS} characters.")))
        }
        Some(password) => Ok(Some(password.to_owned())),
    }
}

/// A chat message: not blank, at most 2,000 characters (after trimming surrounding blank lines and spaces).
pub fn message(raw: &str) -> Result<String, AppError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(AppError::invalid("Write something first."));
    }
    if text.chars().count() > MESSAGE_MAX_CHARS {
        return Err(AppError::invalid(format!("A message has at most {MESSAGE_MAX_CHARS} characters.")));
    }
    // Keep line breaks and tabs; drop other control characters, which only ever garble a chat.
    Ok(text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect())
}

/// A client's id for a message: optional; 1–64 letters, digits, `-` or `_` (a UUID fits).
pub fn client_id(raw: Option<&str>) -> Result<Option<String>, AppError> {
    match raw {
        None | Some("") => Ok(None),
        Some(id) if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Ok(Some(id.to_owned()))
        }
        Some(_) => Err(AppError::invalid("A message id has at most 64 letters, digits, - or _.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(title("  Cats  ").unwrap(), "Cats");
        assert!(title("   ").is_err());
        assert!(title(&"x".repeat(81)).is_err());
        assert_eq!(title(&"é".repeat(80)).unwrap().chars().count(), 80, "the limit counts characters, not bytes");
        assert!(title("a\u{7}b").is_err());
        assert_eq!(title("<script>alert(1)</script>").unwrap(), "<script>alert(1)</script>", "escaping is the view's job");
    }

    #[test]
    fn member_limits() {
        assert_eq!(max_members("10").unwrap(), 10);
        assert_eq!(max_members(" 2 ").unwrap(), 2);
        assert_eq!(max_members("100").unwrap(), 100);
        for bad in ["1", "101", "0", "-5", "ten", "", "3.5", "99999999999"] {
            assert!(max_members(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(new_password(None).unwrap(), None);
        assert_eq!(new_password(Some("")).unwrap(), None);
        assert_eq!(new_password(Some(" secret ")).unwrap().as_deref(), Some(" secret "), "kept exactly as typed");
        assert!(new_password(Some(&"p".repeat(129))).is_err());
    }

    #[test]
    fn client_ids() {
        assert_eq!(client_id(None).unwrap(), None);
        assert_eq!(client_id(Some("6f1c2a4e-0b7d-4c1e-9a55-2f8d3c7b9e10")).unwrap().as_deref(), Some("6f1c2a4e-0b7d-4c1e-9a55-2f8d3c7b9e10"));
        assert!(client_id(Some("has space")).is_err());
        assert!(client_id(Some(&"x".repeat(65))).is_err());
    }

    #[test]
    fn messages() {
        assert_eq!(message("  hi\nthere \n").unwrap(), "hi\nthere");
        assert!(message(" \n\t ").is_err());
        assert!(message(&"x".repeat(2001)).is_err());
        assert!(message(&"x".repeat(2000)).is_ok());
        assert_eq!(message("a\u{0}b").unwrap(), "ab");
    }
}
