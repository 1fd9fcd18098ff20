#!/usr/bin/env bash
# tests/tsp/bench-tsp.sh - the TSP's benchmark (issue 13; part of
# "make bench", scripts/bench runs it): one sealtspd process (the -O2
# build/bin/sealtspd) between simulated endpoints (sim-endpoints) on the
# simulated exchange's ptys, which paces every line at 115200 baud (10
# bits a byte), with its store on SQLite and on PostgreSQL (a server
# started for the run, fsync on).
#
#   capacity   N calls (--calls, default 100) bridged at once, data
#              streaming through each at the full line rate (the
#              directions take turns, STREAM_S = 20 s each; the calls
#              placed 50 ms apart, STAGGER_MS); the TSP's
#              CPU time (utime + stime of all its threads,
#              /proc/PID/stat) over a window of WINDOW_S = 6 s that
#              starts once 90 % of the calls relay (or no more come:
#              on a loaded host some fail to set up); the calls
#              relaying, counted just before and just after the
#              window and averaged; calls per core =
#              those calls / the TSP's share of one core. SQLite is the
#              baseline of the ratio PostgreSQL / SQLite.
#   setup      the call-setup time of P probe calls (--probes, default
#              10) with 0, then L1 and L2 (--loads, default "100 500")
#              calls in progress on the same TSP (bridged, held; placed
#              STAGGER_MS apart); setup:
#              the endpoint's ATDT to its first byte relayed to the
#              answerer (median), ring delays included; each load's
#              ratio to the time with no load (the baseline).
#
# Speed never fails the run: calls that do not end as expected do. Writes
# OUT/summary.txt, OUT/summary.rst and OUT/figures ("key value" lines).
#
# Usage: tests/tsp/bench-tsp.sh [--out DIR] [--calls N] [--probes P]
#                               [--loads "L1 L2"] [--stores "sqlite postgresql"]
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
OUT=$TOP/build/bench/tsp CALLS=100 PROBES=10 LOADS="100 500"
STORES="sqlite postgresql"
die() { echo "bench-tsp: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--out) OUT=$2; shift 2 ;;
	--calls) CALLS=$2; shift 2 ;;
	--probes) PROBES=$2; shift 2 ;;
	--loads) LOADS=$2; shift 2 ;;
	--stores) STORES=$2; shift 2 ;;
	-h | --help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done
for v in "$CALLS" "$PROBES" $LOADS; do [[ $v =~ ^[0-9]+$ ]] || die "'$v' is not a number"; done
MAXLOAD=0
for l in $LOADS; do [ "$l" -gt $MAXLOAD ] && MAXLOAD=$l; done
[ $((2 * (MAXLOAD + PROBES))) -le 1100 ] && [ $((2 * CALLS)) -le 1100 ] ||
	die "at most 1100 endpoints: 2 x (the largest load + probes) and 2 x calls"
make -s -C "$HERE" build/sim-endpoints || exit 2
make -s -C "$TOP/tests/exchange" sealine-exchange || exit 2
make -s -C "$TOP/agent" sealctl sealtspd >/dev/null || exit 2
EXCHANGE=$TOP/tests/exchange/sealine-exchange SEALCTL=$TOP/build/bin/sealctl
SEALTSPD=${SEALTSPD:-$TOP/build/bin/sealtspd} SIM=$HERE/build/sim-endpoints
BAUD=115200 RING=0.2 HZ=$(getconf CLK_TCK) STREAM_S=20 WINDOW_S=6 STAGGER_MS=50
# shellcheck source=pg.sh
. "$HERE/pg.sh"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd -P)
W=$(mktemp -d /tmp/sealine-tspbench.XXXXXX)
EX_PID= TSP_PID= SIMS=() FAILED=0
cleanup() {
	local p
	for p in "${SIMS[@]}" $TSP_PID $EX_PID; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pg_teardown
	# What a failed run leaves to look at: the simulators' reports and
	# the TSPs' logs.
	if [ "$FAILED" != 0 ]; then
		rm -rf "$OUT/failed"
		mkdir -p "$OUT/failed"
		(cd "$W" && find . -maxdepth 2 \( -name '*.out' -o -name tsp.log \) -print0 |
			xargs -0 -r cp --parents -t "$OUT/failed")
	fi
	rm -rf "$W"
}
trap cleanup EXIT
declare -A F
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now() { date +%s.%N; }

