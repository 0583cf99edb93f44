//! The live channel's protocol: JSON text frames, one event per frame, each tagged by `type`.
//! Documented for other clients in docs/protocol.md ("Live protocol"); keep the two in step.

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::alarms::{AlarmChange, Alarms};
use crate::error::Refusal;
use crate::model::{ChatMessage, MessagePreview, PeopleChange, Person, ReactionChange, RoomId, RoomSummary};

/// Server to client. (Read back with [`LiveEvent`]'s own `Deserialize`, below.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum LiveEvent {
    /// The first page of the room list (the most recently active rooms): the first answer to `subscribeLobby`
    /// (and after the server had to drop events for a slow client). Replaces the client's list.
    Rooms { rooms: Vec<RoomSummary>, has_more: bool },
    /// A room was created (sent to the room list).
    NewRoom { room: RoomSummary },
    /// A room was removed (sent to the room list and to the room itself).
    RemoveRoom { id: RoomId },
    /// The number of people present in a room changed (sent to the room list). `version` orders presence
    /// updates of the room: ignore one whose version is not above the last seen.
    RoomPresence { id: RoomId, present: u32, version: u64 },
    /// The room has a new owner (sent to the room list).
    RoomOwner { id: RoomId, owner: Person },
    /// A committed message (sent to the room). System messages (joins, leaves) are `chat` too.
    Chat { message: ChatMessage },
    /// A message was edited or deleted: `message` is how it stands now. `seq` is the change's own number in the
    /// room's sequence, which messages and changes share: a client resumes from the highest it has, whichever the
    /// event.
    Changed { seq: i64, message: ChatMessage },
    /// Reactions given or taken back: the changes numbered `from` to `seq` in the room's sequence, in order. In a
    /// busy room the server gathers those of a moment (a quarter of a second) into one event; every change of the
    /// room's in between is one of them (but for other people's whispers, which a reader does not see).
    Reactions { room: RoomId, from: i64, seq: i64, changes: Vec<ReactionChange> },
    /// `person` is typing in the room (sent at most every 2 s while they type; never stored). A page shows it for
    /// 5 s after the last one, or until their message comes.
    Typing { room: RoomId, person: Person },
    /// The connection is now subscribed to the room list.
    Subscribed,
    /// Who is in the room changed (sent to the room: arrivals, departures, a new owner), as a change to the list
    /// the client has; one with no arrivals or departures also tells a connection where the room stands (after it
    /// joined, or fell behind). Changes can arrive out of order: a client holds one that does not add up until
    /// those before it come, and loads the whole list (`who_is_here`) if they do not ([`crate::model::Roster`]).
    People { room: RoomId, change: PeopleChange },
    /// The owner removed you from the room: the connection has left it and cannot rejoin.
    Kicked { room: RoomId },
    /// A message arrived in a room you entered before and are not in now (sent only to you, on the room list).
    RoomActivity { id: RoomId, preview: MessagePreview },
    /// The connection joined the room and will receive its messages; `present` people are in it.
    Joined { room: RoomId, present: u32 },
    /// Joining the room was refused; the connection stays open but receives nothing from the room.
    Refused { room: RoomId, reason: Refusal, message: String },
    /// The person's alarms as they stand (the first answer to `watchAlarms`, unless the client has the latest;
    /// and whenever the connection may have missed a change): replaces the client's list.
    Alarms { alarms: Alarms },
    /// One change to the person's alarms (sent to every connection of theirs that watches them, on any page):
    /// `change.seq` is the one after the last the client has. A client that finds a gap sends `watchAlarms` again.
    Alarm { change: AlarmChange },
    /// Answer to `ping`.
    Pong,
    /// The client is too far behind to replay what it missed: it should reload the room's history (its live
    /// position now is the room's latest message).
    Resync { room: RoomId },
}

