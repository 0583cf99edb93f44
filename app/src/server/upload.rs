//! The upload routes: `POST /room/:id/gif` (multipart field `gif`; with `library` = `on` and `words`, the GIF is
//! shared to the library too) and `GET /gif/:name`. Thin: the chat admits the person, the uploads store owns the
//! files, the GIF module validates them.
//!
//! An upload is streamed to a temporary file and refused as soon as it passes the size limit or does not start
//! like a GIF; [`Chat::post_gif`](::chat::Chat::post_gif) then re-encodes, stores and posts it.
//! Every failure leaves nothing behind (temporary files are removed when dropped).

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path as UrlPath, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::server::AppState;
use crate::server::address::ClientAddress;
use crate::server::error::server_error_response;
use crate::server::identity::Visitor;
use ::chat::error::{ServerError, ServerResult};
use ::chat::gif::has_gif_signature;
use ::chat::uploads::{content_type_of, owner_of};
use protocol::error::{AppError, Refusal};
use protocol::model::{ChatMessage, RoomId};

/// Room for the multipart boundaries and part headers around the file itself.
pub const MULTIPART_OVERHEAD: u64 = 16 * 1024;

/// `POST /room/:id/gif`
pub async fn upload_gif(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    address: Option<Extension<ClientAddress>>,
    UrlPath(raw_id): UrlPath<String>,
    request: Request,
) -> Response {
    let chat = state.chat.clone();
    let outcome = receive_gif(state, visitor, address, raw_id, request).await;
    chat.metrics().upload_done(&outcome);
    match outcome {
        Ok(message) => Json(message).into_response(),
        Err(error) => server_error_response(error),
    }
}

async fn receive_gif(
    state: AppState,
    visitor: Visitor,
    address: Option<Extension<ClientAddress>>,
    raw_id: String,
    request: Request,
) -> ServerResult<ChatMessage> {
    let chat = state.chat.clone();
    let max_bytes = chat.gif_limits().max_bytes;
    let too_large = || AppError::TooLarge(format!("A GIF may be at most {}.", human_size(max_bytes)));
    let room: RoomId = raw_id.parse().map_err(|_| Refusal::NotFound)?;

    // Refuse a declared oversize body before reading any of it.
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes + MULTIPART_OVERHEAD) {
        return Err(too_large().into());
    }
    // Counted, charged its size (as declared; the largest allowed if undeclared) and held in flight until done.
    let charged = declared.unwrap_or(max_bytes).min(max_bytes);
    let _in_flight = state.limits.upload(&visitor.person.id, address.map(|address| address.0.0), charged)?;
    let admission = chat.admit_poster(room, &visitor.person).await?;
    // Its size is set aside now, before a byte is read: uploads still arriving count against the quota and the
    // free-space floor, so slow ones cannot be admitted together into room for one.
    let reservation = chat.reserve_upload(charged).await?;
    // However it trickles in, an upload has a deadline; and the server's shutdown does not wait for it.
    let stopping = chat.stopping();
    let deadline = state.edge.upload_deadline;
    let received = tokio::select! {
        received = tokio::time::timeout(deadline, receive_file(&state, request, max_bytes)) => received
            .map_err(|_| AppError::Timeout("The upload took too long. Please try again on a faster connection.".into()))?,
        () = stopping.cancelled() => return Err(AppError::UploadsUnavailable.into()),
    };
    let Received { file, library, words } = received?;
    let share = match library {
        true => {
            let words = ::chat::library_words(&words)?;
            // Refused before it is counted against the person's sharing.
            chat.may_share_from(&admission)?;
            state.limits.share(&visitor.person.id, address.map(|address| address.0.0))?;
            Some(words)
        }
        false => None,
    };
    chat.post_gif(admission, file, reservation, share).await
}

/// What an upload's form held: the GIF, and whether (and with which words) to share it to the library.
struct Received {
    file: ::chat::uploads::NamedTempFile,
    library: bool,
    words: String,
}

/// The most bytes of a text field of the upload's form (`library`, `words`).
const MAX_FIELD_BYTES: usize = 1024;