# setup_world DIR NPAIRS: the exchange (2 x NPAIRS TSP lines, as many
# endpoints), their keys, an SQLite store with every account (I calls
# NPAIRS + I, and, for the probes, any I calls I + 1).
setup_world() {
	local d=$1 n=$2 i acct key phone
	mkdir -p "$d"
	: >"$d/lines"
	for ((i = 0; i < 2 * n; i++)); do echo "100=pty:$d/tsp-$i" >>"$d/lines"; done
	for ((i = 0; i < 2 * n; i++)); do echo "$((5550000 + i))=pty:$d/ep$i" >>"$d/lines"; done
	"$EXCHANGE" --lines-file "$d/lines" --baud $BAUD --pace --ring-interval $RING --log "$d/ex.log" &
	EX_PID=$!
	"$SIM" keys --count $((2 * n)) >"$d/keys"
	i=0
	while read -r acct key phone; do
		echo "$key" >"$d/k"
		"$SEALCTL" tsp --db "$d/tsp.db" accounts add "$acct" --name b --key "$d/k" \
			--phone "$phone" --caller-id "$phone" >/dev/null
		i=$((i + 1))
	done <"$d/keys"
	for ((i = 0; i < n; i++)); do
		"$SEALCTL" tsp --db "$d/tsp.db" accounts authorise "$(printf '%012d' $((100000000000 + n + i)))" \
			"$(printf '%012d' $((100000000000 + i)))" >/dev/null
	done
}

# start_tsp DIR STORE NLINES: sealtspd on the exchange's TSP lines.
start_tsp() {
	local d=$1 store=$2 n=$3 k
	printf '[agent]\n[tsp]\nstore = %s\ninstance = bench\nlines = %s/tsp-*\nbaud = %s\n' \
		"$store" "$d" $BAUD >"$d/conf"
	"$SEALTSPD" -f -c "$d/conf" --state-dir "$d/state" --socket "$d/sock" 2>"$d/tsp.log" &
	TSP_PID=$!
	for ((k = 0; k < 600; k++)); do
		[ "$(lines_in "$d" idle)" = "$n" ] && break
		sleep 0.1
	done
	[ "$(lines_in "$d" idle)" = "$n" ] || { echo "bench-tsp: the TSP's lines did not come up" >&2; return 1; }
	KEY=$(awk '$1 == "public" { print $2 }' "$d/state/identity")
}
lines_in() { # lines_in DIR STATE: how many TSP lines are in it
	"$SEALCTL" status --json --socket "$1/sock" 2>/dev/null |
		jq "[.lines[] | select(.state == \"$2\")] | length" 2>/dev/null || echo 0
}
wait_lines() { # wait_lines DIR STATE N [PID]: until N lines are in STATE
	local k n best=0 still=0
	for ((k = 0; k < 3000; k++)); do
		n=$(lines_in "$1" "$2")
		[ "$n" -ge "$3" ] && return 0
		# the simulator that makes the calls gave up or finished
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && break
		# no line more for 300 looks: the calls still missing failed
		if [ "$n" -gt "$best" ]; then best=$n still=0
		elif [ $((still += 1)) -ge 300 ]; then break; fi
		sleep 0.1
	done
	echo "bench-tsp: only $(lines_in "$1" "$2") of $3 lines reached $2" >&2
	return 1
}
stop_world() {
	local p
	for p in "${SIMS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	SIMS=()
	[ -n "$TSP_PID" ] && { kill "$TSP_PID"; wait "$TSP_PID" 2>/dev/null; }
	[ -n "$EX_PID" ] && { kill "$EX_PID"; wait "$EX_PID" 2>/dev/null; }
	TSP_PID= EX_PID=
}
sim_ok() { tail -n 1 "$1" | grep -q ' calls, [0-9]* as expected, 0 not$'; }
# The store location for a run: SQLite as set up, or PostgreSQL with the
# same accounts (sealctl tsp migrate into a fresh database).
store_for() { # store_for DIR STORE
	if [ "$2" = sqlite ]; then echo "$1/tsp.db"; return; fi
	local db=b$RANDOM$RANDOM conn
	conn=$(pg_createdb "$db") || return 1
	"$SEALCTL" tsp migrate --from "$1/tsp.db" --to "$conn" >/dev/null || return 1
	echo "$conn"
}

