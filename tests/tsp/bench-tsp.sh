#!/usr/bin/env bash
# tests/tsp/bench-tsp.sh - TSP benchmark (not part of check): N concurrent
# bridged calls through one TSP process (the -O2 build/bin/sealtspd) with the
# exchange pacing every call at its line rate (10 bits per byte), at
# 115200 and 9600 baud. Per run: calls that ended as expected, the relayed
# goodput per call as a ratio of the paced line rate (1.0 = full line
# rate; each direction sends in its turn), the TSP's CPU use (utime+stime
# from /proc/PID/stat over the run), and call setup time from ATDT to the
# caller's first relayed byte at the recipient, minus the exchange's ring
# delay before the TSP answers (caller ID comes half a ring interval
# after the first RING; the recipient answers its first RING at once).
#
# Usage: tests/tsp/bench-tsp.sh [CALLS...]   (default: 10 50 100)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
case ${1:-} in -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
SIZES=${*:-10 50 100}
make -s -C "$HERE" build/sim-endpoints || exit 2
make -s -C "$TOP/tests/exchange" sealine-exchange || exit 2
make -s -C "$TOP/agent" sealctl sealtspd >/dev/null || exit 2
EXCHANGE=$TOP/tests/exchange/sealine-exchange SEALCTL=$TOP/build/bin/sealctl
SEALTSPD=${SEALTSPD:-$TOP/build/bin/sealtspd} SIM=$HERE/build/sim-endpoints
RING=0.2 HZ=$(getconf CLK_TCK)
W=$(mktemp -d /tmp/sealine-tspbench.XXXXXX)
EX_PID= TSP_PID=
cleanup() { [ -n "$TSP_PID" ] && kill "$TSP_PID" 2>/dev/null; [ -n "$EX_PID" ] && kill "$EX_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

printf '%-7s %6s %9s %10s %12s %10s %12s\n' baud calls ok goodput tsp_cpu_% setup_s bytes/dir
for baud in 115200 9600; do
	# About 2 s of data per direction at the line rate.
	bytes=$((baud / 10 * 2))
	for n in $SIZES; do
		d=$W/$baud-$n; mkdir -p "$d"
		: >"$d/lines"
		for ((i = 0; i < 2 * n; i++)); do echo "100=pty:$d/tsp-$i" >>"$d/lines"; done
		for ((i = 0; i < 2 * n; i++)); do echo "$((5550000 + i))=pty:$d/ep$i" >>"$d/lines"; done
		"$EXCHANGE" --lines-file "$d/lines" --baud "$baud" --pace --ring-interval $RING --log "$d/ex.log" & EX_PID=$!
		"$SIM" keys --count $((2 * n)) >"$d/keys"
		i=0
		while read -r acct key phone; do
			echo "$key" >"$d/k"
			"$SEALCTL" tsp --db "$d/tsp.db" accounts add "$acct" --name b --key "$d/k" --phone "$phone" --caller-id "$phone" >/dev/null
			[ $i -ge "$n" ] && "$SEALCTL" tsp --db "$d/tsp.db" accounts authorise "$acct" "$(printf '%012d' $((100000000000 + i - n)))" >/dev/null
			i=$((i + 1))
		done <"$d/keys"
		printf '[agent]\n[tsp]\nstore = %s\ninstance = bench\nlines = %s/tsp-*\nbaud = %s\n' "$d/tsp.db" "$d" "$baud" >"$d/conf"
		sleep 0.3
		"$SEALTSPD" -f -c "$d/conf" --state-dir "$d/state" --socket "$d/sock" 2>"$d/tsp.log" & TSP_PID=$!
		for ((k = 0; k < 100; k++)); do [ -s "$d/state/identity" ] && break; sleep 0.1; done
		sleep 1.5
		key=$(awk '$1 == "public" { print $2 }' "$d/state/identity")
		c0=$(cpu_ticks $TSP_PID) t0=$(date +%s.%N)
		"$SIM" run --tsp-key "$key" --tsp-number 100 --lines "$d/ep%u" --pairs "$n" --bytes $bytes --baud "$baud" --timeout 600 >"$d/sim.out" 2>&1
		c1=$(cpu_ticks $TSP_PID) t1=$(date +%s.%N)
		kill "$TSP_PID"; wait "$TSP_PID" 2>/dev/null; TSP_PID=
		kill "$EX_PID"; wait "$EX_PID" 2>/dev/null; EX_PID=
		python3 - "$d/sim.out" "$baud" "$bytes" "$n" "$c0" "$c1" "$t0" "$t1" "$HZ" "$RING" <<-'PY'
		import sys, statistics
		out, baud, nbytes, n, c0, c1, t0, t1, hz, ring = sys.argv[1:]
		baud, nbytes, n, hz, ring = int(baud), int(nbytes), int(n), int(hz), float(ring)
		calls = [dict(kv.split("=", 1) for kv in l.split()[1:-1]) for l in open(out) if l.startswith("call ")]
		ok = sum(1 for l in open(out) if l.startswith("call ") and l.rstrip().endswith(" ok"))
		line_s = 2 * nbytes * 10 / baud        # both directions, in turn, at line rate
		good = [line_s / float(c["duration"]) for c in calls if float(c["duration"]) > 0]
		setup = [float(c["setup"]) - ring / 2 for c in calls if float(c["setup"]) > 0]
		cpu = (int(c1) - int(c0)) / hz / (float(t1) - float(t0)) * 100
		print(f"{baud:<7} {n:6} {ok:4}/{len(calls):<4} {statistics.median(good) if good else 0:10.3f} {cpu:12.1f} {statistics.median(setup) if setup else 0:10.3f} {nbytes:12}")
		PY
	done
done
echo "goodput: line-rate time of the data (2 x bytes/dir x 10 bits / baud) / the call's connected time (median; the caller's +++/ATH hangup, about 2.3 s, is part of the call); setup: median"
