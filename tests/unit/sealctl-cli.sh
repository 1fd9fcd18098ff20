#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# tests/unit/sealctl-cli.sh - host tests of sealctl, nlprobe and the two
# daemons' command lines that need no sealine module: help texts, exit
# codes, argument checking, key files, the "module not loaded" message (the
# host has generic netlink but no sealine family), which configuration
# each daemon takes, what each links, and their sd_notify readiness.
# Builds agent/ first if the binaries are missing.
#
#   tests/unit/sealctl-cli.sh            run everything, print "N passed, N failed"
#   SEALCTL=... NLPROBE=... SEALINED=... SEALTSPD=... tests/unit/sealctl-cli.sh
#                                        test other binaries
#                                        (e.g. an ASAN=1 build)
#
# Exit status: 0 if every check passed, 1 otherwise.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SEALCTL=${SEALCTL:-$ROOT/build/bin/sealctl}
NLPROBE=${NLPROBE:-$ROOT/build/bin/nlprobe}

if [[ ! -x $SEALCTL || ! -x $NLPROBE || ! -x $ROOT/build/bin/sealtspd ]]; then
	make -s -C "$ROOT/agent" >&2 || { echo "cannot build agent/" >&2; exit 1; }
fi

passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() {
	failed=$((failed + 1))
	echo "FAIL: $1"
	[[ -n ${out:-} ]] && printf '  stdout: %s\n' "${out:0:400}"
	[[ -n ${err:-} ]] && printf '  stderr: %s\n' "${err:0:400}"
	return 0
}

# run CMD...: sets out, err, rc. Standard input is empty unless redirected.
run() {
	out=$("$@" 2>"$tmp/stderr" </dev/null)
	rc=$?
	err=$(<"$tmp/stderr")
}

# run_stdin TEXT CMD...
run_stdin() {
	local text=$1
	shift
	out=$(printf '%s' "$text" | "$@" 2>"$tmp/stderr")
	rc=$?
	err=$(<"$tmp/stderr")
}

# expect DESC RC [REGEX [stdout|stderr]]: check the last run.
expect() {
	local desc=$1 want=$2 re=${3:-} where=${4:-stderr} text
	if [[ $rc -ne $want ]]; then
		fail "$desc (exit $rc, expected $want)"
		return
	fi
	if [[ -n $re ]]; then
		[[ $where == stdout ]] && text=$out || text=$err
		if ! grep -qE -- "$re" <<<"$text"; then
			fail "$desc ($where does not match /$re/)"
			return
		fi
	fi
	pass "$desc"
}

# daemon_notify_check NAME PROGRAM DIR: PROGRAM, run in the foreground
# with a configuration of its own under DIR (no line it could reach),
# reports READY=1 to $NOTIFY_SOCKET as systemd's Type=notify expects,
# answers sealctl status, then STOPPING=1 and exit 0 on SIGTERM.
# sl_wait_log FILE REGEX: up to 10 s for REGEX to appear in FILE.
sl_wait_log() {
	local i
	for ((i = 0; i < 100; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

daemon_notify_check() {
	local name=$1 prog=$2 d=$3 pid listener i
	mkdir -p "$d"
	{
		printf '[agent]\nstate_dir = %s/state\nsocket = %s/ctl.sock\nlog_level = debug\n' "$d" "$d"
		if [[ $name == sealtspd ]]; then
			printf '[tsp]\nstore = %s/accounts.db\ninstance = cli\nlines = %s/no-such-tty\n' "$d" "$d"
		fi
	} >"$d/conf"
	python3 - "$d/notify" "$d/notified" <<-'EOF' &
	import socket, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(sys.argv[1])
	s.settimeout(120)
	with open(sys.argv[2], "w") as f:
	    while True:
	        try:
	            msg = s.recv(4096).decode()
	        except socket.timeout:
	            break
	        f.write(msg + "\n")
	        f.flush()
	        if "STOPPING=1" in msg:
	            break
	EOF
	listener=$!
	for ((i = 0; i < 50; i++)); do [[ -S $d/notify ]] && break; sleep 0.1; done
	NOTIFY_SOCKET=$d/notify "$prog" -f -c "$d/conf" 2>"$d/log" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^READY=1$' "$d/notified" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q '^READY=1$' "$d/notified" 2>/dev/null; then
		pass "$name sends READY=1 to \$NOTIFY_SOCKET"
	else
		fail "$name sends READY=1 to \$NOTIFY_SOCKET"
		sed 's/^/  log: /' "$d/log" | tail -n 5
	fi
	run "$SEALCTL" status --socket "$d/ctl.sock"
	if [[ $name == sealtspd ]]; then
		expect "sealctl status on sealtspd's socket" 0 "^sealtspd [0-9.]+ \\(TSP\\), pid $pid" stdout
	else
		expect "sealctl status on sealined's socket" 0 "^sealined [0-9.]+, pid $pid" stdout
		expect "sealctl status shows the public key a TSP enrols" 0 "public key: +[0-9a-f]{64}$" stdout
	fi
	# status --json read by a real parser, the types checked.
	"$SEALCTL" status --json --socket "$d/ctl.sock" >"$d/status.json" 2>&1
	if out=$(python3 - "$d/status.json" "$name" 2>&1 <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1], encoding="utf-8"))
	d = s["daemon"]
	for k in ("pid", "uptime"):
	    assert type(d[k]) is int, (k, d)
	if sys.argv[2] == "sealtspd":
	    for k in ("lines", "calls"):
	        assert type(d[k]) is int, (k, d)
	else:
	    for k in ("peers", "peers_authorised", "peers_revoked"):
	        assert type(d[k]) is int, (k, d)
	for k, v in d.items():
	    assert v != "", ("empty string instead of null", k)
	    assert v not in ("yes", "no"), ("yes/no left as a string", k)
	assert isinstance(s["lines"], list)
	EOF
	); then
		pass "$name: status --json parses, numbers are numbers"
	else
		fail "$name: status --json parses, numbers are numbers"
		printf '  %s\n' "$out" "$(head -c 600 "$d/status.json")"
	fi
	if [[ $name == sealined ]]; then
		# SIGHUP (systemctl reload): the file is read again; a changed
		# [line] waits for a restart, a broken file keeps the running
		# configuration, and the daemon stays up throughout.
		printf '[agent]\nstate_dir = %s/state\nsocket = %s/ctl.sock\nlog_level = notice\n[line ttyS7]\n[courier]\nretry_max = 5m\n' "$d" "$d" >"$d/conf"
		kill -HUP "$pid"
		sl_wait_log "$d/log" "applying the new log settings"
		if grep -q 'reload: the \[line ...\] sections changed; they apply at the next restart' "$d/log"; then
			pass "sealined SIGHUP: a changed [line] is logged as waiting for a restart"
		else
			fail "sealined SIGHUP: a changed [line] is logged as waiting for a restart"
		fi
		if grep -q 'reload: \[courier\] changed; it applies at the next restart' "$d/log"; then
			pass "sealined SIGHUP: a changed [courier] is logged as waiting for a restart"
		else
			fail "sealined SIGHUP: a changed [courier] is logged as waiting for a restart"
		fi
		if sl_wait_log "$d/notified" '^RELOADING=1$'; then pass "sealined SIGHUP sends RELOADING=1"; else fail "sealined SIGHUP sends RELOADING=1"; fi
		printf '[agent]\nlog_level = loud\n' >"$d/conf"
		kill -HUP "$pid"
		if sl_wait_log "$d/log" "conf:2: .*keeping the running configuration"; then
			pass "sealined SIGHUP with a broken file names it and keeps running"
		else
			fail "sealined SIGHUP with a broken file names it and keeps running"
			tail -n 5 "$d/log"
		fi
		run "$SEALCTL" status --socket "$d/ctl.sock"
		expect "sealined still serves after a broken reload" 0 "^sealined [0-9.]+, pid $pid" stdout
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$? out= err=
	expect "$name stops on SIGTERM with status 0" 0
	wait "$listener"
	if grep -q '^STOPPING=1$' "$d/notified" 2>/dev/null; then
		pass "$name sends STOPPING=1 when it stops"
	else
		fail "$name sends STOPPING=1 when it stops"
	fi
}

