//! GIF uploads (`POST /room/:id/gif`, multipart field `gif`) and serving them (`GET /gif/:name`).
//!
//! An upload is streamed to a temporary file (refused as soon as it passes the size limit), decoded with the
//! `gif` crate within bounds on dimensions and frames, and re-encoded frame by frame: only pixels, palettes and
//! timing survive, so comments, trailing bytes and anything else a polyglot could hide are gone. The clean file
//! is renamed into place atomically and only then announced. Every failure removes what was written.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path as UrlPath, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use http::{HeaderValue, StatusCode, header};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::error::AppError;
use crate::model::{ChatMessage, MessageKind, RoomId};
use crate::server::AppState;
use crate::server::chat::Settings;
use crate::server::db;
use crate::server::identity::Visitor;

/// Where uploads are written before they are validated (inside the uploads directory, so the final rename is on
/// the same file system and atomic; never served, since served names are plain `<hex>.gif`).
const INCOMING_DIR: &str = ".incoming";

/// `POST /room/:id/gif`
pub async fn upload_gif(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    UrlPath(raw_id): UrlPath<String>,
    request: Request,
) -> Result<Json<ChatMessage>, AppError> {
    let chat = state.chat.clone();
    let settings = chat.settings.clone();
    let room_id: RoomId = raw_id.parse().map_err(|_| AppError::RoomNotFound)?;
    let too_large = || AppError::TooLarge(format!("A GIF may be at most {}.", human_size(settings.max_upload_bytes)));

    // Refuse a declared oversize body before reading any of it.
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > settings.max_upload_bytes + MULTIPART_OVERHEAD) {
        return Err(too_large());
    }

    let room = db::find_room(&chat.db, room_id).await?.ok_or(AppError::RoomNotFound)?;
    let me = &visitor.person;
    // Present in the room, or granted its password (and not kicked out since).
    let allowed = chat.presence.is_present(room_id, &me.id)
        || (room.password_hash.is_some()
            && db::is_granted(&chat.db, room_id, &me.id).await?
            && !db::is_banned(&chat.db, room_id, &me.id).await?);
    if !allowed {
        return Err(AppError::NotInRoom);
    }

    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|_| AppError::BadRequest("Send the GIF as multipart/form-data in a field named \"gif\".".into()))?;

    let incoming = settings.uploads_dir.join(INCOMING_DIR);
    tokio::fs::create_dir_all(&incoming).await.map_err(internal("creating the incoming directory"))?;
    let raw = TempFile(incoming.join(format!("{}.raw", uuid::Uuid::new_v4().simple())));

    let mut found = false;
    while let Some(mut field) = multipart.next_field().await.map_err(|error| multipart_error(error, too_large()))? {
        if field.name() != Some("gif") {
            continue;
        }
        found = true;
        let mut file = tokio::fs::File::create(&raw.0).await.map_err(internal("creating an upload file"))?;
        let mut written: u64 = 0;
        let mut header: Vec<u8> = Vec::with_capacity(6);
        while let Some(chunk) = field.chunk().await.map_err(|error| multipart_error(error, too_large()))? {
            written += chunk.len() as u64;
            if written > settings.max_upload_bytes {
                return Err(too_large());
            }
            if header.len() < 6 {
                header.extend(chunk.iter().take(6 - header.len()));
                if header.len() == 6 && header != b"GIF87a" && header != b"GIF89a" {
                    return Err(not_a_gif());
                }
            }
            file.write_all(&chunk).await.map_err(internal("writing an upload"))?;
        }
        file.flush().await.map_err(internal("writing an upload"))?;
        if written == 0 {
            return Err(AppError::NotAGif("The file is empty.".into()));
        }
        if header.len() < 6 {
            return Err(not_a_gif());
        }
        break;
    }
    if !found {
        return Err(AppError::BadRequest("No file in the \"gif\" field.".into()));
    }

    // From here on the work runs to completion in its own task even if the client goes away: the files and the
    // message row then never disagree, and a committed message is always announced.
    let me = me.clone();
    tokio::spawn(async move {
        let name = format!("{}.gif", uuid::Uuid::new_v4().simple());
        let clean = TempFile(incoming.join(format!("{name}.clean")));
        let limits = Limits::from(&settings);
        let _permit = REENCODING.acquire().await.map_err(|_| AppError::Internal)?;
        let clean = tokio::task::spawn_blocking(move || {
            // The blocking task owns both temporary files: they go when it ends, whatever the outcome.
            let _raw = raw;
            reencode(&_raw.0, &clean.0, limits).map(|()| clean)
        })
        .await
        .map_err(|_| AppError::Internal)??;

        let stored = TempFile(settings.uploads_dir.join(&name));
        tokio::fs::rename(&clean.0, &stored.0).await.map_err(internal("storing an upload"))?;
        let message = chat
            .post(room_id, db::NewMessage {
                kind: MessageKind::Gif,
                author_id: Some(&me.id),
                recipient_id: None,
                body: &name,
                client_id: None,
            })
            .await?;
        // The message row now points at the file: it stays.
        stored.keep();
        Ok(Json(message))
    })
    .await
    .map_err(|_| AppError::Internal)?
}

