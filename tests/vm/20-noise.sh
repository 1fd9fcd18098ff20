#!/bin/bash
# Integrity on a hostile line: a wrong key delivers nothing; bit flips,
# dropped and inserted bytes only ever cost whole frames (what arrives is
# the sent data with chunks missing, never altered); traffic recovers as
# soon as the noise stops; replayed frames are rejected and counted.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
SUBSEQ=$SEALINE_ROOT/tests/vm/subseq

# noisy_transfer DESC WIRE-FAULT: send 128 KiB A->B through the fault and
# check that B got the data minus whole chunks and that the loss was seen.
noisy_transfer() {
	local desc=$1 before_auth before_resync before_bad got=/tmp/noisy.got reader
	shift
	before_auth=$(sl_stat "$SL_TTY_B" auth_failures)
	before_resync=$(sl_stat "$SL_TTY_B" resyncs)
	before_bad=$(sl_stat "$SL_TTY_B" malformed)
	sl_wire "$@" >/dev/null || sl_die "sl_wire $*"
	sl_random_file /tmp/noisy 131072
	timeout 40 head -c 131072 <"$SL_VTTY_B" >"$got" & reader=$!
	sleep 0.2
	socat -u FILE:/tmp/noisy "$SL_VTTY_A,raw,echo=0"
	sl_wire drain >/dev/null
	sleep 2
	kill "$reader" 2>/dev/null || true
	wait "$reader" 2>/dev/null || true
	sl_wire clean >/dev/null
	sl_log "$desc: received $(stat -c %s "$got") of 131072 bytes"
	sl_assert "$desc: nothing altered is delivered ($("$SUBSEQ" /tmp/noisy "$got"))" \
		"$SUBSEQ" /tmp/noisy "$got"
	sl_assert "$desc: some frames were lost" \
		test "$(stat -c %s "$got")" -lt 131072
	sl_assert "$desc: damage was detected and counted" test \
		$(($(sl_stat "$SL_TTY_B" auth_failures) - before_auth + \
		   $(sl_stat "$SL_TTY_B" resyncs) - before_resync + \
		   $(sl_stat "$SL_TTY_B" malformed) - before_bad)) -gt 0
	sl_assert "$desc: clean traffic resumes at once" \
		sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/clean 60
}

sl_pair_up
sl_random_file /tmp/clean 65536

# --- wrong key on one side ------------------------------------------------
umask 077
"$SEALCTL" genkey >/tmp/k1
"$SEALCTL" genkey >/tmp/k2
"$SEALCTL" genkey >/tmp/k3
"$SEALCTL" set-key "$SL_TTY_A" --epoch 1 --tx /tmp/k1 --rx /tmp/k2 --activate
"$SEALCTL" set-key "$SL_TTY_B" --epoch 1 --tx /tmp/k2 --rx /tmp/k3 --activate
printf 'SEALINE-SECRET-%s\n' {1..100} >/tmp/secret
timeout 5 head -c 1 <"$SL_VTTY_B" >/tmp/wrong.got & reader=$!
sleep 0.2
socat -u FILE:/tmp/secret "$SL_VTTY_A,raw,echo=0"
sl_wire drain >/dev/null
wait "$reader" || true
sl_assert_eq "wrong key: nothing delivered" 0 "$(stat -c %s /tmp/wrong.got)"
sl_assert "wrong key: auth failures counted" test "$(sl_stat "$SL_TTY_B" auth_failures)" -gt 0
sl_assert_eq "wrong key: no frame accepted" 0 "$(sl_stat "$SL_TTY_B" rx_frames)"

# --- right keys -------------------------------------------------------------
sl_assert "matching keys at epoch 2" sl_pair_key 2
sl_assert "clean transfer" sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/clean 60

noisy_transfer "bit flips" flip a2b 3000
noisy_transfer "dropped bytes" drop a2b 4000
noisy_transfer "inserted bytes" insert a2b 4000

# --- replay -----------------------------------------------------------------
before=$(sl_stat "$SL_TTY_B" replays)
sl_wire replay-all a2b on >/dev/null
sl_assert "replay-all: byte-exact, duplicates discarded" \
	sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/clean 60
sl_wire clean >/dev/null
sl_assert "replayed frames counted" test "$(sl_stat "$SL_TTY_B" replays)" -gt "$before"
before=$(sl_stat "$SL_TTY_B" replays)
sl_wire replay a2b 5 >/dev/null
sl_assert "replay of an old frame: byte-exact" \
	sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" /tmp/clean 60
sl_assert_eq "old frame replay counted once" $((before + 1)) "$(sl_stat "$SL_TTY_B" replays)"

sl_log "B: $("$SEALCTL" show "$SL_TTY_B" --json)"
sl_assert "no plaintext on the wire" sh -c "! grep -q SEALINE-SECRET $SL_OUT/a2b.raw"
sl_pair_down
sl_check_dmesg
