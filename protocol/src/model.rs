//! Types shared by the server and the browser: what the pages render and what the live channel carries.

use serde::{Deserialize, Serialize};

use crate::domain::Emoji;
pub use crate::domain::{Hue, PersonId, RoomId};
use crate::error::Refusal;

/// A person's public identity: a random id kept in their session, and the hue and short name derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Person {
    pub id: PersonId,
    pub name: String,
    /// Their color, as a hue: the stylesheet draws it readable (WCAG AA) on the page background.
    pub hue: Hue,
}

read_from_map!(Person { id, name, hue });

/// A room as the room list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomSummary {
    pub id: RoomId,
    pub title: String,
    pub locked: bool,
    pub max_members: u32,
    pub present: u32,
    /// Orders presence updates: a `roomPresence` or `people` event older than this is stale.
    pub presence_version: u64,
    pub owner: Person,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// For rooms the viewer has entered before: messages from others since they last read it.
    pub unread: Option<u32>,
    /// For rooms the viewer has entered before: the latest message from someone else.
    pub last_message: Option<MessagePreview>,
    /// Whether the room's owner removed the viewer from it (they cannot enter it). Only in lists made for one
    /// person; announcements to every list leave it out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub banned: bool,
    /// A private conversation of two (never on the list; only its two people see it). Only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

read_from_map!(RoomSummary { id, title, locked, max_members, present, presence_version, owner, created_at, unread = default, last_message = default, banned = default, private = default });

/// A line of a message for the room list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessagePreview {
    /// The message's number in its room: a list drops an activity it has counted already.
    pub seq: i64,
    pub author: Option<Person>,
    /// The text, shortened; "GIF" for a GIF.
    pub text: String,
    pub whisper: bool,
}

read_from_map!(MessagePreview { seq, author = default, text, whisper });

impl MessagePreview {
    pub const MAX_CHARS: usize = 80;

    pub fn of(message: &ChatMessage) -> MessagePreview {
        let text = match message.kind {
            _ if message.deleted.is_some() => message.deleted.map(Deleted::notice).unwrap_or_default().to_owned(),
            MessageKind::Gif => "GIF".to_owned(),
            _ => {
                let text = message.plain_text();
                if text.chars().count() > Self::MAX_CHARS {
                    let mut short: String = text.chars().take(Self::MAX_CHARS - 1).collect();
                    short.push('…');
                    short
                } else {
                    text
                }
            }
        };
        MessagePreview {
            seq: message.seq,
            author: message.author.clone(),
            text,
            whisper: message.kind == MessageKind::Whisper,
        }
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Its reactions, in the order of `Emoji::ALL`: counts, not lists (who reacted is asked for separately).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The message it answers, as it stands (an excerpt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Box<Quote>>,
    /// When its author last changed its text (Unix ms), if they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Who took it back, if it was: it is then a tombstone (no text, no GIF, no reactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Deleted>,
    /// For a GIF, the URL path of the looping video made of it, once it is ready (pages then play it, the GIF
    /// being its fallback); until then, and for a GIF whose video would not be smaller, none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    /// The people its text mentions (`<@id>` in `body`, see [`crate::mentions`]), each once, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Person>,
}

read_from_map!(ChatMessage { room_id, seq, kind, author = default, recipient = default, body, created_at, reactions = default, reply_to = default, edited_at = default, deleted = default, video = default, mentions = default });

impl ChatMessage {
    /// Its text with its mentions as "@name": what shows where only text does.
    pub fn plain_text(&self) -> String {
        crate::mentions::with_names(&self.body, &self.mentions)
    }
}

/// Who deleted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Deleted {
    /// Its author unsent it.
    ByAuthor,
    /// The room's owner removed it.
    ByOwner,
}

impl Deleted {
    pub fn as_str(self) -> &'static str {
        match self {
            Deleted::ByAuthor => "author",
            Deleted::ByOwner => "owner",
        }
    }

    pub fn parse(stored: &str) -> Option<Deleted> {
        match stored {
            "author" => Some(Deleted::ByAuthor),
            "owner" => Some(Deleted::ByOwner),
            _ => None,
        }
    }

