#!/usr/bin/env bash
# Runs gif-chat's tests, all of them (`make test`, and CI) or one step at a time (the other make targets):
#
#   scripts/test.sh            everything, in this order; a test that needs a server that is missing fails
#   scripts/test.sh check      formatting, then clippy on the server side and the browser side
#   scripts/test.sh rust       Rust unit and integration tests on SQLite (tests needing NATS, nginx or
#                              PostgreSQL servers that are not installed are skipped, saying so)
#   scripts/test.sh pg         the same on a throwaway PostgreSQL server this script starts
#   scripts/test.sh load-smoke the load tool's smoke run (SQLite; with `pg` before it in one run, PostgreSQL too)
#   scripts/test.sh dist       the release artifact, unpacked elsewhere and run from there
#   scripts/test.sh cluster    a local cluster (PostgreSQL, NATS, two instances, nginx) and Playwright through it
#   scripts/test.sh e2e        the Playwright suite in Chromium on SQLite (`e2e-pg`: on PostgreSQL)
#
# Several steps may be named at once (`scripts/test.sh rust e2e`). Tools come from scripts/setup.sh (`make` runs
# it first). The flags every cargo command shares are in .cargo/config.toml.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The site (server binary, WASM bundle, CSS), built once per run by the steps that need it.
BUILT=""
build_site() {
  if [ -z "$BUILT" ]; then
    step "build the site (debug): server binary, WASM bundle, CSS"
    cargo leptos build
    BUILT=1
  fi
}

# A throwaway PostgreSQL server (Debian's package, a cluster in a temp dir), started once per run by the first
# step that needs it and stopped when the script ends.
POSTGRES_URL=""
PG_DIR=""
postgres() {
  if [ -z "$POSTGRES_URL" ]; then
    step "a throwaway PostgreSQL server"
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-postgres.XXXXXX")
    trap 'scripts/postgres.sh stop "$PG_DIR"' EXIT
    POSTGRES_URL=$(scripts/postgres.sh start "$PG_DIR")
    echo "$POSTGRES_URL"
  fi
}

check() {
  step "formatting (cargo fmt --check)"
  cargo fmt --all --check
  step "lints: clippy on the server side (ssr) and the browser side (hydrate, wasm32), warnings are errors"
  cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
  cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
}

# Every crate's tests, then the memory tests on their own: they churn 10,000 rooms, which would slow every test
# that runs beside them, and they measure memory (each in a process of its own either way: tests/it/memory.rs).
rust_tests() {
  cargo test --workspace --exclude frontend -- --skip memory::
  cargo test -p gif-chat --test it -- memory::
}

# The tests of GIFs (storing, serving, removing, quotas, backups, a GIF across instances), run again with the GIFs
# in a bucket of a real S3 server (s3s-fs, in the tests' process) instead of the uploads directory.
UPLOAD_SUITE=(gif upload still backup restore quota storage disk probes_answer a_room_and_its_messages_cross_instances)

rust() {
  build_site # the integration tests serve its client files
  step "Rust unit and integration tests on SQLite"
  rust_tests
  step "the upload suite again, with GIFs in object storage (GIF_CHAT_TEST_UPLOADS=s3)"
  GIF_CHAT_TEST_UPLOADS=s3 cargo test -p gif-chat --test it -- "${UPLOAD_SUITE[@]}"
}

pg() {
  build_site
  postgres
  step "Rust unit and integration tests on PostgreSQL (each test on a new database of that server)"
  GIF_CHAT_TEST_POSTGRES="$POSTGRES_URL" rust_tests
}

load_smoke() {
  build_site
  step "load tool smoke run (tiny numbers, a few seconds: keeps the tool from rotting)"
  cargo run --quiet -p load -- --smoke --server target/debug/gif-chat --json target/load/smoke.json
  if [ -n "$POSTGRES_URL" ]; then
    cargo run --quiet -p load -- \
      --smoke --server target/debug/gif-chat --json target/load/smoke-postgres.json --database-url "$POSTGRES_URL"
  fi
}

dist() {
  build_site
  step "the release artifact (scripts/dist.sh, packing the debug build) unpacked elsewhere and run from there"
  scripts/check-dist.sh
}

cluster() {
  build_site
  step "a local cluster (scripts/cluster.sh: PostgreSQL, NATS, an S3 server, two instances, nginx): its balancer, Playwright through it, a crash"
  cargo build --quiet -p s3-server
  scripts/check-cluster.sh target/debug/gif-chat
}

# A fresh database and uploads directory for every run, so tests never see an earlier run's rooms.
E2E_DIR="$ROOT/target/e2e"
# Short grace periods so that "everyone left, the room goes" happens within a test's patience. The leave grace
# stays longer than a reload of a debug build takes (page, WASM, hydration, websocket): a reload is not a leave.
# Sends refill slowly (one per 30 s after a burst of 20), so that the rate-limit test's spent burst stays spent
# while the page sends; every browser shares 127.0.0.1, so the per-address rate is generous.
# Rooms: the suite makes some 50 in a few minutes from the one address (each person may still make 5).
# Edits: a 10 s window, so that the refusal after it shows within a test.
E2E_ENV=(ROOM_GRACE_SECS=2 LEAVE_GRACE_SECS=2 EDIT_WINDOW_SECS=10 "LIMIT_SENDS=20/10m,1000/10s,10000/1s"
  "LIMIT_ROOMS=5/10m,300/10m,60/1m")

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
  local store=$1
  shift
  local report="$E2E_DIR/report-$store.json"
  rm -rf "$E2E_DIR/$store" "$E2E_DIR/$store-uploads"
  mkdir -p "$E2E_DIR"
  REPORTS+=("$report")
  step "Playwright end-to-end tests in Chromium, on $store"
  if ! env "${E2E_ENV[@]}" "$@" DATA_DIR="$E2E_DIR/$store" UPLOADS_DIR="$E2E_DIR/$store-uploads" \
    PLAYWRIGHT_REPORT="$report" PLAYWRIGHT_RETRIES=1 RUST_LIB_BACKTRACE=0 cargo leptos end-to-end; then
    step "Playwright: what did not pass"
    name_the_failures
    exit 1
  fi
}
e2e() {
  end_to_end sqlite
}
e2e_pg() {
  postgres
  end_to_end postgres DATABASE_URL="$POSTGRES_URL"
}

if [ $# -eq 0 ]; then
  # Everything: a test whose server is missing fails here instead of being skipped.
  export GIF_CHAT_REQUIRE_ALL=1
  set -- check rust pg load-smoke dist cluster e2e e2e-pg
fi
for name in "$@"; do
  case "$name" in
    check | rust | pg | dist | cluster | e2e) "$name" ;;
    load-smoke) load_smoke ;;
    e2e-pg) e2e_pg ;;
    *) echo "scripts/test.sh: no step named '$name'" >&2; exit 2 ;;
  esac
done
step "all tests passed: $*"
name_the_failures
