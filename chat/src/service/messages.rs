//! What is said in rooms: text, whispers, GIFs and system messages, committed then pushed to whoever may see
//! them; history pages and catch-up for those who missed some.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use super::Chat;
use super::db::{self, Inserted, NewMessage};
use crate::error::{ServerError, ServerResult};
use crate::hub::Topic;
use crate::identity::person;
use crate::metrics::Timer;
use protocol::domain::{ClientMessageId, Emoji, MessageBody, PersonId};
use protocol::error::{AppError, Refusal};
use protocol::live::LiveEvent;
use protocol::model::{
    ChatMessage, MAX_REACTORS_LISTED, MessageKind, MessagePage, MessagePreview, Person, ReactionChange, Reactors,
    RoomId,
};

/// A text message on its way.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub body: MessageBody,
    /// For a whisper: the one person who will see it.
    pub to: Option<PersonId>,
    /// The sender's own id for it: a retried send never creates a second message.
    pub client_id: Option<ClientMessageId>,
    /// The message it answers (its number in the room).
    pub reply_to: Option<i64>,
}

impl Outgoing {
    /// A message to everyone in the room, answering nothing.
    pub fn text(body: MessageBody) -> Outgoing {
        Outgoing { body, to: None, client_id: None, reply_to: None }
    }
}

impl Chat {
    /// Sends a text message from someone in the room (see [`Outgoing`]).
    pub async fn send_text(
        self: &Arc<Self>,
        room: RoomId,
        author: &Person,
        outgoing: Outgoing,
    ) -> ServerResult<ChatMessage> {
        let Outgoing { body, to, client_id, reply_to } = outgoing;
        // Timed from here to the acknowledgement (only sends that succeed count).
        let timer = Timer::start();
        let sent = async {
            if let Some(recipient) = &to {
                self.admit_poster(room, author).await?;
                self.check_whisper(room, author, recipient).await?;
            }
            if let Some(seq) = reply_to {
                self.check_reply(room, author, seq, to.as_ref()).await?;
            }
            // Admission to post is checked by the insert itself (the room exists, the author is in it and not
            // banned): a send is one statement. If it inserts nothing, admission says why.
            let message = NewMessage {
                kind: if to.is_some() { MessageKind::Whisper } else { MessageKind::Text },
                author: Some(&author.id),
                recipient: to.as_ref(),
                body: body.as_str(),
                client_id: client_id.as_ref().map(ClientMessageId::as_str),
                reply_to,
                author_present: true,
                about: None,
            };
            match self.post(room, message).await {
                Err(ServerError::Client(AppError::Refused(_))) => {
                    self.admit_poster(room, author).await?;
                    // Admitted now, so not at the moment of the insert: in again since.
                    Err(Refusal::NotPresent.into())
                }
                posted => posted,
            }
        }
        .await;
        if sent.is_ok() {
            timer.observe(&self.metrics.send_seconds);
        }
        sent
    }

    /// A whisper goes to someone else who is in the room now, or nowhere (refused by name: it never turns public).
    pub(super) async fn check_whisper(&self, room: RoomId, author: &Person, recipient: &PersonId) -> ServerResult<()> {
        if *recipient == author.id {
            return Err(AppError::Invalid("Whisper to someone else.".into()).into());
        }
        if !super::presence::is_present(&self.db, room, recipient).await? {
            let name = person(recipient.as_str()).name;
            return Err(AppError::whisper_not_sent(&name).into());
        }
        Ok(())
    }

    /// A reply answers a message its author may read and that is still there; a whisper's answer is a whisper
    /// between the same two (its quote must not reach anyone else).
    async fn check_reply(&self, room: RoomId, author: &Person, seq: i64, to: Option<&PersonId>) -> ServerResult<()> {
        let answered = db::message(&self.db, room, seq).await?.filter(|message| message.readable_by(&author.id));
        let Some(answered) = answered else {
            return Err(AppError::Invalid("The message you are replying to is not there (any more).".into()).into());
        };
        if answered.deleted.is_some() {
            return Err(AppError::Invalid("The message you are replying to was deleted.".into()).into());
        }
        if let Some(other) = answered.whispered_with(&author.id)
            && to != Some(&other.id)
        {
            let problem = format!("Answer a whisper with a whisper to {}.", other.name);
            return Err(AppError::Invalid(problem).into());
        }
        Ok(())
    }

