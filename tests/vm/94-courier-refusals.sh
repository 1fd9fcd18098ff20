#!/bin/bash
# 94-courier-refusals: the courier on a direct line when things go wrong,
# driven with sealctl (A on ttyS1 sends, B on ttyS2 receives; default
# configuration, role auto on both ends, but for the limits set below):
#   - recipient down, then up: an envelope sent while B's daemon is
#     stopped waits in A's outbox and arrives once B runs again (B's new
#     session makes A start the transfer again at once);
#   - replay: A's outbox record of that delivered envelope restored (as
#     if A had crashed before it saw the receipt) and A restarted: B
#     answers with the receipt it gave, its inbox keeps one copy;
#   - refusals, each with its reason in A's outbox and in both logs, and
#     nothing in B's inbox, staging or spool: over B's max_envelope
#     (TOO_BIG, at the offer, before the bulk; A keeps the envelope and
#     sealctl send --wait exits 1 naming it) and max_files
#     (TOO_MANY_FILES, after the transfer); a bit flipped in A's stored
#     envelope (DAMAGED); then sealctl outbox cancel withdraws that one;
#     no room (min_free over the disk: NO_SPACE, at the offer);
#   - a noisy line: every 20000th byte A -> B has a bit flipped; the
#     kernel drops the damaged frames, the courier resends, byte-exact;
#     sealctl send --wait on a terminal (script(1)) draws a progress bar.
# (Traversal, links out, devices, duplicates, bombs, cut streams: what a
# real sealctl never packs, 97-courier-hostile sends with a client of its
# own; tests/unit/courier feeds the engine the same.)
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/courier.sh"

# The default role (auto) on both ends: a restarted, keyless daemon
# starts the next session itself.
fresh_pair_conf
write_conf a "$ACCT_A" ttyS1 "$ACCT_B"
write_conf b "$ACCT_B" ttyS2 "$ACCT_A"
sl_pair_up
start_both
sl_assert "A and B pair" pair_either a ttyS1 b ttyS2
sl_assert "the daemons key both lines" sl_wait_for "session keys" 30 both_keyed_same_epoch

# ---------------------------------------------------------------- recipient down, then up
# B's daemon stops; A's line still has its keys and A tries at once: no
# answer. B's restarted daemon, keyless, starts a session; A takes that
# as the sign to start the transfer again.
sl_assert "B stops cleanly" stop b
printf 'while B was away\n' >"$D/later.txt"
out=$(ctl a send --to "$ACCT_B" "$D/later.txt" 2>&1)
id4=$(send_id "$out")
sl_log "envelope $id4 queued: $out"
cp -a "$(state a)/outbox/$id4.state" "$(state a)/outbox/$id4.env" \
	"$(state a)/outbox/$id4.files" "$D/"
sleep 3
sl_assert "with B down the envelope waits in A's outbox" \
	test "$(outbox_field a "$id4" state)" != delivered
sl_assert "... and is nowhere at B" test ! -e "$(state b)/inbox/$id4"
start b
sl_assert "B back: delivered" sl_wait_for "delivered once B is back" 120 outbox_state_is a "$id4" delivered
sl_assert "A started the transfer again on B's new session" \
	grep -q "envelope $id4: a new session with $ACCT_B; its transfer starts again" "$D/a.log"
sl_assert "... into B's inbox" cmp "$D/later.txt" "$(state b)/inbox/$id4/later.txt"

# ---------------------------------------------------------------- replay
n_in=$(inbox_count)
sl_assert "A stops cleanly" stop a
cp -a "$D/$id4.state" "$D/$id4.env" "$D/$id4.files" "$(state a)/outbox/"
rm -f "$(state a)/outbox/$id4.receipt"
mv "$D/a.log" "$D/a.log.2"
start a
sl_assert "the replayed envelope is answered with B's receipt" \
	sl_wait_for "replay receipted" 120 outbox_state_is a "$id4" delivered
sl_assert "B logged the replay" grep -q "envelope $id4 was delivered before: its receipt again" "$D/b.log"
ctl a outbox receipt "$id4" >"$D/r4" || true
sl_assert "the receipt is the one B gave" cmp "$D/r4" "$(state b)/receipts/$id4.receipt"
sl_assert_eq "B's inbox holds no second copy" "$n_in" "$(inbox_count)"

