#!/bin/bash
# 85-pairing: two sealined instances (A on ttyS1, the initiator; B on
# ttyS2, the responder; separate configurations, state, sockets) pair and
# key their line the way two operators would, with no manual keys:
#   - both operators run `sealctl pair` (B first, then A); A's shows the
#     code, B's operator types a wrong one three times: nothing is stored,
#     both pairs fail, the lines stay fail-closed and no data flows;
#   - again with the right code (typed by B, confirmed by A): both sides
#     store the peer, the session keys are installed by the daemons (both
#     lines keyed at the same epoch) and socat moves 256 KiB byte-exact
#     through the virtual ttys;
#   - both daemons restarted (their lines' keys wiped): a new session with
#     the stored LTK comes up on its own (no SAS asked), at a new epoch, and
#     data flows both ways;
#   - sealctl peers lists the peer with its LTK, sealctl log has the failed
#     pairing, the pairing and the sessions;
#   - the wire capture holds neither account number as ASCII digits.
# The sealctl processes are driven through FIFOs on their stdin, their
# output read from files: exactly what the operators would type and see.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

. "$SEALINE_ROOT/tests/vm/daemon.sh"

fresh_pair_conf

# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start_both
sl_assert_eq "A has a handshake driver" noise-v1 "$(status_field a handshake)"
sl_assert_eq "ttyS1 is fail-closed before pairing" nokey "$("$SEALCTL" show ttyS1 state)"

# ---------------------------------------------------------------- wrong SAS
sl_assert "a pairing starts and A shows a code" pair_start
code=$(shown_code)
sl_log "code shown on A: $code"
if [[ ${code:0:1} == A ]]; then wrong=B${code:1}; else wrong=A${code:1}; fi
for _ in 1 2 3; do
	say b "$wrong"
done
sl_assert "B's pairing fails after three wrong codes" sl_wait_for "B's sealctl exits" 30 sh -c "! kill -0 ${OPPID[b]} 2>/dev/null"
say a n
operator_done b && rc=0 || rc=$?
sl_assert_eq "B's sealctl pair exits 1" 1 "$rc"
operator_done a && rc=0 || rc=$?
sl_assert_eq "A's sealctl pair exits 1" 1 "$rc"
sl_assert "B's operator was asked again after a wrong code" grep -q "Type the code" "$D/b.out"
sl_assert "B's operator was told how many tries were left" \
	sh -c "grep -q '(2 tries, ' '$D/b.out' && grep -q '(1 try, ' '$D/b.out'"
sl_assert "B's daemon logs a possible man-in-the-middle attack" grep -q "possible man-in-the-middle attack" "$D/b.log"
sl_assert "A stored no peer" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -qx 'no peers'"
sl_assert "B stored no peer" sh -c "'$SEALCTL' peers --socket '$(sock b)' | grep -qx 'no peers'"
sl_assert "no LTK file on A" test -z "$(ls -A "$(state a)/peers")"
sl_assert "no LTK file on B" test -z "$(ls -A "$(state b)/peers")"
sl_assert_eq "ttyS1 stays fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 stays fail-closed" nokey "$("$SEALCTL" show ttyS2 state)"
sl_assert "no data flows after the failed pairing" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"

# ---------------------------------------------------------------- the right SAS
t0=${EPOCHREALTIME/./}
sl_assert "a second pairing starts and A shows a code" pair_start
code=$(shown_code)
sl_log "code shown on A: $code"
sl_assert "B's operator is not shown the code" sh -c "! grep -q '^Code: ' '$D/b.out'"
say b "$code"
say a y
operator_done b && rc=0 || rc=$?
sl_assert_eq "B's sealctl pair exits 0" 0 "$rc"
operator_done a && rc=0 || rc=$?
sl_assert_eq "A's sealctl pair exits 0" 0 "$rc"
sl_assert "A's operator is told who was paired" grep -q "Paired with $ACCT_B" "$D/a.out"
sl_assert "B's operator is told who was paired" grep -q "Paired with $ACCT_A" "$D/b.out"
sl_assert "the daemons key both lines at the same epoch" \
	sl_wait_for "session keys" 20 both_keyed_same_epoch
sl_log "pairing and first session: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
epoch1=$("$SEALCTL" show ttyS1 epoch)
sl_log "first session epoch: $epoch1"
sl_assert "the LTK on A is 0600" test "$(stat -c %a "$(state a)/peers/$ACCT_B")" = 600
sl_assert "the LTK on B is 0600" test "$(stat -c %a "$(state b)/peers/$ACCT_A")" = 600
sl_random_file "$D/256k" $((256 * 1024))
sl_assert "256 KiB A -> B byte-exact through the virtual ttys" \
	sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/256k" 60
