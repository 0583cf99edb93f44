//! Looping videos of stored GIFs. A GIF is the heaviest thing the chat sends; the same animation as an H.264 video
//! is typically a tenth of its size (docs/performance.md has the corpus' figures). The video is made by
//! Debian's `ffmpeg`, run as a child process on the GIF the validator re-encoded (never on what was uploaded),
//! with only the GIF demuxer and the file protocol allowed, at a lower priority than the server, within a limit of
//! time (then it is killed) and of memory.
//!
//! Pure: it knows nothing of rooms, messages or where files are stored (see `service::gifs`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How videos are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSettings {
    /// The `ffmpeg` program.
    pub ffmpeg: PathBuf,
    /// How long one video may take to make: then `ffmpeg` is killed, and the GIF keeps no video.
    pub time_limit: Duration,
    /// The most address space `ffmpeg` may take, in bytes (it fails to allocate beyond).
    pub memory_limit: u64,
}

impl Default for VideoSettings {
    fn default() -> VideoSettings {
        VideoSettings {
            ffmpeg: PathBuf::from("ffmpeg"),
            time_limit: Duration::from_secs_f64(crate::settings::defaults::GIF_VIDEO_SECS),
            memory_limit: 1 << 30,
        }
    }
}

/// Why no video was made.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// `ffmpeg` could not be started (not installed?): try again later, it is not the GIF's fault.
    #[error("ffmpeg could not be started ({0}): is it installed?")]
    Unavailable(std::io::Error),
    #[error("ffmpeg took longer than {0:?} and was stopped")]
    TimedOut(Duration),
    #[error("ffmpeg failed ({status}): {message}")]
    Failed { status: String, message: String },
}

/// What can come of looking at a stored GIF's video (the metric `gif_chat_gif_videos_total`'s outcomes).
pub const OUTCOMES: [&str; 5] = ["made", "larger", "transparent", "failed", "unavailable"];

/// How much lower than the server's `ffmpeg`'s priority is (as for `crate::heavy`'s work).
const LOWER_BY: i32 = 10;

/// The encoder's settings: H.264 (every browser plays it) in MP4, moov atom first (`+faststart`, so it plays while
/// it arrives), 4:2:0 chroma and even dimensions (what the decoders of phones want: an odd row or column is cropped
/// off), every GIF frame kept with its own timing (a GIF's frames have delays of their own: by default ffmpeg
/// would make it 60 frames a second, repeating and dropping frames). `-tune animation` at quality 26 measured best
/// on the corpus of real GIFs (`scripts/gif-corpus`, docs/performance.md): a median of 91% fewer bytes than the
/// GIF, SSIM 0.97 (VP9 in WebM saves a little more at twice the time, and is not what every browser plays).
const ENCODE: &[&str] = &[
    "-an",
    "-sn",
    "-dn",
    "-map_metadata",
    "-1",
    "-fps_mode",
    "passthrough",
    "-enc_time_base",
    "1:100",
    "-vf",
    "crop=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
    "-c:v",
    "libx264",
    "-preset",
    "medium",
    "-tune",
    "animation",
    "-crf",
    "26",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
];

/// Makes the looping video of the GIF at `gif` (one the validator re-encoded; its last frame shows for
/// `last_delay` hundredths of a second) into `video` (replacing what is there). Waits for `ffmpeg` without
/// blocking the async workers; killed at the time limit, or if this is dropped.
pub async fn make(settings: &VideoSettings, gif: &Path, last_delay: u16, video: &Path) -> Result<(), VideoError> {
    let mut command = tokio::process::Command::new(&settings.ffmpeg);
    command
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "2"])
        // Nothing but the file given, read as a GIF: no other demuxer, no network, no playlists.
        .args(["-protocol_whitelist", "file", "-f", "gif", "-i"])
        .arg(file_url(gif))
        .args(ENCODE)
        // With every frame passed through as it is, the last one lasts one frame of this rate: its own delay.
        .args(["-r", &format!("100/{}", last_delay.max(1))])
        .args(["-y"])
        .arg(file_url(video))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    limit(&mut command, settings);
    let child = command.spawn().map_err(VideoError::Unavailable)?;
    let output = match tokio::time::timeout(settings.time_limit, child.wait_with_output()).await {
        Ok(output) => output.map_err(VideoError::Unavailable)?,
        // Dropping the wait drops the child: it is killed (`kill_on_drop`).
        Err(_) => return Err(VideoError::TimedOut(settings.time_limit)),
    };
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr);
    let message: String = message.trim().chars().take(500).collect();
    Err(VideoError::Failed { status: output.status.to_string(), message })
}

/// A path as ffmpeg's file protocol reads it: `file:` first, so that a path with a colon in it is not taken for
/// another protocol.
fn file_url(path: &Path) -> std::ffi::OsString {
    let mut url = std::ffi::OsString::from("file:");
    url.push(path);
    url
}