    /// What its tombstone says.
    pub fn notice(self) -> &'static str {
        match self {
            Deleted::ByAuthor => "Message deleted",
            Deleted::ByOwner => "Removed by the owner",
        }
    }
}

/// The message a reply answers, as the reply shows it: who wrote it and the start of it (a GIF's address, whose
/// still the reply shows), or that it was deleted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quote {
    pub seq: i64,
    pub kind: MessageKind,
    pub author: Option<Person>,
    /// The first [`Quote::MAX_CHARS`] characters of its text, or its GIF's address; empty if it was deleted.
    pub excerpt: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

read_from_map!(Quote { seq, kind, author = default, excerpt, deleted = default });

impl Quote {
    pub const MAX_CHARS: usize = 120;

    /// The quote of `message`: the start of its text.
    pub fn of(message: &ChatMessage) -> Quote {
        // A tombstone's body is empty, and a GIF's address is never long.
        let deleted = message.deleted.is_some();
        let text = message.plain_text();
        let mut excerpt: String = text.chars().take(Quote::MAX_CHARS).collect();
        if text.chars().count() > Quote::MAX_CHARS {
            excerpt.push('…');
        }
        Quote { seq: message.seq, kind: message.kind, author: message.author.clone(), excerpt, deleted }
    }
}

/// How many people reacted to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    /// Whether the reader is one of them. Only in answers made for one reader (a page, a catch-up, their own
    /// reaction's answer); a `changed` event, the same for everyone, leaves it out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
}

read_from_map!(Reaction { emoji, count, mine = default });

/// A reaction given or taken back, as a `reactions` event says it: `by` gave (`added`) or took back their `emoji`
/// on message `message` (its `seq`), which leaves `count` of that emoji on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionChange {
    pub message: i64,
    pub emoji: String,
    pub by: PersonId,
    pub added: bool,
    pub count: u32,
}

read_from_map!(ReactionChange { message, emoji, by, added, count });

impl ChatMessage {
    /// Takes in `newer` (the same message after an edit or a deletion): its text and reactions, keeping which
    /// reactions are the reader's as this copy knows them unless `newer` knows (it was made for the reader).
    pub fn take_change(&mut self, newer: ChatMessage) {
        let mine_before: Vec<String> = self.reactions.iter().filter(|r| r.mine).map(|r| r.emoji.clone()).collect();
        let ChatMessage { body, reactions, edited_at, deleted, video, .. } = newer;
        self.body = body;
        self.reactions = reactions;
        self.edited_at = edited_at;
        self.deleted = deleted;
        self.video = video;
        for reaction in &mut self.reactions {
            reaction.mine |= mine_before.contains(&reaction.emoji);
        }
    }

    /// Takes in a reaction given or taken back (to this message): the emoji's new count, and whether it is the
    /// reader's (`me`) if the change was theirs. Changes taken in their order leave the counts as the server has
    /// them.
    pub fn take_reaction(&mut self, change: &ReactionChange, me: &PersonId) {
        let was_mine = match self.reactions.iter().position(|r| r.emoji == change.emoji) {
            Some(at) => self.reactions.remove(at).mine,
            None => false,
        };
        let mine = if change.by == *me { change.added } else { was_mine };
        if change.count > 0 {
            let place = Emoji::position(&change.emoji);
            let at = self.reactions.partition_point(|r| Emoji::position(&r.emoji) < place);
            self.reactions.insert(at, Reaction { emoji: change.emoji.clone(), count: change.count, mine });
        }
    }

    /// Whether `reader` may read this message (a whisper is for its two people only).
    pub fn readable_by(&self, reader: &PersonId) -> bool {
        self.kind != MessageKind::Whisper || self.whisperers().any(|person| person.id == *reader)
    }

    /// For a whisper, the one of its two people who is not `me`.
    pub fn whispered_with(&self, me: &PersonId) -> Option<&Person> {
        (self.kind == MessageKind::Whisper).then(|| self.whisperers().find(|person| person.id != *me)).flatten()
    }

