//! Messages on their way: shown at once as pending, kept in the browser (per room) until the server has them,
//! and delivered in order, each exactly once (its client id makes every retry the same message), whenever the
//! page is connected and in the room again: after a network blip, a reload, or a tab closed and opened again.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::send_message;
use crate::browser;
use protocol::error::{AppError, Refusal};
use protocol::model::{ChatMessage, Person, Quote, RoomId};

/// A message the person sent that the server has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The message's own id, the same for every attempt: the server stores it once.
    pub client_id: String,
    pub text: String,
    /// For a whisper, to whom: it is never sent to everyone instead.
    pub to: Option<Person>,
    /// The message it answers, as quoted when it was written.
    #[serde(default)]
    pub reply_to: Option<Quote>,
    /// The people its text mentions (`<@id>` in `text`).
    #[serde(default)]
    pub mentions: Vec<Person>,
    /// Why the server refused it, if it did: it then waits for Retry or Discard.
    #[serde(skip)]
    pub refused: Option<String>,
    /// Why it has not gone yet, when the last attempt did not get through: it is tried again by itself.
    #[serde(skip)]
    pub delayed: Option<String>,
}

/// What became of a delivery attempt, as the outbox sees it.
enum Attempt {
    Delivered(Box<ChatMessage>),
    /// Not through, or not now (offline, the database out of reach, not back in the room yet): tried again after
    /// at least this many milliseconds; the reason, if the person should know it.
    Later(u32, Option<String>),
    Refused(AppError),
}

/// How long a message waits before it is tried again, by attempt: 1, 2, 4, then every 8 seconds.
fn backoff_ms(attempt: u32) -> u32 {
    1000 << attempt.min(3)
}

fn attempt_of(result: Result<ChatMessage, AppError>) -> Attempt {
    match result {
        Ok(message) => Attempt::Delivered(Box::new(message)),
        Err(AppError::Unreachable(_)) => Attempt::Later(0, Some("The server does not answer; trying again.".into())),
        Err(AppError::Unavailable) => Attempt::Later(5000, Some(format!("{} Trying again.", AppError::Unavailable))),
        // Sent before the page was back in the room (its presence had lapsed while it was away).
        Err(AppError::Refused(Refusal::NotPresent)) => Attempt::Later(0, None),
        Err(refusal) => Attempt::Refused(refusal),
    }
}

/// A room's outbox: what is pending, shown in the log, and the one loop that delivers it.
#[derive(Clone, Copy)]
pub struct Outbox {
    room: RoomId,
    pub pending: RwSignal<Vec<Pending>>,
    /// The latest refusal, with its message (which waits, marked, for Retry or Discard): for the composer.
    pub refused: RwSignal<Option<(Pending, AppError)>>,
    /// Whether the page is connected and in the room (its live channel joined it): only then is anything sent.
    ready: Signal<bool>,
    on_delivered: Callback<ChatMessage>,
    delivering: StoredValue<bool>,
    key: StoredValue<String>,
}

impl Outbox {
    /// The room's outbox, with what an earlier visit left pending (delivered as soon as `ready`). Each message
    /// the server stores goes to `on_delivered`.
    pub fn new(room: RoomId, ready: Signal<bool>, on_delivered: Callback<ChatMessage>) -> Outbox {
        let outbox = Outbox {
            room,
            pending: RwSignal::new(Vec::new()),
            refused: RwSignal::new(None),
            ready,
            on_delivered,
            delivering: StoredValue::new(false),
            key: StoredValue::new(format!("gif-chat.pending.{room}")),
        };
        // In the browser only (the server renders none): restored after hydration, then kept in step.
        Effect::new(move |first: Option<()>| {
            if first.is_none() {
                let kept = outbox.key.with_value(|key| browser::stored(key));
                let kept: Vec<Pending> = kept.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default();
                if !kept.is_empty() {
                    outbox.pending.set(kept);
                }
            }
            outbox.pending.with(|pending| {
                outbox.key.with_value(|key| match pending.is_empty() {
                    true => browser::forget(key),
                    false => browser::store(key, &serde_json::to_string(pending).unwrap_or_default()),
                })
            });
        });
        // Whenever the page is ready again, what is waiting goes.
        Effect::new(move |_| {
            if outbox.ready.get() {
                outbox.deliver();
            }
        });
        outbox
    }

