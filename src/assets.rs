//! The compiled client (`pkg/`: JS, WASM, CSS) as a browser on a slow network wants it: compressed, and cached
//! for good under names that change with the content.
//!
//! cargo-leptos builds the site with `hash-files` (Cargo.toml): every file in `pkg/` carries its content's hash in
//! its name, and `hash.txt` in the site root says which; the page names those files. With `--precompress`
//! (release builds: `make run`), each file also has a brotli `.br` and a gzip `.gz` beside it, which are sent to
//! browsers that accept them; a site built without it is compressed as it is sent (these files are the same for
//! everyone and hold no secret, so compressing them is safe, unlike pages: see `src/lib.rs`).

use std::path::{Path, PathBuf};

use axum::Router;
use http::{HeaderValue, Response, header};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// How long a browser may keep a file whose name carries its hash: a year, never asking again (`immutable`). A
/// new build has new names, so a page never gets a stale file.
const HASHED: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// A file without a hash in its name (a site built without `hash-files`) may change under the same name: the
/// browser keeps it but asks each time whether it changed (a 304 costs a round trip, not the file).
const UNHASHED: HeaderValue = HeaderValue::from_static("no-cache");

/// The hash file of the site in `site_root`, if it was built with `hash-files`.
pub fn hash_file(site_root: &Path) -> Option<PathBuf> {
    let path = site_root.join("hash.txt");
    path.is_file().then(|| std::path::absolute(&path).unwrap_or(path))
}

/// Serves the site's `pkg/` directory: precompressed variants when the browser accepts them (brotli first, else
/// compressed on the fly), `Vary: Accept-Encoding` so that shared caches keep one per encoding, and caching by
/// whether names are hashed.
/// Only successful answers may be cached for long: an old page asking for a file a new build removed gets a
/// 404 it will not keep.
pub fn pkg_service<S: Clone + Send + Sync + 'static>(pkg_dir: PathBuf, hashed: bool) -> Router<S> {
    let cache_control = if hashed { HASHED } else { UNHASHED };
    Router::new()
        .fallback_service(ServeDir::new(pkg_dir).precompressed_br().precompressed_gzip())
        // Only where no precompressed file was found (the answer then has no Content-Encoding yet).
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        // (The compression layer names it when it compresses; a precompressed answer needs it too.)
        .layer(SetResponseHeaderLayer::if_not_present(header::VARY, HeaderValue::from_static("accept-encoding")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            move |response: &Response<axum::body::Body>| {
                (response.status().is_success() || response.status() == http::StatusCode::NOT_MODIFIED)
                    .then(|| cache_control.clone())
            },
        ))
}