    /// Commits a message and pushes it to everyone who may see it.
    pub(super) async fn post(self: &Arc<Self>, room: RoomId, message: NewMessage<'_>) -> ServerResult<ChatMessage> {
        let author = message.author.cloned();
        let Some(inserted) = db::insert_message(&self.db, room, message, &self.metrics.db_pool_wait_seconds).await?
        else {
            // Nothing was inserted: the room is gone, or the author was removed from it meanwhile.
            let banned = match &author {
                Some(author) => db::is_banned(&self.db, room, author).await?,
                None => false,
            };
            return Err(if banned { Refusal::Banned } else { Refusal::NotFound }.into());
        };
        match inserted {
            Inserted::New(mut message) => {
                db::with_quote(&self.db, room, &mut message).await?;
                self.publish_message(&message);
                Ok(message)
            }
            // A retry of a send that was committed (and announced) already.
            Inserted::Duplicate(mut message) => {
                db::with_quote(&self.db, room, &mut message).await?;
                Ok(message)
            }
        }
    }

    /// Pushes a committed message to the room (a whisper only to its two people), then, off the sender's path,
    /// has the people following the room from the list told (see [`Chat::notify_followers`]), and the people it
    /// concerns alarmed (the author of the message it answers, a whisper's recipient, the people it mentions).
    pub(super) fn publish_message(self: &Arc<Self>, message: &ChatMessage) {
        // Every committed message is published once, here.
        self.metrics.message_committed(message.kind);
        let topic = Topic::Room(message.room_id);
        let event = LiveEvent::Chat { message: message.clone() };
        match (&message.author, &message.recipient) {
            (Some(author), Some(recipient)) => self.hub.publish_to(topic, &event, &[&author.id, &recipient.id]),
            _ => self.hub.publish(topic, &event),
        }
        if message.kind != MessageKind::System && self.followers_due.queue(message.clone()) {
            let chat = self.clone();
            let room = message.room_id;
            self.tasks.spawn(async move { chat.notify_followers(room).await });
        }
        if let Some(answered) = &message.reply_to
            && let Some(author) = &answered.author
        {
            self.alarm_reply(message, &author.id, answered.kind == MessageKind::Gif);
        }
        if message.kind == MessageKind::Whisper {
            self.alarm_whisper(message);
        }
        if !message.mentions.is_empty() {
            self.alarm_mentions(message);
        }
    }

    /// Sends `roomActivity` for each message queued for `room` to everyone who entered the room before, is not
    /// in it now, may read the message and has not read it yet; until the queue is empty. One of these runs per
    /// room at a time, and the messages committed while one query runs share the next one.
    async fn notify_followers(&self, room: RoomId) {
        let _end = NotifierEnd { due: &self.followers_due, room };
        loop {
            let messages = self.followers_due.take(room);
            let Some(newest) = messages.last() else { return };
            let readers = match db::readers(&self.db, room, newest.seq).await {
                Ok(readers) => readers,
                Err(error) => {
                    // Their notices are lost (the database is most likely out of reach); the list catches up at
                    // its next load.
                    tracing::error!(%error, %room, messages = messages.len(), "listing a room's readers");
                    continue;
                }
            };
            for message in &messages {
                let event = LiveEvent::RoomActivity { id: room, preview: MessagePreview::of(message) };
                self.hub.publish_to_people(to_be_told(&readers, message), &event);
            }
        }
    }

    pub(super) async fn system_message(self: &Arc<Self>, room: RoomId, text: String) {
        self.system_message_about(room, text, None).await
    }

