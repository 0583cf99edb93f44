#!/usr/bin/env bash
# The first-load benchmark (docs/performance.md, "The first-load benchmark"): builds the release site as
# `make run` does, starts it on a free port with a throwaway database, and runs end2end/bench/first-load.mjs
# against it (Chromium on emulated slow-4G and 20 Mbit/s networks, cold and warm cache). Prints figures; asserts
# nothing.
#
#   scripts/first-load.sh [--runs N] [--json FILE]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

cargo leptos build --release --precompress
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-first-load.XXXXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/gif-chat --addr "127.0.0.1:$PORT" --data-dir "$DIR/data" --uploads-dir "$DIR/uploads" \
  --site-root target/site --room-grace-secs 3600 >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DIR"' EXIT
for attempt in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && break
  if [ "$attempt" = 100 ]; then
    echo "the server did not come up; its log:" >&2
    cat "$DIR/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
# A room list with something on it, as people would find it (empty rooms stay for the hour of the run).
JAR="$DIR/cookies"
curl -fsS -o /dev/null -c "$JAR" "http://127.0.0.1:$PORT/"
for title in "Friday GIFs" "Cats of the world" "Rust help" "Book club"; do
  curl -fsS -o /dev/null -b "$JAR" -c "$JAR" -H "Origin: http://127.0.0.1:$PORT" \
    --data-urlencode "title=$title" --data "max_members=20" "http://127.0.0.1:$PORT/api/create_room"
done
cd end2end
node bench/first-load.mjs "http://127.0.0.1:$PORT/" "$@"
