#!/bin/bash
# 86-sessions: after a pairing done as in 85-pairing (A on ttyS1, the
# initiator; B on ttyS2, the responder; rekey_interval = 10 s on both):
#   - rekey under a running transfer: with the wire paced at 115200 baud,
#     512 KiB each way (both at once) through the virtual ttys arrive
#     byte-exact while the daemons rekey at least twice (the epoch both
#     lines show increases at least twice during the transfer);
#   - agent killed mid-session: kill -9 of A's daemon while keyed leaves
#     ttyS1 fail-closed (nokey, a non-blocking write gets EAGAIN, nothing
#     reaches B); a restarted A keys a new session at a new epoch, data
#     flows again;
#   - revoked peer: B revokes A, both daemons restart: no session comes up
#     (both lines stay nokey), B logs the refusal, no data flows.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

SL_LINE_EXTRA="rekey_interval = 10"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

# nonblock_write VTTY: one byte with O_NONBLOCK; fails with dd's
# complaint on stderr.
nonblock_write() {
	timeout 5 dd if=/dev/zero of="$1" bs=1 count=1 oflag=nonblock status=none
}

# eagain VTTY: a non-blocking write on VTTY fails with EAGAIN.
eagain() {
	local err rc=0
	err=$(nonblock_write "$1" 2>&1) || rc=$?
	sl_log "non-blocking write on $1: status $rc, '$err'"
	[[ $rc -ne 0 && $err == *'Resource temporarily unavailable'* ]]
}

# epochs TTY: the distinct key epochs the poller saw on TTY, in order.
epochs() {
	awk -v t="$1" '$1 == t && $2 != "none" && $2 != p { print $2; p = $2 }' "$D/epochs"
}

# increasing: stdin's numbers strictly increase.
increasing() {
	awk 'NR > 1 && $1 <= p { bad = 1 } { p = $1 } END { exit bad }'
}

# ---------------------------------------------------------------- pairing
fresh_pair_conf

# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start_both
sl_assert_eq "A's line has a 10 s rekey interval" 10 "$(status_field a rekey_interval)"
sl_assert "a pairing starts and A shows a code" pair_start
code=$(shown_code)
sl_log "code shown on A: $code"
say b "$code"
say a y
operator_done b && rc=0 || rc=$?
sl_assert_eq "B's sealctl pair exits 0" 0 "$rc"
operator_done a && rc=0 || rc=$?
sl_assert_eq "A's sealctl pair exits 0" 0 "$rc"
sl_assert "the daemons key both lines at the same epoch" \
	sl_wait_for "session keys" 20 both_keyed_same_epoch

# ---------------------------------------------------------------- (a) rekey under transfer
# Paced at 115200 baud, 512 KiB take about 46 s: four or so rekeys at 10 s.
sl_assert "the wire is paced at 115200 baud" sl_wire pace both 115200
sl_random_file "$D/512k.ab" $((512 * 1024))
sl_random_file "$D/512k.ba" $((512 * 1024))
e0=$("$SEALCTL" show ttyS1 epoch)
sl_log "epoch before the transfer: $e0"
: >"$D/epochs"
(
	while :; do
		for t in ttyS1 ttyS2; do
			echo "$t $("$SEALCTL" show "$t" epoch 2>/dev/null || echo none)"
		done
		sleep 0.5
	done >>"$D/epochs"
) &
poller=$!
BG+=("$poller")
t0=${EPOCHREALTIME/./}
transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/512k.ab" 150 ab &
tab=$!
BG+=("$tab")
transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/512k.ba" 150 ba &
tba=$!
BG+=("$tba")
wait "$tab" && rc=0 || rc=$?
sl_assert_eq "512 KiB A -> B byte-exact under rekeys" 0 "$rc"
wait "$tba" && rc=0 || rc=$?
sl_assert_eq "512 KiB B -> A byte-exact under rekeys" 0 "$rc"
sl_log "both transfers: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
kill "$poller" 2>/dev/null || true
wait "$poller" 2>/dev/null || true
e1=$("$SEALCTL" show ttyS1 epoch)
sl_log "epochs seen on ttyS1: $(epochs ttyS1 | tr '\n' ' '); on ttyS2: $(epochs ttyS2 | tr '\n' ' '); now $e1"
sl_assert "ttyS1 went through at least 3 epochs (2 rekeys) during the transfer" \
	test "$(epochs ttyS1 | wc -l)" -ge 3
sl_assert "ttyS2 went through at least 3 epochs (2 rekeys) during the transfer" \
	test "$(epochs ttyS2 | wc -l)" -ge 3
