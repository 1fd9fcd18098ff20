#!/bin/bash
# 87-mitm: a man in the middle on the line during a pairing. sealine-wire
# (the host program between the two UARTs) is told "mitm on ACCT_A
# ACCT_B": it takes every control frame off the line and runs two
# pairings of its own with sealined's own handshake core and keys of its
# own, as responder towards A (posing as B) and as initiator towards B
# (posing as A). It grinds as a real attacker would ("grind 4096 KEY_B"):
# it knows B's static public key, holds back A's PAIR_REVEAL and B's
# PAIR_EPHEMERAL until it has both, and tries 4096 static keys of its own
# per leg for a pair that gives both operators the same code. Both daemons
# complete their Noise exchange with the MITM's DH keys; only the SAS can
# tell, and the version 2 SAS does not depend on anything the MITM picks
# late. Checked:
#   - the grinding ran: no pair of keys made the two version 2 codes equal
#     (the status says so; chance 2^-25);
#   - the MITM really completed the DH exchange with both sides (its
#     status and its log), and the SAS it holds for B's leg differs from
#     the code A shows;
#   - B's operator types the code A's operator reads out (three times):
#     B's daemon refuses (SAS mismatch, B's operator is told the tries
#     left), A's operator then answers no; both sealctl pair fail, B's
#     daemon logs a possible man-in-the-middle alert (three different
#     codes are what a MITM produces), both record the failed pairing;
#   - nothing is stored on either side, both lines stay fail-closed and
#     nothing flows;
#   - the MITM off, the same two operators pair fine (so the refusal was
#     the MITM's doing, not the set-up's).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

