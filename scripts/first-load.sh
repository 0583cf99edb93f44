#!/usr/bin/env bash
# The first-load benchmark (docs/performance.md, "The first-load benchmark"): builds the release site as
# `make run` does, starts it on a free port with a throwaway database, and runs end2end/bench/first-load.mjs
# against it (Chromium on emulated slow-4G and 20 Mbit/s networks, cold and warm cache). Prints figures; asserts
# nothing. With `--gifs DIR` (a corpus of real GIFs: scripts/gif-corpus/fetch.sh DIR), it measures a room of ten of
# them instead (end2end/bench/gif-room.mjs): shown as GIFs (a second server, --no-gif-videos) against shown as
# their videos.
#
#   scripts/first-load.sh [--runs N] [--json FILE]
#   scripts/first-load.sh --gifs DIR [--runs N] [--json FILE]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

GIFS=""
if [ "${1:-}" = "--gifs" ]; then
  GIFS=$(cd "$2" && pwd)
  shift 2
fi
cargo leptos build --release --precompress
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-first-load.XXXXXX")
SERVERS=()
trap 'kill "${SERVERS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT
# Starts a server on a free port with its own directories (and the flags given); sets PORT.
start_server() {
  local name=$1
  shift
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  target/release/gif-chat --addr "127.0.0.1:$PORT" --data-dir "$DIR/$name/data" --uploads-dir "$DIR/$name/uploads" \
    --site-root target/site --room-grace-secs 3600 --no-rate-limits "$@" >"$DIR/$name.log" 2>&1 &
  SERVERS+=($!)
  for attempt in $(seq 1 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && return
    sleep 0.1
  done
  echo "the server did not come up; its log:" >&2
  cat "$DIR/$name.log" >&2
  exit 1
}
if [ -n "$GIFS" ]; then
  # Ten GIFs of a chat's usual sizes (100 KB to 2 MiB), the first by name.
  mapfile -t TEN < <(find "$GIFS" -maxdepth 1 -name '*.gif' -size +100k -size -2049k | sort | head -10)
  if [ "${#TEN[@]}" -lt 10 ]; then
    echo "only ${#TEN[@]} GIFs of 100 KB to 2 MiB in $GIFS: fill it with scripts/gif-corpus/fetch.sh $GIFS" >&2
    exit 1
  fi
  start_server before --no-gif-videos
  BEFORE=$PORT
  start_server after
  node end2end/bench/gif-room.mjs "http://127.0.0.1:$BEFORE" "http://127.0.0.1:$PORT" "${TEN[@]}" "$@"
  exit 0
fi
start_server list
# A room list with something on it, as people would find it (empty rooms stay for the hour of the run).
JAR="$DIR/cookies"
curl -fsS -o /dev/null -c "$JAR" "http://127.0.0.1:$PORT/"
for title in "Friday GIFs" "Cats of the world" "Rust help" "Book club"; do
  curl -fsS -o /dev/null -b "$JAR" -c "$JAR" -H "Origin: http://127.0.0.1:$PORT" \
    --data-urlencode "title=$title" --data "max_members=20" "http://127.0.0.1:$PORT/api/create_room"
done
cd end2end
node bench/first-load.mjs "http://127.0.0.1:$PORT/" "$@"
