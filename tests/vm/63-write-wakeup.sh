#!/bin/bash
# 63-write-wakeup: a line detached while it waits for its UART leaves the
# tty as it found it. sealine asks the tty for write wakeups
# (TTY_DO_WRITE_WAKEUP) while the UART's buffer is full; detached at that
# moment, it must clear the flag, or the next line discipline (N_TTY) is
# woken for output room it never asked for, and a process that asked for
# SIGIO on the tty gets a signal saying it may write when it wrote
# everything.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"

PROBE=$SEALINE_ROOT/tests/vm/ttyprobe.py
SEALCTL=${SEALCTL:-$SEALINE_ROOT/build/bin/sealctl}
export SEALCTL
SL_KEYDIR=$(mktemp -d)
export SL_KEYDIR

sl_load_module || sl_die "cannot load sealine.ko"
out=$(timeout 90 python3 "$PROBE" write-wakeup 3 2>&1) || true
sl_log "write-wakeup probe: $out"
queued=$(sed -n 's/.*queued=\([0-9]*\).*/\1/p' <<<"$out")
unasked=$(sed -n 's/.*unasked_output_signals=\([0-9]*\).*/\1/p' <<<"$out")
sl_assert "sealine was waiting for room on its pty when it was detached" \
	test "${queued:-0}" -gt 0
sl_assert_eq "N_TTY after the detach: no signal for output room nobody asked for" \
	0 "${unasked:-missing}"
rm -rf "$SL_KEYDIR"
sl_unload_module
sl_check_dmesg
