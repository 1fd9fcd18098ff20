#!/bin/bash
# 84-pairing-auto: pairing the way two operators do it with the documented
# default configuration (no role, no peer: role = auto), each running
# `sealctl pair` on their own machine while on the phone:
#   - A's operator first, B's 4 s later: A's screen says the other side is
#     not ready yet, then one screen shows the code, the other asks for it;
#     paired, keyed, data flows;
#   - B's operator first, A's later; then both at the same moment (twice);
#   - one operator never comes: `sealctl pair --wait 10` ends after its
#     time with a plain message, no man-in-the-middle alert, and its
#     daemon is not armed any more (the other side's pairing is told it is
#     not ready); an operator who leaves (Ctrl-C) disarms likewise;
#   - an account already paired is not replaced without --replace (both
#     screens say why, nothing changes); with --replace it is;
#   - a revoke reaches both ends: B revokes A and within seconds both
#     lines are keyless, A's log says B revoked it and what undoes it, no
#     byte flows; `sealctl peers authorise` on B keys the line again.
# Between scenarios both sides forget each other (which also tells the
# other side: its keys go).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

. "$SEALINE_ROOT/tests/vm/daemon.sh"

rm -rf "$D" "$(state a)" "$(state b)" "$(dirname "$(sock a)")" "$(dirname "$(sock b)")"
mkdir -p "$D"
chmod 700 "$D"
write_conf a "$ACCT_A" ttyS1 ""
write_conf b "$ACCT_B" ttyS2 ""
sl_assert "the configurations name no role and no peer" \
	sh -c "! grep -Eq '^(role|peer) ' '$D/a.conf' '$D/b.conf'"

# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start_both
sl_assert_eq "A's line has the default role" auto "$(status_field a role)"
sl_random_file "$D/8k" 8192

# paired_and_flowing: both lines keyed alike, 8 KiB both ways.
paired_and_flowing() {
	sl_wait_for "session keys" 30 both_keyed_same_epoch &&
		sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/8k" 30 &&
		sl_transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/8k" 30
}

# unpair: both forget each other; both lines keyless again.
unpair() {
	ctl a peers forget "$ACCT_B" >/dev/null &&
		ctl b peers forget "$ACCT_A" >/dev/null &&
		sl_wait_for "ttyS1 keyless" 10 sl_field_is ttyS1 state nokey &&
		sl_wait_for "ttyS2 keyless" 10 sl_field_is ttyS2 state nokey
}

armed_is() {
	[[ $(status_field "$1" pair_armed) == "$2" ]]
}

no_alert() {
	! grep -qi "man-in-the-middle" "$D/a.log" "$D/b.log"
}

# ---------------------------------------------------------------- A first
sl_assert "A's operator first, B's 4 s later: paired" pair_either a ttyS1 b ttyS2 4
sl_assert "A's screen said the other side was not ready yet" \
	grep -q "its operator has not started pairing yet" "$D/a.out"
sl_assert "both screens showed the account the other side claims" \
	sh -c "grep -q 'claims account $ACCT_B' '$D/a.out' && grep -q 'claims account $ACCT_A' '$D/b.out'"
sl_assert "A's screen said how long it waits" grep -Eq "^Waiting up to 10 min" "$D/a.out"
sl_assert "keyed, 8 KiB both ways" paired_and_flowing
sl_assert "no failure was reported to either operator" \
	sh -c "! grep -Eqi 'failed|aborted|refused' '$D/a.out' '$D/b.out'"
sl_assert "forgotten again" unpair

# ---------------------------------------------------------------- B first
sl_assert "B's operator first, A's 4 s later: paired" pair_either b ttyS2 a ttyS1 4
sl_assert "B's screen said the other side was not ready yet" \
	grep -q "its operator has not started pairing yet" "$D/b.out"
sl_assert "keyed, 8 KiB both ways" paired_and_flowing
sl_assert "forgotten again" unpair

# ---------------------------------------------------------------- both at once
for round in 1 2; do
	sl_assert "both operators at the same moment ($round): paired" pair_either a ttyS1 b ttyS2 0
	sl_assert "keyed, 8 KiB both ways ($round)" paired_and_flowing
	sl_assert "forgotten again ($round)" unpair
done
sl_assert "no man-in-the-middle alert in any of it" no_alert

# ---------------------------------------------------------------- nobody comes
t0=$SECONDS
ctl a pair ttyS1 --wait 10 </dev/null >"$D/alone.out" 2>&1 && rc=0 || rc=$?
cat "$D/alone.out"
sl_assert_eq "a pairing nobody answers exits 1" 1 "$rc"
sl_assert "after its time (10 s), not before, not much after" \
	test $((SECONDS - t0)) -ge 9 -a $((SECONDS - t0)) -le 20
