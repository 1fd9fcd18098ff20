#!/usr/bin/env bash
# tests/tsp/test-tsp.sh - host tests of the TSP, sealtspd (agent/tsp/,
# issue 4): sealtspd (built with ASan+UBSan) serves a hunt
# group of pseudo-terminal lines of the simulated exchange
# (tests/exchange/sealine-exchange); sim-endpoints places calls through it
# on lines of their own; outcomes are checked at the endpoints and in the
# call records (sealctl tsp cdr --json).
#
#   connected call, data byte-exact both ways, "ended", complete record;
#   every refusal (unknown/wrong caller ID/unauthorised/disabled caller,
#   disabled/unknown recipient, recipient refuses) with its NAK and record;
#   busy and no-answer recipients; the caller's leg capture holds neither
#   the recipient's account nor its phone number; restart keeps every
#   record; SIGKILL mid-call: the open record becomes "interrupted";
#   load: 200 concurrent calls over 400 + 400 lines;
#   store and forward (saf.sh): hand-overs, their refusals, resume,
#   duplicates, expiry and its notice collected, a kill -9; its limits
#   as [tsp] settings (saf-settings.sh): quotas, max_envelope, max_hold,
#   min_free; and with a
#   real sender (saf-sealined.sh): sealined and sealctl send --via-tsp,
#   the acceptance, delivery, the receipt collected, a bounce, a lying
#   TSP's receipt and notice refused; and with a real recipient too
#   (saf-recipient.sh): sealined takes held deliveries into its inbox,
#   refuses a revoked sender, a changed envelope, another's envelope, and
#   answers a replay or a delivery the TSP lost with its first receipt.
#
# Prints "ok"/"FAIL" lines and last "tsp: N passed, N failed"; exit 0
# only if all passed. Needs python3 (JSON).
#
# Usage: tests/tsp/test-tsp.sh [--no-load] [--keep]
#   SEALTSPD=path   another sealtspd (default tests/tsp/build/sealtspd-asan)
#   SIM=path        another sim-endpoints (default ...-asan)
#   SIMC=path       another sim-courier (default ...-asan)
#   SEALINED=path   another sealined (default tests/tsp/build/sealined-asan)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
TOP=$(cd "$HERE/../.." && pwd -P)
LOAD=1 KEEP=0
for a in "$@"; do
	case $a in
	--no-load) LOAD=0 ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "test-tsp: unknown argument '$a' (see --help)" >&2; exit 2 ;;
	esac
done
command -v python3 >/dev/null || { echo "test-tsp: python3 not found" >&2; exit 2; }

make -s -C "$HERE" all || exit 2
make -s -C "$TOP/tests/exchange" sealine-exchange || exit 2
make -s -C "$TOP/agent" sealctl sealine-ui >/dev/null || exit 2
EXCHANGE=$TOP/tests/exchange/sealine-exchange
SEALCTL=$TOP/build/bin/sealctl
SEALINE_UI=$TOP/build/bin/sealine-ui
for p in /usr/bin/chromium /usr/bin/chromedriver; do	# sealine-ui's TSP pages
	[ -x $p ] || { echo "test-tsp: $p missing: scripts/install-deps installs it" >&2; exit 2; }
done
SEALTSPD=${SEALTSPD:-$HERE/build/sealtspd-asan}
SIM=${SIM:-$HERE/build/sim-endpoints-asan}
SIMC=${SIMC:-$HERE/build/sim-courier-asan}
SEALINED=${SEALINED:-$HERE/build/sealined-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=suppressions=$HERE/lsan.supp:print_suppressions=0

W=$(mktemp -d /tmp/sealine-tsp.XXXXXX)
EX_PID= TSP_PID= UI_PID=
passed=0 failed=0

ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...: ok if the command succeeds
	local name=$1; shift
	if "$@" >"$W/check.out" 2>&1; then ok "$name"; else bad "$name"; sed 's/^/     /' "$W/check.out" | head -20; fi
}

