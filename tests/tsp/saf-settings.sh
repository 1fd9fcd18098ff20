# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# tests/tsp/saf-settings.sh - store and forward's limits and schedule as
# [tsp] settings (Documentation/store-and-forward.rst, "Limits" and
# "Scheduling"), sourced by
# test-tsp.sh after saf.sh (its helpers: simc_deposit, simc_collect,
# spool_json, spool_field, tsp_sql, tsp_idle, env_id, all on $S):
# sealtspd configured as an operator would, against sim-courier senders.
#
#   sealtspd -t shows the settings, and a bad value stops it with
#   "FILE:LINE: reason"; quota_envelopes: the third envelope of a sender
#   that holds two is refused QUOTA, nothing held; quota_bytes: an
#   envelope that would pass the sender's bytes is refused QUOTA;
#   max_envelope: TOO_BIG; a --deliver-after past max_hold: BAD_FORMAT;
#   max_hold (30 s here): the held envelopes expire, their files go, the
#   acceptance said when, and the sender collects T's signed notices;
#   the quota has room again; min_free: a spool that would keep less free
#   refuses NO_SPACE, nothing held; batch_interval (6 s here) and
#   random_delay (10 s): each envelope's first attempt is due on a tick
#   within the delay (and its back-off after a busy line ends on one),
#   and no delivery starts before its tick.

