//! The GIF validator: decodes an upload within bounds and re-encodes it frame by frame, so only pixels,
//! palettes and timing survive; comments, trailing bytes and anything else a polyglot could hide are gone.
//! Pure: no knowledge of requests, rooms or where files live.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::settings::GifLimits;

/// Why a file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum GifError {
    /// Not a clean GIF within the limits; the message says why, for people.
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Whether the first bytes of a file can start a GIF (checked while an upload streams in).
pub fn has_gif_signature(first_six: &[u8]) -> bool {
    first_six == b"GIF87a" || first_six == b"GIF89a"
}

/// What re-encoding learned of a GIF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reencoded {
    /// Whether every pixel of every frame, as a browser shows it, is opaque: only then can a video (which has no
    /// transparency) show it as the GIF does. Conservative: `false` may be a GIF that only looks transparent to
    /// this check (one that clears a frame to the background and covers it in the next without a gap).
    pub opaque: bool,
    /// How long the last frame shows, in hundredths of a second, as browsers show it (they show a frame of no
    /// delay, or of one hundredth, for a tenth of a second): a video must give it the same time.
    pub last_delay: u16,
}

/// Decodes the GIF at `source` within `limits` and writes a clean re-encoding of it to `target`, and its first
/// frame alone, still, to `still` (what people who asked their system for reduced motion see first).
pub fn reencode(
    source: &Path,
    target: &std::fs::File,
    still: &std::fs::File,
    limits: GifLimits,
) -> Result<Reencoded, GifError> {
    let input = std::fs::File::open(source)?;
    reencode_stream(BufReader::new(input), BufWriter::new(target), BufWriter::new(still), limits)
}

/// Writes the still (first frame alone) of the GIF stored at `source` (validated when it was stored) to
/// `target`, for a GIF stored before stills were made: only its first frame is decoded.
pub fn still(source: &Path, target: &std::fs::File, limits: GifLimits) -> Result<(), GifError> {
    let (mut decoder, width, height, palette) = open(BufReader::new(std::fs::File::open(source)?), limits)?;
    let frame = decoder.read_next_frame().map_err(damaged)?.ok_or_else(no_picture)?;
    let mut still = gif::Encoder::new(BufWriter::new(target), width, height, &palette).map_err(encoding_failed)?;
    still.write_frame(&gif::Frame { delay: 0, ..frame.clone() }).map_err(encoding_failed)?;
    still.into_inner().map_err(encoding_failed)?.flush()?;
    Ok(())
}

fn damaged<E>(_: E) -> GifError {
    GifError::Rejected("That GIF is damaged or incomplete.".into())
}

fn no_picture() -> GifError {
    GifError::Rejected("That GIF has no picture in it.".into())
}

/// A decoder for `input` within `limits` (indexed colors, memory bounded), and the picture's size and palette.
type Opened<R> = (gif::Decoder<R>, u16, u16, Vec<u8>);
fn open<R: std::io::Read>(input: R, limits: GifLimits) -> Result<Opened<R>, GifError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    // Bounds the buffer any single frame may need, whatever the file claims.
    let max_pixels = u64::from(limits.max_side) * u64::from(limits.max_side);
    options.set_memory_limit(gif::MemoryLimit::Bytes(std::num::NonZeroU64::new(max_pixels.max(1)).unwrap()));
    let decoder = options.read_info(input).map_err(damaged)?;
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 || width > limits.max_side || height > limits.max_side {
        return Err(GifError::Rejected(format!("A GIF may be at most {0}×{0} pixels.", limits.max_side)));
    }
    let palette = decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default();
    Ok((decoder, width, height, palette))
}