# ---------------------------------------------------------------- capacity
capacity() { # capacity STORE
	local s=$1 d=$W/cap-$1 store bytes=$((BAUD / 10 * STREAM_S)) c0 c1 t0 t1 ok k
	local relaying=0 samples=0
	setup_world "$d" "$CALLS"
	store=$(store_for "$d" "$s") || { FAILED=1; return; }
	start_tsp "$d" "$store" $((2 * CALLS)) || { FAILED=1; stop_world; return; }
	# I calls CALLS + I, the calls placed STAGGER_MS apart: setting up
	# every call in the same instant measures the simulator's key
	# exchanges on a shared host, not the TSP's relaying.
	for ((k = 0; k < CALLS; k++)); do
		echo "$k $((CALLS + k)) connected bytes=$bytes at=$((k * STAGGER_MS))"
	done >"$d/calls"
	"$SIM" run --tsp-key "$KEY" --tsp-number 100 --lines "$d/ep%u" --scenario "$d/calls" \
		--baud $BAUD --timeout 900 >"$d/sim.out" 2>&1 &
	SIMS=($!)
	# The calls relaying, one side of each streaming at the line rate
	# (the callers first, then the answerers): from 90 % of them on,
	# for WINDOW_S seconds, counted every second.
	# (On a host too loaded for the simulator some calls fail to set
	# up: then the window measures the calls that did.)
	wait_lines "$d" relay $((2 * CALLS * 9 / 10)) "${SIMS[0]}"
	# The calls relaying are counted just before and just after the
	# window, not in it: answering sealctl status costs the TSP CPU too.
	relaying=$(lines_in "$d" relay)
	if [ "$relaying" -ge 2 ]; then
		c0=$(cpu_ticks "$TSP_PID") t0=$(now)
		sleep "$WINDOW_S"
		c1=$(cpu_ticks "$TSP_PID") t1=$(now)
		relaying=$((relaying + $(lines_in "$d" relay))) samples=2
	else
		echo "bench-tsp: $s: no call relayed" >&2
		c0=0 c1=0 t0=0 t1=1 FAILED=1
	fi
	wait "${SIMS[0]}"
	SIMS=()
	ok=$(grep -c ' ok$' "$d/sim.out")
	sim_ok "$d/sim.out" || FAILED=1
	F[cap_${s}_calls]=$CALLS
	F[cap_${s}_ok]=$ok
	F[cap_${s}_relaying]=$(awk "BEGIN { printf \"%.0f\", ($samples ? $relaying / $samples / 2 : 0) }")
	F[cap_${s}_cpu_pct]=$(awk "BEGIN { printf \"%.1f\", ($c1 - $c0) / $HZ / ($t1 - $t0) * 100 }")
	F[cap_${s}_calls_per_core]=$(awk "BEGIN { c = ($c1 - $c0) / $HZ / ($t1 - $t0); n = $samples ? $relaying / $samples / 2 : 0; printf \"%.0f\", (c > 0 ? n / c : 0) }")
	stop_world
}

# ---------------------------------------------------------------- setup
probe() { # probe DIR LOAD: P calls among the endpoints after the load's
	local d=$1 l=$2 base=$((2 * MAXLOAD)) i spec=()
	for ((i = 0; i < PROBES; i++)); do
		spec+=(--call "$((base + 2 * i)) $((base + 2 * i + 1)) connected bytes=500")
	done
	"$SIM" run --tsp-key "$KEY" --tsp-number 100 --lines "$d/ep%u" "${spec[@]}" \
		--baud $BAUD --timeout 300 >"$d/probe-$l.out" 2>&1
	sim_ok "$d/probe-$l.out" || FAILED=1
	F[setup_${S}_${l}_s]=$(python3 - "$d/probe-$l.out" "$RING" <<-'PY'
	import statistics, sys
	calls = [dict(kv.split("=", 1) for kv in l.split()[1:-1]) for l in open(sys.argv[1]) if l.startswith("call ")]
	s = [float(c["setup"]) - float(sys.argv[2]) / 2 for c in calls if float(c["setup"]) > 0]
	print(f"{statistics.median(s):.3f}" if s else "nan")
	PY
	)
}

setup_under_load() { # setup_under_load STORE
	local s=$1 d=$W/setup-$1 store n=$((MAXLOAD + PROBES)) have=0 l i
	S=$s
	# Endpoint I < 2*MAXLOAD: load calls I -> I+1 (I even); the probes
	# after them, the same way.
	setup_world "$d" "$n"
	for ((i = 0; i < 2 * n; i += 2)); do
		"$SEALCTL" tsp --db "$d/tsp.db" accounts authorise "$(printf '%012d' $((100000000000 + i + 1)))" \
			"$(printf '%012d' $((100000000000 + i)))" >/dev/null
	done
	store=$(store_for "$d" "$s") || { FAILED=1; return; }
	start_tsp "$d" "$store" $((2 * n)) || { FAILED=1; stop_world; return; }
	probe "$d" 0
	for l in $LOADS; do
		# More held calls, up to l in progress.
		: >"$d/load-$l"
		for ((i = 2 * have; i < 2 * l; i += 2)); do
			echo "$i $((i + 1)) connected bytes=200 hold=900000 at=$(((i - 2 * have) / 2 * STAGGER_MS))" >>"$d/load-$l"
		done
		"$SIM" run --tsp-key "$KEY" --tsp-number 100 --lines "$d/ep%u" --scenario "$d/load-$l" \
			--baud $BAUD --timeout 1200 >"$d/load-$l.out" 2>&1 &
		SIMS+=($!)
		wait_lines "$d" relay $((2 * l)) "${SIMS[-1]}" || FAILED=1
		have=$l
		# the calls actually in progress around the probes
		F[setup_${S}_${l}_calls]=$(($(lines_in "$d" relay) / 2))
		probe "$d" "$l"
	done
	stop_world
}

