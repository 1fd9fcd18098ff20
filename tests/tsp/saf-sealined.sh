# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/tsp/saf-sealined.sh - store and forward with a real sender: sealined
# (built with ASan and UBSan) and sealctl as a user runs them, against
# sealtspd, with sim-courier as the recipient, over ptys of the simulated
# exchange. Sourced by test-tsp.sh (its helpers, counters and binaries)
# after saf.sh (its helpers, which take $S when they run).
#
# sealined runs here without the sealine module: a leg to the TSP itself
# (call setup purposes 3 and 4, then the courier's channel under the leg's
# own keys) carries control frames only, which sealined frames in user
# space on a dial-up line it leaves without the discipline; nothing of it
# needs the kernel. (A direct call, bridged end to end, does: that is
# tests/vm/95-courier-call.sh.)
#
#   sealctl send --via-tsp --wait: sealined dials the TSP, hands the
#   envelope over, checks the TSP-signed acceptance against the envelope
#   and keeps it (outbox "held", outbox acceptance); the TSP delivers it to
#   the recipient (its files in the inbox byte for byte); sealctl outbox
#   collect calls the TSP, which passes the recipient's receipt on: the
#   outbox says delivered, sealctl receipt verify passes, the TSP's row is
#   collected; --deliver-window reaches the TSP's row; a recipient that
#   refuses: bounced, the TSP's signed notice kept (outbox notice);
#   a lying TSP (its store changed under it: a receipt that is not the
#   recipient's, a notice about another hash): refused, not acknowledged,
#   the outbox unchanged, the TSP keeps the row uncollected; a leg the
#   TSP refuses (NAK): the reason in words, a retry queued; [courier]
#   tsp_after: after two direct attempts that find the recipient busy,
#   the envelope goes to the TSP and is delivered.

S=$W/safd
SD=$S/sealined
mkdir -p "$S"
start_exchange "$S" 2 3 --ring-interval 0.2 || exit 1
"$SIM" keys --count 3 >"$S/keys" || exit 1
start_tsp "$S" 2 || exit 1
# sealined is endpoint 0; 1 authorises it; 2 does not
enrol "$S" 0 --caller-id 5550000; enrol "$S" 1; authorise "$S" 1 0; enrol "$S" 2
LTK=$(printf '6b%.0s' $(seq 32))

# sealined with endpoint 0's identity, paired with 1 and 2 (their keys,
# one LTK), its modem line the exchange's pty of endpoint 0.
sealined_peer "$SD" 1 "$LTK"; sealined_peer "$SD" 2 "$LTK"
sealined_start "$SD" 0 || exit 1
SD_PID=$SEALINED_PID
trap 'kill "$SD_PID" 2>/dev/null; cleanup' EXIT
sc() { "$SEALCTL" "$@" --socket "$SD/ctl.sock"; }
sd_idle() { # [TENTHS]: sealined's dial-up line and the TSP's lines wait for a call
	local i
	for ((i = 0; i < ${1:-100}; i++)); do
		"$SEALCTL" status --json --socket "$SD/ctl.sock" 2>/dev/null |
			jq -e '[.lines[] | select(.call_state == "idle")] | length == 1' >/dev/null &&
			"$SEALCTL" status --json --socket "$S/sealtspd.sock" 2>/dev/null |
			jq -e '.daemon.calls == 0 and ([.lines[] | select(.state != "idle" or .modem != "ready")] | length == 0)' >/dev/null &&
			return 0
		sleep 0.1
	done
	echo "sealined's line is not idle:"; "$SEALCTL" status --socket "$SD/ctl.sock" 2>&1 | tail -n 12
	return 1
}
check "saf-sealined: sealined runs without the sealine module, its dial-up line idle" sd_idle

# spool_json, spool_field, wait_state, receiver and receiver_done: saf.sh's,
# on this $S.
ob_field() { sc outbox --json | jq -r --arg e "$1" --arg f "$2" '.[] | select(.id == $e) | .[$f]'; }

head -c 200000 /dev/urandom >"$S/file-a"
printf 'for account 1, by way of the TSP\n' >"$S/file-b"