    fn whisperers(&self) -> impl Iterator<Item = &Person> {
        [&self.author, &self.recipient].into_iter().flatten()
    }

    /// Quotes `answered` as it stands now, if this is a reply to it (it was edited or deleted).
    pub fn requote(&mut self, answered: &ChatMessage) {
        if let Some(quote) = self.reply_to.as_mut().filter(|quote| quote.seq == answered.seq) {
            **quote = Quote::of(answered);
        }
    }

    /// Whether `person` may still change the text of this message at `now` (Unix ms): their own text, not
    /// deleted, within `window_millis` of sending.
    pub fn editable_by(&self, person: &PersonId, now: i64, window_millis: i64) -> bool {
        matches!(self.kind, MessageKind::Text | MessageKind::Whisper)
            && self.deleted.is_none()
            && self.author.as_ref().is_some_and(|author| author.id == *person)
            && now - self.created_at < window_millis
    }

    /// The reactions with `emoji`, if there are any.
    pub fn reaction_of(&self, emoji: &str) -> Option<&Reaction> {
        self.reactions.iter().find(|r| r.emoji == emoji)
    }
}

/// A shelf of the GIF picker: the GIFs of the room one is in, one's own, or the library shared with everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shelf {
    Room,
    Mine,
    Library,
}

impl Shelf {
    pub const ALL: [Shelf; 3] = [Shelf::Room, Shelf::Mine, Shelf::Library];

    /// Its tab's name, for people.
    pub fn title(self) -> &'static str {
        match self {
            Shelf::Room => "This room",
            Shelf::Mine => "Mine",
            Shelf::Library => "Library",
        }
    }

    /// As a server function's argument spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Shelf::Room => "room",
            Shelf::Mine => "mine",
            Shelf::Library => "library",
        }
    }
}

/// The most characters of the words a GIF is shared to the library with (the server's rule, and the page's box).
pub const MAX_LIBRARY_WORDS: usize = 100;

/// A GIF the picker offers, to post again by reference: its stored name (`<hex>.gif`, served at `/gif/<name>`, its
/// still beside it), the words it was shared with (the library's), and when it was last posted, uploaded or
/// shared (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferedGif {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<String>,
    pub at: i64,
}

read_from_map!(OfferedGif { name, words = default, at });

/// Who reacted to a message, per emoji (the first [`MAX_REACTORS_LISTED`] of each, earliest first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reactors {
    pub emoji: String,
    pub people: Vec<Person>,
    /// How many reacted so in all.
    pub count: u32,
}

read_from_map!(Reactors { emoji, people, count });

/// How many of the people who reacted with one emoji are named.
pub const MAX_REACTORS_LISTED: u32 = 30;

/// A person present in a room, as the participant panel shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Participant {
    pub person: Person,
    pub owner: bool,
    /// Set when someone else present has a color too close to tell apart, or the same name: a short mark
    /// from the person's id (e.g. "#3fa2") shown beside the name, everywhere, so the two never look alike.
    pub tag: Option<String>,
}

read_from_map!(Participant { person, owner, tag = default });

/// A change of who is in a room, as the live channel sends it (`people`): small whatever the room's size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeopleChange {
    /// Orders the changes of a room's presence (like `roomPresence`): one not above the last seen is stale.
    pub version: u64,
    /// Who arrived, with their tags, in order of arrival.
    pub arrived: Vec<Participant>,
    pub left: Vec<PersonId>,
    /// Who owns the room after the change.
    pub owner: PersonId,
    /// Others whose tag changed (a look-alike arrived or left); `None` for a tag that went.
    pub retagged: Vec<(PersonId, Option<String>)>,
    /// How many are here after the change.
    pub present: u32,
    /// [`roster_digest`] of who is here after the change.
    pub digest: u32,
}

read_from_map!(PeopleChange { version, arrived, left, owner, retagged, present, digest });

impl PeopleChange {
    /// Whether no one arrived or left (a hand-over, or where the room stands).
    fn is_nothing(&self) -> bool {
        self.arrived.is_empty() && self.left.is_empty()
    }

