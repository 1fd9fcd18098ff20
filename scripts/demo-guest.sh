#!/bin/bash
# The guest half of "make demo" (run by scripts/demo through vm-run): two
# UARTs joined by a wire, sealine on both, two sealined daemons that pair
# with a spoken code (SAS) and key the line themselves, then text and a
# file through the virtual ttys.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

step() { printf '\n### %s\n' "$*"; }

step "Load sealine.ko and attach it to both ends of the null-modem cable"
sl_pair_up
echo "ldattach 29 $SL_TTY_A  ->  clear-text side $SL_VTTY_A"
echo "ldattach 29 $SL_TTY_B  ->  clear-text side $SL_VTTY_B"
"$SEALCTL" show "$SL_TTY_A" | head -4

step "No key yet: the line is fail-closed, a write does not get through"
if ! timeout 2 dd if=/dev/zero of="$SL_VTTY_A" bs=1 count=1 oflag=nonblock 2>/dev/null; then
	echo "write to $SL_VTTY_A: Resource temporarily unavailable (state: $(sl_stat "$SL_TTY_A" state))"
fi

step "Two sealined daemons, one per end, in the default configuration (role auto), no keys anywhere"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
rm -rf "$D" "$(state a)" "$(state b)"
mkdir -p "$D"
write_conf a "$ACCT_A" ttyS1 ""
write_conf b "$ACCT_B" ttyS2 ""
start a
start b
sl_wait_for "A registered" 20 line_registered a
sl_wait_for "B registered" 20 line_registered b
echo "A: account $ACCT_A on $SL_TTY_A; B: account $ACCT_B on $SL_TTY_B"
echo "+ sealctl peers (A): $(ctl a peers)"

step "Pairing: B's operator runs 'sealctl pair', A's a few seconds later; one screen shows a code, the other operator types what is read out over the phone"
# daemon.sh's pair_either: the operators' typing, through their stdin.
pair_either b ttyS2 a ttyS1 3 >/dev/null || true
echo "--- A's operator ran 'sealctl pair $SL_TTY_A' and saw:"
cat "$D/a.out"; echo
echo "--- B's operator ran 'sealctl pair $SL_TTY_B' and saw:"
cat "$D/b.out"; echo
sl_wait_for "session keys" 30 both_keyed_same_epoch
echo "The daemons keyed the line themselves: A $(sl_stat "$SL_TTY_A" state) at epoch $(sl_stat "$SL_TTY_A" epoch), B $(sl_stat "$SL_TTY_B" state) at epoch $(sl_stat "$SL_TTY_B" epoch)"
echo "+ sealctl peers (A):"
ctl a peers

step "picocom on both virtual ttys: what is typed on one side shows on the other"
(sleep 2; printf 'Hello from B, over a sealed line!'; sleep 3) |
	timeout 15 picocom -q -b 115200 -x 3000 "$SL_VTTY_B" >/tmp/demo.b 2>&1 &
pb=$!
(sleep 2; printf 'Hello from A, over a sealed line!'; sleep 3) |
	timeout 15 picocom -q -b 115200 -x 3000 "$SL_VTTY_A" >/tmp/demo.a 2>&1 || true
wait "$pb" || true
echo "picocom on $SL_VTTY_A printed: $(tr -cd '[:print:]' </tmp/demo.a)"
echo "picocom on $SL_VTTY_B printed: $(tr -cd '[:print:]' </tmp/demo.b)"

step "socat moves 256 KiB through the virtual ttys"
sl_random_file /tmp/demo.bin 262144
if sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/demo.bin 60; then
	echo "256 KiB arrived byte-exact: $(sha256sum </tmp/demo.bin | cut -c1-16)..."
fi

step "Line statistics"
"$SEALCTL" show "$SL_TTY_B"

step "The session log (sealctl log) on A"
ctl a log

stop a
stop b
sl_pair_down
