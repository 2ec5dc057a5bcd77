#!/usr/bin/env bash
# The BENCHMARKS.md load table: the reference server on each backend, driven by examples/loadgen
# at concurrency 1, 8 and 64 (200 devices x 20 round trips by default). Loopback only; every run
# is bounded by loadgen's --max-seconds. PostgreSQL and MariaDB rows need the local servers
# (127.0.0.1:5432 trust auth, 127.0.0.1:3306 root without a password); the database `loadgen` is
# dropped and created on each.
#
#   scripts/loadgen-matrix.sh [backend…]     backends: inmem sqlite pgsql mysql (default: all)
#
# Knobs: DEVICES, ROUND_TRIPS, CONCURRENCY ("1 8 64"), KEY (rsa), SIGN (pre), PORT (9400).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES="${DEVICES:-200}"
ROUND_TRIPS="${ROUND_TRIPS:-20}"
CONCURRENCY="${CONCURRENCY:-1 8 64}"
KEY="${KEY:-rsa}"
SIGN="${SIGN:-pre}"
PORT="${PORT:-9400}"
if [ $# -gt 0 ]; then backends=("$@"); else backends=(inmem sqlite pgsql mysql); fi

cargo build --release --example server --example loadgen
target="${CARGO_TARGET_DIR:-target}/release/examples"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

"$target/loadgen" --new-ca --ca "$work/ca.pem" --ca-key "$work/ca.key" >/dev/null
api_key="loadgen-$RANDOM$RANDOM"

for backend in "${backends[@]}"; do
  db_process=()
  case "$backend" in
    inmem) storage=(-storage inmem) ;;
    sqlite) storage=(-storage sqlite -storage-dsn "$work/loadgen.sqlite") ;;
    pgsql)
      psql -q -h 127.0.0.1 -U root -d postgres -c 'DROP DATABASE IF EXISTS loadgen' -c 'CREATE DATABASE loadgen'
      storage=(-storage pgsql -storage-dsn "postgres://root@127.0.0.1:5432/loadgen?sslmode=disable")
      db_process=(--db-process postgres) ;;
    mysql)
      mariadb -h 127.0.0.1 -uroot -e 'DROP DATABASE IF EXISTS loadgen; CREATE DATABASE loadgen'
      storage=(-storage mysql -storage-dsn "root@tcp(127.0.0.1:3306)/loadgen")
      db_process=(--db-process mariadbd) ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  "$target/server" -api "$api_key" -ca "$work/ca.pem" -listen "127.0.0.1:$PORT" "${storage[@]}" \
    2>"$work/server-$backend.log" &
  server_pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/version" >/dev/null && break
    sleep 0.1
  done
  for c in $CONCURRENCY; do
    echo "== $backend, concurrency $c"
    "$target/loadgen" --server "http://127.0.0.1:$PORT" --api-key "$api_key" \
      --ca "$work/ca.pem" --ca-key "$work/ca.key" --devices "$DEVICES" --round-trips "$ROUND_TRIPS" \
      --concurrency "$c" --key "$KEY" --sign "$SIGN" --server-pid "$server_pid" \
      --max-seconds 300 "${db_process[@]}"
  done
  kill "$server_pid"
  wait "$server_pid" || true
done
