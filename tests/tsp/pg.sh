# tests/tsp/pg.sh - a real PostgreSQL server for the tests, sourced by
# test-cluster.sh and bench-tsp.sh (bash). Debian's postgresql package;
# initdb in a directory of the test's own, run as an unprivileged user
# (nobody when the tests run as root: PostgreSQL refuses root), listening
# on a unix socket in that directory only (no TCP port to collide with
# anything). Trust authentication on that socket for the role "sealine".
#
#   pg_setup DIR [fsync]   initdb into DIR/pg, start it, create the database
#                          "sealine"; sets PG_CONN (a libpq connection
#                          string) and PG_URI (the same as a URI). fsync:
#                          keep fsync on (the benchmark); tests turn it off
#                          (the machine never crashes under them).
#   pg_stop [MODE]         stop it (fast, or immediate: as if it crashed)
#   pg_start               start it again
#   pg_createdb NAME       another database; prints its connection string
#   pg_psql SQL...         run SQL as "sealine" on the database
#   pg_teardown            stop it (if running)

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_DIR= PG_CONN= PG_URI= PG_AS=()

pg_setup() {
	local d=$1 fsync=${2:-off}
	[ -x "$PG_BIN/initdb" ] || { echo "pg.sh: PostgreSQL not installed (scripts/install-deps)" >&2; return 1; }
	PG_DIR=$d/pg
	mkdir -p "$PG_DIR"
	if [ "$(id -u)" = 0 ]; then
		# The server's user must reach its directory through ours.
		chmod 0711 "$d"
		chown nobody "$PG_DIR"
		PG_AS=(runuser -u nobody --)
	fi
	"${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U sealine --auth=trust \
		-E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		{ echo "pg.sh: initdb failed:" >&2; tail -n 20 "$PG_DIR/initdb.log" >&2; return 1; }
	cat >>"$PG_DIR/data/postgresql.conf" <<-EOF
	listen_addresses = ''
	unix_socket_directories = '$PG_DIR'
	fsync = $fsync
	full_page_writes = $fsync
	max_connections = 60
	log_min_messages = warning
	EOF
	pg_start || return 1
	"$PG_BIN/createdb" -h "$PG_DIR" -U sealine sealine || return 1
	PG_CONN="host=$PG_DIR user=sealine dbname=sealine"
	PG_URI="postgresql:///sealine?host=$PG_DIR&user=sealine"
}

pg_start() {
	"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
		-w -t 60 start >/dev/null ||
		{ echo "pg.sh: the server did not start:" >&2; tail -n 20 "$PG_DIR/server.log" >&2; return 1; }
}

pg_stop() {
	"${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m "${1:-fast}" -w -t 60 \
		stop >/dev/null
}

pg_createdb() {
	"$PG_BIN/createdb" -h "$PG_DIR" -U sealine "$1" &&
		echo "host=$PG_DIR user=sealine dbname=$1"
}

pg_psql() {
	"$PG_BIN/psql" -h "$PG_DIR" -U sealine -d sealine -X -q -A -t -v ON_ERROR_STOP=1 -c "$*"
}

pg_teardown() {
	[ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ] && pg_stop immediate 2>/dev/null
	return 0
}
