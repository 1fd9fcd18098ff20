# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/tsp/saf-recipient.sh - store and forward between two real
# endpoints: sealined (built with ASan and UBSan) as the sender and as the
# recipient, sealctl as their users run it, sealtspd between them, over
# ptys of the simulated exchange. Sourced by test-tsp.sh (its helpers,
# counters and binaries) after saf.sh (its helpers, which take $S when
# they run).
#
# Neither sealined has the sealine module: the recipient answers the
# TSP's call, runs call setup with the line's control frames framed in
# user space, and on a held delivery's offer stays so: the courier takes
# the envelope under the leg's keys (only an ordinary call needs the
# discipline, attached before CALL_ACCEPT).
#
#   the recipient busy at the hand-over: the TSP delivers later, the files
#   byte for byte in its inbox, sealctl inbox shows the sender and "tsp",
#   the receive log one delivery; the sender collects the receipt, which
#   verifies; the same envelope delivered again (a TSP replaying it):
#   answered with the first receipt, in the inbox once; a sender the
#   recipient revoked: refused at the offer (NOT_AUTHORISED), bounced, the
#   reason at the sender; a lying TSP: an envelope whose content it
#   changed (DAMAGED twice: bounced) or whose header is another
#   recipient's (NOT_FOR_US: bounced) or that names another sender than
#   the one who sealed it (NOT_AUTHORISED: bounced), nothing in the
#   inbox; no room at the recipient: NO_SPACE, retried, delivered once
#   there is room; kill -9 of
#   sealtspd after the recipient committed and before the receipt reached
#   it: delivered again after the restart, answered with the first
#   receipt, in the inbox once, the sender's receipt verifies.

S=$W/safr
SD=$S/sender RD=$S/recipient
mkdir -p "$S"
start_exchange "$S" 2 3 --ring-interval 0.2 || exit 1
"$SIM" keys --count 3 >"$S/keys" || exit 1
start_tsp "$S" 2 || exit 1
# 0 sends to 1, which authorises it at the TSP; 1 also authorises 2
# (and has paired with it), whose name a lying TSP borrows, and for whom
# another envelope is sealed.
enrol "$S" 0 --caller-id 5550000; enrol "$S" 1 --caller-id 5550001; authorise "$S" 1 0
enrol "$S" 2; authorise "$S" 1 2
LTK=$(printf '3c%.0s' $(seq 32))

sealined_peer "$SD" 1 "$LTK"; sealined_peer "$RD" 0 "$LTK"; sealined_peer "$RD" 2 "$LTK"
sealined_start "$SD" 0 || exit 1
SD_PID=$SEALINED_PID
sealined_start "$RD" 1 || exit 1
RD_PID=$SEALINED_PID
trap 'kill "$SD_PID" "$RD_PID" 2>/dev/null; cleanup' EXIT
ss() { "$SEALCTL" "$@" --socket "$SD/ctl.sock"; }
rs() { "$SEALCTL" "$@" --socket "$RD/ctl.sock"; }
# idle DIR: that sealined's dial-up line waits for a call
idle() {
	local i
	for ((i = 0; i < 150; i++)); do
		"$SEALCTL" status --json --socket "$1/ctl.sock" 2>/dev/null |
			jq -e '[.lines[] | select(.call_state == "idle")] | length == 1' >/dev/null && return 0
		sleep 0.1
	done
	echo "$1: the line is not idle:"; "$SEALCTL" status --socket "$1/ctl.sock" 2>&1 | tail -n 12
	return 1
}
all_idle() { idle "$SD" && idle "$RD" && tsp_idle; }
check "saf-recipient: two sealined without the sealine module, their dial-up lines idle" all_idle