sl_assert "256 KiB B -> A byte-exact through the virtual ttys" \
	sl_transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/256k" 60

# ---------------------------------------------------------------- peers
out=$(ctl a peers)
sl_log "$out"
sl_assert "A lists B as authorised with an LTK" grep -Eq "^$ACCT_B +authorised +yes" <<<"$out"
sl_assert "B lists A as authorised with an LTK" sh -c "'$SEALCTL' peers --socket '$(sock b)' | grep -Eq '^$ACCT_A +authorised +yes'"

# ---------------------------------------------------------------- restart: stored LTK
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
sl_assert "ttyS1's keys are wiped with A gone" sl_wait_for "ttyS1 nokey" 10 sl_field_is ttyS1 state nokey
sl_assert "ttyS2's keys are wiped with B gone" sl_wait_for "ttyS2 nokey" 10 sl_field_is ttyS2 state nokey
mv "$D/a.log" "$D/a.log.1"
mv "$D/b.log" "$D/b.log.1"
start b
start a
t0=${EPOCHREALTIME/./}
sl_assert "a new session with the stored LTK keys both lines, no operator" \
	sl_wait_for "second session" 30 both_keyed_same_epoch
sl_log "second session: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after start"
epoch2=$("$SEALCTL" show ttyS1 epoch)
sl_log "second session epoch: $epoch2"
sl_assert "the second session has a new epoch" test "$epoch2" -gt "$epoch1"
sl_assert_eq "A recorded the epoch in its state" "$epoch2" "$(cat "$(state a)/epoch.ttyS1")"
sl_assert "no pairing and no SAS after the restart" \
	sh -c "! grep -Eqi 'starts a pairing|SAS' '$D/a.log' '$D/b.log'"
sl_random_file "$D/32k" $((32 * 1024))
sl_assert "32 KiB A -> B in the second session" sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/32k" 30
sl_assert "32 KiB B -> A in the second session" sl_transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/32k" 30

# ---------------------------------------------------------------- session log
sl_log "--- sealctl log (A)"
ctl a log
sl_log "--- sealctl log --json (B)"
ctl b log --json
for n in a b; do
	j=$(ctl "$n" log --json)
	sl_assert "$n's log has the failed pairing (sas_mismatch)" \
		grep -Eq '"kind": "pairing".*"outcome": "nak-(sent|received)", "reason": "sas_mismatch"' <<<"$j"
	sl_assert "$n's log has the pairing" grep -Eq '"kind": "pairing".*"outcome": "ok"' <<<"$j"
	sl_assert "$n's log has the first session with its bytes" \
		grep -Eq '"kind": "session".*"bytes_tx": 262144, "bytes_rx": 262144.*"outcome": "ok"' <<<"$j"
done

# ---------------------------------------------------------------- stop, wire
# A session's record is written when it ends: here, when the daemons stop.
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
for n in a b; do
	j=$("$SEALCTL" log --json --file "$(state "$n")/sessions.log")
	sl_assert_eq "$n's log has both sessions" 2 "$(grep -c '"kind": "session"' <<<"$j")"
	sl_assert "$n's second session ended with the daemon" \
		grep -Eq '"kind": "session".*"bytes_tx": 32768, "bytes_rx": 32768.*"outcome": "ok"' <<<"$(tail -n 1 <<<"$j")"
done
sl_assert "A's sessions name B" test "$("$SEALCTL" log --json --file "$(state a)/sessions.log" | grep '"kind": "session"' | grep -c "\"peer\": \"$ACCT_B\"")" = 2
sl_assert "B's sessions name A" test "$("$SEALCTL" log --json --file "$(state b)/sessions.log" | grep '"kind": "session"' | grep -c "\"peer\": \"$ACCT_A\"")" = 2
sl_assert "the session log is 0600" test "$(stat -c %a "$(state a)/sessions.log")" = 600
sl_assert "no daemon logged an error" sh -c "! grep -h ' error: ' '$D'/a.log* '$D'/b.log*"
sl_pair_down
sleep 1
for f in a2b b2a; do
	sl_assert "the wire capture $f.raw exists" test -s "$SL_OUT/$f.raw"
	sl_assert "$f.raw holds not A's account number" sh -c "! grep -aq '$ACCT_A' '$SL_OUT/$f.raw'"
	sl_assert "$f.raw holds not B's account number" sh -c "! grep -aq '$ACCT_B' '$SL_OUT/$f.raw'"
	sl_assert "$f.raw holds no plaintext marker" sh -c "! grep -aq SEALINE-SHOULD-NOT-ARRIVE '$SL_OUT/$f.raw'"
done
print_logs
sl_check_dmesg
