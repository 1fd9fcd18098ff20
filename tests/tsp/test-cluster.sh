#!/usr/bin/env bash
# tests/tsp/test-cluster.sh - several TSP instances (sealtspd, ASan+UBSan)
# on one PostgreSQL database (issue 13), against simulated endpoints on
# the simulated exchange's ptys. A real PostgreSQL server is started for
# the run (tests/tsp/pg.sh: initdb in the run's directory, unprivileged,
# a unix socket only).
#
#   the store's contract on PostgreSQL (tests/unit/test_tspstore_shared);
#   one TSP on SQLite, its store migrated (sealctl tsp migrate): every
#   account and record the same, a second run changes nothing, a
#   conflict is reported and not overwritten;
#   two instances, a and b, on the migrated store: calls through either
#   (the exchange's hunt group spans both), records of both in one
#   export; an account's limit of one call enforced across instances
#   (a call through b is refused BUSY while one through a is up);
#   b killed with kill -9 mid-call: its call ends as interrupted once its
#   lease expires, closed by another instance (a third, c, starts);
#   the database stopped mid-run: bridged calls go on and end, a new call
#   gets NAK UNAVAILABLE, the records wait in each TSP's backlog on disk;
#   the database restarted: every record written, nothing lost;
#   three instances serving calls at once, one export;
#   a fourth instance whose lines are ports of ser2net (Debian's) in front
#   of exchange lines, one over RFC 2217 (Telnet, Com Port Control), one
#   raw TCP: calls answered on the one and dialled out on the other, the
#   data (every byte value, 0xFF too) exact, the lines back after each
#   hangup;
#   sealctl status of each instance; no sanitizer report.
#
# Prints "ok"/"FAIL" lines and last "tsp-cluster: N passed, N failed";
# exit 0 only if all passed. Needs python3, jq, socat.
#
# Usage: tests/tsp/test-cluster.sh [--keep]
#   SEALTSPD=path   another sealtspd (default tests/tsp/build/sealtspd-asan)
#   SIM=path        another sim-endpoints (default ...-asan)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
KEEP=0
for a in "$@"; do
	case $a in
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "test-cluster: unknown argument '$a' (see --help)" >&2; exit 2 ;;
	esac
done

make -s -C "$HERE" all || exit 2
make -s -C "$TOP/tests/exchange" sealine-exchange || exit 2
make -s -C "$TOP/agent" sealctl >/dev/null || exit 2
make -s -C "$TOP/tests/unit" build/test_tspstore_shared build/test_tspspool >/dev/null || exit 2
EXCHANGE=$TOP/tests/exchange/sealine-exchange
SEALCTL=$TOP/build/bin/sealctl
SEALTSPD=${SEALTSPD:-$HERE/build/sealtspd-asan}
SIM=${SIM:-$HERE/build/sim-endpoints-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$HERE/lsan.supp:print_suppressions=0
# shellcheck source=pg.sh
. "$HERE/pg.sh"

W=$(mktemp -d /tmp/sealine-cluster.XXXXXX)
D=$W
EX_PID=
declare -A TSP_PID=()
passed=0 failed=0
NEP=52

ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...: ok if the command succeeds
	local name=$1; shift
	if "$@" >"$W/check.out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/     /' "$W/check.out" | head -20; fi
}

stop_tsp() { # stop_tsp NAME [SIGNAL]
	local pid=${TSP_PID[$1]:-} rc
	[ -n "$pid" ] || return 0
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	wait "$pid"; rc=$?
	unset "TSP_PID[$1]"
	[ "${2:-TERM}" = TERM ] && return $rc
	return 0
}
cleanup() {
	local n
	for n in "${!TSP_PID[@]}"; do stop_tsp "$n"; done
	[ -n "$EX_PID" ] && { kill "$EX_PID" 2>/dev/null; wait "$EX_PID" 2>/dev/null; }
	[ -n "${S2N_PID:-}" ] && kill "$S2N_PID" 2>/dev/null
	pg_teardown
	if [ "$KEEP" = 1 ] || [ "$failed" != 0 ]; then echo "test-cluster: files kept in $W" >&2
	else rm -rf "$W"; fi
}
trap cleanup EXIT