handed_over() {
	receiver 1 "$S/r1" OK
	sc send --to "$(acct 1)" --via-tsp --wait --quiet "$S/file-a" "$S/file-b" >"$S/send1" 2>"$S/send1.err" ||
		{ cat "$S/send1" "$S/send1.err"; grep -i "tsp\|leg\|envelope" "$SD/log" | tail -n 20; return 1; }
	ID1=$(head -n 1 "$S/send1")
	[ "$(ob_field "$ID1" via)" = tsp ] || { sc outbox --json; return 1; }
	sc outbox acceptance "$ID1" >"$S/acceptance1" || return 1
	# the acceptance names the envelope as it is in the outbox
	grep -qx "envelope $ID1" "$S/acceptance1" &&
		grep -qx "sha256 $(sha256sum <"$SD/state/outbox/$ID1.env" | cut -d' ' -f1)" "$S/acceptance1" &&
		grep -qx "size $(stat -c %s "$SD/state/outbox/$ID1.env")" "$S/acceptance1" &&
		grep -qx "sender $(acct 0)" "$S/acceptance1" && grep -qx "recipient $(acct 1)" "$S/acceptance1" ||
		{ cat "$S/acceptance1"; return 1; }
	grep -q "the TSP signs with key" "$SD/log" || { echo "T's key was not pinned"; return 1; }
}
check "saf-sealined: sealctl send --via-tsp --wait: handed over, the TSP's signed acceptance checked against the envelope and kept" handed_over

delivered_by_tsp() {
	receiver_done "$S/r1" || return 1
	wait_state "$ID1" delivered || return 1
	cmp "$S/file-a" "$S/r1/inbox/$ID1/file-a" && cmp "$S/file-b" "$S/r1/inbox/$ID1/file-b" ||
		{ ls -lR "$S/r1"; return 1; }
	# held until the receipt comes, the envelope kept
	[ "$(ob_field "$ID1" state)" = held ] && [ -f "$SD/state/outbox/$ID1.env" ] || { sc outbox; return 1; }
	sc outbox | grep -q "held at the TSP" || { sc outbox; return 1; }
}
check "saf-sealined: the TSP delivers it to the recipient, byte for byte; the outbox says held, the envelope kept" delivered_by_tsp

collected() {
	sd_idle || return 1
	sc outbox collect >"$S/collect1" 2>&1 || { cat "$S/collect1"; tail -n 20 "$SD/log"; return 1; }
	grep -q "1 receipts and notices stored" "$S/collect1" || { cat "$S/collect1"; return 1; }
	[ "$(ob_field "$ID1" state)" = delivered ] || { sc outbox; return 1; }
	[ ! -e "$SD/state/outbox/$ID1.env" ] || { echo "the envelope is still in the outbox"; return 1; }
	sc outbox receipt "$ID1" >"$S/receipt1" || return 1
	cmp "$S/receipt1" "$S/r1/receipt-$ID1" || { echo "not the recipient's receipt"; return 1; }
	sc receipt verify "$S/receipt1" || return 1
	[ "$(spool_field "$ID1" collected_time)" != null ] && [ -n "$(spool_field "$ID1" collected_time)" ] ||
		{ spool_json; return 1; }
	# the next collection brings nothing more
	sd_idle || return 1
	sc outbox collect 2>&1 | grep -q "0 receipts and notices stored"
}
check "saf-sealined: sealctl outbox collect: the recipient's receipt verified and stored, delivered, receipt verify passes, the TSP's row collected" collected

windowed() {
	sd_idle || return 1
	exchange_ctl "$S" "busy 5550001 on" >/dev/null
	sc send --to "$(acct 1)" --via-tsp --deliver-window 22:00-06:00 --wait --quiet "$S/file-b" >"$S/send2" 2>&1 ||
		{ cat "$S/send2"; return 1; }
	ID2=$(head -n 1 "$S/send2")
	[ "$(ob_field "$ID2" deliver_window)" = "22:00-06:00" ] || { sc outbox --json; return 1; }
	[ "$(spool_field "$ID2" deliver_window)" = "22:00-06:00" ] || { spool_json; return 1; }
}
check "saf-sealined: --deliver-window reaches the TSP's row with the envelope" windowed

