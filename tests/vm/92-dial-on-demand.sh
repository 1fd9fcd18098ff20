#!/bin/bash
# 92-dial-on-demand: an application's write starts a call through the TSP
# (scripts/vm-run --exchange tests/vm/exchange.conf; the lines of tsp.sh):
#   - C and B pair once the usual way (`sealctl call`, both operators,
#     hangup); then both restart with dial_on_demand (C: B's account,
#     idle_hangup 20 s; B: C's account, never idle), each publishing a
#     demand link (a pty, 0600) that exists with no call up;
#   - an application writes to C's link while no call is up: C dials, the
#     stored LTK keys the call by itself, and the bytes written before the
#     call arrive at B's application (on B's link, the relay of B's vtty
#     for an incoming call) byte-exact; then data both ways;
#   - after 20 s with no application data C hangs up by itself, B learns
#     it from the TSP, and the TSP's record is completed;
#   - with B's daemon gone, a write makes a call that fails (no answer):
#     the buffered bytes are dropped and logged, and during the back-off a
#     further write does not dial again;
#   - the links go when the daemons stop.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/exchange.sh"
. "$SEALINE_ROOT/tests/vm/tsp.sh"

tsp_require
tsp_setup vm-dod

# ---------------------------------------------------------------- pairing
sl_assert "C calls B through the TSP" \
	timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
sl_assert "B's side of the call is connected" sl_wait_for "B connected" 20 connected b
tsp_pair
sl_assert "the pairing call is keyed on both ends" sl_wait_for "keyed" 30 both_keyed
sl_assert "C hangs up" "$SEALCTL" hangup ttyS4 --socket "$(sock c)"
sl_assert "B is idle again" sl_wait_for "B idle" 30 idle b
sl_assert "C is idle again" sl_wait_for "C idle" 30 idle c

# ---------------------------------------------------------------- demand
sl_assert "C stops" stop c
sl_assert "B stops" stop b
LINK_C=$D/c.line
LINK_B=$D/b.line
endpoint_conf c "$ACCT_A" ttyS4 "dial_on_demand = $ACCT_B" \
	"demand_link = $LINK_C" "idle_hangup = 20s"
endpoint_conf b "$ACCT_B" ttyS7 "pairing = yes" "dial_on_demand = $ACCT_A" \
	"demand_link = $LINK_B" "idle_hangup = 0"
start c
start b
sl_assert "C's modem is idle" sl_wait_for "C idle" 30 idle c
sl_assert "B's modem is idle" sl_wait_for "B idle" 30 idle b
sl_assert "C's demand link is a symlink to a pty" \
	sh -c "test -L '$LINK_C' && readlink '$LINK_C' | grep -q '^/dev/pts/'"
sl_assert "B's demand link is one too" test -L "$LINK_B"
sl_assert_eq "C's pty is root's, 0600" "600 0" "$(stat -L -c '%a %u' "$LINK_C")"
sl_assert_eq "status shows dial_on_demand" "$ACCT_B" "$(status_field c dial_on_demand)"
sl_assert_eq "status shows the link" "$LINK_C" "$(status_field c demand_link)"
sl_assert_eq "status shows idle_hangup" 20 "$(status_field c idle_hangup)"
sl_assert "no call is up" idle c

# An application on B waits for data on B's link (the vtty exists only
# during a call; the link is always there).
sl_random_file "$D/early" 12000
sl_read_bytes "$LINK_B" 12000 120 "$D/early.got" & rb=$!
BG+=("$rb")
sleep 0.5
N_CDR=$(tsp cdr --csv | wc -l)
sl_assert "an application writes 12000 bytes to C's link with no call up" \
	timeout 10 socat -u "FILE:$D/early" "$LINK_C,raw,echo=0"
sl_assert "C dials B on demand" \
	sl_wait_for "C dials" 10 grep -q "dial-on-demand: an application wrote .* calling $ACCT_B" "$D/c.log"
sl_assert "the call connects" sl_wait_for "C connected" 60 connected c
sl_assert "the stored LTK keys it, no operator" sl_wait_for "keyed" 30 both_keyed
sl_assert "the bytes written before the call reach B byte-exact" wait "$rb"
sl_assert "early data unchanged" cmp "$D/early" "$D/early.got"
sl_assert "C's status shows the relay's idle time" test -n "$(status_field c idle_s)"

sl_random_file "$D/cb" 32768
sl_random_file "$D/bc" 32768
sl_assert "32 KiB C -> B through the links byte-exact" sl_transfer "$LINK_C" "$LINK_B" "$D/cb" 60
sl_assert "32 KiB B -> C through the links byte-exact" sl_transfer "$LINK_B" "$LINK_C" "$D/bc" 60
t_last=$(date +%s)
sl_assert "the call is still up" connected c

# ---------------------------------------------------------------- idle
sl_assert "after 20 s without data C hangs up by itself" \
	sl_wait_for "idle hangup" 60 grep -q "no application data for 20 s: hanging up" "$D/c.log"
t_hup=$(date +%s)
sl_log "last data at $t_last, idle hangup at $t_hup"
sl_assert "not before 20 s of silence" test $((t_hup - t_last)) -ge 19
sl_assert "C is idle" sl_wait_for "C idle" 30 idle c
sl_assert "B learns it from the TSP and is idle" sl_wait_for "B idle" 30 idle b
sl_assert "the TSP closes the demand call's record as completed" \
	sl_wait_for "record closed" 20 sh -c "$SEALCTL tsp --db '$DB' cdr --json | jq -e '.[-1].outcome == \"completed\"' >/dev/null"
sl_assert_eq "one new record" $((N_CDR + 1)) "$(tsp cdr --csv | wc -l)"
sl_assert_eq "the record names the caller" "$ACCT_A" "$(last_cdr caller_account)"
sl_assert "the record counts the bytes" test "$(last_cdr bytes_caller_to_recipient)" -gt 44768

# ---------------------------------------------------------------- failure
stop b || true
N_DIAL=$(grep -c "dial-on-demand: an application wrote" "$D/c.log")
sl_assert "a write with B gone" timeout 10 sh -c "printf 'lost-1' >'$LINK_C'"
sl_assert "C dials again" sl_wait_for "C dials" 10 \
	sh -c "test \$(grep -c 'dial-on-demand: an application wrote' '$D/c.log') -gt $N_DIAL"
sl_assert "the demand call fails; its bytes are dropped and logged" \
	sl_wait_for "demand call fails" 90 grep -q "dial-on-demand call to $ACCT_B failed (.*): 6 buffered bytes dropped" "$D/c.log"
sl_assert "C is idle" sl_wait_for "C idle" 30 idle c
sl_assert "C's status shows the back-off" test -n "$(status_field c demand_backoff_s)"
sl_assert "a write during the back-off" timeout 10 sh -c "printf 'lost-2' >'$LINK_C'"
sl_assert "is dropped and logged" \
	sl_wait_for "backs off" 10 grep -q "dial-on-demand backs off after a failed call" "$D/c.log"
sleep 3
sl_assert_eq "and does not dial" $((N_DIAL + 1)) "$(grep -c 'dial-on-demand: an application wrote' "$D/c.log")"
sl_assert "C stays idle" idle c

# ---------------------------------------------------------------- exit
sl_assert "C stops cleanly" stop c
sl_assert "C's link is gone" test ! -e "$LINK_C" -a ! -L "$LINK_C"
