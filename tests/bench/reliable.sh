#!/bin/bash
# tests/bench/reliable.sh - reliable mode's goodput and round trip on a
# clean and a noisy line, beside what a user would run instead, in the VM
# (scripts/bench runs it; alone: scripts/vm-run tests/bench/reliable.sh).
#
# On the UART pair paced at 115200 baud, in one boot, BYTES of random
# data A -> B with tests/bench/bulk (byte-exact or the run fails), and
# ECHOES messages of 16 bytes echoed back (tests/bench/rtt -b 16: the
# round trip, median and 90th percentile, every byte checked):
#
#   raw       no line discipline, clean line: the baseline
#   ppp       pppd on the bare ttys, each end in its own network
#             namespace, TCP across (tests/bench/pppnet.sh)
#   wg        the same with WireGuard over the PPP link, TCP inside it
#             (skipped, saying why, where the guest has no WireGuard)
#   datagram  sealine in datagram mode, clean line
#   reliable  sealine in reliable mode
#
# ppp, wg and reliable clean, then with one bit flipped in every 100,000
# bytes (1e-5 per byte) and in every 10,000 (1e-4) in both directions
# (the ACKs cross the same line). A bare or datagram line at those rates
# delivers damaged bytes or holes, so it has no goodput to compare (the
# datagram line's share of bytes kept is the simulation's in
# Documentation/protocol.rst).
#
# Every figure is also given as a ratio against raw of the same boot;
# the issue's targets (reliable delivery) are printed beside reliable's:
# clean >= 0.98 x raw, 1e-5 >= 0.90 x clean reliable, 1e-4 >= 0.60 x
# clean reliable. Nothing is asserted on speed.
#
# Writes /out/reliable.txt (tables), /out/reliable.rst (the same for
# Documentation/performance.rst) and /out/reliable.figures ("key value").
# SL_RELIABLE_BYTES (default 262144) and SL_RELIABLE_ECHOES (default 50)
# change the amount measured.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/bench/pppnet.sh"

BENCH=$SEALINE_ROOT/tests/bench
BAUD=115200
BYTES=${SL_RELIABLE_BYTES:-262144}
ECHOES=${SL_RELIABLE_ECHOES:-50}
ECHO_BYTES=16
OUT=${SL_OUT:-/out}
# the error rates, as sealine-wire's "flip N" (one bit in every N bytes)
RATES=(clean 1e5 1e4)
declare -A FLIP=([clean]=0 [1e5]=100000 [1e4]=10000)
# G[NAME]: goodput (B/s); E[NAME.med], E[NAME.p90]: echo round trip (ms);
# NAME is the transfer, with _1e5 or _1e4 for the noisy line;
# FLIPPED[NAME]: bits sealine-wire flipped A -> B during the transfer;
# RESENT[NAME]: TCP segments A resent during it (pppd, WireGuard)
declare -A G E FLIPPED RESENT
# why a transfer has no figure: NOTE[ppp], NOTE[wg]
declare -A NOTE

[[ -x $BENCH/bulk && -x $BENCH/rtt ]] ||
	sl_die "$BENCH/bulk and $BENCH/rtt are not built (make -C tests/bench)"
# pppd and the namespaces go however the script ends
bench_exit() {
	local rc=$?
	pn_down
	(exit "$rc")
	_sl_on_exit
}
trap bench_exit EXIT

# run NAME SRC DST: one paced transfer; G[NAME] = goodput in bytes/s.
run() {
	local out timeout=$((BYTES * 10 * 4 / BAUD + 120))
	sl_wire reset-stats >/dev/null
	if out=$("$BENCH/bulk" -n "$BYTES" -t "$timeout" -s "$((RANDOM + 1))" "$2" "$3"); then
		[[ $out =~ goodput_Bps=([0-9.]+) ]] || sl_die "bulk printed no goodput: $out"
		G[$1]=${BASH_REMATCH[1]}
		FLIPPED[$1]=$(sl_wire_stat a2b flipped)
		sl_pass "$1: $BYTES bytes byte-exact at ${G[$1]} B/s (${FLIPPED[$1]} bits flipped A -> B)"
	else
		G[$1]=0
		sl_fail "$1: $BYTES bytes did not arrive byte-exact"
	fi
}

