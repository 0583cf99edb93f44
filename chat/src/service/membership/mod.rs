//! Who may be in a room, and who is: admission (one query, one rule, one [`Refusal`]), joining and leaving,
//! owner hand-over, kicks, and the announcements of who is here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::Chat;
use super::coalesce::Movement;
use super::db::{self, AdmissionRow, now_millis};
use super::messages::Outgoing;
use super::presence::{self, Departures, Entry, JoinOutcome, Snapshot};
use crate::error::{ServerError, ServerResult};
use crate::hub::{Feed, Topic};
use crate::identity::{distinguishing_tags, person};
use crate::passwords;
use protocol::domain::PersonId;
use protocol::error::{AppError, Limit, Refusal};
use protocol::live::LiveEvent;
use protocol::model::{
    Ban, ChatMessage, Participant, People, PeopleChange, Person, RoomAccess, RoomId, RoomLabel, RoomSummary, RoomView,
    roster_digest,
};

/// How many of a room's bans its owner sees (the latest).
pub const MAX_BANS_SHOWN: u32 = 100;

/// Proof that a person may see a room: made only by [`Chat::admit`].
#[derive(Debug)]
pub struct Admission {
    row: AdmissionRow,
    person: Person,
}

impl Admission {
    pub fn room(&self) -> RoomId {
        self.row.room.id
    }

    pub fn person(&self) -> &Person {
        &self.person
    }

    /// Whether the room has a password: what is posted there is for its members only.
    pub fn locked(&self) -> bool {
        self.row.room.password_hash.is_some()
    }
}

/// The rule of who may see a room, said once: they are not banned from it, and if it is locked they gave its
/// password. Capacity and presence are checked where they matter (entering, posting).
fn refusal(row: &AdmissionRow) -> Option<Refusal> {
    if row.banned {
        Some(Refusal::Banned)
    } else if row.room.password_hash.is_some() && !row.granted {
        Some(Refusal::Password)
    } else {
        None
    }
}

fn label(row: &AdmissionRow) -> RoomLabel {
    RoomLabel { id: row.room.id, title: row.room.title.clone(), max_members: row.room.max_members as u32 }
}

/// A connection's way into a room, as [`Chat::join`] worked it out.
pub struct Joined {
    /// The room's live events from before the join on.
    pub feed: Feed,
    pub present: u32,
    /// The room's latest message when the join was admitted: the client has to be caught up to here.
    pub last_seq: i64,
    /// Where the room stands, for a connection of someone already present, to check its page's list against (a
    /// newcomer's arrival is announced to the whole room, this connection included, so it gets nothing here).
    pub people: Option<PeopleChange>,
}

/// What an arrival must pass besides admission, checked only for someone not in the room yet: the caller's
/// limits on how fast a person or a network may enter rooms (each arrival is announced to the room).
pub type ArrivalCheck<'a> = &'a (dyn Fn() -> Result<(), AppError> + Send + Sync);

/// No check beyond admission (tests, and callers limited otherwise).
pub const ANY_ARRIVAL: ArrivalCheck<'static> = &|| Ok(());

/// What registering a connection found.
enum Arrival {
    /// A newcomer, announced to the room.
    New(Snapshot),
    AlreadyHere(Snapshot),
}

/// How long a room's standing, read for one connection that fell behind, serves the others that ask.
const STANDING_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Who is in a room and its latest message, read once for every connection of the room that fell behind at
/// about the same moment ([`Chat::after_lag`]).
pub(in crate::service) struct Standing {
    read_at: std::time::Instant,
    #[allow(clippy::type_complexity)]
    cell: Arc<tokio::sync::OnceCell<Result<(Option<Snapshot>, i64), String>>>,
}

impl Standing {
    fn new() -> Standing {
        Standing { read_at: std::time::Instant::now(), cell: Arc::default() }
    }

    /// Whether it is too old to serve anyone (to forget it).
    pub(in crate::service) fn stale(&self) -> bool {
        self.read_at.elapsed() > STANDING_FRESH
    }
}