stop_tsp() {
	[ -n "$TSP_PID" ] || return 0
	kill -TERM "$TSP_PID" 2>/dev/null
	wait "$TSP_PID"; local rc=$?
	TSP_PID=
	return $rc
}
stop_exchange() {
	[ -n "$EX_PID" ] || return 0
	kill -TERM "$EX_PID" 2>/dev/null; wait "$EX_PID" 2>/dev/null; EX_PID=
}
cleanup() {
	[ -n "$UI_PID" ] && kill "$UI_PID" 2>/dev/null
	stop_tsp; stop_exchange
	if [ "$KEEP" = 1 ] || [ "$failed" != 0 ]; then echo "test-tsp: files kept in $W" >&2
	else rm -rf "$W"; fi
}
trap cleanup EXIT

# start_exchange DIR NTSP NEP [options]: hunt group 100 of NTSP lines
# DIR/tsp-I, endpoint I on DIR/epI with number 5550000+I.
start_exchange() {
	local d=$1 ntsp=$2 nep=$3; shift 3
	mkdir -p "$d/cap"
	: >"$d/lines"
	for ((i = 0; i < ntsp; i++)); do echo "100=pty:$d/tsp-$i" >>"$d/lines"; done
	for ((i = 0; i < nep; i++)); do echo "$((5550000 + i))=pty:$d/ep$i" >>"$d/lines"; done
	"$EXCHANGE" --lines-file "$d/lines" --control "$d/ctl" --log "$d/exchange.log" "$@" &
	EX_PID=$!
	for ((i = 0; i < 100; i++)); do [ -S "$d/ctl" ] && return 0; sleep 0.1; done
	echo "test-tsp: the exchange did not start" >&2; return 1
}
exchange_ctl() { echo "$2" | socat -t 2 - "UNIX-CONNECT:$1/ctl"; }

# start_tsp DIR NTSP: sealtspd on DIR/tsp-*; waits until every
# line is idle. Log appended to DIR/tsp.log. Store and forward delivers
# at once (random_delay and batch_interval 0) unless TSP_RANDOM_DELAY or
# TSP_BATCH_INTERVAL say otherwise; TSP_SETTINGS: more [tsp] lines.
start_tsp() {
	local d=$1 ntsp=$2 n
	cat >"$d/sealtspd.conf" <<-EOF
	[agent]
	log_level = debug
	[tsp]
	store = $d/tsp.db
	instance = test
	lines = $d/tsp-*
	baud = 115200
	answer_timeout = 10
	random_delay = ${TSP_RANDOM_DELAY:-0}
	batch_interval = ${TSP_BATCH_INTERVAL:-0}
	${TSP_SETTINGS:-}
	EOF
	local start_lines
	start_lines=$(cat "$d/tsp.log" 2>/dev/null | wc -l)
	"$SEALTSPD" -f -c "$d/sealtspd.conf" --state-dir "$d/state" --socket "$d/sealtspd.sock" 2>>"$d/tsp.log" &
	TSP_PID=$!
	for ((i = 0; i < 300; i++)); do
		n=$(tail -n +"$((start_lines + 1))" "$d/tsp.log" | grep -c ': init -> idle')
		[ "$n" -ge "$ntsp" ] && break
		kill -0 "$TSP_PID" 2>/dev/null || { echo "test-tsp: sealtspd died" >&2; TSP_PID=; return 1; }
		sleep 0.1
	done
	[ "$n" -ge "$ntsp" ] || { echo "test-tsp: only $n of $ntsp TSP lines came up" >&2; return 1; }
	TSP_KEY=$(awk '$1 == "public" { print $2 }' "$d/state/identity")
}

# enrol DIR I [sealctl add options]: account of endpoint I, caller ID = its phone
enrol() {
	local d=$1 i=$2; shift 2
	local acct key phone
	read -r acct key phone < <(sed -n "$((i + 1))p" "$d/keys")
	echo "$key" >"$d/key.$i"
	"$SEALCTL" tsp --db "$d/tsp.db" accounts add "$acct" --name "sim $i" --key "$d/key.$i" \
		--phone "$phone" "$@" >/dev/null
}
acct() { printf '%012d' $((100000000000 + $1)); }
authorise() { "$SEALCTL" tsp --db "$1/tsp.db" accounts authorise "$(acct "$2")" "$(acct "$3")" >/dev/null; }

