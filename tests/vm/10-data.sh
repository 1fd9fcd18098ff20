#!/bin/bash
# Data path: matching keys carry a 1 MiB file byte-exact through the
# virtual ttys both ways, and the wire carries none of the plaintext.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

sl_pair_up
sl_assert_eq "fail-closed before keys" nokey "$(sl_stat "$SL_TTY_A" state)"
sl_assert "no write gets through without a key" \
	timeout 2 sh -c "! dd if=/dev/zero of=$SL_VTTY_A bs=1 count=1 oflag=nonblock 2>/dev/null"

sl_assert "keys installed and activated" sl_pair_key 1
sl_assert_eq "A keyed" keyed "$(sl_stat "$SL_TTY_A" state)"
sl_assert_eq "B keyed" keyed "$(sl_stat "$SL_TTY_B" state)"

printf 'SEALINE-PLAINTEXT-MARKER-%s\n' {1..200} >/tmp/marker
sl_assert "marker text A->B" sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/marker 30

sl_random_file /tmp/mib 1048576
sl_assert "1 MiB A->B byte-exact" sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/mib 120
sl_assert "1 MiB B->A byte-exact" sl_transfer "$SL_VTTY_B" "$SL_VTTY_A" /tmp/mib 120

sl_assert_eq "no auth failures on B" 0 "$(sl_stat "$SL_TTY_B" auth_failures)"
sl_log "A: $("$SEALCTL" show "$SL_TTY_A" --json)"
sl_log "B: $("$SEALCTL" show "$SL_TTY_B" --json)"
sl_assert "wire A->B has no plaintext" sh -c "! grep -q SEALINE-PLAINTEXT-MARKER $SL_OUT/a2b.raw"
sl_assert "wire capture by QEMU has no plaintext" sh -c "! grep -q SEALINE-PLAINTEXT-MARKER $SL_OUT/wireA.raw"
sl_assert "wire capture is not empty" test -s "$SL_OUT/wireA.raw"

sl_pair_down
sl_check_dmesg