    /// A system line about one person's coming (`true`) or going (`false`): stored only if, as it commits, that is
    /// still so (see [`NewMessage::about`]).
    pub(super) async fn system_message_about(
        self: &Arc<Self>,
        room: RoomId,
        text: String,
        about: Option<(&PersonId, bool)>,
    ) {
        match self.post(room, NewMessage { about, ..NewMessage::system(&text) }).await {
            Ok(_) => {}
            Err(ServerError::Client(AppError::Refused(Refusal::NotFound))) => {}
            Err(error) => tracing::error!(%error, %room, "storing a system message"),
        }
    }

    /// The page of messages before `before` (a sequence number) that `viewer` may read, for "Load earlier".
    pub async fn earlier_messages(&self, room: RoomId, viewer: &Person, before: i64) -> ServerResult<MessagePage> {
        let admission = self.admit(room, viewer).await?;
        let (messages, has_earlier) = db::messages_before(&self.db, admission.room(), &viewer.id, Some(before)).await?;
        Ok(MessagePage { messages, has_earlier })
    }

    /// What happened in the room after `after` up to `until` that `viewer` may see (messages, and changes to
    /// them), in order: the events a live connection catching up sends. At most `limit` of the room's numbers
    /// are read at a time: when more may follow, the last number read comes with the events (the next call
    /// starts after it).
    pub async fn catch_up(
        &self,
        room: RoomId,
        viewer: &PersonId,
        after: i64,
        until: i64,
        limit: i64,
    ) -> ServerResult<(Vec<LiveEvent>, Option<i64>)> {
        let events = db::room_events_after(&self.db, room, viewer, after, until, limit).await?;
        let more_after = match events.last() {
            Some(last) if events.len() as i64 == limit => Some(last.at),
            _ => None,
        };
        let mut caught_up: Vec<LiveEvent> = Vec::with_capacity(events.len());
        for db::RoomEvent { at, message, reaction } in events {
            let event = match reaction {
                // Reactions in a row go as one event, as they do live.
                Some(change) => match caught_up.last_mut() {
                    Some(LiveEvent::Reactions { seq, changes, .. }) => {
                        *seq = at;
                        changes.push(change);
                        continue;
                    }
                    _ => LiveEvent::Reactions { room, from: at, seq: at, changes: vec![change] },
                },
                None if at == message.seq => LiveEvent::Chat { message },
                None => LiveEvent::Changed { seq: at, message },
            };
            caught_up.push(event);
        }
        Ok((caught_up, more_after))
    }

    /// `person` gives (`on`) or takes back their `emoji` reaction to message `seq`; everyone who may read the
    /// message is told (a whisper's two people only). Answers the message as it stands, with the person's own
    /// reactions marked. Giving one twice, or taking back one not given, changes nothing.
    pub async fn react(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        seq: i64,
        emoji: Emoji,
        on: bool,
    ) -> ServerResult<ChatMessage> {
        match db::react(&self.db, room, seq, &person.id, emoji.as_str(), on).await? {
            Some((applied, count)) => Ok(self.announce_reaction(applied, person, emoji, on, count)),
            None => {
                // Why not: the room, the person's place in it, or the message.
                self.admit_poster(room, person).await?;
                Err(AppError::Invalid(NOT_THERE.into()).into())
            }
        }
    }

    /// `person` gives their `emoji` reaction to message `seq` if they have not, or takes it back if they have (a
    /// plain form's button, which cannot know which).
    pub async fn toggle_reaction(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        seq: i64,
        emoji: Emoji,
    ) -> ServerResult<ChatMessage> {
        match db::react(&self.db, room, seq, &person.id, emoji.as_str(), true).await? {
            Some((db::Applied::Unchanged(_), _)) => self.react(room, person, seq, emoji, false).await,
            Some((applied, count)) => Ok(self.announce_reaction(applied, person, emoji, true, count)),
            // Refused: the same answer as a reaction's.
            None => self.react(room, person, seq, emoji, true).await,
        }
    }

