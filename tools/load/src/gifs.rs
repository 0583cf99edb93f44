//! The GIF scenarios. `videos`: a corpus of real GIFs uploaded one by one; the bytes their videos take against the
//! GIFs', the videos' likeness (SSIM, computed by ffmpeg against the GIF), and the time from an upload's answer to
//! its video being announced (for every GIF, and for a GIF of about 2 MiB uploaded again and again, a pixel
//! changed each time so that it is another GIF). `library`: the library filled with 100,000 entries, then searched
//! by words' starts through the server's public function, as the picker asks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::client::Visitor;
use crate::process::ServerProcess;
use crate::stats::{Latencies, Percentiles};

/// What the videos scenario found.
#[derive(Debug, Serialize)]
pub struct Videos {
    /// Where the GIFs came from: the corpus' directory, or the one fixture a smoke run uses.
    pub corpus: String,
    pub gifs: usize,
    /// GIFs that got a video (the others keep the GIF only: transparent, or a video would not be smaller).
    pub with_video: usize,
    /// Median over all GIFs of the bytes a page fetches (the video if there is one, else the GIF) ÷ the GIF's.
    pub median_delivered_ratio: f64,
    /// The same over the GIFs that got a video.
    pub median_video_ratio: f64,
    /// All the bytes fetched ÷ all the GIFs' bytes.
    pub total_ratio: f64,
    pub median_ssim: f64,
    pub lowest_ssim: f64,
    /// GIFs whose video has an SSIM of at least 0.95.
    pub ssim_at_least_0_95: usize,
    /// From an upload's answer to its video's announcement, over the corpus' GIFs that got one.
    pub time_to_video: Percentiles,
    /// The same for one GIF of about `two_mib_bytes` uploaded again and again (each time another GIF).
    pub two_mib: Percentiles,
    pub two_mib_p95_ms: f64,
    pub two_mib_bytes: usize,
    pub per_gif: Vec<VideoOfGif>,
}

#[derive(Debug, Serialize)]
pub struct VideoOfGif {
    pub file: String,
    pub gif_bytes: usize,
    pub video_bytes: Option<usize>,
    pub ssim: Option<f64>,
    pub seconds_to_video: Option<f64>,
}

/// Where `scripts/gif-corpus/fetch.sh` puts the corpus by default.
pub const CORPUS: &str = "target/gif-corpus";