mitm_field() {
	local st
	st=$(sl_wire mitm status) || return 1
	st=" ${st#ok } "
	st=${st##*" $1="}
	echo "${st%% *}"
}

# mitm_leg_field LEG FIELD: FIELD of legA or legB in "mitm status".
mitm_leg_field() {
	local st part
	st=$(sl_wire mitm status) || return 1
	if [[ $1 == A ]]; then
		part=${st#*legA }
		part=${part%%legB *}
	else
		part=${st#*legB }
	fi
	part=" $part "
	part=${part##*" $2="}
	echo "${part%% *}"
}

# leg_end_is LEG VALUE
leg_end_is() {
	[[ $(mitm_leg_field "$1" end) == "$2" ]]
}

fresh_pair_conf
# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start_both

key_b=$(status_field b public_key)
sl_assert "B's static public key is known (64 hex digits)" grep -Eqx '[0-9a-f]{64}' <<<"$key_b"
reply=$(sl_wire mitm on "$ACCT_A" "$ACCT_B" grind 4096 "$key_b") && rc=0 || rc=$?
sl_log "sl_wire mitm on: $reply"
sl_assert_eq "sealine-wire becomes a man in the middle" 0 "$rc"
sl_assert_eq "mitm status says on" on "$(mitm_field mitm)"

# ---------------------------------------------------------------- pairing under the MITM
sl_assert "a pairing starts under the MITM and A shows a code" pair_start
code=$(shown_code)
sl_log "code shown on A: $code"
sl_log "mitm: $(sl_wire mitm status)"
sl_assert_eq "the MITM completed the DH exchange with A (leg A)" yes "$(mitm_leg_field A dh)"
sl_assert_eq "the MITM completed the DH exchange with B (leg B)" yes "$(mitm_leg_field B dh)"
sl_assert_eq "A took the MITM for B (A's claimed account reached leg A)" "$ACCT_A" "$(mitm_leg_field A peer)"
sl_assert_eq "B took the MITM for A (B's claimed account reached leg B)" "$ACCT_B" "$(mitm_leg_field B peer)"
mitm_sas=$(mitm_leg_field B sas)
sl_log "the SAS of B's leg (what B's daemon expects): $mitm_sas; A shows $code"
sl_assert "the MITM's log shows both Noise exchanges done with its own keys" \
	sh -c "grep -q 'mitm: leg A: Noise XX complete with A' $SL_OUT/wire.log &&
	       grep -q 'mitm: leg B: Noise XX complete with B' $SL_OUT/wire.log"
sl_assert "the two legs' SASes differ (the MITM cannot make them agree)" \
	test -n "$mitm_sas" -a "$mitm_sas" != "$code"
sl_assert_eq "the MITM ground 4096 keys per leg" yes "$(mitm_field ground)"
sl_assert_eq "and found no pair of keys with equal version 2 codes" no "$(mitm_field v2_equal)"
sl_assert "its log says what the grinding found" \
	grep -q "mitm: grind: 4096 static keys per leg: v2 codes .* different whatever the keys" "$SL_OUT/wire.log"

# B's operator types what A's operator reads over the phone.
for _ in 1 2 3; do
	say b "$code"
done
sl_assert "B's daemon refuses after three tries" \
	sl_wait_for "B's sealctl exits" 30 sh -c "! kill -0 ${OPPID[b]} 2>/dev/null"
sl_assert "B's operator was told the tries left" \
	sh -c "grep -q 'That is not the code this side computed' '$D/b.out' && grep -q '(1 try, ' '$D/b.out'"
# B's operator says "that is wrong": A's operator answers no.
say a n
operator_done b && rc=0 || rc=$?
sl_assert_eq "B's sealctl pair exits 1" 1 "$rc"
operator_done a && rc=0 || rc=$?
sl_assert_eq "A's sealctl pair exits 1" 1 "$rc"
sl_assert "B's daemon logs a possible man-in-the-middle alert" \
	grep -q "possible man-in-the-middle attack" "$D/b.log"
sl_assert "B's operator is told the codes differ, in plain words" \
	grep -q "the two sides computed different codes" "$D/b.out"
sl_assert "B's session log records the pairing refused (sas_mismatch)" \
	slog_has b '"kind": "pairing".*"reason": "sas_mismatch"'
# A's operator saying no is a refusal: A's side saw nothing only an
# attacker produces (B's did), so A logs no alert of its own.
sl_assert "A's session log records its operator's refusal (refused)" \
	slog_has a '"kind": "pairing".*"outcome": "nak-sent", "reason": "refused"'
sl_assert "A stored no peer" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -qx 'no peers'"
sl_assert "B stored no peer" sh -c "'$SEALCTL' peers --socket '$(sock b)' | grep -qx 'no peers'"
sl_assert "no LTK file on A" test -z "$(ls -A "$(state a)/peers")"
sl_assert "no LTK file on B" test -z "$(ls -A "$(state b)/peers")"
sl_assert "the MITM's leg B ended with B's NAK SAS_MISMATCH" \
	sl_wait_for "leg B's end" 10 leg_end_is B "failed:SAS_MISMATCH(theirs)"
sl_assert "the MITM's leg A ended with A's refusal (REFUSED: A's operator said no)" \
	sl_wait_for "leg A's end" 10 leg_end_is A "failed:REFUSED(theirs)"
sl_log "mitm: $(sl_wire mitm status)"
sl_assert_eq "ttyS1 stays fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 stays fail-closed" nokey "$("$SEALCTL" show ttyS2 state)"
sl_assert "nothing flows A -> B" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_assert "nothing flows B -> A" sl_no_data_flows "$SL_VTTY_B" "$SL_VTTY_A"

# ---------------------------------------------------------------- control: no MITM
sl_assert "sealine-wire relays again" sl_wire mitm off
sl_assert "without the MITM the same operators pair and the daemons key the line" pair_ab
sl_random_file "$D/16k" 16384
sl_assert "16 KiB A -> B byte-exact after the honest pairing" \
	sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/16k" 30
sl_assert "A and B now list each other" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -Eq '^$ACCT_B +authorised' &&
	'$SEALCTL' peers --socket '$(sock b)' | grep -Eq '^$ACCT_A +authorised'"

stop_both
sl_log "--- the MITM's log"
grep 'mitm: ' $SL_OUT/wire.log || true
print_logs
sl_check_dmesg