    /// `person` changes the text of their own message `seq` (for a while after sending it: `Settings::edit_window`);
    /// everyone who may read it is told. The same text again changes nothing.
    pub async fn edit(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        seq: i64,
        body: MessageBody,
    ) -> ServerResult<ChatMessage> {
        let (now, window) = (db::now_millis(), self.settings.edit_window);
        match db::edit(&self.db, room, seq, &person.id, body.as_str(), now, window.as_millis() as i64).await? {
            Some(applied) => Ok(self.announce_change(applied)),
            None => {
                self.admit_poster(room, person).await?;
                let message = db::message(&self.db, room, seq).await?.filter(|m| m.readable_by(&person.id));
                let problem = match message {
                    None => NOT_THERE,
                    Some(message) if message.deleted.is_some() => "That message was deleted.",
                    Some(message) if message.author.as_ref().is_none_or(|author| author.id != person.id) => {
                        "You can only edit your own messages."
                    }
                    Some(message) if message.kind == MessageKind::Gif => "A GIF cannot be edited.",
                    Some(_) => {
                        let window = protocol::model::duration_words(window.as_secs() as u32);
                        return Err(
                            AppError::Invalid(format!("Messages can be edited for {window} after sending.")).into()
                        );
                    }
                };
                Err(AppError::Invalid(problem.into()).into())
            }
        }
    }

    /// `person` deletes message `seq`: their own (unsend), or, as the room's owner, anyone's ("removed by the
    /// owner"). Everyone who may read it sees a tombstone in its place; a GIF's files go when no other message
    /// points at them. Deleting a deleted message changes nothing.
    pub async fn delete_message(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        seq: i64,
    ) -> ServerResult<ChatMessage> {
        let message = db::message(&self.db, room, seq).await?.filter(|m| m.readable_by(&person.id));
        let own = message.as_ref().and_then(|m| m.author.as_ref()).is_some_and(|author| author.id == person.id);
        let by = if own { db::Deleter::Author(&person.id) } else { db::Deleter::Owner(&person.id) };
        match db::delete_message(&self.db, room, seq, by).await? {
            Some(db::MessageDeletion { applied, file }) => {
                let message = self.announce_change(applied);
                self.release_gifs(file);
                Ok(message)
            }
            None => {
                self.admit_poster(room, person).await?;
                let problem = match message {
                    None => NOT_THERE,
                    Some(message) if message.kind == MessageKind::System => "Updates cannot be deleted.",
                    Some(_) => "Only the room's owner can remove other people's messages.",
                };
                Err(AppError::Invalid(problem.into()).into())
            }
        }
    }

    /// `person` is typing in the room (their page says so at most every 2 s): the others there are told, on
    /// every instance. Never stored.
    pub fn typing(&self, room: RoomId, person: &Person) {
        self.hub.publish(Topic::Room(room), &LiveEvent::Typing { room, person: person.clone() });
    }

    /// Tells everyone who may read the message of a change made to it, if one was (`event`: what they are told,
    /// from the change's number and the message as it stands), and answers the message as it stands for its actor.
    fn announce_made(&self, applied: db::Applied, event: impl FnOnce(i64, &ChatMessage) -> LiveEvent) -> ChatMessage {
        match applied {
            db::Applied::Changed { at, message } => {
                self.publish_about(&message, &event(at, &message));
                message
            }
            db::Applied::Unchanged(message) => message,
        }
    }

    /// [`Chat::announce_made`] for an edit or a deletion: the message as it stands.
    pub(super) fn announce_change(&self, applied: db::Applied) -> ChatMessage {
        self.announce_made(applied, |at, message| {
            // The event is the same for everyone: which reactions are the actor's is theirs to know.
            let mut shared = message.clone();
            shared.reactions.iter_mut().for_each(|reaction| reaction.mine = false);
            LiveEvent::Changed { seq: at, message: shared }
        })
    }