pub async fn videos(options: &crate::Options) -> anyhow::Result<Videos> {
    let (corpus, files) = corpus_files(options)?;
    let server = ServerProcess::gif_chat(options).await?;
    let http = reqwest::Client::new();
    let visitor = Visitor::arrive(&http, server.addr).await?;
    let room = visitor.create_room("videos", 10).await?;
    let mut live = visitor.join(room).await?;
    let scratch = tempfile::tempdir()?;

    let mut per_gif = Vec::new();
    let mut times = Latencies::default();
    for file in &files {
        let gif = std::fs::read(file)?;
        let outcome = upload_and_wait(&server, &visitor, &mut live, room, gif).await?;
        let served_gif = fetch(&http, server.addr, &outcome.gif_url).await?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut row = VideoOfGif {
            file: name,
            gif_bytes: served_gif.len(),
            video_bytes: None,
            ssim: None,
            seconds_to_video: None,
        };
        if let (Some(url), Some(waited)) = (&outcome.video_url, outcome.waited) {
            let video = fetch(&http, server.addr, url).await?;
            let (gif_path, video_path) = (scratch.path().join("gif.gif"), scratch.path().join("video.mp4"));
            std::fs::write(&gif_path, &served_gif)?;
            std::fs::write(&video_path, &video)?;
            row.ssim = Some(ssim(&video_path, &gif_path)?);
            row.video_bytes = Some(video.len());
            row.seconds_to_video = Some(waited.as_secs_f64());
            times.0.push(waited.as_micros() as u64);
        }
        per_gif.push(row);
    }

    // Of the GIFs that got a video, the one nearest 2 MiB, again and again.
    let with_video = files.iter().zip(&per_gif).filter(|(_, gif)| gif.video_bytes.is_some()).map(|(file, _)| file);
    let big = with_video.min_by_key(|file| size_of(file).abs_diff(2 << 20)).context("no GIF got a video")?;
    let (big, two_mib_bytes) = (std::fs::read(big)?, size_of(big) as usize);
    let rounds = if options.smoke { 2 } else { 20 };
    let mut two_mib = Latencies::default();
    for round in 0..rounds {
        let gif = another_of(&big, round + 1)?;
        let outcome = upload_and_wait(&server, &visitor, &mut live, room, gif).await?;
        match outcome.waited.filter(|_| outcome.video_url.is_some()) {
            Some(waited) => two_mib.0.push(waited.as_micros() as u64),
            None => bail!("the {two_mib_bytes}-byte GIF got no video"),
        }
    }

    let ratios = |all: bool| {
        let mut ratios: Vec<f64> = per_gif
            .iter()
            .filter(|gif| all || gif.video_bytes.is_some())
            .map(|gif| gif.video_bytes.unwrap_or(gif.gif_bytes) as f64 / gif.gif_bytes.max(1) as f64)
            .collect();
        median(&mut ratios)
    };
    let delivered: usize = per_gif.iter().map(|gif| gif.video_bytes.unwrap_or(gif.gif_bytes)).sum();
    let gif_total: usize = per_gif.iter().map(|gif| gif.gif_bytes).sum();
    let mut ssims: Vec<f64> = per_gif.iter().filter_map(|gif| gif.ssim).collect();
    let two_mib_p95_ms = percentile(&two_mib, 0.95);
    Ok(Videos {
        corpus,
        gifs: per_gif.len(),
        with_video: ssims.len(),
        median_delivered_ratio: ratios(true),
        median_video_ratio: ratios(false),
        total_ratio: delivered as f64 / gif_total.max(1) as f64,
        median_ssim: median(&mut ssims),
        lowest_ssim: ssims.iter().copied().fold(f64::NAN, f64::min),
        ssim_at_least_0_95: ssims.iter().filter(|ssim| **ssim >= 0.95).count(),
        time_to_video: times.percentiles(),
        two_mib: two_mib.percentiles(),
        two_mib_p95_ms,
        two_mib_bytes,
        per_gif,
    })
}

/// The corpus' GIFs (sorted by name), or in a smoke run the end-to-end tests' clip.
fn corpus_files(options: &crate::Options) -> anyhow::Result<(String, Vec<PathBuf>)> {
    let dir = match &options.gif_corpus {
        Some(dir) => dir.clone(),
        None if options.smoke => {
            return Ok(("end2end/tests/clip.gif".into(), vec![PathBuf::from("end2end/tests/clip.gif")]));
        }
        None => PathBuf::from(CORPUS),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| {
            format!("reading the GIF corpus {} (scripts/gif-corpus/fetch.sh DIR fills it)", dir.display())
        })?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "gif"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no GIFs in {}", dir.display());
    }
    Ok((dir.display().to_string(), files))
}

fn size_of(file: &Path) -> u64 {
    std::fs::metadata(file).map(|metadata| metadata.len()).unwrap_or(0)
}

/// What became of an upload: its GIF's URL, its video's if it got one, and how long after the upload's answer
/// that was known.
struct Uploaded {
    gif_url: String,
    video_url: Option<String>,
    waited: Option<Duration>,
}

/// The server's count of GIFs whose video was looked at and not made.
async fn videos_not_made(server: &ServerProcess) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for outcome in ["larger", "transparent", "failed", "unavailable"] {
        total += server.metric(&format!("gif_chat_gif_videos_total{{outcome=\"{outcome}\"}}")).await?;
    }
    Ok(total)
}

