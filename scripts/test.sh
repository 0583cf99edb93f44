#!/usr/bin/env bash
# Runs every test of gif-chat. Called by `make test` (which installs the tools first) and by CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# cargo-leptos compiles debug builds with these settings; using the same ones for cargo's own commands lets them
# reuse its artifacts instead of rebuilding every dependency. (Only per command: cargo-leptos appends its flag to
# an inherited RUSTFLAGS, which would make its next build start from scratch.)
CARGO_FLAGS="--cfg erase_components"

step "formatting (cargo fmt --check)"
cargo fmt --all --check

step "build the site (debug): server binary, WASM bundle, CSS"
cargo leptos build

step "lints: clippy on the server side (ssr) and the browser side (hydrate, wasm32), warnings are errors"
LEPTOS_OUTPUT_NAME=gif-chat RUSTFLAGS="$CARGO_FLAGS" cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
RUSTFLAGS="$CARGO_FLAGS" cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

step "a throwaway PostgreSQL server (Debian's package, a cluster in a temp dir): every suite runs on it too"
PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-postgres.XXXXXX")
trap 'scripts/postgres.sh stop "$PG_DIR"' EXIT
POSTGRES_URL=$(scripts/postgres.sh start "$PG_DIR")
echo "$POSTGRES_URL"

step "Rust unit and integration tests on SQLite"
LEPTOS_OUTPUT_NAME=gif-chat RUSTFLAGS="$CARGO_FLAGS" cargo test --workspace --exclude frontend

step "Rust unit and integration tests on PostgreSQL (each test on a new database of that server)"
GIF_CHAT_TEST_POSTGRES="$POSTGRES_URL" LEPTOS_OUTPUT_NAME=gif-chat RUSTFLAGS="$CARGO_FLAGS" \
  cargo test --workspace --exclude frontend

step "load tool smoke run on both stores (tiny numbers, a few seconds: keeps the tool from rotting)"
RUSTFLAGS="$CARGO_FLAGS" cargo run --quiet -p load -- \
  --smoke --server target/debug/gif-chat --json target/load/smoke.json
RUSTFLAGS="$CARGO_FLAGS" cargo run --quiet -p load -- \
  --smoke --server target/debug/gif-chat --json target/load/smoke-postgres.json --database-url "$POSTGRES_URL"

step "the release artifact (scripts/dist.sh, packing the debug build) unpacked elsewhere and run from there"
scripts/check-dist.sh

step "a local cluster (scripts/cluster.sh: PostgreSQL, NATS, two instances, nginx): its balancer, Playwright through it, a crash"
scripts/check-cluster.sh target/debug/gif-chat

# A fresh database and uploads directory for every run, so tests never see an earlier run's rooms.
E2E_DIR="$ROOT/target/e2e"
rm -rf "$E2E_DIR"
# Short grace periods so that "everyone left, the room goes" happens within a test's patience. The leave grace
# stays longer than a reload of a debug build takes (page, WASM, hydration, websocket): a reload is not a leave.
# Sends refill slowly (one per 30 s after a burst of 20), so that the rate-limit test's spent burst stays spent
# while the page sends; every browser shares 127.0.0.1, so the per-address rate is generous.
export ROOM_GRACE_SECS=2 LEAVE_GRACE_SECS=2 LIMIT_SENDS="20/10m,1000/10s,10000/1s"

# Runs the Playwright suite against a server that `cargo leptos end-to-end` starts (with the environment given).
# A test that fails is tried once more; one that then passes is "flaky", and is named at the very end of the run.
# If a test fails twice, what failed (and what was flaky before it) is repeated as the last lines, below
# cargo-leptos's own report (without its error's backtrace, which would only say where cargo-leptos noticed; the
# server's panics keep theirs).
REPORTS=()
name_the_failures() {
  for report in "${REPORTS[@]}"; do
    node end2end/failures.mjs "$report" || true
  done
}
end_to_end() {
  local report="$E2E_DIR/report-$1.json"
  shift
  REPORTS+=("$report")
  if ! env "$@" PLAYWRIGHT_REPORT="$report" PLAYWRIGHT_RETRIES=1 RUST_LIB_BACKTRACE=0 cargo leptos end-to-end; then
    step "Playwright: what did not pass"
    name_the_failures
    exit 1
  fi
}

step "Playwright end-to-end tests in Chromium, on SQLite"
end_to_end sqlite DATA_DIR="$E2E_DIR/sqlite" UPLOADS_DIR="$E2E_DIR/sqlite-uploads"

step "Playwright end-to-end tests in Chromium, on PostgreSQL"
end_to_end postgres DATABASE_URL="$POSTGRES_URL" DATA_DIR="$E2E_DIR/postgres" UPLOADS_DIR="$E2E_DIR/postgres-uploads"

step "all tests passed"
name_the_failures