# sealined_peer DIR I LTK: endpoint I of $S/keys a paired, authorised peer
# (its key, LTK) in the key store of the sealined in DIR
sealined_peer() {
	local acct key
	read -r acct key _ < <(sed -n "$(($2 + 1))p" "$S/keys")
	mkdir -p "$1/state/peers"
	printf 'version 1\naccount %s\npublic %s\nltk %s\nauthorised yes\nrevoked no\npaired %s\nchanged %s\n' \
		"$acct" "$key" "$3" "$(date +%s)" "$(date +%s)" >"$1/state/peers/$acct"
	chmod 600 "$1/state/peers/$acct"
}
# sealined_start DIR I: sealined (no sealine module needed) with endpoint
# I's identity, its dial-up line the exchange's pty of endpoint I in $S,
# the TSP start_tsp started; state, control socket, inbox and log in DIR;
# its pid in SEALINED_PID. SEALINED_COURIER: more [courier] lines.
sealined_start() {
	local d=$1 i=$2
	mkdir -p "$d/state"
	"$SIMC" identity --index "$i" >"$d/state/identity" || return 1
	chmod 600 "$d/state/identity"
	cat >"$d/sealined.conf" <<-EOF
	[agent]
	account = $(acct "$i")
	state_dir = $d/state
	socket = $d/ctl.sock
	log_level = debug
	[line $(readlink -f "$S/ep$i")]
	modem = yes
	tsp_number = 100
	tsp_key = $TSP_KEY
	baud = 115200
	[courier]
	inbox = $d/in
	${SEALINED_COURIER:-}
	EOF
	"$SEALINED" -f -c "$d/sealined.conf" 2>>"$d/log" &
	SEALINED_PID=$!
}

cdr_json() { "$SEALCTL" tsp --db "$1/tsp.db" cdr --json; }
# cdr_field FILE CALLER-ID FIELD: the field of the record with that caller ID
cdr_field() {
	python3 -c 'import json, sys
for r in json.load(open(sys.argv[1])):
    if r["caller_id"] == sys.argv[2]: print(r[sys.argv[3]] or "")' "$@"
}

# run_sim DIR OUT [args]: sim-endpoints run with this TSP, output in OUT
run_sim() {
	local d=$1 out=$2; shift 2
	"$SIM" run --tsp-key "$TSP_KEY" --tsp-number 100 --lines "$d/ep%u" "$@" >"$out" 2>"$out.err"
}

# records_written DIR: wait until the TSP has no call in progress and its
# store's queue is empty, so that every record event of the calls the
# endpoints finished is in the store (the TSP writes records on the
# store's thread, after the lines have moved on).
records_written() {
	local i
	for ((i = 0; i < 1200; i++)); do
		"$SEALCTL" status --json --socket "$1/sealtspd.sock" 2>/dev/null |
			jq -e '.daemon.calls == 0 and .daemon.store_queue == 0' >/dev/null && return 0
		sleep 0.1
	done
	echo "the TSP still has calls in progress or store requests queued:"
	"$SEALCTL" status --socket "$1/sealtspd.sock" | head -n 8
	return 1
}

# Checks each sim result line against the CDR with the caller's caller ID.
# Arguments: DIR SIM-OUTPUT; prints one problem per line, status 1 if any.
check_cdrs() {
	records_written "$1" || return 1
	cdr_json "$1" >"$1/cdr.json" || return 1
	"$HERE/check-cdrs.py" "$1/cdr.json" "$2"
}

sim_ok() { # the sim's summary says every call as expected
	tail -n 1 "$1" | grep -q ' calls, [0-9]* as expected, 0 not$' || { cat "$1" "$1.err" | tail -n 30; return 1; }
}