S=$W/saf-settings
mkdir -p "$S"
start_exchange "$S" 2 6 --ring-interval 0.2 || exit 1
"$SIM" keys --count 6 >"$S/keys" || exit 1
TSP_SETTINGS=$'quota_envelopes = 2\nquota_bytes = 300K\nmax_envelope = 250K\nmax_hold = 30s'
start_tsp "$S" 2 || exit 1
TSP_SETTINGS=
# 0 sends to 1, 2 to 3, 4 to 5; the envelopes go in a delivery window
# that opens two hours from now, so nothing is dialled: they stay held
# until they expire.
enrol "$S" 0 --caller-id 5550000; enrol "$S" 1; authorise "$S" 1 0
enrol "$S" 2 --caller-id 5550002; enrol "$S" 3; authorise "$S" 3 2
enrol "$S" 4 --caller-id 5550004; enrol "$S" 5; authorise "$S" 5 4
LTK=$(printf '5a%.0s' $(seq 32))
m0=$(( ($(date -u +%H) * 60 + 10#$(date -u +%M) + 120) % 1440 ))
LATER=$(( m0 * 1440 + (m0 + 60) % 1440 ))
# seal_for NAME FROM TO PAYLOAD-BYTES: an envelope $S/env-NAME
seal_for() {
	head -c "$4" /dev/urandom >"$S/file-$1"
	"$SIMC" seal --index "$2" --to-index "$3" --ltk "$LTK" --out "$S/env-$1" "$S/file-$1" >/dev/null
}
for e in "a1 0 1 1000" "a2 0 1 2000" "a3 0 1 3000" "b1 2 3 200000" "b2 2 3 120000" \
	"c1 4 5 260000" "c2 4 5 100" "c3 4 5 100"; do
	# shellcheck disable=SC2086
	seal_for $e || exit 1
done
rows_of() { spool_json | jq --arg s "$(acct "$1")" '[.[] | select(.sender == $s)] | length'; }

shows_settings() {
	"$SEALTSPD" -t -c "$S/sealtspd.conf" >"$S/t.out" 2>&1 || { cat "$S/t.out"; return 1; }
	grep -q '^  quota_envelopes 2 per sender$' "$S/t.out" &&
		grep -q '^  quota_bytes     307200 bytes per sender$' "$S/t.out" &&
		grep -q '^  max_hold        30 s$' "$S/t.out" &&
		grep -q '^  max_attempts    20$' "$S/t.out" || { cat "$S/t.out"; return 1; }
	printf '[tsp]\nlines = /dev/null\nmax_hold = 5\n' >"$S/bad.conf"
	if "$SEALTSPD" -t -c "$S/bad.conf" >"$S/bad.out" 2>&1; then
		echo "a max_hold of 5 s was accepted"; return 1
	fi
	grep -q "$S/bad.conf:3: max_hold '5' is out of range: 10 s to 365 days" "$S/bad.out" ||
		{ cat "$S/bad.out"; return 1; }
}
check "saf settings: sealtspd -t shows the limits; a bad one stops it with FILE:LINE: reason" shows_settings

quota_envelopes() {
	simc_deposit 0 "$S/q1" "$S/env-a1" "$(acct 1)" --window "$LATER" --expect accepted || return 1
	tsp_idle || return 1
	simc_deposit 0 "$S/q2" "$S/env-a2" "$(acct 1)" --window "$LATER" --expect accepted || return 1
	tsp_idle || return 1
	simc_deposit 0 "$S/q3" "$S/env-a3" "$(acct 1)" --window "$LATER" --expect QUOTA || return 1
	[ "$(rows_of 0)" = 2 ] && [ -z "$(spool_field "$(env_id "$S/env-a3")" state)" ] ||
		{ spool_json; return 1; }
	grep -q 'envelope from 100000000000 for 100000000001 refused: QUOTA' "$S/tsp.log" ||
		{ grep refused "$S/tsp.log"; return 1; }
}
check "saf settings: quota_envelopes = 2: a third envelope is refused QUOTA, nothing of it held" quota_envelopes

quota_bytes() {
	tsp_idle || return 1
	simc_deposit 2 "$S/q4" "$S/env-b1" "$(acct 3)" --window "$LATER" --expect accepted || return 1
	tsp_idle || return 1
	# 200 K held and 120 K more pass 300 K; either alone would not.
	simc_deposit 2 "$S/q5" "$S/env-b2" "$(acct 3)" --window "$LATER" --expect QUOTA || return 1
	[ "$(rows_of 2)" = 1 ] || { spool_json; return 1; }
}
check "saf settings: quota_bytes = 300K: an envelope that would pass it is refused QUOTA" quota_bytes

too_big() {
	tsp_idle || return 1
	simc_deposit 4 "$S/q6" "$S/env-c1" "$(acct 5)" --expect TOO_BIG || return 1
	tsp_idle || return 1
	# a delivery asked for after the TSP's holding time
	simc_deposit 4 "$S/q7" "$S/env-c2" "$(acct 5)" \
		--deliver-after-ms $(( ($(date +%s) + 3600) * 1000 )) --expect BAD_FORMAT || return 1
	grep -q 'max_hold' "$S/q7/result" "$S/q7/err" "$S/tsp.log" || { cat "$S/q7/result"; return 1; }
	[ "$(rows_of 4)" = 0 ] || { spool_json; return 1; }
}
check "saf settings: max_envelope = 250K: TOO_BIG; a delivery asked for after max_hold: BAD_FORMAT" too_big

A1=$(env_id "$S/env-a1") A2=$(env_id "$S/env-a2")
max_hold() {
	local held sid1 sid2
	sid1=$(spool_field "$A1" spool_id) sid2=$(spool_field "$A2" spool_id)
	[ -n "$sid1" ] && [ -n "$sid2" ] || { spool_json; return 1; }
	held=$(tsp_sql "SELECT expires_ms - accepted_ms FROM spool WHERE envelope = x'$A1'")
	[ "$held" = 30000 ] || { echo "held for $held ms, not 30000"; return 1; }
	# the acceptance told the sender so
	python3 - "$S/q1/acceptance" <<-'EOF' || return 1
	import datetime, sys
	f = dict(l.split(" ", 1) for l in open(sys.argv[1]).read().splitlines())
	t = lambda k: datetime.datetime.strptime(f[k], "%Y-%m-%dT%H:%M:%SZ")
	if (t("expires") - t("accepted")).total_seconds() != 30:
	    sys.exit("acceptance: accepted %s, expires %s" % (f["accepted"], f["expires"]))
	EOF
	# 30 s of holding from their acceptance, then the next upkeep
	wait_state "$A1" expired 60 && wait_state "$A2" expired 60 || return 1
	[ "$(spool_field "$A1" attempts)" = 0 ] || { spool_json; return 1; }
	[ ! -e "$S/state/tsp-spool/$sid1" ] && [ ! -e "$S/state/tsp-spool/$sid2" ] ||
		{ echo "the expired envelopes' files are left"; return 1; }
	tsp_idle || return 1
	simc_collect 0 "$S/q8" --expect notes:2 || return 1
	for n in "$S"/q8/note-*-notice; do
		grep -q '^outcome expired$' "$n" && grep -q '^reason none$' "$n" ||
			{ cat "$n"; return 1; }
	done
	cat "$S"/q8/note-*-notice | grep -c -e "^envelope $A1\$" -e "^envelope $A2\$" | grep -qx 2 ||
		{ cat "$S"/q8/note-*-notice; return 1; }
}
check "saf settings: max_hold = 30s: held envelopes expire undelivered, the sender collects T's signed notices" max_hold

room_again() {
	tsp_idle || return 1
	simc_deposit 0 "$S/q9" "$S/env-a3" "$(acct 1)" --window "$LATER" --expect accepted
}
check "saf settings: once they expired, the sender's quota has room again" room_again

min_free() {
	stop_tsp || return 1
	TSP_SETTINGS='min_free = 1000T' start_tsp "$S" 2 || return 1
	simc_deposit 4 "$S/q10" "$S/env-c3" "$(acct 5)" --expect NO_SPACE || return 1
	[ "$(rows_of 4)" = 0 ] || { spool_json; return 1; }
}
check "saf settings: min_free = 1000T: the spool has no room, NO_SPACE, nothing held" min_free
# batch_interval and random_delay, short. Recipients 1 and 3 answer
# (sim-courier); 5's line is busy.
seal_for d1 0 1 5000 && seal_for d2 2 3 70000 && seal_for d3 4 5 100 || exit 1
D1=$(env_id "$S/env-d1") D2=$(env_id "$S/env-d2") D3=$(env_id "$S/env-d3")
# row_ms ENVELOPE-ID: accepted next last_attempt, in ms
row_ms() { tsp_sql "SELECT accepted_ms, next_ms, last_attempt_ms FROM spool WHERE envelope = x'$1'" | tr '|' ' '; }
batched() {
	local a n l e
	stop_tsp || return 1
	TSP_BATCH_INTERVAL=6 TSP_RANDOM_DELAY=10 start_tsp "$S" 2 || return 1
	exchange_ctl "$S" "busy 5550005 on" >/dev/null
	receiver 1 "$S/r1" OK
	simc_deposit 0 "$S/b1" "$S/env-d1" "$(acct 1)" --expect accepted || return 1
	read -r a n l < <(row_ms "$D1")
	(( n % 6000 == 0 && n >= a && n <= a + 10000 + 6000 )) ||
		{ echo "d1: accepted $a, first attempt due $n: not a tick within the delay"; return 1; }
	receiver_done "$S/r1" || return 1
	wait_state "$D1" delivered || return 1
	read -r a n l < <(row_ms "$D1")
	(( l >= n )) || { echo "d1: delivery began at $l, before its tick $n"; return 1; }
	tsp_idle || return 1
	receiver 3 "$S/r3" OK
	simc_deposit 2 "$S/b2" "$S/env-d2" "$(acct 3)" --expect accepted || return 1
	receiver_done "$S/r3" || return 1
	wait_state "$D2" delivered || return 1
	read -r a n l < <(row_ms "$D2")
	(( n % 6000 == 0 && n >= a && n <= a + 16000 && l >= n )) ||
		{ echo "d2: accepted $a, due $n, began $l"; return 1; }
	cmp "$S/file-d2" "$S/r3/inbox/$D2/file-d2" || return 1
	# a busy line: the back-off (5 min) ends on a tick too
	tsp_idle || return 1
	simc_deposit 4 "$S/b3" "$S/env-d3" "$(acct 5)" --expect accepted || return 1
	for ((e = 0; e < 300; e++)); do
		[ "$(spool_field "$D3" reason)" = BUSY ] && [ "$(spool_field "$D3" state)" = held ] && break
		sleep 0.1
	done
	read -r a n l < <(row_ms "$D3")
	[ "$(spool_field "$D3" reason)" = BUSY ] && (( l >= a && n % 6000 == 0 && n >= l + 300000 )) ||
		{ echo "d3: accepted $a, attempt $l, next $n"; spool_json; return 1; }
}
check "saf settings: batch_interval = 6s, random_delay = 10s: first attempts due on a tick within the delay, none before it, back-offs end on ticks" batched
check "saf settings: TSP stops cleanly on SIGTERM" stop_tsp
stop_exchange
no_sanitizer_report "saf settings" "sealtspd or sim-courier" "$S/tsp.log" "$S"/[qbr]*/err
