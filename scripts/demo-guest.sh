#!/bin/bash
# The guest half of "make demo" (run by scripts/demo through vm-run): two
# UARTs joined by a wire, sealine on both, keys installed with sealctl,
# text and a file through the virtual ttys.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

say() { printf '\n### %s\n' "$*"; }

say "Load sealine.ko and attach it to both ends of the null-modem cable"
sl_pair_up
echo "ldattach 29 $SL_TTY_A  ->  clear-text side $SL_VTTY_A"
echo "ldattach 29 $SL_TTY_B  ->  clear-text side $SL_VTTY_B"
"$SEALCTL" show "$SL_TTY_A" | head -4

say "No key yet: the line is fail-closed, a write does not get through"
if ! timeout 2 dd if=/dev/zero of="$SL_VTTY_A" bs=1 count=1 oflag=nonblock 2>/dev/null; then
	echo "write to $SL_VTTY_A: Resource temporarily unavailable (state: $(sl_stat "$SL_TTY_A" state))"
fi

say "Install a key pair with sealctl (keys come from 0600 files, never argv)"
umask 077
mkdir -p "$SL_KEYDIR"
"$SEALCTL" genkey >"$SL_KEYDIR/ab"
"$SEALCTL" genkey >"$SL_KEYDIR/ba"
echo "+ sealctl set-key $SL_TTY_A --epoch 1 --tx ab --rx ba"
"$SEALCTL" set-key "$SL_TTY_A" --epoch 1 --tx "$SL_KEYDIR/ab" --rx "$SL_KEYDIR/ba"
echo "+ sealctl set-key $SL_TTY_B --epoch 1 --tx ba --rx ab"
"$SEALCTL" set-key "$SL_TTY_B" --epoch 1 --tx "$SL_KEYDIR/ba" --rx "$SL_KEYDIR/ab"
echo "+ sealctl activate $SL_TTY_A --epoch 1"
"$SEALCTL" activate "$SL_TTY_A" --epoch 1
sl_wait_for "B keyed" 10 sl_field_is "$SL_TTY_B" state keyed
echo "A: $(sl_stat "$SL_TTY_A" state), B: $(sl_stat "$SL_TTY_B" state)"

say "picocom on both virtual ttys: what is typed on one side shows on the other"
(sleep 2; printf 'Hello from B, over a sealed line!'; sleep 3) |
	timeout 15 picocom -q -b 115200 -x 3000 "$SL_VTTY_B" >/tmp/demo.b 2>&1 &
pb=$!
(sleep 2; printf 'Hello from A, over a sealed line!'; sleep 3) |
	timeout 15 picocom -q -b 115200 -x 3000 "$SL_VTTY_A" >/tmp/demo.a 2>&1 || true
wait "$pb" || true
echo "picocom on $SL_VTTY_A printed: $(tr -cd '[:print:]' </tmp/demo.a)"
echo "picocom on $SL_VTTY_B printed: $(tr -cd '[:print:]' </tmp/demo.b)"

say "socat moves 256 KiB through the virtual ttys"
sl_random_file /tmp/demo.bin 262144
if sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/demo.bin 60; then
	echo "256 KiB arrived byte-exact: $(sha256sum </tmp/demo.bin | cut -c1-16)..."
fi

say "Line statistics"
"$SEALCTL" show "$SL_TTY_B"
sl_pair_down