/// Where a room stands for a connection that fell behind its feed ([`Chat::after_lag`]).
#[derive(Debug)]
pub enum AfterLag {
    /// The person is not in the room any more (removed, or gone meanwhile).
    Removed,
    /// Still in it: who is here now (`None` if the room is gone), and the latest message's sequence number.
    Behind { people: Option<PeopleChange>, last_seq: i64 },
}

impl Chat {
    /// Whether `person` may see the room (see [`refusal`]), in one query.
    pub(super) async fn admit(&self, room: RoomId, person: &Person) -> ServerResult<Admission> {
        let row = db::admission(&self.db, room, &person.id).await?.ok_or(Refusal::NotFound)?;
        match refusal(&row) {
            Some(refusal) => Err(refusal.into()),
            None => Ok(Admission { row, person: person.clone() }),
        }
    }

    /// Admission to post: as [`Chat::admit`], and present in the room.
    pub async fn admit_poster(&self, room: RoomId, person: &Person) -> ServerResult<Admission> {
        let admission = self.admit(room, person).await?;
        if !admission.row.here {
            return Err(Refusal::NotPresent.into());
        }
        Ok(admission)
    }

    /// What `/room/:id` shows `me`: the room with its latest messages (or those before `before`), or why they
    /// cannot enter.
    pub async fn room_page(&self, room: RoomId, me: &Person, before: Option<i64>) -> ServerResult<RoomAccess> {
        let Some(row) = db::admission(&self.db, room, &me.id).await? else {
            return Ok(RoomAccess::Refused { refusal: Refusal::NotFound, room: None });
        };
        if let Some(refusal) = refusal(&row) {
            return Ok(RoomAccess::Refused { refusal, room: Some(label(&row)) });
        }
        let Some(snapshot) = presence::snapshot(&self.db, room).await? else {
            return Ok(RoomAccess::Refused { refusal: Refusal::NotFound, room: None });
        };
        // The count and the list as of one moment.
        let summary =
            RoomSummary { present: snapshot.present(), presence_version: snapshot.version, ..self.summary(&row.room) };
        if !row.here && presence::seats_taken(&self.db, room).await? >= i64::from(summary.max_members) {
            return Ok(RoomAccess::Refused { refusal: Refusal::Full, room: Some(label(&row)) });
        }
        let (messages, has_earlier) = db::messages_before(&self.db, room, &me.id, before).await?;
        let participants = participants(&snapshot);
        let room_grace_secs = self.room_grace_secs();
        let edit_window_secs = self.settings.edit_window.as_secs() as u32;
        let view = RoomView {
            room: summary,
            me: me.clone(),
            participants,
            messages,
            has_earlier,
            room_grace_secs,
            edit_window_secs,
        };
        Ok(RoomAccess::Open(Box::new(view)))
    }

    /// Checks a room's password; a correct one is remembered for the person's session. Attempts are limited
    /// per person and per client address.
    pub async fn enter_with_password(
        &self,
        room: RoomId,
        person: &Person,
        password: String,
        address: Option<IpAddr>,
    ) -> ServerResult<()> {
        // (As admission finds it: a private room that is not theirs does not exist.)
        let row = db::admission(&self.db, room, &person.id).await?.ok_or(Refusal::NotFound)?;
        let Some(hash) = row.room.password_hash else {
            return Ok(());
        };
        if let Err(wait) = self.password_attempts.check(&person.id, address) {
            self.metrics.rate_limited(Limit::PasswordAttempts);
            let retry_after = wait.as_secs() + 1;
            return Err(AppError::TooManyRequests { limit: Limit::PasswordAttempts, retry_after }.into());
        }
        if password.chars().count() > protocol::domain::RoomPassword::MAX_CHARS
            || !passwords::verify(hash, password).await?
        {
            return Err(AppError::WrongPassword.into());
        }
        db::grant(&self.db, room, &person.id).await?;
        Ok(())
    }