# The exchange: hunt group 100 spans instances a and b (interleaved, so
# that calls arriving together go to both); 110 reaches a only, 120 b
# only, 130 c only; endpoint I is 5550000+I on $D/epI.
{
	for i in 0 1 2 3; do echo "100=pty:$D/a-$i"; echo "100=pty:$D/b-$i"; done
	for i in 4 5; do echo "110=pty:$D/a-$i"; done
	for i in 4 5; do echo "120=pty:$D/b-$i"; done
	for i in 0 1 2 3; do echo "130=pty:$D/c-$i"; done
	echo "140=pty:$D/ts-0"
	echo "141=pty:$D/ts-1"
	for ((i = 0; i < NEP; i++)); do echo "$((5550000 + i))=pty:$D/ep$i"; done
} >"$D/lines"
"$EXCHANGE" --lines-file "$D/lines" --control "$D/ctl" --log "$D/exchange.log" --ring-interval 0.4 &
EX_PID=$!
for ((i = 0; i < 100; i++)); do [ -S "$D/ctl" ] && break; sleep 0.1; done
[ -S "$D/ctl" ] || { echo "test-cluster: the exchange did not start" >&2; exit 1; }
"$SIM" keys --count $NEP >"$D/keys" || exit 1

pg_setup "$W" || exit 1
PG=$PG_URI

# start_tsp NAME STORE NLINES: instance NAME on $D/NAME-*, its own state,
# socket and log; waits until its lines are idle.
start_tsp() {
	local name=$1 store=$2 nlines=$3 n start
	mkdir -p "$D/$name"
	cat >"$D/$name/sealtspd.conf" <<-EOF
	[agent]
	log_level = debug
	[tsp]
	store = $store
	instance = $name
	lease = 10
	lines = $D/$name-*
	baud = 115200
	answer_timeout = 10
	EOF
	start=$(cat "$D/$name/tsp.log" 2>/dev/null | wc -l)
	# One identity for the cluster: endpoints pin one TSP key.
	[ -d "$D/$name/state" ] || { mkdir -p "$D/$name/state"; [ -f "$D/identity" ] && cp "$D/identity" "$D/$name/state/identity"; }
	"$SEALTSPD" -f -c "$D/$name/sealtspd.conf" --state-dir "$D/$name/state" \
		--socket "$D/$name/sock" 2>>"$D/$name/tsp.log" &
	TSP_PID[$name]=$!
	for ((i = 0; i < 300; i++)); do
		n=$(tail -n +"$((start + 1))" "$D/$name/tsp.log" | grep -c ': init -> idle')
		[ "$n" -ge "$nlines" ] && break
		kill -0 "${TSP_PID[$name]}" 2>/dev/null || { echo "test-cluster: sealtspd $name died" >&2; tail -n 5 "$D/$name/tsp.log" >&2; unset "TSP_PID[$name]"; return 1; }
		sleep 0.1
	done
	[ "$n" -ge "$nlines" ] || { echo "test-cluster: only $n of $nlines lines of $name came up" >&2; return 1; }
	[ -f "$D/identity" ] || cp "$D/$name/state/identity" "$D/identity"
	TSP_KEY=$(awk '$1 == "public" { print $2 }' "$D/identity")
}