/// Decoding and re-encoding is CPU work: at most this many uploads do it at once.
static REENCODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Room for the multipart boundaries and part headers around the file itself.
const MULTIPART_OVERHEAD: u64 = 16 * 1024;

fn multipart_error(error: axum::extract::multipart::MultipartError, too_large: AppError) -> AppError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large
    } else {
        AppError::BadRequest(format!("The upload could not be read: {}", error.body_text()))
    }
}

fn not_a_gif() -> AppError {
    AppError::NotAGif("That file is not a GIF.".into())
}

fn internal(what: &'static str) -> impl Fn(std::io::Error) -> AppError {
    move |error| {
        tracing::error!(%error, "{what}");
        AppError::Internal
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// A file removed when dropped, unless kept: whatever path a request takes out, it leaves no debris.
struct TempFile(PathBuf);

impl TempFile {
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_side: u16,
    pub max_frames: usize,
    /// Most pixels all frames together may have: bounds the decoding work a small, well-compressed file can
    /// demand (a 10 MiB file could otherwise describe billions of pixels).
    pub max_total_pixels: u64,
}

/// 50 frames of 1000×1000, or 3,000 frames of 180×180: far beyond any chat GIF, a few seconds of CPU at most.
pub const MAX_TOTAL_PIXELS: u64 = 50_000_000;

impl From<&Settings> for Limits {
    fn from(settings: &Settings) -> Limits {
        Limits { max_side: settings.max_gif_side, max_frames: settings.max_gif_frames, max_total_pixels: MAX_TOTAL_PIXELS }
    }
}

/// Decodes the GIF at `source` within `limits` and writes a clean re-encoding of it to `target`.
pub fn reencode(source: &Path, target: &Path, limits: Limits) -> Result<(), AppError> {
    let input = std::fs::File::open(source).map_err(internal("opening an upload"))?;
    let output = std::fs::File::create(target).map_err(internal("creating a clean GIF"))?;
    reencode_stream(BufReader::new(input), BufWriter::new(output), limits)
}

/// The validator proper, over any reader and writer (so it can be tested and fuzzed in memory).
pub fn reencode_stream(input: impl std::io::Read, output: impl std::io::Write, limits: Limits) -> Result<(), AppError> {
    let broken = |_| AppError::NotAGif("That GIF is damaged or incomplete.".into());
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    // Bounds the buffer any single frame may need, whatever the file claims.
    let max_pixels = u64::from(limits.max_side) * u64::from(limits.max_side);
    options.set_memory_limit(gif::MemoryLimit::Bytes(std::num::NonZeroU64::new(max_pixels.max(1)).unwrap()));
    let mut decoder = options.read_info(input).map_err(broken)?;

    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 || width > limits.max_side || height > limits.max_side {
        return Err(AppError::NotAGif(format!(
            "A GIF may be at most {0}×{0} pixels.",
            limits.max_side
        )));
    }
    let global_palette = decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default();
    let mut encoder = gif::Encoder::new(output, width, height, &global_palette).map_err(|_| AppError::Internal)?;
    encoder.set_repeat(decoder.repeat()).map_err(|_| AppError::Internal)?;

    let mut frames = 0usize;
    let mut pixels = 0u64;
    while let Some(frame) = decoder.read_next_frame().map_err(broken)? {
        frames += 1;
        if frames > limits.max_frames {
            return Err(AppError::NotAGif(format!("A GIF may have at most {} frames.", limits.max_frames)));
        }
        pixels += u64::from(frame.width) * u64::from(frame.height);
        if pixels > limits.max_total_pixels {
            return Err(AppError::NotAGif("That GIF is too large: it has too many pixels in all.".into()));
        }
        if u32::from(frame.left) + u32::from(frame.width) > u32::from(width)
            || u32::from(frame.top) + u32::from(frame.height) > u32::from(height)
        {
            return Err(AppError::NotAGif("That GIF is damaged: a frame lies outside the picture.".into()));
        }
        encoder.write_frame(frame).map_err(|_| AppError::NotAGif("That GIF could not be re-encoded.".into()))?;
    }
    if frames == 0 {
        return Err(AppError::NotAGif("That GIF has no picture in it.".into()));
    }
    let mut output = encoder.into_inner().map_err(|_| AppError::Internal)?;
    output.flush().map_err(internal("writing a clean GIF"))?;
    Ok(())
}

/// Names of stored GIFs: 32 lowercase hex digits and `.gif`. Anything else (paths, temp files) is not served.
fn is_stored_name(name: &str) -> bool {
    name.strip_suffix(".gif")
        .is_some_and(|stem| stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `GET /gif/:name`
pub async fn serve_gif(State(state): State<AppState>, UrlPath(name): UrlPath<String>, request: Request) -> Response {
    if !is_stored_name(&name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = state.chat.settings.uploads_dir.join(&name);
    let Ok(mut response) = ServeFile::new(path).oneshot(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // Names are never reused, so a stored GIF never changes.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    }
    response.map(Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_side: 64, max_frames: 4, max_total_pixels: 3 * 64 * 64 };

    fn gif(screen: u16, frame_side: u16, frames: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = gif::Encoder::new(&mut bytes, screen, screen, &[0, 0, 0, 255, 255, 255]).unwrap();
        for n in 0..frames {
            let mut frame = gif::Frame::default();
            frame.width = frame_side;
            frame.height = frame_side;
            frame.buffer = std::borrow::Cow::Owned(vec![(n % 2) as u8; usize::from(frame_side).pow(2)]);
            encoder.write_frame(&frame).unwrap();
        }
        drop(encoder);
        bytes
    }

    fn clean(input: &[u8]) -> Result<Vec<u8>, AppError> {
        let mut output = Vec::new();
        reencode_stream(input, &mut output, LIMITS).map(|()| output)
    }

    #[test]
    fn a_valid_gif_comes_out_with_the_same_frames() {
        let output = clean(&gif(16, 16, 3)).unwrap();
        let frames: Vec<_> = gif::DecodeOptions::new().read_info(&output[..]).unwrap().into_iter().collect();
        assert_eq!(frames.len(), 3);
    }

    #[test]
    fn html_hidden_in_a_comment_or_after_the_trailer_is_not_served() {
        let mut polyglot = gif(8, 8, 1);
        let trailer = polyglot.pop().unwrap();
        assert_eq!(trailer, 0x3b);
        let script = b"<script>alert(1)</script>";
        polyglot.extend([0x21, 0xfe, script.len() as u8]);
        polyglot.extend(script);
        polyglot.extend([0x00, 0x3b]);
        polyglot.extend(b"<html><script>alert(2)</script></html>");
        let output = clean(&polyglot).unwrap();
        assert!(!output.windows(7).any(|w| w == b"<script"), "script survived re-encoding");
        assert_eq!(output.last(), Some(&0x3b), "output ends at the GIF trailer");
    }

    #[test]
    fn oversized_pictures_and_too_many_frames_are_refused() {
        assert_eq!(clean(&gif(65, 8, 1)).unwrap_err(), AppError::NotAGif("A GIF may be at most 64×64 pixels.".into()));
        assert_eq!(clean(&gif(16, 16, 5)).unwrap_err(), AppError::NotAGif("A GIF may have at most 4 frames.".into()));
        assert_eq!(
            clean(&gif(64, 64, 4)).unwrap_err(),
            AppError::NotAGif("That GIF is too large: it has too many pixels in all.".into())
        );
        assert!(clean(&gif(64, 64, 3)).is_ok());
    }

    #[test]
    fn damaged_input_is_refused_not_panicked_on() {
        let whole = gif(16, 16, 2);
        for cut in [6, 10, 13, whole.len() / 2, whole.len() - 2] {
            assert!(clean(&whole[..cut]).is_err(), "accepted a GIF cut at {cut}");
        }
        assert!(clean(b"GIF89a").is_err());
        assert!(clean(b"").is_err());
        // A frame that claims to lie outside the picture.
        let mut bytes = Vec::new();
        let mut encoder = gif::Encoder::new(&mut bytes, 8, 8, &[0, 0, 0, 255, 255, 255]).unwrap();
        let mut frame = gif::Frame::default();
        frame.left = 6;
        frame.width = 4;
        frame.height = 4;
        frame.buffer = std::borrow::Cow::Owned(vec![0; 16]);
        encoder.write_frame(&frame).unwrap();
        drop(encoder);
        assert!(clean(&bytes).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// Random bytes behind a GIF header: refused or cleaned, never a panic.
            #[test]
            fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
                let mut bytes = b"GIF89a".to_vec();
                bytes.extend(tail);
                let _ = clean(&bytes);
            }

            /// A valid GIF with bytes flipped, cut or appended: whatever comes out decodes cleanly within limits
            /// and ends at the trailer.
            #[test]
            fn mutated_gifs_come_out_clean_or_not_at_all(
                frames in 1usize..4,
                flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                cut in proptest::option::of(any::<prop::sample::Index>()),
                junk in proptest::collection::vec(any::<u8>(), 0..40),
            ) {
                let mut bytes = gif(12, 12, frames);
                for (index, value) in flips {
                    let at = index.index(bytes.len());
                    bytes[at] = value;
                }
                if let Some(cut) = cut {
                    bytes.truncate(cut.index(bytes.len()).max(1));
                }
                bytes.extend(junk);
                if let Ok(output) = clean(&bytes) {
                    prop_assert_eq!(output.last(), Some(&0x3b));
                    let decoded: Vec<_> = gif::DecodeOptions::new().read_info(&output[..]).unwrap().into_iter().collect();
                    prop_assert!(decoded.iter().all(Result::is_ok));
                    prop_assert!((1..=LIMITS.max_frames).contains(&decoded.len()));
                }
            }
        }
    }

    #[test]
    fn only_plain_stored_names_are_served() {
        assert!(is_stored_name("0123456789abcdef0123456789abcdef.gif"));
        for bad in [
            "../secret.gif",
            "0123456789abcdef0123456789abcdef.GIF",
            ".incoming/0123456789abcdef0123456789abcdef.gif",
            "0123456789abcdef0123456789abcdeg.gif",
            "x.gif",
            "0123456789abcdef0123456789abcdef.gif.clean",
        ] {
            assert!(!is_stored_name(bad), "{bad} would be served");
        }
    }
}

/// Start-up sweep: removes what a crash can leave in the uploads directory, temporary files and GIFs no message
/// points at (the database is the truth; files exist exactly when a row points at them).
pub async fn sweep(uploads_dir: &Path, db: &sqlx::SqlitePool) -> Result<usize, AppError> {
    let _ = tokio::fs::remove_dir_all(uploads_dir.join(INCOMING_DIR)).await;
    let referenced: std::collections::HashSet<String> = db::gif_files(db).await?.into_iter().collect();
    let mut removed = 0;
    let mut entries = match tokio::fs::read_dir(uploads_dir).await {
        Ok(entries) => entries,
        Err(_) => return Ok(0),
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_stored_name(&name) && !referenced.contains(&name) && tokio::fs::remove_file(entry.path()).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
