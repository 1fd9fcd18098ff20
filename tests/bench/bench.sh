#!/bin/bash
# tests/bench/bench.sh - the guest half of "make bench" (scripts/bench),
# run by scripts/vm-run in one VM boot.
#
# Compares sealine with the bare UART pair it runs on, in the same boot:
#   raw      ttyS1 -> ttyS2, no line discipline attached (the baseline)
#   sealine  ttySL0 -> ttySL1 (sealine on ttyS1 and ttyS2, keyed)
# and for each of them measures
#   rtt    single keystrokes written on A and echoed back from B
#          (tests/bench/rtt), line paced at 115200 baud by sealine-wire,
#          with rtt, the UARTs' interrupts and the kernel's unbound work
#          on vCPU 0 (under TCG a wake-up across vCPUs waits for a host
#          thread: on a loaded host that adds milliseconds of noise)
#   rttu   the same on both vCPUs (nothing pinned)
#   paced  a bulk transfer A -> B (tests/bench/bulk), paced at 115200
#   fast   a bulk transfer A -> B, pacing off (QEMU's socket chardev at
#          its top speed), the reader reading as soon as data is there
#   fastb  the same with a batching reader (one read every 10 ms): the
#          raw tty otherwise wakes its reader for every few bytes, which
#          costs more than the line under TCG
#
# The host (TCG on a shared machine) is noisy, so the measurements run in
# ROUNDS rounds, raw first in odd rounds and sealine first in even ones
# (raw, sl, sl, raw, raw, sl, ...): a drift in host load then hits both
# sides alike. Sealine stays attached (and keyed) across two consecutive
# sealine measurements. scripts/bench pools the rounds.
#
# Every transfer is checked byte-exact (bulk and rtt exit non-zero
# otherwise) and that fails the test; speed never does. Results go to
# $SL_OUT/bench.results, one line per measurement, "NAME.ROUND key=value
# ...", and the keystroke samples to $SL_OUT/bench-rtt{,u}.SIDE.ROUND.txt.
# Settings come from $SL_OUT/bench.conf (written by scripts/bench;
# defaults below).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

BENCH=$SEALINE_ROOT/tests/bench
RES=$SL_OUT/bench.results

# defaults (bench.conf may override)
BAUD=115200
ROUNDS=4
PACED_BYTES=131072	# per round and side
FAST_BYTES=196608	# per round and side
RTT_COUNT=30		# keystrokes per round and side
RTT_GAP_MS=20
FAST_TIMEOUT=300	# seconds for one unpaced transfer
CIPHER=chacha20poly1305
if [[ -r $SL_OUT/bench.conf ]]; then
	# shellcheck source=/dev/null
	. "$SL_OUT/bench.conf"
fi

rm -f "$RES" "$SL_OUT"/bench-rtt.*.txt "$SL_OUT"/bench-rttu.*.txt
: >"$RES"
[[ -x $BENCH/bulk && -x $BENCH/rtt ]] ||
	sl_die "$BENCH/bulk and $BENCH/rtt are not built (make -C tests/bench)"

result() { # NAME KEY=VALUE...
	printf '%s\n' "$*" >>"$RES"
	sl_log "result: $*"
}

# Seconds a paced transfer of BYTES may take: the line time with sealine's
# full overhead, doubled, plus 60 s for a slow TCG host.
paced_timeout() {
	echo $(($1 * 10 * 2 * 2079 / 2048 / BAUD + 60))
}

# An sl_wire setting that must succeed.
wire_set() {
	sl_wire "$@" >/dev/null || sl_die "sl_wire $* failed"
}