    /// Applies the change to a list of who is here. False if the list then is not who the server says is here:
    /// a change was missed (dropped, or overtaken by a newer one), and the whole list has to be loaded again.
    pub fn apply(&self, people: &mut Vec<Participant>) -> bool {
        // Someone who arrives again (left and came back while a change was missed) goes last, as on the server.
        people.retain(|p| {
            let id = &p.person.id;
            !self.left.contains(id) && !self.arrived.iter().any(|newcomer| newcomer.person.id == *id)
        });
        people.extend(self.arrived.iter().cloned());
        for participant in people.iter_mut() {
            participant.owner = participant.person.id == self.owner;
            if let Some((_, tag)) = self.retagged.iter().find(|(id, _)| *id == participant.person.id) {
                participant.tag = tag.clone();
            }
        }
        people.len() == self.present as usize && roster_digest(people.iter().map(|p| &p.person.id)) == self.digest
    }
}

/// Who is in a room, in 32 bits, the same whatever the order: each person's [`stable_hash`] of their id,
/// combined. A client checks its list against the server's with it.
///
/// [`stable_hash`]: crate::domain::stable_hash
pub fn roster_digest<'a>(people: impl IntoIterator<Item = &'a PersonId>) -> u32 {
    let combined = people.into_iter().fold(0u64, |all, id| all ^ crate::domain::stable_hash(id.as_str().as_bytes()));
    (combined ^ (combined >> 32)) as u32
}

/// Who is in a room as a client follows it: a whole list at a presence version, then the changes the live
/// channel brings. Changes can arrive out of order (two changes are published by different tasks), so one that
/// does not add up waits for those before it; the list moves on as soon as the changes it holds add up again.
/// While changes wait ([`Roster::is_waiting`]), the one before them may be lost (a connection that fell behind is
/// told where the room stands instead): the client loads the whole list again after a while ([`Roster::replace`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    people: Vec<Participant>,
    version: u64,
    /// Changes newer than `version` that did not add up yet, in version order.
    waiting: Vec<PeopleChange>,
    /// Set when the list added up again only past a change that did not: one between was lost, and with it
    /// perhaps a tag or a place in the order that the count and digest do not cover.
    skipped: bool,
}

impl Roster {
    pub fn new(people: Vec<Participant>, version: u64) -> Roster {
        Roster { people, version, waiting: Vec::new(), skipped: false }
    }

    /// Who is here, in order of arrival.
    pub fn people(&self) -> &[Participant] {
        &self.people
    }

    /// The presence version of [`Roster::people`].
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether changes wait for one that has not come (yet), or one was lost: if this lasts, the list is to be
    /// loaded whole.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty() || self.skipped
    }

    /// Takes a change from the live channel; says whether the list moved. A change not newer than the list is
    /// stale and dropped.
    pub fn receive(&mut self, change: PeopleChange) -> bool {
        if change.version <= self.version {
            return false;
        }
        match self.waiting.binary_search_by_key(&change.version, |waiting| waiting.version) {
            // Where the room stood at a version (a change of nothing, sent to a connection that fell behind) and
            // the change that made that version: the change says more.
            Ok(held) if self.waiting[held].is_nothing() && !change.is_nothing() => self.waiting[held] = change,
            Ok(_) => return false,
            Err(position) => self.waiting.insert(position, change),
        }
        self.settle()
    }

    /// Takes the whole list (loaded with `who_is_here`); says whether the list moved. A list older than this one
    /// is dropped; changes newer than it still apply.
    pub fn replace(&mut self, people: Vec<Participant>, version: u64) -> bool {
        if version < self.version || (version == self.version && !self.is_waiting()) {
            return false;
        }
        self.people = people;
        self.version = version;
        self.skipped = false;
        self.waiting.retain(|change| change.version > version);
        self.settle();
        true
    }

    /// Applies the waiting changes in version order, and keeps the last list they made that adds up: from there,
    /// what the server says is here is what is here. Says whether the list moved.
    fn settle(&mut self) -> bool {
        let mut list = self.people.clone();
        let (mut settled, mut missed) = (None, false);
        for (index, change) in self.waiting.iter().enumerate() {
            if change.apply(&mut list) {
                settled = Some((index, list.clone(), missed));
            } else {
                missed = true;
            }
        }
        let Some((index, people, skipped)) = settled else { return false };
        self.skipped |= skipped;
        self.version = self.waiting[index].version;
        self.people = people;
        self.waiting.drain(..=index);
        true
    }
}

