//! Server functions: every mutation and every page's data. Each has a stable endpoint (`/api/<name>`) that bots
//! and tools can call; docs/protocol.md documents them ("Server functions"). Arguments are form-encoded; results
//! and errors are JSON. Each parses its input into domain types and asks the chat service; nothing else.

use leptos::prelude::*;

use protocol::alarms::Alarms;
use protocol::codec::Answers;
use protocol::error::AppError;
use protocol::model::{
    Ban, ChatMessage, ListedRooms, MessagePage, OfferedGif, People, Person, Reactors, RoomAccess, RoomId, RoomListView,
    RoomSummary, Shelf,
};

#[cfg(feature = "ssr")]
use crate::server::context::{chat, client_address, limits, me, plain_form_post, respond};

/// The visitor's own identity ("you").
#[server(endpoint = "whoami", output = Answers)]
pub async fn whoami() -> Result<Person, AppError> {
    respond(me().await)
}

/// The room list page: the caller and every open room.
#[server(endpoint = "lobby", output = Answers)]
pub async fn load_room_list() -> Result<RoomListView, AppError> {
    respond(
        async {
            // The service first, before any await: a page whose reader left is disposed meanwhile, with its
            // context (leptos-rs/leptos#3595).
            let chat = chat();
            let me = me().await?;
            let rooms = chat.list_rooms(&me, None, 0).await?;
            Ok(RoomListView { me, rooms, room_grace_secs: chat.room_grace_secs() })
        }
        .await,
    )
}

/// The 50 most recently active rooms.
#[server(endpoint = "list_rooms", output = Answers)]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, AppError> {
    respond(async { Ok(chat().list_rooms(&me().await?, None, 0).await?.rooms) }.await)
}

/// A page of the room list after the first `offset` rooms; with `title`, only rooms whose title contains it.
#[server(endpoint = "find_rooms", output = Answers)]
pub async fn find_rooms(
    #[server(default)] title: Option<String>,
    #[server(default)] offset: Option<u32>,
) -> Result<ListedRooms, AppError> {
    respond(async { chat().list_rooms(&me().await?, title.as_deref(), offset.unwrap_or(0)).await }.await)
}

/// Creates a room owned by the caller and sends them into it. (From a plain form, without the live channel, the
/// creator is in it for a visit: see `Chat::visit`.)
#[server(endpoint = "create_room", output = Answers)]
pub async fn create_room(
    title: String,
    max_members: String,
    #[server(default)] password: Option<String>,
) -> Result<RoomSummary, AppError> {
    use protocol::domain::{MemberLimit, RoomPassword, Title};

    respond(
        async {
            let chat = chat();
            let owner = me().await?;
            limits().create_room(&owner.id, client_address().await)?;
            let title = Title::parse(&title)?;
            let limit = MemberLimit::parse(&max_members)?;
            let password = RoomPassword::parse(password.as_deref())?;
            let room = chat.create_room(&owner, title, limit, password).await?;
            // The room exists whatever happens to the visit: the creator is sent to it either way.
            if plain_form_post()
                && let Err(error) = chat.visit(room.id, &owner, ::chat::ANY_ARRIVAL).await
            {
                tracing::warn!(%error, room = %room.id, "a plain form's creator could not visit their new room");
            }
            leptos_axum::redirect(&format!("/room/{}", room.id));
            Ok(room)
        }
        .await,
    )
}

/// What `/room/:id` shows the caller: the room with its latest messages (with `before`, a sequence number, the
/// page of messages before it), or why they cannot enter.
#[server(endpoint = "room_page", output = Answers)]
pub async fn room_page(id: RoomId, #[server(default)] before: Option<i64>) -> Result<RoomAccess, AppError> {
    respond(async { chat().room_page(id, &me().await?, before).await }.await)
}

