#!/usr/bin/env bash
# pg-test.sh: a throwaway PostgreSQL 15 cluster for the tests and benchmarks.
#
#   eval "$(scripts/pg-test.sh start)"     # exports PGTEST_DIR and SHOULI_TEST_PG
#   ctest --test-dir build -R db/         # the db tests now run on PostgreSQL too
#   scripts/pg-test.sh stop "$PGTEST_DIR"  # stops the server and removes the directory
#   scripts/pg-test.sh conninfo "$PGTEST_DIR"  # prints the bare conninfo line again
#
# `start` prints two shell lines on stdout:
#   export PGTEST_DIR='/tmp/shouli-pg.XXXXXX'
#   export SHOULI_TEST_PG='host=127.0.0.1 port=P user=shouli-test dbname=postgres'
# and writes the bare conninfo to $PGTEST_DIR/conninfo. Progress and errors go to stderr.
#
# The cluster lives in a fresh temporary directory, listens on 127.0.0.1 only (a free
# port), keeps its unix socket in that directory, runs with fsync and synchronous_commit on
# (so commit figures are honest) and trusts local connections: it is for tests only.
# As root, the server runs as the system user shouli-test (created when missing), since
# PostgreSQL refuses to run as root. The database superuser is always shouli-test.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin # the Debian binaries, not whatever pg_ctl PATH finds
TEST_USER=shouli-test
MARKER=.shouli-pg-test
dir=""
started=0

die() {
	echo "pg-test: $*" >&2
	exit 1
}

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$TEST_USER" -- "$@"
	else
		"$@"
	fi
}

free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
		return
	fi
	local p
	for p in $(seq 25432 25999); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

start() {
	[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (apt-get install postgresql-15)"
	if [ "$(id -u)" -eq 0 ] && ! id -u "$TEST_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$TEST_USER" ||
			die "cannot create user $TEST_USER"
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/shouli-pg.XXXXXX")
	touch "$dir/$MARKER"
	chmod 700 "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$TEST_USER" "$dir"
	fi
	# Clean up on any failure below, so a broken start leaves nothing running.
	trap 'if [ "$started" != 1 ]; then (stop_dir "$dir") >/dev/null 2>&1 || true; fi' EXIT

	as_owner "$PGBIN/initdb" -D "$dir/data" -U "$TEST_USER" --auth=trust --encoding=UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; false; }

	local port tries=0
	while :; do
		port=$(free_port)
		# Settings are written to the config file so that pg_ctl needs no quoting.
		cat >"$dir/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 60
shared_buffers = 32MB
log_min_messages = warning
EOF
		if [ "$(id -u)" -eq 0 ]; then
			chown "$TEST_USER" "$dir/data/postgresql.auto.conf"
		fi
		if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
			start >/dev/null 2>&1; then
			break
		fi
		# Another process may have taken the port between the probe and the bind.
		tries=$((tries + 1))
		if [ "$tries" -ge 3 ]; then
			tail -n 20 "$dir/postgres.log" >&2 || true
			false
		fi
	done

	local conninfo="host=127.0.0.1 port=$port user=$TEST_USER dbname=postgres"
	"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 10 || false
	echo "$conninfo" >"$dir/conninfo"
	started=1
	echo "pg-test: PostgreSQL 15 on 127.0.0.1:$port, data in $dir" >&2
	printf "export PGTEST_DIR='%s'\n" "$dir"
	printf "export SHOULI_TEST_PG='%s'\n" "$conninfo"
}

stop_dir() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || die "no such directory: ${dir:-<empty>}"
	# Never remove a directory this script did not make.
	[ -f "$dir/$MARKER" ] || die "$dir is not a pg-test directory"
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
			true
	fi
	rm -rf -- "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop_dir "${2:-}" ;;
conninfo)
	[ -f "${2:-}/conninfo" ] || die "no conninfo in ${2:-<empty>}"
	cat "$2/conninfo"
	;;
*)
	echo "usage: $0 start | stop <dir> | conninfo <dir>" >&2
	exit 2
	;;
esac