# ---------------------------------------------------------------- scenarios
D=$W/main
mkdir -p "$D"
NTSP=24 NEP=22
start_exchange "$D" $NTSP $NEP --ring-interval 0.4 --capture "$D/cap" || exit 1
"$SIM" keys --count $NEP >"$D/keys" || exit 1
start_tsp "$D" $NTSP || exit 1
tsp_status() { # the TSP's own report: its key and every line idle
	"$SEALCTL" status --socket "$D/sealtspd.sock" >"$D/status.txt" &&
		grep -q "^sealtspd [0-9.]* (TSP), pid $TSP_PID" "$D/status.txt" &&
		grep -q "lines: *$NTSP, calls in progress: 0" "$D/status.txt" &&
		[ "$(grep -c '^line .* idle ' "$D/status.txt")" -eq "$NTSP" ] &&
		"$SEALCTL" status --json --socket "$D/sealtspd.sock" |
		jq -e ".daemon.role == \"tsp\" and (.lines | length) == $NTSP" >/dev/null &&
		! "$SEALCTL" peers --socket "$D/sealtspd.sock" 2>/dev/null
}
check "sealctl status reports the TSP, its key and its idle lines" tsp_status

enrol "$D" 0 --caller-id 5550000; enrol "$D" 1 --caller-id 5550001; authorise "$D" 1 0
# 2: not enrolled at all
enrol "$D" 3 --caller-id 5559999; authorise "$D" 1 3		# wrong caller ID
enrol "$D" 4 --caller-id 5550004					# not authorised by 1
enrol "$D" 5 --caller-id 5550005 --disabled; authorise "$D" 1 5	# disabled caller
enrol "$D" 6 --caller-id 5550006; enrol "$D" 7 --disabled; authorise "$D" 7 6
enrol "$D" 8 --caller-id 5550008					# unknown recipient
enrol "$D" 9 --caller-id 5550009; enrol "$D" 10; authorise "$D" 10 9	# busy
enrol "$D" 11 --caller-id 5550011; enrol "$D" 12; authorise "$D" 12 11	# no answer
enrol "$D" 13 --caller-id 5550013; enrol "$D" 14; authorise "$D" 14 13	# refuses
exchange_ctl "$D" "busy 5550010 on" >/dev/null
exchange_ctl "$D" "noanswer 5550012 on" >/dev/null

cat >"$D/scenario" <<EOF
0 1 connected bytes=20000
2 1 nak:UNKNOWN_ACCOUNT:1
3 1 nak:CALLER_ID_MISMATCH:1
4 1 nak:NOT_AUTHORISED:2
5 1 nak:ACCOUNT_DISABLED:1
6 7 nak:ACCOUNT_DISABLED:2
8 999999999999 nak:UNKNOWN_ACCOUNT:2
9 10 busy
11 12 no-answer
13 14 nak:NOT_AUTHORISED:2 refuse
EOF
# Endpoint 1 is the recipient of several calls: only one can be simulated
# on its line, so the refused ones name its account instead.
sed -i "s/^\([2-5]\) 1 /\1 $(acct 1) /" "$D/scenario"
run_sim "$D" "$D/sim1.out" --scenario "$D/scenario" --timeout 60
check "scenarios: every call ends as expected at the endpoints" sim_ok "$D/sim1.out"
check "scenarios: call records match (outcomes, NAK reasons, accounts, times, bytes)" check_cdrs "$D" "$D/sim1.out"

