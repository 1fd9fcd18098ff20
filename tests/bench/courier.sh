#!/bin/bash
# tests/bench/courier.sh - the courier against ZMODEM, a guest half of
# "make bench" (scripts/bench), in the same boot as bench.sh.
#
# One file of random bytes and one of text (the repository's own sources
# and documentation: text as people send it, not a generated pattern),
# COURIER_BYTES each (1 MiB), A -> B with the wire paced at BAUD (115200,
# 10 bits a byte) by sealine-wire, three ways:
#   courier   sealctl send --wait between two sealined (paired first, both
#             in their default configuration): from the command to its
#             exit, the receipt verified; the files checked byte-exact in
#             B's inbox
#   zsealed   sz on ttySL0, rz on ttySL1: ZMODEM over the same sealed line
#             (the daemons keep the session keyed)
#   zraw      sz on ttyS1, rz on ttyS2: ZMODEM over the bare line, no line
#             discipline (the baseline)
# Each line of $SL_OUT/courier.results: "courier.KIND.FILE secs=S
# wire_a2b=N wire_b2a=N" (bytes sealine-wire delivered each way during
# the transfer). Speed never fails the test; a transfer that is not
# byte-exact does.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

RES=$SL_OUT/courier.results
BAUD=115200
COURIER_BYTES=1048576
COURIER_TIMEOUT=900	# seconds for one transfer
if [[ -r $SL_OUT/bench.conf ]]; then
	# shellcheck source=/dev/null
	. "$SL_OUT/bench.conf"
fi
: >"$RES"

result() {
	echo "$*" >>"$RES"
	sl_log "result: $*"
}

wire_out() { # DIR: bytes sealine-wire delivered that way so far
	sl_wire_stat "$1" out || echo 0
}

# timed NAME CMD...: runs CMD, records its time and the wire's bytes.
timed() {
	local name=$1 t0 t1 a0 b0 rc=0
	shift
	a0=$(wire_out a2b)
	b0=$(wire_out b2a)
	t0=${EPOCHREALTIME/./}
	"$@" || rc=$?
	t1=${EPOCHREALTIME/./}
	result "courier.$name secs=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.3f", d / 1e6 }') wire_a2b=$(($(wire_out a2b) - a0)) wire_b2a=$(($(wire_out b2a) - b0)) status=$rc"
	return "$rc"
}

# zmodem SRC_TTY DST_TTY FILE: sz on SRC, rz into $D/rz on DST.
zmodem() {
	local src=$1 dst=$2 file=$3 rzpid rc=0
	rm -rf "$D/rz"
	mkdir -p "$D/rz"
	(cd "$D/rz" && timeout "$COURIER_TIMEOUT" rz -y -q <"$dst" >"$dst") &
	rzpid=$!
	sleep 0.5
	timeout "$COURIER_TIMEOUT" sz -q "$file" <"$src" >"$src" || rc=$?
	wait "$rzpid" || rc=$?
	((rc == 0)) && cmp -s "$file" "$D/rz/${file##*/}"
}

# courier_send FILE: sealctl send --wait from A to B; byte-exact in B's
# inbox.
courier_send() {
	local out id
	out=$(ctl a send --to "$ACCT_B" --wait "$1" 2>&1) || { sl_log "$out"; return 1; }
	id=$(grep -Eo '^[0-9a-f]{32}' <<<"$out" | head -n 1)
	cmp -s "$1" "$(state b)/inbox/$id/${1##*/}"
}

# ---------------------------------------------------------------- files
fresh_pair_conf
head -c "$COURIER_BYTES" /dev/urandom >"$D/random.bin"
find "$SEALINE_ROOT/agent" "$SEALINE_ROOT/kmod" "$SEALINE_ROOT/Documentation" \
	-name '*.[ch]' -o -name '*.rst' | sort | xargs cat |
	head -c "$COURIER_BYTES" >"$D/text.txt" || true
sl_assert "a text file of $COURIER_BYTES bytes" \
	test "$(stat -c %s "$D/text.txt")" -eq "$COURIER_BYTES"
result "courier.meta baud=$BAUD bytes=$COURIER_BYTES text_zstd3=$(zstd -3 -c "$D/text.txt" | wc -c)"

# ---------------------------------------------------------------- sealed
sl_pair_up
start_both
sl_assert "A and B pair" pair_ab
sl_assert "the wire is paced at $BAUD baud" sl_wire pace both "$BAUD"
stty -F "$SL_VTTY_A" raw -echo
stty -F "$SL_VTTY_B" raw -echo
for f in random.bin text.txt; do
	sl_assert "courier: $f byte-exact" timed "courier.${f%%.*}" courier_send "$D/$f"
done
for f in random.bin text.txt; do
	sl_assert "sz/rz over the sealed line: $f byte-exact" \
		timed "zsealed.${f%%.*}" zmodem "$SL_VTTY_A" "$SL_VTTY_B" "$D/$f"
done
stop_both

# ---------------------------------------------------------------- raw
sl_setup_lines "$BAUD"
sl_drain_wire || true
for f in random.bin text.txt; do
	sl_assert "sz/rz over the bare line: $f byte-exact" \
		timed "zraw.${f%%.*}" zmodem "$SL_TTY_A" "$SL_TTY_B" "$D/$f"
done
sl_wire pace both 0 >/dev/null || true
sl_check_dmesg