# ---------------------------------------------------------------- a noisy line
# Damaged frames are dropped by the kernel (CRC, AEAD); the courier
# resends the pieces they carried.
sl_random_file "$D/noisy.bin" $((256 * 1024))
sl_assert "the wire flips a bit in every 20000th byte A -> B" sl_wire flip a2b 20000
# (on a terminal, as script(1) gives it: sealctl draws a progress bar)
out=$(script -qfec "$SEALCTL send --to $ACCT_B --wait $D/noisy.bin --socket $(sock a)" /dev/null 2>&1) && rc=0 || rc=$?
flipped=$(sl_wire_stat a2b flipped || echo 0)
sl_wire flip a2b 0 >/dev/null || true
sl_log "over the noisy line (status $rc, $flipped bits flipped): $out"
id9=$(send_id "$out")
sl_assert_eq "delivered over a noisy line" 0 "$rc"
sl_assert "the wire did flip bits" test "${flipped:-0}" -gt 0
sl_assert "... byte-exact" cmp "$D/noisy.bin" "$(state b)/inbox/$id9/noisy.bin"
sl_assert "on a terminal sealctl send --wait draws a progress bar" \
	grep -Eq '\[#* *\] +[0-9.]+% [0-9.]+ [KM]?i?B of [0-9.]+ KiB, [0-9.]+ [KM]?i?B/s, ([0-9]+:[0-9]{2}|\?) left' <<<"$out"

# ---------------------------------------------------------------- refusals
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
printf '[courier]\nmax_envelope = 512K\nmax_files = 5\n' >>"$D/b.conf"
start b
start a
sl_assert "keyed again" sl_wait_for "session" 30 both_keyed_same_epoch
sl_random_file "$D/big.bin" $((1024 * 1024))
out=$(ctl a send --to "$ACCT_B" --wait "$D/big.bin" 2>&1) && rc=0 || rc=$?
sl_log "over max_envelope: status $rc: $out"
id5=$(send_id "$out")
sl_assert_eq "TOO_BIG: sealctl send --wait exits 1" 1 "$rc"
sl_assert "... and says why" grep -q "TOO_BIG" <<<"$out"
sl_assert "A's outbox: refused, TOO_BIG" test "$(outbox_field a "$id5" reason)" = TOO_BIG
sl_assert "A keeps the refused envelope" test -s "$(state a)/outbox/$id5.env"
sl_assert "B logged the refusal" has b "\"id\": \"$id5\".*\"outcome\": \"refused\", \"reason\": \"too_big\"" log --received --json
sl_assert "A logged the refusal" has a "\"id\": \"$id5\".*\"outcome\": \"refused\", \"reason\": \"too_big\"" log --sent --json
mkdir -p "$D/many"
for i in 1 2 3 4 5 6 7; do echo "$i" >"$D/many/f$i"; done
out=$(ctl a send --to "$ACCT_B" --wait "$D/many" 2>&1) && rc=0 || rc=$?
sl_log "over max_files: status $rc: $out"
id6=$(send_id "$out")
sl_assert "TOO_MANY_FILES reaches A" test "$(outbox_field a "$id6" reason)" = TOO_MANY_FILES
sl_assert "nothing of it in B's inbox, staging or spool" \
	sh -c "test ! -e '$(state b)/inbox/$id6' && test -z \"\$(ls -A '$(state b)/staging')\" && test ! -e '$(state b)/spool/$id6.env'"
# a flipped bit in the stored envelope (after its header), B down while
# it is flipped (A restarted first: it starts the session once B is back)
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
start a
sl_assert "A registers again" sl_wait_for "A registered" 20 line_registered a
printf 'flip me\n' >"$D/flip.txt"
out=$(ctl a send --to "$ACCT_B" "$D/flip.txt" 2>&1)
id7=$(send_id "$out")
env7=$(state a)/outbox/$id7.env
printf '\x55' | dd of="$env7" bs=1 seek=200 count=1 conv=notrunc status=none
start b
sl_assert "a flipped bit in the envelope: B refuses it as DAMAGED" \
	sl_wait_for "DAMAGED" 120 has b "\"id\": \"$id7\".*\"reason\": \"damaged\"" log --received --json
sl_assert "A learns why" sl_wait_for "DAMAGED at A" 30 has a "$id7.*DAMAGED" outbox
sl_assert "nothing of it in B's inbox" test ! -e "$(state b)/inbox/$id7"
sl_assert "A cancels it" ctl a outbox cancel "${id7:0:8}"
sl_assert "the cancelled envelope is deleted" sl_wait_for "deleted" 10 test ! -e "$env7"
sl_assert "A's send log has the cancel" has a "\"id\": \"$id7\".*\"outcome\": \"cancelled\"" log --sent --json

# no room: B keeps more free than its file system has (min_free)
sl_assert "B stops cleanly" stop b
printf 'min_free = 1T\n' >>"$D/b.conf"
start b
out=$(ctl a send --to "$ACCT_B" "$D/later.txt" 2>&1)
id8=$(send_id "$out")
sl_assert "no room at B: refused as NO_SPACE before the bulk, saying why" \
	sl_wait_for "NO_SPACE" 120 has b "\"id\": \"$id8\".*\"reason\": \"no_space\", \"detail\": \"no room for [0-9]+ bytes with 1099511627776 kept free" log --received --json
sl_assert "A learns why" sl_wait_for "NO_SPACE at A" 30 has a "$id8.*NO_SPACE" outbox
sl_assert "A cancels it" ctl a outbox cancel "$id8"

# ---------------------------------------------------------------- end
print_logs | grep -Ei 'courier|envelope|receipt' | tail -n 60 || true
stop_both
sl_check_dmesg