/// Uploads `gif` and waits until its video is announced on `live`, or the server counts it as not made.
async fn upload_and_wait(
    server: &ServerProcess,
    visitor: &Visitor,
    live: &mut crate::client::Live,
    room: i64,
    gif: Vec<u8>,
) -> anyhow::Result<Uploaded> {
    let not_made = videos_not_made(server).await?;
    let message = visitor.upload(room, gif).await?;
    let answered = Instant::now();
    let seq = message["seq"].as_i64().context("no seq")?;
    let gif_url = message["body"].as_str().context("no body")?.to_owned();
    let deadline = answered + Duration::from_secs(60);
    loop {
        if Instant::now() > deadline {
            bail!("no video and no verdict on {gif_url} within a minute");
        }
        match tokio::time::timeout(Duration::from_millis(50), live.next()).await {
            Ok(Some(frame)) => {
                if let Message::Text(text) = frame? {
                    let event: Value = serde_json::from_str(&text)?;
                    let switched = &event["message"];
                    if event["type"] == "changed"
                        && switched["seq"].as_i64() == Some(seq)
                        && let Some(video) = switched["video"].as_str()
                    {
                        let waited = Some(answered.elapsed());
                        return Ok(Uploaded { gif_url, video_url: Some(video.to_owned()), waited });
                    }
                }
            }
            Ok(None) => bail!("the live connection closed"),
            Err(_) => {
                if videos_not_made(server).await? > not_made {
                    return Ok(Uploaded { gif_url, video_url: None, waited: Some(answered.elapsed()) });
                }
            }
        }
    }
}

async fn fetch(http: &reqwest::Client, addr: std::net::SocketAddr, path: &str) -> anyhow::Result<Vec<u8>> {
    let response = http.get(format!("http://{addr}{path}")).send().await?.error_for_status()?;
    Ok(response.bytes().await?.to_vec())
}

/// The SSIM of `video` against `gif` over all their frames (paired by time), as ffmpeg computes it: the GIF
/// cropped to even sides and in the video's pixel format, as the server's encoder did.
fn ssim(video: &Path, gif: &Path) -> anyhow::Result<f64> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(video)
        .args(["-f", "gif", "-i"])
        .arg(gif)
        .args([
            "-lavfi",
            "[0:v]format=yuv420p[a];[1:v]crop=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p[b];[a][b]ssim",
            "-f",
            "null",
            "-",
        ])
        .output()
        .context("running ffmpeg (scripts/setup.sh installs it)")?;
    let printed = String::from_utf8_lossy(&output.stderr);
    let all = printed.rsplit("All:").next().filter(|_| printed.contains("All:")).context("no SSIM from ffmpeg")?;
    Ok(all.split_whitespace().next().unwrap_or_default().parse()?)
}

/// `gif` with one pixel of its first frame changed (by `n`): another GIF, as large, as slow to turn into a video.
fn another_of(gif: &[u8], n: usize) -> anyhow::Result<Vec<u8>> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(gif)?;
    let (width, height) = (decoder.width(), decoder.height());
    let palette = decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default();
    let mut bytes = Vec::with_capacity(gif.len());
    let mut encoder = gif::Encoder::new(&mut bytes, width, height, &palette)?;
    encoder.set_repeat(gif::Repeat::Infinite)?;
    let colors = (palette.len() / 3).max(1);
    let mut first = true;
    while let Some(frame) = decoder.read_next_frame()? {
        let mut frame = frame.clone();
        if first && !frame.buffer.is_empty() {
            // Another color of the palette, never the transparent one.
            let colors = frame.palette.as_ref().map_or(colors, |local| local.len() / 3).max(2);
            let (transparent, pixel) = (frame.transparent, &mut frame.buffer.to_mut()[0]);
            let mut changed = (usize::from(*pixel) + n) % colors;
            if Some(changed as u8) == transparent || changed as u8 == *pixel {
                changed = (changed + 1) % colors;
            }
            *pixel = changed as u8;
            first = false;
        }
        encoder.write_frame(&frame)?;
    }
    drop(encoder);
    Ok(bytes)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

fn percentile(latencies: &Latencies, q: f64) -> f64 {
    let mut sorted = latencies.0.clone();
    sorted.sort_unstable();
    sorted.get(((sorted.len().max(1) - 1) as f64 * q).round() as usize).map_or(f64::NAN, |us| *us as f64 / 1000.0)
}

