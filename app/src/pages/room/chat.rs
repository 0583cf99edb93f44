//! The chat of a room the visitor is in: live messages, scrolling, "Load earlier", and the parts around them.

use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::actions::Conversation;
use super::composer::Composer;
use super::message::{MessageItem, PendingItem};
use super::outbox::Outbox;
use super::participants::{ParticipantPanel, RoomMenu};
use super::uploader::Uploader;
use crate::api::{earlier_messages, who_is_here};
use crate::browser;
use crate::components::{Bell, PersonBadge, duration_words, hydrated};
use crate::live_client::{Connection, use_live};
use crate::pages::SentAway;
use protocol::error::Refusal;
use protocol::live::{ClientCommand, LiveEvent};
use protocol::model::{ChatMessage, MessageKind, People, Person, PersonId, Quote, RoomView, Roster};

/// Inserts a message in sequence order, ignoring one already there (live events and replies may both bring it).
/// Says whether it was new.
fn insert_message(messages: &mut Vec<ChatMessage>, message: ChatMessage) -> bool {
    match messages.binary_search_by_key(&message.seq, |m| m.seq) {
        Ok(_) => false,
        Err(position) => {
            messages.insert(position, message);
            true
        }
    }
}

/// Messages of one person closer together than this show as one group: their name and time once.
const GROUP_WITHIN_MILLIS: i64 = 5 * 60_000;

/// A message as the log shows it: after a day separator or not, and whether it continues its author's group.
#[derive(Clone, PartialEq)]
struct Shown {
    message: ChatMessage,
    /// The first message of its day: a separator ("Today", "Yesterday", a date) comes before it.
    new_day: bool,
    /// From the same person as the message before it, shortly after, in the open: no name and time of its own.
    grouped: bool,
    /// For a system line: the system lines right before it (the same day), which it shows with its own as one
    /// line ("Ann joined · Bob left · Ann joined"), the earliest first.
    earlier_updates: Vec<String>,
}

/// Lays out the log: where days begin (`day_of` gives an instant's day number), which messages continue a group,
/// and which system lines fold into the next. Whispers and system lines never group (a whisper's own line says
/// to whom, and offers a private reply).
fn lay_out(messages: &[ChatMessage], day_of: impl Fn(i64) -> i64) -> Vec<Shown> {
    let in_the_open = |m: &ChatMessage| matches!(m.kind, MessageKind::Text | MessageKind::Gif);
    let mut shown: Vec<Shown> = Vec::with_capacity(messages.len());
    let mut previous_day = None;
    for message in messages {
        let day = day_of(message.created_at);
        let new_day = previous_day != Some(day);
        previous_day = Some(day);
        let before = shown.last().filter(|_| !new_day);
        if message.kind == MessageKind::System && before.is_some_and(|b| b.message.kind == MessageKind::System) {
            // Comings and goings in a row read as one line: the one before folds into this one.
            let before = shown.pop().expect("there is one before");
            let mut earlier_updates = before.earlier_updates;
            earlier_updates.push(before.message.body);
            shown.push(Shown { message: message.clone(), new_day: before.new_day, grouped: false, earlier_updates });
            continue;
        }
        let grouped = in_the_open(message)
            && before.is_some_and(|before| {
                in_the_open(&before.message)
                    && before.message.author.as_ref().map(|a| &a.id) == message.author.as_ref().map(|a| &a.id)
                    && message.created_at - before.message.created_at <= GROUP_WITHIN_MILLIS
            });
        shown.push(Shown { message: message.clone(), new_day, grouped, earlier_updates: Vec::new() });
    }
    shown
}

/// How long someone shows as typing after the last word from their page (which says so every 2 s while they
/// type).
const TYPING_SHOWS_MILLIS: i64 = 5000;
/// How often a page says its person is typing, at most.
const TYPING_EVERY_MILLIS: i64 = 2000;

/// Who is typing, in words: one or two names, or "several people".
fn typing_line(typing: &[Person]) -> Option<String> {
    match typing {
        [] => None,
        [one] => Some(format!("{} is typing…", one.name)),
        [one, two] => Some(format!("{} and {} are typing…", one.name, two.name)),
        _ => Some("Several people are typing…".to_owned()),
    }
}

