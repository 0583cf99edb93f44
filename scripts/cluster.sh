#!/usr/bin/env bash
# A throwaway local gif-chat cluster: PostgreSQL, a NATS broker, an S3 server, N instances (default 2) sharing one
# database and one bucket for GIFs (no shared directory: each has an uploads directory of its own), and nginx in
# front of them, round-robin with no stickiness. Everything lives in a temp dir on loopback and stops on SIGTERM
# or Ctrl-C.
#
#   scripts/cluster.sh [N]
#
# Prints one `name url` pair per line once everything answers, then waits:
#   lb http://127.0.0.1:PORT
#   instance-1 http://127.0.0.1:PORT
#   ...
# The server binary is $GIF_CHAT_BIN, else target/release/gif-chat, else target/debug/gif-chat (build first:
# `cargo leptos build --release`); the site (JS, WASM, CSS) comes from $LEPTOS_SITE_ROOT, else target/site. The
# S3 server is $S3_SERVER_BIN, else target/{release,debug}/s3-server (`cargo build -p s3-server`: s3s-fs, which
# checks request signatures as S3 does).
# $CLUSTER_DIR, if set, is the directory to work in (new or empty; made if missing, deleted at the end), else a
# new temp dir;
# the PostgreSQL server's directory is $CLUSTER_DIR/postgres (for scripts/postgres.sh pause|resume).
#
# nginx tells which instance answered in an `X-Gif-Chat-Upstream` response header, and a browser whose
# `gif_chat_instance` cookie is N always lands on instance N (for tests and for debugging one instance through
# the balancer; without the cookie, round-robin).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
INSTANCES="${1:-2}"
BIN="${GIF_CHAT_BIN:-}"
if [ -z "$BIN" ]; then
  for candidate in "$ROOT/target/release/gif-chat" "$ROOT/target/debug/gif-chat"; do
    if [ -x "$candidate" ]; then BIN="$candidate"; break; fi
  done
fi
[ -x "$BIN" ] || { echo "no gif-chat binary: run 'cargo leptos build --release' first" >&2; exit 1; }
S3_BIN="${S3_SERVER_BIN:-}"
if [ -z "$S3_BIN" ]; then
  for candidate in "$ROOT/target/release/s3-server" "$ROOT/target/debug/s3-server"; do
    if [ -x "$candidate" ]; then S3_BIN="$candidate"; break; fi
  done
fi
[ -x "$S3_BIN" ] || { echo "no S3 server: run 'cargo build -p s3-server' first" >&2; exit 1; }
SITE="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
NGINX="${NGINX:-/usr/sbin/nginx}"

DIR="${CLUSTER_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-cluster.XXXXXX")}"
# It is deleted at the end: never take a directory that holds anything.
if [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
  echo "CLUSTER_DIR $DIR is not empty; give an empty or new directory" >&2
  exit 2
fi
mkdir -p "$DIR"
chmod 755 "$DIR" # PostgreSQL's own user works in a subdirectory
PIDS=()

stop() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$ROOT/scripts/postgres.sh" stop "$DIR/postgres" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT
trap 'exit 0' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # url what
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not answer at $1; its log is in $DIR" >&2
  exit 1
}

# Durable (fsync and synchronous commits on, unlike the test suites' PostgreSQL): a cluster is for trying crashes
# and outages, and a server stopped as by a crash must not lose what it acknowledged.
DATABASE_URL="$(PG_DURABLE="${PG_DURABLE:-1}" "$ROOT/scripts/postgres.sh" start "$DIR/postgres")"

NATS_PORT="$(free_port)"
"$NATS_SERVER" --addr 127.0.0.1 --port "$NATS_PORT" >"$DIR/nats.log" 2>&1 &
PIDS+=($!)
ESSENTIAL=($!)
BROKER_URL="nats://127.0.0.1:$NATS_PORT"

# The GIFs' bucket. An outage of it stops uploads only, so it is not essential to the cluster.
S3_PORT="$(free_port)"
mkdir -p "$DIR/s3"
"$S3_BIN" --listen "127.0.0.1:$S3_PORT" --bucket gifs "$DIR/s3" >"$DIR/s3.log" 2>&1 &
PIDS+=($!)
UPLOADS_URL="s3://gifs/cluster?endpoint=http://127.0.0.1:$S3_PORT"
# The test server's credentials (tools/s3-server).
export AWS_ACCESS_KEY_ID=gif-chat-test AWS_SECRET_ACCESS_KEY=gif-chat-test-secret

LB_PORT="$(free_port)"
UPSTREAMS=""
PINNED=""
PINS=""
URLS=()
mkdir -p "$DIR/data"
for i in $(seq 1 "$INSTANCES"); do
  port="$(free_port)"
  # Each instance trusts nginx (on loopback) for the client's address; pages are used through nginx's origin.
  DATABASE_URL="$DATABASE_URL" BROKER_URL="$BROKER_URL" UPLOADS_URL="$UPLOADS_URL" UPLOADS_DIR="$DIR/uploads-$i" \
    DATA_DIR="$DIR/data" \
    LEPTOS_SITE_ROOT="$SITE" RUST_LOG="${RUST_LOG:-info}" \
    "$BIN" --addr "127.0.0.1:$port" --trusted-proxy 127.0.0.1/32 \
      --allowed-origin "http://127.0.0.1:$LB_PORT" --allowed-origin "http://127.0.0.1:$port" \
      >"$DIR/instance-$i.log" 2>&1 &
  PIDS+=($!)
  UPSTREAMS="$UPSTREAMS    server 127.0.0.1:$port;
"
  PINNED="$PINNED  upstream instance_$i { server 127.0.0.1:$port; }
"
  PINS="$PINS    \"$i\" instance_$i;
"
  URLS+=("http://127.0.0.1:$port")
done

mkdir -p "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/body;
  proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi;
  uwsgi_temp_path $DIR/nginx/uwsgi;
  scgi_temp_path $DIR/nginx/scgi;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  # Round-robin, no stickiness: any request or live connection may land on any instance.
  upstream gif_chat {
$UPSTREAMS  }
  # A gif_chat_instance=N cookie pins a browser to instance N.
$PINNED  map \$cookie_gif_chat_instance \$gif_chat_upstream {
    default gif_chat;
$PINS  }
  server {
    listen 127.0.0.1:$LB_PORT;
    client_max_body_size 12m;
    location / {
      proxy_pass http://\$gif_chat_upstream;
      add_header X-Gif-Chat-Upstream \$upstream_addr always;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_read_timeout 120s;
      # An instance that went away: try the next one (only for requests that can safely be repeated).
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
    }
  }
}
EOF
"$NGINX" -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" &
PIDS+=($!)
ESSENTIAL+=($!)

for i in $(seq 1 "$INSTANCES"); do
  wait_for "${URLS[$((i - 1))]}/readyz" "instance $i"
done
wait_for "http://127.0.0.1:$LB_PORT/readyz" "nginx"

echo "lb http://127.0.0.1:$LB_PORT"
for i in $(seq 1 "$INSTANCES"); do
  echo "instance-$i ${URLS[$((i - 1))]}"
done
echo "postgres $DATABASE_URL"
echo "s3 http://127.0.0.1:$S3_PORT"
echo "broker $BROKER_URL"

# Wait until told to stop, or until the broker or the balancer dies. An instance may die (or be killed, as
# scripts/check-cluster.sh does): the others carry on, as a cluster should.
wait -n "${ESSENTIAL[@]}" || true
echo "a part of the cluster stopped; see the logs in $DIR" >&2