ob_field() { ss outbox --json | jq -r --arg e "$1" --arg f "$2" '.[] | select(.id == $e) | .[$f]'; }
inbox_field() { rs inbox --json | jq -r --arg e "$1" --arg f "$2" '.[] | select(.id == $e) | .[$f]'; }
# received ID OUTCOME: how many records of the recipient's receive log
received() { rs log --received --json | jq -s --arg e "$1" --arg o "$2" '[.[] | select(.id == $e and .outcome == $o)] | length'; }
# send_held FILE...: sealctl send --via-tsp while the recipient is busy;
# ID is the envelope, held at the TSP
send_held() {
	exchange_ctl "$S" "busy 5550001 on" >/dev/null
	ss send --to "$(acct 1)" --via-tsp --wait --quiet "$@" >"$S/send" 2>&1 || { cat "$S/send"; return 1; }
	ID=$(head -n 1 "$S/send")
	held "$ID" || { spool_json; return 1; }
}
# tsp_file ID: the TSP's spool file of that envelope
tsp_file() { echo "$S/state/tsp-spool/$(tsp_sql "SELECT printf('%016x', sid) FROM spool WHERE envelope = x'$1'")"; }
# deliver ID: the recipient free, the delivery due now
deliver() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(spool_field "$1" state)" = held ] && break
		sleep 0.1
	done
	exchange_ctl "$S" "busy 5550001 off" >/dev/null
	due "$1"
}

head -c 300000 /dev/urandom >"$S/file-a"
printf 'for account 1, held by the TSP\n' >"$S/file-b"

later() {
	all_idle || return 1
	send_held "$S/file-a" "$S/file-b" || return 1
	ID1=$ID
	# the busy recipient's attempt: counted, retried later
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(spool_field "$ID1" reason)" = BUSY ] && [ "$(spool_field "$ID1" state)" = held ] && break
		sleep 0.1
	done
	[ "$(spool_field "$ID1" reason)" = BUSY ] || { spool_json; return 1; }
	cp "$(tsp_file "$ID1")" "$S/held-copy-1" || return 1
	deliver "$ID1"
	wait_state "$ID1" delivered || { tail -n 30 "$RD/log"; return 1; }
	cmp "$S/file-a" "$RD/in/$ID1/file-a" && cmp "$S/file-b" "$RD/in/$ID1/file-b" || { ls -lR "$RD/in"; return 1; }
	[ "$(inbox_field "$ID1" from)" = "$(acct 0)" ] && [ "$(inbox_field "$ID1" via)" = tsp ] || { rs inbox --json; return 1; }
	rs inbox | grep -q "^$ID1  $(acct 0) tsp " || { rs inbox; return 1; }
	[ "$(received "$ID1" delivered)" = 1 ] || { rs log --received --json; return 1; }
	rs log --received --json | jq -s -e --arg e "$ID1" '.[] | select(.id == $e) | .via == "tsp"' >/dev/null ||
		{ rs log --received --json; return 1; }
	grep -q "receiving envelope $ID1 from $(acct 0) by way of the TSP" "$RD/log" || return 1
	# no spool or staging left, the line idle again
	[ -z "$(ls "$RD/state/spool")" ] || { ls -l "$RD/state/spool"; return 1; }
	idle "$RD"
}
check "saf-recipient: the recipient busy at the hand-over; the TSP delivers later, byte for byte; sealctl inbox shows the sender and 'tsp'" later

collected() {
	all_idle || return 1
	ss outbox collect >"$S/collect1" 2>&1 || { cat "$S/collect1"; return 1; }
	[ "$(ob_field "$ID1" state)" = delivered ] || { ss outbox; return 1; }
	ss outbox receipt "$ID1" >"$S/receipt1" || return 1
	cmp "$S/receipt1" "$RD/state/receipts/$ID1.receipt" || { echo "not the recipient's receipt"; return 1; }
	ss receipt verify "$S/receipt1"
}
check "saf-recipient: the sender collects the recipient's receipt: delivered, sealctl receipt verify passes" collected