/// Someone the room's owner removed, on the owner's list of bans.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ban {
    pub person: Person,
    /// Unix time in milliseconds.
    pub banned_at: i64,
}

read_from_map!(Ban { person, banned_at });

/// Who is in a room, whole, at a presence version (`who_is_here`, and a page's first list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct People {
    pub people: Vec<Participant>,
    pub version: u64,
}

read_from_map!(People { people, version });

/// Everything the chat page needs to render a room the visitor may enter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomView {
    pub room: RoomSummary,
    pub me: Person,
    /// Who is here, in order of arrival (as of `room.presence_version`).
    pub participants: Vec<Participant>,
    /// The latest messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether messages older than the first one exist.
    pub has_earlier: bool,
    /// How long the room stays once everyone has left (then it goes, with its messages), in seconds.
    pub room_grace_secs: u32,
    /// How long after sending a message its author may change its text, in seconds.
    pub edit_window_secs: u32,
}

read_from_map!(RoomView { room, me, participants, messages, has_earlier, room_grace_secs, edit_window_secs });

/// What the room list page needs: who you are and every open room.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomListView {
    pub me: Person,
    /// The first page of the room list.
    pub rooms: ListedRooms,
    /// How long a room stays once everyone has left (then it goes, with its messages), in seconds.
    pub room_grace_secs: u32,
}

read_from_map!(RoomListView { me, rooms, room_grace_secs });

/// How many rooms a page of the room list holds.
pub const ROOM_PAGE: usize = 50;

/// A page of the room list: the most recently active rooms first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedRooms {
    pub rooms: Vec<RoomSummary>,
    /// Whether more rooms follow this page.
    pub has_more: bool,
}

read_from_map!(ListedRooms { rooms, has_more });

/// What `/room/:id` shows: the room, or why not (with what the refusal page needs to say which room).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RoomAccess {
    Open(Box<RoomView>),
    Refused { refusal: Refusal, room: Option<RoomLabel> },
}

/// A room named on a page that does not let the visitor in (the password gate, "this room is full").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomLabel {
    pub id: RoomId,
    pub title: String,
    pub max_members: u32,
}

read_from_map!(RoomLabel { id, title, max_members });

/// A page of earlier messages for "Load earlier".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessagePage {
    pub messages: Vec<ChatMessage>,
    pub has_earlier: bool,
}

read_from_map!(MessagePage { messages, has_earlier });

/// How many messages a page of history holds (first render and every "Load earlier").
pub const PAGE_SIZE: i64 = 50;

/// The still (first frame alone) of a stored GIF, by the GIF's file name or URL: `…/<hex>.gif` → `…/<hex>.still.gif`.
/// The server makes it when the GIF is uploaded (or when it is first asked for, for GIFs stored before); people
/// who asked their system for reduced motion see it instead of the animation.
pub fn still_of(gif: &str) -> String {
    format!("{}.still.gif", gif.strip_suffix(".gif").unwrap_or(gif))
}

