//! Validated values, shared by the server (which enforces them) and the browser (which checks a form with the
//! same code before sending it). A value of one of these types that exists is valid: `parse` is the only way in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why raw input was not accepted, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid<T>(message: impl Into<String>) -> Result<T, InvalidInput> {
    Err(InvalidInput(message.into()))
}

/// Bidirectional embeddings, overrides and isolates: they can make text read differently from what it is
/// ("Trojan Source"), so user text never carries them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing, though they may take space: invisible ones, the Braille blank, Hangul fillers,
/// the combining grapheme joiner.
fn looks_blank(c: char) -> bool {
    is_invisible(c) || matches!(c, '\u{2800}' | '\u{3164}' | '\u{115F}' | '\u{1160}' | '\u{FFA0}' | '\u{034F}')
}

/// Characters that take no space: two titles that differ only by them would look the same.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{180E}' | '\u{00AD}')
}

/// A room's id as it appears in URLs (`/room/42`) and on the wire (a plain number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "server", derive(sqlx::Type), sqlx(transparent))]
pub struct RoomId(i64);

impl RoomId {
    pub const fn new(id: i64) -> RoomId {
        RoomId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::str::FromStr for RoomId {
    type Err = InvalidInput;

    /// A room id from a URL: a positive whole number.
    fn from_str(raw: &str) -> Result<RoomId, InvalidInput> {
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(RoomId(id)),
            _ => invalid("A room id is a positive whole number."),
        }
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A person's public id: random, kept in their session. Not a credential (the session cookie is); it names the
/// person in messages and participant lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "server", derive(sqlx::Type), sqlx(transparent))]
pub struct PersonId(String);

impl PersonId {
    /// Longest id accepted from a client (ours are 32 hex digits).
    const MAX_LEN: usize = 64;

    /// A person id given by a client (a whisper's recipient, a kick's target): letters and digits only.
    pub fn parse(raw: &str) -> Result<PersonId, InvalidInput> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return invalid("That is not a person's id.");
        }
        Ok(PersonId(raw.to_owned()))
    }

    /// An id this server made (a session's visitor id), taken as it is.
    #[cfg(feature = "server")]
    pub fn trusted(id: impl Into<String>) -> PersonId {
        PersonId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room title: one line, 1–80 characters, trimmed; bidirectional controls and invisible characters removed
/// (so no title can pass for another).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 80;

    pub fn parse(raw: &str) -> Result<Title, InvalidInput> {
        let visible: String = raw.chars().filter(|c| !is_bidi_control(*c) && !is_invisible(*c)).collect();
        let title = visible.trim();
        if title.is_empty() {
            return invalid("Give the room a title.");
        }
        if title.chars().count() > Self::MAX_CHARS {
            return invalid(format!("A title has at most {} characters.", Self::MAX_CHARS));
        }
        if title.chars().any(char::is_control) {
            return invalid("A title is one line of text.");
        }
        Ok(Title(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many people a room holds: 2 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberLimit(u32);

impl MemberLimit {
    pub const MIN: u32 = 2;
    pub const MAX: u32 = 100;
    pub const DEFAULT: u32 = 10;

    pub fn parse(raw: &str) -> Result<MemberLimit, InvalidInput> {
        match raw.trim().parse::<u32>() {
            Ok(value) if (Self::MIN..=Self::MAX).contains(&value) => Ok(MemberLimit(value)),
            _ => invalid(format!("Max members is a whole number from {} to {}.", Self::MIN, Self::MAX)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A new room's optional password: empty means none. Kept exactly as typed.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomPassword(String);

impl RoomPassword {
    /// Argon2 accepts more; this caps the work one request can cause.
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: Option<&str>) -> Result<Option<RoomPassword>, InvalidInput> {
        match raw {
            None | Some("") => Ok(None),
            Some(password) if password.chars().count() > Self::MAX_CHARS => {
                invalid(format!("A password has at most {} characters.", Self::MAX_CHARS))
            }
            Some(password) => Ok(Some(RoomPassword(password.to_owned()))),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RoomPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoomPassword(…)")
    }
}

/// A reaction: one of a fixed set of emoji, so that a message carries at most that many counts however many
/// people react.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Emoji(String);

impl Emoji {
    /// Every reaction, in the order they are offered and shown.
    pub const ALL: [&'static str; 8] = ["👍", "❤️", "😂", "😮", "😢", "🎉", "🔥", "👀"];

    pub fn parse(raw: &str) -> Result<Emoji, InvalidInput> {
        match Self::ALL.contains(&raw) {
            true => Ok(Emoji(raw.to_owned())),
            false => invalid(format!("React with one of {}.", Self::ALL.join(" "))),
        }
    }

    /// Where an emoji comes in [`Emoji::ALL`] (one not in it, last).
    pub fn position(emoji: &str) -> usize {
        Self::ALL.iter().position(|known| *known == emoji).unwrap_or(Self::ALL.len())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A chat message's text: not blank, at most 2,000 characters after trimming; line breaks and tabs kept, other
/// control characters (which only ever garble a chat) and bidirectional controls dropped first, so a message of
/// nothing else is blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<MessageBody, InvalidInput> {
        let kept = |c: &char| (!c.is_control() || *c == '\n' || *c == '\t') && !is_bidi_control(*c);
        let text: String = raw.chars().filter(kept).collect();
        let text = text.trim();
        // Only characters that show nothing (zero-width spaces, fillers) is an empty message that looks like a
        // blank line in everyone's room; inside text they stay (emoji are joined by one).
        if text.chars().all(|c| c.is_whitespace() || looks_blank(c)) {
            return invalid("Write something first.");
        }
        if text.chars().count() > Self::MAX_CHARS {
            return invalid(format!("A message has at most {} characters.", Self::MAX_CHARS));
        }
        if crate::mentions::mentioned(text).len() > crate::mentions::MAX_MENTIONS {
            return invalid(format!("A message mentions at most {} people.", crate::mentions::MAX_MENTIONS));
        }
        Ok(MessageBody(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A client's own id for a message it sends, making retries safe: 1–64 letters, digits, `-` or `_` (a UUID
/// fits). Empty means none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub fn parse(raw: Option<&str>) -> Result<Option<ClientMessageId>, InvalidInput> {
        match raw {
            None | Some("") => Ok(None),
            Some(id) if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
                Ok(Some(ClientMessageId(id.to_owned())))
            }
            Some(_) => invalid("A message id has at most 64 letters, digits, - or _."),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A hue of the identity color wheel, in tenths of a degree (0–3599). Colors stay hues until they are drawn:
/// the stylesheet turns one into a color for the current theme (`oklch(L C hue)`), so every theme picks its own
/// readable lightness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hue(u16);

impl Hue {
    pub const STEPS: u16 = 3600;

    /// The hue `tenths`/10 degrees, wrapped onto the wheel.
    pub fn from_tenths(tenths: u32) -> Hue {
        Hue((tenths % u32::from(Self::STEPS)) as u16)
    }

    pub fn degrees(self) -> f32 {
        f32::from(self.0) / 10.0
    }

    /// The CSS custom property that draws it (see `--person-hue` in style/main.css): `--person-hue: 120.5`, or
    /// `--person-hue: 120` for a whole degree. Written with integers: formatting a float would pull the float
    /// printing machinery (about 20 KB) into the browser's bundle for this one line.
    pub fn css_style(self) -> String {
        match (self.0 / 10, self.0 % 10) {
            (whole, 0) => format!("--person-hue: {whole}"),
            (whole, tenths) => format!("--person-hue: {whole}.{tenths}"),
        }
    }
}

/// A 64-bit hash that is the same in every build and on both sides (the server and the WASM): FNV-1a, then
/// MurmurHash3's finalizer (FNV's high bits barely change between similar inputs; after it every input bit affects
/// every output bit). Identities are derived from it, so it must never change.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let fnv1a = fnv1a(bytes);
    let mut hash = fnv1a ^ (fnv1a >> 33);
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// 64-bit FNV-1a: tiny, and unlike `std`'s hasher guaranteed to give the same value in every build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(Title::parse("  Cats  ").unwrap().as_str(), "Cats");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(81)).is_err());
        assert_eq!(Title::parse(&"é".repeat(80)).unwrap().as_str().chars().count(), 80, "characters, not bytes");
        assert!(Title::parse("a\u{7}b").is_err());
        assert_eq!(Title::parse("Ca\u{200B}ts\u{202E}").unwrap().as_str(), "Cats", "invisible and bidi characters go");
        assert!(Title::parse("\u{200B}\u{FEFF}").is_err(), "nothing visible is no title");
        assert_eq!(
            Title::parse("<script>x</script>").unwrap().as_str(),
            "<script>x</script>",
            "escaping is the view's"
        );
    }

    #[test]
    fn member_limits() {
        assert_eq!(MemberLimit::parse("10").unwrap().get(), 10);
        assert_eq!(MemberLimit::parse(" 2 ").unwrap().get(), 2);
        assert_eq!(MemberLimit::parse("100").unwrap().get(), 100);
        for bad in ["1", "101", "0", "-5", "ten", "", "3.5", "99999999999"] {
            assert!(MemberLimit::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(RoomPassword::parse(None).unwrap(), None);
        assert_eq!(RoomPassword::parse(Some("")).unwrap(), None);
        assert_eq!(RoomPassword::parse(Some(" secret ")).unwrap().unwrap().expose(), " secret ", "kept as typed");
        assert!(RoomPassword::parse(Some(&"p".repeat(129))).is_err());
        assert!(!format!("{:?}", RoomPassword::parse(Some("hunter2")).unwrap()).contains("hunter2"));
    }

    #[test]
    fn client_message_ids() {
        assert_eq!(ClientMessageId::parse(None).unwrap(), None);
        let uuid = "6f1c2a4e-0b7d-4c1e-9a55-2f8d3c7b9e10";
        assert_eq!(ClientMessageId::parse(Some(uuid)).unwrap().unwrap().as_str(), uuid);
        assert!(ClientMessageId::parse(Some("has space")).is_err());
        assert!(ClientMessageId::parse(Some(&"x".repeat(65))).is_err());
    }

    #[test]
    fn message_bodies() {
        assert_eq!(MessageBody::parse("  hi\nthere \n").unwrap().as_str(), "hi\nthere");
        assert!(MessageBody::parse(" \n\t ").is_err());
        assert!(MessageBody::parse(&"x".repeat(2001)).is_err());
        assert!(MessageBody::parse(&"x".repeat(2000)).is_ok());
        assert_eq!(MessageBody::parse("a\u{0}b").unwrap().as_str(), "ab");
        assert!(MessageBody::parse("\u{1}\u{2}\u{7f}").is_err(), "only control characters is blank");
        assert!(MessageBody::parse("\u{202E}\u{2066}").is_err());
        for blank in ["\u{200B}", " \u{200B}\u{FEFF} ", "\u{2800}", "\u{3164}\u{200D}"] {
            assert!(MessageBody::parse(blank).is_err(), "{blank:?} looks empty");
        }
        assert_eq!(MessageBody::parse("abc\u{202E}fed").unwrap().as_str(), "abcfed", "no override survives");
        assert_eq!(
            MessageBody::parse("👨\u{200D}👩\u{200D}👧").unwrap().as_str(),
            "👨\u{200D}👩\u{200D}👧",
            "emoji joiners stay"
        );
    }

    #[test]
    fn ids() {
        assert_eq!("42".parse::<RoomId>().unwrap(), RoomId::new(42));
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert!(bad.parse::<RoomId>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(serde_json::to_string(&RoomId::new(7)).unwrap(), "7");
        assert!(PersonId::parse("3fa2bc").is_ok());
        for bad in ["", "../x", "a b", &"a".repeat(65)] {
            assert!(PersonId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hues_wrap_and_draw() {
        assert_eq!(Hue::from_tenths(3605), Hue::from_tenths(5));
        assert_eq!(Hue::from_tenths(1234).css_style(), "--person-hue: 123.4");
        assert_eq!(Hue::from_tenths(1230).css_style(), "--person-hue: 123");
        assert_eq!(Hue::from_tenths(7).css_style(), "--person-hue: 0.7");
    }

    #[test]
    fn the_stable_hash_never_changes() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        // (The finalizer is pinned through a person's name and hue in `server::identity`'s tests.)
    }
}