# A TSP that delivers an envelope again (its store and spool put back as
# they were before the delivery): the first receipt, nothing new.
replayed() {
	all_idle || return 1
	cp "$S/held-copy-1" "$(tsp_file "$ID1")" || return 1
	tsp_sql "UPDATE spool SET state = 'held', next_ms = 0, done_ms = 0, collected_ms = 0, receipt = '' WHERE envelope = x'$ID1'" || return 1
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q "envelope $ID1 was delivered before: its receipt again" "$RD/log" && break
		sleep 0.1
	done
	grep -q "envelope $ID1 was delivered before: its receipt again" "$RD/log" || { tail -n 20 "$RD/log"; return 1; }
	wait_state "$ID1" delivered || return 1
	[ "$(tsp_sql "SELECT receipt FROM spool WHERE envelope = x'$ID1'")" = "$(cat "$S/receipt1")" ] ||
		{ echo "the TSP did not get the first receipt"; return 1; }
	[ "$(rs inbox --json | jq --arg e "$ID1" '[.[] | select(.id == $e)] | length')" = 1 ] || return 1
	[ "$(received "$ID1" delivered)" = 1 ] || { rs log --received --json; return 1; }
	cmp "$S/file-a" "$RD/in/$ID1/file-a"
}
check "saf-recipient: a TSP that delivers the envelope again gets the first receipt; the inbox holds it once" replayed

refused() {
	all_idle || return 1
	rs peers revoke "$(acct 0)" >/dev/null || return 1
	ss send --to "$(acct 1)" --via-tsp --wait --quiet "$S/file-b" >"$S/send" 2>&1 || { cat "$S/send"; return 1; }
	ID2=$(head -n 1 "$S/send")
	wait_state "$ID2" bounced || return 1
	[ "$(spool_field "$ID2" reason)" = NOT_AUTHORISED ] || { spool_json; return 1; }
	grep -q "the TSP offers a held delivery from $(acct 0) .*: refused, $(acct 0) is not authorised here" "$RD/log" ||
		{ grep "held delivery" "$RD/log"; return 1; }
	[ ! -e "$RD/in/$ID2" ] || return 1
	all_idle || return 1
	ss outbox collect >"$S/collect2" 2>&1 || { cat "$S/collect2"; return 1; }
	[ "$(ob_field "$ID2" state)" = bounced ] || { ss outbox; return 1; }
	ob_field "$ID2" detail | grep -q NOT_AUTHORISED || { ss outbox --json; return 1; }
	ss outbox cancel "$ID2" >/dev/null
	rs peers authorise "$(acct 0)" >/dev/null
}
check "saf-recipient: a sender the recipient revoked: refused at the offer, bounced, NOT_AUTHORISED at the sender" refused

# A lying TSP: the envelope it holds changed under it (one byte of a
# chunk). The recipient refuses it as DAMAGED; the TSP tries once more and
# bounces it; nothing reaches the inbox.
damaged() {
	all_idle || return 1
	head -c 150000 /dev/urandom >"$S/file-c"
	send_held "$S/file-c" || return 1
	ID3=$ID
	local f
	f=$(tsp_file "$ID3")
	printf '\x5a' | dd of="$f" bs=1 seek=20000 conv=notrunc status=none || return 1
	deliver "$ID3"
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(spool_field "$ID3" reason)" = DAMAGED ] && [ "$(spool_field "$ID3" state)" = held ] && break
		[ "$(spool_field "$ID3" state)" = bounced ] && break
		sleep 0.1
	done
	[ "$(spool_field "$ID3" reason)" = DAMAGED ] || { spool_json; tail -n 20 "$RD/log"; return 1; }
	idle "$RD" || return 1
	due "$ID3"
	wait_state "$ID3" bounced || return 1
	[ "$(spool_field "$ID3" reason)" = DAMAGED ] || { spool_json; return 1; }
	[ ! -e "$RD/in/$ID3" ] || return 1
	[ "$(received "$ID3" refused)" -ge 2 ] || { rs log --received --json; return 1; }
	[ "$(received "$ID3" delivered)" = 0 ]
}
check "saf-recipient: a TSP that changed the envelope: DAMAGED, bounced after the second attempt, nothing in the inbox" damaged