/// A span of time in words, e.g. "10 seconds", "1 minute", "2 hours" (whole units, rounded down).
pub fn duration_words(secs: u32) -> String {
    let (count, unit) = match secs {
        0..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        _ => (secs / 3600, "hour"),
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(reactions: &[(&str, u32, bool)]) -> ChatMessage {
        ChatMessage {
            room_id: RoomId::new(1),
            seq: 3,
            kind: MessageKind::Text,
            author: None,
            recipient: None,
            body: "hi".into(),
            created_at: 0,
            reactions: reactions
                .iter()
                .map(|(emoji, count, mine)| Reaction { emoji: (*emoji).into(), count: *count, mine: *mine })
                .collect(),
            reply_to: None,
            edited_at: None,
            deleted: None,
            video: None,
            mentions: Vec::new(),
        }
    }

    #[test]
    fn a_reply_quotes_what_it_answers_as_it_stands() {
        let mut original = message(&[]);
        original.body = "x".repeat(Quote::MAX_CHARS + 5);
        let mut reply = message(&[]);
        reply.seq = 4;
        reply.reply_to = Some(Box::new(Quote::of(&original)));
        let quote = reply.reply_to.clone().unwrap();
        assert_eq!(quote.excerpt.chars().count(), Quote::MAX_CHARS + 1, "cut, with an ellipsis");
        assert!(quote.excerpt.ends_with('…'));

        original.body = "edited".into();
        let mut other = message(&[]);
        other.seq = 9;
        reply.requote(&other);
        assert_eq!(reply.reply_to.as_ref().unwrap().excerpt, quote.excerpt, "another message changes nothing");
        reply.requote(&original);
        assert_eq!(reply.reply_to.as_ref().unwrap().excerpt, "edited");
        original.deleted = Some(Deleted::ByAuthor);
        original.body.clear();
        reply.requote(&original);
        let gone = reply.reply_to.as_ref().unwrap();
        assert!(gone.deleted && gone.excerpt.is_empty());
        assert_eq!(MessagePreview::of(&original).text, "Message deleted");
    }

    #[test]
    fn reactions_taken_in_order_leave_the_servers_counts_and_which_are_mine() {
        let (me, ann) = (PersonId::parse("me").unwrap(), PersonId::parse("ann").unwrap());
        let change = |by: &PersonId, emoji: &str, added, count| ReactionChange {
            message: 3,
            emoji: emoji.into(),
            by: by.clone(),
            added,
            count,
        };

        // Ann adds 😂 to a message I gave 👍: 👍 stays mine, and 😂 takes its place after it.
        let mut m = message(&[("👍", 1, true)]);
        m.take_reaction(&change(&ann, "😂", true, 1), &me);
        assert_eq!(shown(&m), [("👍".into(), 1, true), ("😂".into(), 1, false)]);
        // I add 😂 too (from another tab): now it is mine.
        m.take_reaction(&change(&me, "😂", true, 2), &me);
        assert_eq!(shown(&m), [("👍".into(), 1, true), ("😂".into(), 2, true)]);
        // Ann adds ❤️, which comes between them in the fixed order.
        m.take_reaction(&change(&ann, "❤️", true, 1), &me);
        assert_eq!(shown(&m), [("👍".into(), 1, true), ("❤️".into(), 1, false), ("😂".into(), 2, true)]);
        // I take 👍 back: it goes; Ann takes 😂 back: it stays mine.
        m.take_reaction(&change(&me, "👍", false, 0), &me);
        m.take_reaction(&change(&ann, "😂", false, 1), &me);
        assert_eq!(shown(&m), [("❤️".into(), 1, false), ("😂".into(), 1, true)]);
    }

    #[test]
    fn an_edit_keeps_which_reactions_are_mine_unless_it_knows() {
        let mut m = message(&[("👍", 1, true)]);
        // The event is the same for everyone: it does not know 👍 is mine.
        m.take_change(message(&[("👍", 1, false), ("😂", 1, false)]));
        assert_eq!(shown(&m), [("👍".into(), 1, true), ("😂".into(), 1, false)]);
        // A catch-up made for me says what is mine.
        m.take_change(message(&[("👍", 1, true), ("🎉", 1, true)]));
        assert_eq!(shown(&m), [("👍".into(), 1, true), ("🎉".into(), 1, true)]);
    }

    /// A message's reactions as (emoji, count, mine).
    fn shown(message: &ChatMessage) -> Vec<(String, u32, bool)> {
        message.reactions.iter().map(|r| (r.emoji.clone(), r.count, r.mine)).collect()
    }
}
