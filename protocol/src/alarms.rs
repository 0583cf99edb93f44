//! Alarms: what concerns one person (a reaction to their message, a reply, a mention, a whisper, an invitation),
//! told to them wherever they are. Each person's alarms change in a numbered order of their own; the live
//! channel's `alarms` event carries one change, or the whole list.

use serde::{Deserialize, Serialize};

use crate::model::{Person, RoomId};

/// The most alarms a person keeps: the oldest beyond go.
pub const MAX_ALARMS: usize = 200;

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmKind {
    /// Someone reacted to the person's message.
    Reaction,
    /// Someone replied to the person's message.
    Reply,
    /// Someone mentioned the person.
    Mention,
    /// Someone whispered to the person in a room whose page they did not have open.
    Whisper,
    /// Someone invited the person to a private conversation.
    Invitation,
    /// Someone declined the person's invitation.
    Declined,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Reaction => "reaction",
            AlarmKind::Reply => "reply",
            AlarmKind::Mention => "mention",
            AlarmKind::Whisper => "whisper",
            AlarmKind::Invitation => "invitation",
            AlarmKind::Declined => "declined",
        }
    }

    pub fn parse(kind: &str) -> Option<AlarmKind> {
        [
            AlarmKind::Reaction,
            AlarmKind::Reply,
            AlarmKind::Mention,
            AlarmKind::Whisper,
            AlarmKind::Invitation,
            AlarmKind::Declined,
        ]
        .into_iter()
        .find(|known| known.as_str() == kind)
    }
}

/// One alarm as its person sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alarm {
    /// Stable while the alarm lives: a later change to it carries the same id.
    pub id: i64,
    pub kind: AlarmKind,
    pub room: RoomId,
    /// The room's title when the alarm was raised.
    pub room_title: String,
    /// The room was removed since: the alarm links nowhere.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub room_gone: bool,
    /// The message to show (its number in the room), if the alarm is about one.
    pub message: Option<i64>,
    /// Who acted last.
    pub actor: Person,
    /// How many other people did the same.
    pub others: u32,
    /// The latest reaction's emoji.
    pub emoji: Option<String>,
    /// Whether the message it is about is a GIF.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_gif: bool,
    /// The person's change that last touched it: it is unread while this is above their `read_up_to`.
    pub seq: i64,
    /// When it last changed (Unix ms).
    pub at: i64,
}

read_from_map!(Alarm {
    id,
    kind,
    room,
    room_title,
    room_gone = default,
    message = default,
    actor,
    others,
    emoji = default,
    on_gif = default,
    seq,
    at
});

impl Alarm {
    /// Who did what, in words: "Rustic Gecko and 3 others reacted 😂 to your GIF".
    pub fn what(&self) -> String {
        let who = match self.others {
            0 => self.actor.name.clone(),
            1 => format!("{} and 1 other", self.actor.name),
            others => format!("{} and {others} others", self.actor.name),
        };
        let yours = if self.on_gif { "your GIF" } else { "your message" };
        match self.kind {
            AlarmKind::Reaction => match &self.emoji {
                Some(emoji) if self.others == 0 => format!("{who} reacted {emoji} to {yours}"),
                _ => format!("{who} reacted to {yours}"),
            },
            AlarmKind::Reply => format!("{who} replied to {yours}"),
            AlarmKind::Mention => format!("{who} mentioned you"),
            AlarmKind::Whisper => format!("{who} whispered to you"),
            AlarmKind::Invitation => format!("{who} invited you to talk privately"),
            AlarmKind::Declined => format!("{who} declined your invitation"),
        }
    }

    /// Where: "in Lunch", or that the room is gone.
    pub fn place(&self) -> String {
        if self.room_gone { format!("in {} (removed)", self.room_title) } else { format!("in {}", self.room_title) }
    }

    /// The page it links to (`None` when the room is gone): the room, at the message.
    pub fn link(&self) -> Option<String> {
        if self.room_gone {
            return None;
        }
        Some(match self.message {
            Some(seq) => format!("/room/{}#m{seq}", self.room),
            None => format!("/room/{}", self.room),
        })
    }

    /// Whether it is unread for someone who read up to `read_up_to`.
    pub fn unread(&self, read_up_to: i64) -> bool {
        self.seq > read_up_to
    }
}

/// A person's alarms as they stand: the newest first (at most [`MAX_ALARMS`]), the number of their latest change,
/// up to which change they read, and how many are unread.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Alarms {
    pub alarms: Vec<Alarm>,
    pub seq: i64,
    pub read_up_to: i64,
    pub unread: u32,
}

read_from_map!(Alarms { alarms, seq, read_up_to, unread });

