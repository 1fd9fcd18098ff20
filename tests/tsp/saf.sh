# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/tsp/saf.sh - store and forward at the TSP
# (Documentation/store-and-forward.rst), sourced by test-tsp.sh (its
# helpers, counters and binaries): sealtspd against sim-courier, one
# endpoint with the agent's real call-setup, courier-channel, transfer
# and envelope engines, over ptys of the simulated exchange.
#
#   a hand-over of a real envelope: the acceptance verifies and names it,
#   the spool holds it byte for byte, the row is held; the same envelope
#   again: the same acceptance, byte for byte, one row; a sender that lies
#   about the size (none an envelope has) or names a recipient that does
#   not authorise it, or no account at all: refused, nothing held; one
#   that pads past the bucket: refused, or PADs out of place: dropped; a cut
#   hand-over resumes where it stopped; kill -9 of the TSP with a
#   hand-over half done and one held: after the restart both are there,
#   the half one resumes; expiry: the signed non-delivery notice reaches
#   the sender when it collects, once; delivery: T calls the recipient,
#   which unpacks it into its inbox byte for byte and signs a receipt the
#   sender collects; a recipient that hangs up mid-delivery (delivered on
#   the next attempt), that refuses the sender (bounced, notice), an
#   envelope sealed for another account or padded to another size
#   (refused by the recipient, bounced); kill -9 between acceptance and
#   delivery: delivered after the restart, once.

S=$W/saf
mkdir -p "$S"
start_exchange "$S" 4 10 --ring-interval 0.2 || exit 1
"$SIM" keys --count 10 >"$S/keys" || exit 1
start_tsp "$S" 4 || exit 1
# 0 sends to 1 (authorised); 2 is enrolled but 1 does not authorise it;
# 3 is not enrolled; 4 sends to 5 (authorised). Their deliveries find
# the recipients busy (and are retried minutes later): these are the
# hand-over's tests. 6 sends to 7 and 9, 8 to 9: the deliveries'.
enrol "$S" 0 --caller-id 5550000; enrol "$S" 1; authorise "$S" 1 0
enrol "$S" 2 --caller-id 5550002
enrol "$S" 4 --caller-id 5550004; enrol "$S" 5; authorise "$S" 5 4
enrol "$S" 6 --caller-id 5550006; enrol "$S" 7; authorise "$S" 7 6
enrol "$S" 8 --caller-id 5550008; enrol "$S" 9; authorise "$S" 9 8; authorise "$S" 9 6
exchange_ctl "$S" "busy 5550001 on" >/dev/null
exchange_ctl "$S" "busy 5550005 on" >/dev/null
LTK=$(printf '5a%.0s' $(seq 32))