    /// [`Chat::announce_made`] for a reaction: `person` gave (`added`) or took back their `emoji`, leaving `count`.
    /// A reaction given alarms the message's author.
    fn announce_reaction(
        self: &Arc<Self>,
        applied: db::Applied,
        person: &Person,
        emoji: Emoji,
        added: bool,
        count: u32,
    ) -> ChatMessage {
        let given = added && matches!(applied, db::Applied::Changed { .. });
        let message = self.announce_made(applied, |at, message| {
            let emoji = emoji.as_str().to_owned();
            let change = ReactionChange { message: message.seq, emoji, by: person.id.clone(), added, count };
            LiveEvent::Reactions { room: message.room_id, from: at, seq: at, changes: vec![change] }
        });
        if given {
            self.alarm_reaction(&message, &person.id, emoji.as_str());
        }
        message
    }

    /// Who reacted to message `seq`, by emoji (the first few dozen of each), for someone who may read it.
    pub async fn reactors(&self, room: RoomId, viewer: &Person, seq: i64) -> ServerResult<Vec<Reactors>> {
        let admission = self.admit(room, viewer).await?;
        let listed = db::reactors(&self.db, admission.room(), seq, &viewer.id, MAX_REACTORS_LISTED).await?;
        Ok(listed
            .into_iter()
            .map(|(emoji, people, count)| Reactors {
                emoji,
                people: people.iter().map(|id| person(id.as_str())).collect(),
                count,
            })
            .collect())
    }

    /// Pushes a committed change to `message` to everyone who may read it (a whisper's two people only).
    fn publish_about(&self, message: &ChatMessage, event: &LiveEvent) {
        let topic = Topic::Room(message.room_id);
        match (&message.author, &message.recipient) {
            (Some(author), Some(recipient)) => self.hub.publish_to(topic, event, &[&author.id, &recipient.id]),
            _ => self.hub.publish(topic, event),
        }
    }
}

/// What a change to a message that is gone (or never was, for the one asking) is told.
const NOT_THERE: &str = "That message is not there (any more).";

/// Which of a room's `readers` (each with the last message they read) are told of `message`: those who have not
/// read it, did not write it, and may read it (a whisper is for its recipient only). Only those on a room list
/// now get anything: the others have no topic, in any process.
fn to_be_told(readers: &[(PersonId, i64)], message: &ChatMessage) -> Vec<PersonId> {
    let author = message.author.as_ref().map(|a| &a.id);
    let recipient = message.recipient.as_ref().map(|r| &r.id);
    readers
        .iter()
        .filter(|(_, last_read)| *last_read < message.seq)
        .map(|(reader, _)| reader)
        .filter(|reader| Some(*reader) != author)
        .filter(|reader| recipient.is_none_or(|r| r == *reader))
        .cloned()
        .collect()
}

/// Messages whose room's followers are still to be told, per room (see [`Chat::notify_followers`]). A room is
/// here while its notifier runs, with the messages committed since that notifier last looked.
#[derive(Default)]
pub(super) struct FollowersDue(Mutex<HashMap<RoomId, Vec<ChatMessage>>>);

impl FollowersDue {
    /// Queues `message`; true if no notifier runs for its room yet (the caller starts one).
    fn queue(&self, message: ChatMessage) -> bool {
        match self.0.lock().unwrap().entry(message.room_id) {
            Entry::Occupied(mut due) => {
                due.get_mut().push(message);
                false
            }
            Entry::Vacant(room) => {
                room.insert(vec![message]);
                true
            }
        }
    }

    /// Every message queued for `room`, oldest first. Empty when there was none: the room's notifier then ends,
    /// and the next message starts a new one.
    fn take(&self, room: RoomId) -> Vec<ChatMessage> {
        let mut rooms = self.0.lock().unwrap();
        match rooms.get_mut(&room) {
            Some(due) if !due.is_empty() => {
                // Sends committed together may have been queued in another order.
                due.sort_by_key(|message| message.seq);
                std::mem::take(due)
            }
            _ => {
                rooms.remove(&room);
                Vec::new()
            }
        }
    }

    /// Rooms with a notifier running (for the memory footprint).
    pub(super) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Forgets a room whose notifier stopped in a panic (it never emptied the queue), so that the room's next message
/// starts a new notifier instead of queueing for one that is gone.
struct NotifierEnd<'a> {
    due: &'a FollowersDue,
    room: RoomId,
}