    /// Queues `text` (to `to`, for a whisper; answering `reply_to`) and delivers it.
    pub fn send(self, text: String, to: Option<Person>, reply_to: Option<Quote>, mentions: Vec<Person>) {
        // One id for the message, reused by every retry: the server stores it once, however often it arrives.
        let client_id = browser::random_id()
            .unwrap_or_else(|| format!("t{}x{}", browser::now_millis(), browser::jitter_ms(u32::MAX)));
        self.pending.update(|pending| {
            pending.push(Pending { client_id, text, to, reply_to, mentions, refused: None, delayed: None })
        });
        self.deliver();
    }

    /// Tries a refused message again.
    pub fn retry(self, client_id: &str) {
        self.pending.update(|pending| {
            pending.iter_mut().filter(|p| p.client_id == client_id).for_each(|p| {
                p.refused = None;
                p.delayed = None;
            });
        });
        self.deliver();
    }

    /// Gives up on a message (refused, or not wanted any more).
    pub fn discard(self, client_id: &str) {
        self.pending.update(|pending| pending.retain(|p| p.client_id != client_id));
    }

    /// Sends what is pending (and not refused), the oldest first, one at a time, while the page is ready; a
    /// message that does not get through is tried again, for as long as the page lives. A refused one waits,
    /// marked, for Retry or Discard.
    fn deliver(self) {
        if self.delivering.get_value() {
            return;
        }
        self.delivering.set_value(true);
        leptos::task::spawn_local(async move {
            let mut failures = 0;
            // (The page may be gone by the time a wait is over: then its signals are too, and this stops.)
            loop {
                let next = self.pending.try_with_untracked(|p| p.iter().find(|p| p.refused.is_none()).cloned());
                // Nothing to send, or not now: an effect starts this again when the page is ready.
                let (Some(Some(next)), Some(true)) = (next, self.ready.try_get_untracked()) else { break };
                let to = next.to.as_ref().map(|person| person.id.to_string());
                let reply_to = next.reply_to.as_ref().map(|quote| quote.seq);
                let result =
                    send_message(self.room, next.text.clone(), to, Some(next.client_id.clone()), reply_to).await;
                match attempt_of(result) {
                    Attempt::Delivered(message) => {
                        failures = 0;
                        let _ = self.pending.try_update(|p| p.retain(|p| p.client_id != next.client_id));
                        // (Not `run`: the page may be gone by now, and its callback with it.)
                        let _ = self.on_delivered.try_run(*message);
                    }
                    Attempt::Later(at_least_ms, why) => {
                        let _ = self.pending.try_update(|p| {
                            let waiting = p.iter_mut().find(|p| p.client_id == next.client_id);
                            waiting.into_iter().for_each(|p| p.delayed = why.clone());
                        });
                        browser::sleep_ms(backoff_ms(failures).max(at_least_ms)).await;
                        failures += 1;
                    }
                    Attempt::Refused(refusal) => {
                        let _ = self.pending.try_update(|p| {
                            let refused = p.iter_mut().find(|p| p.client_id == next.client_id);
                            refused.into_iter().for_each(|p| p.refused = Some(refusal.to_string()));
                        });
                        self.refused.try_set(Some((next, refusal)));
                    }
                }
            }
            self.delivering.try_set_value(false);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_kept_in_the_browser_is_the_message_and_not_its_refusal() {
        let pending = Pending {
            client_id: "c1".into(),
            text: "hi <b>".into(),
            to: None,
            reply_to: None,
            mentions: Vec::new(),
            refused: Some("You are sending too fast.".into()),
            delayed: Some("The server does not answer; trying again.".into()),
        };
        let json = serde_json::to_string(std::slice::from_ref(&pending)).unwrap();
        let back: Vec<Pending> = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            [Pending { refused: None, delayed: None, ..pending }],
            "a reload tries a refused message again"
        );
    }

    #[test]
    fn only_what_may_pass_later_is_tried_again() {
        assert!(matches!(attempt_of(Err(AppError::Unreachable("offline".into()))), Attempt::Later(0, Some(_))));
        assert!(matches!(attempt_of(Err(AppError::Unavailable)), Attempt::Later(5000, Some(_))));
        assert!(matches!(attempt_of(Err(AppError::Refused(Refusal::NotPresent))), Attempt::Later(0, None)));
        assert!(matches!(attempt_of(Err(AppError::Refused(Refusal::Banned))), Attempt::Refused(_)));
        assert!(matches!(attempt_of(Err(AppError::whisper_not_sent("Ann"))), Attempt::Refused(_)));
        assert_eq!(
            (backoff_ms(0), backoff_ms(1), backoff_ms(2), backoff_ms(3), backoff_ms(9)),
            (1000, 2000, 4000, 8000, 8000)
        );
    }
}