/// Who is in the room now, whole: for a page whose list of who is here missed a change.
#[server(endpoint = "who_is_here", output = Answers)]
pub async fn who_is_here(room: RoomId) -> Result<People, AppError> {
    respond(async { chat().who_is_here(room, &me().await?).await }.await)
}

/// Checks a room's password; a correct one is remembered for the caller's session.
#[server(endpoint = "enter_room", output = Answers)]
pub async fn enter_room(id: RoomId, password: String) -> Result<(), AppError> {
    respond(async { chat().enter_with_password(id, &me().await?, password, client_address().await).await }.await)
}

/// Sends a text message to a room the caller is in; with `to` (a person's id), a whisper only they will see.
/// With `client_id` (the sender's own id for the message), a retried send never creates a second message. With
/// `reply_to` (a message's number), it answers that message (a whisper's answer is a whisper to the same person).
/// From a
/// plain form (no live channel), the post itself brings the sender into the room for a visit, and the answer
/// shows them the room at their message.
#[server(endpoint = "send_message", output = Answers)]
pub async fn send_message(
    room: RoomId,
    body: String,
    #[server(default)] to: Option<String>,
    #[server(default)] client_id: Option<String>,
    #[server(default)] reply_to: Option<i64>,
) -> Result<ChatMessage, AppError> {
    use ::chat::Outgoing;
    use protocol::domain::{ClientMessageId, MessageBody, PersonId};

    respond(
        async {
            let chat = chat();
            let me = me().await?;
            limits().send(&me.id, client_address().await)?;
            let body = MessageBody::parse(&body)?;
            let to = to.filter(|to| !to.is_empty()).map(|to| PersonId::parse(&to)).transpose()?;
            let client_id = ClientMessageId::parse(client_id.as_deref())?;
            let outgoing = Outgoing { body, to, client_id, reply_to };
            let plain = plain_form_post();
            let message = if plain {
                let (address, limits) = (client_address().await, limits());
                chat.send_visiting(room, &me, outgoing, &|| limits.arrive(&me.id, address)).await?
            } else {
                chat.send_text(room, &me, outgoing).await?
            };
            if plain {
                leptos_axum::redirect(&format!("/room/{room}#m{}", message.seq));
            }
            Ok(message)
        }
        .await,
    )
}

/// The room's owner removes a person from it; they cannot come back while the room exists.
#[server(endpoint = "kick", output = Answers)]
pub async fn kick(room: RoomId, person: String) -> Result<(), AppError> {
    use protocol::domain::PersonId;

    respond(
        async {
            let target = PersonId::parse(&person)?;
            chat().kick(room, &me().await?, &target).await
        }
        .await,
    )
}

/// The room's owner deletes it; everyone in it goes back to the room list.
#[server(endpoint = "delete_room", output = Answers)]
pub async fn delete_room(room: RoomId) -> Result<(), AppError> {
    respond(async { chat().delete_room_by(room, &me().await?).await }.await)
}

/// The page of messages before `before` (a sequence number), for "Load earlier".
#[server(endpoint = "earlier_messages", output = Answers)]
pub async fn earlier_messages(room: RoomId, before: i64) -> Result<MessagePage, AppError> {
    respond(async { chat().earlier_messages(room, &me().await?, before).await }.await)
}

/// The people the room's owner removed from it, the latest first: for the owner only.
#[server(endpoint = "bans", output = Answers)]
pub async fn bans(room: RoomId) -> Result<Vec<Ban>, AppError> {
    respond(async { chat().bans(room, &me().await?).await }.await)
}

/// The room's owner lets someone they removed enter again.
#[server(endpoint = "lift_ban", output = Answers)]
pub async fn lift_ban(room: RoomId, person: String) -> Result<(), AppError> {
    use protocol::domain::PersonId;

    respond(
        async {
            let target = PersonId::parse(&person)?;
            chat().lift_ban(room, &me().await?, &target).await
        }
        .await,
    )
}