/// What the library scenario found.
#[derive(Debug, Serialize)]
pub struct LibrarySearch {
    pub entries: usize,
    pub searches: usize,
    pub latency: Percentiles,
    pub p95_ms: f64,
    /// The mean number of GIFs a search found (at most a shelf's 60).
    pub mean_found: f64,
}

/// Syllables the library's words are made of: 20 × 20 × 5 two-to-three-syllable words.
const SYLLABLES: [&str; 20] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "do", "fu", "ga", "hi", "ju", "ko", "la", "mo", "ni", "pa",
    "ri",
];

fn word(seed: u64) -> String {
    let syllable = |n: u64| SYLLABLES[(n % 20) as usize];
    let mut word = format!("{}{}", syllable(seed), syllable(seed / 20));
    if !seed.is_multiple_of(5) {
        word.push_str(syllable(seed / 400));
    }
    word
}

/// A small, fast, deterministic random sequence (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub async fn library(options: &crate::Options) -> anyhow::Result<LibrarySearch> {
    let (entries, searches) = if options.smoke { (2_000, 30) } else { (100_000, 500) };
    let server = ServerProcess::gif_chat(options).await?;
    fill_library(&server.database_url, entries).await?;
    let http = reqwest::Client::new();
    let visitor = Visitor::arrive(&http, server.addr).await?;
    let room = visitor.create_room("library", 10).await?.to_string();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let (mut latencies, mut found) = (Latencies::default(), 0usize);
    for _ in 0..searches {
        // The start of one word (two to four letters), or of two.
        let prefix = |dice: &mut Dice| {
            let whole = word(dice.roll() % 2000);
            whole.chars().take(2 + (dice.roll() % 3) as usize).collect::<String>()
        };
        let search = match dice.roll() % 3 {
            0 => format!("{} {}", prefix(&mut dice), prefix(&mut dice)),
            _ => prefix(&mut dice),
        };
        let asked = Instant::now();
        let offered =
            visitor.call("offered_gifs", &[("room", &room), ("shelf", "library"), ("search", &search)]).await?;
        latencies.0.push(asked.elapsed().as_micros() as u64);
        found += offered.as_array().map_or(0, Vec::len);
    }
    let p95_ms = percentile(&latencies, 0.95);
    Ok(LibrarySearch {
        entries,
        searches,
        latency: latencies.percentiles(),
        p95_ms,
        mean_found: found as f64 / searches as f64,
    })
}

/// Puts `entries` GIFs in the library of the database at `url` (rows only: the searches never fetch the files),
/// each with three words, in transactions of a thousand.
async fn fill_library(url: &str, entries: usize) -> anyhow::Result<()> {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let rows: Vec<(String, String)> = (0..entries)
        .map(|n| {
            let words = (0..3).map(|_| word(dice.roll() % 2000)).collect::<Vec<_>>().join(" ");
            (format!("{n:032x}.gif"), words)
        })
        .collect();
    macro_rules! fill {
        ($pool:expr) => {{
            let pool = $pool;
            for chunk in rows.chunks(1000) {
                let mut tx = pool.begin().await?;
                for (n, (name, words)) in chunk.iter().enumerate() {
                    sqlx::query("INSERT INTO stored_gifs (name, bytes, claimed_at) VALUES ($1, 1, 0)")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO gif_library (name, words, added_by, added_at) VALUES ($1, $2, 'load', $3)",
                    )
                    .bind(name)
                    .bind(words)
                    .bind(n as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
        }};
    }
    if url.starts_with("sqlite:") {
        fill!(sqlx::SqlitePool::connect(url).await.context("opening the server's SQLite database")?);
    } else {
        let pool = sqlx::PgPool::connect(url).await.context("opening the server's PostgreSQL database")?;
        fill!(&pool);
        // What autovacuum does soon after a table grows by a tenth: the planner learns how many rows match a word
        // (without it, right after a bulk fill, it guesses and scans).
        sqlx::query("ANALYZE gif_library, stored_gifs").execute(&pool).await?;
    }
    Ok(())
}