# The caller's leg: endpoint 0's line and the TSP line that answered it.
capture_clean() {
	local line idx f
	line=$(cdr_field "$D/cdr.json" 5550000 line)
	[ -n "$line" ] || { echo "no record for endpoint 0"; return 1; }
	idx=${line#tsp-}
	for f in "$D/cap/5550000-0.tx" "$D/cap/5550000-0.rx" "$D/cap/100-$idx.tx" "$D/cap/100-$idx.rx"; do
		[ -s "$f" ] || { echo "$f: missing or empty"; return 1; }
		if grep -a -q -e "$(acct 1)" -e 5550001 "$f"; then
			echo "$f holds the recipient's account or phone number"; return 1
		fi
	done
	# and the recipient's leg does hold its phone number (the check can fail)
	grep -a -q 5550001 "$D/cap/5550001-0.rx" || grep -a -q 5550001 "$D/cap/100-"*.tx || { echo "sanity: the dial string is nowhere"; return 1; }
}
check "capture: the caller's leg carries neither the recipient's account nor its phone number" capture_clean

# Restart keeps every record.
cdr_json "$D" >"$D/cdr.before"
check "TSP stops cleanly on SIGTERM" stop_tsp
start_tsp "$D" $NTSP || exit 1
cdr_json "$D" >"$D/cdr.after"
check "restart: every record kept, unchanged" cmp "$D/cdr.before" "$D/cdr.after"

# tsp_settled: every TSP line idle with its modem ready (a line hung up
# by closing its port is reopened and re-initialised for a moment: a call
# that rings it then loses its caller ID, as with a real modem).
tsp_settled() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$SEALCTL" status --json --socket "$D/sealtspd.sock" 2>/dev/null |
			jq -e '[.lines[] | select(.state != "idle" or .modem != "ready")] | length == 0' >/dev/null &&
			return 0
		sleep 0.1
	done
	echo "test-tsp: the TSP's lines did not settle" >&2
}

# Glare: the TSP's modems find no dial tone (the exchange is ringing the
# line it took): it tries SL_TSP_DIAL_TRIES (3) lines, then BUSY.
enrol "$D" 17 --caller-id 5550017; enrol "$D" 18; authorise "$D" 18 17
exchange_ctl "$D" "nodialtone 100 on" >/dev/null
tsp_settled
run_sim "$D" "$D/sim3.out" --call "17 18 busy" --timeout 60
exchange_ctl "$D" "nodialtone 100 off" >/dev/null
check "glare: no dial tone on every TSP line ends as BUSY at the caller" sim_ok "$D/sim3.out"
glare_tries() {
	local n
	n=$(grep -c 'NO DIALTONE' "$D/tsp.log")
	[ "$n" -eq 3 ] || { echo "$n NO DIALTONE events, expected 3 (one per line tried)"; return 1; }
	records_written "$D" || return 1
	cdr_json "$D" >"$D/cdr.glare"
	[ "$(cdr_field "$D/cdr.glare" 5550017 outcome)" = busy ] || { echo "record: $(cdr_field "$D/cdr.glare" 5550017 outcome)"; return 1; }
}
check "glare: the TSP tried three lines, and the record says busy" glare_tries

# The operator's pages on this TSP: sealine-ui with its store and control
# socket shows a real call on its line while it is connected, and its
# record in the month's records once it ended.
enrol "$D" 20 --caller-id 5550020; enrol "$D" 21; authorise "$D" 21 20
tsp_settled
"$SEALINE_UI" --port 0 --socket "$D/no-sealined.sock" --upload-dir "$D/ui-up" \
	--tsp-store "$D/tsp.db" --tsp-socket "$D/sealtspd.sock" >"$D/ui.out" 2>"$D/ui.err" &
