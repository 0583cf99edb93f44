//! Scratch databases for tests (this crate's, and with the `testing` feature, the server's integration tests):
//! a SQLite file in a temporary directory, or a new database on the PostgreSQL server the test command started.

use sqlx::Connection;

use crate::store::Db;

/// The environment variable naming a PostgreSQL server for the tests (`postgres://user@host:port/postgres`).
/// With it, every test runs on a fresh database of its own on that server instead of a SQLite file;
/// `scripts/test.sh` runs the suites once without it and once with it, on a server it starts.
pub const TEST_POSTGRES_ENV: &str = "GIF_CHAT_TEST_POSTGRES";

/// Creates a new, empty database on the PostgreSQL server that `server_url` connects to, and returns the URL
/// of the new database (the same, with another database name).
pub async fn create_scratch_database(server_url: &str) -> sqlx::Result<String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CREATED: AtomicU64 = AtomicU64::new(0);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros();
    let name = format!("scratch_{}_{stamp}_{}", std::process::id(), CREATED.fetch_add(1, Ordering::Relaxed));
    let mut server = sqlx::PgConnection::connect(server_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut server).await?;
    server.close().await?;
    // postgres://user@host:port/old_name?options → postgres://user@host:port/new_name?options
    let (address, options) =
        server_url.split_once('?').map_or((server_url, String::new()), |(a, o)| (a, format!("?{o}")));
    let (scheme, rest) = address.split_once("://").unwrap_or(("postgres", address));
    let authority = rest.split('/').next().unwrap_or_default();
    Ok(format!("{scheme}://{authority}/{name}{options}"))
}

/// A fresh, migrated database for one test: a SQLite file in a new temporary directory, or, when
/// [`TEST_POSTGRES_ENV`] names a server, a new database on it. Keep the directory until the test ends.
pub async fn test_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let url = match std::env::var(TEST_POSTGRES_ENV) {
        Ok(server) => create_scratch_database(&server).await.expect("creating a scratch database"),
        Err(_) => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    let db = Db::open(&url, 8).await.expect("opening the test database");
    db.migrate().await.expect("migrating the test database");
    (dir, db)
}

/// An animated GIF like a short clip (smooth colors moving, a little grain, full frames, no transparency): the kind
/// whose video is much smaller than it. Deterministic: the same arguments make the same bytes.
pub fn moving_gif(width: u16, height: u16, frames: usize) -> Vec<u8> {
    let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2 + 64]).collect();
    let mut bytes = Vec::new();
    let mut encoder = gif::Encoder::new(&mut bytes, width, height, &palette).expect("writing to memory");
    encoder.set_repeat(gif::Repeat::Infinite).expect("writing to memory");
    let mut grain: u32 = 1;
    for frame in 0..frames {
        let t = frame as f32;
        let mut buffer = Vec::with_capacity(usize::from(width) * usize::from(height));
        for y in 0..height {
            for x in 0..width {
                let (x, y) = (f32::from(x), f32::from(y));
                grain = grain.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let noise = ((grain >> 16) % 3) as f32 - 1.0;
                let wave = 128.0 + 60.0 * (x / 9.0 + t / 3.0).sin() + 60.0 * (y / 7.0 - t / 5.0).sin() + noise;
                buffer.push(wave.clamp(0.0, 255.0) as u8);
            }
        }
        let frame = gif::Frame { width, height, delay: 8, buffer: buffer.into(), ..gif::Frame::default() };
        encoder.write_frame(&frame).expect("writing to memory");
    }
    drop(encoder);
    bytes
}

/// What `ffprobe` says of a video file: its first video stream's codec, pixel format, size and frames counted
/// (by decoding them), and the file's duration in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub codec: String,
    pub pixel_format: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub seconds: f64,
}

/// Probes the video at `path` with Debian's `ffprobe` (installed with ffmpeg by `scripts/setup.sh`).
pub fn probe(path: &std::path::Path) -> Probe {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-of", "json"])
        .args(["-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames:format=duration"])
        .arg(path)
        .output()
        .expect("running ffprobe (scripts/setup.sh installs it)");
    assert!(output.status.success(), "ffprobe: {}", String::from_utf8_lossy(&output.stderr));
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("ffprobe's JSON");
    let stream = &found["streams"][0];
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
    Probe {
        codec: text(&stream["codec_name"]),
        pixel_format: text(&stream["pix_fmt"]),
        width: stream["width"].as_u64().unwrap_or_default() as u32,
        height: stream["height"].as_u64().unwrap_or_default() as u32,
        frames: text(&stream["nb_read_frames"]).parse().unwrap_or_default(),
        seconds: text(&found["format"]["duration"]).parse().unwrap_or_default(),
    }
}
