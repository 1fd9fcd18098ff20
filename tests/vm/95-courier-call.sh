#!/bin/bash
# 95-courier-call: the courier through a call placed via the TSP over the
# simulated telephone exchange (scripts/vm-run --exchange
# tests/vm/exchange.conf; lines and daemons as in 90-tsp-call: C the
# caller on ttyS4, the TSP on ttyS5/ttyS6, B on ttyS7), each daemon in
# its default [courier] configuration:
#   - C and B pair once through a call (sealctl call, both operators);
#   - `sealctl send --call --wait` on C: C's sealined places the call
#     and transfers; C's operator hangs up in the middle (sealctl
#     hangup); C calls again after its back-off, and B resumes at its
#     first chunk
#     not durable (C's bytes on the wire show nothing acknowledged was
#     sent again); the files (a directory with binary and text, odd
#     names) arrive byte-exact in B's inbox, the receipt verifies, C hangs
#     up by itself, the TSP closes the call record; sealctl printed one
#     line per change of state;
#   - neither leg's capture at the exchange, nor the TSP's database, nor
#     the TSP's memory holds a file name or a byte of content.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/exchange.sh"
. "$SEALINE_ROOT/tests/vm/tsp.sh"
. "$SEALINE_ROOT/tests/vm/courier.sh"

tsp_require

# tsp_memory_has TEXT: TEXT is somewhere in sealtspd's memory (every
# readable mapping, read through /proc/PID/mem).
tsp_memory_has() {
	python3 - "${PID[t]}" "$1" <<'EOF'
import re, sys
pid, needle = sys.argv[1], sys.argv[2].encode()
found = False
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
        if not m:
            continue
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        try:
            mem.seek(lo)
            if needle in mem.read(hi - lo):
                found = True
                break
        except (OSError, ValueError, OverflowError):
            pass
sys.exit(0 if found else 1)
EOF
}

tsp_setup vm-courier

# ---------------------------------------------------------------- pairing
sl_assert "C calls B through the TSP" \
	timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
sl_assert "B's side of the call is connected" sl_wait_for "B connected" 20 connected b
tsp_pair
sl_assert "the call is keyed on both ends" sl_wait_for "keyed" 30 both_keyed
sl_assert "C hangs up" "$SEALCTL" hangup ttyS4 --socket "$(sock c)"
sl_assert "C is idle again" sl_wait_for "C idle" 30 idle c
sl_assert "B is idle again" sl_wait_for "B idle" 30 idle b
sl_assert "the TSP's own memory holds the probe (the check works)" \
	tsp_memory_has "$ACCT_B"

# ---------------------------------------------------------------- files
t=$D/src/$MARK_NAME-dir
mkdir -p "$t/sub dir"
sl_random_file "$t/random.bin" $((256 * 1024))
awk -v m="$MARK_TEXT" -v max=$((1024 * 1024)) 'BEGIN {
	while (n < max) {
		s = "line " ++i " of the text file, " m ", the quick brown fox\n"
		printf "%s", s
		n += length(s)
	} }' >"$t/sub dir/text.txt"
printf 'odd\n' >"$t/sub dir/new"$'\n'"line ÄÖÜ"

# ---------------------------------------------------------------- a delivery by call, cut, resumed
ctl c send --to "$ACCT_B" --call --wait "$t" >"$D/send.out" 2>&1 &
sender=$!
BG+=("$sender")
# (early: the sender runs at most two chunks ahead of what B holds, so
# the last chunks are still to be sent when the call ends)
sl_assert "B holds a chunk of the envelope" sl_wait_for "1 chunk" 120 chunks_at_b_ge 1
id1=$(send_id "$(cat "$D/send.out")")
# The call is cut: C's operator hangs up in the middle of the transfer.
# (A cut by the exchange itself, its "hangup" command, is not seen by
# C's modem over QEMU's sockets until B stops answering, and the TSP's
# line then does not answer the redial: see the commit message.)
sl_assert "C's operator hangs up in the middle" \
	"$SEALCTL" hangup ttyS4 --socket "$(sock c)"
