#!/bin/bash
# tests/bench/reliable.sh - reliable mode's goodput on a clean and a noisy
# line, in the VM (scripts/bench runs it; alone: scripts/vm-run
# tests/bench/reliable.sh).
#
# On the UART pair paced at 115200 baud, in one boot, BYTES of random
# data A -> B with tests/bench/bulk (byte-exact or the run fails):
#
#   raw       no line discipline, clean line: the baseline
#   datagram  sealine in datagram mode, clean line
#   reliable  sealine in reliable mode: clean, then with one bit flipped
#             in every 100,000 bytes (1e-5 per byte) and in every 10,000
#             (1e-4) in both directions (the ACKs cross the same line)
#
# A datagram line at those error rates delivers holes, so it has no
# goodput to compare: its share of bytes kept is the simulation's in
# Documentation/protocol.rst. Figures are ratios against raw of the same
# boot; targets (issue: reliable delivery): clean reliable >= 0.98 x raw,
# 1e-5 >= 0.90 x clean reliable, 1e-4 >= 0.60 x clean reliable.
#
# Writes /out/reliable.txt (a table), /out/reliable.rst (the same for
# Documentation/performance.rst) and /out/reliable.figures ("key value").
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

BENCH=$SEALINE_ROOT/tests/bench
BAUD=115200
BYTES=${SL_RELIABLE_BYTES:-262144}
OUT=${SL_OUT:-/out}
declare -A G

[[ -x $BENCH/bulk ]] || sl_die "$BENCH/bulk is not built (make -C tests/bench)"

# run NAME SRC DST: one paced transfer; G[NAME] = goodput in bytes/s.
run() {
	local out timeout=$((BYTES * 10 * 4 / BAUD + 120))
	sl_wire reset-stats >/dev/null
	if out=$("$BENCH/bulk" -n "$BYTES" -t "$timeout" -s "$((RANDOM + 1))" "$2" "$3"); then
		[[ $out =~ goodput_Bps=([0-9.]+) ]] || sl_die "bulk printed no goodput: $out"
		G[$1]=${BASH_REMATCH[1]}
		sl_pass "$1: $BYTES bytes byte-exact at ${G[$1]} B/s"
	else
		G[$1]=0
		sl_fail "$1: $BYTES bytes did not arrive byte-exact"
	fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
meets() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "met" : "NOT met" }'; }

sl_assert "sealine-wire answers" sl_wire ping
sl_wire pace "$BAUD" >/dev/null
sl_setup_lines "$BAUD"
run raw "$SL_TTY_A" "$SL_TTY_B"

sl_load_module || sl_die "cannot load sealine.ko"
sl_attach "$SL_TTY_A"
sl_attach "$SL_TTY_B"
VA=$(sl_vtty_of "$SL_TTY_A")
VB=$(sl_vtty_of "$SL_TTY_B")
sl_assert "datagram key" sl_pair_key 1
run datagram "$VA" "$VB"

for t in "$SL_TTY_A" "$SL_TTY_B"; do
	"$SEALCTL" clear-keys "$t"
	"$SEALCTL" set-line "$t" --mode reliable
done
sl_assert "reliable key" sl_pair_key 2
run reliable "$VA" "$VB"
sl_wire flip 100000 >/dev/null
run reliable_1e5 "$VA" "$VB"
flips5=$(sl_wire_stat a2b flipped)
sl_wire flip 10000 >/dev/null
run reliable_1e4 "$VA" "$VB"
flips4=$(sl_wire_stat a2b flipped)
frame4=$(sl_stat "$SL_TTY_A" frame_size)
rexmit=$(sl_stat "$SL_TTY_A" retransmits)
sl_wire clean >/dev/null

r_dg=$(ratio "${G[datagram]}" "${G[raw]}")
r_rel=$(ratio "${G[reliable]}" "${G[raw]}")
r_5=$(ratio "${G[reliable_1e5]}" "${G[reliable]}")
r_4=$(ratio "${G[reliable_1e4]}" "${G[reliable]}")
{
	echo "Reliable mode: goodput at $BAUD baud, $BYTES bytes A -> B per transfer"
	printf '  %-34s %10s  %s\n' "transfer" "bytes/s" "ratio"
	printf '  %-34s %10.0f  %s\n' "raw UART, clean" "${G[raw]}" "1"
	printf '  %-34s %10.0f  %s x raw\n' "sealine datagram, clean" "${G[datagram]}" "$r_dg"
	printf '  %-34s %10.0f  %s x raw (target >= 0.98: %s)\n' "sealine reliable, clean" "${G[reliable]}" "$r_rel" "$(meets "$r_rel" 0.98)"
	printf '  %-34s %10.0f  %s x clean (target >= 0.90: %s)\n' "reliable, 1e-5 bit flips per byte" "${G[reliable_1e5]}" "$r_5" "$(meets "$r_5" 0.90)"
	printf '  %-34s %10.0f  %s x clean (target >= 0.60: %s)\n' "reliable, 1e-4 bit flips per byte" "${G[reliable_1e4]}" "$r_4" "$(meets "$r_4" 0.60)"
	echo "  bits flipped A->B: $flips5 at 1e-5, $flips4 at 1e-4; frame size at 1e-4: $frame4; A's retransmits in all: $rexmit"
} >"$OUT/reliable.txt"
{
	echo "Reliable mode at $BAUD baud, $BYTES bytes A -> B per transfer:"
	echo
	echo "=================================  ==========  ====================="
	echo "transfer                           bytes/s     ratio"
	echo "=================================  ==========  ====================="
	printf '%-33s  %10.0f  %s\n' "raw UART, clean" "${G[raw]}" "1 (baseline)"
	printf '%-33s  %10.0f  %s\n' "sealine datagram, clean" "${G[datagram]}" "$r_dg x raw"
	printf '%-33s  %10.0f  %s\n' "sealine reliable, clean" "${G[reliable]}" "$r_rel x raw"
	printf '%-33s  %10.0f  %s\n' "reliable, 1e-5 flips per byte" "${G[reliable_1e5]}" "$r_5 x clean reliable"
	printf '%-33s  %10.0f  %s\n' "reliable, 1e-4 flips per byte" "${G[reliable_1e4]}" "$r_4 x clean reliable"
	echo "=================================  ==========  ====================="
} >"$OUT/reliable.rst"
{
	for k in "${!G[@]}"; do echo "reliable_goodput_$k ${G[$k]}"; done
	echo "reliable_ratio_clean_raw $r_rel"
	echo "reliable_ratio_1e5_clean $r_5"
	echo "reliable_ratio_1e4_clean $r_4"
	echo "datagram_ratio_clean_raw $r_dg"
} >"$OUT/reliable.figures"
cat "$OUT/reliable.txt"

sl_wire pace 0 >/dev/null
sl_pair_down
sl_check_dmesg