bounced() {
	sd_idle || return 1
	exchange_ctl "$S" "busy 5550001 off" >/dev/null
	# the windowed one stays passed over; this one is refused at delivery
	tsp_sql "UPDATE spool SET next_ms = 9000000000000 WHERE envelope = x'$ID2'" || return 1
	receiver 1 "$S/r1b" refused --refuse
	sc send --to "$(acct 1)" --via-tsp --wait --quiet "$S/file-b" >"$S/send3" 2>&1 || { cat "$S/send3"; return 1; }
	ID3=$(head -n 1 "$S/send3")
	receiver_done "$S/r1b" || return 1
	wait_state "$ID3" bounced || return 1
	sd_idle || return 1
	sc outbox collect >"$S/collect3" 2>&1 || { cat "$S/collect3"; return 1; }
	[ "$(ob_field "$ID3" state)" = bounced ] || { sc outbox; return 1; }
	ob_field "$ID3" detail | grep -q NOT_AUTHORISED || { sc outbox --json; return 1; }
	sc outbox notice "$ID3" | grep -qx "outcome bounced" || return 1
	[ -f "$SD/state/outbox/$ID3.env" ] || { echo "a bounced envelope is kept for the sender"; return 1; }
}
check "saf-sealined: a recipient that refuses: bounced, the TSP's signed notice verified and kept, the envelope too" bounced

# A lying TSP: its store changed under it. A receipt that is not the
# recipient's (one byte changed), and a notice about another hash.
lying_receipt() {
	sd_idle || return 1
	receiver 1 "$S/r1c" OK
	sc send --to "$(acct 1)" --via-tsp --wait --quiet "$S/file-b" >"$S/send4" 2>&1 || { cat "$S/send4"; return 1; }
	ID4=$(head -n 1 "$S/send4")
	receiver_done "$S/r1c" || return 1
	wait_state "$ID4" delivered || return 1
	tsp_sql "UPDATE spool SET receipt = replace(receipt, 'files 1', 'files 7') WHERE envelope = x'$ID4'" || return 1
	sd_idle || return 1
	sc outbox collect >"$S/collect4" 2>&1
	grep -q "0 receipts and notices stored" "$S/collect4" || { cat "$S/collect4"; return 1; }
	[ "$(ob_field "$ID4" state)" = held ] || { sc outbox; return 1; }
	[ "$(spool_field "$ID4" collected_time)" = null ] || [ -z "$(spool_field "$ID4" collected_time)" ] || { spool_json; return 1; }
	grep -q "envelope $ID4.*: the receipt the TSP passes on does not verify" "$SD/log" ||
		{ grep "$ID4" "$SD/log"; return 1; }
}
check "saf-sealined: a receipt the TSP changed: not acknowledged, logged, the envelope still held" lying_receipt

lying_notice() {
	sd_idle || return 1
	# ID2 (held, passed over) expires, with another hash in the TSP's row
	tsp_sql "UPDATE spool SET sha256 = zeroblob(32), expires_ms = 1 WHERE envelope = x'$ID2'" || return 1
	wait_state "$ID2" expired || return 1
	sc outbox collect >"$S/collect5" 2>&1
	grep -q "0 receipts and notices stored" "$S/collect5" || { cat "$S/collect5"; return 1; }
	[ "$(ob_field "$ID2" state)" = held ] || { sc outbox; return 1; }
	grep -q "non-delivery notice does not verify: not about envelope $ID2 as it was sealed" "$SD/log" ||
		{ grep -i "notice" "$SD/log" | tail -n 5; return 1; }
}
check "saf-sealined: a notice about another hash: not acknowledged, logged, the envelope still held" lying_notice

