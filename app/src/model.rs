//! Types shared by the server and the browser: what the pages render and what the live channel carries.

use serde::{Deserialize, Serialize};

/// A room's id as it appears in URLs (`/room/42`) and on the wire.
pub type RoomId = i64;

/// A person's public identity: a random id kept in their session, and the color and short name derived from it.
/// The id is not a credential (the session cookie is); it names the person in messages and participant lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    /// `#rrggbb`, readable (WCAG AA) as text on the page background.
    pub color: String,
}

/// A room as the room list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: RoomId,
    pub title: String,
    pub locked: bool,
    pub max_members: u32,
    pub present: u32,
    pub owner: Person,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// For rooms the viewer has entered before: messages from others since they last read it.
    pub unread: Option<u32>,
    /// For rooms the viewer has entered before: the latest message from someone else.
    pub last_message: Option<MessagePreview>,
}

/// A line of a message for the room list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePreview {
    pub author: Option<Person>,
    /// The text, shortened; "GIF" for a GIF.
    pub text: String,
    pub whisper: bool,
}

impl MessagePreview {
    pub const MAX_CHARS: usize = 80;

    pub fn of(message: &ChatMessage) -> MessagePreview {
        let text = match message.kind {
            MessageKind::Gif => "GIF".to_owned(),
            _ if message.body.chars().count() > Self::MAX_CHARS => {
                let mut short: String = message.body.chars().take(Self::MAX_CHARS - 1).collect();
                short.push('…');
                short
            }
            _ => message.body.clone(),
        };
        MessagePreview { author: message.author.clone(), text, whisper: message.kind == MessageKind::Whisper }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    Gif,
    System,
    /// A private message: only its author and its recipient ever see it.
    Whisper,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Gif => "gif",
            MessageKind::System => "system",
            MessageKind::Whisper => "whisper",
        }
    }

    pub fn parse(kind: &str) -> Option<MessageKind> {
        match kind {
            "text" => Some(MessageKind::Text),
            "gif" => Some(MessageKind::Gif),
            "system" => Some(MessageKind::System),
            "whisper" => Some(MessageKind::Whisper),
            _ => None,
        }
    }
}

/// One committed message of a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room_id: RoomId,
    /// Strictly increasing within the room, assigned at commit.
    pub seq: i64,
    pub kind: MessageKind,
    /// None for system messages.
    pub author: Option<Person>,
    /// The one person a whisper is for; None for every other kind.
    pub recipient: Option<Person>,
    /// The text; for a GIF, the URL path it is served at (`/gif/<name>`).
    pub body: String,
    /// Unix time in milliseconds.
    pub created_at: i64,
}

/// A person present in a room, as the participant panel shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub person: Person,
    pub owner: bool,
    /// Set when someone else present has a color too close to tell apart, or the same name: a short mark
    /// from the person's id (e.g. "#3fa2") shown beside the name, everywhere, so the two never look alike.
    pub tag: Option<String>,
}

/// Everything the chat page needs to render a room the visitor may enter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomView {
    pub room: RoomSummary,
    pub me: Person,
    /// Who is here, in order of arrival.
    pub participants: Vec<Participant>,
    /// The latest messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether messages older than the first one exist.
    pub has_earlier: bool,
}

/// What the room list page needs: who you are and every open room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lobby {
    pub me: Person,
    pub rooms: Vec<RoomSummary>,
}

/// What `/room/:id` shows: the room, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RoomAccess {
    Open(RoomView),
    NeedsPassword { id: RoomId, title: String },
    Full { id: RoomId, title: String, max_members: u32 },
    /// The owner removed the visitor from this room; they cannot come back while it exists.
    Banned { id: RoomId, title: String },
    NotFound,
}

/// A page of earlier messages for "Load earlier".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePage {
    pub messages: Vec<ChatMessage>,
    pub has_earlier: bool,
}

/// How many messages a page of history holds (first render and every "Load earlier").
pub const PAGE_SIZE: i64 = 50;
/// Room title length bounds, in characters.
pub const TITLE_MAX_CHARS: usize = 80;
/// Member limit bounds.
pub const MIN_MEMBERS: u32 = 2;
pub const MAX_MEMBERS: u32 = 100;
pub const DEFAULT_MEMBERS: u32 = 10;
/// Message length bound, in characters.
pub const MESSAGE_MAX_CHARS: usize = 2000;
/// Password length bound, in characters (argon2 accepts more; this caps the work a request can cause).
pub const PASSWORD_MAX_CHARS: usize = 128;