UI_PID=$!
run_sim "$D" "$D/sim4.out" --call "20 21 connected bytes=3000 hold=12000" --timeout 60 &
SIMPID=$!
# ui_pages: Chromium (Selenium, as tests/ui) logs in with the printed
# URL, reloads /tsp/calls until the call is on it, waits for the end of
# the call and reads /tsp/records.
ui_pages() {
	/usr/bin/python3 - "$D/ui.out" "$SIMPID" "$D" "$SEALCTL" <<-'EOF'
	import json, os, subprocess, sys, time
	from selenium import webdriver
	from selenium.webdriver.chrome.service import Service
	from selenium.webdriver.common.by import By
	from selenium.common.exceptions import StaleElementReferenceException
	out, simpid, d, sealctl = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
	url = None
	for _ in range(300):
	    lines = [l for l in open(out).read().splitlines() if l.startswith("open ")]
	    if lines:
	        url = lines[0][5:]
	        break
	    time.sleep(0.1)
	if not url:
	    sys.exit("sealine-ui printed no URL")
	base = url.split("/login")[0]
	opts = webdriver.ChromeOptions()
	opts.binary_location = "/usr/bin/chromium"
	for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
	          "--no-first-run", "--disable-extensions", "--disable-background-networking"):
	    opts.add_argument(a)
	driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
	driver.set_page_load_timeout(60)
	# /tsp/calls refreshes itself: a row read while the page reloads
	# goes stale, and the page is read again.
	def rows(path, table):
	    for _ in range(20):
	        driver.get(base + path)
	        try:
	            return [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
	                    for tr in driver.find_elements(By.CSS_SELECTOR, "#%s tbody tr" % table)]
	        except StaleElementReferenceException:
	            time.sleep(0.1)
	    sys.exit("%s: the page kept changing under the reader" % path)
	try:
	    driver.get(url)	# sets the cookie (the envelope it opens needs a sealined)
	    seen = []
	    for _ in range(400):
	        seen = [r for r in rows("/tsp/calls", "calls")
	                if "100000000020" in r and "100000000021" in r]
	        if len(seen) == 2 or not os.path.exists("/proc/%d" % simpid):
	            break
	        time.sleep(0.05)
	    # line, state, modem, tracking id, leg: two lines relaying one call
	    if len(seen) != 2 or seen[0][0] == seen[1][0] or any(r[1] != "relay" for r in seen) \
	            or seen[0][3] != seen[1][3] or sorted(r[4] for r in seen) != ["caller", "recipient"]:
	        sys.exit("/tsp/calls: %s" % seen)
	    for _ in range(600):
	        if not os.path.exists("/proc/%d" % simpid) or \
	                open("/proc/%d/stat" % simpid).read().split()[2] == "Z":
	            break
	        time.sleep(0.1)
	    for _ in range(600):
	        st = json.loads(subprocess.run([sealctl, "status", "--json", "--socket",
	                                        d + "/sealtspd.sock"], capture_output=True,
	                                       text=True).stdout)
	        if st["daemon"]["calls"] == 0 and st["daemon"]["store_queue"] == 0:
	            break
	        time.sleep(0.1)
	    month = time.strftime("%Y-%m", time.gmtime())
	    recs = rows("/tsp/records?month=%s&account=100000000020" % month, "records")
	    # call, rang, duration, caller, recipient, line, up, down, outcome
	    if len(recs) != 1 or recs[0][0] != seen[0][3] or recs[0][3:5] != \
	            ["100000000020", "100000000021"] or recs[0][8] != "completed":
	        sys.exit("/tsp/records: %s" % recs)
	finally:
	    driver.quit()
	EOF
}
check "sealine-ui on the TSP: /tsp/calls shows the real call's two legs, /tsp/records its completed record" ui_pages
wait $SIMPID
check "sealine-ui on the TSP: the call itself went as expected" sim_ok "$D/sim4.out"
kill "$UI_PID"; wait "$UI_PID"; UI_PID=
check "sealine-ui on the TSP stops cleanly" test ! -s "$D/ui.err"

# SIGKILL mid-call.
enrol "$D" 15 --caller-id 5550015; enrol "$D" 16; authorise "$D" 16 15
tsp_settled
run_sim "$D" "$D/sim2.out" --call "15 16 dropped hold=20000" --timeout 60 &
SIMPID=$!
answered=0
for ((i = 0; i < 150; i++)); do
	cdr_json "$D" >"$D/cdr.now"
	if [ -n "$(cdr_field "$D/cdr.now" 5550015 answer_time)" ]; then answered=1; break; fi
	sleep 0.1