impl Alarms {
    /// Applies one change (the one after `self.seq`): alarms raised or updated replace theirs (and go first),
    /// withdrawn ones (`gone`) go. Returns false, changing nothing, for a change that is not the next one.
    pub fn apply(&mut self, change: &AlarmChange) -> bool {
        if change.seq != self.seq + 1 {
            return false;
        }
        self.alarms.retain(|alarm| !change.gone.contains(&alarm.id) && !change.alarms.iter().any(|a| a.id == alarm.id));
        for alarm in change.alarms.iter().rev() {
            self.alarms.insert(0, alarm.clone());
        }
        self.alarms.truncate(MAX_ALARMS);
        (self.seq, self.read_up_to, self.unread) = (change.seq, change.read_up_to, change.unread);
        true
    }
}

/// One change to a person's alarms (the live channel's `alarms` event, unless it is `whole`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlarmChange {
    /// The change's number.
    pub seq: i64,
    /// Alarms raised, or changed (another actor).
    pub alarms: Vec<Alarm>,
    /// Alarms withdrawn (their ids).
    pub gone: Vec<i64>,
    pub read_up_to: i64,
    pub unread: u32,
}

read_from_map!(AlarmChange { seq, alarms = default, gone = default, read_up_to, unread });

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(id: i64, seq: i64) -> Alarm {
        let json = r#"{"id":"0123456789abcdef0123456789abcdef","name":"Rustic Gecko","hue":1969}"#;
        Alarm {
            id,
            kind: AlarmKind::Reaction,
            room: RoomId::new(7),
            room_title: "Lunch".into(),
            room_gone: false,
            message: Some(3),
            actor: serde_json::from_str(json).unwrap(),
            others: 0,
            emoji: Some("😂".into()),
            on_gif: true,
            seq,
            at: 1,
        }
    }

    #[test]
    fn an_alarm_says_who_did_what_and_where() {
        let mut alarm = alarm(1, 1);
        assert_eq!(alarm.what(), "Rustic Gecko reacted 😂 to your GIF");
        alarm.others = 3;
        assert_eq!(alarm.what(), "Rustic Gecko and 3 others reacted to your GIF");
        alarm.others = 1;
        alarm.on_gif = false;
        alarm.kind = AlarmKind::Reply;
        assert_eq!(alarm.what(), "Rustic Gecko and 1 other replied to your message");
        assert_eq!((alarm.place(), alarm.link()), ("in Lunch".into(), Some("/room/7#m3".into())));
        alarm.room_gone = true;
        assert_eq!((alarm.place(), alarm.link()), ("in Lunch (removed)".into(), None));
        for kind in ["reaction", "reply", "mention", "whisper", "invitation", "declined"] {
            assert_eq!(AlarmKind::parse(kind).unwrap().as_str(), kind);
        }
        assert_eq!(AlarmKind::parse("x"), None);
    }

    #[test]
    fn changes_apply_in_order_only_newest_first() {
        let mut alarms = Alarms::default();
        let raised = AlarmChange { seq: 1, alarms: vec![alarm(1, 1)], gone: vec![], read_up_to: 0, unread: 1 };
        assert!(alarms.apply(&raised));
        assert!(!alarms.apply(&raised), "the same change twice");
        let skipped = AlarmChange { seq: 3, ..raised.clone() };
        assert!(!alarms.apply(&skipped), "a change after a gap");
        let second = AlarmChange { seq: 2, alarms: vec![alarm(2, 2)], gone: vec![], read_up_to: 0, unread: 2 };
        assert!(alarms.apply(&second));
        let updated = AlarmChange { seq: 3, alarms: vec![alarm(1, 3)], gone: vec![], read_up_to: 0, unread: 2 };
        assert!(alarms.apply(&updated));
        assert_eq!(alarms.alarms.iter().map(|a| (a.id, a.seq)).collect::<Vec<_>>(), [(1, 3), (2, 2)]);
        let withdrawn = AlarmChange { seq: 4, alarms: vec![], gone: vec![1], read_up_to: 0, unread: 1 };
        assert!(alarms.apply(&withdrawn));
        let read = AlarmChange { seq: 5, alarms: vec![], gone: vec![], read_up_to: 5, unread: 0 };
        assert!(alarms.apply(&read));
        assert_eq!((alarms.alarms.len(), alarms.seq, alarms.read_up_to, alarms.unread), (1, 5, 5, 0));
        assert!(!alarms.alarms[0].unread(alarms.read_up_to));

        let text = serde_json::to_string(&alarms).unwrap();
        assert_eq!(serde_json::from_str::<Alarms>(&text).unwrap(), alarms);
        let text = serde_json::to_string(&updated).unwrap();
        assert_eq!(serde_json::from_str::<AlarmChange>(&text).unwrap(), updated);
    }
}
