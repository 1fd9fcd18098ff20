#!/bin/bash
# A login service on the virtual tty: agetty on B's /dev/ttySL<n> gives a
# shell to whoever is at the other end of the sealed line; commands typed
# on A run on B and their output comes back.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

sl_pair_up
sl_assert "keys" sl_pair_key 1

# -n -l /bin/sh: no login prompt, run a shell (the guest has no passwords).
setsid agetty -L -n -l /bin/sh "${SL_VTTY_B#/dev/}" 115200 vt100 & getty=$!
sleep 2

exec {a}<>"$SL_VTTY_A"
stty -F "$SL_VTTY_A" raw -echo
printf 'echo SEALINE-ANSWER-$((6 * 7)); tty\r' >&"$a"
got=
end=$((SECONDS + 20))
while [[ $SECONDS -lt $end ]]; do
	chunk=
	IFS= read -r -t 1 -u "$a" chunk || true
	got+=$chunk
	[[ $got == *SEALINE-ANSWER-42* && $got == *ttySL* ]] && break
done
printf 'exit\r' >&"$a"
exec {a}>&-
sl_log "A saw: $(printf '%s' "$got" | tr -cd '[:print:]')"
sl_assert "command typed on A ran in B's shell" test "${got/SEALINE-ANSWER-42/}" != "$got"
sl_assert "the shell's controlling tty is the virtual tty" grep -q "ttySL" <<<"$got"
kill "$getty" 2>/dev/null || true
wait "$getty" 2>/dev/null || true
sl_assert "wire carries no shell output" sh -c "! grep -qa SEALINE-ANSWER $SL_OUT/b2a.raw"
sl_pair_down
sl_check_dmesg
