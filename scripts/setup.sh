#!/usr/bin/env bash
# Installs everything gif-chat needs to build, run and test, on a fresh Debian machine of the kind described in
# README.md. Idempotent: every step checks the installed version first, so a second run takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_LEPTOS_VERSION=0.3.11
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock, or the generated JS does not match the wasm.
WASM_BINDGEN_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p')
CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. The wasm target: rust-toolchain.toml does not install it here (RUSTUP_AUTO_INSTALL=0).
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# 2. Debian's Chromium for Playwright (Playwright's own browser download cannot work on these machines).
if ! command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null; then
  log "installing Debian's chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# 2b. nginx (the reverse-proxy test puts a real one in front of the app), and the openssl and curl programs that
#     test uses for its self-signed certificate and its HTTPS requests.
if ! command -v /usr/sbin/nginx >/dev/null || ! command -v openssl >/dev/null || ! command -v curl >/dev/null; then
  log "installing nginx, openssl and curl"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl curl >/dev/null
  # The package may start a system-wide nginx; the test starts its own.
  as_root pkill -x nginx 2>/dev/null || true
fi

# 2c. PostgreSQL: the test command starts a throwaway server of its own (scripts/postgres.sh) and runs every suite
#     on it as well as on SQLite.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The package may start a system-wide server; the tests start their own.
  as_root service postgresql stop >/dev/null 2>&1 || true
fi

# 2d. NATS, the broker between gif-chat processes: the cluster tests start servers of their own.
if ! command -v /usr/sbin/nats-server >/dev/null && ! command -v nats-server >/dev/null; then
  log "installing the NATS server"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  as_root service nats-server stop >/dev/null 2>&1 || true
fi

# 2d'. ffmpeg: the server turns each stored GIF into a looping video with it (a child process), and the tests
#      probe what it made.
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  log "installing ffmpeg"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

# 2e. moto's S3 server (PyPI), a second S3 implementation for the object storage test (the first, s3s-fs, is a
#     Rust crate built with the tests), in a Python environment of its own under target/.
MOTO_VERSION=5.2.6
if ! "$ROOT/target/moto/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  log "installing moto $MOTO_VERSION (an S3 server for the tests)"
  python3 -m venv "$ROOT/target/moto"
  "$ROOT/target/moto/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# 3. npm packages of the end-to-end suite (Playwright, and binaryen's wasm-opt for release builds).
if [ ! -f "$ROOT/end2end/node_modules/.package-lock.json" ] \
   || ! cmp -s "$ROOT/end2end/package-lock.json" "$ROOT/end2end/node_modules/.setup-lock"; then
  log "installing end2end npm packages"
  (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  cp "$ROOT/end2end/package-lock.json" "$ROOT/end2end/node_modules/.setup-lock"
fi

# 4. wasm-bindgen-cli, built from the registry at the version of the crate in Cargo.lock.
if ! "$CARGO_BIN/wasm-bindgen" --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "building wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 6 minutes on 2 cores)"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# 5. cargo-leptos. Its own lockfile pins cargo-util-schemas 0.14.2, which needs a newer rustc than this machine's,
#    so build it from the published crate with that one dependency stepped back. A debug build is plenty for a
#    build driver and takes a fraction of the release build's time.
if ! "$CARGO_BIN/cargo-leptos" --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION\$"; then
  log "building cargo-leptos $CARGO_LEPTOS_VERSION (10-20 minutes on 2 cores)"
  src=$(mktemp -d)
  # Fetch the published crate through cargo itself (a throwaway manifest that depends on it), so the registry is
  # whatever cargo is configured to use and no host is named here.
  mkdir -p "$src/fetch/src"
  touch "$src/fetch/src/lib.rs"
  printf '[package]\nname = "fetch-cargo-leptos"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[dependencies]\ncargo-leptos = "=%s"\n' \
    "$CARGO_LEPTOS_VERSION" > "$src/fetch/Cargo.toml"
  (cd "$src/fetch" && cargo fetch --quiet)
  registry_src=$(cd "$src/fetch" && cargo metadata --format-version 1 --quiet \
    | python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="cargo-leptos"))')
  cp -r "$(dirname "$registry_src")" "$src/cargo-leptos-$CARGO_LEPTOS_VERSION"
  (
    cd "$src/cargo-leptos-$CARGO_LEPTOS_VERSION"
    rm -f rust-toolchain.toml
    cargo update -p cargo-util-schemas --precise 0.14.1
    cargo install --path . --locked --debug --features no_downloads --force
  )
  rm -rf "$src"
fi

log "tools ready"