# courier_check DIR: the courier's commands against a sealined with no
# line (tests/vm/93-courier.sh delivers envelopes): [courier] settings
# checked, refusals before anything is packed, empty outbox, inbox and
# logs, the daemon's receipt key, receipts verified with --key.
courier_check() {
	local d=$1 pid i key vec
	mkdir -p "$d"
	printf '[agent]\naccount = 123456789012\nstate_dir = %s/state\nsocket = %s/ctl.sock\n[courier]\nmax_envelope = 12Q\n' "$d" "$d" >"$d/bad.conf"
	run "$SEALINED" -t -c "$d/bad.conf"
	expect "sealined -t: a bad size in [courier] (exit 78)" 78 "bad.conf:6: max_envelope must be a size in bytes \\(or with K, M, G, T\\), not '12Q'"
	printf '[agent]\naccount = 123456789012\nstate_dir = %s/state\nsocket = %s/ctl.sock\n[courier]\nretry = 0\n' "$d" "$d" >"$d/bad.conf"
	run "$SEALINED" -t -c "$d/bad.conf"
	expect "sealined -t: retry = 0 refused (exit 78)" 78 "retry cannot be 0"
	printf '[agent]\naccount = 123456789012\nstate_dir = %s/state\nsocket = %s/ctl.sock\n[courier]\ninbox = %s/in\nmax_files = 5\n[courier]\n' "$d" "$d" "$d" >"$d/bad.conf"
	run "$SEALINED" -t -c "$d/bad.conf"
	expect "sealined -t: [courier] twice (exit 78)" 78 "\\[courier\\] appears twice \\(first at line 5\\)"
	printf '[agent]\naccount = 123456789012\nstate_dir = %s/state\nsocket = %s/ctl.sock\nlog_level = debug\n[courier]\ninbox = %s/in\nmax_envelope = 64M\n' "$d" "$d" "$d" >"$d/conf"
	run "$SEALINED" -t -c "$d/conf"
	expect "sealined -t shows [courier]'s limits" 0 "^    limits: 67108864 bytes sealed, 4294967296 unpacked, 10000 files" stdout
	expect "sealined -t shows the inbox configured" 0 "^    inbox        $d/in$" stdout
	expect "sealined -t shows the default outbox in state_dir" 0 "^    outbox       $d/state/outbox$" stdout
	# staging and inbox must share a file system (one rename commits).
	mkdir -p "$d/staging"
	if [[ -d /dev/shm && $(stat -c %d /dev/shm) != $(stat -c %d "$d/staging") ]]; then
		printf '[agent]\nstate_dir = %s/state\n[courier]\nstaging = %s/staging\ninbox = /dev/shm\n' "$d" "$d" >"$d/xdev.conf"
		run "$SEALINED" -t -c "$d/xdev.conf"
		expect "sealined -t: staging and inbox on different file systems (exit 78)" 78 "staging $d/staging and inbox /dev/shm are on different file systems"
	fi
	"$SEALINED" -f -c "$d/conf" 2>"$d/log" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [[ -S $d/ctl.sock ]] && break; sleep 0.1; done
	local S=(--socket "$d/ctl.sock")
	run "$SEALCTL" status --json "${S[@]}"
	expect "status shows the courier's inbox" 0 "\"inbox\": \"$d/in\"" stdout
	key=$(grep -o '"receipt_key": "[0-9a-f]*"' <<<"$out" | cut -d'"' -f4)
	if [[ ${#key} -eq 64 ]]; then pass "status shows a receipt key"; else fail "status shows a receipt key"; fi
	printf '%s\n' "$out" >"$d/status.json"
	if jout=$(python3 - "$d/status.json" 2>&1 <<-'EOF'
	import json, sys
	d = json.load(open(sys.argv[1], encoding="utf-8"))["daemon"]
	assert type(d["outbox_pending"]) is int, d
	assert d["receive"] is True, d
	assert type(d["inbox"]) is str and type(d["receipt_key"]) is str, d
	EOF
	); then
		pass "status --json: the courier's outbox_pending a number, receive a boolean"
	else
		fail "status --json: the courier's outbox_pending a number, receive a boolean"
		printf '  %s\n' "$jout"
	fi
	run "$SEALCTL" status "${S[@]}"
	expect "status (text) shows the receipt key" 0 "^  receipt key:  $key$" stdout
	expect "status (text) shows the courier" 0 "^  courier:      inbox $d/in, receiving yes, 0 envelopes waiting in the outbox$" stdout
	if [[ -d $d/in && -d $d/state/outbox && -d $d/state/spool ]]; then
		pass "sealined creates inbox, outbox and spool"
	else
		fail "sealined creates inbox, outbox and spool"
	fi
	run "$SEALCTL" send --to 210987654321 /etc/hostname "${S[@]}"
	expect "send to an account not paired: exit 1" 1 "210987654321 is not paired with this installation"
	run "$SEALCTL" send --to 123456789012 /etc/hostname "${S[@]}"
	expect "send to our own account: exit 1" 1 "this installation's own account"
	run "$SEALCTL" send --to 210987654321 --line ttyS9 /etc/hostname "${S[@]}"
	expect "send on a line sealined does not have: exit 1" 1 "ttyS9 is not a line of this sealined"
	run "$SEALCTL" send --to 210987654321 --via-tsp --deliver-window 22:00-06:00 /etc/hostname "${S[@]}"
	expect "send --via-tsp to an account not paired: exit 1, nothing queued" 1 \
		"210987654321 is not paired with this installation"
	run "$SEALCTL" outbox "${S[@]}"
	expect "an empty outbox" 0 "^the outbox is empty$" stdout
	run "$SEALCTL" outbox --json "${S[@]}"
	expect "an empty outbox as JSON" 0 "^\\[\\]$" stdout
	run "$SEALCTL" outbox cancel 0123abcd "${S[@]}"
	expect "outbox cancel of no envelope: exit 1" 1 "no envelope 0123abcd in the outbox"
	run "$SEALCTL" outbox receipt 0123 "${S[@]}"
	expect "outbox receipt of no envelope: exit 1" 1 "no envelope 0123"
	run "$SEALCTL" inbox "${S[@]}"
	expect "an empty inbox" 0 "^the inbox is empty$" stdout
	run "$SEALCTL" inbox show 0123456789abcdef0123456789abcdef "${S[@]}"
	expect "inbox show of no envelope: exit 1" 1 "no envelope 0123456789abcdef0123456789abcdef in the inbox"
	run "$SEALCTL" log --sent "${S[@]}"
	expect "an empty send log" 0 "^the send log is empty$" stdout
	run "$SEALCTL" log --received --json "${S[@]}"
	expect "an empty receive log as JSON" 0 "" stdout
	run "$SEALCTL" peers name 210987654321 "Plant 2" "${S[@]}"
	expect "peers name of an unknown peer: exit 1" 1 "no peer with account 210987654321"
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$? out= err=
	expect "sealined with the courier stops on SIGTERM with status 0" 0

	# Receipts: the vector of tests/unit/courier (envelope_v1.py).
	python3 - "$ROOT/tests/unit/courier/vectors.h" "$d" <<-'EOF'
	import re, sys
	src = open(sys.argv[1]).read()
	def literal(name):
	    body = re.search(r"%s\[\] =\n(.*?);" % name, src, re.S).group(1)
	    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)).encode().decode("unicode_escape")
	open(sys.argv[2] + "/r.receipt", "w").write(literal("V_RECEIPT"))
	open(sys.argv[2] + "/r.key", "w").write(literal("V_SIGN_PUB"))
	EOF
	vec=$(<"$d/r.key")
	run "$SEALCTL" receipt verify "$d/r.receipt" --key "$vec"
	expect "receipt verify: the vector verifies" 0 "^receipt verified: signed by 000000000002's key $vec" stdout
	expect "receipt verify prints what it states" 0 "files     3 \\(70000 bytes\\)" stdout
	out=$("$SEALCTL" receipt verify - --key "$vec" <"$d/r.receipt" 2>"$tmp/stderr")
	rc=$? err=$(<"$tmp/stderr")
	expect "receipt verify reads standard input" 0 "^envelope  101112131415161718191a1b1c1d1e1f$" stdout
	sed 's/^files 3$/files 4/' "$d/r.receipt" >"$d/forged.receipt"
	run "$SEALCTL" receipt verify "$d/forged.receipt" --key "$vec"
	expect "receipt verify: a changed field does not verify" 1 "does not verify"
	run "$SEALCTL" receipt verify "$d/r.receipt" --key "$key"
	expect "receipt verify: another recipient's key is refused" 1 "does not verify"
	printf 'sealine-receipt 1\r\n' >"$d/junk.receipt"
	run "$SEALCTL" receipt verify "$d/junk.receipt" --key "$vec"
	expect "receipt verify: junk is refused" 1 "does not verify"
	run "$SEALCTL" receipt verify "$d/r.receipt" --key 12
	expect "receipt verify --key that is not a key: exit 2" 2 "64 hex digits"
	run "$SEALCTL" receipt verify "$d/no-such.receipt" --key "$vec"
	expect "receipt verify of a missing file: exit 1" 1 "No such file"
	run "$SEALCTL" receipt verify "$d/r.receipt" --socket "$d/no-such.sock"
	expect "receipt verify without --key or daemon: exit 1" 1 "sealined is not running"
	run "$SEALCTL" receipt check "$d/r.receipt"
	expect "receipt unknown operation: exit 2" 2 "unknown operation 'check'"
}

# courier_json_check DIR: the courier's --json outputs with records in
# them, read by Python's json: a peer (its record written as pairing
# leaves it, with a random key and LTK) named in UTF-8, an envelope of
# files with UTF-8 and C1 names queued for it on a line that is not there
# (sealctl packs, sealined seals and queues), then cancelled: outbox,
# peers and the send log as sealined writes them (lib/json.h). Numbers
# are numbers, absent values null or left out, never "".
courier_json_check() {
	local d=$1 pid i now id
	mkdir -p "$d/files"
	mkdir -m 700 -p "$d/state" "$d/state/peers"
	now=$(date +%s)
	hex() { head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }
	printf 'version 1\naccount 210987654321\npublic %s\nltk %s\nauthorised yes\nrevoked no\npaired %s\nchanged %s\n' \
		"$(hex)" "$(hex)" "$now" "$now" >"$d/state/peers/210987654321"
	chmod 600 "$d/state/peers/210987654321"
	printf '[agent]\naccount = 123456789012\nstate_dir = %s/state\nsocket = %s/ctl.sock\n[line ttyNOSUCH8]\npeer = 210987654321\n' "$d" "$d" >"$d/conf"
	"$SEALINED" -f -c "$d/conf" 2>"$d/log" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [[ -S $d/ctl.sock ]] && break; sleep 0.1; done
	local S=(--socket "$d/ctl.sock")
	run "$SEALCTL" peers name 210987654321 "Müller GmbH" "${S[@]}"
	expect "peers name: a UTF-8 name" 0 "210987654321 is called 'Müller GmbH'" stdout
	run "$SEALCTL" peers company 210987654321 "Müller Werke AG" "${S[@]}"
	expect "peers company: a UTF-8 company" 0 "210987654321 is of 'Müller Werke AG' in the address book" stdout
	run "$SEALCTL" peers "${S[@]}"
	expect "peers list: name and company, columns by characters" 0 "^210987654321 .* Müller GmbH {10}Müller Werke AG$" stdout
	run "$SEALCTL" peers company 210987654321 "$(printf 'a\tb')" "${S[@]}"
	expect "peers company: a control character refused" 1 "a company without control characters"
	run "$SEALCTL" peers company 210987654321 "$(printf '%064d' 0)" "${S[@]}"
	expect "peers company: over 63 bytes refused" 2 "a company has at most 63 bytes"
	run "$SEALCTL" peers company 999999999999 "X" "${S[@]}"
	expect "peers company of an unknown peer: exit 1" 1 "no peer with account 999999999999"
	if grep -qx 'company M%C3%BCller%20Werke%20AG' "$d/state/peers/210987654321"; then
		pass "the company is kept in the peer's record, %-encoded"
	else
		fail "the company is kept in the peer's record, %-encoded"
		cat "$d/state/peers/210987654321" | grep -v '^ltk'
	fi
	# read back by a restarted daemon
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rm -f "$d/ctl.sock"
	"$SEALINED" -f -c "$d/conf" 2>>"$d/log" &
	pid=$!
	for ((i = 0; i < 100; i++)); do [[ -S $d/ctl.sock ]] && break; sleep 0.1; done
	run "$SEALCTL" peers --json "${S[@]}"
	expect "a restarted sealined reads the name and company back" 0 '"name": "Müller GmbH", "company": "Müller Werke AG"' stdout
	printf 'hello' >"$d/files/Bericht März.txt"
	printf 'x' >"$d/files/ctl$(printf '\302\233')2J"
	run "$SEALCTL" send --to 210987654321 "$d/files" "${S[@]}"
	expect "send queues an envelope for a paired peer" 0 "queued for 210987654321: 3 files, 6 bytes" stdout
	"$SEALCTL" outbox --json "${S[@]}" >"$d/outbox.json" 2>&1
	"$SEALCTL" peers --json "${S[@]}" >"$d/peers.json" 2>&1
	"$SEALCTL" inbox --json "${S[@]}" >"$d/inbox.json" 2>&1
	id=$(grep -o '"id": "[0-9a-f]*"' "$d/outbox.json" | head -n 1 | cut -d'"' -f4)
	run "$SEALCTL" outbox cancel "$id" "${S[@]}"
	expect "outbox cancel of a queued envelope" 0 "cancelled" stdout
	"$SEALCTL" log --sent --json "${S[@]}" >"$d/sent.json" 2>&1
	if out=$(python3 - "$d" 2>&1 <<-'EOF'
	import json, sys
	d = sys.argv[1]
	def load(name):
	    return json.load(open(d + "/" + name, encoding="utf-8"))
	def no_empty(rec):
	    for k, v in rec.items():
	        assert v != "", ("empty string instead of null", k, rec)
	        assert v not in ("yes", "no"), ("yes/no left as a string", k, rec)
	ob = load("outbox.json")
	assert len(ob) == 1, ob
	e = ob[0]
	no_empty(e)
	for k in ("size", "files", "content_bytes", "chunks", "acked", "attempts", "wire_bytes"):
	    assert type(e[k]) is int, (k, e)
	assert e["files"] == 3 and e["content_bytes"] == 6, e
	assert e["name"] == "Müller GmbH" and e["state"] == "queued", e
	p = load("peers.json")[0]
	no_empty(p)
	assert p["name"] == "Müller GmbH" and p["company"] == "Müller Werke AG", p
	for k in ("authorised", "revoked", "ltk"):
	    assert type(p[k]) is bool, (k, p)
	assert load("inbox.json") == [], "inbox"
	lines = open(d + "/sent.json", encoding="utf-8").read().splitlines()
	assert len(lines) == 1, lines
	r = json.loads(lines[0])
	assert r["outcome"] == "cancelled" and r["reason"] is None and r["receipt"] is None, r
	for k in ("size", "wire_bytes", "files", "content_bytes", "attempts"):
	    assert type(r[k]) is int, (k, r)
	names = {n["name"]: n for n in r["names"]}
	assert "files/Bericht März.txt" in names, names
	assert "files/ctl\u009b2J" in names, names
	assert type(names["files/Bericht März.txt"]["size"]) is int, names
	assert r["names_complete"] is True, r
	EOF
	); then
		pass "outbox, peers, inbox and log --sent --json: valid JSON, UTF-8 kept, types right"
	else
		fail "outbox, peers, inbox and log --sent --json: valid JSON, UTF-8 kept, types right"
		printf '  %s\n' "$out" "$(head -c 600 "$d/sent.json")"
	fi
	run "$SEALCTL" log --sent "${S[@]}"
	expect "log --sent: a UTF-8 name as it is" 0 "^    file +5  .*/Bericht März\\.txt$" stdout
	expect "log --sent: columns line up after a UTF-8 peer name (16 columns, not bytes)" 0 " Müller GmbH {6}cancelled " stdout
	expect "log --sent: a C1 control in a name escaped" 0 "^    file +1  .*/ctl\\\\x9b2J$" stdout
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$? out= err=
	expect "sealined with an envelope cancelled stops on SIGTERM with status 0" 0
}

module_loaded=0
[[ -d /sys/module/sealine ]] && module_loaded=1
not_loaded="sealine module not loaded \(genl family 'sealine' not found\)"

key1=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
key2=FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210

# ------------------------------------------------------------------ help
run "$SEALCTL" --help
expect "--help exits 0" 0 '^Usage: sealctl' stdout
for c in show genkey set-key activate clear-keys set-line monitor status peers log pair; do
	if grep -q "^  $c " <<<"$out"; then pass "--help lists $c"; else fail "--help lists $c"; fi
done
expect "--help documents exit status" 0 'Exit status' stdout
run "$SEALCTL" -h
expect "-h exits 0" 0 '^Usage: sealctl' stdout
run "$SEALCTL" help
expect "help exits 0" 0 '^Usage: sealctl' stdout
run "$SEALCTL" --version
expect "--version" 0 '^sealctl [0-9]' stdout
for c in show genkey set-key activate clear-keys set-line monitor status peers log pair; do
	run "$SEALCTL" "$c" --help
	expect "$c --help exits 0 with a manual" 0 'SYNOPSIS' stdout
	if grep -q "EXIT STATUS" <<<"$out" && grep -q "^NAME" <<<"$out"; then
		pass "$c --help has NAME and EXIT STATUS"
	else
		fail "$c --help has NAME and EXIT STATUS"
	fi
	run "$SEALCTL" help "$c"
	expect "help $c" 0 "sealctl $c - " stdout
done
run "$SEALCTL" show --help
expect "show --help lists the counters" 0 'auth_failures +frames whose tag did not verify' stdout
expect "show --help lists the fields" 0 'staged_epoch' stdout
run "$SEALCTL" set-key ttyS1 -h
expect "-h after arguments" 0 'SYNOPSIS' stdout

# ------------------------------------------------------------------ usage errors (exit 2)
run "$SEALCTL"
expect "no command: exit 2" 2 'Usage: sealctl'
run "$SEALCTL" frobnicate
expect "unknown command: exit 2" 2 "unknown command 'frobnicate'"
run "$SEALCTL" --frob
expect "unknown global option: exit 2" 2 "unknown option '--frob'"
run "$SEALCTL" help frobnicate
expect "help of unknown command: exit 2" 2 "unknown command"
run "$SEALCTL" show --frob
expect "show unknown option: exit 2" 2 "sealctl show: unknown option '--frob'"
run "$SEALCTL" show -x
expect "show unknown short option: exit 2" 2 "unknown option '-x'"
run "$SEALCTL" show ttyS1 auth_failures extra
expect "show too many arguments: exit 2" 2 "too many arguments"
run "$SEALCTL" show ttyS1 no_such_stat
expect "show unknown field: exit 2" 2 "unknown field 'no_such_stat'"
run "$SEALCTL" show ""
expect "show empty line name: exit 2" 2 "is not a line"
run "$SEALCTL" show "tty S1"
expect "show line name with a space: exit 2" 2 "is not a line"
run "$SEALCTL" show /etc/passwd
expect "show path outside /dev: exit 2" 2 "is not a line"
run "$SEALCTL" show ttySL99999999999
expect "show virtual tty index out of range: exit 2" 2 "out of range"
run "$SEALCTL" show "$(printf 'ttyX%.0s' {1..20})"
expect "show over-long tty name: exit 2" 2 "name too long"
run "$SEALCTL" genkey extra
expect "genkey takes no arguments: exit 2" 2 "takes no arguments"
run "$SEALCTL" set-key
expect "set-key without LINE: exit 2" 2 "missing LINE"
run "$SEALCTL" set-key ttyS1 --tx a --rx b
expect "set-key without --epoch: exit 2" 2 "missing --epoch"
run "$SEALCTL" set-key ttyS1 --epoch 1 --rx b
expect "set-key without --tx: exit 2" 2 "missing --tx"
run "$SEALCTL" set-key ttyS1 --epoch 1 --tx a
expect "set-key without --rx: exit 2" 2 "missing --rx"
for e in abc -1 4294967296 1x "" " 1" +1 0x10; do
	run "$SEALCTL" set-key ttyS1 --epoch "$e" --tx a --rx b
	expect "set-key --epoch '$e': exit 2" 2 "epoch '.*' is not a number"
done
run "$SEALCTL" set-key ttyS1 --epoch
expect "set-key --epoch without value: exit 2" 2 "option '--epoch' needs an argument"
run "$SEALCTL" set-key ttyS1 --epoch 1 --cipher des --tx a --rx b
expect "set-key unknown cipher: exit 2" 2 "unknown cipher 'des'"
run "$SEALCTL" set-key ttyS1 --epoch 1 --tx - --rx -
expect "set-key both keys from stdin: exit 2" 2 "cannot both be '-'"
run "$SEALCTL" set-key ttyS1 "$key1" --epoch 1 --tx a --rx b
expect "set-key refuses a key on the command line: exit 2" 2 "never from the command line"
run "$SEALCTL" activate ttyS1
expect "activate without --epoch: exit 2" 2 "missing --epoch"
run "$SEALCTL" activate --epoch 3
expect "activate without LINE: exit 2" 2 "missing LINE"
run "$SEALCTL" activate ttyS1 ttyS2 --epoch 3
expect "activate with two lines: exit 2" 2 "too many arguments"
run "$SEALCTL" clear-keys
expect "clear-keys without LINE: exit 2" 2 "missing LINE"
run "$SEALCTL" clear-keys ttyS1 --epoch 3
expect "clear-keys takes no --epoch: exit 2" 2 "unknown option '--epoch'"
run "$SEALCTL" monitor ttyS1 ttyS2
expect "monitor with two lines: exit 2" 2 "too many arguments"
run "$SEALCTL" set-line ttyS1
expect "set-line without a setting: exit 2" 2 "nothing to set"
run "$SEALCTL" set-line --mode reliable
expect "set-line without LINE: exit 2" 2 "missing LINE"
run "$SEALCTL" set-line ttyS1 --mode fast
expect "set-line --mode fast: exit 2" 2 "must be reliable or datagram, not 'fast'"
run "$SEALCTL" set-line ttyS1 --dead-time 3601
expect "set-line --dead-time 3601: exit 2" 2 "must be 1 to 3600 seconds"
run "$SEALCTL" set-line ttyS1 --dead-time 10s
expect "set-line --dead-time 10s: exit 2" 2 "dead time"
run "$SEALCTL" set-line ttyS1 ttyS2 --mode reliable
expect "set-line with two lines: exit 2" 2 "too many arguments"

# ------------------------------------------------------------------ genkey
run "$SEALCTL" genkey
expect "genkey exits 0" 0 '^[0-9a-f]{64}$' stdout
k1=$out
if [[ $(printf '%s\n' "$out" | wc -c) -eq 65 ]]; then pass "genkey prints 64 hex digits and a newline"; else fail "genkey length"; fi
run "$SEALCTL" genkey
if [[ $out != "$k1" ]]; then pass "two genkey runs differ"; else fail "two genkey runs differ"; fi
"$SEALCTL" genkey >"$tmp/private.key" 2>"$tmp/stderr"
if [[ ! -s $tmp/stderr ]]; then pass "genkey into a 0600 file: no warning"; else fail "genkey into a 0600 file warned: $(<"$tmp/stderr")"; fi
touch "$tmp/public.key" && chmod 644 "$tmp/public.key"
"$SEALCTL" genkey >>"$tmp/public.key" 2>"$tmp/stderr"
if grep -q "readable by group or others" "$tmp/stderr"; then pass "genkey into a 0644 file warns"; else fail "genkey into a 0644 file warns"; fi

# ------------------------------------------------------------------ key files
# With valid keys set-key gets as far as the kernel: on this host that is
# "module not loaded" (exit 1); key problems are reported before that.
printf '%s\n' "$key1" >"$tmp/k1"
printf '  %s  \n\n' "$key2" >"$tmp/k2"
printf '%s' "$key1" >"$tmp/k1-nonl"
printf '%s\r\n' "$key2" >"$tmp/k2-crlf"
printf '%s\n' "${key1:0:63}" >"$tmp/short"
printf '%s0\n' "$key1" >"$tmp/long"
printf '%sg\n' "${key1:0:63}" >"$tmp/badchar"
printf '%s %s\n' "${key1:0:32}" "${key1:32}" >"$tmp/split"
printf '%s\n%s\n' "$key1" "$key2" >"$tmp/two"
printf '0x%s\n' "${key1:0:62}" >"$tmp/0x"
: >"$tmp/empty"
printf ' \n\t\n' >"$tmp/blank"
printf '%s\0\n' "$key1" >"$tmp/nul"
head -c 5000 /dev/zero | tr '\0' ' ' >"$tmp/huge"
mkdir "$tmp/dir"
cp "$tmp/k1" "$tmp/k1-public" && chmod 644 "$tmp/k1-public"

set_key() { run "$SEALCTL" set-key ttyS1 --epoch 1 "$@"; }
if [[ $module_loaded -eq 0 ]]; then
	set_key --tx "$tmp/k1" --rx "$tmp/k2"
	expect "valid key files reach the kernel" 1 "$not_loaded"
	if [[ $err != *warning* ]]; then pass "0600 key files: no warning"; else fail "0600 key files: no warning"; fi
	set_key --tx "$tmp/k1-nonl" --rx "$tmp/k2-crlf"
	expect "key without newline, key with CRLF" 1 "$not_loaded"
	set_key --tx "$tmp/k1-public" --rx "$tmp/k2"
	expect "group-readable key file: warning, not refusal" 1 "warning: tx key file .*k1-public is readable by group or others \(mode 0644\)"
	if grep -qE "$not_loaded" <<<"$err"; then pass "group-readable key file still used"; else fail "group-readable key file still used"; fi
	run_stdin "$key2" "$SEALCTL" set-key ttyS1 --epoch 1 --tx "$tmp/k1" --rx -
	expect "rx key from stdin" 1 "$not_loaded"
	run_stdin "$key2"$'\n' "$SEALCTL" set-key ttyS1 --epoch 1 --tx - --rx "$tmp/k1" --cipher aes256gcm --activate
	expect "tx key from stdin, aes256gcm, --activate" 1 "$not_loaded"
	set_key --cipher AES256GCM --tx "$tmp/k1" --rx "$tmp/k2"
	expect "cipher name is case-insensitive" 1 "$not_loaded"
fi
set_key --tx "$tmp/short" --rx "$tmp/k2"
expect "63 hex digits: error naming the file" 1 "tx key file .*/short: key is 63 hex digits, expected 64"
set_key --tx "$tmp/k1" --rx "$tmp/long"
expect "65 hex digits: error naming the file" 1 "rx key file .*/long: key is 65 hex digits, expected 64"
set_key --tx "$tmp/badchar" --rx "$tmp/k2"
expect "non-hex character: error naming the file" 1 "tx key file .*/badchar: invalid character at offset 63"
if [[ $err != *g* || $err != *"${key1:0:63}"* ]]; then pass "error does not quote the key"; else fail "error does not quote the key"; fi
set_key --tx "$tmp/split" --rx "$tmp/k2"
expect "space inside the key: error" 1 "/split: unexpected data at offset 33"
set_key --tx "$tmp/two" --rx "$tmp/k2"
expect "two keys in one file: error" 1 "/two: unexpected data"
set_key --tx "$tmp/0x" --rx "$tmp/k2"
expect "0x prefix: error" 1 "/0x: invalid character at offset 1"
set_key --tx "$tmp/empty" --rx "$tmp/k2"
expect "empty key file: error" 1 "/empty: no key in it"
set_key --tx "$tmp/blank" --rx "$tmp/k2"
expect "blank key file: error" 1 "/blank: no key in it"
set_key --tx "$tmp/nul" --rx "$tmp/k2"
expect "NUL in key file: error" 1 "/nul: NUL byte at offset 64"
set_key --tx "$tmp/huge" --rx "$tmp/k2"
expect "huge key file: error" 1 "/huge: too large"
set_key --tx "$tmp/missing" --rx "$tmp/k2"
expect "missing key file: error naming it" 1 "tx key file .*/missing: No such file or directory"
set_key --tx "$tmp/dir" --rx "$tmp/k2"
expect "directory as key file: error" 1 "/dir: is a directory"
set_key --tx "$tmp/k1" --rx "$tmp/k1"
expect "same key both ways: refused" 1 "tx and rx keys are the same"
set_key --tx "$tmp/k1" --rx "$tmp/k1-nonl"
expect "same key in two files: refused" 1 "tx and rx keys are the same"
run_stdin "not a key" "$SEALCTL" set-key ttyS1 --epoch 1 --tx - --rx "$tmp/k2"
expect "bad key on stdin: error naming standard input" 1 "tx key file standard input: invalid character at offset 0"
if [[ $EUID -eq 0 ]] && command -v setpriv >/dev/null; then
	cp "$tmp/k1" "$tmp/k1-root" && chmod 600 "$tmp/k1-root"
	chmod 711 "$tmp"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$SEALCTL" set-key ttyS1 --epoch 1 --tx "$tmp/k1-root" --rx "$tmp/k2"
	expect "unreadable key file: error naming it" 1 "tx key file .*/k1-root: Permission denied"
	chmod 700 "$tmp"
fi

# ------------------------------------------------------------------ module not loaded
if [[ $module_loaded -eq 0 ]]; then
	run "$SEALCTL" show
	expect "show: module not loaded" 1 "^sealctl: show: $not_loaded\$"
	run "$SEALCTL" show ttyS1
	expect "show LINE: module not loaded" 1 "$not_loaded"
	run "$SEALCTL" show /dev/ttySL0 auth_failures
	expect "show LINE STAT: module not loaded" 1 "$not_loaded"
	run "$SEALCTL" show ttyS1 --json
	expect "show --json: module not loaded" 1 "$not_loaded"
	if [[ -z $out ]]; then pass "nothing on stdout when failing"; else fail "nothing on stdout when failing"; fi
	run "$SEALCTL" activate ttyS1 --epoch 2
	expect "activate: module not loaded" 1 "$not_loaded"
	run "$SEALCTL" clear-keys ttySL3
	expect "clear-keys: module not loaded" 1 "$not_loaded"
	run "$SEALCTL" set-line ttyS1 --mode reliable
	expect "set-line: module not loaded" 1 "$not_loaded"
	run "$SEALCTL" monitor
	expect "monitor: module not loaded" 1 "$not_loaded"
	run "$SEALCTL" monitor --json ttyS1
	expect "monitor LINE --json: module not loaded" 1 "$not_loaded"
	if command -v setpriv >/dev/null; then
		run setpriv --reuid=65534 --regid=65534 --clear-groups "$SEALCTL" show
		expect "show as nobody: module not loaded" 1 "$not_loaded"
	fi
fi

# ------------------------------------------------------------------ line names (accepted syntax)
# Accepted names get past argument checking to the kernel (exit 1 here);
# a rejected name would exit 2.
if [[ $module_loaded -eq 0 ]]; then
	for l in ttyS1 /dev/ttyS1 ttySL0 /dev/ttySL0 ttySL255 ttyUSB0 /dev/pts/0 ttyAMA0; do
		run "$SEALCTL" show "$l"
		expect "line name '$l' accepted" 1 "$not_loaded"
	done
	for f in auth_failures AUTH-FAILURES "auth failures" state epoch key_epoch staged_epoch next_epoch vtty tty index tx_counter key_age agent_portid rekeys; do
		run "$SEALCTL" show ttyS1 "$f"
		expect "field '$f' accepted" 1 "$not_loaded"
	done
fi

# ------------------------------------------------------------------ nlprobe
# ------------------------------------------------------------------ daemon commands
# (status, peers, log, pair talk to sealined; none runs on this socket)
nosock=$tmp/no-such-daemon.sock
run "$SEALCTL" status extra
expect "status takes no arguments: exit 2" 2 "too many arguments"
run "$SEALCTL" status --frob
expect "status unknown option: exit 2" 2 "unknown option '--frob'"
run "$SEALCTL" status --socket
expect "status --socket without PATH: exit 2" 2 "needs an argument"
run "$SEALCTL" status --socket "$nosock"
expect "status without a daemon: exit 1" 1 "sealined is not running \\(nothing listens on $nosock\\)"
SEALINE_SOCKET=$nosock run "$SEALCTL" status
expect "status honours \$SEALINE_SOCKET" 1 "nothing listens on $nosock"
run "$SEALCTL" peers frob
expect "peers unknown operation: exit 2" 2 "unknown operation 'frob'"
for a in 12345 1234567890123 12345678901x "" abcdefghijkl; do
	run "$SEALCTL" peers authorise "$a"
	expect "peers authorise '$a': exit 2" 2 "is not an account number"
done
run "$SEALCTL" peers revoke
expect "peers revoke without ACCOUNT: exit 2" 2 "revoke needs an ACCOUNT"
run "$SEALCTL" peers forget 123456789012 extra
expect "peers forget with two accounts: exit 2" 2 "too many arguments"
run "$SEALCTL" peers list extra
expect "peers list with an argument: exit 2" 2 "list takes no argument"
run "$SEALCTL" peers revoke 123456789012 --json
expect "peers revoke --json: exit 2" 2 "only goes with list"
run "$SEALCTL" peers authorize 123456789012 --socket "$nosock"
expect "peers authorize (US spelling) reaches the daemon: exit 1" 1 "sealined is not running"
run "$SEALCTL" peers --socket "$nosock"
expect "peers without a daemon: exit 1" 1 "sealined is not running"
run "$SEALCTL" log extra
expect "log takes no arguments: exit 2" 2 "too many arguments"
for n in 0 -1 abc; do
	run "$SEALCTL" log -n "$n"
	expect "log -n '$n': exit 2" 2 "count"
done
run "$SEALCTL" log --file /x --socket /y
expect "log --file with --socket: exit 2" 2 "exclude each other"
run "$SEALCTL" log --file "$tmp/no-such.log"
expect "log --file missing: exit 1" 1 "No such file"
printf '%s\n' '{"start": "2026-11-26T17:41:53Z", "end": "2026-11-26T17:50:00Z", "line": "ttyS1", "kind": "session", "role": "initiator", "peer": "210987654321", "bytes_tx": 100, "bytes_rx": 7, "rekeys": 1, "outcome": "ok", "reason": null, "detail": "line down"}' \
	'{"start": "2026-11-26T18:00:00Z", "end": "2026-11-26T18:00:01Z", "line": "ttyS1", "kind": "session", "role": "responder", "peer": null, "bytes_tx": 0, "bytes_rx": 0, "rekeys": 0, "outcome": "nak-received", "reason": "unknown_peer", "detail": null}' \
	'{"start": "2026-11-26T18:0' >"$tmp/sessions.log"
run "$SEALCTL" log --file "$tmp/sessions.log"
expect "log --file reads a session log" 0 "^2026-11-26T17:41:53Z 2026-11-26T17:50:00Z ttyS1 +session +initiator +210987654321 +100 +7  ok: line down" stdout
expect "log --file shows NAK reasons" 0 "nak-received \\(unknown_peer\\)" stdout
expect "log --file warns about a torn line" 0 "1 lines are not session records"
run "$SEALCTL" log --file "$tmp/sessions.log" --json -n 1
expect "log --json -n 1: the last record as JSON" 0 '^\{"start": "2026-11-26T18:00:00Z".*"peer": null.*"reason": "unknown_peer"' stdout
if [[ $(wc -l <<<"$out") -eq 1 ]]; then pass "log -n 1 prints one record"; else fail "log -n 1 prints one record"; fi
: >"$tmp/empty.log"
run "$SEALCTL" log --file "$tmp/empty.log"
expect "log of an empty file" 0 "^no sessions logged$" stdout
run "$SEALCTL" pair
expect "pair without LINE: exit 2" 2 "missing LINE"
run "$SEALCTL" pair ttySL0
expect "pair on a virtual tty: exit 2" 2 "name the physical tty"
run "$SEALCTL" pair ttyS1 --json
expect "pair --json: exit 2" 2 "json"
run "$SEALCTL" pair ttyS1 --wait 0
expect "pair --wait 0: exit 2" 2 "--wait takes 1 to 86400 seconds"
run "$SEALCTL" pair ttyS1 --wait 86401
expect "pair --wait too long: exit 2" 2 "--wait takes 1 to 86400 seconds"
run "$SEALCTL" pair ttyS1 --wait 5m
expect "pair --wait 5m: exit 2" 2 "not '5m'"
run "$SEALCTL" pair ttyS1 --wait -3
expect "pair --wait -3: exit 2" 2 "--wait takes"
run "$SEALCTL" pair ttyS1 --replace --wait 30 --socket "$nosock"
expect "pair --replace --wait 30 without a daemon: exit 1" 1 "sealined is not running"
run "$SEALCTL" pair ttyS1 ttyS2
expect "pair with two lines: exit 2" 2 "too many arguments"
run "$SEALCTL" pair ttyS1 --socket "$nosock"
expect "pair without a daemon: exit 1" 1 "sealined is not running"
run "$SEALCTL" send /etc/hostname
expect "send without --to: exit 2" 2 "--to ACCOUNT is required"
run "$SEALCTL" send --to 12345 /etc/hostname
expect "send to a short account: exit 2" 2 "12 digits, not '12345'"
run "$SEALCTL" send --to 123456789012
expect "send without files: exit 2" 2 "name the files or directories"
run "$SEALCTL" send --to 123456789012 --line ttyS1 --call /etc/hostname
expect "send --line with --call: exit 2" 2 "exclude each other"
run "$SEALCTL" send --to 123456789012 --deliver-window 22:00-06:00 /etc/hostname
expect "send --deliver-window without --via-tsp: exit 2" 2 "held at the TSP: add --via-tsp"
run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-after 2099-01-01 /etc/hostname --call
expect "send --via-tsp with --call: exit 2" 2 "--via-tsp and --call exclude each other"
run "$SEALCTL" send --to 123456789012 --via-tsp /etc/hostname --line ttyS1
expect "send --via-tsp with --line: exit 2" 2 "--via-tsp and --line exclude each other"
run "$SEALCTL" outbox collect extra
expect "outbox collect takes no argument: exit 2" 2 "collect takes no argument"
run "$SEALCTL" outbox acceptance
expect "outbox acceptance without an ID: exit 2" 2 "acceptance needs the envelope's ID"
run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-after 2099-01-01 --deliver-window 01:00-02:00 /etc/hostname
expect "send --deliver-after with --deliver-window: exit 2" 2 "exclude each other"
for w in 24:00-06:00 22:60-06:00 2200-0600 22:00 22:00-6:00 x; do
	run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-window "$w" /etc/hostname
	expect "send --deliver-window $w: exit 2" 2 "--deliver-window is HH:MM-HH:MM \\(UTC"
done
run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-window 06:30-06:30 /etc/hostname
expect "send --deliver-window of no length: exit 2" 2 "is empty: start and end differ"
run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-after 2020-01-01T10:00 /etc/hostname
expect "send --deliver-after in the past: exit 2" 2 "2020-01-01T10:00 is in the past"
run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-after 'next week' /etc/hostname
expect "send --deliver-after not a time: exit 2" 2 "'next week' is not a UTC date or date-time"
run "$SEALCTL" send --to 123456789012 --via-tsp --deliver-after 2099-01-01T22:00Z /etc/hostname --socket "$nosock"
expect "send --via-tsp --deliver-after parsed, then sealined asked: exit 1 without a daemon" 1 "sealined is not running"
run "$SEALCTL" send --help
expect "send --help documents --via-tsp" 0 "^    -T, --via-tsp$" stdout
expect "send --help documents --deliver-window" 0 "^    -W, --deliver-window HH:MM-HH:MM$" stdout
run "$SEALCTL" send --to 123456789012 --level 40 /etc/hostname
expect "send --level out of range: exit 2" 2 "--level is 1 to"
run "$SEALCTL" send --to 123456789012 "$tmp/no-such-file"
expect "send of a missing file: exit 1, before asking the daemon" 1 "no-such-file: No such file"
run "$SEALCTL" send --to 123456789012 /etc/hostname --socket "$nosock"
expect "send without a daemon: exit 1" 1 "sealined is not running"
run "$SEALCTL" outbox frob
expect "outbox unknown operation: exit 2" 2 "unknown operation 'frob'"
run "$SEALCTL" outbox cancel
expect "outbox cancel without ID: exit 2" 2 "cancel needs the envelope's ID"
run "$SEALCTL" outbox cancel xyz1
expect "outbox cancel of a bad ID: exit 2" 2 "is not an envelope id"
run "$SEALCTL" outbox retry 1234 --json
expect "outbox retry --json: exit 2" 2 "only goes with the list"
run "$SEALCTL" inbox show 1234
expect "inbox show of a short ID: exit 2" 2 "32 hex digits"
run "$SEALCTL" inbox --socket "$nosock"
expect "inbox without a daemon: exit 1" 1 "sealined is not running"
run "$SEALCTL" log --sent --received
expect "log --sent --received: exit 2" 2 "exclude each other"
run "$SEALCTL" receipt
expect "receipt without operation: exit 2" 2 "verify FILE"
for c in send outbox inbox receipt; do
	run "$SEALCTL" "$c" --help
	expect "$c --help is a manual" 0 "^SYNOPSIS" stdout
	expect "$c --help has EXIT STATUS" 0 "^EXIT STATUS" stdout
done
printf '%s\n' '{"time": "2026-12-01T10:00:00Z", "id": "00112233445566778899aabbccddeeff", "peer": "210987654321", "outcome": "delivered", "reason": null, "detail": null, "size": 400, "wire_bytes": 520, "files": 2, "content_bytes": 12, "inbox": "/x", "receipt": "r", "names": [{"name": "dir", "type": "directory"}, {"name": "dir/a\u000ab", "type": "file", "size": 12}], "names_complete": true}' \
	'{"time": "2026-12-01T11:00:00Z", "id": "ffeeddccbbaa99887766554433221100", "peer": null, "outcome": "refused", "reason": "not_for_us", "detail": "sealed for another installation", "size": 300, "wire_bytes": 0}' \
	>"$tmp/received.log"
printf '%s' '{"time": "2026-12-01T1' >>"$tmp/received.log"
run "$SEALCTL" log --received --file "$tmp/received.log"
expect "log --received --file: a delivery" 0 "^2026-12-01T10:00:00Z 00112233445566778899aabbccddeeff  210987654321 +- +delivered +2 +12 +520$" stdout
expect "log --received --file: names, control characters escaped" 0 "^    file +12  dir/a\\\\x0ab$" stdout
expect "log --received --file: a refusal with its reason" 0 "^    not_for_us: sealed for another installation$" stdout
run "$SEALCTL" log --received --file "$tmp/received.log" --json -n 1
expect "log --received --json -n 1: the last whole record" 0 '^\{"time": "2026-12-01T11:00:00Z"' stdout
# Names as sealined's writer (lib/json.h) stores them: UTF-8 as it is, C1
# controls escaped (\u009b is CSI, which steers a terminal).
printf '%s\n' '{"time": "2026-12-02T10:00:00Z", "id": "0123456789abcdef0123456789abcdef", "peer": "210987654321", "outcome": "delivered", "reason": null, "detail": null, "size": 400, "wire_bytes": 520, "files": 1, "content_bytes": 12, "names": [{"name": "Müller GmbH/Bericht \u009b2J.pdf", "type": "file", "size": 12}], "names_complete": true}' >"$tmp/received-utf8.log"
run "$SEALCTL" log --received --file "$tmp/received-utf8.log"
expect "log --received: a UTF-8 name kept, a C1 control escaped" 0 "^    file +12  Müller GmbH/Bericht \\\\x9b2J\\.pdf$" stdout

# ------------------------------------------------------------------ sealined
SEALINED=${SEALINED:-$ROOT/build/bin/sealined}
if [[ -x $SEALINED ]]; then
	run "$SEALINED" --help
	expect "sealined --help" 0 "^Usage: sealined" stdout
	run "$SEALINED" --version
	expect "sealined --version" 0 "^sealined [0-9]" stdout
	run "$SEALINED" --frob
	expect "sealined unknown option: exit 2" 2 "Try 'sealined --help'"
	run "$SEALINED" extra
	expect "sealined stray argument: exit 2" 2 "unexpected argument 'extra'"
	run "$SEALINED" -t -c "$ROOT/agent/dist/sealined.conf.example"
	expect "sealined -t accepts the example configuration" 0 "is valid" stdout
	run "$SEALINED" -t -c "$tmp/no-such.conf"
	expect "sealined -t on a missing file: exit 78 (EX_CONFIG)" 78 "no-such.conf: No such file"
	printf '[agent]\n\n[line ttyS1]\nrole = boss\n' >"$tmp/bad.conf"
	run "$SEALINED" -t -c "$tmp/bad.conf"
	expect "sealined -t names file and line, exit 78" 78 "bad.conf:4: role must be auto, initiator or responder"
	# -t checks and shows every section: a dial-up line with dial on
	# demand, and a tty that is not there yet (a warning, not an error).
	key=$(printf 'ab%.0s' {1..32})
	printf '[agent]\n[line ttyNOSUCH9]\nmodem = yes\ntsp_number = 5550100\ntsp_key = %s\nbaud = 9600\ndial_on_demand = 210987654321\nidle_hangup = 5m\n' \
		"$key" >"$tmp/modem.conf"
	run "$SEALINED" -t -c "$tmp/modem.conf"
	expect "sealined -t shows a modem line's TSP and pinned key" 0 \
		"modem: dials the TSP at 5550100, pins its key $key" stdout
	expect "sealined -t shows a modem line's speed" 0 "modem: 9600 baud" stdout
	expect "sealined -t shows dial on demand" 0 \
		"dial on demand: calls 210987654321 when /run/sealine/ttyNOSUCH9.line is written, idle hangup after 300 s" stdout
	expect "sealined -t warns of a tty that does not exist" 0 \
		"warning: .*modem.conf:2: /dev/ttyNOSUCH9 does not exist \\(yet\\)"
	printf '[agent]\n[line ttyS1]\nmodem = yes\ntsp_number = 5550100\n' >"$tmp/modem-nokey.conf"
	run "$SEALINED" -t -c "$tmp/modem-nokey.conf"
	expect "sealined -t: a modem line needs tsp_key (exit 78)" 78 "needs tsp_number and tsp_key"
	printf '[agent]\n[line ttyS1]\nmodem = yes\ntsp_number = 5550100\ntsp_key = %s\nmodem_init = ATZ\x01\n' "$key" >"$tmp/modem-init.conf"
	run "$SEALINED" -t -c "$tmp/modem-init.conf"
	expect "sealined -t checks modem_init (exit 78)" 78 "modem-init.conf:6:"
	run "$SEALINED" -t -c "$ROOT/agent/dist/sealined.conf.example" --socket relative
	expect "sealined --socket must be absolute: exit 2" 2 "must be an absolute path"
	run "$SEALINED" -t -c "$ROOT/agent/dist/sealtspd.conf.example"
	expect "sealined -t refuses a TSP's configuration, naming sealtspd" 78 \
		"sealtspd.conf.example is a TSP configuration \\(\\[tsp\\] at line [0-9]+\\): run it with sealtspd -c "
	run "$SEALINED" -f -c "$ROOT/agent/dist/sealtspd.conf.example"
	expect "sealined refuses to run a TSP's configuration: exit 78" 78 "run it with sealtspd"
	# An endpoint never links the TSP's account store.
	run ldd "$SEALINED"
	if [[ $rc -eq 0 ]] && ! grep -q libsqlite3 <<<"$out"; then
		pass "sealined does not link libsqlite3 (ldd)"
	else
		fail "sealined does not link libsqlite3 (ldd)"
	fi
	# sd_notify(3): READY=1 once it serves, STOPPING=1 on SIGTERM, with no
	# module and no line (it waits for both).
	daemon_notify_check sealined "$SEALINED" "$tmp/ep"
	courier_check "$tmp/courier"
	courier_json_check "$tmp/courier-json"
else
	fail "sealined is built ($SEALINED)"
fi

# ------------------------------------------------------------------ sealtspd
SEALTSPD=${SEALTSPD:-$ROOT/build/bin/sealtspd}
if [[ -x $SEALTSPD ]]; then
	run "$SEALTSPD" --help
	expect "sealtspd --help" 0 "^Usage: sealtspd" stdout
	for w in "Options:" "Signals:" "Exit status:" "READY=1" "sealctl tsp" "sealined"; do
		if grep -q -- "$w" <<<"$out"; then pass "sealtspd --help documents $w"; else fail "sealtspd --help documents $w"; fi
	done
	run "$SEALTSPD" --version
	expect "sealtspd --version" 0 "^sealtspd [0-9]" stdout
	run "$SEALTSPD" --frob
	expect "sealtspd unknown option: exit 2" 2 "Try 'sealtspd --help'"
	run "$SEALTSPD" extra
	expect "sealtspd stray argument: exit 2" 2 "unexpected argument 'extra'"
	run "$SEALTSPD" -t -c "$ROOT/agent/dist/sealtspd.conf.example"
	expect "sealtspd -t accepts the example configuration" 0 "is valid: a TSP" stdout
	expect "sealtspd -t shows its lines" 0 "lines +/dev/ttyUSB\\*" stdout
	# PostgreSQL and terminal servers: shown, the password masked, nothing
	# connected to.
	printf '[agent]\n[tsp]\nstore = postgresql://tsp:s3cret@db1.invalid/tsp\ninstance = tsp-2\nlease = 2m\nbacklog = %s/backlog\nlines = bank1=rfc2217://ts1.invalid:3001, tcp://[::1]:4001\n' "$tmp" >"$tmp/tsp-pg.conf"
	run "$SEALTSPD" -t -c "$tmp/tsp-pg.conf"
	expect "sealtspd -t: a PostgreSQL store, its password masked" 0 "^  store +postgresql://tsp:xxx@db1.invalid/tsp \\(PostgreSQL\\)$" stdout
	if grep -q s3cret <<<"$out$err"; then fail "sealtspd -t never shows the store's password"; else pass "sealtspd -t never shows the store's password"; fi
	expect "sealtspd -t: instance, lease, backlog" 0 "^  lease +120 s$" stdout
	expect "sealtspd -t: the backlog" 0 "^  backlog +$tmp/backlog$" stdout
	expect "sealtspd -t: a terminal server's port" 0 "^  lines +bank1=rfc2217://ts1.invalid:3001 \\(a terminal server's port\\)$" stdout
	printf '[agent]\n[tsp]\nstore = mysql://db1/tsp\nlines = /dev/ttyS1\n' >"$tmp/tsp-store.conf"
	run "$SEALTSPD" -t -c "$tmp/tsp-store.conf"
	expect "sealtspd -t: an unknown store refused (exit 78)" 78 "tsp-store.conf:3: store is an SQLite file's absolute path"
	printf '[agent]\n[tsp]\nlease = 5\nlines = /dev/ttyS1\n' >"$tmp/tsp-lease.conf"
	run "$SEALTSPD" -t -c "$tmp/tsp-lease.conf"
	expect "sealtspd -t: lease out of range (exit 78)" 78 "tsp-lease.conf:3: lease"
	printf '[agent]\n[tsp]\nlines = rfc2217://ts1\n' >"$tmp/tsp-port.conf"
	run "$SEALTSPD" -t -c "$tmp/tsp-port.conf"
	expect "sealtspd -t: a terminal server's port without PORT (exit 78)" 78 "tsp-port.conf:3:"
	run "$SEALTSPD" -t -c "$ROOT/agent/dist/sealined.conf.example"
	expect "sealtspd -t refuses an endpoint's configuration, naming sealined" 78 \
		"sealined.conf.example is not a TSP configuration \\(it has no \\[tsp\\] section\\): run sealined -c "
	run "$SEALTSPD" -f -c "$ROOT/agent/dist/sealined.conf.example"
	expect "sealtspd refuses to run an endpoint's configuration: exit 78" 78 "is not a TSP configuration"
	run "$SEALTSPD" -t -c "$tmp/no-such.conf"
	expect "sealtspd -t on a missing file: exit 78" 78 "no-such.conf: No such file"
	printf '[agent]\n[tsp]\nlines = /dev/ttyS1\n[line ttyS2]\n' >"$tmp/tsp-lines.conf"
	run "$SEALTSPD" -t -c "$tmp/tsp-lines.conf"
	expect "sealtspd -t: a TSP keys no lines of its own" 78 "keys no lines of its own"
	printf '[agent]\n[tsp]\nanswer_timeout = 5\nlines = /dev/ttyS1\n' >"$tmp/tsp-bad.conf"
	run "$SEALTSPD" -t -c "$tmp/tsp-bad.conf"
	expect "sealtspd -t names file and line" 78 "tsp-bad.conf:3: answer_timeout"
	run "$SEALTSPD" -t -c "$ROOT/agent/dist/sealtspd.conf.example" --state-dir relative
	expect "sealtspd --state-dir must be absolute: exit 2" 2 "must be an absolute path"
	run ldd "$SEALTSPD"
	if [[ $rc -eq 0 ]] && grep -q libsqlite3 <<<"$out" && ! grep -q libnl <<<"$out"; then
		pass "sealtspd links libsqlite3 and not libnl (ldd)"
	else
		fail "sealtspd links libsqlite3 and not libnl (ldd)"
	fi
	daemon_notify_check sealtspd "$SEALTSPD" "$tmp/tspd"
else
	fail "sealtspd is built ($SEALTSPD)"
fi

run "$NLPROBE" --help
expect "nlprobe --help exits 0" 0 '^Usage: nlprobe' stdout
for c in register send sendrecv listen-unregistered raw; do
	if grep -q "nlprobe $c" <<<"$out"; then pass "nlprobe --help documents $c"; else fail "nlprobe --help documents $c"; fi
done
expect "nlprobe --help documents exit status" 0 'Exit status' stdout
run "$NLPROBE"
expect "nlprobe without command: exit 2" 2 "missing COMMAND"
run "$NLPROBE" frob ttyS1
expect "nlprobe unknown command: exit 2" 2 "unknown command 'frob'"
run "$NLPROBE" register
expect "nlprobe register without LINE: exit 2" 2 "register takes LINE"
run "$NLPROBE" send ttyS1 abc
expect "nlprobe odd hex: exit 2" 2 "odd number"
run "$NLPROBE" send ttyS1 zz
expect "nlprobe non-hex: exit 2" 2 "not a hex digit"
run "$NLPROBE" send ttyS1 "$(head -c 4001 /dev/zero | od -An -tx1 -v | tr -d ' \n')"
expect "nlprobe payload over 4000 bytes: exit 2" 2 "longer than 4000 bytes"
run "$NLPROBE" register ttyS1 --count 0
expect "nlprobe --count 0: exit 2" 2 "not a positive number"
run "$NLPROBE" register ttyS1 --timeout abc
expect "nlprobe --timeout abc: exit 2" 2 "not a positive number of seconds"
run "$NLPROBE" register ttyS1 --no-register
expect "nlprobe --no-register outside send: exit 2" 2 "for send only"
run "$NLPROBE" raw 256
expect "nlprobe raw 256: exit 2" 2 "neither a number"
run "$NLPROBE" register ttyS1 --bogus
expect "nlprobe unknown option: exit 2" 2 "unknown option '--bogus'"
if [[ $module_loaded -eq 0 ]]; then
	run "$NLPROBE" register ttyS1 --count 1 --timeout 1
	expect "nlprobe register: module not loaded" 1 "$not_loaded"
	run "$NLPROBE" send ttyS1 0102 --no-register
	expect "nlprobe send: module not loaded" 1 "$not_loaded"
	run "$NLPROBE" raw get_line --dump
	expect "nlprobe raw: module not loaded" 1 "ENOFAMILY" stdout
fi

# ------------------------------------------------------------------ tsp
# The TSP's account store and call records, in a store under $tmp.
db=$tmp/tsp/accounts.db
printf '%s\n' "$key1" >"$tmp/acct1.key"
printf '%s\n' "$key2" >"$tmp/acct2.key"
run "$SEALCTL" tsp --help
expect "tsp --help" 0 'accounts authorise\|deauthorise RECIPIENT CALLER' stdout
run "$SEALCTL" tsp --db "$db" accounts list
expect "tsp: no store yet: exit 1" 1 'no TSP account store at'
run "$SEALCTL" tsp --db "$db" accounts add 100000000001 --name 'ACME, "Inc."' \
	--key "$tmp/acct1.key" --phone 5551001 --caller-id 5551001
expect "tsp accounts add" 0 'account 100000000001 added' stdout
if [[ $(stat -c %a "$db") == 600 && $(stat -c %a "$tmp/tsp") == 700 ]]; then
	pass "tsp store file 0600, directory 0700"
else
	fail "tsp store file 0600, directory 0700"
fi
run_stdin "$key2" "$SEALCTL" tsp --db "$db" accounts add 200000000002 --name Bob \
	--key - --phone 5552002
expect "tsp accounts add, key on stdin" 0 'cannot call' stdout
run "$SEALCTL" tsp --db "$db" accounts add 300000000003 --name Eve \
	--key "$tmp/acct2.key" --phone 5553003
expect "tsp duplicate key: exit 1" 1 'belongs to account 200000000002'
run "$SEALCTL" tsp --db "$db" accounts add 30000000003 --name Eve \
	--key "$tmp/acct2.key" --phone 5553003
expect "tsp 11-digit account: exit 2" 2 'not an account number'
run "$SEALCTL" tsp --db "$db" accounts add 300000000003 --name Eve \
	--key "$tmp/acct2.key" --phone +15553003
expect "tsp phone with +: exit 2" 2 "phone number '\+15553003'"
run "$SEALCTL" tsp --db "$db" accounts authorise 200000000002 100000000001
expect "tsp accounts authorise" 0 '100000000001 may now call 200000000002' stdout
run "$SEALCTL" tsp --db "$db" accounts authorise 200000000002 900000000009
expect "tsp authorise unknown caller: exit 1" 1 'no account 900000000009'
run "$SEALCTL" tsp --db "$db" accounts bind 200000000002 --line ttyS3
expect "tsp accounts bind --line" 0 'line ttyS3 bound' stdout
run "$SEALCTL" tsp --db "$db" accounts limit 200000000002 4
expect "tsp accounts limit" 0 'may take part in 4 calls at once' stdout
# one rule with sealine-ui's form (sl_tsp_max_calls_parse): digits only
for bad in ' 5' '+5' 100001 5x ''; do
	run "$SEALCTL" tsp --db "$db" accounts limit 200000000002 "$bad"
	expect "tsp accounts limit '$bad': exit 2" 2 "'${bad/+/[+]}' is not a limit of concurrent calls"
done
run "$SEALCTL" tsp --db "$db" accounts disable 200000000002
expect "tsp accounts disable" 0 'disabled' stdout
run "$SEALCTL" tsp --db "$db" accounts show 200000000002 --json
expect "tsp accounts show --json" 0 '"enabled": false.*"lines": \["ttyS3"\], "authorised_callers": \["100000000001"\]' stdout
run "$SEALCTL" tsp --db "$db" accounts list
expect "tsp accounts list" 0 '100000000001 +enabled +5551001 +ACME, "Inc."' stdout
# JSON keeps UTF-8 as UTF-8 and stays valid with any name: a real parser
# reads it back, types checked.
printf '%s\n' "$(printf 'ab%.0s' {1..16})$(printf 'cd%.0s' {1..16})" >"$tmp/acct4.key"
run "$SEALCTL" tsp --db "$db" accounts add 400000000004 --name 'Müller GmbH "\ ü' \
	--key "$tmp/acct4.key" --phone 5554004
expect "tsp accounts add with a UTF-8 name" 0 'account 400000000004 added' stdout
"$SEALCTL" tsp --db "$db" accounts list --json >"$tmp/list.json" 2>&1
"$SEALCTL" tsp --db "$db" accounts show 400000000004 --json >"$tmp/show.json" 2>&1
if out=$(python3 - "$tmp/list.json" "$tmp/show.json" 2>&1 <<-'EOF'
	import json, sys
	accounts = json.load(open(sys.argv[1], encoding="utf-8"))
	one = json.load(open(sys.argv[2], encoding="utf-8"))
	m = [a for a in accounts if a["number"] == "400000000004"]
	assert len(m) == 1, accounts
	assert m[0]["name"] == 'Müller GmbH "\\ ü', repr(m[0]["name"])
	assert one["name"] == m[0]["name"], repr(one["name"])
	assert isinstance(one["enabled"], bool), one
	assert type(one["max_calls"]) is int, one
	for k in ("caller_ids", "lines", "authorised_callers"):
	    assert isinstance(one[k], list), (k, one)
	assert "Müller".encode() in open(sys.argv[1], "rb").read(), "not UTF-8 as is"
	EOF
); then
	pass "tsp accounts list/show --json: UTF-8 kept, valid JSON, types right"
else
	fail "tsp accounts list/show --json: UTF-8 kept, valid JSON, types right"
	printf '  %s\n' "$out" "$(head -c 400 "$tmp/list.json")"
fi
run "$SEALCTL" tsp --db "$db" cdr --csv --from 2026-01-01 --to 2026-01-31
expect "tsp cdr --csv header" 0 '^tracking_id,tsp_instance,line,caller_id,ring_time' stdout
run "$SEALCTL" tsp --db "$db" cdr --from 2026-02-30
expect "tsp cdr impossible date: exit 2" 2 "'2026-02-30' is not a UTC date"
run "$SEALCTL" tsp --db "$db" cdr --csv --json
expect "tsp cdr --csv --json: exit 2" 2 'exclude each other'
# tsp spool: rows as the TSP's spool writes them (store-and-forward.rst),
# one held, one delivered with its receipt (never printed).
run "$SEALCTL" tsp --db "$db" spool
expect "tsp spool, empty" 0 '^the spool holds nothing$' stdout
python3 - "$db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO spool (sid, envelope, sender, recipient, size, bucket,"
          " sha256, state, instance, received_ms, accepted_ms, deliver_window,"
          " expires_ms, next_ms) VALUES (?, ?, '100000000001', '200000000002',"
          " 70185, 131072, ?, 'held', 'tsp-1', 1800000000000, 1800000001000,"
          " ?, 1800604801000, 1800003600000)",
          (0x1234, bytes(range(16)), bytes(32), (22 * 60) * 1440 + 6 * 60))
