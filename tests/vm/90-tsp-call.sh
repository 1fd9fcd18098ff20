#!/bin/bash
# 90-tsp-call: calls through a TSP over the simulated telephone exchange
# (scripts/vm-run --exchange tests/vm/exchange.conf): two sealined and a
# sealtspd in one guest, each with its own modem line(s):
#   C, the caller      ttyS4, number 5551001, account $ACCT_A
#   T, the TSP         ttyS5 and ttyS6, one number 5550100 (hunt group),
#                      sealtspd
#   B, the recipient   ttyS7, number 5552002, account $ACCT_B
# The TSP's accounts are enrolled with `sealctl tsp accounts`; C and B pin
# the TSP's static key. Then:
#   - first call: `sealctl call` connects through the TSP, both operators
#     pair with the SAS end to end through the bridge, and a picocom
#     session and an sz/rz transfer cross the keyed virtual ttys; C hangs
#     up, B learns it from the TSP (authenticated) and is idle again;
#   - second call: the stored LTK keys a session with no SAS asked, at
#     another epoch, and socat moves data both ways byte-exact;
#   - refusals, each with its NAK reason at the caller and in the TSP's
#     call records: unknown account, wrong caller ID, unauthorised caller,
#     disabled account; busy (the exchange's control port) and no answer
#     (B's daemon stopped);
#   - the call records match (completed calls have both accounts, answer
#     and end times, bytes each way); a TSP restart keeps every record;
#   - the exchange's capture of the caller's leg holds neither the
#     recipient's account nor its phone number nor any plaintext.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/exchange.sh"
. "$SEALINE_ROOT/tests/vm/tsp.sh"

tsp_require

# call_expect NAME ACCOUNT TEXT: `sealctl call` from NAME fails with TEXT.
call_expect() {
	local out rc=0
	out=$(timeout 90 "$SEALCTL" call "$2" --socket "$(sock "$1")" 2>&1) || rc=$?
	sl_log "sealctl call $2 (status $rc): $out"
	[[ $rc -ne 0 ]] && grep -q -- "$3" <<<"$out"
}
call_field() { status_field "$1" "$2"; }

tsp_setup vm-tsp

# ---------------------------------------------------------------- call 1
sl_assert "C calls B through the TSP" \
	timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
sl_assert "B's side of the call is connected" sl_wait_for "B connected" 20 connected b
sl_assert_eq "B learnt from the TSP who calls" "$ACCT_A" "$(call_field b call_peer)"
sl_assert_eq "C's call is connected" connected "$(call_field c call_state)"
TRACK1=$(call_field c call_tracking)
sl_assert_eq "both ends log the same tracking id" "$TRACK1" "$(call_field b call_tracking)"

# First contact: both operators pair end to end through the bridge.
tsp_pair
sl_assert "the line is keyed on both ends" sl_wait_for "keyed" 30 both_keyed
EPOCH1=$("$SEALCTL" show ttyS4 epoch)
VC=$(sl_vtty_of ttyS4)
VB=$(sl_vtty_of ttyS7)
sl_log "call 1 keyed at epoch $EPOCH1: C on $VC, B on $VB"

# picocom both ways through the call
sl_picocom_both "$VC" "$D/pico.c" typed-on-C-SEALINE-TEXT \
	"$VB" "$D/pico.b" typed-on-B-SEALINE-TEXT
sl_assert "picocom on B got what was typed on C" grep -q typed-on-C-SEALINE-TEXT "$D/pico.b"
sl_assert "picocom on C got what was typed on B" grep -q typed-on-B-SEALINE-TEXT "$D/pico.c"

# sz/rz through the call
mkdir -p "$D/rx"
{ head -c 65536 /dev/urandom
  printf 'SEALINE-ZMODEM-MARKER-%s\n' {1..300}
  head -c 65536 /dev/urandom; } >"$D/zfile"