acct() { printf '%012d' $((100000000000 + $1)); }
# enrol STORE I: endpoint I's account, caller ID = its phone
enrol() {
	local acct key phone
	read -r acct key phone < <(sed -n "$(($2 + 1))p" "$D/keys")
	echo "$key" >"$D/key.$2"
	"$SEALCTL" tsp --db "$1" accounts add "$acct" --name "sim $2" --key "$D/key.$2" \
		--phone "$phone" --caller-id "$phone" >/dev/null
}
cdr_json() { "$SEALCTL" tsp --db "$PG" cdr --json; }
run_sim() { # run_sim NUMBER OUT ARGS...
	local num=$1 out=$2; shift 2
	"$SIM" run --tsp-key "$TSP_KEY" --tsp-number "$num" --lines "$D/ep%u" \
		--baud 115200 "$@" >"$out" 2>"$out.err"
}
sim_ok() {
	tail -n 1 "$1" | grep -q ' calls, [0-9]* as expected, 0 not$' || { cat "$1" "$1.err" | tail -n 30; return 1; }
}
# records_written: wait until every running instance has no call in
# progress and an empty store queue (records are written on the store's
# thread, after the lines have moved on).
records_written() {
	local n t
	for n in "${!TSP_PID[@]}"; do
		for ((t = 0; t < 1200; t++)); do
			status_of "$n" 2>/dev/null |
				jq -e '.daemon.calls == 0 and .daemon.store_queue == 0' >/dev/null && continue 2
			sleep 0.1
		done
		echo "instance $n still has calls in progress or store requests queued"
		return 1
	done
}
check_cdrs() { # check_cdrs SIM-OUTPUT [--instances LIST]
	records_written || return 1
	cdr_json >"$W/cdr.json" || return 1
	"$HERE/check-cdrs.py" "$W/cdr.json" "$@"
}
# record_field CALLER-INDEX FIELD: from the cluster's export
record_field() {
	cdr_json | python3 -c 'import json, sys
for r in json.load(sys.stdin):
    if r["caller_id"] == sys.argv[1]: print(r[sys.argv[2]] or "")' "$((5550000 + $1))" "$2"
}
wait_answered() { # wait_answered CALLER-INDEX...: each call's record is answered
	local i t
	for i in "$@"; do
		for ((t = 0; t < 300; t++)); do
			[ -n "$(record_field "$i" answer_time 2>/dev/null)" ] && continue 2
			sleep 0.1
		done
		echo "the call of endpoint $i was never answered"; return 1
	done
}
status_of() { "$SEALCTL" status --json --socket "$D/$1/sock"; }

# ---------------------------------------------------------------- 1 store
# (a database of its own: the cases leave it as they please)
CONTRACT=$(pg_createdb contract) || exit 1
check "the store's contract on a real PostgreSQL (test_tspstore_shared)" \
	env SEALINE_TEST_PG="$CONTRACT" "$TOP/tests/unit/build/test_tspstore_shared"
# Store and forward's spool on the same server: a TSP killed after each of
# its durable steps loses and doubles nothing (tests/unit/test_tspspool.c).
SPOOLDB=$(pg_createdb spool) || exit 1
check "the spool killed at every durable step, on PostgreSQL (test_tspspool)" \
	env SEALINE_TEST_PG="$SPOOLDB" "$TOP/tests/unit/build/test_tspspool"

# ---------------------------------------------------------------- 2 migration
SQL=$D/solo.db
for ((i = 0; i < NEP; i++)); do enrol "$SQL" $i; done
# Who calls whom below: the callee authorises its caller.
authorise_pair() { "$SEALCTL" tsp --db "$1" accounts authorise "$(acct "$3")" "$(acct "$2")" >/dev/null; }
for p in "0 1" "2 3" "20 21" "22 21" "23 24" "33 34"; do authorise_pair "$SQL" $p; done
for ((i = 4; i < 12; i++)); do authorise_pair "$SQL" $i $((i + 8)); done
for ((i = 25; i < 29; i++)); do authorise_pair "$SQL" $i $((i + 4)); done
for ((i = 35; i < 41; i++)); do authorise_pair "$SQL" $i $((i + 6)); done

start_tsp a "$SQL" 6 || exit 1
run_sim 110 "$D/solo.out" --call "0 1 connected bytes=3000" --call "2 3 connected bytes=2000" --timeout 60
check "one TSP on SQLite: two calls" sim_ok "$D/solo.out"
check "TSP a stops cleanly" stop_tsp a
"$SEALCTL" tsp --db "$SQL" cdr --json >"$D/solo.cdr"
"$SEALCTL" tsp --db "$SQL" accounts list --json >"$D/solo.accounts"
# Two envelope records of store and forward, one held and one delivered,
# of an instance that no longer runs (its spool directory is elsewhere).
python3 - "$SQL" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for sid, state, done, receipt in ((0x51, "held", 0, ""), (0x52, "delivered", 1800000360000, "sealine-receipt 1\n")):
    c.execute("INSERT INTO spool (sid, envelope, sender, recipient, size, bucket, sha256,"
              " state, instance, received_ms, accepted_ms, deliver_window, expires_ms,"
              " next_ms, attempts, done_ms, receipt) VALUES (?, ?, '000000000001',"
              " '000000000002', 70185, 131072, ?, ?, 'solo-old', 1800000000000,"
              " 1800000001000, 1360, 1800604801000, 1800003600000, 1, ?, ?)",
              (sid, bytes([sid] * 16), bytes(range(32)), state, done, receipt))