    /// Adds a live connection of `person` to a room: admission, then capacity and bans in one transaction with
    /// registering them (see `presence.rs`), whichever process the others in the room are connected to. A
    /// newcomer is announced in the room, and may take over a room its owner left empty.
    pub async fn join(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        check: ArrivalCheck<'_>,
    ) -> ServerResult<Joined> {
        // Subscribe before reading the room's position: whatever is committed after it arrives on the feed.
        let feed = self.hub.subscribe(Topic::Room(room));
        let instance = self.instance();
        let (arrival, last_seq) = self.arrive(room, person, Entry::Connection { instance: &instance }, check).await?;
        // Watched for a kick the broker may not bring (only with other processes: see `expel_the_removed`).
        if self.broker.get().is_some() {
            *self.connected_here.lock().unwrap().entry((room, person.id.clone())).or_default() += 1;
        }
        Ok(match arrival {
            Arrival::AlreadyHere(snapshot) => Joined {
                feed,
                present: snapshot.present(),
                last_seq,
                people: Some(people_change(&snapshot, None, &[])),
            },
            Arrival::New(snapshot) => Joined { feed, present: snapshot.present(), last_seq, people: None },
        })
    }

    /// Someone without the live channel (a plain form post: no JavaScript, or not yet) is in the room for the
    /// visit's length from now, whatever their live connections do meanwhile; each post starts it again.
    /// Admission, capacity and the visit's registration are one transaction, as for a connection.
    pub async fn visit(self: &Arc<Self>, room: RoomId, person: &Person, check: ArrivalCheck<'_>) -> ServerResult<()> {
        self.start_visit(room, person, check).await.map(drop)
    }

    /// As [`Chat::visit`]; true if the person was not in the room before.
    async fn start_visit(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        check: ArrivalCheck<'_>,
    ) -> ServerResult<bool> {
        let until = now_millis() + self.settings.visit.as_millis() as i64;
        let (arrival, _) = self.arrive(room, person, Entry::Visit { until }, check).await?;
        let end = self.settings.visit + self.settings.leave_grace;
        self.after(end, move |chat| async move { chat.finish_departures(room).await });
        Ok(matches!(arrival, Arrival::New(_)))
    }

    /// A plain form's send: the post brings its sender into the room for a visit ([`Chat::visit`]), and only a
    /// send that can go through does. What can be checked first is (a whisper needs its person here); a send that
    /// fails after all ends the visit it started.
    pub async fn send_visiting(
        self: &Arc<Self>,
        room: RoomId,
        author: &Person,
        outgoing: Outgoing,
        check: ArrivalCheck<'_>,
    ) -> ServerResult<ChatMessage> {
        if let Some(recipient) = &outgoing.to {
            self.admit(room, author).await?;
            self.check_whisper(room, author, recipient).await?;
        }
        let arrived = self.start_visit(room, author, check).await?;
        let sent = self.send_text(room, author, outgoing).await;
        if sent.is_err() && arrived {
            match presence::end_visit(&self.db, room, &author.id, now_millis() - self.graces().leave - 1).await {
                Ok(()) => self.finish_departures(room).await,
                Err(error) => tracing::warn!(%error, %room, "ending the visit of a send that failed"),
            }
        }
        sent
    }

    /// Registers one more connection (or a visit) of `person` in the room, and announces a newcomer; with the
    /// room's latest message number when they were admitted.
    async fn arrive(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        entry: Entry<'_>,
        check: ArrivalCheck<'_>,
    ) -> ServerResult<(Arrival, i64)> {
        let admission = self.admit(room, person).await?;
        if !admission.row.here {
            check()?;
        }
        let last_seq = admission.row.last_seq;
        let outcome = presence::join(&self.db, room, &person.id, entry, now_millis(), self.graces()).await?;
        match outcome {
            JoinOutcome::Full => Err(Refusal::Full.into()),
            JoinOutcome::Removed => Err(Refusal::NotFound.into()),
            JoinOutcome::Banned => Err(Refusal::Banned.into()),
            JoinOutcome::AlreadyHere { snapshot } => Ok((Arrival::AlreadyHere(snapshot), last_seq)),
            JoinOutcome::Arrived { snapshot, takes_over, bumped } => {
                // The change first: it waits for nothing, so changes of the room are seldom published out of order.
                self.announce(room, &snapshot, Some(person), &bumped);
                for visitor in bumped {
                    self.announce_movement(room, Movement::Left(visitor)).await;
                }
                self.announce_movement(room, Movement::Joined(person.clone())).await;
                if takes_over {
                    self.announce_owner(room, person).await;
                }
                Ok((Arrival::New(snapshot), last_seq))
            }
        }
    }