date -u +%Y-%m-%dT%H:%MZ >"$W/date"
pg_setup "$W" on >/dev/null || die "PostgreSQL did not start"
for S in $STORES; do
	case $S in sqlite | postgresql) ;; *) die "unknown store '$S'" ;; esac
	echo "bench-tsp: capacity, $S: $CALLS calls streaming at $BAUD baud" >&2
	capacity "$S"
	echo "bench-tsp: setup time, $S: loads 0 $LOADS" >&2
	setup_under_load "$S"
done

# ---------------------------------------------------------------- report
g() { echo "${F[$1]:-nan}"; }
ratio() { awk "BEGIN { a = \"$1\"; b = \"$2\"; if (a == \"nan\" || b == \"nan\" || b + 0 == 0) print \"nan\"; else printf \"%.2f\", a / b }"; }
F[date]=$(cat "$W/date")
F[cpu]=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
F[cores]=$(nproc)
for S in $STORES; do
	for l in $LOADS; do F[setup_${S}_${l}_ratio]=$(ratio "$(g setup_${S}_${l}_s)" "$(g setup_${S}_0_s)"); done
done
F[cap_pg_over_sqlite]=$(ratio "$(g cap_postgresql_calls_per_core)" "$(g cap_sqlite_calls_per_core)")
for k in "${!F[@]}"; do printf '%s %s\n' "$k" "${F[$k]}"; done | sort >"$OUT/figures"
{
	echo "TSP benchmark, $(g date), $(g cores) cores ($(g cpu)); line rate $BAUD baud, paced"
	printf '%-12s %8s %12s %10s %10s %14s\n' store calls "as expected" relaying "TSP CPU" "calls/core"
	for S in $STORES; do
		printf '%-12s %8s %12s %10s %9s%% %14s\n' "$S" "$(g cap_${S}_calls)" "$(g cap_${S}_ok)" \
			"$(g cap_${S}_relaying)" "$(g cap_${S}_cpu_pct)" "$(g cap_${S}_calls_per_core)"
	done
	echo "calls per core, PostgreSQL / SQLite: $(g cap_pg_over_sqlite) (target: at least 1000 calls per core)"
	printf '%-12s %12s' store "setup, 0 (s)"
	for l in $LOADS; do printf ' %16s' "$l in progress"; done
	echo
	for S in $STORES; do
		printf '%-12s %12s' "$S" "$(g setup_${S}_0_s)"
		for l in $LOADS; do printf ' %9s (x%s, %s up)' "$(g setup_${S}_${l}_s)" "$(g setup_${S}_${l}_ratio)" "$(g setup_${S}_${l}_calls)"; done
		echo
	done
	echo "(x: ratio to the setup time with no call in progress; target: not growing with the load;"
	echo " up: the calls actually in progress during the probes, when fewer were set up)"
} >"$OUT/summary.txt"
{
	echo "Measured $(g date) on $(g cores) cores ($(g cpu)), line rate $BAUD baud (paced):"
	echo
	echo "==========  =====  ===========  ========  =======  ==========="
	echo "store       calls  as expected  relaying  TSP CPU  calls/core"
	echo "==========  =====  ===========  ========  =======  ==========="
	for S in $STORES; do
		printf '%-10s  %-5s  %-11s  %-8s  %-7s  %s\n' "$S" "$(g cap_${S}_calls)" "$(g cap_${S}_ok)" \
			"$(g cap_${S}_relaying)" "$(g cap_${S}_cpu_pct) %" "$(g cap_${S}_calls_per_core)"
	done
	echo "==========  =====  ===========  ========  =======  ==========="
	echo
	echo "PostgreSQL / SQLite, calls per core: $(g cap_pg_over_sqlite)."
	echo
	printf '==========  ============'; for l in $LOADS; do printf '  ========================='; done; echo
	printf 'store       setup, 0 (s)'; for l in $LOADS; do printf '  %-25s' "$l calls (s, ratio, up)"; done; echo
	printf '==========  ============'; for l in $LOADS; do printf '  ========================='; done; echo
	for S in $STORES; do
		printf '%-10s  %-12s' "$S" "$(g setup_${S}_0_s)"
		for l in $LOADS; do printf '  %-25s' "$(g setup_${S}_${l}_s) (x$(g setup_${S}_${l}_ratio), $(g setup_${S}_${l}_calls) up)"; done
		echo
	done
	printf '==========  ============'; for l in $LOADS; do printf '  ========================='; done; echo
} >"$OUT/summary.rst"
cat "$OUT/summary.txt"
[ "$FAILED" = 0 ] || { echo "bench-tsp: FAILED: a call did not end as expected (the simulators' reports and the TSPs' logs are in $OUT/failed)" >&2; exit 1; }