/// Gives (`on` = "true") or takes back the caller's `emoji` reaction to message `seq` (without `on`, toggles it):
/// the message as it stands then, the caller's own reactions marked. Doing it twice changes nothing. From a plain
/// form, the post brings the caller into the room for a visit, and the answer shows them the room at the message.
#[server(endpoint = "react", output = Answers)]
pub async fn react(
    room: RoomId,
    seq: i64,
    emoji: String,
    #[server(default)] on: Option<bool>,
) -> Result<ChatMessage, AppError> {
    use protocol::domain::Emoji;

    respond(
        async {
            let chat = chat();
            let me = me().await?;
            let address = client_address().await;
            limits().react(&me.id, address)?;
            let emoji = Emoji::parse(&emoji)?;
            visit_if_plain(room, &me, address).await?;
            let message = match on {
                Some(on) => chat.react(room, &me, seq, emoji, on).await?,
                None => chat.toggle_reaction(room, &me, seq, emoji).await?,
            };
            back_to_message_if_plain(room, seq);
            Ok(message)
        }
        .await,
    )
}

/// Changes the text of the caller's own message `seq` (for 15 minutes after sending it): the message as it
/// stands then. The same text again changes nothing.
#[server(endpoint = "edit_message", output = Answers)]
pub async fn edit_message(room: RoomId, seq: i64, body: String) -> Result<ChatMessage, AppError> {
    use protocol::domain::MessageBody;

    respond(
        async {
            let chat = chat();
            let me = me().await?;
            limits().edit(&me.id, client_address().await)?;
            let body = MessageBody::parse(&body)?;
            chat.edit(room, &me, seq, body).await
        }
        .await,
    )
}

/// Deletes message `seq`: the caller's own (unsend), or anyone's if the caller owns the room. Everyone sees
/// "Message deleted" ("Removed by the owner") in its place; a GIF's file goes. Deleting it again changes nothing.
/// From a plain form, as `react`.
#[server(endpoint = "delete_message", output = Answers)]
pub async fn delete_message(room: RoomId, seq: i64) -> Result<ChatMessage, AppError> {
    respond(
        async {
            let chat = chat();
            let me = me().await?;
            let address = client_address().await;
            limits().delete(&me.id, address)?;
            visit_if_plain(room, &me, address).await?;
            let message = chat.delete_message(room, &me, seq).await?;
            back_to_message_if_plain(room, seq);
            Ok(message)
        }
        .await,
    )
}

/// A plain form's change to a message is made by someone on the room's page without its live channel: the post
/// brings them into the room for a visit, as a plain form's send does.
#[cfg(feature = "ssr")]
async fn visit_if_plain(
    room: RoomId,
    me: &Person,
    address: Option<std::net::IpAddr>,
) -> Result<(), ::chat::error::ServerError> {
    if plain_form_post() {
        let limits = limits();
        chat().visit(room, me, &|| limits.arrive(&me.id, address)).await?;
    }
    Ok(())
}

/// A plain form's answer is the room's page at the message.
#[cfg(feature = "ssr")]
fn back_to_message_if_plain(room: RoomId, seq: i64) {
    if plain_form_post() {
        leptos_axum::redirect(&format!("/room/{room}#m{seq}"));
    }
}

/// Who reacted to message `seq`, by emoji (the first 30 of each, with the count of all).
#[server(endpoint = "who_reacted", output = Answers)]
pub async fn who_reacted(room: RoomId, seq: i64) -> Result<Vec<Reactors>, AppError> {
    respond(async { chat().reactors(room, &me().await?, seq).await }.await)
}

/// The GIFs on a shelf of the picker (`room`'s GIFs, one's own, or the library's, searched by `search` if given),
/// newest first.
#[server(endpoint = "offered_gifs", output = Answers)]
pub async fn offered_gifs(
    room: RoomId,
    shelf: Shelf,
    #[server(default)] search: Option<String>,
) -> Result<Vec<OfferedGif>, AppError> {
    respond(async { chat().offered_gifs(room, &me().await?, shelf, search.as_deref().unwrap_or("")).await }.await)
}