# simc_deposit I OUT-DIR ENVELOPE TO [args]: sim-courier deposit
simc_deposit() {
	local i=$1 out=$2 env=$3 to=$4; shift 4
	mkdir -p "$out"
	"$SIMC" deposit -v --index "$i" --line "$S/ep$i" --tsp-number 100 --tsp-key "$TSP_KEY" \
		--to "$to" --envelope "$env" --out-dir "$out" --timeout 60 "$@" >"$out/result" 2>"$out/err" ||
		{ cat "$out/result"; tail -n 20 "$out/err"; return 1; }
}
simc_collect() {
	local i=$1 out=$2; shift 2
	mkdir -p "$out"
	"$SIMC" collect --index "$i" --line "$S/ep$i" --tsp-number 100 --tsp-key "$TSP_KEY" \
		--out-dir "$out" --timeout 60 "$@" >"$out/result" 2>"$out/err" ||
		{ cat "$out/result"; tail -n 20 "$out/err"; return 1; }
}
# no_sanitizer_report NAME WHO LOG...: ok if no log holds an ASan, UBSan
# or LeakSanitizer report
no_sanitizer_report() {
	local name=$1 who=$2; shift 2
	if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' "$@"; then
		bad "$name: sanitizers: a report from $who"
		grep -h -m3 -A5 -e 'Sanitizer' -e 'runtime error' "$@" | head -30
	else ok "$name: sanitizers: no report from $who"; fi
}
# tsp_sql SQL: on the TSP's store while sealtspd runs (waiting for its
# write lock rather than failing with "database is locked")
tsp_sql() { sqlite3 -cmd '.timeout 10000' "$S/tsp.db" "$@"; }
spool_json() { "$SEALCTL" tsp --db "$S/tsp.db" spool --all --json; }
# spool_field ENVELOPE-ID FIELD: of the row of that envelope
spool_field() {
	spool_json | jq -r --arg e "$1" --arg f "$2" '.[] | select(.envelope == $e) | .[$f]'
}
env_id() { od -An -tx1 -j8 -N16 "$1" | tr -d ' \n'; }
# held ENVELOPE-ID: accepted and open (a busy recipient's attempt may be
# under way: held or delivering)
held() { case $(spool_field "$1" state) in held | delivering) return 0 ;; esac; return 1; }
# due ENVELOPE-ID: its next attempt now (no test waits out a back-off)
due() { tsp_sql "UPDATE spool SET next_ms = 0 WHERE envelope = x'$1' AND state = 'held'"; }
# wait_state ENVELOPE-ID STATE [SECONDS]: until the row is in it (10 s at
# most, or SECONDS)
wait_state() {
	local i
	for ((i = 0; i < ${3:-10} * 10; i++)); do
		[ "$(spool_field "$1" state)" = "$2" ] && return 0
		sleep 0.1
	done
	echo "envelope $1 is $(spool_field "$1" state), not $2"; return 1
}
# receiver I OUT-DIR EXPECT [args]: sim-courier receive in the background
receiver() {
	local i=$1 out=$2 expect=$3; shift 3
	mkdir -p "$out"
	"$SIMC" receive -v --index "$i" --line "$S/ep$i" --tsp-key "$TSP_KEY" --ltk "$LTK" \
		--out-dir "$out" --expect "$expect" --timeout 60 "$@" >"$out/result.$expect" 2>>"$out/err" &
	RECV_PID=$!
}
receiver_done() { # the receiver ended as expected
	wait "$RECV_PID" || { cat "$1/result."*; tail -n 15 "$1/err"; return 1; }
}
tsp_idle() { # every line idle again (the last call's hangup done)
	local i
	for ((i = 0; i < 100; i++)); do
		"$SEALCTL" status --json --socket "$S/sealtspd.sock" 2>/dev/null |
			jq -e '.daemon.calls == 0 and ([.lines[] | select(.state != "idle" or .modem != "ready")] | length == 0)' >/dev/null && return 0
		sleep 0.1
	done
	echo "the TSP's lines did not settle"; return 1
}

head -c 150000 /dev/urandom >"$S/file-a"
printf 'a note for account 1\n' >"$S/file-b"
"$SIMC" seal --index 0 --to-index 1 --ltk "$LTK" --out "$S/env-a" "$S/file-a" "$S/file-b" >/dev/null || exit 1
ENV_A=$(env_id "$S/env-a")

handed_over() {
	simc_deposit 0 "$S/d1" "$S/env-a" "$(acct 1)" --expect accepted || return 1
	local sid
	held "$ENV_A" || { spool_json; return 1; }
	sid=$(spool_field "$ENV_A" spool_id)
	cmp "$S/env-a" "$S/state/tsp-spool/$sid" || { echo "the spool's file is not the envelope"; return 1; }
	grep -q "^spool $sid\$" "$S/d1/acceptance" || { echo "the acceptance names another row"; return 1; }
	[ "$(spool_field "$ENV_A" size)" = "$(stat -c %s "$S/env-a")" ] &&
		[ "$(spool_field "$ENV_A" bucket)" = 262144 ] || { spool_json; return 1; }
}
check "saf: a real envelope handed over: the acceptance verifies and names it, the spool holds it byte for byte" handed_over

duplicate() {
	tsp_idle || return 1
	simc_deposit 0 "$S/d2" "$S/env-a" "$(acct 1)" --expect accepted || return 1
	cmp "$S/d1/acceptance" "$S/d2/acceptance" || { echo "the second acceptance differs"; return 1; }
	[ "$(spool_json | jq --arg e "$ENV_A" '[.[] | select(.envelope == $e)] | length')" = 1 ] || { spool_json; return 1; }
}
check "saf: the same envelope again: the first acceptance byte for byte, one row" duplicate