# A lying TSP: the header replaced by that of an envelope sealed for
# another account (the same length: the rest is the first one's).
not_for_us() {
	all_idle || return 1
	send_held "$S/file-b" || return 1
	ID4=$ID
	"$SIMC" seal --index 0 --to-index 2 --ltk "$LTK" --out "$S/env-for-2" "$S/file-b" >/dev/null || return 1
	dd if="$S/env-for-2" of="$(tsp_file "$ID4")" bs=153 count=1 conv=notrunc status=none || return 1
	deliver "$ID4"
	wait_state "$ID4" bounced || { tail -n 20 "$RD/log"; return 1; }
	[ "$(spool_field "$ID4" reason)" = NOT_FOR_US ] || { spool_json; return 1; }
	# the inbox holds the first envelope only
	[ "$(find "$RD/in" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] && [ -d "$RD/in/$ID1" ] || { ls "$RD/in"; return 1; }
	all_idle || return 1
	ss outbox collect >/dev/null 2>&1
	ob_field "$ID4" detail | grep -q NOT_FOR_US || { ss outbox --json; return 1; }
}
check "saf-recipient: a TSP that delivers an envelope sealed for another account: NOT_FOR_US, bounced, reported to the sender" not_for_us

# A lying TSP: it announces a sender the recipient takes envelopes from
# (2) and delivers an envelope another sealed (0's): what the offer had
# to go on was T's word, the header proves otherwise.
announced_other() {
	all_idle || return 1
	send_held "$S/file-b" || return 1
	ID6=$ID
	tsp_sql "UPDATE spool SET sender = '$(acct 2)' WHERE envelope = x'$ID6'" || return 1
	deliver "$ID6"
	wait_state "$ID6" bounced || { tail -n 20 "$RD/log"; return 1; }
	[ "$(spool_field "$ID6" reason)" = NOT_AUTHORISED ] || { spool_json; return 1; }
	grep -q "the TSP offers a held delivery from $(acct 2) .*: accepted" "$RD/log" &&
		grep -q "envelope $ID6 from $(acct 0) by way of the TSP refused: NOT_AUTHORISED (sealed by $(acct 0), but the TSP announced a delivery from $(acct 2))" "$RD/log" ||
		{ grep -e "$ID6" -e "held delivery" "$RD/log"; return 1; }
	[ ! -e "$RD/in/$ID6" ]
}
check "saf-recipient: a TSP that names another authorised sender than the one who sealed the envelope: refused, bounced" announced_other

# rs_restart [LINE]: the recipient's sealined again, with LINE added to
# its [courier] section (none: as configured at first)
rs_restart() {
	kill -TERM "$RD_PID" 2>/dev/null
	wait "$RD_PID" || return 1
	sed -i '/^# added by the test/,$d' "$RD/sealined.conf"
	[ -z "${1:-}" ] || printf '# added by the test\n%s\n' "$1" >>"$RD/sealined.conf"
	"$SEALINED" -f -c "$RD/sealined.conf" 2>>"$RD/log" &
	RD_PID=$!
	idle "$RD"
}
# No room in the recipient's inbox (more kept free than the disk has):
# NO_SPACE, which the TSP retries; delivered once there is room.
no_room() {
	all_idle || return 1
	rs_restart "min_free = 1024T" || return 1
	send_held "$S/file-b" || return 1
	ID7=$ID
	deliver "$ID7"
	local i
	for ((i = 0; i < 150; i++)); do
		[ "$(spool_field "$ID7" reason)" = NO_SPACE ] && [ "$(spool_field "$ID7" state)" = held ] && break
		sleep 0.1
	done
	[ "$(spool_field "$ID7" reason)" = NO_SPACE ] && [ "$(spool_field "$ID7" state)" = held ] ||
		{ spool_json; tail -n 20 "$RD/log"; return 1; }
	[ ! -e "$RD/in/$ID7" ] && [ ! -e "$RD/state/spool/$ID7.env" ]
	local nothing=$?
	rs_restart || return 1
	[ "$nothing" = 0 ] || { echo "something of $ID7 was kept"; return 1; }
	due "$ID7"
	wait_state "$ID7" delivered || return 1
	cmp "$S/file-b" "$RD/in/$ID7/file-b"
}
check "saf-recipient: no room in the recipient's inbox: NO_SPACE, kept and retried by the TSP, delivered once there is room" no_room

# kill -9 of sealtspd after the recipient committed the envelope and
# before its receipt reached the TSP: the TSP is stopped (SIGSTOP) as soon
# as the recipient's spool holds every chunk, killed once the inbox has
# it. After the restart the row is delivered again, which the recipient
# answers with the first receipt.
killed() {
	all_idle || return 1
	head -c 4000000 /dev/urandom >"$S/file-d"
	send_held "$S/file-d" || return 1
	ID5=$ID
	local size
	size=$(stat -c %s "$SD/state/outbox/$ID5.env")
	python3 - "$RD/state/spool/$ID5.env" "$size" "$TSP_PID" >"$S/watch" 2>&1 <<-'EOF' &
	import os, signal, sys, time
	path, size, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	end = time.time() + 60
	while time.time() < end:
	    try:
	        if os.stat(path).st_size >= size:
	            os.kill(pid, signal.SIGSTOP)
	            print("stopped")
	            sys.exit(0)
	    except FileNotFoundError:
	        pass
	    time.sleep(0.0005)
	sys.exit(1)
	EOF
	local watcher=$! i
	deliver "$ID5"
	wait "$watcher" || { echo "the recipient's spool never held it all"; cat "$S/watch"; return 1; }
	for ((i = 0; i < 200; i++)); do
		[ -d "$RD/in/$ID5" ] && break
		sleep 0.05
	done
	[ -d "$RD/in/$ID5" ] || { kill -CONT "$TSP_PID"; echo "not committed"; return 1; }
	[ "$(spool_field "$ID5" state)" = delivering ] || { kill -CONT "$TSP_PID"; echo "the TSP got the receipt"; return 1; }
	kill -KILL "$TSP_PID"; wait "$TSP_PID" 2>/dev/null; TSP_PID=
	idle "$RD" || return 1
	start_tsp "$S" 2 || return 1
	for ((i = 0; i < 150; i++)); do
		[ "$(spool_field "$ID5" state)" = delivered ] && break
		# the first attempt after the restart may find the line busy
		[ "$(spool_field "$ID5" state)" = held ] && idle "$RD" >/dev/null && due "$ID5"
		sleep 0.1
	done
	wait_state "$ID5" delivered || { tail -n 20 "$RD/log"; return 1; }
	grep -q "envelope $ID5 was delivered before: its receipt again" "$RD/log" || return 1
	[ "$(rs inbox --json | jq --arg e "$ID5" '[.[] | select(.id == $e)] | length')" = 1 ] || return 1
	[ "$(received "$ID5" delivered)" = 1 ] || { rs log --received --json; return 1; }
	cmp "$S/file-d" "$RD/in/$ID5/file-d" || return 1
	all_idle || return 1
	ss outbox collect >/dev/null 2>&1 || return 1
	[ "$(ob_field "$ID5" state)" = delivered ] || { ss outbox; return 1; }
	ss outbox receipt "$ID5" | cmp - "$RD/state/receipts/$ID5.receipt"
}
check "saf-recipient: kill -9 of the TSP between the recipient's commit and the receipt: delivered again, once, the first receipt" killed

stop_endpoints() {
	kill -TERM "$SD_PID" "$RD_PID" 2>/dev/null
	wait "$SD_PID" && wait "$RD_PID"
}
check "saf-recipient: both sealined stop on SIGTERM with status 0" stop_endpoints
check "saf-recipient: TSP stops cleanly on SIGTERM" stop_tsp
stop_exchange
if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' "$SD/log" "$RD/log" "$S/tsp.log"; then
	bad "saf-recipient: sanitizers: a report from a sealined or sealtspd"
	grep -h -m3 -A5 -e 'Sanitizer' -e 'runtime error' "$SD/log" "$RD/log" "$S/tsp.log" | head -30
else ok "saf-recipient: sanitizers: no report from either sealined or sealtspd"; fi