# echo_rtt NAME A B: ECHOES 16-byte messages A -> B -> A (3 more to warm
# up); E[NAME.med] and E[NAME.p90] in milliseconds.
echo_rtt() {
	local out
	if out=$("$BENCH/rtt" -n "$ECHOES" -w 3 -b "$ECHO_BYTES" -t 30000 "$2" "$3"); then
		[[ $out =~ rtt_med=([0-9.]+).*rtt_p90=([0-9.]+) ]] || sl_die "rtt printed no round trip: $out"
		E[$1.med]=$(awk -v u="${BASH_REMATCH[1]}" 'BEGIN { printf "%.1f", u / 1000 }')
		E[$1.p90]=$(awk -v u="${BASH_REMATCH[2]}" 'BEGIN { printf "%.1f", u / 1000 }')
		sl_pass "$1: $ECHOES echoes of $ECHO_BYTES bytes, median ${E[$1.med]} ms, p90 ${E[$1.p90]} ms"
	else
		sl_fail "$1: an echo of $ECHO_BYTES bytes was lost, changed or late"
	fi
}

# noise RATE: sealine-wire flips one bit in every FLIP[RATE] bytes, both
# directions (none for clean).
noise() {
	sl_wire flip "${FLIP[$1]}" >/dev/null || sl_die "sl_wire flip ${FLIP[$1]} failed"
}

# suffix RATE: the NAME suffix of a measurement at RATE.
suffix() {
	[[ $1 == clean ]] || echo "_$1"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
meets() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "met" : "NOT met" }'; }

sl_assert "sealine-wire answers" sl_wire ping
sl_wire pace "$BAUD" >/dev/null
sl_setup_lines "$BAUD"
run raw "$SL_TTY_A" "$SL_TTY_B"
echo_rtt raw "$SL_TTY_A" "$SL_TTY_B"

# ---------------------------------------------------------------- pppd
# clean, 1e-5, 1e-4; at each rate pppd + TCP, then WireGuard over it
if pn_ppp_up; then
	sl_pass "pppd brings IP up over the bare line"
	wg=1
	if ! pn_wg_up; then
		wg=0
		NOTE[wg]="not measured: $PN_WHY"
		sl_log "pppd + WireGuard + TCP: $PN_WHY: not measured in this boot"
	fi
	for rate in "${RATES[@]}"; do
		noise "$rate"
		for t in ppp wg; do
			[[ $t == ppp ]] || ((wg)) || continue
			name=$t$(suffix "$rate")
			addr=$PN_PPP_B
			[[ $t == ppp ]] || addr=$PN_WG_B
			resent=$(pn_tcp_resent)
			pn_tcp_ends "$addr"
			run "$name" "$PN_END_A" "$PN_END_B"
			RESENT[$name]=$(($(pn_tcp_resent) - resent))
			pn_tcp_ends "$addr"
			echo_rtt "$name" "$PN_END_A" "$PN_END_B"
		done
	done
	noise clean
	sl_log "PPP A: $(ip -n "$PN_NS_A" -s -o link show ppp0 | tr -s ' ')"
else
	sl_fail "pppd: $PN_WHY"
	NOTE[ppp]="not measured: $PN_WHY"
	NOTE[wg]=${NOTE[ppp]}
fi
pn_down
# what pppd sent last must not reach sealine's first frames
sl_drain_wire
sl_setup_lines "$BAUD"

# ---------------------------------------------------------------- sealine
sl_load_module || sl_die "cannot load sealine.ko"
sl_attach "$SL_TTY_A"
sl_attach "$SL_TTY_B"
VA=$(sl_vtty_of "$SL_TTY_A")
VB=$(sl_vtty_of "$SL_TTY_B")
sl_assert "datagram key" sl_pair_key 1
run datagram "$VA" "$VB"
echo_rtt datagram "$VA" "$VB"

