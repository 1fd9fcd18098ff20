#!/bin/bash
# 65-rx-flow: receive flow control and the fast-link transmit loop, on two
# sealine lines joined by a pty (the fastest "line" there is, and one that
# pushes back: a pty's writer waits while its peer's buffer is full):
#   - a reader of /dev/ttySL<n> that stalls slows the line down instead of
#     letting the kernel buffer clear text: the writer on the other end
#     gets only a bounded amount accepted (the FIFOs and tty buffers on
#     the way, far below the tty core's 640 KiB default), and once the
#     reader reads again every byte arrives, in order, none dropped
#     (rx_overruns 0);
#   - a writer and a reader at full speed for a while (a pty takes every
#     frame at once) with the soft-lockup watchdog at 2 s: the transmit
#     work gives the CPU away between frames (no soft lockup, no RCU
#     stall).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

PROBE=$SEALINE_ROOT/tests/vm/ttyprobe.py
# (8 s on the debug kernel: still four times the 2 s watchdog, and lockdep
# needs every path once, not for long)
if [[ ${SEALINE_DEBUG_KERNEL:-0} == 1 ]]; then
	BLAST_SECS=${SL_FLOW_BLAST_SECS:-8}
else
	BLAST_SECS=${SL_FLOW_BLAST_SECS:-20}
fi
t=$(mktemp -d)
BG_PIDS=()
old_thresh=$(cat /proc/sys/kernel/watchdog_thresh 2>/dev/null || echo)
cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	[[ -z $old_thresh ]] || echo "$old_thresh" >/proc/sys/kernel/watchdog_thresh 2>/dev/null || true
	return 0
}
trap 'rc_=$?; cleanup; (exit "$rc_"); _sl_on_exit' EXIT

sl_load_module || sl_die "cannot load sealine.ko"
# one pty pair, sealine on both ends: line M (master) <-> line S (slave)
exec {hold}> >(python3 "$PROBE" ptys 1 --both --ready "$t/ready" >"$t/ptys")
BG_PIDS+=($!)
sl_wait_for "pty lines" 20 test -e "$t/ready" || sl_die "ttyprobe ptys did not attach"
read -r M S <"$t/ptys"
VM=$(sl_vtty_of "$M")
VS=$(sl_vtty_of "$S")
sl_log "pty pair: $M -> $VM, $S -> $VS"
sl_wait_for "vtty nodes" 5 test -c "$VM" -a -c "$VS" || sl_die "no vtty nodes"
SL_TTY_A=$M SL_TTY_B=$S sl_pair_key 1 || sl_die "keying the pty lines failed"

# ---------------------------------------------------------------- stalled reader
out=$(timeout 300 python3 "$PROBE" flow "$VM" "$VS" 10 $((2 * 1024 * 1024)) 2>&1) || true
sl_log "stalled reader: $out"
accepted=$(sed -n 's/.*accepted=\([0-9]*\).*/\1/p' <<<"$out")
# 64 KiB of clear text at most on the reader's side, a pty's 8 KiB of
# ciphertext, the writer's 4 KiB FIFO and a frame in flight; the tty
# core's default alone would take 640 KiB.
sl_assert "stalled reader: the writer is held back (${accepted:-?} bytes accepted, <= 160 KiB)" \
	test "${accepted:-999999999}" -le 163840
sl_assert "after the stall all 2 MiB arrive, byte-exact and in order" grep -q 'exact=yes' <<<"$out"
sl_assert_eq "no byte was dropped (rx_overruns)" 0 "$(sl_stat "$S" rx_overruns)"
sl_assert_eq "no frame was lost (auth failures, resyncs)" "0 0" \
	"$(sl_stat "$S" auth_failures) $(sl_stat "$S" resyncs)"

# ---------------------------------------------------------------- fast link
echo 1 >/proc/sys/kernel/watchdog_thresh 2>/dev/null || sl_log "cannot lower watchdog_thresh"
cat "$VS" >/dev/null {hold}>&- &
reader=$!
rx0=$(sl_stat "$S" rx_bytes)
timeout "$BLAST_SECS" cat /dev/zero >"$VM" 2>/dev/null || true
sl_log "fast link: $(($(sl_stat "$S" rx_bytes) - rx0)) bytes in ${BLAST_SECS}s"
sl_assert "fast link: data flowed" test "$(sl_stat "$S" rx_bytes)" -gt "$rx0"
[[ -z $old_thresh ]] || echo "$old_thresh" >/proc/sys/kernel/watchdog_thresh
kill "$reader" 2>/dev/null || true
wait "$reader" 2>/dev/null || true

# closing ttyprobe's stdin detaches both lines
exec {hold}>&-
sl_wait_for "lines detached" 10 sh -c "[ \"\$('$SEALCTL' show --json | jq length)\" = 0 ]" || true
sl_unload_module || sl_fail "rmmod sealine"
sl_check_dmesg
rm -rf "$t"
