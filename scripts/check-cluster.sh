#!/usr/bin/env bash
# Starts scripts/cluster.sh with the given server binary, checks that the balancer and each instance serve the
# room list and that the balancer upgrades the live channel, then stops the cluster and checks nothing is left.
#
#   scripts/check-cluster.sh target/debug/gif-chat
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="$(mktemp)"
GIF_CHAT_BIN="$1" scripts/cluster.sh 2 >"$OUT" &
CLUSTER=$!
cleanup() { kill -TERM "$CLUSTER" 2>/dev/null || true; wait "$CLUSTER" 2>/dev/null || true; rm -f "$OUT"; }
trap cleanup EXIT

for _ in $(seq 1 600); do
  grep -q '^broker ' "$OUT" && break
  kill -0 "$CLUSTER" 2>/dev/null || { echo "cluster.sh stopped early" >&2; exit 1; }
  sleep 0.1
done
grep -q '^broker ' "$OUT" || { echo "the cluster did not come up in time" >&2; exit 1; }
cat "$OUT"

lb="$(awk '$1 == "lb" { print $2 }' "$OUT")"
for url in $(awk '$1 ~ /^(lb|instance-)/ { print $2 }' "$OUT"); do
  curl -fsS "$url/" | grep -q 'gif-chat' || { echo "$url does not serve the room list" >&2; exit 1; }
done
# The websocket handshake through nginx (101 Switching Protocols), from the balancer's own origin.
status="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H "Origin: $lb" "$lb/ws" || true)"
[ "$status" = 101 ] || { echo "no websocket upgrade through the balancer (status $status)" >&2; exit 1; }

kill -TERM "$CLUSTER"
wait "$CLUSTER" || true
trap - EXIT
rm -f "$OUT"
if pgrep -f "gif-chat-cluster\." >/dev/null; then
  echo "processes of the cluster outlived it" >&2
  exit 1
fi
echo "cluster: balancer and instances answered, websocket upgraded, everything stopped"