for t in "$SL_TTY_A" "$SL_TTY_B"; do
	"$SEALCTL" clear-keys "$t"
	"$SEALCTL" set-line "$t" --mode reliable
done
sl_assert "reliable key" sl_pair_key 2
for rate in "${RATES[@]}"; do
	noise "$rate"
	run "reliable$(suffix "$rate")" "$VA" "$VB"
	echo_rtt "reliable$(suffix "$rate")" "$VA" "$VB"
done
frame4=$(sl_stat "$SL_TTY_A" frame_size)
rexmit=$(sl_stat "$SL_TTY_A" retransmits)
noise clean

# ---------------------------------------------------------------- tables
r_dg=$(ratio "${G[datagram]}" "${G[raw]}")
r_rel=$(ratio "${G[reliable]}" "${G[raw]}")
r_5=$(ratio "${G[reliable_1e5]}" "${G[reliable]}")
r_4=$(ratio "${G[reliable_1e4]}" "${G[reliable]}")
TRANSFERS=(raw datagram reliable ppp wg)
declare -A LABEL=([raw]="raw UART" [datagram]="sealine datagram"
	[reliable]="sealine reliable" [ppp]="pppd + TCP" [wg]="pppd + WireGuard + TCP")

# gcell NAME: "B/s (ratio x raw)", or why there is none.
gcell() {
	local base=${1%_1e*}
	if [[ -n ${G[$1]:-} ]]; then
		printf '%.0f (%s)' "${G[$1]}" "$(ratio "${G[$1]}" "${G[raw]}")"
	elif [[ $base == raw || $base == datagram ]]; then
		echo "-"
	else
		echo "n/a"
	fi
}

# ecell NAME: "median / p90 ms (median's ratio x raw)", or why none.
ecell() {
	local base=${1%_1e*}
	if [[ -n ${E[$1.med]:-} ]]; then
		printf '%s / %s (%s)' "${E[$1.med]}" "${E[$1.p90]}" "$(ratio "${E[$1.med]}" "${E[raw.med]:-0}")"
	elif [[ $base == raw || $base == datagram ]]; then
		echo "-"
	else
		echo "n/a"
	fi
}

# table FORMAT CELLFN: one row per transfer, a column per error rate.
table() {
	local t rate cells
	for t in "${TRANSFERS[@]}"; do
		cells=()
		for rate in "${RATES[@]}"; do
			cells+=("$("$2" "$t$(suffix "$rate")")")
		done
		# shellcheck disable=SC2059 # the format is the caller's
		printf "$1" "${LABEL[$t]}" "${cells[@]}"
	done
}

# notes PREFIX: the faults and resends behind the goodput, why a row
# says n/a, and what "-" means.
notes() {
	local t
	echo "${1}Bits flipped A -> B during the transfers at 1e-5 and 1e-4: reliable ${FLIPPED[reliable_1e5]:-n/a} and ${FLIPPED[reliable_1e4]:-n/a}, pppd + TCP ${FLIPPED[ppp_1e5]:-n/a} and ${FLIPPED[ppp_1e4]:-n/a}, pppd + WireGuard + TCP ${FLIPPED[wg_1e5]:-n/a} and ${FLIPPED[wg_1e4]:-n/a}."
	echo "${1}Resent by A, clean / 1e-5 / 1e-4: sealine reliable $rexmit frames in all (frame size at 1e-4: $frame4 bytes); TCP segments over pppd ${RESENT[ppp]:-n/a} / ${RESENT[ppp_1e5]:-n/a} / ${RESENT[ppp_1e4]:-n/a}, over WireGuard ${RESENT[wg]:-n/a} / ${RESENT[wg_1e5]:-n/a} / ${RESENT[wg_1e4]:-n/a}."
	echo "${1}\"-\": a bare or datagram line at that error rate delivers damaged bytes or holes, so it has no goodput to compare."
	for t in ppp wg; do
		[[ -z ${NOTE[$t]:-} ]] || echo "${1}${LABEL[$t]}: ${NOTE[$t]}"
	done
}

