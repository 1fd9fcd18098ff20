#!/bin/bash
# 88-revoke-live: revoking the peer of a running session ends it at once,
# not at the next rekey. A and B pair and the daemons key the line (A's
# rekey timer 10 s); data flows. Then B's operator revokes A:
#   - ttyS2's keys are cleared within a second or two (fail-closed), B's
#     session log closes the session with outcome "revoked";
#   - nothing flows either way;
#   - A's next rekey (its timer) is refused: B sends NAK REVOKED and logs
#     it, A's session log records the refusal; the lines stay keyless on
#     B's side.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

SL_LINE_EXTRA="rekey_interval = 10"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

fresh_pair_conf
# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start_both
sl_assert "A and B pair and the daemons key the line" pair_ab
sl_random_file "$D/16k" 16384
sl_assert "16 KiB A -> B while keyed" sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/16k" 30
sl_assert_eq "B's status shows the session with A" "$ACCT_A" "$(status_field b session_peer)"

out=$(ctl b peers revoke "$ACCT_A" 2>&1) && rc=0 || rc=$?
sl_log "$out"
sl_assert_eq "B revokes A" 0 "$rc"
t0=${EPOCHREALTIME/./}
sl_assert "ttyS2's keys are cleared at once" sl_wait_for "ttyS2 nokey" 3 sl_field_is ttyS2 state nokey
sl_log "ttyS2 keyless $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after the revoke"
sl_assert "B logs the end of the session" grep -Eq "ttyS2: peer $ACCT_A is revoked: session ended, line keys cleared" "$D/b.log"
sl_assert "B's session log closes the session with outcome revoked" \
	sl_wait_for "B's record" 5 slog_has b "\"kind\": \"session\".*\"peer\": \"$ACCT_A\".*\"outcome\": \"revoked\""
sl_assert "nothing flows A -> B after the revoke" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_assert "nothing flows B -> A after the revoke" sl_no_data_flows "$SL_VTTY_B" "$SL_VTTY_A"

# A's rekey timer (10 s) fires: its rekey meets B's verdict.
sl_assert "B refuses A's next handshake with NAK REVOKED" \
	sl_wait_for "B's NAK" 30 grep -Eq "ttyS2: NAK sent to the peer: REVOKED, .*peer $ACCT_A" "$D/b.log"
sl_assert "B's session log records the refusal (nak-sent, revoked)" \
	sl_wait_for "B's refusal record" 5 slog_has b '"outcome": "nak-sent", "reason": "revoked"'
sl_assert "A's session log records the refusal (nak-received, revoked)" \
	sl_wait_for "A's record" 10 slog_has a '"outcome": "nak-received", "reason": "revoked"'
sl_assert_eq "ttyS2 is still keyless" nokey "$("$SEALCTL" show ttyS2 state)"
sl_assert "still nothing flows A -> B" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_log "--- B's sealctl log"
ctl b log || true
sl_log "--- A's sealctl log"
ctl a log || true

stop_both
wire_has_no_marker
print_logs
sl_check_dmesg