/// Reads an event as the server writes it: `type` first, then the variant's fields. serde's own reading of a
/// `tag = "type"` enum cannot assume that order: it first copies the whole object into a buffer of its own, and
/// then reads each variant's fields a second way, from that buffer. In the browser's bundle that second way of
/// reading every type an event carries was about 100 KB of the wasm (twiggy); reading the fields straight from
/// the JSON shares the code the page already has for reading the same types from server functions.
/// A frame whose first key is not `type` is refused; a second `type` later in the frame is skipped like any key
/// the variant does not know. A new variant needs an arm here and in [`EventType`]; a field whose name on the
/// wire is not its own (`rename_all` makes it camelCase) says so in its `fields!` (the tests check every variant
/// both ways).
impl<'de> Deserialize<'de> for LiveEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LiveEvent, D::Error> {
        deserializer.deserialize_map(TypeFirst)
    }
}

struct TypeFirst;

/// The names in `type`, in the wire's spelling.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
enum EventType {
    Rooms,
    NewRoom,
    RemoveRoom,
    RoomPresence,
    RoomOwner,
    Chat,
    Changed,
    Reactions,
    Typing,
    Subscribed,
    People,
    Kicked,
    RoomActivity,
    Joined,
    Refused,
    Alarms,
    Alarm,
    Pong,
    Resync,
}