/// Posts the stored GIF `gif` (its name, as the picker offered it) to `room` by reference: no upload, the same
/// files. Counts as a send.
#[server(endpoint = "repost_gif", output = Answers)]
pub async fn repost_gif(room: RoomId, gif: String) -> Result<ChatMessage, AppError> {
    respond(
        async {
            let me = me().await?;
            limits().send(&me.id, client_address().await)?;
            chat().post_gif_again(room, &me, &gif).await
        }
        .await,
    )
}

/// The caller's alarms, newest first, with the number of their latest change and how many are unread.
#[server(endpoint = "alarms", output = Answers)]
pub async fn load_alarms() -> Result<Alarms, AppError> {
    respond(async { chat().alarms(&me().await?.id).await }.await)
}

/// How many of the caller's alarms are unread (the bell's count as a page is rendered).
#[server(endpoint = "unread_alarms", output = Answers)]
pub async fn unread_alarms() -> Result<u32, AppError> {
    respond(async { Ok(chat().alarm_standing(&me().await?.id).await?.1) }.await)
}

/// The caller read their alarms up to their change `up_to` (every page of theirs is told): how many are unread.
/// From a plain form, the answer is the alarms page.
#[server(endpoint = "mark_alarms_read", output = Answers)]
pub async fn mark_alarms_read(up_to: i64) -> Result<u32, AppError> {
    respond(
        async {
            let unread = chat().mark_alarms_read(&me().await?.id, up_to).await?;
            if plain_form_post() {
                leptos_axum::redirect("/alarms");
            }
            Ok(unread)
        }
        .await,
    )
}

/// The caller mutes `person` (or, with `on` = "false", unmutes them): nothing they do alarms the caller meanwhile
/// (for the session's life). From a plain form, the answer is the alarms page.
#[server(endpoint = "mute", output = Answers)]
pub async fn mute_person(person: String, #[server(default)] on: Option<bool>) -> Result<(), AppError> {
    use protocol::domain::PersonId;

    respond(
        async {
            let other = PersonId::parse(&person)?;
            chat().mute(&me().await?.id, &other, on.unwrap_or(true)).await?;
            if plain_form_post() {
                leptos_axum::redirect("/alarms");
            }
            Ok(())
        }
        .await,
    )
}

/// The people the caller muted, the latest first.
#[server(endpoint = "muted", output = Answers)]
pub async fn muted_people() -> Result<Vec<Person>, AppError> {
    respond(async { chat().muted(&me().await?.id).await }.await)
}

/// The caller, in `room`, invites `person` (there too) to talk privately: the private room of the two (made now,
/// or the one they have open), which the caller then enters; `person` gets an invitation alarm. From a plain
/// form, the answer is that room's page.
#[server(endpoint = "talk_privately", output = Answers)]
pub async fn talk_privately(room: RoomId, person: String) -> Result<RoomSummary, AppError> {
    use protocol::domain::PersonId;

    respond(
        async {
            let chat = chat();
            let me = me().await?;
            let other = PersonId::parse(&person)?;
            limits().invite(&me.id, client_address().await)?;
            let private = chat.talk_privately(room, &me, &other).await?;
            if plain_form_post() {
                leptos_axum::redirect(&format!("/room/{}", private.id));
            }
            Ok(private)
        }
        .await,
    )
}

/// The caller declines the invitation to the private room `room`: it is withdrawn, and the one who invited them
/// is told. From a plain form, the answer is the alarms page.
#[server(endpoint = "decline_invitation", output = Answers)]
pub async fn decline_invitation(room: RoomId) -> Result<(), AppError> {
    respond(
        async {
            chat().decline_invitation(room, &me().await?).await?;
            if plain_form_post() {
                leptos_axum::redirect("/alarms");
            }
            Ok(())
        }
        .await,
    )
}