    /// Removes a live connection of a person from a room; everything sent to it counts as read (`read_up_to`).
    /// Their departure is announced after the leave grace, unless they come back (through any process).
    pub async fn leave(self: &Arc<Self>, room: RoomId, person: &PersonId, read_up_to: i64) {
        {
            let mut here = self.connected_here.lock().unwrap();
            let member = (room, person.clone());
            if let Some(count) = here.get_mut(&member) {
                *count -= 1;
                if *count == 0 {
                    here.remove(&member);
                }
            }
        }
        if let Err(error) = db::mark_read(&self.db, room, person, read_up_to).await {
            tracing::warn!(%error, %room, "saving a read mark");
        }
        let instance = self.instance();
        match presence::leave(&self.db, room, person, &instance, now_millis()).await {
            Ok(true) => self.finish_departures_after_grace(room),
            Ok(false) => {}
            Err(error) => {
                // The database is out of reach: try again until it answers, or the person would stay counted
                // for as long as this process lives.
                tracing::warn!(%error, %room, "registering a leave; trying again");
                let (chat, person) = (self.clone(), person.clone());
                let stopping = self.stopping.clone();
                self.tasks.spawn(async move {
                    loop {
                        tokio::select! {
                            () = stopping.cancelled() => return,
                            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                        match presence::leave(&chat.db, room, &person, &instance, now_millis()).await {
                            Ok(true) => break chat.finish_departures_after_grace(room),
                            Ok(false) => break,
                            Err(_) => continue,
                        }
                    }
                });
            }
        }
    }

    /// Completes the departures of the room once the leave grace of a connection that closed now is over (a timer
    /// of this process; every process also looks for due departures every second).
    pub(super) fn finish_departures_after_grace(self: &Arc<Self>, room: RoomId) {
        self.after(self.settings.leave_grace, move |chat| async move { chat.finish_departures(room).await });
    }

    /// Completes the departures of the people whose leave grace is over: announces them, hands the room over if
    /// its owner left, and starts the timers of an owner away and an empty room.
    pub(super) async fn finish_departures(self: &Arc<Self>, room: RoomId) {
        let departures = match presence::finish_departures(&self.db, room, now_millis(), self.graces()).await {
            Ok(Some(departures)) => departures,
            Ok(None) => return,
            Err(error) => return tracing::error!(%error, %room, "completing departures"),
        };
        self.follow_up(room, &departures);
        for person in &departures.left {
            self.announce_movement(room, Movement::Left(person.clone())).await;
        }
        if let Some(successor) = &departures.new_owner {
            self.announce_owner(room, successor).await;
        }
    }

    /// Announces who is here after people went, and starts the timers their going calls for.
    fn follow_up(self: &Arc<Self>, room: RoomId, departures: &Departures) {
        self.announce(room, &departures.snapshot, None, &departures.left);
        if departures.owner_away {
            // The owner keeps a room they left empty for its grace; then whoever is here takes over.
            self.after(self.settings.room_grace, move |chat| async move { chat.hand_over_if_owner_away(room).await });
        }
        if let Some(at) = departures.remove_at {
            self.remove_at(room, at);
        }
    }

    /// The grace of an owner who left their room empty is over: whoever is here longest takes over.
    pub(super) async fn hand_over_if_owner_away(self: &Arc<Self>, room: RoomId) {
        match presence::hand_over_if_owner_away(&self.db, room, now_millis(), self.graces()).await {
            Ok(Some((successor, snapshot))) => {
                self.announce(room, &snapshot, None, &[]);
                self.announce_owner(room, &successor).await;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, %room, "handing a room over"),
        }
    }

    /// Where the room stands for a connection of `person` that fell behind its feed and may have missed any of
    /// its events: whether they are still in it (a kick may be among what it missed), who is here (as a change of
    /// nothing, to check its list against) and the latest message to catch up to.
    ///
    /// Where the room stands is read once for all the connections that ask within [`STANDING_FRESH`] (a broker
    /// that comes back makes every connection of the process ask at once: the database is asked once per room,
    /// not once per connection).
    pub async fn after_lag(&self, room: RoomId, person: &PersonId) -> ServerResult<AfterLag> {
        let cell = {
            let mut standings = self.standings.lock().unwrap();
            let standing = standings.entry(room).or_insert_with(Standing::new);
            if standing.read_at.elapsed() > STANDING_FRESH {
                *standing = Standing::new();
            }
            standing.cell.clone()
        };
        let read = cell
            .get_or_init(|| async {
                self.metrics.standing_reads.inc();
                let snapshot = presence::snapshot(&self.db, room).await.map_err(|error| error.to_string())?;
                let last_seq = db::last_seq(&self.db, room).await.map_err(|error| error.to_string())?.unwrap_or(0);
                Ok((snapshot, last_seq))
            })
            .await;
        let (snapshot, last_seq) = read.as_ref().map_err(|error| ServerError::Shared(error.clone()))?;
        let Some(snapshot) = snapshot.as_ref().filter(|snapshot| snapshot.people.iter().any(|p| p.id == *person))
        else {
            return Ok(AfterLag::Removed);
        };
        Ok(AfterLag::Behind { people: Some(people_change(snapshot, None, &[])), last_seq: *last_seq })
    }

    /// Tells the room and the room lists that `owner` owns the room now (presence stored it).
    async fn announce_owner(self: &Arc<Self>, room: RoomId, owner: &Person) {
        self.system_message(room, format!("{} is now the owner", owner.name)).await;
        self.publish_on_lists(room, LiveEvent::RoomOwner { id: room, owner: owner.clone() });
    }

    /// Who is in the room now, whole, for someone who may see it: for a page whose list missed a change.
    pub async fn who_is_here(&self, room: RoomId, viewer: &Person) -> ServerResult<People> {
        self.admit(room, viewer).await?;
        let snapshot = presence::snapshot(&self.db, room).await?.ok_or(Refusal::NotFound)?;
        Ok(People { people: participants(&snapshot), version: snapshot.version })
    }

    /// Tells the room lists how many people are in the room, and the room what changed (`arrived`, `left`), as of
    /// `snapshot`.
    fn announce(self: &Arc<Self>, room: RoomId, snapshot: &Snapshot, arrived: Option<&Person>, left: &[Person]) {
        self.announce_count(room, snapshot.present(), snapshot.version);
        let change = people_change(snapshot, arrived, left);
        self.hub.publish(Topic::Room(room), &LiveEvent::People { room, change });
    }

    /// The people the owner removed from the room, the latest first (at most [`MAX_BANS_SHOWN`]): for its owner
    /// only.
    pub async fn bans(&self, room: RoomId, by: &Person) -> ServerResult<Vec<Ban>> {
        match db::bans(&self.db, room, &by.id, MAX_BANS_SHOWN).await? {
            Some(bans) => {
                Ok(bans.into_iter().map(|(id, banned_at)| Ban { person: person(id.as_str()), banned_at }).collect())
            }
            None => Err(self.not_owner_or_gone(room, &by.id).await),
        }
    }

    /// The owner lets `target` enter the room again (they come back as anyone would: with the password, if the
    /// room has one). Lifting a ban that is not there changes nothing.
    pub async fn lift_ban(&self, room: RoomId, by: &Person, target: &PersonId) -> ServerResult<()> {
        match db::lift_ban(&self.db, room, &by.id, target).await? {
            db::Lifted::Done => {
                tracing::info!(%room, "a ban was lifted");
                Ok(())
            }
            db::Lifted::NotOwner | db::Lifted::NoRoom => Err(self.not_owner_or_gone(room, &by.id).await),
        }
    }

    /// Why an owner's action changed nothing: the room is gone, or the caller does not own it.
    /// (A private room that is not `by`'s is one that does not exist.)
    pub(super) async fn not_owner_or_gone(&self, room: RoomId, by: &PersonId) -> ServerError {
        match db::admission(&self.db, room, by).await {
            Ok(Some(_)) => AppError::Forbidden("Only the room's owner can do that.".into()).into(),
            Ok(None) => Refusal::NotFound.into(),
            Err(error) => error.into(),
        }
    }

    /// The room's owner removes `target`: at once, and for as long as the room exists.
    pub async fn kick(self: &Arc<Self>, room: RoomId, by: &Person, target: &PersonId) -> ServerResult<()> {
        if *target == by.id {
            return Err(AppError::Invalid("You cannot remove yourself; leave the room instead.".into()).into());
        }
        if !presence::is_present(&self.db, room, target).await? {
            return Err(AppError::Invalid("That person is not in this room.".into()).into());
        }
        let announcement = format!("{} was removed by the owner", person(target.as_str()).name);
        let message = match db::kick(&self.db, room, &by.id, target, &announcement).await? {
            db::Kicked::Done(message) => *message,
            db::Kicked::NotOwner => return Err(self.not_owner_or_gone(room, &by.id).await),
            db::Kicked::NoRoom => return Err(Refusal::NotFound.into()),
        };
        // The ban is stored: from here on, no tab of theirs can rejoin. Now out of the room, at once, on every
        // process (the expulsion travels through the broker).
        let after = presence::evict(&self.db, room, target, now_millis(), self.graces()).await;
        self.hub.expel(Topic::Room(room), &LiveEvent::Kicked { room }, target);
        // Committed: announced whatever became of the eviction (its leave grace then takes them out).
        self.publish_message(&message);
        self.withdraw_alarms(target, room);
        let after = after?;
        if let Some(departures) = after {
            self.follow_up(room, &departures);
            if let Some(successor) = &departures.new_owner {
                self.announce_owner(room, successor).await;
            }
        }
        Ok(())
    }
}

/// The change from who was here before (`snapshot` without `arrived`, and with `left`) to `snapshot`: the
/// newcomer, those who left, the owner, and the tags it changed for the others.
fn people_change(snapshot: &Snapshot, arrived: Option<&Person>, left: &[Person]) -> PeopleChange {
    let after = participants(snapshot);
    let is_newcomer = |id: &PersonId| arrived.is_some_and(|newcomer| newcomer.id == *id);
    let before: Vec<Person> = snapshot.people.iter().filter(|p| !is_newcomer(&p.id)).chain(left).cloned().collect();
    let tags_before: HashMap<&PersonId, Option<String>> =
        before.iter().map(|p| &p.id).zip(distinguishing_tags(&before)).collect();
    let retagged = after
        .iter()
        .filter(|p| !is_newcomer(&p.person.id) && tags_before.get(&p.person.id).is_some_and(|tag| *tag != p.tag))
        .map(|p| (p.person.id.clone(), p.tag.clone()))
        .collect();
    PeopleChange {
        version: snapshot.version,
        arrived: after.iter().filter(|p| is_newcomer(&p.person.id)).cloned().collect(),
        left: left.iter().map(|p| p.id.clone()).collect(),
        owner: snapshot.owner.clone(),
        retagged,
        present: snapshot.present(),
        digest: roster_digest(snapshot.people.iter().map(|p| &p.id)),
    }
}

/// Who is in the room, in order of arrival, marked as owner and told apart where they look alike.
fn participants(snapshot: &Snapshot) -> Vec<Participant> {
    let tags = distinguishing_tags(&snapshot.people);
    snapshot
        .people
        .iter()
        .zip(tags)
        .map(|(person, tag)| Participant { owner: person.id == snapshot.owner, person: person.clone(), tag })
        .collect()
}

#[cfg(test)]
mod tests;
