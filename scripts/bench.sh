#!/usr/bin/env bash
# bench.sh: the HTTP and WebSocket benchmarks against a fresh `shouli serve --demo` on
# 127.0.0.1. Builds (RelWithDebInfo), starts the server on a free port with a temporary data
# directory (its log goes to a file there), runs bench_http (Shouli vs a bare libmicrohttpd
# ceiling, one run), wrk for comparison when it is installed, and bench_ws_fanout when it
# exists, then stops the server. It prints figures; it does not pass or fail on speed.
#
#   scripts/bench.sh
#   DURATION=5 CONNS=32 scripts/bench.sh
#
# Environment:
#   BUILD     build directory (default build)
#   DURATION  seconds per measurement (default 10, at most 300)
#   CONNS     HTTP keep-alive connections (default 64)
#   WS_N      WebSocket fan-out clients (default 5000); WS_ROUNDS rounds (default 3)
#   NO_BUILD  set to skip the build; NO_WRK set to skip wrk
#   SERVE_ARGS  extra `shouli serve` flags, e.g. "--log-level warn --threads 2" (split into
#               words, so no value in it may contain a space)
#   PG        run on PostgreSQL: a libpq conninfo (keyword form or URI) of a server where the
#             bench may CREATE DATABASE, e.g. "$SHOULI_TEST_PG" from scripts/pg-test.sh. The
#             server gets a fresh database (a fresh data directory means a fresh master key,
#             which cannot read what another run left), dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
WS_N=${WS_N:-5000}
WS_ROUNDS=${WS_ROUNDS:-3}
USER_NAME=clerk
USER_PASSWORD='Clerk@2026demo'

case "$DURATION" in '' | *[!0-9]*) echo "bench: DURATION must be a number of seconds" >&2; exit 2 ;; esac
if [ "$DURATION" -lt 1 ] || [ "$DURATION" -gt 300 ]; then
  echo "bench: DURATION must be 1..300" >&2
  exit 2
fi

if [ -z "${NO_BUILD:-}" ]; then
  targets=(shouli bench_http)
  [ -f bench/ws_fanout.c ] && targets+=(bench_ws_fanout)
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}" >/dev/null
fi

TMP=$(mktemp -d /tmp/shouli-bench.XXXXXX)
LOG="$TMP/serve.log"
PID=""
DB_ARGS=()
PG_DB=""
stop_server() {
  [ -n "$PID" ] || return 0
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$PID" 2>/dev/null; then
    echo "bench: the server did not stop in 10 s; killing it" >&2
    kill -KILL "$PID" 2>/dev/null || true
  fi
  wait "$PID" 2>/dev/null || true
  PID=""
}
cleanup() {
  stop_server
  if [ -n "$PG_DB" ]; then
    psql "$PG" -v ON_ERROR_STOP=1 -q -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" ||
      echo "bench: could not drop database $PG_DB" >&2
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${PG:-}" ]; then
  case "$PG" in postgres://* | postgresql://*) ;; postgres:*) PG=${PG#postgres:} ;; esac
  PG_DB="shouli_bench_$$_$(date +%s)"
  psql "$PG" -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$PG_DB\"" >&2
  # In keyword form the last dbname wins; a URI gets its path replaced.
  case "$PG" in
  postgres://* | postgresql://*) pg_url=$(echo "$PG" | sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/$PG_DB#") ;;
  *) pg_url="$PG dbname=$PG_DB" ;;
  esac
  DB_ARGS=(--db "postgres:$pg_url")
fi

# Port 0: the kernel picks a free port; the server logs it in its http.listen line.
# The default log level (info) writes an access line per request, as in production.
# SERVE_ARGS is split into words on purpose.
# shellcheck disable=SC2086
"$BUILD/shouli" serve --bind 127.0.0.1 --port 0 --data "$TMP/data" --demo \
  "${DB_ARGS[@]}" ${SERVE_ARGS:-} \
  >"$TMP/serve.out" 2>"$LOG" &
PID=$!
PORT=""
for _ in $(seq 1 300); do
  PORT=$(sed -n 's/.*"event":"http\.listen".*"port":\([0-9]*\).*/\1/p' "$LOG" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  echo "bench: shouli serve did not start; its log:" >&2
  tail -20 "$LOG" >&2
  exit 1
fi
URL="http://127.0.0.1:$PORT"

echo "# shouli bench — $(git describe --always --dirty 2>/dev/null || echo unknown), $(nproc) CPUs" \
  "($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), build $BUILD"
echo "# server $URL, data $TMP/data, log $LOG, db ${PG_DB:+postgres }${PG_DB:-sqlite}"
echo

"$BUILD/bench_http" -c "$CONNS" -d "$DURATION" "$URL" "$USER_NAME" "$USER_PASSWORD" || true

if [ -z "${NO_WRK:-}" ] && command -v wrk >/dev/null && command -v curl >/dev/null; then
  cookie=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"username\":\"$USER_NAME\",\"password\":\"$USER_PASSWORD\"}" "$URL/api/v1/auth/login" |
    sed -n 's/^[Ss]et-[Cc]ookie: \(shouli_sid=[^;]*\).*/\1/p' | tr -d '\r')
  if [ -n "$cookie" ]; then
    echo
    echo "# wrk, same request, same number of connections (1 thread)"
    wrk -t1 -c "$CONNS" -d "${DURATION}s" --latency -H "Cookie: $cookie" "$URL/api/v1/auth/me" |
      grep -E 'Requests/sec|Latency|50%|99%|Non-2xx|Socket errors' || true
  fi
fi

stop_server

if [ -x "$BUILD/bench_ws_fanout" ]; then
  echo
  echo "# WebSocket fan-out: $WS_N clients, $WS_ROUNDS rounds (bench_ws_fanout)"
  timeout $((DURATION * WS_ROUNDS + 240)) "$BUILD/bench_ws_fanout" "$WS_N" auto "$WS_ROUNDS" || \
    echo "bench: bench_ws_fanout failed or timed out" >&2
fi