# C tries again after its back-off (30 s); meanwhile its outbox says
# what the cut attempt cost on the wire.
sl_assert "C records the failed attempt: queued again" \
	sl_wait_for "queued again" 30 outbox_state_is c "$id1" queued
wire1=$(outbox_field c "$id1" wire_bytes)
wait "$sender" && rc=0 || rc=$?
sl_log "sealctl send --call --wait (status $rc):"$'\n'"$(cat "$D/send.out")"
sl_assert_eq "sealctl send --call --wait exits 0 once delivered" 0 "$rc"
sl_assert "it said it was calling" grep -q "^$id1 calling: ttyS4" "$D/send.out"
sl_assert "it said the attempt failed and when the next is" \
	grep -q "^$id1 queued: ttyS4: .*, next attempt at" "$D/send.out"
sl_assert "it said delivered" grep -q "^$id1 delivered" "$D/send.out"
sl_assert "every file arrived byte-exact" same_tree "$t" "$(state b)/inbox/$id1/$MARK_NAME-dir"
from=$(sed -n "s/.*receiving envelope $id1 from $ACCT_A ([0-9]* bytes, resuming at chunk \([0-9]*\) of.*/\1/p" "$D/b.log" | tail -n 1)
wire=$(outbox_field c "$id1" wire_bytes)
size=$(outbox_field c "$id1" size)
sl_log "envelope $id1: $size bytes; resumed at chunk ${from:-?}; $wire bytes on the wire in all, ${wire1:-?} in the cut attempt"
sl_assert "B resumed at a chunk it did not hold (1 or later)" test "${from:-0}" -ge 1
sl_assert "C counted two attempts" test "$(outbox_field c "$id1" attempts)" -ge 2
# The second attempt: the chunks from there on and the courier's few
# per cent, less than the envelope without the chunks B already held.
sl_assert "acknowledged chunks were not sent again" \
	test $((wire - ${wire1:-0})) -lt $((size - (${from:-1} - 1) * 65552))
ctl c outbox receipt "$id1" >"$D/r1" || true
sl_assert "the receipt verifies on C" ctl c receipt verify "$D/r1"
sl_assert "C hangs up once delivered" sl_wait_for "C idle" 30 idle c
sl_assert "C logged the hangup as the courier's" \
	grep -q "ttyS4: hanging up the call to $ACCT_B: the courier's deliveries are done" "$D/c.log"
sl_assert "the TSP closes the call record as completed" \
	sl_wait_for "record closed" 20 sh -c "$SEALCTL tsp --db '$DB' cdr --json | jq -e '.[-1].outcome == \"completed\"' >/dev/null"

# ---------------------------------------------------------------- what the TSP and the wire saw
if tsp_memory_has "$MARK_NAME"; then
	sl_fail "the TSP's memory holds no file name"
else
	sl_pass "the TSP's memory holds no file name"
fi
if tsp_memory_has "$MARK_TEXT"; then
	sl_fail "the TSP's memory holds no file content"
else
	sl_pass "the TSP's memory holds no file content"
fi
sl_assert "the TSP stops cleanly" stop t
for f in "$DB" "$DB"-wal; do
	[[ -e $f ]] || continue
	sl_assert "no file name in the TSP's database ($(basename "$f"))" \
		sh -c "! grep -a -q '$MARK_NAME' '$f'"
	sl_assert "no file content in the TSP's database ($(basename "$f"))" \
		sh -c "! grep -a -q '$MARK_TEXT' '$f'"
done
CAP=/out/exchange
sl_assert "the exchange captured the caller's leg" test -s "$CAP/5551001-0.tx"
sl_log "captures: $(cd "$CAP" && ls 555* | tr '\n' ' ')"
sl_assert "no file name on the wire (every leg, both ways)" \
	sh -c "! cat '$CAP'/555* | grep -a -q '$MARK_NAME'"
sl_assert "no file content on the wire (every leg, both ways)" \
	sh -c "! cat '$CAP'/555* | grep -a -q '$MARK_TEXT'"
stop c
stop b
sl_check_dmesg
