//! Server functions: every mutation and every page's data. Each has a stable endpoint (`/api/<name>`) that bots
//! and tools can call; README.md documents them. Arguments are form-encoded; results and errors are JSON.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{ChatMessage, Lobby, MessagePage, Person, RoomAccess, RoomId, RoomSummary};

#[cfg(feature = "ssr")]
use crate::server::context::{chat, client_address, me, respond};

/// The visitor's own identity ("you").
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Person, AppError> {
    respond(me().await)
}

/// The room list page: the caller and every open room.
#[server(endpoint = "lobby")]
pub async fn load_lobby() -> Result<Lobby, AppError> {
    respond(
        async move {
            let me = me().await?;
            let rooms = chat().list_rooms(&me.id).await?;
            Ok(Lobby { me, rooms })
        }
        .await,
    )
}

/// Every open room, newest first.
#[server(endpoint = "list_rooms")]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, AppError> {
    respond(async move { chat().list_rooms(&me().await?.id).await }.await)
}

/// Creates a room owned by the caller and sends them into it.
#[server(endpoint = "create_room")]
pub async fn create_room(
    title: String,
    max_members: String,
    #[server(default)] password: Option<String>,
) -> Result<RoomSummary, AppError> {
    use crate::server::passwords;
    use crate::validate;

    respond(
        async move {
            let owner = me().await?;
            let title = validate::title(&title)?;
            let max_members = validate::max_members(&max_members)?;
            let password_hash = match validate::new_password(password.as_deref())? {
                Some(password) => Some(passwords::hash(password).await?),
                None => None,
            };
            let room = chat().create_room(&owner, &title, max_members, password_hash).await?;
            leptos_axum::redirect(&format!("/room/{}", room.id));
            Ok(room)
        }
        .await,
    )
}

/// What `/room/:id` shows the caller: the room with its latest messages, or why they cannot enter.
#[server(endpoint = "room_page")]
pub async fn room_page(id: RoomId) -> Result<RoomAccess, AppError> {
    use crate::model::{RoomView};
    use crate::server::db;

    respond(
        async move {
            let me = me().await?;
            let chat = chat();
            let Some(row) = db::find_room(&chat.db, id).await? else {
                return Ok(RoomAccess::NotFound);
            };
            if db::is_banned(&chat.db, id, &me.id).await? {
                return Ok(RoomAccess::Banned { id, title: row.title });
            }
            if row.password_hash.is_some() && !db::is_granted(&chat.db, id, &me.id).await? {
                return Ok(RoomAccess::NeedsPassword { id, title: row.title });
            }
            let room = chat.summary(&row);
            if room.present >= room.max_members && !chat.presence.is_present(id, &me.id) {
                return Ok(RoomAccess::Full { id, title: room.title, max_members: room.max_members });
            }
            let (messages, has_earlier) = db::messages_before(&chat.db, id, &me.id, None).await?;
            let participants = chat.participants(id).await?;
            Ok(RoomAccess::Open(RoomView { room, me, participants, messages, has_earlier }))
        }
        .await,
    )
}

/// Checks a room's password; a correct one is remembered for the caller's session.
#[server(endpoint = "enter_room")]
pub async fn enter_room(id: RoomId, password: String) -> Result<(), AppError> {
    use crate::server::{db, passwords};

    respond(
        async move {
            let me = me().await?;
            let chat = chat();
            let row = db::find_room(&chat.db, id).await?.ok_or(AppError::RoomNotFound)?;
            let Some(hash) = row.password_hash else {
                return Ok(());
            };
            if let Err(wait) = chat.password_attempts.check(&me.id, client_address().await) {
                return Err(AppError::TooManyAttempts(wait.as_secs().max(1)));
            }
            if password.chars().count() > crate::model::PASSWORD_MAX_CHARS
                || !passwords::verify(hash, password).await?
            {
                return Err(AppError::WrongPassword);
            }
            db::grant(&chat.db, id, &me.id).await?;
            Ok(())
        }
        .await,
    )
}

/// Sends a text message to a room the caller is in; with `to` (a person's id), a whisper only they will see.
/// With `client_id` (the sender's own id for the message), a retried send never creates a second message.
#[server(endpoint = "send_message")]
pub async fn send_message(
    room: RoomId,
    body: String,
    #[server(default)] to: Option<String>,
    #[server(default)] client_id: Option<String>,
) -> Result<ChatMessage, AppError> {
    use crate::model::MessageKind;
    use crate::server::db::NewMessage;
    use crate::validate;

    respond(
        async move {
            let me = me().await?;
            let body = validate::message(&body)?;
            let chat = chat();
            if !chat.presence.is_present(room, &me.id) {
                return Err(AppError::NotInRoom);
            }
            let recipient = to.filter(|to| !to.is_empty());
            if let Some(recipient) = &recipient {
                if *recipient == me.id {
                    return Err(AppError::invalid("Whisper to someone else."));
                }
                if !chat.presence.is_present(room, recipient) {
                    return Err(AppError::invalid("That person is not in this room any more."));
                }
            }
            let client_id = validate::client_id(client_id.as_deref())?;
            let kind = if recipient.is_some() { MessageKind::Whisper } else { MessageKind::Text };
            let message = NewMessage {
                kind,
                author_id: Some(&me.id),
                recipient_id: recipient.as_deref(),
                body: &body,
                client_id: client_id.as_deref(),
            };
            chat.post(room, message).await
        }
        .await,
    )
}

/// The room's owner removes a person from it; they cannot come back while the room exists.
#[server(endpoint = "kick")]
pub async fn kick(room: RoomId, person: String) -> Result<(), AppError> {
    respond(async move { chat().kick(room, &me().await?, &person).await }.await)
}

/// The room's owner deletes it; everyone in it goes back to the room list.
#[server(endpoint = "delete_room")]
pub async fn delete_room(room: RoomId) -> Result<(), AppError> {
    respond(async move { chat().delete_by_owner(room, &me().await?).await }.await)
}

/// The page of messages before `before` (a sequence number), for "Load earlier".
#[server(endpoint = "earlier_messages")]
pub async fn earlier_messages(room: RoomId, before: i64) -> Result<MessagePage, AppError> {
    use crate::server::db;

    respond(
        async move {
            let me = me().await?;
            let chat = chat();
            let row = db::find_room(&chat.db, room).await?.ok_or(AppError::RoomNotFound)?;
            if row.password_hash.is_some() && !db::is_granted(&chat.db, room, &me.id).await? {
                return Err(AppError::WrongPassword);
            }
            if db::is_banned(&chat.db, room, &me.id).await? {
                return Err(AppError::Forbidden("The owner removed you from this room.".into()));
            }
            let (messages, has_earlier) = db::messages_before(&chat.db, room, &me.id, Some(before)).await?;
            Ok(MessagePage { messages, has_earlier })
        }
        .await,
    )
}