/// The tab's title: the room's, with the count of messages that came while the page was hidden.
fn tab_title(room: &str, unseen: u32) -> String {
    match unseen {
        0 => format!("{room} · gif-chat"),
        n => format!("({n}) {room} · gif-chat"),
    }
}

/// Text made safe to write between tags.
fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `on_resync` reloads the room (its history and participants) when the live channel says the page is too far
/// behind to catch up message by message. With `history`, the page shows earlier messages, not the latest (a
/// "Load earlier" link followed without the WASM); the live channel then brings the rest, if not too many.
#[component]
pub fn ChatRoom(view: RoomView, history: bool, on_resync: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let RoomView { room, me, participants, messages, has_earlier, room_grace_secs, edit_window_secs } = view;
    let room_id = room.id;
    let max_members = room.max_members;
    // The position to resume the live channel from: only what arrived over it (or was rendered) counts, not
    // replies to our own sends, which can arrive before earlier messages from others.
    let live_seq = StoredValue::new(messages.last().map_or(0, |m| m.seq));
    let messages = RwSignal::new(messages);
    let has_earlier = RwSignal::new(has_earlier);
    // Whether messages after those shown are missing (until the live channel joins and brings them).
    let has_later = RwSignal::new(history);
    // Who is here, as the live channel's changes tell it (held while they do not add up: see `Roster`).
    let roster = RwSignal::new(Roster::new(participants, room.presence_version));
    let participants = Memo::new(move |_| roster.with(|roster| roster.people().to_vec()));
    let present = Memo::new(move |_| participants.read().len());
    let me_id = StoredValue::new(me.id.clone());
    let i_am_owner = Memo::new(move |_| {
        participants.with(|people| people.iter().any(|p| p.owner && me_id.with_value(|id| *id == p.person.id)))
    });
    // Whom the composer whispers to, if anyone. Only the person ends whisper mode: someone who steps out stays the
    // target (their whispers are refused while they are away), so that text typed as private never goes to
    // everyone by surprise.
    let whisper_to = RwSignal::new(None::<Person>);
    let whisper_target_here = Memo::new(move |_| {
        whisper_to.with(|to| {
            to.as_ref().is_none_or(|to| participants.with(|people| people.iter().any(|p| p.person.id == to.id)))
        })
    });
    // Changes wait for one that has not come: give it a while (an overtaken change comes within moments), then
    // load the list whole. The wait grows and is spread out, so that a room full of pages that all missed the
    // same change does not ask at once.
    let reloading = StoredValue::new(false);
    let reload_people = move || {
        if reloading.get_value() {
            return;
        }
        reloading.set_value(true);
        leptos::task::spawn_local(async move {
            let mut attempt = 0;
            // (The page may be gone by the time a wait is over: then the roster is too, and this stops.)
            let still_waiting = move || roster.try_with_untracked(Roster::is_waiting).unwrap_or(false);
            while still_waiting() {
                browser::sleep_ms((1000 << attempt.min(5)) + browser::jitter_ms(1000)).await;
                attempt += 1;
                if !still_waiting() {
                    break;
                }
                if let Ok(People { people, version }) = who_is_here(room_id).await {
                    roster.maybe_update(|roster| roster.replace(people, version));
                }
            }
            reloading.try_set_value(false);
        })
    };
    // Marks that tell look-alikes apart, by person id (from the participant list, applied to messages too).
    let tag_of = move |id: &PersonId| {
        participants.with(|people| people.iter().find(|p| p.person.id == *id).and_then(|p| p.tag.clone()))
    };

    // While the page is hidden, the tab's title counts what others say ("(3) Friday GIFs"), until the person is back.
    let unseen_while_hidden = RwSignal::new(0u32);
    browser::on_page_hidden_change(move |hidden| {
        if !hidden {
            unseen_while_hidden.set(0);
        }
    });
    let title = room.title.clone();

    let live = use_live();
    // The message the next one answers, and the one being changed.
    let replying = RwSignal::new(None::<Quote>);
    let editing = RwSignal::new(None::<i64>);
    // Who else is typing, each until when (Unix ms).
    let typing = RwSignal::new(Vec::<(Person, i64)>::new());
    let someone_typing = move |person: Person| {
        let until = browser::now_millis() + TYPING_SHOWS_MILLIS;
        typing.update(|typing| {
            typing.retain(|(known, _)| known.id != person.id);
            typing.push((person, until));
        });
        set_timeout(
            move || {
                let now = browser::now_millis();
                typing.try_update(|typing| typing.retain(|(_, until)| *until > now));
            },
            std::time::Duration::from_millis(TYPING_SHOWS_MILLIS as u64 + 50),
        );
    };
    let last_typing_sent = StoredValue::new(0i64);
    // Said while the person types in the open (never while whispering), at most every 2 s.
    let i_am_typing = move || {
        let now = browser::now_millis();
        if whisper_to.with_untracked(Option::is_none) && now - last_typing_sent.get_value() >= TYPING_EVERY_MILLIS {
            last_typing_sent.set_value(now);
            live.send(&ClientCommand::Typing { room: room_id });
        }
    };
    // Set when the room sends the reader away (refused, removed); an effect does the navigation.
    let sent_away = RwSignal::new(None::<Refusal>);
    let navigate = use_navigate();
    // The list names the room it was sent from (see `SentAway`).
    let told_list = use_context::<SentAway>();
    let room_title = title.clone();
    Effect::new(move |_| {
        if let Some(refusal) = sent_away.get() {
            if let Some(SentAway(told)) = told_list {
                told.set(Some((refusal, room_title.clone())));
            }
            navigate(&format!("/?notice={}", refusal.code()), NavigateOptions::default());
        }
    });
    let leave_with = move |refusal: Refusal| sent_away.set(Some(refusal));
    // Whether the live channel is connected and has joined the room: what is sent waits for it (the outbox).
    let in_the_room = RwSignal::new(false);
    let connection = live.state();
    Effect::new(move |_| {
        if connection.get() != Connection::Online {
            in_the_room.set(false);
        }
    });
    live.subscribe(
        move || ClientCommand::Join { room: room_id, since: Some(live_seq.get_value()) },
        move |event| match event {
            LiveEvent::Chat { message } if message.room_id == room_id => {
                live_seq.update_value(|seq| *seq = (*seq).max(message.seq));
                let from_someone_else = message.kind != MessageKind::System
                    && message.author.as_ref().is_some_and(|author| me_id.with_value(|me| author.id != *me));
                // Their message came: they are not typing any more.
                if let Some(author) = &message.author {
                    typing.update(|typing| typing.retain(|(person, _)| person.id != author.id));
                }
                let mut new = false;
                messages.update(|list| new = insert_message(list, message));
                if new && from_someone_else && browser::page_hidden() {
                    unseen_while_hidden.update(|count| *count += 1);
                }
            }
            LiveEvent::Changed { seq, message } if message.room_id == room_id => {
                live_seq.update_value(|last| *last = (*last).max(seq));
                let (target, deleted) = (message.seq, message.deleted.is_some());
                messages.update(|list| {
                    // Replies quote an edited or deleted message as it stands now.
                    list.iter_mut().for_each(|m| m.requote(&message));
                    if let Ok(at) = list.binary_search_by_key(&target, |m| m.seq) {
                        list[at].take_change(message);
                    }
                });
                if deleted && editing.get_untracked() == Some(target) {
                    editing.set(None);
                }
            }
            LiveEvent::Reactions { room, seq, changes, .. } if room == room_id => {
                live_seq.update_value(|last| *last = (*last).max(seq));
                me_id.with_value(|me| {
                    messages.update(|list| {
                        for change in &changes {
                            if let Ok(at) = list.binary_search_by_key(&change.message, |m| m.seq) {
                                list[at].take_reaction(change, me);
                            }
                        }
                    })
                });
            }
            LiveEvent::Typing { room, person } if room == room_id && me_id.with_value(|me| person.id != *me) => {
                someone_typing(person);
            }
            LiveEvent::People { room, change } if room == room_id => {
                roster.maybe_update(|roster| roster.receive(change));
                if roster.with_untracked(Roster::is_waiting) {
                    reload_people();
                }
            }
            LiveEvent::Joined { room, .. } if room == room_id => {
                has_later.set(false);
                in_the_room.set(true);
            }
            LiveEvent::Kicked { room } if room == room_id => leave_with(Refusal::Banned),
            LiveEvent::Resync { room } if room == room_id => on_resync(),
            LiveEvent::Refused { room, reason, .. } if room == room_id => leave_with(reason),
            LiveEvent::RemoveRoom { id } if id == room_id => leave_with(Refusal::NotFound),
            _ => {}
        },
    );

    // Days in UTC until the page is live (the server does not know the reader's time zone), then in theirs.
    let hydrated = hydrated();
    let shown = Memo::new(move |_| {
        let local = hydrated.get();
        messages.with(|list| {
            lay_out(list, |millis| if local { browser::local_day(millis) } else { millis.div_euclid(86_400_000) })
        })
    });
    // Scrolling: follow new messages while the reader is at the bottom; otherwise offer a pill.
    let log_ref = NodeRef::<html::Ol>::new();
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    let scroll_to_bottom = move || {
        if let Some(log) = log_ref.get_untracked() {
            log.set_scroll_top(log.scroll_height());
        }
        unseen.set(false);
    };
    Effect::new(move |previous_last: Option<Option<i64>>| {
        let last = shown.with(|m| m.last().map(|m| m.message.seq));
        let grew = previous_last.is_some_and(|previous| last > previous);
        if at_bottom.get_untracked() {
            // On the next frame: the log shows the new message by then.
            request_animation_frame(scroll_to_bottom);
        } else if grew {
            unseen.set(true);
        }
        last
    });
    // Whatever shrinks the log (an error line under the composer, the box growing, the upload's progress) keeps
    // a reader who was at the bottom there: the newest message stays in view.
    browser::on_resize(log_ref, move || {
        if at_bottom.get_untracked() {
            scroll_to_bottom();
        }
    });
    let on_scroll = move |_| {
        if let Some(log) = log_ref.get_untracked() {
            let bottom = log.scroll_height() - log.scroll_top() - log.client_height() < 48;
            at_bottom.set(bottom);
            if bottom {
                unseen.set(false);
            }
        }
    };

    // What is sent shows at once as pending, and joins the log when the server has it.
    let outbox = Outbox::new(
        room_id,
        in_the_room.into(),
        Callback::new(move |message| {
            messages.update(|list| {
                insert_message(list, message);
            });
        }),
    );
    let loading_earlier = RwSignal::new(false);
    let first_seq = move || messages.with(|m| m.first().map_or(0, |m| m.seq));
    // A link, so that it works without the WASM too (a page of earlier messages); here it loads them in place.
    // Loads the page of messages before the first shown (keeping the reader's place: what they were looking at
    // stays where it was): whether one came.
    let load_page = move |keep_place: bool| async move {
        let Some(first) = messages.with_untracked(|m| m.first().map(|m| m.seq)) else { return false };
        let previous_height = log_ref.get_untracked().map(|log| log.scroll_height());
        let Ok(page) = earlier_messages(room_id, first).await else { return false };
        // The reader may have left the room meanwhile: its signals are gone (reading one would panic).
        if messages.is_disposed() {
            return false;
        }
        has_earlier.set(page.has_earlier);
        messages.update(|list| {
            for message in page.messages {
                insert_message(list, message);
            }
        });
        if keep_place && let (Some(log), Some(previous)) = (log_ref.get_untracked(), previous_height) {
            request_animation_frame(move || log.set_scroll_top(log.scroll_top() + log.scroll_height() - previous));
        }
        true
    };
    let load_earlier = move |event: leptos::ev::MouseEvent| {
        // A click meant for a new tab or window follows the link.
        if event.button() != 0 || event.ctrl_key() || event.meta_key() || event.shift_key() || event.alt_key() {
            return;
        }
        event.prevent_default();
        if loading_earlier.get_untracked() {
            return;
        }
        loading_earlier.set(true);
        leptos::task::spawn_local(async move {
            load_page(true).await;
            loading_earlier.set(false);
        });
    };
    // A reply's quote followed: to the message it answers, loading earlier pages until it is there.
    let jump_to = Callback::new(move |seq: i64| {
        at_bottom.set(false);
        if browser::show_message(seq) || loading_earlier.get_untracked() {
            return;
        }
        loading_earlier.set(true);
        leptos::task::spawn_local(async move {
            let before = move || messages.with_untracked(|m| m.first().is_some_and(|first| first.seq > seq));
            while before() && has_earlier.get_untracked() && load_page(false).await {}
            loading_earlier.set(false);
            request_animation_frame(move || {
                browser::show_message(seq);
            });
        });
    });
    provide_context(Conversation {
        room: room_id,
        messages,
        me: me_id,
        i_am_owner,
        replying,
        editing,
        whisper_to,
        jump_to,
        edit_window_millis: i64::from(edit_window_secs) * 1000,
    });

    let full_title = room.title.clone();
    view! {
        // leptos_meta writes the title into the server's HTML as it is (the browser then sets it as text): there it
        // is escaped like any text, or a room named `</title>…` would write markup into the page.
        <Title text=move || {
            let text = tab_title(&title, unseen_while_hidden.get());
            if cfg!(feature = "ssr") { escape_text(&text) } else { text }
        } />
        <main class="page chat-page">
            // One line on a phone (the title shortened, the identity in the menu): the conversation gets the screen.
            // The menu is there for everyone, so the header does not move when its owner's actions appear.
            <header class="chat-header">
                <A href="/" attr:class="back">"← Rooms"</A>
                <h1 title=full_title>
                    <span class="room-name">{room.title}</span>
                    {room.locked.then(|| view! { <span class="lock" role="img" aria-label="password required">" 🔒"</span> })}
                </h1>
                {room.private.then(|| view! {
                    <span class="badge" title="Only the two of you can enter this room; it is not on the list">"private"</span>
                })}
                <p class="room-count" aria-live="polite">{move || format!("{}/{max_members} present", present.get())}</p>
                <p class="you">"You are " <PersonBadge person=me.clone() /></p>
                // Together at the header's end (when the header wraps, they go right, and the pop-ups that drop
                // from them stay on the screen).
                <div class="header-actions">
                    <Bell />
                    <RoomMenu room_id me i_am_owner />
                </div>
            </header>
            <p class="offline" role="status" hidden=move || connection.get() != Connection::Offline>
                "Offline — reconnecting…"
            </p>
            // The last one here is told what leaving does to the room.
            <Show when=move || participants.with(|people| people.len() == 1 && me_id.with_value(|me| people[0].person.id == *me))>
                <p class="hint alone">
                    {format!(
                        "You are the only one here: when you leave, the room closes after {}, and its messages go with it.",
                        duration_words(room_grace_secs)
                    )}
                </p>
            </Show>
            <div class="chat-layout">
            <Uploader room_id locked=room.locked>
                <div class="log-wrap">
                    // The live region wraps the list, which keeps its own role (a list of messages).
                    // Busy while a page of older messages comes in: they are history, not news to announce.
                    <div class="log" role="log" aria-live="polite" aria-label="Messages"
                        aria-busy=move || loading_earlier.get().to_string()>
                    <ol class="messages" node_ref=log_ref on:scroll=on_scroll>
                        <Show when=move || has_earlier.get()>
                            <li class="earlier">
                                <a class="button button-quiet" href=move || format!("/room/{room_id}?before={}", first_seq())
                                    on:click=load_earlier aria-disabled=move || loading_earlier.get().to_string()>
                                    "Load earlier"
                                </a>
                            </li>
                        </Show>
                        <For each=move || shown.get()
                            key=|shown| {
                                let m = &shown.message;
                                let quote = m.reply_to.as_ref().map(|quote| (quote.deleted, quote.excerpt.clone()));
                                let changed = (m.edited_at, m.deleted.is_some(), m.video.is_some(), quote);
                                (m.seq, shown.new_day, shown.grouped, shown.earlier_updates.len(), changed)
                            }
                            let:shown>
                            <MessageItem message=shown.message new_day=shown.new_day grouped=shown.grouped
                                earlier_updates=shown.earlier_updates me=me_id.get_value() tag_of whisper_to />
                        </For>
                        <For each=move || outbox.pending.get() key=|p| (p.client_id.clone(), p.refused.clone(), p.delayed.clone()) let:pending>
                            <PendingItem pending outbox />
                        </For>
                        <Show when=move || has_later.get()>
                            <li class="later"><a href=format!("/room/{room_id}")>"Back to the latest messages"</a></li>
                        </Show>
                    </ol>
                    </div>
                    <button type="button" class="pill" hidden=move || !unseen.get() on:click=move |_| scroll_to_bottom()>
                        "New messages ↓"
                    </button>
                </div>
                <p class="typing">
                    {move || typing.with(|typing| {
                        typing_line(&typing.iter().map(|(person, _)| person.clone()).collect::<Vec<_>>())
                    })}
                </p>
                // Sending brings the view to the bottom, wherever the reader had scrolled: their own message shows.
                <Composer room_id whisper_to whisper_target_here outbox replying people=participants me=me_id.get_value()
                    on_typing=i_am_typing on_send=move || {
                    // The others stop showing them as typing when the message comes: the next keystroke says so again.
                    last_typing_sent.set_value(0);
                    at_bottom.set(true);
                    // On the next frame: the pending message is in the log by then.
                    request_animation_frame(scroll_to_bottom);
                } />
            </Uploader>
            <ParticipantPanel room_id participants me_id=me_id.get_value() i_am_owner whisper_to private=room.private />
            </div>
        </main>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod layout_tests {
    use super::*;
    use protocol::model::RoomId;

    fn message(seq: i64, kind: MessageKind, author: &str, minute: i64) -> ChatMessage {
        ChatMessage {
            room_id: RoomId::new(1),
            seq,
            kind,
            author: (kind != MessageKind::System).then(|| ::chat::identity::person(author)),
            recipient: None,
            body: format!("message {seq}"),
            created_at: minute * 60_000,
            reactions: Vec::new(),
            reply_to: None,
            edited_at: None,
            deleted: None,
            video: None,
            mentions: Vec::new(),
        }
    }

    #[test]
    fn one_persons_messages_close_together_group_days_are_separated_and_updates_in_a_row_are_one_line() {
        use MessageKind::{Gif, System, Text, Whisper};
        // Days of 100 minutes, to keep the numbers small.
        let day_of = |millis: i64| millis.div_euclid(100 * 60_000);
        let log = [
            message(1, Text, "ann", 10),
            message(2, Gif, "ann", 12),     // Ann again, 2 min later: grouped
            message(3, Text, "ann", 18),    // 6 min after her last: a new group
            message(4, Text, "bob", 19),    // someone else
            message(5, Whisper, "bob", 19), // a whisper never groups
            message(6, Text, "bob", 20),    // nor does the message after one
            message(7, System, "", 20),
            message(8, System, "", 20), // updates in a row: one line
            message(9, System, "", 21),
            message(10, Text, "bob", 21), // a system line in between breaks the group
            message(11, System, "", 99),
            message(12, System, "", 101), // a new day: its own line
            message(13, Text, "bob", 101),
        ];
        let laid_out = lay_out(&log, day_of);
        let flags: Vec<(i64, bool, bool, usize)> =
            laid_out.iter().map(|s| (s.message.seq, s.new_day, s.grouped, s.earlier_updates.len())).collect();
        assert_eq!(
            flags,
            [
                (1, true, false, 0),
                (2, false, true, 0),
                (3, false, false, 0),
                (4, false, false, 0),
                (5, false, false, 0),
                (6, false, false, 0),
                (9, false, false, 2),
                (10, false, false, 0),
                (11, false, false, 0),
                (12, true, false, 0),
                (13, false, false, 0)
            ]
        );
        assert_eq!(laid_out[6].earlier_updates, ["message 7", "message 8"], "the earliest first");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn who_is_typing_reads_as_one_or_two_names_or_several_people() {
        let person = |name: &str| protocol::model::Person {
            id: protocol::model::PersonId::parse(name).unwrap(),
            name: name.to_owned(),
            hue: protocol::model::Hue::from_tenths(0),
        };
        assert_eq!(super::typing_line(&[]), None);
        assert_eq!(super::typing_line(&[person("Ann")]).as_deref(), Some("Ann is typing…"));
        assert_eq!(super::typing_line(&[person("Ann"), person("Bob")]).as_deref(), Some("Ann and Bob are typing…"));
        let three = [person("Ann"), person("Bob"), person("Cy")];
        assert_eq!(super::typing_line(&three).as_deref(), Some("Several people are typing…"));
    }

    #[test]
    fn a_room_title_cannot_write_markup_into_the_page_title() {
        assert_eq!(super::escape_text("</title><b>&amp;"), "&lt;/title&gt;&lt;b&gt;&amp;amp;");
    }
}