(cd "$D/rx" && timeout 120 rz -y -q <"$VB" >"$VB") & rzpid=$!
BG+=("$rzpid")
sleep 0.5
sl_assert "sz sends a file from C" sh -c "timeout 120 sz -q '$D/zfile' <'$VC' >'$VC'"
sl_assert "rz on B receives it" wait "$rzpid"
sl_assert "the file arrived byte-exact" cmp "$D/zfile" "$D/rx/zfile"

sl_assert "C hangs up" "$SEALCTL" hangup ttyS4 --socket "$(sock c)"
sl_assert "B learns the call ended and is idle again" sl_wait_for "B idle" 30 idle b
sl_assert "C is idle again" sl_wait_for "C idle" 30 idle c
sl_assert "the TSP closes the record as completed" \
	sl_wait_for "record closed" 20 sh -c "$SEALCTL tsp --db '$DB' cdr --json | jq -e '.[-1].outcome == \"completed\"' >/dev/null"
sl_assert_eq "the record names the caller" "$ACCT_A" "$(last_cdr caller_account)"
sl_assert_eq "the record names the recipient" "$ACCT_B" "$(last_cdr recipient_account)"
sl_assert "the record counts bytes both ways" \
	test "$(last_cdr bytes_caller_to_recipient)" -gt 65536 -a "$(last_cdr bytes_recipient_to_caller)" -gt 0

# ---------------------------------------------------------------- call 2
t_dial=$(date +%s.%N)
sl_assert "C calls B again" timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
t_up=$(date +%s.%N)
sl_assert "the stored LTK keys the call, no SAS asked" \
	sl_wait_for "keyed again" 30 both_keyed
EPOCH2=$("$SEALCTL" show ttyS4 epoch)
sl_assert "the second call has fresh keys (epoch $EPOCH2 after $EPOCH1)" test "$EPOCH2" -gt "$EPOCH1"
VC=$(sl_vtty_of ttyS4)
VB=$(sl_vtty_of ttyS7)
stty -F "$VC" raw -echo
stty -F "$VB" raw -echo
sl_random_file "$D/d.cb" 65536
sl_random_file "$D/d.bc" 65536
sl_assert "64 KiB C -> B byte-exact" sl_transfer "$VC" "$VB" "$D/d.cb" 60
sl_assert "64 KiB B -> C byte-exact" sl_transfer "$VB" "$VC" "$D/d.bc" 60
sl_assert "B hangs up this time" "$SEALCTL" hangup ttyS7 --socket "$(sock b)"
t_down=$(date +%s.%N)
sl_assert "B is idle (its modem on hook)" sl_wait_for "B idle" 30 idle b
t_idle=$(date +%s.%N)
sl_assert "C learns it and is idle" sl_wait_for "C idle" 30 idle c
sl_assert "the TSP closes the second record as completed" \
	sl_wait_for "record 2 closed" 20 sh -c "$SEALCTL tsp --db '$DB' cdr --json | jq -e '.[-1].outcome == \"completed\"' >/dev/null"
# The record's duration runs from the recipient's answer (just before
# `sealctl call` returned) to the TSP seeing B's carrier go (after B's
# hangup command, by the time B's modem is on hook): within a second of
# what the operators saw.
dur=$(last_cdr duration_s)
sl_log "call 2: dialled at $t_dial, up at $t_up, hangup at $t_down, on hook at $t_idle; record duration $dur s"
sl_assert "the record's duration matches the call (within a second)" python3 -c "
import sys
d, up, down, idle = map(float, sys.argv[1:])
sys.exit(0 if down - up - 1 <= d <= idle - up + 1 else 1)" "$dur" "$t_up" "$t_down" "$t_idle"

# ---------------------------------------------------------------- refusals
sl_assert "unknown recipient: NAK UNKNOWN_ACCOUNT" \
	call_expect c 999999999999 "the TSP refused the call: the recipient's account is not known to the TSP (UNKNOWN_ACCOUNT)"
