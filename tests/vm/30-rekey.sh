#!/bin/bash
# Rekey without loss: keys change several times, from either end and
# between the two ciphers, while 512 KiB streams each way; both arrive
# byte-exact and the replaced keys stop being accepted.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

# stage EPOCH CIPHER: stage a fresh key pair on both ends.
stage() {
	"$SEALCTL" genkey >"$SL_KEYDIR/ab.$1"
	"$SEALCTL" genkey >"$SL_KEYDIR/ba.$1"
	"$SEALCTL" set-key "$SL_TTY_A" --epoch "$1" --cipher "$2" \
		--tx "$SL_KEYDIR/ab.$1" --rx "$SL_KEYDIR/ba.$1" &&
	"$SEALCTL" set-key "$SL_TTY_B" --epoch "$1" --cipher "$2" \
		--tx "$SL_KEYDIR/ba.$1" --rx "$SL_KEYDIR/ab.$1"
}

sl_pair_up
umask 077
mkdir -p "$SL_KEYDIR"
sl_assert "initial key" sl_pair_key 1

sl_random_file /tmp/ab 524288
sl_random_file /tmp/ba 524288
timeout 240 head -c 524288 <"$SL_VTTY_B" >/tmp/ab.got & rb=$!
timeout 240 head -c 524288 <"$SL_VTTY_A" >/tmp/ba.got & ra=$!
sleep 0.2
socat -u FILE:/tmp/ab "$SL_VTTY_A,raw,echo=0" & wa=$!
socat -u FILE:/tmp/ba "$SL_VTTY_B,raw,echo=0" & wb=$!

epoch=1
for step in 1 2 3 4 5 6; do
	sleep 2
	epoch=$((epoch + 1))
	if ((step % 2)); then cipher=aes256gcm; else cipher=chacha20poly1305; fi
	if ((step % 3)); then from=$SL_TTY_A to=$SL_TTY_B; else from=$SL_TTY_B to=$SL_TTY_A; fi
	sl_assert "stage epoch $epoch ($cipher) on both ends" stage "$epoch" "$cipher"
	sl_assert "activate epoch $epoch from $from" "$SEALCTL" activate "$from" --epoch "$epoch"
	# The peer follows when the keepalive reaches it, behind whatever
	# is still in flight; only then may the next key be staged, or the
	# one it waits for would be replaced.
	sl_assert "$to follows to epoch $epoch" sl_wait_for "$to at $epoch" 120 \
		sl_field_is "$to" epoch "$epoch"
done

wait "$wa" "$wb"
sl_assert "512 KiB A->B arrived" wait "$rb"
sl_assert "512 KiB B->A arrived" wait "$ra"
sl_assert "A->B byte-exact across 6 rekeys" cmp /tmp/ab /tmp/ab.got
sl_assert "B->A byte-exact across 6 rekeys" cmp /tmp/ba /tmp/ba.got
sl_assert_eq "A counted 6 rekeys after the first key" 7 "$(sl_stat "$SL_TTY_A" rekeys)"
sl_assert_eq "B counted 6 rekeys after the first key" 7 "$(sl_stat "$SL_TTY_B" rekeys)"
sl_assert_eq "no auth failures on A" 0 "$(sl_stat "$SL_TTY_A" auth_failures)"
sl_assert_eq "no auth failures on B" 0 "$(sl_stat "$SL_TTY_B" auth_failures)"
sl_assert_eq "nothing dropped for want of a key on B" 0 "$(sl_stat "$SL_TTY_B" nokey_drops)"
sl_assert_eq "ends on the last cipher staged" chacha20poly1305 "$(sl_stat "$SL_TTY_A" cipher)"

# A key two epochs old is gone: re-staging a clashing epoch is refused
# only for keys still in use.
sl_assert_fails "epoch clashing with the current key is refused" \
	"$SEALCTL" set-key "$SL_TTY_A" --epoch $((epoch + 16)) \
		--tx "$SL_KEYDIR/ab.$epoch" --rx "$SL_KEYDIR/ba.$epoch"

sl_log "A: $("$SEALCTL" show "$SL_TTY_A" --json)"
sl_log "B: $("$SEALCTL" show "$SL_TTY_B" --json)"
sl_pair_down
sl_check_dmesg
