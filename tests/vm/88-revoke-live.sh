#!/bin/bash
# 88-revoke-live: revoking the peer of a running session ends it at once,
# on both ends, not at the next rekey. A and B pair and the daemons key the
# line (A's rekey timer 10 s); data flows. Then B's operator revokes A:
#   - ttyS2's keys are cleared within a second or two (fail-closed), B's
#     session log closes the session with outcome "revoked";
#   - B tells A (an authentic SESSION_CLOSE): ttyS1's keys go too, A's log
#     names the remedy (peers authorise on B's side), A's session log
#     closes the session "closed-by-peer"; A starts no rekey by itself;
#   - nothing flows either way;
#   - A's next attempt (here forced by a reload of A) is refused: B sends
#     NAK REVOKED and logs it, A's session log records the refusal and
#     A's log says again who can undo it; both lines stay keyless.
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

sl_assert "ttyS1's keys are cleared too: B told A" \
	sl_wait_for "ttyS1 nokey" 5 sl_field_is ttyS1 state nokey
sl_assert "A's log says B revoked it and what undoes that" \
	grep -Eq "ttyS1: peer $ACCT_B ended the session: it has revoked this installation.*sealctl peers authorise $ACCT_A" "$D/a.log"
sl_assert "A's session log closes the session (closed-by-peer)" \
	sl_wait_for "A's record" 5 slog_has a "\"peer\": \"$ACCT_B\".*\"outcome\": \"closed-by-peer\""
# A's rekey timer (10 s) would have fired by now: A forgot the key.
sleep 12
sl_assert "A started no rekey of its own" sh -c "! grep -q 'NAK sent to the peer: REVOKED' '$D/b.log'"

# A tries again (SIGHUP: a reload of its peers): its session meets B's verdict.
sl_assert "A reloads (SIGHUP)" kill -HUP "${PID[a]}"
sl_assert "B refuses A's next handshake with NAK REVOKED" \
	sl_wait_for "B's NAK" 30 grep -Eq "ttyS2: NAK sent to the peer: REVOKED, .*peer $ACCT_A" "$D/b.log"
sl_assert "A's log names the real remedy, not a new pairing" \
	sl_wait_for "A's hint" 10 grep -q "peer $ACCT_B has revoked this installation.*sealctl peers authorise $ACCT_A on its side" "$D/a.log"
sl_assert "B's session log records the refusal (nak-sent, revoked)" \
	sl_wait_for "B's refusal record" 5 slog_has b '"outcome": "nak-sent", "reason": "revoked"'
sl_assert "A's session log records the refusal (nak-received, revoked)" \
	sl_wait_for "A's record" 10 slog_has a '"outcome": "nak-received", "reason": "revoked"'
sl_assert_eq "ttyS2 is still keyless" nokey "$("$SEALCTL" show ttyS2 state)"
sl_assert_eq "ttyS1 is still keyless" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert "still nothing flows A -> B" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_log "--- B's sealctl log"
ctl b log || true
sl_log "--- A's sealctl log"
ctl a log || true

stop_both
wire_has_no_marker
print_logs
sl_check_dmesg
