//! The live channel's protocol: JSON text frames, one event per frame, each tagged by `type`.
//! Documented for other clients in README.md ("Live protocol"); keep the two in step.

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::model::{ChatMessage, MessagePreview, PeopleChange, Person, RoomId, RoomSummary};

/// Server to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Answer to `ping`.
    Pong,
    /// The client is too far behind to replay what it missed: it should reload the room's history (its live
    /// position now is the room's latest message).
    Resync { room: RoomId },
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn command() -> impl Strategy<Value = ClientCommand> {
        prop_oneof![
            Just(ClientCommand::SubscribeLobby),
            Just(ClientCommand::Ping),
            (any::<i64>(), proptest::option::of(any::<i64>()))
                .prop_map(|(room, since)| ClientCommand::Join { room: RoomId::new(room), since }),
        ]
    }

    proptest! {
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