/// Streams the request's `gif` field into a temporary file, refusing it as soon as it passes `max_bytes` or does
/// not start like a GIF, and reads its small text fields (before or after it).
async fn receive_file(state: &AppState, request: Request, max_bytes: u64) -> ServerResult<Received> {
    let chat = &state.chat;
    let too_large = || AppError::TooLarge(format!("A GIF may be at most {}.", human_size(max_bytes)));

    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|_| AppError::BadRequest("Send the GIF as multipart/form-data in a field named \"gif\".".into()))?;
    let read_error = |error: axum::extract::multipart::MultipartError| -> ServerError {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large().into()
        } else {
            AppError::BadRequest(format!("The upload could not be read: {}", error.body_text())).into()
        }
    };
    // Every wait for more of the body is bounded: a stalled (or deliberately slow) upload gives up its place.
    let idle = state.edge.upload_idle;
    let stalled = || AppError::Timeout("The upload stalled. Please try again.".into());
    let (mut received, mut library, mut words) = (None, false, String::new());
    while let Some(mut field) =
        tokio::time::timeout(idle, multipart.next_field()).await.map_err(|_| stalled())?.map_err(read_error)?
    {
        if matches!(field.name(), Some("library" | "words")) {
            let mut text = Vec::new();
            while let Some(chunk) =
                tokio::time::timeout(idle, field.chunk()).await.map_err(|_| stalled())?.map_err(read_error)?
            {
                text.extend_from_slice(&chunk);
                if text.len() > MAX_FIELD_BYTES {
                    return Err(AppError::BadRequest("A field of the upload is too long.".into()).into());
                }
            }
            let text = String::from_utf8_lossy(&text).into_owned();
            match field.name() {
                Some("library") => library = matches!(text.as_str(), "on" | "true"),
                _ => words = text,
            }
            continue;
        }
        if field.name() != Some("gif") || received.is_some() {
            continue;
        }
        // The temporary file owns the path (removed when dropped); the upload streams in through a second handle.
        let raw = chat.uploads().incoming_file().await?;
        let mut file = tokio::fs::File::from_std(raw.reopen().map_err(ServerError::io("opening an upload file"))?);
        let mut written: u64 = 0;
        let mut head: Vec<u8> = Vec::with_capacity(6);
        while let Some(chunk) =
            tokio::time::timeout(idle, field.chunk()).await.map_err(|_| stalled())?.map_err(read_error)?
        {
            written += chunk.len() as u64;
            if written > max_bytes {
                return Err(too_large().into());
            }
            if head.len() < 6 {
                head.extend(chunk.iter().take(6 - head.len()));
                if head.len() == 6 && !has_gif_signature(&head) {
                    return Err(not_a_gif().into());
                }
            }
            file.write_all(&chunk).await.map_err(ServerError::io("writing an upload"))?;
        }
        file.flush().await.map_err(ServerError::io("writing an upload"))?;
        drop(file);
        if written == 0 {
            return Err(AppError::NotAGif("The file is empty.".into()).into());
        }
        if head.len() < 6 {
            return Err(not_a_gif().into());
        }
        received = Some(raw);
    }
    let file = received.ok_or_else(|| AppError::BadRequest("No file in the \"gif\" field.".into()))?;
    Ok(Received { file, library, words })
}

fn not_a_gif() -> AppError {
    AppError::NotAGif("That file is not a GIF.".into())
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// `GET /gif/:name`: a stored GIF (`<hex>.gif`), its still (`<hex>.still.gif`) or its video (`<hex>.mp4`), from
/// the uploads directory or from this process's cache of the bucket (fetched into it first if need be). Ranges
/// are served (a browser asks for a video's parts).
pub async fn serve_gif(State(state): State<AppState>, UrlPath(name): UrlPath<String>, request: Request) -> Response {
    // A GIF stored before stills were made gets its still when it is first asked for.
    if let Some(gif) = owner_of(&name).filter(|gif| gif.still() == name)
        && let Err(error) = state.chat.make_still(&gif).await
    {
        tracing::warn!(%error, "making the still of a stored GIF");
    }
    let servable = match state.chat.servable_gif(&name).await {
        Ok(Some(servable)) => servable,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(error) => return server_error_response(error),
    };
    let Ok(mut response) = ServeFile::new(&servable.path).oneshot(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type_of(&name)));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // A stored GIF's name is its content's: it never changes.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    }
    response.map(Body::new)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_naturally() {
        assert_eq!(super::human_size(10 * 1024 * 1024), "10 MiB");
        assert_eq!(super::human_size(64 * 1024), "64 KiB");
        assert_eq!(super::human_size(500), "500 bytes");
    }
}