impl<'de> Visitor<'de> for TypeFirst {
    type Value = LiveEvent;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a live event: an object whose first key is \"type\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LiveEvent, A::Error> {
        match map.next_key::<String>()? {
            Some(key) if key == "type" => {}
            _ => return Err(de::Error::custom("a live event starts with its \"type\"")),
        }
        let kind: EventType = map.next_value()?;
        fn skip_rest<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(())
        }
        // The fields after `type`, by their names on the wire (the field's own unless given with `as`); keys the
        // variant does not know are skipped, a missing field is an error. A loop here rather than a derived struct
        // per variant: each derived struct is its own reader (a map's, a sequence's, its field names'), and they
        // made up a good part of the code that reads events in the browser's bundle.
        macro_rules! fields {
            ($variant:ident { $($field:ident $(as $wire:literal)?: $ty:ty),* }) => {{
                $(let mut $field: Option<$ty> = None;)*
                while let Some(key) = map.next_key::<String>()? {
                    $(if key == fields!(@wire $field $($wire)?) {
                        $field = Some(map.next_value()?);
                        continue;
                    })*
                    map.next_value::<IgnoredAny>()?;
                }
                LiveEvent::$variant {
                    $($field: $field.ok_or_else(|| de::Error::missing_field(fields!(@wire $field $($wire)?)))?),*
                }
            }};
            (@wire $field:ident) => { stringify!($field) };
            (@wire $field:ident $wire:literal) => { $wire };
        }
        Ok(match kind {
            EventType::Rooms => fields!(Rooms { rooms: Vec<RoomSummary>, has_more as "hasMore": bool }),
            EventType::NewRoom => fields!(NewRoom { room: RoomSummary }),
            EventType::RemoveRoom => fields!(RemoveRoom { id: RoomId }),
            EventType::RoomPresence => fields!(RoomPresence { id: RoomId, present: u32, version: u64 }),
            EventType::RoomOwner => fields!(RoomOwner { id: RoomId, owner: Person }),
            EventType::Chat => fields!(Chat { message: ChatMessage }),
            EventType::Changed => fields!(Changed { seq: i64, message: ChatMessage }),
            EventType::Reactions => {
                fields!(Reactions { room: RoomId, from: i64, seq: i64, changes: Vec<ReactionChange> })
            }
            EventType::Typing => fields!(Typing { room: RoomId, person: Person }),
            EventType::People => fields!(People { room: RoomId, change: PeopleChange }),
            EventType::Kicked => fields!(Kicked { room: RoomId }),
            EventType::RoomActivity => fields!(RoomActivity { id: RoomId, preview: MessagePreview }),
            EventType::Joined => fields!(Joined { room: RoomId, present: u32 }),
            EventType::Refused => fields!(Refused { room: RoomId, reason: Refusal, message: String }),
            EventType::Resync => fields!(Resync { room: RoomId }),
            EventType::Alarms => fields!(Alarms { alarms: Alarms }),
            EventType::Alarm => fields!(Alarm { change: AlarmChange }),
            EventType::Subscribed => {
                skip_rest(map)?;
                LiveEvent::Subscribed
            }
            EventType::Pong => {
                skip_rest(map)?;
                LiveEvent::Pong
            }
        })
    }
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ClientCommand {
    /// Receive `newRoom`, `removeRoom` and `roomPresence`.
    SubscribeLobby,
    /// Enter a room (counted in its presence) and receive its `chat` events. `since` is the highest sequence
    /// number the client already has: events after it that it missed are replayed first.
    Join { room: RoomId, since: Option<i64> },
    /// Keeps idle proxies from closing the connection; answered with `pong`.
    Ping,
    /// The person is typing in the room the connection joined (at most one every 2 s; not while whispering).
    Typing { room: RoomId },
    /// Receive the person's alarms on this connection, whatever else it follows, until it closes. `since`: the
    /// number of the latest change the client has; the whole list comes first unless that is the latest.
    WatchAlarms { since: Option<i64> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn command() -> impl Strategy<Value = ClientCommand> {
        prop_oneof![
            Just(ClientCommand::SubscribeLobby),
            Just(ClientCommand::Ping),
            proptest::option::of(any::<i64>()).prop_map(|since| ClientCommand::WatchAlarms { since }),
            any::<i64>().prop_map(|room| ClientCommand::Typing { room: RoomId::new(room) }),
            (any::<i64>(), proptest::option::of(any::<i64>()))
                .prop_map(|(room, since)| ClientCommand::Join { room: RoomId::new(room), since }),
        ]
    }

    fn person(name: &str) -> Person {
        let json = format!(r#"{{"id":"0123456789abcdef0123456789abcdef","name":"{name}","hue":1969}}"#);
        serde_json::from_str(&json).unwrap()
    }

    /// One event of every kind, with every field set.
    fn every_event() -> Vec<LiveEvent> {
        let ada = person("Ada");
        let room = RoomId::new(7);
        let message = ChatMessage {
            room_id: room,
            seq: 3,
            kind: crate::model::MessageKind::Text,
            author: Some(ada.clone()),
            recipient: None,
            body: "hello \"there\" <b>".into(),
            created_at: 1_795_318_867_250,
            reactions: vec![crate::model::Reaction { emoji: "😂".into(), count: 2, mine: true }],
            reply_to: None,
            edited_at: None,
            deleted: None,
            video: None,
            mentions: Vec::new(),
        };
        let summary = RoomSummary {
            id: room,
            title: "Lunch".into(),
            locked: true,
            max_members: 10,
            present: 2,
            presence_version: 5,
            owner: ada.clone(),
            created_at: 1,
            unread: Some(4),
            last_message: Some(MessagePreview::of(&message)),
            banned: true,
            private: true,
        };
        let alarm = crate::alarms::Alarm {
            id: 1,
            kind: crate::alarms::AlarmKind::Reaction,
            room,
            room_title: "Lunch".into(),
            room_gone: true,
            message: Some(3),
            actor: ada.clone(),
            others: 2,
            emoji: Some("😂".into()),
            on_gif: true,
            seq: 4,
            at: 5,
        };
        let change = PeopleChange {
            version: 6,
            arrived: vec![crate::model::Participant { person: person("Bo"), owner: false, tag: Some("#2".into()) }],
            left: vec![ada.id.clone()],
            owner: ada.id.clone(),
            retagged: vec![(ada.id.clone(), None)],
            present: 1,
            digest: 42,
        };
        vec![
            LiveEvent::Rooms { rooms: vec![summary.clone()], has_more: true },
            LiveEvent::NewRoom { room: summary },
            LiveEvent::RemoveRoom { id: room },
            LiveEvent::RoomPresence { id: room, present: 3, version: 9 },
            LiveEvent::RoomOwner { id: room, owner: ada.clone() },
            LiveEvent::Chat { message: message.clone() },
            LiveEvent::Changed { seq: 4, message: message.clone() },
            LiveEvent::Reactions {
                room,
                from: 5,
                seq: 6,
                changes: vec![
                    ReactionChange { message: 3, emoji: "🎉".into(), by: ada.id.clone(), added: true, count: 1 },
                    ReactionChange { message: 3, emoji: "😂".into(), by: ada.id.clone(), added: false, count: 1 },
                ],
            },
            LiveEvent::Typing { room, person: ada.clone() },
            LiveEvent::Subscribed,
            LiveEvent::People { room, change },
            LiveEvent::Kicked { room },
            LiveEvent::RoomActivity { id: room, preview: MessagePreview::of(&message) },
            LiveEvent::Joined { room, present: 2 },
            LiveEvent::Refused { room, reason: Refusal::Full, message: Refusal::Full.to_string() },
            LiveEvent::Alarms {
                alarms: crate::alarms::Alarms { alarms: vec![alarm.clone()], seq: 4, read_up_to: 2, unread: 1 },
            },
            LiveEvent::Alarm {
                change: AlarmChange { seq: 5, alarms: vec![alarm], gone: vec![9], read_up_to: 2, unread: 1 },
            },
            LiveEvent::Pong,
            LiveEvent::Resync { room },
        ]
    }

    /// Which `type` an event is written with. No wildcard: a new variant does not compile until it is mapped here
    /// (and so until the reader knows it, since [`EventType`] is what the reader matches on).
    fn kind(event: &LiveEvent) -> EventType {
        match event {
            LiveEvent::Rooms { .. } => EventType::Rooms,
            LiveEvent::NewRoom { .. } => EventType::NewRoom,
            LiveEvent::RemoveRoom { .. } => EventType::RemoveRoom,
            LiveEvent::RoomPresence { .. } => EventType::RoomPresence,
            LiveEvent::RoomOwner { .. } => EventType::RoomOwner,
            LiveEvent::Chat { .. } => EventType::Chat,
            LiveEvent::Changed { .. } => EventType::Changed,
            LiveEvent::Reactions { .. } => EventType::Reactions,
            LiveEvent::Typing { .. } => EventType::Typing,
            LiveEvent::Subscribed => EventType::Subscribed,
            LiveEvent::People { .. } => EventType::People,
            LiveEvent::Kicked { .. } => EventType::Kicked,
            LiveEvent::RoomActivity { .. } => EventType::RoomActivity,
            LiveEvent::Joined { .. } => EventType::Joined,
            LiveEvent::Refused { .. } => EventType::Refused,
            LiveEvent::Alarms { .. } => EventType::Alarms,
            LiveEvent::Alarm { .. } => EventType::Alarm,
            LiveEvent::Pong => EventType::Pong,
            LiveEvent::Resync { .. } => EventType::Resync,
        }
    }

    #[test]
    fn the_sample_has_every_kind_of_event_once() {
        let kinds: Vec<String> = every_event().iter().map(|event| format!("{:?}", kind(event))).collect();
        let distinct: std::collections::BTreeSet<&String> = kinds.iter().collect();
        assert_eq!(distinct.len(), kinds.len(), "{kinds:?}");
        // As many as `kind` has arms (update both when a variant comes).
        assert_eq!(kinds.len(), 19);
    }

    #[test]
    fn every_event_reads_back_as_written() {
        for event in every_event() {
            let text = serde_json::to_string(&event).unwrap();
            assert!(text.starts_with(r#"{"type":""#), "{text}");
            assert_eq!(serde_json::from_str::<LiveEvent>(&text).unwrap(), event, "{text}");
        }
    }

    #[test]
    fn events_read_as_the_protocol_says() {
        let read = |text: &str| serde_json::from_str::<LiveEvent>(text);
        assert_eq!(read(r#"{"type":"pong"}"#).unwrap(), LiveEvent::Pong);
        assert_eq!(
            read(r#"{"type":"roomPresence","id":7,"present":3,"version":9}"#).unwrap(),
            LiveEvent::RoomPresence { id: RoomId::new(7), present: 3, version: 9 }
        );
        // Fields a newer server adds are skipped (a second `type` too: the first one decides).
        assert_eq!(
            read(r#"{"type":"kicked","room":7,"type":"pong"}"#).unwrap(),
            LiveEvent::Kicked { room: RoomId::new(7) }
        );
        assert_eq!(
            read(r#"{"type":"kicked","room":7,"why":"x"}"#).unwrap(),
            LiveEvent::Kicked { room: RoomId::new(7) }
        );
        assert_eq!(read(r#"{"type":"subscribed","since":[1,{"a":2}]}"#).unwrap(), LiveEvent::Subscribed);
        // Refused: the type not first, an unknown type, a missing field, not an object.
        assert!(read(r#"{"room":7,"type":"kicked"}"#).unwrap_err().to_string().contains("starts with its \"type\""));
        assert!(read(r#"{"type":"launchMissiles"}"#).is_err());
        assert!(read(r#"{"type":"kicked"}"#).is_err());
        assert!(read(r#"{}"#).is_err());
        assert!(read(r#"["pong"]"#).is_err());
    }

    proptest! {
        /// Whatever the server's frames turn into on the way, reading one fails cleanly or yields an event.
        #[test]
        fn reading_arbitrary_events_never_panics(text in ".{0,200}") {
            let _ = serde_json::from_str::<LiveEvent>(&text);
        }

        /// Real frames of every kind, cut short or with junk put in: read or refused, never a panic.
        #[test]
        fn reading_damaged_events_never_panics(which in 0..19usize, cut in 0..400usize, junk in ".{0,12}") {
            let text = serde_json::to_string(&every_event()[which]).unwrap();
            let cut = (0..=cut.min(text.len())).rev().find(|at| text.is_char_boundary(*at)).unwrap_or(0);
            let _ = serde_json::from_str::<LiveEvent>(&text[..cut]);
            let _ = serde_json::from_str::<LiveEvent>(&format!("{}{junk}{}", &text[..cut], &text[cut..]));
        }

        /// Whatever a client sends, parsing either fails cleanly or yields a command: it never panics.
        #[test]
        fn parsing_arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = serde_json::from_str::<ClientCommand>(&text);
        }

        /// JSON-shaped garbage around the real field names, too.
        #[test]
        fn parsing_near_miss_json_never_panics(
            kind in prop_oneof![Just("join".to_owned()), Just("ping".to_owned()), Just("subscribeLobby".to_owned()), ".{0,12}"],
            room in prop_oneof![Just("1".to_owned()), Just("\"1\"".to_owned()), Just("null".to_owned()), Just("1e400".to_owned()), "-?[0-9]{1,25}"],
            since in prop_oneof![Just("null".to_owned()), Just("[]".to_owned()), "-?[0-9]{1,25}"],
        ) {
            let text = format!(r#"{{"type":"{kind}","room":{room},"since":{since}}}"#);
            let _ = serde_json::from_str::<ClientCommand>(&text);
        }

        /// Every command a client can make survives the trip through JSON unchanged.
        #[test]
        fn commands_round_trip(command in command()) {
            let text = serde_json::to_string(&command).unwrap();
            prop_assert_eq!(serde_json::from_str::<ClientCommand>(&text).unwrap(), command);
        }
    }
}
