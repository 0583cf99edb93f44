#!/usr/bin/env bash
# A throwaway PostgreSQL server from Debian's package, for the tests and the load tool: a new cluster in a
# directory of its own, on a free port of 127.0.0.1, trusted (no password) because nothing but this machine can
# reach it.
#
#   scripts/postgres.sh start DIR    creates DIR, starts the server with an empty database `gif_chat`, and
#                                    prints that database's URL (postgres://postgres@127.0.0.1:PORT/gif_chat)
#   scripts/postgres.sh stop DIR     stops it and deletes DIR
#   scripts/postgres.sh pause DIR    stops it at once (as a crash would), keeping its data
#   scripts/postgres.sh resume DIR   starts it again on the same port (for tests of a database outage)
#
# `initdb` refuses to run as root: as root, the server runs as the package's `postgres` user. Tests want speed
# over durability (the cluster is deleted after the run), so fsync is off unless PG_DURABLE=1 (use that for
# figures that should reflect a real deployment). With PG_TLS_CERT and PG_TLS_KEY (PEM files), it also speaks TLS
# with that certificate (`sslmode=verify-full` tests).
set -euo pipefail

usage() { echo "usage: $0 start|stop|pause|resume DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
dir=$2

pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
if [ ! -x "$pg_bin/initdb" ]; then
  echo "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin): run scripts/setup.sh" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $command in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_owner "$pg_bin/initdb" --pgdata="$dir/data" --auth=trust --username=postgres --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    settings=(-c listen_addresses=127.0.0.1 -c "unix_socket_directories=$dir" -c max_connections=400)
    if [ -n "${PG_TLS_CERT:-}" ]; then
      # The server reads them as its own user, and refuses a key others may read.
      mkdir -p "$dir/tls"
      cp "$PG_TLS_CERT" "$dir/tls/server.crt"
      cp "$PG_TLS_KEY" "$dir/tls/server.key"
      chmod 0600 "$dir/tls/server.key"
      [ "$(id -u)" = 0 ] && chown -R postgres: "$dir/tls"
      settings+=(-c ssl=on -c "ssl_cert_file=$dir/tls/server.crt" -c "ssl_key_file=$dir/tls/server.key")
    fi
    if [ "${PG_DURABLE:-0}" != 1 ]; then
      settings+=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
    fi
    # A free port: try a few at random (another process may take one between the check and the bind).
    for _ in 1 2 3 4 5 6 7 8; do
      port=$((20000 + RANDOM % 40000))
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
      echo "-p $port ${settings[*]}" >"$dir/options"
      if as_owner "$pg_bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
        --options="$(cat "$dir/options")" start >/dev/null; then
        "$pg_bin/psql" --host=127.0.0.1 --port="$port" --username=postgres --quiet --command="CREATE DATABASE gif_chat"
        echo "postgres://postgres@127.0.0.1:$port/gif_chat"
        exit 0
      fi
      grep -q "could not bind\|already in use" "$dir/server.log" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    done
    echo "no free port for PostgreSQL" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$pg_bin/pg_ctl" --pgdata="$dir/data" --mode=immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  pause)
    as_owner "$pg_bin/pg_ctl" --pgdata="$dir/data" --mode=immediate stop >/dev/null
    ;;
  resume)
    as_owner "$pg_bin/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --timeout=60 \
      --options="$(cat "$dir/options")" start >/dev/null
    ;;
  *) usage ;;
esac