# Lying senders. A size no envelope has: T refuses it at the offer.
"$SIMC" seal --index 0 --to-index 1 --ltk "$LTK" --out "$S/env-b" "$S/file-b" >/dev/null || exit 1
lie_size() {
	tsp_idle || return 1
	simc_deposit 0 "$S/d3" "$S/env-b" "$(acct 1)" --claim-size 100 --expect BAD_FORMAT || return 1
	[ -z "$(spool_field "$(env_id "$S/env-b")" state)" ] || { echo "a row for the refused envelope"; spool_json; return 1; }
}
check "saf: a sender that lies about the size (no envelope has it): BAD_FORMAT, nothing held" lie_size
lie_rcpt() {
	tsp_idle || return 1
	simc_deposit 2 "$S/d4" "$S/env-b" "$(acct 1)" --expect nak:NOT_AUTHORISED || return 1
	tsp_idle || return 1
	simc_deposit 0 "$S/d5" "$S/env-b" 999999999999 --expect nak:UNKNOWN_ACCOUNT || return 1
	tsp_idle || return 1
	simc_deposit 3 "$S/d6" "$S/env-b" "$(acct 1)" --expect nak:UNKNOWN_ACCOUNT || return 1
	[ "$(spool_json | jq length)" = 1 ] || { spool_json; return 1; }
}
check "saf: a recipient that does not authorise the sender, an unknown recipient, an unknown sender: NAKs, nothing held" lie_rcpt

# Padding that lies: past the bucket (T refuses BAD_FORMAT, accepts
# nothing, and the honest hand-over resumes), or PADs after the RESULT
# and of another transfer (dropped: the envelope is accepted as it is).
"$SIMC" seal --index 0 --to-index 1 --ltk "$LTK" --out "$S/env-p" "$S/file-b" >/dev/null || exit 1
ENV_P=$(env_id "$S/env-p")
lie_pad() {
	tsp_idle || return 1
	simc_deposit 0 "$S/dp1" "$S/env-p" "$(acct 1)" --pad-to 200000 --expect BAD_FORMAT || return 1
	grep -q "padding past the envelope's size bucket" "$S/dp1/refusal" || { cat "$S/dp1/refusal"; return 1; }
	[ "$(spool_field "$ENV_P" state)" = receiving ] || { spool_json; return 1; }
	tsp_idle || return 1
	simc_deposit 0 "$S/dp2" "$S/env-p" "$(acct 1)" --pad-late --expect accepted || return 1
	held "$ENV_P" || { spool_json; return 1; }
	cmp "$S/env-p" "$S/state/tsp-spool/$(spool_field "$ENV_P" spool_id)"
}
check "saf: padding past the bucket: BAD_FORMAT, nothing accepted; PADs out of place dropped" lie_pad

# A cut hand-over resumes at the first chunk not on disk.
head -c 300000 /dev/urandom >"$S/file-c"
"$SIMC" seal --index 4 --to-index 5 --ltk "$LTK" --out "$S/env-c" "$S/file-c" >/dev/null || exit 1
ENV_C=$(env_id "$S/env-c")
cut_resume() {
	tsp_idle || return 1
	simc_deposit 4 "$S/d7" "$S/env-c" "$(acct 5)" --cut-after 2 --expect cut || return 1
	tsp_idle || return 1
	[ "$(spool_field "$ENV_C" state)" = receiving ] || { spool_json; return 1; }
	simc_deposit 4 "$S/d8" "$S/env-c" "$(acct 5)" --expect accepted || return 1
	grep -q "hand-over from $(acct 4) for $(acct 5), spool [0-9a-f]*, from chunk [2-4]\$" "$S/tsp.log" ||
		{ echo "the second hand-over did not resume"; grep 'hand-over from' "$S/tsp.log"; return 1; }
	cmp "$S/env-c" "$S/state/tsp-spool/$(spool_field "$ENV_C" spool_id)"
}
check "saf: a cut hand-over resumes at the first chunk not on disk, and the whole is held" cut_resume

