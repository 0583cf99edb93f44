#!/usr/bin/env bash
# Runs every test of gif-chat. Called by `make test` (which installs the tools first) and by CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build the site (debug): server binary, WASM bundle, CSS"
cargo leptos build

# cargo-leptos compiles debug builds with these settings; using the same ones here lets `cargo test` reuse its
# artifacts instead of rebuilding every dependency.
export LEPTOS_OUTPUT_NAME=gif-chat
export RUSTFLAGS="--cfg erase_components"

step "Rust unit and integration tests"
cargo test --workspace --exclude frontend

step "Playwright end-to-end tests in Chromium"
# A fresh database and uploads directory for every run, so tests never see an earlier run's rooms.
E2E_DIR="$ROOT/target/e2e"
rm -rf "$E2E_DIR"
DATA_DIR="$E2E_DIR/data" UPLOADS_DIR="$E2E_DIR/uploads" cargo leptos end-to-end

step "all tests passed"