impl Drop for NotifierEnd<'_> {
    fn drop(&mut self) {
        // Not otherwise: a notifier that returned removed its room itself, and a new one may be running by now.
        if std::thread::panicking()
            && let Ok(mut rooms) = self.due.0.lock()
        {
            rooms.remove(&self.room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: i64, seq: i64) -> ChatMessage {
        let body = format!("message {seq}");
        ChatMessage {
            room_id: RoomId::new(room),
            seq,
            kind: MessageKind::Text,
            author: None,
            recipient: None,
            body,
            created_at: 0,
            reactions: Vec::new(),
            reply_to: None,
            edited_at: None,
            deleted: None,
            video: None,
            mentions: Vec::new(),
        }
    }

    fn seqs(messages: &[ChatMessage]) -> Vec<i64> {
        messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn each_message_is_told_to_the_readers_who_have_not_read_it_may_read_it_and_did_not_write_it() {
        let [alice, bob, carol] = ["alice", "bob", "carol"].map(|name| PersonId::parse(name).unwrap());
        // Bob read up to message 5, Carol up to 3 (one query for messages 4 to 6 returns them both).
        let readers = [(bob.clone(), 5), (carol.clone(), 3)];
        let told = |message: &ChatMessage| -> Vec<PersonId> { to_be_told(&readers, message) };
        let from = |author: &PersonId| Some(person(author.as_str()));

        let mut message = message(1, 4);
        message.author = from(&alice);
        assert_eq!(told(&message), vec![carol.clone()], "Bob has read message 4 already");
        message.seq = 6;
        assert_eq!(told(&message), vec![bob.clone(), carol.clone()]);
        message.author = from(&bob);
        assert_eq!(told(&message), vec![carol.clone()], "not told of their own message");
        message.recipient = from(&alice);
        message.kind = MessageKind::Whisper;
        assert!(told(&message).is_empty(), "a whisper to Alice is for Alice");
        message.author = from(&alice);
        message.recipient = from(&bob);
        assert_eq!(told(&message), vec![bob]);
    }

    #[test]
    fn one_notifier_per_room_takes_what_came_meanwhile_in_order_and_ends_when_nothing_is_left() {
        let due = FollowersDue::default();
        assert!(due.queue(message(1, 1)), "the first message of a room starts its notifier");
        assert!(due.queue(message(2, 1)), "each room has its own");
        assert_eq!(seqs(&due.take(RoomId::new(1))), vec![1]);
        assert!(!due.queue(message(1, 2)), "a notifier runs: it will take this one");
        assert!(!due.queue(message(1, 4)));
        assert!(!due.queue(message(1, 3)), "a send committed before the one queued last");
        assert_eq!(seqs(&due.take(RoomId::new(1))), vec![2, 3, 4], "taken together, oldest first");
        assert!(due.take(RoomId::new(1)).is_empty(), "nothing more: the notifier ends");
        assert_eq!(due.len(), 1, "and its room is forgotten");
        assert!(due.queue(message(1, 5)), "the next message starts a new notifier");
    }

    #[test]
    fn a_notifier_that_panics_lets_the_next_message_start_another() {
        let due = FollowersDue::default();
        assert!(due.queue(message(1, 1)));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _end = NotifierEnd { due: &due, room: RoomId::new(1) };
            panic!("a notifier's bug");
        }));
        assert!(panicked.is_err());
        assert!(due.queue(message(1, 2)), "not queued for a notifier that is gone");

        // A notifier that ends normally leaves a newer one alone.
        assert!(due.take(RoomId::new(1)).len() == 1 && due.take(RoomId::new(1)).is_empty());
        assert!(due.queue(message(1, 3)), "a new notifier");
        drop(NotifierEnd { due: &due, room: RoomId::new(1) });
        assert!(!due.queue(message(1, 4)), "the new notifier still runs");
    }
}
