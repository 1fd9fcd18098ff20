# shellcheck shell=bash
# tests/vm/tsp.sh - calls through a TSP over the simulated exchange
# (scripts/vm-run --exchange tests/vm/exchange.conf): the lines, numbers
# and daemon configurations that 90-tsp-call, 91-tsp-tamper and the demo
# share. Source after lib.sh, pair.sh, daemon.sh and exchange.sh.
#   C, the caller      ttyS4, number 5551001, account $ACCT_A, daemon "c"
#   T, the TSP         ttyS5 and ttyS6, one number 5550100 (hunt group),
#                      sealtspd
#   B, the recipient   ttyS7, number 5552002, account $ACCT_B, daemon "b"
# Provides TSP_NUMBER, PHONE_C, PHONE_B, DB, tsp_require (skips unless the
# guest has those lines), tsp_conf INSTANCE, endpoint_conf NAME ACCOUNT
# TTY [LINE...] (needs TSP_KEY), start_tsp (sealtspd as daemon "t"),
# pubkey NAME, tsp (sealctl tsp on DB),
# idle/connected NAME (call_state), both_keyed, last_cdr FIELD, and
# tsp_setup INSTANCE: the three daemons started and the two accounts
# enrolled, B accepting calls from C.

SEALTSPD=${SEALTSPD:-$SEALINE_ROOT/build/bin/sealtspd}
[[ -x $SEALTSPD ]] || sl_die "$SEALTSPD not built (make -C agent)"

TSP_NUMBER=5550100
PHONE_C=5551001
PHONE_B=5552002
DB=$(state t)/accounts.db

tsp_require() {
	. /out/guest.env
	[[ ${SEALINE_EXCHANGE:-} == "ttyS4=$PHONE_C ttyS5=$TSP_NUMBER ttyS6=$TSP_NUMBER ttyS7=$PHONE_B" ]] ||
		sl_skip "needs scripts/vm-run --exchange tests/vm/exchange.conf (have '${SEALINE_EXCHANGE:-none}')"
}

# tsp_conf INSTANCE: the TSP's configuration, $D/t.conf.
tsp_conf() {
	cat >"$D/t.conf" <<EOF_CONF
# the TSP of tests/vm/$SL_NAME.sh
[agent]
state_dir = $(state t)
socket = $(sock t)
name = t
log_level = debug

[tsp]
store = $DB
instance = $1
lines = /dev/ttyS5, /dev/ttyS6
answer_timeout = 15
EOF_CONF
}

# endpoint_conf NAME ACCOUNT TTY [LINE...]: an endpoint with one dial-up
# line; LINEs are added to its [line] section.
endpoint_conf() {
	local n=$1 acct=$2 tty=$3
	shift 3
	cat >"$D/$n.conf" <<EOF_CONF
# sealined endpoint $n of tests/vm/$SL_NAME.sh
[agent]
account = $acct
state_dir = $(state "$n")
socket = $(sock "$n")
name = $n
log_level = debug

[line $tty]
modem = yes
tsp_number = $TSP_NUMBER
tsp_key = $TSP_KEY
$(printf '%s\n' "$@")
EOF_CONF
}

start_tsp() { start t "$SEALTSPD"; }
pubkey() { sed -n 's/^public //p' "$(state "$1")/identity"; }
tsp() { "$SEALCTL" tsp --db "$DB" "$@"; }
idle() { [[ $(status_field "$1" call_state) == idle ]]; }
connected() { [[ $(status_field "$1" call_state) == connected ]]; }
both_keyed() {
	sl_field_is ttyS4 state keyed && sl_field_is ttyS7 state keyed
}
# last_cdr FIELD: the newest call record's field ("" if null).
last_cdr() {
	tsp cdr --json | jq -r ".[-1].$1 // \"\""
}

# tsp_setup INSTANCE: a fresh TSP, C and B (no state left from an earlier
# run, no call left up on the exchange), both accounts enrolled at the
# TSP with their caller IDs, and B accepting calls from C; C and B pin
# the TSP's key and B answers first calls (pairing = yes).
tsp_setup() {
	rm -rf "$D" "$(state t)" "$(state c)" "$(state b)" \
		"$(dirname "$(sock t)")" "$(dirname "$(sock c)")" \
		"$(dirname "$(sock b)")"
	mkdir -p "$D"
	chmod 700 "$D"
	sl_exchange_hangup_all
	sl_load_module
	tsp_conf "$1"
	start_tsp
	sl_assert "the TSP starts and creates its identity" \
		sl_wait_for "TSP identity" 20 test -s "$(state t)/identity"
	sl_assert "the TSP's modems are initialised" \
		sl_wait_for "TSP lines idle" 30 grep -q "line ttyS6: init -> idle" "$D/t.log"
	TSP_KEY=$(pubkey t)
	sl_assert "the TSP logs its static key for the endpoints to pin" \
		grep -q "static key $TSP_KEY" "$D/t.log"
	endpoint_conf c "$ACCT_A" ttyS4
	endpoint_conf b "$ACCT_B" ttyS7 "pairing = yes"
	start c
	start b
	sl_assert "C's modem is idle" sl_wait_for "C idle" 30 idle c
	sl_assert "B's modem is idle" sl_wait_for "B idle" 30 idle b
	pubkey c >"$D/c.pub"
	pubkey b >"$D/b.pub"
	sl_assert "enrol C at the TSP" tsp accounts add "$ACCT_A" --name "Caller Ltd" \
		--key "$D/c.pub" --phone "$PHONE_C" --caller-id "$PHONE_C"
	sl_assert "enrol B at the TSP" tsp accounts add "$ACCT_B" --name "Recipient plc" \
		--key "$D/b.pub" --phone "$PHONE_B" --caller-id "$PHONE_B"
	sl_assert "B accepts calls from C" tsp accounts authorise "$ACCT_B" "$ACCT_A"
}

# tsp_pair: on a connected call, both operators pair end to end through
# the bridge: B's operator first, then C's, who reads the code to B's.
tsp_pair() {
	operator b ttyS7
	sl_assert "B's operator waits for the pairing" \
		sl_wait_for "B operator" 10 grep -q "ttyS7: operator (pid ${OPPID[b]}) starts a pairing" "$D/b.log"
	operator c ttyS4
	sl_assert "C's operator is shown the code" \
		sl_wait_for "C shows the code" 30 grep -q '^Code: ' "$D/c.out"
	sl_assert "B's operator is asked for it" \
		sl_wait_for "B asks" 30 grep -q "Type the code" "$D/b.out"
	say b "$(sed -n 's/^Code: \([0-9A-Z]\{5\}\)$/\1/p' "$D/c.out" | tail -n 1)"
	say c y
	sl_assert "B's pairing ends well" operator_done b
	sl_assert "C's pairing ends well" operator_done c
}

# The daemons' logs, the daemons' logs, the operators' screens and the
# configurations into $SL_OUT/$SL_NAME.logs; every exchange call hung up.
# For the test's EXIT trap (daemon.sh's cleanup runs first).
eval "$(declare -f cleanup | sed '1s/^cleanup/daemon_cleanup/')"
cleanup() {
	daemon_cleanup
	mkdir -p "$SL_OUT/$SL_NAME.logs"
	cp "$D"/*.log "$D"/*.out "$D"/*.conf "$SL_OUT/$SL_NAME.logs/" 2>/dev/null || true
	# no impairment and no call left for a later test (the daemons are
	# gone, and the exchange cannot see their DTR drop)
	sl_exchange noise "$TSP_NUMBER" flip=0 drop=0 insert=0 >/dev/null 2>&1 || true
	sl_exchange_hangup_all
}
