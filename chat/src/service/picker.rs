//! The GIF picker: GIFs to post again without uploading them, from three shelves (see [`Shelf`]): the GIFs shown in
//! the room, the person's own uploads, and the library of GIFs people chose to share with everyone on this server.
//! Posting one is posting **by reference**: the same stored files, no new one, announced like any GIF message.
//! It claims the stored GIF the way an upload does (see `service/gifs.rs`), so that a removal cannot take its files
//! while the message is on its way.
//!
//! What one may post by reference is what one may see: a GIF of the room one posts in, one's own, or the
//! library's. GIFs of rooms with a password are never shared to the library.

use std::sync::Arc;

use super::Chat;
use super::db;
use crate::error::ServerResult;
use crate::uploads::StoredName;
use protocol::error::{AppError, Refusal};
use protocol::model::{ChatMessage, MAX_LIBRARY_WORDS, OfferedGif, Person, RoomId, Shelf};

/// How many GIFs a shelf shows at once.
pub const SHELF_SIZE: i64 = 60;

/// Words to find a GIF by in the library, as given at upload: trimmed, spaces collapsed, within
/// [`MAX_LIBRARY_WORDS`], with at least one searchable word, and no control characters (nor the invisible ones that
/// turn text around: they would reach the operator's terminal through `gif-chat library list`).
pub fn library_words(raw: &str) -> Result<String, AppError> {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if raw.chars().any(|c| invisible(c) && !c.is_whitespace()) {
        return Err(AppError::Invalid("Use letters, digits and spaces for the words.".into()));
    }
    let words = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if db::picker::search_words(&words).is_empty() {
        return Err(AppError::Invalid("Give a few words to find the GIF by in the library.".into()));
    }
    if words.chars().count() > MAX_LIBRARY_WORDS {
        return Err(AppError::Invalid(format!("At most {MAX_LIBRARY_WORDS} characters of words, please.")));
    }
    Ok(words)
}

impl Chat {
    /// The GIFs on `shelf` for `person` in `room` (the room's own: only for someone who may read it), newest first;
    /// on the library's, only those matching `search` (each of its words the start of one of a GIF's words), if
    /// given.
    pub async fn offered_gifs(
        &self,
        room: RoomId,
        person: &Person,
        shelf: Shelf,
        search: &str,
    ) -> ServerResult<Vec<OfferedGif>> {
        let offered = match shelf {
            Shelf::Room => {
                let admission = self.admit(room, person).await?;
                db::picker::in_room(&self.db, admission.room(), SHELF_SIZE).await?
            }
            Shelf::Mine => db::picker::uploaded_by(&self.db, person.id.as_str(), SHELF_SIZE).await?,
            Shelf::Library => {
                self.library_open()?;
                db::picker::library(&self.db, &db::picker::search_words(search), SHELF_SIZE).await?
            }
        };
        Ok(offered.into_iter().map(|db::picker::Offered { name, words, at }| OfferedGif { name, words, at }).collect())
    }

    /// `person` posts the stored GIF `name` to `room` by reference, if they may (see the module's documentation):
    /// announced like any GIF message, with its video if it has one.
    pub async fn post_gif_again(
        self: &Arc<Self>,
        room: RoomId,
        person: &Person,
        name: &str,
    ) -> ServerResult<ChatMessage> {
        let admission = self.admit_poster(room, person).await?;
        let name = StoredName::parse(name).ok_or(Refusal::NotFound)?;
        let (room, library) = (admission.room(), self.settings.gif_library);
        if !db::picker::claim_to_post(&self.db, name.as_str(), room, person.id.as_str(), library).await? {
            return Err(AppError::Invalid("That GIF is not available any more.".into()).into());
        }
        let chat = self.clone();
        // In a task of its own, as an upload: a client that goes away does not leave the claim behind.
        self.tasks
            .spawn(async move {
                let message = db::NewMessage::gif(&admission.person().id, name.as_str());
                let posted = chat.post(admission.room(), message).await;
                chat.let_go_of_claim(&name).await;
                posted
            })
            .await?
    }

    /// Shares the GIF `name`, just posted by `person` in a room without a password, to the library with `words`.
    pub(super) async fn share_gif(&self, name: &StoredName, words: &str, person: &Person) -> ServerResult<()> {
        self.library_open()?;
        db::picker::share(&self.db, name.as_str(), words, person.id.as_str()).await?;
        Ok(())
    }

    /// Whether a GIF posted with `admission` may be shared to the library: the server keeps one, and the room has
    /// no password.
    pub fn may_share_from(&self, admission: &super::Admission) -> Result<(), AppError> {
        self.library_open()?;
        if admission.locked() {
            let refusal = "GIFs from a room with a password are never added to the library.";
            return Err(AppError::Invalid(refusal.into()));
        }
        Ok(())
    }

    /// Refuses when this server keeps no library.
    pub(super) fn library_open(&self) -> Result<(), AppError> {
        match self.settings.gif_library {
            true => Ok(()),
            false => Err(AppError::Invalid("This server keeps no GIF library.".into())),
        }
    }

    /// The library's entries (for its operator): name, words, who shared it, when (Unix ms); oldest first.
    pub async fn library_entries(&self) -> ServerResult<Vec<(String, String, String, i64)>> {
        Ok(db::picker::library_entries(&self.db).await?)
    }

    /// Takes the GIF `name` out of the library (its operator's decision): whether it was there. Its files go now
    /// unless a message shows it or a post is on its way with it (then the sweep takes them when it is done).
    pub async fn unshare_gif(&self, name: &str) -> ServerResult<bool> {
        let Some(name) = StoredName::parse(name) else { return Ok(false) };
        let removed = db::picker::unshare(&self.db, name.as_str()).await?;
        if removed {
            self.release_now(&name).await;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_words_are_tidied_and_need_something_to_find() {
        assert_eq!(library_words("  happy   cat\tdance ").unwrap(), "happy cat dance");
        assert!(library_words(" !!! ").is_err());
        assert!(library_words(&"word ".repeat(30)).is_err());
        assert!(library_words("cat \u{1b}[31m red").is_err() && library_words("cat \u{202e}tac").is_err());
        assert_eq!(db::picker::search_words("Happy-CAT, dançe!"), ["happy", "cat", "dançe"]);
    }
}