sl_assert "ttyS1's epochs only increase" increasing < <(epochs ttyS1)
sl_assert "ttyS1's epoch rose by at least 2" test "$e1" -ge $((e0 + 2))
sl_assert "no authentication failure on ttyS1" test "$(sl_stat ttyS1 auth_failures)" -eq 0
sl_assert "no authentication failure on ttyS2" test "$(sl_stat ttyS2 auth_failures)" -eq 0
sl_assert "no frame dropped for want of a key on ttyS1" test "$(sl_stat ttyS1 nokey_drops)" -eq 0
sl_assert "no frame dropped for want of a key on ttyS2" test "$(sl_stat ttyS2 nokey_drops)" -eq 0
sl_assert "the wire is unpaced again" sl_wire pace both 0
sl_assert "both lines keyed at one epoch after the transfer" \
	sl_wait_for "same epoch" 15 both_keyed_same_epoch

# ---------------------------------------------------------------- (c) agent killed
# (a rekey every 10 s may be under way: wait for its end)
sl_assert "both lines keyed before the kill" \
	sl_wait_for "same epoch" 15 both_keyed_same_epoch
ek=$("$SEALCTL" show ttyS1 epoch)
sl_log "epoch before kill -9 of A: $ek"
kill -9 "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
unset "PID[a]"
sl_assert "ttyS1 goes fail-closed with A killed" \
	sl_wait_for "ttyS1 nokey" 10 sl_field_is ttyS1 state nokey
sl_assert_eq "ttyS1 has no agent" none "$("$SEALCTL" show ttyS1 agent_portid)"
sl_assert "a non-blocking write on A's virtual tty gets EAGAIN" eagain "$SL_VTTY_A"
sl_assert "nothing flows A -> B with A's agent dead" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_assert "nothing flows B -> A with A's agent dead" sl_no_data_flows "$SL_VTTY_B" "$SL_VTTY_A"
sl_assert_eq "ttyS1 still fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"
mv "$D/a.log" "$D/a.log.1"
start a
t0=${EPOCHREALTIME/./}
sl_assert "A's restarted daemon registers" sl_wait_for "A registered" 20 line_registered a
sl_assert "a new session keys both lines after A's restart" \
	sl_wait_for "session after restart" 40 both_keyed_same_epoch
sl_log "session after the restart: $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
er=$("$SEALCTL" show ttyS1 epoch)
sl_log "epoch after the restart: $er"
sl_assert "the new session has a new epoch" test "$er" -gt "$ek"
sl_random_file "$D/32k" $((32 * 1024))
sl_assert "32 KiB A -> B after A's restart" transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/32k" 30 ab2
sl_assert "32 KiB B -> A after A's restart" transfer "$SL_VTTY_B" "$SL_VTTY_A" "$D/32k" 30 ba2

# ---------------------------------------------------------------- (b) revoked peer
out=$(ctl b peers revoke "$ACCT_A" 2>&1) && rc=0 || rc=$?
sl_log "$out"
sl_assert_eq "B revokes A" 0 "$rc"
sl_assert "B lists A as revoked" sh -c "'$SEALCTL' peers --socket '$(sock b)' | grep -Eq '^$ACCT_A +revoked'"
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
sl_assert "ttyS1's keys are wiped with A gone" sl_wait_for "ttyS1 nokey" 10 sl_field_is ttyS1 state nokey
sl_assert "ttyS2's keys are wiped with B gone" sl_wait_for "ttyS2 nokey" 10 sl_field_is ttyS2 state nokey
mv "$D/a.log" "$D/a.log.2"
mv "$D/b.log" "$D/b.log.1"
start b
start a
sl_assert "A registers again" sl_wait_for "A registered" 20 line_registered a
sl_assert "B registers again" sl_wait_for "B registered" 20 line_registered b
sl_assert "B logs the refusal of the revoked peer (NAK REVOKED)" \
	sl_wait_for "B's refusal" 30 grep -Eq "ttyS2: NAK sent to the peer: REVOKED, .*peer $ACCT_A" "$D/b.log"
sl_log "$(grep -E 'REVOKED' "$D/b.log" | head -n 3)"
sl_assert "A's session log records the refused session (nak-received, revoked)" \
	sl_wait_for "A's record" 10 sh -c "'$SEALCTL' log --json --socket '$(sock a)' |
		grep -Eq '\"kind\": \"session\".*\"outcome\": \"nak-received\", \"reason\": \"revoked\"'"
# give A's retries time to go wrong
for _ in 1 2 3 4 5 6; do
	sleep 0.5
	if ! sl_field_is ttyS1 state nokey || ! sl_field_is ttyS2 state nokey; then
		break
	fi
done
sl_assert_eq "ttyS1 stays nokey with A revoked" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 stays nokey with A revoked" nokey "$("$SEALCTL" show ttyS2 state)"
sl_assert "nothing flows A -> B with A revoked" sl_no_data_flows "$SL_VTTY_A" "$SL_VTTY_B"
sl_assert "nothing flows B -> A with A revoked" sl_no_data_flows "$SL_VTTY_B" "$SL_VTTY_A"
sl_assert_eq "ttyS1 still nokey at the end" nokey "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 still nokey at the end" nokey "$("$SEALCTL" show ttyS2 state)"

stop_both
wire_has_no_marker
print_logs
sl_check_dmesg