/// Lowers the child's priority and bounds its memory and CPU time, in the child before `ffmpeg` starts.
fn limit(command: &mut tokio::process::Command, settings: &VideoSettings) {
    use rustix::process::{Resource, Rlimit, getpriority_process, setpriority_process, setrlimit};
    let memory = Rlimit { current: Some(settings.memory_limit), maximum: Some(settings.memory_limit) };
    // CPU time as a backstop to the wall-clock limit (two threads may spend two seconds a second).
    let seconds = settings.time_limit.as_secs().saturating_mul(2).max(1);
    let cpu = Rlimit { current: Some(seconds), maximum: Some(seconds) };
    // SAFETY: the closure runs in the forked child before exec; it only makes system calls (no allocation, no
    // lock), which is what is allowed there.
    unsafe {
        command.pre_exec(move || {
            setrlimit(Resource::As, memory)?;
            setrlimit(Resource::Cpu, cpu)?;
            // Lower than the server's, which the child inherited (at worst it stays at the server's).
            if let Ok(now) = getpriority_process(None) {
                let _ = setpriority_process(None, (now + LOWER_BY).min(19));
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in for ffmpeg: a shell script.
    fn fake_ffmpeg(dir: &Path, script: &str) -> PathBuf {
        let path = dir.join("ffmpeg");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn a_gif_becomes_a_streamable_h264_video_of_even_size_with_every_frame_and_its_timing() {
        let dir = tempfile::tempdir().unwrap();
        let (gif, video) = (dir.path().join("in.gif"), dir.path().join("out.mp4"));
        // Odd sides: a row and a column are cropped off.
        std::fs::write(&gif, crate::testing::moving_gif(161, 121, 12)).unwrap();
        make(&VideoSettings::default(), &gif, 8, &video).await.unwrap();
        let probed = crate::testing::probe(&video);
        assert_eq!((probed.codec.as_str(), probed.pixel_format.as_str()), ("h264", "yuv420p"));
        assert_eq!((probed.width, probed.height, probed.frames), (160, 120, 12));
        // 12 frames of 80 ms each, the last one too.
        assert!((probed.seconds - 0.96).abs() < 0.015, "{probed:?}");
        // Its index comes first, so that it plays while it arrives.
        let bytes = std::fs::read(&video).unwrap();
        let at = |atom: &[u8]| bytes.windows(4).position(|window| window == atom).unwrap();
        assert!(at(b"moov") < at(b"mdat"), "moov after mdat: not streamable");
        assert!(bytes.len() * 3 < std::fs::metadata(&gif).unwrap().len() as usize, "not much smaller than the GIF");
    }

    #[tokio::test]
    async fn frames_of_uneven_delays_keep_them_the_last_one_too() {
        let dir = tempfile::tempdir().unwrap();
        let (gif, video) = (dir.path().join("in.gif"), dir.path().join("out.mp4"));
        // The clip's first three frames, shown for 0.1 s, 0.2 s and 0.5 s.
        let clip = crate::testing::moving_gif(64, 48, 3);
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(&clip[..]).unwrap();
        let palette = decoder.global_palette().unwrap().to_vec();
        let mut bytes = Vec::new();
        let mut encoder = gif::Encoder::new(&mut bytes, 64, 48, &palette).unwrap();
        for delay in [10, 20, 50] {
            let frame = decoder.read_next_frame().unwrap().unwrap();
            encoder.write_frame(&gif::Frame { delay, ..frame.clone() }).unwrap();
        }
        drop(encoder);
        std::fs::write(&gif, bytes).unwrap();
        make(&VideoSettings::default(), &gif, 50, &video).await.unwrap();
        let probed = crate::testing::probe(&video);
        assert_eq!(probed.frames, 3);
        assert!((probed.seconds - 0.8).abs() < 0.015, "{probed:?}");
    }

    #[tokio::test]
    async fn ffmpeg_runs_at_a_lower_priority_within_its_memory_and_cpu_limits() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("limits");
        let script = format!("echo $(nice) $(ulimit -v) $(ulimit -t) > {}", report.display());
        let settings = VideoSettings { ffmpeg: fake_ffmpeg(dir.path(), &script), ..VideoSettings::default() };
        make(&settings, &dir.path().join("in.gif"), 10, &dir.path().join("out.mp4")).await.unwrap();
        let server = rustix::process::getpriority_process(None).unwrap();
        let seen = std::fs::read_to_string(report).unwrap();
        let seconds = settings.time_limit.as_secs() * 2;
        let expected = format!("{} {} {seconds}", (server + LOWER_BY).min(19), settings.memory_limit / 1024);
        assert_eq!(seen.trim(), expected);
    }

    #[tokio::test]
    async fn ffmpeg_that_hangs_is_killed_at_the_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > {}\nexec sleep 600", pid_file.display());
        let time_limit = Duration::from_millis(500);
        let settings = VideoSettings { ffmpeg: fake_ffmpeg(dir.path(), &script), time_limit, ..Default::default() };
        let started = std::time::Instant::now();
        let outcome = make(&settings, &dir.path().join("in.gif"), 10, &dir.path().join("out.mp4")).await;
        assert!(matches!(outcome, Err(VideoError::TimedOut(_))), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid = std::fs::read_to_string(pid_file).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        // Killed: gone, or a zombie until tokio reaps it.
        for _ in 0..100 {
            match std::fs::read_to_string(&stat) {
                Err(_) => return,
                Ok(stat) if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        panic!("ffmpeg still runs after its time limit");
    }

    #[tokio::test]
    async fn a_failure_says_why_and_a_missing_ffmpeg_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let (gif, video) = (dir.path().join("in.gif"), dir.path().join("out.mp4"));
        std::fs::write(&gif, b"GIF89a but not really").unwrap();
        match make(&VideoSettings::default(), &gif, 8, &video).await {
            Err(VideoError::Failed { message, .. }) => assert!(!message.is_empty()),
            other => panic!("a broken GIF: {other:?}"),
        }
        let missing = VideoSettings { ffmpeg: dir.path().join("no-such-ffmpeg"), ..VideoSettings::default() };
        assert!(matches!(make(&missing, &gif, 10, &video).await, Err(VideoError::Unavailable(_))));
    }
}
