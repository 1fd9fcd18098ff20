#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/ui/test-ui.sh [--screenshots DIR]
#
# sealine-ui in a real browser: a sealined on the host test bed (no
# kernel, as tests/unit/sealctl-cli.sh runs it) with two peers in its
# address book (one paired and authorised, one revoked) and one envelope
# in its inbox (tests/ui/inbox-put signs its receipt with the
# installation's own key), sealine-ui in front of it, and headless
# Chromium driven by Selenium (browser.py). Screenshots go to
# build/ui-shots, or with --screenshots to DIR (Documentation/ui to
# update the committed ones). Ends with "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SHOTS=$ROOT/build/ui-shots
if [[ ${1:-} == --screenshots ]]; then
	SHOTS=$(realpath -m "${2:?--screenshots needs a directory}")
fi
BIN=$ROOT/build/bin
# sealine-ui itself under AddressSanitizer and UBSan (anything they
# report lands in its stderr, which must stay empty)
UI=$ROOT/build/bin-asan/sealine-ui
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export SEALCTL=$BIN/sealctl
export UI_MAX_UPLOAD=1048576
PY=/usr/bin/python3	# Debian's, with python3-selenium

for p in /usr/bin/chromium /usr/bin/chromedriver; do
	if [[ ! -x $p ]]; then
		echo "test-ui: $p missing: scripts/install-deps installs chromium and chromium-driver" >&2
		exit 1
	fi
done
if ! $PY -c 'import selenium' 2>/dev/null; then
	echo "test-ui: python3-selenium missing (scripts/install-deps)" >&2
	exit 1
fi
make -s -C "$ROOT/agent" sealctl sealined sealine-ui >/dev/null || exit 1
make -s -C "$ROOT/agent" ASAN=1 sealine-ui >/dev/null || exit 1
make -s -C "$ROOT/tests/ui" >/dev/null || exit 1

d=$(mktemp -d /tmp/sealine-ui-test.XXXXXX)
sealined_pid= ui_pid= ui2_pid= fake_pid=
cleanup() {
	[[ -n $ui_pid ]] && kill "$ui_pid" 2>/dev/null && wait "$ui_pid" 2>/dev/null
	[[ -n $ui2_pid ]] && kill "$ui2_pid" 2>/dev/null && wait "$ui2_pid" 2>/dev/null
	[[ -n $fake_pid ]] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	[[ -n $sealined_pid ]] && kill "$sealined_pid" 2>/dev/null &&
		wait "$sealined_pid" 2>/dev/null
	rm -rf "$d"
}
trap cleanup EXIT

ACCOUNT=123456789012 PEER=210987654321 REVOKED=333333333333
mkdir -m 700 -p "$d/state" "$d/state/peers"
mkdir -p "$d/files" "$d/up"
hex() { head -c "$1" /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }
now=$(date +%s)
peer_file() {	# ACCOUNT AUTHORISED REVOKED
	printf 'version 1\naccount %s\npublic %s\nltk %s\nauthorised %s\nrevoked %s\npaired %s\nchanged %s\n' \
		"$1" "$(hex 32)" "$(hex 32)" "$2" "$3" "$now" "$now" \
		>"$d/state/peers/$1"
	chmod 600 "$d/state/peers/$1"
}
peer_file $PEER yes no
peer_file $REVOKED yes yes
cat >"$d/conf" <<EOC
[agent]
account = $ACCOUNT
state_dir = $d/state
socket = $d/ctl.sock
[courier]
inbox = $d/in
staging = $d/staging
[line ttyNOSUCH8]
peer = $PEER
EOC

# An envelope from PEER in the inbox: its receipt, signed with this
# installation's key (created here, before sealined locks the store).
in_id=$(hex 16)
echo "$in_id" >"$d/inbox-id"
"$ROOT/tests/ui/build/inbox-put" "$d/state" $ACCOUNT $PEER "$in_id" 3 5000 || exit 1
mkdir -p "$d/in/$in_id/docs"
head -c 4000 /dev/urandom >"$d/in/$in_id/data.bin"
printf 'Sehr geehrte Damen und Herren,\n' >"$d/in/$in_id/Bericht März.txt"
printf 'nested\n' >"$d/in/$in_id/docs/nested.txt"
ln -s ../../state/peers/$PEER "$d/in/$in_id/link-out"
# and one the TSP held and delivered (store and forward): sealined keeps
# its route next to the receipt (RECEIPTS/ID.via).
tsp_in_id=$(hex 16)
echo "$tsp_in_id" >"$d/inbox-tsp-id"
"$ROOT/tests/ui/build/inbox-put" "$d/state" $ACCOUNT $PEER "$tsp_in_id" 1 20 || exit 1
printf tsp >"$d/state/receipts/$tsp_in_id.via"
mkdir -p "$d/in/$tsp_in_id"
printf 'held by the TSP\n' >"$d/in/$tsp_in_id/note.txt"
chmod 700 "$d/in"

# Files to send from the browser.
printf 'Quartalsbericht\n' >"$d/files/Bericht März.txt"
head -c 300000 /dev/urandom >"$d/files/random.bin"
# A local folder to pick from (--folder): a file, a directory, a file
# named as an upload, and a link that leads out of the folder.
mkdir -p "$d/pick/sub"
printf 'Lieferschein 4711\n' >"$d/pick/Lieferschein.txt"
head -c 5000 /dev/urandom >"$d/pick/sub/deep.bin"
printf 'another\n' >"$d/pick/random.bin"
ln -s ../state "$d/pick/outside"