# The TSP refuses the leg (2 does not take envelopes from 0): shown with
# the NAK in words, queued for a retry; cancelled, nothing left.
refused_leg() {
	sd_idle || return 1
	sc send --to "$(acct 2)" --via-tsp --quiet "$S/file-b" >"$S/send6" 2>&1 || { cat "$S/send6"; return 1; }
	ID6=$(head -n 1 "$S/send6")
	local i
	for ((i = 0; i < 100; i++)); do
		ob_field "$ID6" detail | grep -q "the TSP refused the leg: the recipient does not take envelopes from this account (NOT_AUTHORISED)" && break
		sleep 0.1
	done
	[ "$(ob_field "$ID6" state)" = queued ] && [ "$(ob_field "$ID6" attempts)" = 1 ] || { sc outbox --json; return 1; }
	sc outbox cancel "$ID6" >/dev/null || return 1
	[ "$(spool_json | jq --arg e "$ID6" '[.[] | select(.envelope == $e)] | length')" = 0 ] || { spool_json; return 1; }
}
check "saf-sealined: the TSP refuses the leg (NAK NOT_AUTHORISED): shown in words, queued for a retry, cancelled" refused_leg

sd_stop() {
	kill -TERM "$SD_PID" 2>/dev/null
	wait "$SD_PID"
}

# [courier] tsp_after: an envelope sent without a route whose direct
# attempts fail (the recipient's line busy: the TSP answers the call
# BUSY) goes to the TSP after the second, is handed over and delivered.
fallback() {
	local i state
	sd_stop || return 1
	SEALINED_COURIER=$'tsp_after = 2\nretry = 10' sealined_start "$SD" 0 || return 1
	SD_PID=$SEALINED_PID
	# A sealined that starts with envelopes held calls the TSP at once to
	# collect; the earlier lying-TSP tests left a notice and a receipt it
	# will not acknowledge, each sent four times 3 s apart: up to a minute.
	sd_idle 600 || return 1
	exchange_ctl "$S" "busy 5550001 on" >/dev/null
	sc send --to "$(acct 1)" --quiet "$S/file-b" >"$S/send7" 2>&1 || { cat "$S/send7"; return 1; }
	ID7=$(head -n 1 "$S/send7")
	for ((i = 0; i < 900; i++)); do
		state=$(ob_field "$ID7" state)
		[ "$state" = held ] && break
		sleep 0.1
	done
	[ "$state" = held ] && [ "$(ob_field "$ID7" via)" = tsp ] || { sc outbox --json; return 1; }
	grep -q "envelope $ID7 to $(acct 1): 2 direct attempts failed (the last: .*): handed to the TSP (tsp_after = 2)" "$SD/log" ||
		{ grep "$ID7" "$SD/log"; return 1; }
	[ "$(grep -c "calling $(acct 1) to deliver envelope $ID7" "$SD/log")" = 2 ] || { grep "$ID7" "$SD/log"; return 1; }
	sc outbox acceptance "$ID7" | grep -qx "envelope $ID7" || return 1
	held "$ID7" || { spool_json; return 1; }
	# the TSP's first attempt finds the line busy too; it delivers once
	# the line is free
	for ((i = 0; i < 300; i++)); do
		[ "$(spool_field "$ID7" reason)" = BUSY ] && [ "$(spool_field "$ID7" state)" = held ] && break
		sleep 0.1
	done
	# the hand-over leg goes on to the notes it will not acknowledge
	sd_idle 600 || return 1
	exchange_ctl "$S" "busy 5550001 off" >/dev/null
	receiver 1 "$S/r1f" OK
	due "$ID7"
	receiver_done "$S/r1f" || return 1
	wait_state "$ID7" delivered || return 1
	cmp "$S/file-b" "$S/r1f/inbox/$ID7/file-b"
}
check "saf-sealined: tsp_after = 2: an envelope without a route, two direct attempts busy, handed to the TSP and delivered" fallback
check "saf-sealined: sealined stops on SIGTERM with status 0" sd_stop
check "saf-sealined: TSP stops cleanly on SIGTERM" stop_tsp
stop_exchange
if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' "$SD/log" "$S/tsp.log" "$S"/r*/err; then
	bad "saf-sealined: sanitizers: a report from sealined, sealtspd or sim-courier"
	grep -h -m3 -A5 -e 'Sanitizer' -e 'runtime error' "$SD/log" "$S/tsp.log" "$S"/r*/err | head -30
else ok "saf-sealined: sanitizers: no report from sealined, sealtspd or sim-courier"; fi
