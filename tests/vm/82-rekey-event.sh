#!/bin/bash
# 82-rekey-event: the kernel's REKEY_NEEDED event, not the daemons' timer,
# starts a rekey. The module is loaded with rekey_after_messages=30 (a
# key asks to be replaced after sending 30 frames) and the daemons' rekey timer
# is an hour away. Traffic through the daemon-keyed line then makes the
# kernel raise REKEY_NEEDED (the daemons log "needs replacing (messages
# limit)"), the epoch advances at least twice within a minute, and the
# data arrives byte-exact both ways. The wire is paced at 115200 baud as a
# real line would be: unpaced, sealine-wire buffers without limit and a
# handshake message waits behind everything the sender queued.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

SL_LINE_EXTRA="rekey_interval = 3600"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

# rekey_events: how many REKEY_NEEDED (messages) both daemons logged.
rekey_events() {
	cat "$D/a.log" "$D/b.log" | grep -c 'needs replacing (messages limit)' || true
}

fresh_pair_conf
sl_pair_up rekey_after_messages=30
sl_assert_eq "the module asks for a rekey after 30 frames" 30 \
	"$(cat /sys/module/sealine/parameters/rekey_after_messages)"
start_both
sl_assert_eq "A's rekey timer is an hour away" 3600 "$(status_field a rekey_interval)"
sl_assert "A and B pair with the SAS and the daemons key the line" pair_ab
e0=$("$SEALCTL" show ttyS1 epoch)
sl_log "epoch after pairing: $e0"
n0=$(rekey_events)

sl_assert "the wire is paced at 115200 baud" sl_wire pace both 115200
sl_random_file "$D/256k.ab" $((256 * 1024))
sl_random_file "$D/256k.ba" $((256 * 1024))
t0=${EPOCHREALTIME/./}
transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/256k.ab" 120 ab &
tab=$!
BG+=("$tab")
transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/256k.ba" 120 ba &
tba=$!
BG+=("$tba")
wait "$tab" && rc=0 || rc=$?
sl_assert_eq "256 KiB A -> B byte-exact across event-driven rekeys" 0 "$rc"
wait "$tba" && rc=0 || rc=$?
sl_assert_eq "256 KiB B -> A byte-exact across event-driven rekeys" 0 "$rc"
el=$(((${EPOCHREALTIME/./} - t0) / 1000000))
sl_assert "the wire is unpaced again" sl_wire pace both 0
sl_assert "both lines keyed at one epoch after the transfer" \
	sl_wait_for "same epoch" 20 both_keyed_same_epoch
e1=$("$SEALCTL" show ttyS1 epoch)
n1=$(rekey_events)
sl_log "epoch $e0 -> $e1 in ${el}s; REKEY_NEEDED (messages) logged $((n1 - n0)) times"
sl_assert "the kernel raised REKEY_NEEDED for the messages limit" test "$n1" -gt "$n0"
sl_assert "the epoch advanced at least twice" test "$e1" -ge $((e0 + 2))
sl_assert "well before the hour of the rekey timer (transfer < 300 s)" test "$el" -lt 300
sl_assert "the daemons logged rekeys" grep -q "rekeyed with" "$D/a.log" "$D/b.log"
sl_assert "no authentication failure on ttyS1" test "$(sl_stat ttyS1 auth_failures)" -eq 0
sl_assert "no authentication failure on ttyS2" test "$(sl_stat ttyS2 auth_failures)" -eq 0
sl_assert "no frame dropped for want of a key on ttyS1" test "$(sl_stat ttyS1 nokey_drops)" -eq 0
sl_assert "no frame dropped for want of a key on ttyS2" test "$(sl_stat ttyS2 nokey_drops)" -eq 0

stop_both
sl_log "--- A's log"
grep -E "needs replacing|rekeyed|keyed|NAK|failed" "$D/a.log" || true
sl_log "--- B's log"
grep -E "needs replacing|rekeyed|keyed|NAK|failed" "$D/b.log" || true
sl_check_dmesg