"$BIN/sealined" -f -c "$d/conf" 2>"$d/sealined.log" &
sealined_pid=$!
for ((i = 0; i < 200; i++)); do [[ -S $d/ctl.sock ]] && break; sleep 0.05; done
if [[ ! -S $d/ctl.sock ]]; then
	echo "test-ui: sealined did not start:" >&2
	cat "$d/sealined.log" >&2
	exit 1
fi
"$SEALCTL" peers name $PEER "Müller GmbH" --socket "$d/ctl.sock" >/dev/null || exit 1
"$SEALCTL" peers company $PEER "Müller Werke AG" --socket "$d/ctl.sock" >/dev/null || exit 1

"$UI" --port 0 --socket "$d/ctl.sock" --upload-dir "$d/up" \
	--max-upload $UI_MAX_UPLOAD --folder "$d/pick" >"$d/ui.out" 2>"$d/ui.err" &
ui_pid=$!
url=
for ((i = 0; i < 200; i++)); do
	url=$(sed -n 's/^open //p' "$d/ui.out")
	[[ -n $url ]] && break
	sleep 0.05
done
if [[ -z $url ]]; then
	echo "test-ui: sealine-ui printed no URL:" >&2
	cat "$d/ui.err" >&2
	exit 1
fi

# A second sealine-ui in front of a stand-in for sealined's socket
# (fake-sealined.py): an envelope sending to its receipt, one failed.
$PY "$ROOT/tests/ui/fake-sealined.py" "$d/fake.sock" "$d/fake.log" 2>"$d/fake.err" &
fake_pid=$!
for ((i = 0; i < 200; i++)); do [[ -S $d/fake.sock ]] && break; sleep 0.05; done
# and a TSP's store: two accounts (sealctl tsp), four call records and
# four spool rows (tests/ui/tsp-put), for the TSP pages.
(umask 077; "$SEALCTL" genkey >"$d/k1" && "$SEALCTL" genkey >"$d/k2") || exit 1
"$SEALCTL" tsp --db "$d/tsp.db" accounts add 111111111111 --name "Alpha AG" \
	--key "$d/k1" --phone 5551 --caller-id 5551 >/dev/null || exit 1
"$SEALCTL" tsp --db "$d/tsp.db" accounts add 222222222222 --name "Beta GmbH" \
	--key "$d/k2" --phone 5552 >/dev/null || exit 1
"$ROOT/tests/ui/build/tsp-put" "$d/tsp.db" || exit 1
export TSP_DB=$d/tsp.db
"$UI" --port 0 --socket "$d/fake.sock" --upload-dir "$d/up2" \
	--tsp-store "$d/tsp.db" --tsp-socket "$d/fake.sock" >"$d/ui2.out" 2>"$d/ui2.err" &
ui2_pid=$!
export UI_FAKE_URL= FAKE_LOG=$d/fake.log
for ((i = 0; i < 200; i++)); do
	UI_FAKE_URL=$(sed -n 's/^open //p' "$d/ui2.out")
	[[ -n $UI_FAKE_URL ]] && break
	sleep 0.05
done

# The command line's own checks, before the browser's.
pass=0 fail=0
cli() {	# NAME EXPECTED_STATUS PATTERN ARGS...
	local name=$1 want=$2 pat=$3 out rc
	shift 3
	out=$("$UI" "$@" 2>&1)
	rc=$?
	if [[ $rc == "$want" ]] && grep -qE -- "$pat" <<<"$out"; then
		pass=$((pass + 1)); echo "ok: $name"
	else
		fail=$((fail + 1)); echo "FAIL: $name (exit $rc): $out"
	fi
}
cli "sealine-ui --help is its manual" 0 "^SYNOPSIS" --help
cli "a non-loopback address needs --remote" 2 "not a loopback address" --address 192.0.2.1
cli "a wildcard address is refused: Host could not name it" 2 "every address" --address 0.0.0.0 --remote
cli "a bad --max-upload is refused" 2 "--max-upload is a size" --max-upload 2G
cli "a bad --port is refused" 2 "--port is 0 to 65535" --port 70000
cli "a relative --upload-dir is refused" 2 "absolute path" --upload-dir up

"$ROOT/tests/ui/build/test_buf" | tee "$d/test_buf.out"
read -r up uf < <(sed -n 's/^.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$d/test_buf.out")
pass=$((pass + ${up:-0})) fail=$((fail + ${uf:-1}))

timeout 600 $PY "$ROOT/tests/ui/browser.py" "$url" "$d" "$SHOTS" | tee "$d/browser.out"
read -r bp bf < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$d/browser.out")
bp=${bp:-0} bf=${bf:-1}
pass=$((pass + bp)) fail=$((fail + bf))
# SIGTERM: a clean stop, and LeakSanitizer's verdict
for n in "" 2; do
	pid_var=ui${n}_pid
	kill "${!pid_var}"
	wait "${!pid_var}"
	rc=$?
	printf -v "$pid_var" '%s' ""
	if [[ $rc == 0 && ! -s $d/ui$n.err ]]; then
		pass=$((pass + 1)); echo "ok: sealine-ui${n:+ (the second)} stops on SIGTERM with status 0, nothing on stderr (ASan, UBSan, LSan)"
	else
		fail=$((fail + 1)); echo "FAIL: sealine-ui${n:+ (the second)} stops on SIGTERM with status 0, nothing on stderr (exit $rc)"
		cat "$d/ui$n.err"
	fi
done
echo "screenshots in $SHOTS"
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