c.commit()
PY
"$SEALCTL" tsp --db "$SQL" spool --all --json >"$D/solo.spool"
check "migrate SQLite -> PostgreSQL" "$SEALCTL" tsp migrate --from "sqlite:$SQL" --to "$PG"
same_as_solo() {
	"$SEALCTL" tsp --db "$PG" cdr --json >"$D/pg.cdr" &&
		"$SEALCTL" tsp --db "$PG" accounts list --json >"$D/pg.accounts" &&
		"$SEALCTL" tsp --db "$PG" spool --all --json >"$D/pg.spool" &&
		cmp "$D/solo.cdr" "$D/pg.cdr" && cmp "$D/solo.accounts" "$D/pg.accounts" &&
		cmp "$D/solo.spool" "$D/pg.spool" &&
		[ "$(jq length "$D/pg.cdr")" = 2 ] && [ "$(jq length "$D/pg.accounts")" = "$NEP" ] &&
		[ "$(jq length "$D/pg.spool")" = 2 ]
}
check "migrate: every account (keys, bindings, callers), call record and envelope record the same" same_as_solo
check "migrate again: nothing to change" "$SEALCTL" tsp migrate --from "$SQL" --to "$PG"
conflict() {
	"$SEALCTL" tsp --db "$PG" accounts disable "$(acct 47)" >/dev/null || return 1
	if "$SEALCTL" tsp migrate --from "$SQL" --to "$PG" >"$W/mig.out" 2>&1; then
		echo "a conflicting migration succeeded"; return 1
	fi
	grep -q "account $(acct 47) differs in the destination" "$W/mig.out" || { cat "$W/mig.out"; return 1; }
	"$SEALCTL" tsp --db "$PG" accounts show "$(acct 47)" | grep -q ': disabled' || { echo "overwritten"; return 1; }
	"$SEALCTL" tsp --db "$PG" accounts enable "$(acct 47)" >/dev/null
}
check "migrate: an account that differs is reported, not overwritten" conflict

# ---------------------------------------------------------------- 3 two instances
start_tsp a "$PG" 6 || exit 1
start_tsp b "$PG" 6 || exit 1
store_up() {
	status_of a | jq -e '.daemon.store_state == "up" and .daemon.instance == "a"' >/dev/null &&
		status_of b | jq -e '.daemon.store_state == "up" and .daemon.backlog == 0' >/dev/null
}
check "sealctl status: both instances on the store" store_up
# Four calls at once through 100: the hunt group's first idle lines are
# a's and b's in turn, and each instance dials out on lines of its own.
SPECS=()
for ((i = 4; i < 8; i++)); do SPECS+=(--call "$i $((i + 8)) connected bytes=4000"); done
run_sim 100 "$D/two.out" "${SPECS[@]}" --timeout 90
check "two instances: 4 calls through the shared hunt group" sim_ok "$D/two.out"
check "two instances: one export holds every record, from both" check_cdrs "$D/two.out" --instances a,b

# An account's limit, across instances: 21 takes one call at a time.
"$SEALCTL" tsp --db "$PG" accounts limit "$(acct 21)" 1 >/dev/null
run_sim 110 "$D/limit1.out" --call "20 21 connected bytes=1000 hold=6000" --timeout 60 &
LIM=$!
check "limit: the first call (through a) is up" wait_answered 20
run_sim 120 "$D/limit2.out" --call "22 $(acct 21) nak:BUSY:2" --timeout 60
check "limit: a second call to it through b is refused BUSY" sim_ok "$D/limit2.out"
wait $LIM
check "limit: the first call completes" sim_ok "$D/limit1.out"
limit_records() {
	cat "$D/limit1.out" "$D/limit2.out" >"$D/limit.out"
	check_cdrs "$D/limit.out" --instances a,b &&
		grep -q "account $(acct 21) has 1 calls in progress" "$D/b/tsp.log"
}
check "limit: the records say completed (a) and busy (b)" limit_records