# What sealine-wire counted since its last reset-stats, as key=value
# pairs: wire_a2b / wire_b2a (bytes delivered), frames_a2b / frames_b2a
# (0x00-delimited runs seen).
wire_counters() {
	local reply a2b b2a
	reply=$(sl_wire stats) || { echo "wire_a2b=-1 wire_b2a=-1"; return; }
	a2b=${reply#*a2b }
	a2b=${a2b%%b2a*}
	b2a=${reply#*b2a }
	[[ $a2b =~ out=([0-9]+).*frames=([0-9]+) ]] &&
		printf 'wire_a2b=%s frames_a2b=%s ' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	[[ $b2a =~ out=([0-9]+).*frames=([0-9]+) ]] &&
		printf 'wire_b2a=%s frames_b2a=%s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	echo
}

# bench_bulk NAME SRC DST BYTES TIMEOUT [BULK-OPTION...]
bench_bulk() {
	local name=$1 out
	sl_log "$name: $4 bytes $2 -> $3${6:+ (${*:6})}"
	wire_set reset-stats
	if out=$("$BENCH/bulk" -n "$4" -t "$5" -s "$((RANDOM + 1))" "${@:6}" "$2" "$3"); then
		result "$name $out $(wire_counters)"
		sl_pass "$name: $4 bytes arrived byte-exact"
	else
		sl_fail "$name: $4 bytes $2 -> $3 did not arrive byte-exact (see above)"
		settle "$3"
	fi
}

# settle TTY: after a failed measurement, let the line empty and throw
# away what reached TTY, so that the next measurement starts clean.
settle() {
	sl_wire drain >/dev/null || true
	sleep 0.5
	sl_flush_tty "$1"
}

# pin_cpu0 / unpin: the interrupts of both line ends and the kernel's
# unbound workqueues on vCPU 0 only, and back.
PIN_IRQS=()
PIN_SAVED=()
pin_cpu0() {
	local tty irq f
	PIN_IRQS=()
	for tty in "$SL_TTY_A" "$SL_TTY_B"; do
		irq=$(cat "/sys/class/tty/${tty#/dev/}/irq") || sl_die "no IRQ for $tty"
		PIN_IRQS+=("/proc/irq/$irq/smp_affinity")
	done
	PIN_IRQS+=(/sys/devices/virtual/workqueue/cpumask)
	PIN_SAVED=()
	for f in "${PIN_IRQS[@]}"; do
		PIN_SAVED+=("$(cat "$f")")
		echo 1 >"$f" || sl_die "cannot pin $f to vCPU 0"
	done
}
unpin() {
	local i
	for i in "${!PIN_IRQS[@]}"; do
		echo "${PIN_SAVED[$i]}" >"${PIN_IRQS[$i]}" || sl_die "cannot restore ${PIN_IRQS[$i]}"
	done
	PIN_IRQS=()
}

# bench_rtt NAME SAMPLES A B [pin]
bench_rtt() {
	local name=$1 out
	local -a cmd=("$BENCH/rtt" -n "$RTT_COUNT" -w 5 -g "$RTT_GAP_MS" -o "$2" "$3" "$4")
	sl_log "$name: $RTT_COUNT keystrokes $3 -> $4 -> $3${5:+, on vCPU 0}"
	wire_set reset-stats
	if [[ ${5:-} == pin ]]; then
		pin_cpu0
		cmd=(taskset -c 0 "${cmd[@]}")
	fi
	if out=$("${cmd[@]}"); then
		result "$name $out keystrokes=$((RTT_COUNT + 5)) $(wire_counters)"
		sl_pass "$name: every keystroke came back unchanged"
	else
		sl_fail "$name: a keystroke was lost, changed or duplicated (see above)"
		settle "$3"
		settle "$4"
	fi
	[[ ${5:-} != pin ]] || unpin
}

# The measurements of one side (raw or sl) in round R, from A to B.
measure() { # SIDE R A B
	local side=$1 r=$2 a=$3 b=$4
	wire_set pace "$BAUD"
	bench_rtt "${side}_rtt.$r" "$SL_OUT/bench-rtt.$side.$r.txt" "$a" "$b" pin
	bench_rtt "${side}_rttu.$r" "$SL_OUT/bench-rttu.$side.$r.txt" "$a" "$b"
	bench_bulk "${side}_paced.$r" "$a" "$b" "$PACED_BYTES" "$(paced_timeout "$PACED_BYTES")"
	wire_set pace 0
	bench_bulk "${side}_fast.$r" "$a" "$b" "$FAST_BYTES" "$FAST_TIMEOUT"
	bench_bulk "${side}_fastb.$r" "$a" "$b" "$FAST_BYTES" "$FAST_TIMEOUT" -i 10
}

# ---------------------------------------------------------------- sealine on/off

VTTY_A=
VTTY_B=
epoch=0

sealine_on() {
	sl_setup_lines "$BAUD"
	sl_attach "$SL_TTY_A" || sl_die "ldattach on $SL_TTY_A failed"
	sl_attach "$SL_TTY_B" || sl_die "ldattach on $SL_TTY_B failed"
	VTTY_A=$(sl_vtty_of "$SL_TTY_A")
	VTTY_B=$(sl_vtty_of "$SL_TTY_B")
	sl_wait_for "$VTTY_A and $VTTY_B" 5 test -c "$VTTY_A" -a -c "$VTTY_B" ||
		sl_die "virtual ttys did not appear"
	epoch=$((epoch + 1))
	sl_log "sealine on: $SL_TTY_A -> $VTTY_A, $SL_TTY_B -> $VTTY_B, epoch $epoch"
	sl_assert "keys installed and activated (epoch $epoch)" sl_pair_key "$epoch" "$CIPHER"
	[[ $(sl_stat "$SL_TTY_A" state) == keyed && $(sl_stat "$SL_TTY_B" state) == keyed ]] ||
		sl_die "the pair is not keyed; nothing to measure"
}

# json_num JSON KEY: a number from sealctl show --json.
json_num() {
	[[ $1 =~ \"$2\":\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

sealine_off() {
	local end json s pid
	for end in A B; do
		if [[ $end == A ]]; then
			json=$("$SEALCTL" show "$SL_TTY_A" --json) || json=
		else
			json=$("$SEALCTL" show "$SL_TTY_B" --json) || json=
		fi
		sl_log "$end: $json"
		for s in auth_failures replays resyncs malformed rx_overruns nokey_drops; do
			sl_assert_eq "$end counted no $s (epoch $epoch)" 0 "$(json_num "$json" "$s")"
		done
	done
	# detach (the module stays loaded), as sl_pair_down does
	for pid in "${SL_LDATTACH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	SL_LDATTACH_PIDS=()
	sl_wait_for "sealine off $SL_TTY_A" 10 sh -c "! '$SEALCTL' show '$SL_TTY_A' index >/dev/null 2>&1" ||
		sl_die "sealine stayed on $SL_TTY_A"
	sl_setup_lines "$BAUD"
}

# ---------------------------------------------------------------- main

read -r kver </proc/sys/kernel/osrelease
result "meta kernel=$kver guest_cpus=$(nproc) baud=$BAUD rounds=$ROUNDS paced_bytes=$PACED_BYTES fast_bytes=$FAST_BYTES rtt_count=$RTT_COUNT rtt_gap_ms=$RTT_GAP_MS cipher=$CIPHER"

sl_assert "sealine-wire answers" sl_wire ping
sl_load_module || sl_die "cannot load sealine.ko"
sl_setup_lines "$BAUD"

# Rounds in the order raw sl, sl raw, raw sl, ...: consecutive sealine
# measurements share one attachment.
on=0
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=(raw sl); else order=(sl raw); fi
	for side in "${order[@]}"; do
		if [[ $side == sl ]]; then
			((on)) || { sealine_on; on=1; }
			measure sl "$r" "$VTTY_A" "$VTTY_B"
		else
			((!on)) || { sealine_off; on=0; }
			measure raw "$r" "$SL_TTY_A" "$SL_TTY_B"
		fi
	done
done
((!on)) || sealine_off

wire_set pace 0
sl_unload_module
sl_check_dmesg