c.execute("INSERT INTO spool (sid, envelope, sender, recipient, size, bucket,"
          " sha256, state, instance, received_ms, accepted_ms, expires_ms,"
          " next_ms, attempts, last_attempt_ms, done_ms, receipt) VALUES"
          " (?, ?, '100000000001', '200000000002', 169, 65536, ?, 'delivered',"
          " 'tsp-1', 1800000000500, 1800000002000, 1800604802000,"
          " 1800000002000, 2, 1800000300000, 1800000360000, 'RECEIPT-TEXT')",
          (0x5678, bytes([7] * 16), bytes(32)))
c.commit()
PY
run "$SEALCTL" tsp --db "$db" spool
expect "tsp spool lists what is held" 0 '^0000000000001234  held +100000000001  200000000002 +70185 +131072  2027-01-15T08:00:00.000Z  2027-01-15T09:00:00.000Z +0  -$' stdout
if grep -q 0000000000005678 <<<"$out"; then fail "tsp spool leaves out closed rows"; else pass "tsp spool leaves out closed rows"; fi
run "$SEALCTL" tsp --db "$db" spool --all --json
if python3 -c '
import json, sys
rows = json.loads(sys.argv[1])
assert [r["spool_id"] for r in rows] == ["0000000000001234", "0000000000005678"], rows
held, done = rows
assert held["envelope"] == "000102030405060708090a0b0c0d0e0f"
assert held["size"] == 70185 and held["bucket"] == 131072 and held["attempts"] == 0
assert held["deliver_window"] == "22:00-06:00" and held["deliver_after"] is None
assert held["done_time"] is None and held["held_s"] is None and held["reason"] is None
assert done["state"] == "delivered" and done["attempts"] == 2 and done["held_s"] == 358
assert done["receipt_held"] is True and done["collected_time"] is None
assert "RECEIPT-TEXT" not in sys.argv[1]
' "$out"; then
	pass "tsp spool --all --json: ids, sizes and counts as numbers, null for absent, no receipt text"
else
	fail "tsp spool --all --json: ids, sizes and counts as numbers, null for absent, no receipt text"
fi
run "$SEALCTL" tsp --db "$db" spool 1234
expect "tsp spool takes no argument: exit 2" 2 "spool takes no argument"
run "$SEALCTL" tsp --db "$tmp/no-such.db" spool
expect "tsp spool without a store: exit 1" 1 "no TSP account store"
run "$SEALCTL" tsp --help
expect "tsp --help documents spool" 0 'spool lists the envelopes the TSP holds' stdout
run "$SEALCTL" tsp --db "$db" accounts remove 100000000001
expect "tsp accounts remove" 0 'removed' stdout
run "$SEALCTL" tsp --db "$db" accounts frob 100000000001
expect "tsp unknown operation: exit 2" 2 "unknown accounts operation 'frob'"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