# ---------------------------------------------------------------- 4 kill -9
run_sim 120 "$D/kill.out" --call "23 24 dropped bytes=1000 hold=30000" --timeout 90 &
KILLSIM=$!
check "kill -9: a call through b is up" wait_answered 23
kill_b() { stop_tsp b KILL; }
check "kill -9: instance b is killed mid-call" kill_b
wait $KILLSIM
check "kill -9: the caller's line drops" sim_ok "$D/kill.out"
start_tsp c "$PG" 4 || exit 1
interrupted() {
	local t
	for ((t = 0; t < 400; t++)); do
		[ "$(record_field 23 outcome)" = interrupted ] && break
		sleep 0.1
	done
	[ "$(record_field 23 outcome)" = interrupted ] || { echo "outcome $(record_field 23 outcome)"; return 1; }
	[ -n "$(record_field 23 answer_time)" ] && [ "$(record_field 23 recipient_account)" = "$(acct 24)" ] ||
		{ echo "incomplete record"; return 1; }
	grep -q 'instances whose lease expired closed as interrupted' "$D/a/tsp.log" "$D/c/tsp.log"
}
check "kill -9: once b's lease expired, another instance closed its call as interrupted" interrupted
start_tsp b "$PG" 6 || exit 1
grep -q "its lease in the store had not expired" "$D/b/tsp.log" && bad "restart of b: it found its lease held after it expired" ||
	ok "restart of b: its lease had expired, no warning"

# ---------------------------------------------------------------- 5 the database fails
SPECS=()
for ((i = 25; i < 29; i++)); do SPECS+=(--call "$i $((i + 4)) connected bytes=3000 hold=8000"); done
run_sim 100 "$D/outage.out" "${SPECS[@]}" --timeout 120 &
OUTSIM=$!
check "database outage: 4 calls up" wait_answered 25 26 27 28
pg_stop fast
run_sim 110 "$D/refused.out" --call "33 34 nak:UNAVAILABLE" --timeout 60
check "database down: a new call gets NAK UNAVAILABLE" sim_ok "$D/refused.out"
wait $OUTSIM
check "database down: the bridged calls went on and completed" sim_ok "$D/outage.out"
backlogged() {
	local n=0 s
	for s in a b; do
		status_of $s | jq -e '.daemon.store_state == "unreachable"' >/dev/null || { echo "$s: not unreachable"; return 1; }
		n=$((n + $(status_of $s | jq -r .daemon.backlog)))
	done
	[ -s "$D/a/state/cdr-backlog" ] || [ -s "$D/b/state/cdr-backlog" ] || { echo "no backlog on disk"; return 1; }
	[ "$n" -ge 5 ] || { echo "$n events in the backlogs"; return 1; }
}
check "database down: the records wait in the instances' backlogs on disk" backlogged
pg_start
all_caught_up() {
	local s
	for s in a b c; do
		status_of $s | jq -e '.daemon.store_state == "up" and .daemon.backlog == 0' >/dev/null || return 1
	done
}
caught_up() {
	local t s
	for ((t = 0; t < 300; t++)); do
		all_caught_up && break
		sleep 0.2
	done
	all_caught_up || { echo "not every instance is up with an empty backlog"; return 1; }
	for s in a b; do [ ! -s "$D/$s/state/cdr-backlog" ] || { echo "$s: backlog not empty"; return 1; }; done
	cat "$D/outage.out" "$D/refused.out" >"$D/outage-all.out"
	check_cdrs "$D/outage-all.out"
}
check "database back: every record written, nothing lost (backlogs empty)" caught_up

# ---------------------------------------------------------------- 6 three instances
run_sim 100 "$D/three-ab.out" --call "35 41 connected" --call "36 42 connected" \
	--call "37 43 connected" --call "38 44 connected" --timeout 90 &
