#!/usr/bin/env bash
# `make check`: install what is missing, build, and run every test suite —
# unit (SQLite and PostgreSQL), catalog, API on SQLite, API on PostgreSQL, browser,
# sanitizer build (unit + API), and a bounded fuzz run. Prints one line per suite and a
# closing "check: N passed, N failed"; exits non-zero when any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
LOGDIR=${CHECK_LOGDIR:-$ROOT/build/check-logs}
passed=0
failed=0
failures=()

bash scripts/install-deps.sh --test || { echo "check: installing dependencies failed"; exit 1; }

mkdir -p "$LOGDIR"

# run NAME CMD...: run one suite, show its output, record the verdict.
run() {
  local name=$1; shift
  echo
  echo "=== $name"
  local t0=$SECONDS
  if "$@" 2>&1 | tee "$LOGDIR/$name.log"; then
    echo "=== $name: ok ($((SECONDS - t0)) s)"
    passed=$((passed + 1))
    return 0
  else
    echo "=== $name: FAILED ($((SECONDS - t0)) s; log in $LOGDIR/$name.log)"
    failed=$((failed + 1))
    failures+=("$name")
    return 1
  fi
}

build_main() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build -j "$JOBS" &&
    bash scripts/make-font.sh build/fonts &&
    bash scripts/build-web.sh
}

build_asan() {
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSHOULI_SANITIZE=ON >/dev/null &&
    cmake --build build-asan -j "$JOBS" &&
    { [ ! -f build/fonts/ShouliSans-Regular.otf ] ||
      { mkdir -p build-asan/fonts && cp -p build/fonts/ShouliSans-Regular.otf build-asan/fonts/; }; }
}

build_fuzz() {
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHOULI_FUZZ=ON \
    -DSHOULI_SANITIZE=ON >/dev/null && cmake --build build-fuzz -j "$JOBS"
}

run_fuzz() {
  local rc=0
  for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    local name corpus
    name=$(basename "$f")
    corpus="$ROOT/build-fuzz/corpus-$name"
    mkdir -p "$corpus"
    [ -d "tests/fuzz/seeds/$name" ] && cp -n tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
    echo "fuzzing $name for ${FUZZ_SECONDS}s"
    (cd build-fuzz && "./$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$corpus") || rc=1
  done
  return $rc
}

if ! run build build_main; then
  echo "check: 0 passed, 1 failed"
  exit 1
fi

# A throwaway PostgreSQL 15 for the unit and API suites; removed on exit.
PGTEST_DIR=""
cleanup() { [ -n "$PGTEST_DIR" ] && bash scripts/pg-test.sh stop "$PGTEST_DIR" >/dev/null 2>&1; }
trap cleanup EXIT
if pg_env=$(bash scripts/pg-test.sh start); then
  eval "$pg_env"
  export SHOULI_TEST_PG
else
  echo "check: could not start PostgreSQL"
  failed=$((failed + 1)); failures+=("postgres")
fi

run unit ctest --test-dir build --output-on-failure
if [ -x build/shouli ] && ls catalog/*.json >/dev/null 2>&1; then
  run catalog build/shouli admin catalog check --catalog catalog
fi
if [ -x build/shouli ] && ls gateway/flows/*.json >/dev/null 2>&1; then
  run flows build/shouli admin flow check --flows gateway/flows --connectors gateway/connectors \
    --catalog catalog
fi
api_doc_current() {
  diff <(build/shouli admin routes) <(sed -n '/<!-- routes -->/,/<!-- end routes -->/p' docs/api.md | grep '^|')
}
run api-doc api_doc_current
run api-sqlite env SHOULI_BIN="$ROOT/build/shouli" node --test --test-concurrency=1 tests/api/
if [ -n "${SHOULI_TEST_PG:-}" ]; then
  run api-postgres env SHOULI_BIN="$ROOT/build/shouli" SHOULI_TEST_DB="$SHOULI_TEST_PG" \
    node --test --test-concurrency=1 tests/api/
fi
run e2e env SHOULI_BIN="$ROOT/build/shouli" node --test --test-concurrency=1 tests/e2e/

if run build-asan build_asan; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run unit-asan ctest --test-dir build-asan --output-on-failure
  run api-asan env SHOULI_BIN="$ROOT/build-asan/shouli" node --test --test-concurrency=1 tests/api/
  unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
fi

if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
  run build-fuzz build_fuzz && run fuzz run_fuzz
fi

echo
if [ "$failed" -gt 0 ]; then
  echo "failed suites: ${failures[*]}"
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
