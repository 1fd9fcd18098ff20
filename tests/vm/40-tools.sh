#!/bin/bash
# Unmodified serial programs on the virtual ttys: picocom exchanges text
# (sent at start-up and typed) both ways, sz/rz (ZMODEM, lrzsz) moves a
# file, and the wire shows neither the text nor the file.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

sl_pair_up
sl_assert "keys" sl_pair_key 1

# --- picocom ----------------------------------------------------------------
sl_picocom_both "$SL_VTTY_A" /tmp/pico.a typed-on-A-SEALINE-TEXT \
	"$SL_VTTY_B" /tmp/pico.b typed-on-B-SEALINE-TEXT \
	hello-from-A-SEALINE-TEXT hello-from-B-SEALINE-TEXT
sl_log "picocom on A saw: $(tr -cd '[:print:]' </tmp/pico.a)"
sl_log "picocom on B saw: $(tr -cd '[:print:]' </tmp/pico.b)"
sl_assert "picocom on B got A's init string" grep -q hello-from-A-SEALINE-TEXT /tmp/pico.b
sl_assert "picocom on B got A's keystrokes" grep -q typed-on-A-SEALINE-TEXT /tmp/pico.b
sl_assert "picocom on A got B's keystrokes" grep -q typed-on-B-SEALINE-TEXT /tmp/pico.a

# --- sz/rz --------------------------------------------------------------------
mkdir -p /tmp/rx
{ head -c 131072 /dev/urandom
  printf 'SEALINE-ZMODEM-MARKER-%s\n' {1..500}
  head -c 131072 /dev/urandom; } >/tmp/zfile
(cd /tmp/rx && timeout 120 rz -y -q <"$SL_VTTY_B" >"$SL_VTTY_B") & rzpid=$!
sleep 0.5
sl_assert "sz sends the file" timeout 120 sz -q /tmp/zfile <"$SL_VTTY_A" >"$SL_VTTY_A"
sl_assert "rz receives it" wait "$rzpid"
sl_assert "the file arrived byte-exact" cmp /tmp/zfile /tmp/rx/zfile

sl_assert "wire carries no picocom text" sh -c "! grep -q SEALINE-TEXT $SL_OUT/a2b.raw $SL_OUT/b2a.raw"
sl_assert "wire carries none of the file's text" sh -c "! grep -qa SEALINE-ZMODEM-MARKER $SL_OUT/a2b.raw"
sl_pair_down
sl_check_dmesg