S1=$!
run_sim 130 "$D/three-c.out" --call "39 45 connected" --call "40 46 connected" --timeout 90
wait $S1
cat "$D/three-ab.out" "$D/three-c.out" >"$D/three.out"
check "three instances: 6 calls through a, b and c" sim_ok "$D/three-c.out"
check "three instances: the hunt group's calls too" sim_ok "$D/three-ab.out"
three_records() {
	check_cdrs "$D/three.out" &&
		cdr_json | jq -e '[.[].tsp_instance] | unique == ["a", "b", "c"]' >/dev/null
}
check "three instances: one export with the records of a, b and c" three_records
whole_export() {
	local n
	"$SEALCTL" tsp --db "$PG_CONN" cdr --csv >"$W/all.csv" || return 1
	n=$(($(wc -l <"$W/all.csv") - 1))
	[ "$n" = "$(cdr_json | jq length)" ] && [ "$n" = 20 ] || { echo "$n CSV rows"; return 1; }
}
check "sealctl tsp cdr --csv exports the whole cluster (connection string)" whole_export

# ---------------------------------------------------------------- 7 terminal server
# ser2net serves exchange lines 140 (RFC 2217) and 141 (raw TCP); the
# fourth instance, s, has only those two lines.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
P0=$(free_port) P1=$(free_port)
{
	echo "connection: &ts0"
	echo "  accepter: telnet(rfc2217),tcp,127.0.0.1,$P0"
	echo "  connector: serialdev,$D/ts-0,115200n81,local"
	echo "connection: &ts1"
	echo "  accepter: tcp,127.0.0.1,$P1"
	echo "  connector: serialdev,$D/ts-1,115200n81,local"
} >"$D/ser2net.yaml"
ser2net -n -u -c "$D/ser2net.yaml" -P "$D/ser2net.pid" >"$D/ser2net.log" 2>&1 &
S2N_PID=$!
authorise_pair "$PG" 48 49
authorise_pair "$PG" 50 51
mkdir -p "$D/s/state"
cp "$D/identity" "$D/s/state/identity"
printf '[agent]\nlog_level = debug\n[tsp]\nstore = %s\ninstance = s\nlines = ts0=rfc2217://127.0.0.1:%s, ts1=tcp://localhost:%s\nbaud = 115200\nanswer_timeout = 10\n' \
	"$PG" "$P0" "$P1" >"$D/s/sealtspd.conf"
ts_idle() { # both lines connected and idle
	local t
	for ((t = 0; t < 300; t++)); do
		status_of s 2>/dev/null | jq -e '[.lines[] | select(.state == "idle" and .modem == "ready")] | length == 2' >/dev/null && return 0
		sleep 0.1
	done
	echo "the terminal server's lines are not idle"; tail -n 20 "$D/s/tsp.log"; return 1
}
"$SEALTSPD" -f -c "$D/s/sealtspd.conf" --state-dir "$D/s/state" --socket "$D/s/sock" 2>>"$D/s/tsp.log" &
TSP_PID[s]=$!
check "terminal server: both lines (RFC 2217, raw TCP) connect through ser2net and come up" ts_idle
run_sim 140 "$D/ts1.out" --call "48 49 connected bytes=20000" --timeout 60
check "terminal server: a call answered over RFC 2217, dialled out over TCP, data exact" sim_ok "$D/ts1.out"
ts_record() {
	check_cdrs "$D/ts1.out" || return 1
	[ "$(record_field 48 line)" = ts0 ] || { echo "line $(record_field 48 line)"; return 1; }
	grep -q 'line ts0: connected to rfc2217://127.0.0.1' "$D/s/tsp.log" &&
		grep -q 'line ts1: connected to tcp://localhost' "$D/s/tsp.log"
}
check "terminal server: the record names line ts0, bytes as sent" ts_record
check "terminal server: the lines come back after the hangup" ts_idle
run_sim 140 "$D/ts2.out" --call "50 51 connected bytes=5000" --timeout 60
check "terminal server: a second call through the same ports" sim_ok "$D/ts2.out"

for s in a b c s; do check "instance $s stops cleanly on SIGTERM" stop_tsp $s; done
kill "$S2N_PID" 2>/dev/null
wait "$S2N_PID" 2>/dev/null
if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' "$D"/[abcs]/tsp.log; then
	bad "sanitizers: a sealtspd log has a report"; grep -m3 -A5 -e 'Sanitizer' -e 'runtime error' "$D"/[abcs]/tsp.log
else ok "sanitizers: no report from any sealtspd"; fi

echo "tsp-cluster: $passed passed, $failed failed"
[ "$failed" = 0 ]