# kill -9 with a hand-over half done: both envelopes are still there.
"$SIMC" seal --index 4 --to-index 5 --ltk "$LTK" --out "$S/env-d" "$S/file-c" "$S/file-b" >/dev/null || exit 1
ENV_D=$(env_id "$S/env-d")
killed() {
	tsp_idle || return 1
	simc_deposit 4 "$S/d9" "$S/env-d" "$(acct 5)" --cut-after 1 --expect cut || return 1
	kill -KILL "$TSP_PID"; wait "$TSP_PID" 2>/dev/null; TSP_PID=
	start_tsp "$S" 4 || return 1
	held "$ENV_A" && [ "$(spool_field "$ENV_D" state)" = receiving ] ||
		{ spool_json; return 1; }
	cmp "$S/env-a" "$S/state/tsp-spool/$(spool_field "$ENV_A" spool_id)" || return 1
	simc_deposit 4 "$S/d10" "$S/env-d" "$(acct 5)" --expect accepted || return 1
	cmp "$S/env-d" "$S/state/tsp-spool/$(spool_field "$ENV_D" spool_id)"
}
check "saf: kill -9 after a cut hand-over: the held envelope intact, the cut one resumes after the restart" killed

# Expiry: the row's expiry moved into the past (no test waits for a
# clock); the TSP's upkeep expires it, removes the file, and the sender
# collects the signed notice once.
expiry() {
	local sid
	sid=$(spool_field "$ENV_A" spool_id)
	tsp_idle || return 1
	tsp_sql "UPDATE spool SET expires_ms = 1 WHERE envelope = x'$ENV_A'" || return 1
	wait_state "$ENV_A" expired || return 1
	[ ! -e "$S/state/tsp-spool/$sid" ] || { echo "the expired envelope's file is still there"; return 1; }
	tsp_idle || return 1
	simc_collect 0 "$S/c1" --expect notes:1 || return 1
	grep -q '^outcome expired$' "$S/c1/note-0-notice" &&
		grep -q "^envelope $ENV_A\$" "$S/c1/note-0-notice" || { cat "$S/c1/note-0-notice"; return 1; }
	[ "$(spool_field "$ENV_A" collected_time)" != null ] || { spool_json; return 1; }
	tsp_idle || return 1
	simc_collect 0 "$S/c2" --expect notes:0
}
check "saf: expiry: the file removed, the signed notice collected by the sender once" expiry


# ---- Delivery: T calls the recipient, which takes the envelope with the
# courier's engines, unpacks it and signs a receipt; the sender collects it.
head -c 200000 /dev/urandom >"$S/file-e"
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-e" "$S/file-e" "$S/file-b" >/dev/null || exit 1
ENV_E=$(env_id "$S/env-e")
delivered() {
	tsp_idle || return 1
	receiver 7 "$S/r7" OK
	simc_deposit 6 "$S/d11" "$S/env-e" "$(acct 7)" --expect accepted || return 1
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_E" delivered || return 1
	cmp "$S/file-e" "$S/r7/inbox/$ENV_E/file-e" && cmp "$S/file-b" "$S/r7/inbox/$ENV_E/file-b" ||
		{ echo "the inbox does not hold the files byte for byte"; return 1; }
	[ ! -e "$S/state/tsp-spool/$(spool_field "$ENV_E" spool_id)" ] || { echo "the delivered envelope's file is still there"; return 1; }
	[ "$(spool_field "$ENV_E" attempts)" = 1 ] || { spool_json; return 1; }
	tsp_idle || return 1
	simc_collect 6 "$S/c3" --expect notes:1 || return 1
	cmp "$S/c3/note-0-receipt" "$S/r7/receipt-$ENV_E" || { echo "the collected receipt is not the recipient's"; return 1; }
}
check "saf: delivered: the files in the recipient's inbox byte for byte, its signed receipt collected by the sender" delivered

# The recipient hangs up in the middle: the attempt counts, the envelope
# stays held; the next attempt delivers it, and the inbox holds it once.
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-f" "$S/file-c" >/dev/null || exit 1
ENV_F=$(env_id "$S/env-f")
cut_delivery() {
	tsp_idle || return 1
	receiver 7 "$S/r7" cut --cut-after 1
	simc_deposit 6 "$S/d12" "$S/env-f" "$(acct 7)" --expect accepted || return 1
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_F" held || return 1
	[ "$(spool_field "$ENV_F" reason)" = CUT ] || { spool_json; return 1; }
	tsp_idle || return 1
	receiver 7 "$S/r7" OK
	due "$ENV_F"
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_F" delivered || return 1
	[ "$(spool_field "$ENV_F" attempts)" = 2 ] || { spool_json; return 1; }
	cmp "$S/file-c" "$S/r7/inbox/$ENV_F/file-c"
}
check "saf: the recipient hangs up mid-delivery: held again (CUT), delivered on the next attempt" cut_delivery

