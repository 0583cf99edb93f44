#!/usr/bin/env bash
# Runs every test of gif-chat. Called by `make test` (which installs the tools first) and by CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build the site (debug): server binary, WASM bundle, CSS"
cargo leptos build

step "Rust unit and integration tests"
# cargo-leptos compiles debug builds with these settings; using the same ones here lets `cargo test` reuse its
# artifacts instead of rebuilding every dependency. (Only for this command: cargo-leptos appends its flag to an
# inherited RUSTFLAGS, which would make the next build start from scratch.)
LEPTOS_OUTPUT_NAME=gif-chat RUSTFLAGS="--cfg erase_components" cargo test --workspace --exclude frontend

step "load tool smoke run (tiny numbers, a few seconds: keeps the tool from rotting)"
LEPTOS_OUTPUT_NAME=gif-chat RUSTFLAGS="--cfg erase_components" cargo run --quiet --features load --bin load -- \
  --smoke --server target/debug/gif-chat --json target/load/smoke.json

step "Playwright end-to-end tests in Chromium"
# A fresh database and uploads directory for every run, so tests never see an earlier run's rooms.
E2E_DIR="$ROOT/target/e2e"
rm -rf "$E2E_DIR"
# Short grace periods so that "everyone left, the room goes" happens within a test's patience.
DATA_DIR="$E2E_DIR/data" UPLOADS_DIR="$E2E_DIR/uploads" ROOM_GRACE_SECS=2 LEAVE_GRACE_SECS=0.5 \
  cargo leptos end-to-end

step "all tests passed"
