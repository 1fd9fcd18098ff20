#!/bin/bash
# 83-unknown-peer: a session attempt from a peer that the responder never
# paired with. A holds a pairing record for B (B's real static key, an
# LTK) that B never made: B has no peers at all, as after a reinstall.
# A's daemon starts a session on its own; B refuses it with NAK
# UNKNOWN_PEER. Checked:
#   - B's daemon log has the NAK sent, A's the NAK received;
#   - both session logs (`sealctl log`) record the refusal (B: nak-sent,
#     A: nak-received, reason unknown_peer);
#   - both lines stay fail-closed and nothing flows either way;
#   - A does not retry in a loop (an operator must act: one refusal).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

hex32() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

fresh_pair_conf
# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start b
sl_assert "B registers as the agent of ttyS2" sl_wait_for "B registered" 20 line_registered b
start a
sl_assert "A registers as the agent of ttyS1" sl_wait_for "A registered" 20 line_registered a
sl_assert "A stops" stop a
b_pub=$(sed -n 's/^public \([0-9a-f]\{64\}\)$/\1/p' "$(state b)/identity")
sl_assert "B's public key is in its identity file" test -n "$b_pub"
sl_assert "B has no peers" sh -c "'$SEALCTL' peers --socket '$(sock b)' | grep -qx 'no peers'"
now=$(date +%s)
(
	umask 077
	cat >"$(state a)/peers/$ACCT_B" <<EOT
version 1
account $ACCT_B
public $b_pub
ltk $(hex32)
authorised yes
revoked no
paired $now
changed $now
EOT
)
mv "$D/a.log" "$D/a.log.1"
start a
sl_assert "A registers again" sl_wait_for "A registered" 20 line_registered a
sl_assert "A lists B as its peer" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -Eq '^$ACCT_B +authorised'"

sl_assert "B logs NAK UNKNOWN_PEER sent" \
	sl_wait_for "B's NAK" 30 grep -Eq "ttyS2: NAK sent to the peer: UNKNOWN_PEER" "$D/b.log"
sl_assert "A logs NAK UNKNOWN_PEER received" \
	sl_wait_for "A's NAK" 10 grep -Eq "ttyS1: NAK received .*UNKNOWN_PEER" "$D/a.log"
sl_assert "B's session log records the refusal (nak-sent, unknown_peer)" \
	sl_wait_for "B's record" 10 slog_has b \
	'"kind": "session".*"role": "responder".*"outcome": "nak-sent", "reason": "unknown_peer"'
sl_assert "A's session log records the refusal (nak-received, unknown_peer)" \
	sl_wait_for "A's record" 10 slog_has a \
	'"kind": "session".*"role": "initiator".*"outcome": "nak-received", "reason": "unknown_peer"'
sl_log "--- B's sealctl log"
ctl b log || true
sl_log "--- A's sealctl log"
ctl a log || true

sl_assert_eq "ttyS1 stays fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 stays fail-closed" nokey "$("$SEALCTL" show ttyS2 state)"
sl_assert "nothing flows A -> B" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_assert "nothing flows B -> A" sl_no_data_flows "$SL_VTTY_B" "$SL_VTTY_A"
# 6 s more: a direct line retries failed sessions after 5 s, but not
# after a refusal only an operator can lift.
sleep 6
sl_assert_eq "B refused exactly one session (no retry loop)" 1 \
	"$(grep -c 'NAK sent to the peer: UNKNOWN_PEER' "$D/b.log")"
sl_assert_eq "ttyS1 still fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 still fail-closed" nokey "$("$SEALCTL" show ttyS2 state)"

stop_both
wire_has_no_marker
print_logs
sl_check_dmesg
