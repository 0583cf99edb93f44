#!/usr/bin/env bash
# Starts scripts/cluster.sh with the given server binary, checks that the balancer and each instance serve the
# room list and that the balancer upgrades the live channel, runs the Playwright cluster suite through the
# balancer (end2end/cluster: browsers pinned to different instances, and a PostgreSQL outage), kills one instance
# as a crash would (SIGKILL) and checks the balancer still answers every request and upgrade through the other,
# then stops the cluster and checks nothing is left.
#
#   scripts/check-cluster.sh target/debug/gif-chat
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="$(mktemp)"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-cluster.XXXXXX")"
GIF_CHAT_BIN="$1" CLUSTER_DIR="$DIR" scripts/cluster.sh 2 >"$OUT" &
CLUSTER=$!
cleanup() {
  local status=$?
  if [ "$status" != 0 ]; then
    # The cluster deletes its directory when it stops: show its logs first.
    for log in "$DIR"/*.log "$DIR"/nginx/error.log "$DIR"/postgres/server.log; do
      [ -f "$log" ] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }
    done
  fi
  kill -TERM "$CLUSTER" 2>/dev/null || true
  wait "$CLUSTER" 2>/dev/null || true
  rm -f "$OUT"
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  grep -q '^broker ' "$OUT" && break
  kill -0 "$CLUSTER" 2>/dev/null || { echo "cluster.sh stopped early" >&2; exit 1; }
  sleep 0.1
done
grep -q '^broker ' "$OUT" || { echo "the cluster did not come up in time" >&2; exit 1; }
cat "$OUT"

lb="$(awk '$1 == "lb" { print $2 }' "$OUT")"
# (grep reads the whole page: with -q it could stop early and fail curl under pipefail.)
for url in $(awk '$1 ~ /^(lb|instance-)/ { print $2 }' "$OUT"); do
  curl -fsS "$url/" | grep 'gif-chat' >/dev/null || { echo "$url does not serve the room list" >&2; exit 1; }
done
# The websocket handshake through nginx (101 Switching Protocols), from the balancer's own origin.
upgrade_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H "Origin: $lb" "$lb/ws" || true
}
status="$(upgrade_status)"
[ "$status" = 101 ] || { echo "no websocket upgrade through the balancer (status $status)" >&2; exit 1; }

# Browsers through the balancer, each pinned to an instance.
(
  cd end2end
  CLUSTER_LB="$lb" CLUSTER_INSTANCES="$(awk '$1 ~ /^instance-/ { print $2 }' "$OUT" | xargs)" \
    CLUSTER_POSTGRES_DIR="$DIR/postgres" npx playwright test --config playwright.cluster.config.ts
)

# Instance 1 crashes: round-robin still answers every request, the balancer passing each to the survivor.
port="$(awk '$1 == "instance-1" { print $2 }' "$OUT" | sed 's/.*://')"
pkill -KILL -f -- "--addr 127.0.0.1:$port" || { echo "instance 1 was not found to kill" >&2; exit 1; }
for _ in 1 2 3 4; do
  curl -fsS "$lb/" | grep 'gif-chat' >/dev/null || { echo "a request failed after instance 1 was killed" >&2; exit 1; }
  status="$(upgrade_status)"
  [ "$status" = 101 ] || { echo "no upgrade after instance 1 was killed (status $status)" >&2; exit 1; }
done

kill -TERM "$CLUSTER"
wait "$CLUSTER" || true
trap - EXIT
rm -f "$OUT"
if pgrep -f "gif-chat-cluster\." >/dev/null; then
  echo "processes of the cluster outlived it" >&2
  exit 1
fi
echo "cluster: balancer and instances answered, websocket upgraded, browsers chatted across instances and through an outage, the balancer went on when an instance was killed, everything stopped"