/// The validator proper, over any reader and writers (so it can be tested and fuzzed in memory).
pub fn reencode_stream(
    input: impl std::io::Read,
    output: impl Write,
    still: impl Write,
    limits: GifLimits,
) -> Result<Reencoded, GifError> {
    let (mut decoder, width, height, global_palette) = open(input, limits)?;
    let mut encoder = gif::Encoder::new(output, width, height, &global_palette).map_err(encoding_failed)?;
    encoder.set_repeat(decoder.repeat()).map_err(encoding_failed)?;

    let mut still = Some(gif::Encoder::new(still, width, height, &global_palette).map_err(encoding_failed)?);
    let mut frames = 0usize;
    let mut pixels = 0u64;
    let mut opacity = Opacity::default();
    let mut last_delay = 0;
    while let Some(frame) = decoder.read_next_frame().map_err(damaged)? {
        last_delay = if frame.delay <= 1 { 10 } else { frame.delay };
        frames += 1;
        if frames > limits.max_frames {
            return Err(GifError::Rejected(format!("A GIF may have at most {} frames.", limits.max_frames)));
        }
        pixels += u64::from(frame.width) * u64::from(frame.height);
        if pixels > limits.max_total_pixels {
            return Err(GifError::Rejected("That GIF is too large: it has too many pixels in all.".into()));
        }
        if u32::from(frame.left) + u32::from(frame.width) > u32::from(width)
            || u32::from(frame.top) + u32::from(frame.height) > u32::from(height)
        {
            return Err(GifError::Rejected("That GIF is damaged: a frame lies outside the picture.".into()));
        }
        opacity.frame(frame, width, height);
        let failed = |_| GifError::Rejected("That GIF could not be re-encoded.".into());
        encoder.write_frame(frame).map_err(failed)?;
        if let Some(mut still) = still.take() {
            still.write_frame(&gif::Frame { delay: 0, ..frame.clone() }).map_err(failed)?;
            still.into_inner().map_err(encoding_failed)?.flush()?;
        }
    }
    if frames == 0 {
        return Err(no_picture());
    }
    let mut output = encoder.into_inner().map_err(encoding_failed)?;
    output.flush()?;
    Ok(Reencoded { opaque: opacity.opaque(), last_delay })
}

/// Follows whether a GIF shows only opaque pixels, frame by frame. The picture starts out transparent: the first
/// frame must cover all of it with no transparent pixel. A later frame's transparent pixels show what the frames
/// before left there, but a frame disposed of "to the background" leaves a transparent hole that the next frame
/// (the first again, when the GIF loops) must cover whole, with no transparent pixel.
#[derive(Debug, Default)]
struct Opacity {
    frames: usize,
    transparent: bool,
    /// The last frame cleared its area to transparent: the next must cover the picture.
    hole: bool,
}

impl Opacity {
    fn frame(&mut self, frame: &gif::Frame<'_>, width: u16, height: u16) {
        let covers = frame.left == 0 && frame.top == 0 && frame.width == width && frame.height == height;
        let solid = frame.transparent.is_none_or(|clear| !frame.buffer.contains(&clear));
        if (self.frames == 0 || self.hole) && !(covers && solid) {
            self.transparent = true;
        }
        // Cleared to the background, or back to what was before it: the picture's first state is transparent,
        // and a frame that covered a hole and goes back to it leaves the hole again.
        self.hole = match frame.dispose {
            gif::DisposalMethod::Background => true,
            gif::DisposalMethod::Previous => self.frames == 0 || self.hole,
            _ => false,
        };
        self.frames += 1;
    }

    fn opaque(&self) -> bool {
        // Looping, the first frame comes after the last: it covers the picture whole (or it was transparent).
        !self.transparent
    }
}

