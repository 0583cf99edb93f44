#!/usr/bin/env bash
# The release artifact's check (in the test command): packs the debug build with scripts/dist.sh, unpacks it
# into an empty directory outside the source tree, and runs it from there with flags only: it serves the room
# list and its client files, takes a room, answers its probes, prints its version and backs itself up. The
# operator's guide (docs/operating.md) travels with it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

TARBALL=$("$ROOT/scripts/dist.sh" --debug)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-unpacked.XXXXXX")
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
tar -C "$WORK" -xzf "$TARBALL"
HOME_DIR=$(echo "$WORK"/gif-chat-*)
cd "$WORK" # nothing of the source tree from here on

fail() { echo "check-dist: $*" >&2; [ -f "$WORK/server.log" ] && cat "$WORK/server.log" >&2; exit 1; }

[ -s "$HOME_DIR/docs/operating.md" ] || fail "docs/operating.md is not in the artifact"
grep -q '^# Operating gif-chat' "$HOME_DIR/docs/operating.md" || fail "docs/operating.md is not the operator's guide"

env -i "$HOME_DIR/bin/gif-chat" --version | grep -E '^gif-chat [0-9.]+ \(commit [0-9a-f]{12}\)$' \
  || fail "--version does not name the commit"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
# An empty environment (only PATH): nothing set for the build or the tests reaches it.
env -i PATH="/usr/bin:/bin" "$HOME_DIR/bin/gif-chat" --addr "127.0.0.1:$PORT" --site-root "$HOME_DIR/site" \
  --data-dir "$WORK/state/data" --uploads-dir "$WORK/state/uploads" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null && break
  sleep 0.1
done
curl -fsS "$URL/readyz" | grep -q '"status":"ready"' || fail "the unpacked server is not ready"

PAGE=$(curl -fsS "$URL/")
grep -q '<h1>gif-chat</h1>' <<<"$PAGE" || fail "no room list"
for file in $(grep -oE '/pkg/gif-chat\.[A-Za-z0-9_-]+\.(js|wasm|css)' <<<"$PAGE" | sort -u); do
  curl -fsS -o /dev/null "$URL$file" || fail "$file is not served"
done
[ "$(grep -oE '/pkg/gif-chat\.[A-Za-z0-9_-]+\.(js|wasm|css)' <<<"$PAGE" | sort -u | wc -l)" -ge 3 ] \
  || fail "the page names fewer than three client files"

curl -fsS -c "$WORK/cookies" -b "$WORK/cookies" -H "Origin: $URL" \
  --data-urlencode 'title=Unpacked and running' --data 'max_members=5' --data 'password=' \
  "$URL/api/create_room" >/dev/null || fail "could not create a room"
curl -fsS "$URL/" | grep -q 'Unpacked and running' || fail "the new room is not listed"

env -i PATH="/usr/bin:/bin" "$HOME_DIR/bin/gif-chat" --data-dir "$WORK/state/data" --uploads-dir "$WORK/state/uploads" \
  backup "$WORK/backup.db" --gifs "$WORK/backup-gifs" | grep -q '1 rooms' || fail "the backup does not hold the room"
echo "the artifact $(basename "$TARBALL") runs on its own from $WORK"