# A recipient that refuses the sender: bounced at once, with its reason;
# the sender collects the signed non-delivery notice.
"$SIMC" seal --index 8 --to-index 9 --ltk "$LTK" --out "$S/env-g" "$S/file-b" >/dev/null || exit 1
ENV_G=$(env_id "$S/env-g")
refused() {
	tsp_idle || return 1
	receiver 9 "$S/r9" refused --refuse
	simc_deposit 8 "$S/d13" "$S/env-g" "$(acct 9)" --expect accepted || return 1
	receiver_done "$S/r9" || return 1
	wait_state "$ENV_G" bounced || return 1
	[ "$(spool_field "$ENV_G" reason)" = NOT_AUTHORISED ] || { spool_json; return 1; }
	tsp_idle || return 1
	simc_collect 8 "$S/c4" --expect notes:1 || return 1
	grep -q '^outcome bounced$' "$S/c4/note-0-notice" && grep -q '^reason NOT_AUTHORISED$' "$S/c4/note-0-notice"
}
check "saf: a recipient that refuses the sender: bounced with NOT_AUTHORISED, the notice collected" refused

# Lies the TSP cannot see, the recipient can: an envelope sealed for
# another account than the one named at call setup; a size an envelope
# can have with bytes that are not the envelope's.
"$SIMC" seal --index 6 --to-index 9 --ltk "$LTK" --out "$S/env-h" "$S/file-b" >/dev/null || exit 1
ENV_H=$(env_id "$S/env-h")
lie_for_other() {
	tsp_idle || return 1
	receiver 7 "$S/r7h" NOT_FOR_US
	simc_deposit 6 "$S/d14" "$S/env-h" "$(acct 7)" --expect accepted || return 1
	receiver_done "$S/r7h" || return 1
	wait_state "$ENV_H" bounced || return 1
	[ "$(spool_field "$ENV_H" reason)" = NOT_FOR_US ] || { spool_json; return 1; }
	[ -z "$(ls "$S/r7h/inbox" 2>/dev/null)" ] || { echo "something reached the inbox"; return 1; }
}
check "saf: an envelope sealed for another account than the one named: the recipient refuses it, bounced" lie_for_other
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-i" "$S/file-b" >/dev/null || exit 1
ENV_I=$(env_id "$S/env-i")
lie_bytes() {
	tsp_idle || return 1
	receiver 7 "$S/r7i" DAMAGED
	simc_deposit 6 "$S/d15" "$S/env-i" "$(acct 7)" --claim-size 70000 --expect accepted || return 1
	receiver_done "$S/r7i" || return 1
	wait_state "$ENV_I" held || return 1
	tsp_idle || return 1
	receiver 7 "$S/r7i" DAMAGED
	due "$ENV_I"
	receiver_done "$S/r7i" || return 1
	wait_state "$ENV_I" bounced || return 1
	[ "$(spool_field "$ENV_I" reason)" = DAMAGED ] && [ "$(spool_field "$ENV_I" attempts)" = 2 ] || { spool_json; return 1; }
}
check "saf: a sender that pads its envelope to another valid size: DAMAGED twice, bounced" lie_bytes

