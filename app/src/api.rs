//! Server functions: every mutation and every page's data. Each has a stable endpoint (`/api/<name>`) that bots
//! and tools can call; README.md documents them. Arguments are form-encoded; results and errors are JSON.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{ChatMessage, Lobby, MessagePage, Person, RoomAccess, RoomId, RoomSummary};

#[cfg(feature = "ssr")]
use crate::server::context::{chat, me, respond};

/// The visitor's own identity ("you").
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Person, AppError> {
    respond(me().await)
}

/// The room list page: the caller and every open room.
#[server(endpoint = "lobby")]
pub async fn load_lobby() -> Result<Lobby, AppError> {
    respond(async move { Ok(Lobby { me: me().await?, rooms: chat().list_rooms().await? }) }.await)
}

/// Every open room, newest first.
#[server(endpoint = "list_rooms")]
pub async fn list_rooms() -> Result<Vec<RoomSummary>, AppError> {
    respond(chat().list_rooms().await)
}

/// Creates a room owned by the caller and sends them into it.
#[server(endpoint = "create_room")]
pub async fn create_room(
    title: String,
    max_members: String,
    #[server(default)] password: Option<String>,
) -> Result<RoomSummary, AppError> {
    use crate::server::{db, passwords};
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
            let chat = chat();
            let locked = password_hash.is_some();
            let room = chat.create_room(&owner, &title, max_members, password_hash).await?;
            if locked {
                db::grant(&chat.db, room.id, &owner.id).await?;
            }
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
            if row.password_hash.is_some() && !db::is_granted(&chat.db, id, &me.id).await? {
                return Ok(RoomAccess::NeedsPassword { id, title: row.title });
            }
            let room = chat.summary(&row);
            if room.present >= room.max_members && !chat.presence.is_present(id, &me.id) {
                return Ok(RoomAccess::Full { id, title: room.title, max_members: room.max_members });
            }
            let (messages, has_earlier) = db::messages_before(&chat.db, id, None).await?;
            Ok(RoomAccess::Open(RoomView { room, me, messages, has_earlier }))
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

/// Sends a text message to a room the caller is in.
#[server(endpoint = "send_message")]
pub async fn send_message(room: RoomId, body: String) -> Result<ChatMessage, AppError> {
    use crate::model::MessageKind;
    use crate::validate;

    respond(
        async move {
            let me = me().await?;
            let body = validate::message(&body)?;
            let chat = chat();
            if !chat.presence.is_present(room, &me.id) {
                return Err(AppError::NotInRoom);
            }
            chat.post(room, MessageKind::Text, Some(&me), &body).await
        }
        .await,
    )
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
            let (messages, has_earlier) = db::messages_before(&chat.db, room, Some(before)).await?;
            Ok(MessagePage { messages, has_earlier })
        }
        .await,
    )
}
