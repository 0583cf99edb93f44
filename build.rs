//! Records the git commit the server is built from, for `gif-chat --version`, `/healthz` and the metrics.
//! `GIF_CHAT_COMMIT` overrides it (a build from a source tarball has no git history); without either it is
//! "unknown". Uncommitted changes are not shown.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIF_CHAT_COMMIT");
    let commit = std::env::var("GIF_CHAT_COMMIT").ok().filter(|commit| !commit.is_empty()).or_else(git_commit);
    println!("cargo:rustc-env=GIF_CHAT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}

/// The checked-out commit, and the files whose change means another one is checked out (watched by cargo).
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    // Each file where git keeps it: inside a worktree, HEAD is the worktree's own while the branches and
    // packed-refs are the main repository's (asking git for each path finds both).
    let path_of = |name: &str| git(&["rev-parse", "--path-format=absolute", "--git-path", name]).map(PathBuf::from);
    let head = path_of("HEAD")?;
    let mut watched = vec![head.clone()];
    watched.extend(path_of("packed-refs"));
    if let Some(reference) =
        std::fs::read_to_string(&head).ok().and_then(|h| h.strip_prefix("ref: ").map(str::to_owned))
    {
        watched.extend(path_of(reference.trim()));
    }
    // Only files that exist: cargo runs a build script on every build if one it watches is missing.
    for path in watched.iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}