done
killed_mid_call() {
	[ "$answered" = 1 ] || { echo "the call never connected"; return 1; }
	kill -KILL "$TSP_PID"; wait "$TSP_PID" 2>/dev/null; TSP_PID=
}
check "SIGKILL: the TSP is killed during a connected call" killed_mid_call
wait $SIMPID
check "SIGKILL: the caller's line drops" sim_ok "$D/sim2.out"
start_tsp "$D" $NTSP || exit 1
interrupted() {
	cdr_json "$D" >"$D/cdr.killed"
	python3 - "$D/cdr.before" "$D/cdr.killed" <<-'EOF'
	import json, sys
	load = lambda p: json.load(open(p))
	before, after = load(sys.argv[1]), load(sys.argv[2])
	a = {r["tracking_id"]: r for r in after}
	for r in before:
	    if a.get(r["tracking_id"]) != r:
	        sys.exit(f"closed record {r['tracking_id']} changed or lost")
	new = [r for r in after if r["caller_id"] == "5550015"]
	if len(new) != 1 or new[0]["outcome"] != "interrupted":
	    sys.exit(f"killed call: {new}")
	if new[0]["caller_account"] != "100000000015" or new[0]["recipient_account"] != "100000000016" or not new[0]["answer_time"]:
	    sys.exit(f"killed call record incomplete: {new[0]}")
	EOF
}
check "SIGKILL: after restart the open record is interrupted, closed ones intact" interrupted
grep -q '1 open call records from before closed as interrupted' "$D/tsp.log" &&
	ok "SIGKILL: the restarted TSP reports the record it closed" ||
	bad "SIGKILL: the restarted TSP reports the record it closed"
check "TSP stops cleanly on SIGTERM (no sanitizer report)" stop_tsp
stop_exchange
if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' "$D/tsp.log"; then
	bad "sanitizers: sealtspd's log has a report"; grep -m3 -A5 -e 'Sanitizer' -e 'runtime error' "$D/tsp.log"
else ok "sanitizers: no report from sealtspd"; fi

# ---------------------------------------------------------------- store and forward
# shellcheck source=tests/tsp/saf.sh
. "$HERE/saf.sh"
# shellcheck source=tests/tsp/saf-settings.sh
. "$HERE/saf-settings.sh"
# shellcheck source=tests/tsp/saf-sealined.sh
. "$HERE/saf-sealined.sh"
# shellcheck source=tests/tsp/saf-recipient.sh
. "$HERE/saf-recipient.sh"

# ---------------------------------------------------------------- load
if [ "$LOAD" = 1 ]; then
	L=$W/load
	mkdir -p "$L"
	PAIRS=200
	start_exchange "$L" $((2 * PAIRS)) $((2 * PAIRS)) --ring-interval 0.2 || exit 1
	"$SIM" keys --count $((2 * PAIRS)) >"$L/keys" || exit 1
	for ((i = 0; i < PAIRS; i++)); do
		enrol "$L" $i --caller-id $((5550000 + i))
		enrol "$L" $((PAIRS + i))
		authorise "$L" $((PAIRS + i)) $i
	done
	start_tsp "$L" $((2 * PAIRS)) || exit 1
	run_sim "$L" "$L/sim.out" --pairs $PAIRS --bytes 8192 --timeout 240
	check "load: $PAIRS concurrent calls set up, bridged, data byte-exact, hung up" sim_ok "$L/sim.out"
	check "load: $PAIRS completed records with the right accounts and byte counts" check_cdrs "$L" "$L/sim.out"
	load_count() {
		local n
		n=$(python3 -c 'import json, sys
print(sum(r["outcome"] == "completed" for r in json.load(open(sys.argv[1]))))' "$L/cdr.json")
		[ "$n" = "$PAIRS" ] || { echo "$n completed records"; return 1; }
	}
	check "load: exactly $PAIRS records, all completed" load_count
	check "load: TSP stops cleanly on SIGTERM" stop_tsp
	stop_exchange
	if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error' -e 'LeakSanitizer' "$L/tsp.log"; then
		bad "load: sanitizers: sealtspd's log has a report"
	else ok "load: sanitizers: no report from sealtspd"; fi
fi

echo "tsp: $passed passed, $failed failed"
[ "$failed" = 0 ]