# The sender's schedule, in its OFFER: not before --deliver-after, only
# inside --deliver-window. A row that is not due is passed over while a
# later one is delivered; once its time is moved to now it goes too.
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-k" "$S/file-b" >/dev/null || exit 1
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-l" "$S/file-b" >/dev/null || exit 1
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-m" "$S/file-b" >/dev/null || exit 1
ENV_K=$(env_id "$S/env-k") ENV_L=$(env_id "$S/env-l") ENV_M=$(env_id "$S/env-m")
scheduled() {
	local after m0 win
	tsp_idle || return 1
	after=$(( ($(date +%s) + 86400) * 1000 ))
	simc_deposit 6 "$S/d17" "$S/env-k" "$(acct 7)" --deliver-after-ms "$after" --expect accepted || return 1
	# a window that starts two hours from now and lasts one
	m0=$(( ($(date -u +%H) * 60 + 10#$(date -u +%M) + 120) % 1440 ))
	win=$(( m0 * 1440 + (m0 + 60) % 1440 ))
	tsp_idle || return 1
	simc_deposit 6 "$S/d18" "$S/env-l" "$(acct 7)" --window "$win" --expect accepted || return 1
	[ "$(spool_json | jq -r --arg e "$ENV_K" '.[] | select(.envelope == $e) | .next_attempt_time >= .deliver_after')" = true ] &&
		[ "$(spool_field "$ENV_L" deliver_window)" != null ] || { spool_json; return 1; }
	tsp_idle || return 1
	receiver 7 "$S/r7" OK
	simc_deposit 6 "$S/d19" "$S/env-m" "$(acct 7)" --expect accepted || return 1
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_M" delivered || return 1
	[ "$(spool_field "$ENV_K" attempts)" = 0 ] && [ "$(spool_field "$ENV_L" attempts)" = 0 ] &&
		held "$ENV_K" && held "$ENV_L" || { spool_json; return 1; }
	tsp_idle || return 1
	receiver 7 "$S/r7" OK
	tsp_sql "UPDATE spool SET not_before_ms = 0, next_ms = 0 WHERE envelope = x'$ENV_K'" || return 1
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_K" delivered || return 1
	tsp_idle || return 1
	receiver 7 "$S/r7" OK
	tsp_sql "UPDATE spool SET deliver_window = -1 WHERE envelope = x'$ENV_L'" || return 1
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_L" delivered
}
check "saf: --deliver-after and --deliver-window in the OFFER: passed over until due, then delivered" scheduled
bad_window() {
	tsp_idle || return 1
	simc_deposit 6 "$S/d20" "$S/env-b" "$(acct 7)" --window $((600 * 1440 + 600)) --expect BAD_FORMAT
}
check "saf: a delivery window that is no window: BAD_FORMAT" bad_window

# kill -9 between acceptance and delivery: after the restart the
# envelope is delivered, once.
"$SIMC" seal --index 6 --to-index 7 --ltk "$LTK" --out "$S/env-j" "$S/file-e" >/dev/null || exit 1
ENV_J=$(env_id "$S/env-j")
killed_before_delivery() {
	tsp_idle || return 1
	exchange_ctl "$S" "busy 5550007 on" >/dev/null
	simc_deposit 6 "$S/d16" "$S/env-j" "$(acct 7)" --expect accepted || return 1
	tsp_idle || return 1
	held "$ENV_J" || { spool_json; return 1; }
	kill -KILL "$TSP_PID"; wait "$TSP_PID" 2>/dev/null; TSP_PID=
	exchange_ctl "$S" "busy 5550007 off" >/dev/null
	receiver 7 "$S/r7" OK
	start_tsp "$S" 4 || return 1
	due "$ENV_J"
	receiver_done "$S/r7" || return 1
	wait_state "$ENV_J" delivered || return 1
	cmp "$S/file-e" "$S/r7/inbox/$ENV_J/file-e" || return 1
	tsp_idle || return 1
	[ "$(ls "$S/r7/inbox" | grep -c "$ENV_J")" = 1 ] || { ls "$S/r7/inbox"; return 1; }
	[ "$(grep -c "delivering spool $(spool_field "$ENV_J" spool_id)" "$S/tsp.log")" -ge 1 ] &&
		[ "$(grep -c "spool $(spool_field "$ENV_J" spool_id) delivered" "$S/tsp.log")" = 1 ] ||
		{ grep "$(spool_field "$ENV_J" spool_id)" "$S/tsp.log"; return 1; }
}
check "saf: kill -9 between acceptance and delivery: delivered after the restart, exactly once" killed_before_delivery

saf_cdrs() { # every leg has its record, completed, with both accounts
	records_written "$S" || return 1
	"$SEALCTL" tsp --db "$S/tsp.db" cdr --json | jq -e --arg s "$(acct 0)" --arg r "$(acct 1)" \
		'[.[] | select(.caller_account == $s and .recipient_account == $r and .outcome == "completed")] | length >= 2' >/dev/null ||
		{ "$SEALCTL" tsp --db "$S/tsp.db" cdr; return 1; }
}
check "saf: the hand-over legs have call records (completed, both accounts)" saf_cdrs
check "saf: TSP stops cleanly on SIGTERM" stop_tsp
stop_exchange
no_sanitizer_report saf "sealtspd or sim-courier" "$S/tsp.log" "$S"/[dcr]*/err
