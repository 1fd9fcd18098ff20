#!/bin/bash
# The second guest half of "make demo": a call through a trusted service
# provider over the simulated telephone exchange (vm-run --exchange
# tests/vm/exchange.conf). Caller C and recipient B share no line: C's
# modem dials the TSP, which checks both accounts, dials B and bridges
# the call; C and B pair end to end and talk; the TSP bills the call and
# never sees what they say.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/exchange.sh"
. "$SEALINE_ROOT/tests/vm/tsp.sh"

step() { printf '\n### %s\n' "$*"; }

tsp_require

step "A TSP, sealtspd, with two modems (one number, $TSP_NUMBER), caller C ($PHONE_C) and recipient B ($PHONE_B)"
tsp_setup demo-tsp >/dev/null
ctl t status
echo "C pins the TSP's key: tsp_key = $(pubkey t | cut -c1-16)..."
echo "+ sealctl tsp accounts list"
tsp accounts list

step "C calls B: 'sealctl call $ACCT_B' (the line shows neither account)"
ctl c call "$ACCT_B"
sl_wait_for "B connected" 20 connected b
echo "B's sealined: call from $(status_field b call_peer), tracking $(status_field b call_tracking)"
ctl t status | grep call

step "First contact: C's and B's operators pair end to end through the bridge"
tsp_pair >/dev/null
echo "--- C's operator saw:"
cat "$D/c.out"; echo
echo "--- B's operator saw:"
cat "$D/b.out"; echo
sl_wait_for "keyed" 30 both_keyed
VC=$(sl_vtty_of ttyS4)
VB=$(sl_vtty_of ttyS7)
echo "Keyed end to end: C's clear-text side $VC, B's $VB"

step "picocom on both ends of the call"
(sleep 2; printf 'Hello from B, through the TSP!'; sleep 3) |
	timeout 15 picocom -q -b 115200 -x 3000 "$VB" >/tmp/demo-tsp.b 2>&1 &
pb=$!
(sleep 2; printf 'Hello from C, through the TSP!'; sleep 3) |
	timeout 15 picocom -q -b 115200 -x 3000 "$VC" >/tmp/demo-tsp.c 2>&1 || true
wait "$pb" || true
echo "picocom on C printed: $(tr -cd '[:print:]' </tmp/demo-tsp.c)"
echo "picocom on B printed: $(tr -cd '[:print:]' </tmp/demo-tsp.b)"

step "C hangs up; the TSP tells B (authenticated) and closes the call record"
ctl c hangup ttyS4
sl_wait_for "B idle" 30 idle b
sl_wait_for "record closed" 20 sh -c "$SEALCTL tsp --db '$DB' cdr --json | jq -e '.[-1].outcome == \"completed\"' >/dev/null"
echo "+ sealctl tsp cdr --csv"
tsp cdr --csv

step "What the exchange carried on C's leg (its capture of C's line)"
cap=$(ls /out/exchange/${PHONE_C}-*.tx | head -n 1)
od -A d -t x1z -v -N 160 "$cap" | head -n 10
for what in "$ACCT_B" "$PHONE_B" "$ACCT_A" "Hello from"; do
	if grep -aq "$what" /out/exchange/${PHONE_C}-*; then
		echo "!!! '$what' found on C's leg"
		exit 1
	fi
done
echo "Neither account, nor B's phone number, nor the greetings appear on C's leg."

stop c
stop b
stop t