sl_assert "it says what happened in plain words" \
	grep -q "the other side's operator did not start pairing in time" "$D/alone.out"
sl_assert "no protocol internals on the operator's screen" \
	sh -c "! grep -Eqi 'hsid|detail|reserved|NAK|PAIR_' '$D/alone.out'"
sl_assert "no man-in-the-middle alert for a timeout" no_alert
sl_assert_eq "A is not armed once its operator is gone" false "$(status_field a pair_armed)"
ctl b pair ttyS2 --wait 6 </dev/null >"$D/late.out" 2>&1 && rc=0 || rc=$?
cat "$D/late.out"
sl_assert_eq "B's later pairing finds A not armed and ends" 1 "$rc"
sl_assert "B is told A's operator is not there" \
	grep -q "its operator has not started pairing yet" "$D/late.out"

# An operator who leaves (Ctrl-C, a closed terminal) disarms at once.
operator a ttyS1
sl_assert "A's operator waits" sl_wait_for "A waits" 10 grep -q "^Waiting up to" "$D/a.out"
sl_assert_eq "A is armed while its operator waits" true "$(status_field a pair_armed)"
# (TERM: a shell script's background jobs ignore SIGINT; both end it.)
kill -TERM "${OPPID[a]}"
operator_done a || true
sl_assert "A is disarmed when its operator leaves" sl_wait_for "A disarmed" 5 armed_is a false
ctl b pair ttyS2 --wait 6 </dev/null >"$D/late.out" 2>&1 && rc=0 || rc=$?
sl_assert_eq "so B's pairing finds nobody" 1 "$rc"

# ---------------------------------------------------------------- replace
sl_assert "paired once more" pair_either a ttyS1 b ttyS2 0
sl_assert "keyed" sl_wait_for "session keys" 30 both_keyed_same_epoch
operator a ttyS1
operator b ttyS2
operator_done a && rc=0 || rc=$?
sl_assert_eq "pairing an account paired already fails on A" 1 "$rc"
operator_done b && rc=0 || rc=$?
sl_assert_eq "and on B" 1 "$rc"
sl_assert "the refusing side says why and what to do" \
	sh -c "grep -q 'holds a pairing with .* already.*--replace' '$D/a.out' '$D/b.out'"
sl_assert "no code was read out for it" sh -c "! grep -q '^Code: ' '$D/a.out' '$D/b.out'"
sl_assert "the stored pairing and the session are untouched" both_keyed_same_epoch
ltk_before=$(sha256sum "$(state a)/peers/$ACCT_B" | cut -d' ' -f1)
OPARGS=--replace sl_assert "with --replace on both sides: paired anew" \
	pair_either a ttyS1 b ttyS2 0
sl_assert "A's stored pairing was replaced" \
	test "$(sha256sum "$(state a)/peers/$ACCT_B" | cut -d' ' -f1)" != "$ltk_before"
sl_assert "both logs say it replaced a stored pairing" \
	sh -c "grep -q 'replac' '$D/a.log' && grep -q 'replac' '$D/b.log'"
sl_assert "keyed, 8 KiB both ways" paired_and_flowing

# ---------------------------------------------------------------- revoke
out=$(ctl b peers revoke "$ACCT_A" 2>&1) && rc=0 || rc=$?
sl_log "$out"
sl_assert_eq "B revokes A" 0 "$rc"
sl_assert "ttyS2 is keyless at once" sl_wait_for "ttyS2 nokey" 3 sl_field_is ttyS2 state nokey
sl_assert "and so is A's end, told by B" sl_wait_for "ttyS1 nokey" 5 sl_field_is ttyS1 state nokey
sl_assert "A's log says B revoked it and what undoes that" \
	grep -Eq "ttyS1: peer $ACCT_B ended the session: it has revoked this installation.*peers authorise $ACCT_A" "$D/a.log"
sl_assert "A's session log closes the session (closed-by-peer)" \
	sl_wait_for "A's record" 5 slog_has a "\"peer\": \"$ACCT_B\".*\"outcome\": \"closed-by-peer\""
sl_assert "nothing flows A -> B" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_assert "nothing flows B -> A" sl_no_data_flows "$SL_VTTY_B" "$SL_VTTY_A"
ctl b peers authorise "$ACCT_A" >/dev/null
sl_assert "authorising A again keys the line again" paired_and_flowing

stop_both
sl_assert "no daemon logged an error" sh -c "! grep -h ' error: ' '$D'/a.log '$D'/b.log"
wire_has_no_marker
print_logs
sl_check_dmesg
