#!/bin/bash
# 81-tools-daemon: unmodified serial programs through lines that sealined
# keyed (no manual key anywhere: the two daemons pair with the SAS, then
# key the session themselves):
#   - picocom on both virtual ttys: typed lines arrive on the other side
#     both ways, and A's init string on B;
#   - sz/rz (ZMODEM, lrzsz) move a file byte-exact;
#   - socat moves 1 MiB each way byte-exact;
#   - the wire capture holds none of the text nor the file's marker lines.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

fresh_pair_conf
# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start_both
sl_assert "A and B pair with the SAS and the daemons key the line" pair_ab
sl_log "keyed at epoch $("$SEALCTL" show ttyS1 epoch); no sealctl set-key was run"

# ---------------------------------------------------------------- picocom
sl_picocom_both "$SL_VTTY_A" "$D/pico.a" typed-on-A-SEALINE-TEXT \
	"$SL_VTTY_B" "$D/pico.b" typed-on-B-SEALINE-TEXT \
	hello-from-A-SEALINE-TEXT hello-from-B-SEALINE-TEXT
sl_log "picocom on A saw: $(tr -cd '[:print:]' <"$D/pico.a")"
sl_log "picocom on B saw: $(tr -cd '[:print:]' <"$D/pico.b")"
sl_assert "picocom on B got A's init string" grep -q hello-from-A-SEALINE-TEXT "$D/pico.b"
sl_assert "picocom on B got A's typed line" grep -q typed-on-A-SEALINE-TEXT "$D/pico.b"
# (B's init string goes out before A's picocom holds its virtual tty
# open, and a line delivers nothing to a virtual tty no one holds open:
# not checked, as in 40-tools.)
sl_assert "picocom on A got B's typed line" grep -q typed-on-B-SEALINE-TEXT "$D/pico.a"

# ---------------------------------------------------------------- sz/rz
mkdir -p "$D/rx"
{ head -c 131072 /dev/urandom
  printf 'SEALINE-ZMODEM-MARKER-%s\n' {1..500}
  head -c 131072 /dev/urandom; } >"$D/zfile"
(cd "$D/rx" && timeout 120 rz -y -q <"$SL_VTTY_B" >"$SL_VTTY_B") & rzpid=$!
BG+=("$rzpid")
sleep 0.5
sl_assert "sz sends the file" sh -c "timeout 120 sz -q '$D/zfile' <'$SL_VTTY_A' >'$SL_VTTY_A'"
sl_assert "rz receives it" wait "$rzpid"
sl_assert "the file arrived byte-exact" cmp "$D/zfile" "$D/rx/zfile"

# ---------------------------------------------------------------- socat 1 MiB
sl_random_file "$D/1m.ab" $((1024 * 1024))
sl_random_file "$D/1m.ba" $((1024 * 1024))
sl_assert "1 MiB A -> B byte-exact (socat)" transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/1m.ab" 120 ab
sl_assert "1 MiB B -> A byte-exact (socat)" transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/1m.ba" 120 ba
sl_assert "no authentication failure on ttyS1" test "$(sl_stat ttyS1 auth_failures)" -eq 0
sl_assert "no authentication failure on ttyS2" test "$(sl_stat ttyS2 auth_failures)" -eq 0
sl_assert "still keyed at one epoch" both_keyed_same_epoch

stop_both
sleep 1
sl_assert "wire carries no picocom text" sh -c "! grep -aq SEALINE-TEXT '$SL_OUT/a2b.raw' '$SL_OUT/b2a.raw'"
sl_assert "wire carries none of the file's text" sh -c "! grep -aq SEALINE-ZMODEM-MARKER '$SL_OUT/a2b.raw'"
print_logs
sl_check_dmesg