RULE="========================  ==========================  ==========================  =========================="
{
	echo "Reliable mode and what a user would run instead, at $BAUD baud, $BYTES bytes A -> B per transfer"
	echo "  goodput, bytes/s (x raw clean)"
	printf '  %-24s %-27s %-27s %s\n' "transfer" "clean" "1e-5 flips/byte" "1e-4 flips/byte"
	table '  %-24s %-27s %-27s %s\n' gcell
	echo "  targets: reliable clean $r_rel x raw (>= 0.98: $(meets "$r_rel" 0.98)); 1e-5 $r_5 x clean reliable (>= 0.90: $(meets "$r_5" 0.90)); 1e-4 $r_4 x clean reliable (>= 0.60: $(meets "$r_4" 0.60))"
	echo "  $ECHO_BYTES-byte echo round trip, ms: median / p90 (median x raw clean), $ECHOES echoes each"
	printf '  %-24s %-27s %-27s %s\n' "transfer" "clean" "1e-5 flips/byte" "1e-4 flips/byte"
	table '  %-24s %-27s %-27s %s\n' ecell
	notes "  "
} >"$OUT/reliable.txt"
{
	echo "Goodput at $BAUD baud, $BYTES bytes A -> B per transfer, in bytes/s (and"
	echo "as a ratio to the bare line, clean, of the same boot):"
	echo
	echo "$RULE"
	printf '%-24s  %-26s  %-26s  %s\n' "transfer" "clean" "1e-5 flips per byte" "1e-4 flips per byte"
	echo "$RULE"
	table '%-24s  %-26s  %-26s  %s\n' gcell
	echo "$RULE"
	echo
	echo "Reliable mode against the targets: clean $r_rel x raw (>= 0.98), at 1e-5"
	echo "$r_5 x clean reliable (>= 0.90), at 1e-4 $r_4 x clean reliable (>= 0.60)."
	echo
	echo "Round trip of a $ECHO_BYTES-byte message echoed back, in milliseconds, median /"
	echo "90th percentile of $ECHOES (and the median as a ratio to the bare line's):"
	echo
	echo "$RULE"
	printf '%-24s  %-26s  %-26s  %s\n' "transfer" "clean" "1e-5 flips per byte" "1e-4 flips per byte"
	echo "$RULE"
	table '%-24s  %-26s  %-26s  %s\n' ecell
	echo "$RULE"
	echo
	# one paragraph a note
	notes "" | while IFS= read -r note; do
		fmt -w 76 <<<"$note"
		echo
	done
} >"$OUT/reliable.rst"
{
	for k in "${!G[@]}"; do
		echo "reliable_goodput_$k ${G[$k]}"
		echo "reliable_goodput_ratio_${k}_raw $(ratio "${G[$k]}" "${G[raw]}")"
	done
	for k in "${!E[@]}"; do
		echo "reliable_echo_${k/./_} ${E[$k]}"
	done
	for k in "${!FLIPPED[@]}"; do
		echo "reliable_flipped_$k ${FLIPPED[$k]}"
	done
	for k in "${!RESENT[@]}"; do
		echo "reliable_tcp_resent_$k ${RESENT[$k]}"
	done
	echo "reliable_retransmits $rexmit"
	echo "reliable_frame_size_1e4 $frame4"
	for k in "${!E[@]}"; do
		[[ $k == *.med ]] || continue
		echo "reliable_echo_ratio_${k%.med}_raw $(ratio "${E[$k]}" "${E[raw.med]:-0}")"
	done
	echo "reliable_ratio_clean_raw $r_rel"
	echo "reliable_ratio_1e5_clean $r_5"
	echo "reliable_ratio_1e4_clean $r_4"
	echo "datagram_ratio_clean_raw $r_dg"
} | sort >"$OUT/reliable.figures"
cat "$OUT/reliable.txt"

sl_wire pace 0 >/dev/null
sl_pair_down
sl_check_dmesg