sl_assert_eq "its record" UNKNOWN_ACCOUNT "$(last_cdr nak_reason)"
sl_assert "C idle after the refusal" sl_wait_for "C idle" 30 idle c

sl_assert "C's caller ID moves to another number" sh -c \
	"$SEALCTL tsp --db '$DB' accounts unbind $ACCT_A $PHONE_C && $SEALCTL tsp --db '$DB' accounts bind $ACCT_A 5559999"
sl_assert "wrong caller ID: NAK CALLER_ID_MISMATCH" \
	call_expect c "$ACCT_B" "the TSP refused the call: this line's caller ID is not bound to your account (CALLER_ID_MISMATCH)"
sl_assert_eq "its record" CALLER_ID_MISMATCH "$(last_cdr nak_reason)"
sl_assert "C idle" sl_wait_for "C idle" 30 idle c
tsp accounts bind "$ACCT_A" "$PHONE_C"

tsp accounts deauthorise "$ACCT_B" "$ACCT_A"
sl_assert "unauthorised caller: NAK NOT_AUTHORISED" \
	call_expect c "$ACCT_B" "the TSP refused the call: the recipient does not take calls from your account (NOT_AUTHORISED)"
sl_assert_eq "its record" NOT_AUTHORISED "$(last_cdr nak_reason)"
sl_assert "C idle" sl_wait_for "C idle" 30 idle c
tsp accounts authorise "$ACCT_B" "$ACCT_A"

tsp accounts disable "$ACCT_A"
sl_assert "disabled account: NAK ACCOUNT_DISABLED" \
	call_expect c "$ACCT_B" "the TSP refused the call: your account is disabled (ACCOUNT_DISABLED)"
sl_assert_eq "its record" ACCOUNT_DISABLED "$(last_cdr nak_reason)"
sl_assert "C idle" sl_wait_for "C idle" 30 idle c
tsp accounts enable "$ACCT_A"

sl_assert "the exchange makes B's number busy" sl_exchange busy "$PHONE_B" on
sl_assert "busy recipient: NAK BUSY" call_expect c "$ACCT_B" "the call did not go through: the recipient's line is busy (BUSY)"
sl_assert_eq "its record says busy" busy "$(last_cdr outcome)"
sl_assert "C idle" sl_wait_for "C idle" 30 idle c
sl_exchange busy "$PHONE_B" off >/dev/null

stop b || true
sl_assert "nobody answers at B: NO_ANSWER" call_expect c "$ACCT_B" NO_ANSWER
sl_assert_eq "its record says no answer" no-answer "$(last_cdr outcome)"

# ---------------------------------------------------------------- records
N_BEFORE=$(tsp cdr --csv | wc -l)
sl_assert "the TSP stops cleanly" stop t
start_tsp
sl_assert "the TSP is back" sl_wait_for "TSP again" 30 sh -c "grep -c 'TSP vm-tsp starting' '$D/t.log' | grep -q 2"
sl_assert_eq "a TSP restart keeps every record" "$N_BEFORE" "$(tsp cdr --csv | wc -l)"
sl_log "call records:"
tsp cdr --csv

# ---------------------------------------------------------------- capture
CAP=/out/exchange
sl_assert "the exchange captured the caller's leg" test -s "$CAP/5551001-0.tx"
for f in "$CAP"/5551001-*; do
	sl_assert "no recipient account on the caller's leg ($(basename "$f"))" \
		sh -c "! grep -a -q '$ACCT_B' '$f'"
	sl_assert "no recipient phone number on the caller's leg ($(basename "$f"))" \
		sh -c "! grep -a -q '$PHONE_B' '$f'"
	sl_assert "no caller account on the caller's leg ($(basename "$f"))" \
		sh -c "! grep -a -q '$ACCT_A' '$f'"
	sl_assert "no plaintext on the caller's leg ($(basename "$f"))" \
		sh -c "! grep -a -q 'SEALINE-TEXT\|SEALINE-ZMODEM-MARKER' '$f'"
done