/// The encoder only fails writing (its input was just decoded): an I/O failure.
fn encoding_failed(error: gif::EncodingError) -> GifError {
    match error {
        gif::EncodingError::Io(error) => GifError::Io(error),
        other => GifError::Io(std::io::Error::other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: GifLimits =
        GifLimits { max_bytes: 1 << 20, max_side: 64, max_frames: 4, max_total_pixels: 3 * 64 * 64 };

    fn gif(screen: u16, frame_side: u16, frames: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = gif::Encoder::new(&mut bytes, screen, screen, &[0, 0, 0, 255, 255, 255]).unwrap();
        for n in 0..frames {
            let frame = gif::Frame {
                width: frame_side,
                height: frame_side,
                buffer: std::borrow::Cow::Owned(vec![(n % 2) as u8; usize::from(frame_side).pow(2)]),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
        drop(encoder);
        bytes
    }

    fn clean_with_still(input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        let (mut output, mut still) = (Vec::new(), Vec::new());
        reencode_stream(input, &mut output, &mut still, LIMITS)
            .map(|_| (output, still))
            .map_err(|error| error.to_string())
    }

    fn clean(input: &[u8]) -> Result<Vec<u8>, String> {
        clean_with_still(input).map(|(output, _)| output)
    }

    fn frames(gif: &[u8]) -> Vec<gif::Frame<'static>> {
        gif::DecodeOptions::new().read_info(gif).unwrap().into_iter().map(Result::unwrap).collect()
    }

    #[test]
    fn a_valid_gif_comes_out_with_the_same_frames_and_a_still_of_the_first() {
        let input = gif(16, 16, 3);
        let (output, still) = clean_with_still(&input).unwrap();
        assert_eq!(frames(&output).len(), 3);
        let (still, first) = (frames(&still), &frames(&input)[0]);
        assert_eq!(still.len(), 1, "a still is one frame");
        assert_eq!((still[0].delay, &still[0].buffer), (0, &first.buffer), "the first frame's pixels");
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
        assert_eq!(clean(&gif(65, 8, 1)).unwrap_err(), "A GIF may be at most 64×64 pixels.");
        assert_eq!(clean(&gif(16, 16, 5)).unwrap_err(), "A GIF may have at most 4 frames.");
        assert_eq!(clean(&gif(64, 64, 4)).unwrap_err(), "That GIF is too large: it has too many pixels in all.");
        assert!(clean(&gif(64, 64, 3)).is_ok());
    }

    #[test]
    fn only_a_gif_whose_every_shown_pixel_is_opaque_is_called_opaque() {
        use gif::DisposalMethod::{Background, Keep};
        let opaque = |frames: &[gif::Frame<'static>]| {
            let mut bytes = Vec::new();
            let mut encoder = gif::Encoder::new(&mut bytes, 8, 8, &[0, 0, 0, 255, 255, 255]).unwrap();
            frames.iter().for_each(|frame| encoder.write_frame(frame).unwrap());
            drop(encoder);
            reencode_stream(&bytes[..], std::io::sink(), std::io::sink(), LIMITS).unwrap().opaque
        };
        let whole = |index: u8, transparent: Option<u8>, dispose| gif::Frame {
            width: 8,
            height: 8,
            buffer: std::borrow::Cow::Owned(vec![index; 64]),
            transparent,
            dispose,
            ..gif::Frame::default()
        };
        // A smaller frame whose pixels are all of its transparent index: it shows what was there.
        let patch = gif::Frame {
            left: 2,
            top: 2,
            width: 4,
            height: 4,
            buffer: std::borrow::Cow::Owned(vec![1; 16]),
            transparent: Some(1),
            ..gif::Frame::default()
        };
        assert!(opaque(&[whole(0, None, Keep), patch.clone()]), "transparent pixels over opaque ones");
        assert!(opaque(&[whole(1, Some(0), Keep)]), "a transparent index no pixel uses");
        assert!(opaque(&[whole(0, None, Background), whole(1, None, Keep)]), "a hole the next frame covers");
        assert!(!opaque(std::slice::from_ref(&patch)), "a first frame that leaves the picture's edges empty");
        assert!(!opaque(&[whole(1, Some(1), Keep)]), "a first frame with transparent pixels");
        assert!(!opaque(&[whole(0, None, Background), patch.clone()]), "a hole the next frame does not cover");
        assert!(opaque(&[whole(0, None, Keep), whole(1, None, Background)]), "a last hole the loop's first covers");
        use gif::DisposalMethod::Previous;
        assert!(!opaque(&[whole(0, None, Previous), patch.clone()]), "a first frame that goes back to nothing");
        assert!(opaque(&[whole(0, None, Keep), whole(1, None, Previous), patch]), "back to an opaque picture");
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
        let frame = gif::Frame {
            left: 6,
            width: 4,
            height: 4,
            buffer: std::borrow::Cow::Owned(vec![0; 16]),
            ..gif::Frame::default()
        };
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
}
