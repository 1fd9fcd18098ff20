#!/bin/bash
# 93-courier: the courier on a direct line, driven with sealctl as an
# operator would, both daemons in their default configuration (no
# [courier] section; A on ttyS1 sends, B on ttyS2 receives; an unpaced
# wire: the paced line's timing is make bench's):
#   - delivery: a tree with odd names (spaces, a newline, a tab, UTF-8,
#     a leading dash, an empty file and directory, a relative symlink)
#     plus binary and text files, 10 MiB in all, with `sealctl send
#     --wait`: exit 0, every file byte-exact in B's inbox with its mode
#     and mtime; the receipt verifies on A (with the key A learnt), with
#     B's key given, and on B, a forged one does not; outbox, inbox,
#     inbox show and both logs say so;
#   - sharing the line: an application's 128 KiB through the virtual
#     ttys while a 256 KiB envelope goes over the same line: both intact;
#   - a cut: A killed (kill -9) in the middle of a transfer; restarted,
#     it resumes at B's first chunk not durable (B's log says where) and
#     sends only the rest (A's bytes on the wire for it), byte-exact;
#   - the wire: neither direction's capture holds a file name or content.
# 94-courier-refusals goes on with the recipient away, replays and
# refusals.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/courier.sh"

# ---------------------------------------------------------------- files
fresh_pair_conf
mkdir -p "$D/src/tree/sub dir/deeper" "$D/src/tree/empty dir"
t=$D/src/tree
printf 'plain text %s\n' "$MARK_TEXT" >"$t/readme.txt"
printf 'spaces\n' >"$t/sub dir/a file with spaces"
printf 'newline\n' >"$t/sub dir/new"$'\n'"line"
printf 'tab\n' >"$t/sub dir/tab"$'\t'"name"
printf 'utf-8\n' >"$t/sub dir/deeper/Überprüfung-ÄÖÜ-日本.txt"
printf 'dash\n' >"$t/-leading-dash"
printf 'marked\n' >"$t/$MARK_NAME.txt"
: >"$t/empty"
ln -s "sub dir/a file with spaces" "$t/link-inside"
chmod 0640 "$t/readme.txt"
chmod 0750 "$t/sub dir/deeper"
touch -d '2001-02-03 04:05:06' "$t/sub dir/a file with spaces"
sl_random_file "$t/random.bin" $((1024 * 1024))
# text: it compresses about 20 times, so 9 MiB of it cost little line time
awk -v m="$MARK_TEXT" -v max=$((9 * 1024 * 1024)) 'BEGIN {
	while (n < max) {
		s = "line " ++i " of the text file, " m ", the quick brown fox\n"
		printf "%s", s
		n += length(s)
	} }' >"$t/text.txt"
sl_log "source tree: $(du -sb "$t" | cut -f1) bytes, $(find "$t" | wc -l) entries"

# ---------------------------------------------------------------- up
sl_pair_up
start_both
sl_assert "A and B pair" pair_ab
sl_assert "A names B" ctl a peers name "$ACCT_B" "Plant B"
sl_assert "A's status shows its inbox under its state directory" \
	test "$(status_field a inbox)" = "$(state a)/inbox"
key_b=$(status_field b receipt_key)
sl_log "B's receipt key: $key_b"

# ---------------------------------------------------------------- delivery
t0=${EPOCHREALTIME/./}
out=$(ctl a send --to "$ACCT_B" --wait "$t" 2>&1) && rc=0 || rc=$?
sl_log "sealctl send --wait (status $rc, $(((${EPOCHREALTIME/./} - t0) / 1000)) ms):"$'\n'"$out"
sl_assert_eq "sealctl send --wait exits 0" 0 "$rc"
id1=$(send_id "$out")
sl_assert "send printed the envelope's id" test -n "$id1"
sl_assert "send printed one line per state change, ending in delivered" \
	grep -q "^$id1 delivered" <<<"$out"
sl_assert "the envelope is in B's inbox" test -d "$(state b)/inbox/$id1/tree"
sl_assert "every file arrived byte-exact with its mode and mtime" \
	same_tree "$t" "$(state b)/inbox/$id1/tree"
sl_assert "the symlink arrived as a symlink" test -L "$(state b)/inbox/$id1/tree/link-inside"
sl_assert "B's staging area is empty" test -z "$(ls -A "$(state b)/staging")"
sl_assert "A's outbox says delivered" outbox_state_is a "$id1" delivered
sl_assert "A deleted the delivered envelope, kept its receipt" \
	sh -c "test ! -e '$(state a)/outbox/$id1.env' && test -s '$(state a)/outbox/$id1.receipt'"
ctl a outbox receipt "$id1" >"$D/r1" || true
sl_log "receipt:"$'\n'"$(cat "$D/r1")"
sl_assert "A's receipt verifies with the key A learnt" ctl a receipt verify "$D/r1"
sl_assert "the receipt verifies with B's key given" "$SEALCTL" receipt verify "$D/r1" --key "$key_b"
sl_assert "B verifies the receipt it gave" ctl b receipt verify "$D/r1"
sl_assert "the receipt names both accounts" \
	grep -qz "sender $ACCT_A.recipient $ACCT_B" "$D/r1"
sed 's/^files \([0-9]*\)$/files 1\1/' "$D/r1" >"$D/r1.forged"
sl_assert_fails "a forged receipt does not verify" "$SEALCTL" receipt verify "$D/r1.forged" --key "$key_b"
sl_assert "A's peers list B's receipt key" has a "\"receipt_key\": \"$key_b\"" peers --json
out=$(ctl b inbox)
sl_log "B's inbox:"$'\n'"$out"
sl_assert "B's inbox lists the envelope from A" grep -Eq "^$id1 +$ACCT_A " <<<"$out"
out=$(ctl b inbox show "$id1")
sl_log "inbox show:"$'\n'"$out"
sl_assert "inbox show escapes the newline in a name" grep -q 'new\\x0aline' <<<"$out"
sl_assert "inbox show lists the UTF-8 name" grep -q 'Überprüfung-ÄÖÜ-日本.txt' <<<"$out"
# The same as JSON, read by a real parser: UTF-8 names as they are, the
# newline escaped and read back, sizes and counts numbers.
ctl b inbox --json >"$D/inbox.json" 2>&1
ctl b inbox show "$id1" --json >"$D/show.json" 2>&1
ctl b log --received --json >"$D/received.json" 2>&1
sl_assert "inbox, inbox show and log --received --json: valid JSON, UTF-8 kept, numbers" \
	python3 - "$D" "$id1" <<-'EOF'
	import json, sys
	d, env = sys.argv[1], sys.argv[2]
	inbox = json.load(open(d + "/inbox.json", encoding="utf-8"))
	e = [r for r in inbox if r["id"] == env]
	assert len(e) == 1, inbox
	for k in ("files", "content_bytes", "size"):
	    assert type(e[0][k]) is int, (k, e[0])
	show = json.load(open(d + "/show.json", encoding="utf-8"))
	names = [f["name"] for f in show]
	assert any(n.endswith("Überprüfung-ÄÖÜ-日本.txt") for n in names), names
	assert any(n.endswith("new\nline") for n in names), names
	assert all(type(f["size"]) is int for f in show), show
	recs = [json.loads(l) for l in open(d + "/received.json", encoding="utf-8")]
	r = [x for x in recs if x["id"] == env]
	assert r and r[0]["outcome"] == "delivered" and r[0]["reason"] is None, recs
	assert type(r[0]["files"]) is int and type(r[0]["wire_bytes"]) is int, r[0]
	assert any(n["name"].endswith("Überprüfung-ÄÖÜ-日本.txt") for n in r[0]["names"]), r[0]
	EOF
out=$(ctl a log --sent)
sl_log "A's send log:"$'\n'"$out"
sl_assert "A's send log: delivered to B, named" grep -Eq "$id1 +$ACCT_B +Plant B +delivered" <<<"$out"
j=$(ctl a log --sent --json)
sl_assert "A's send log holds the receipt" grep -q "\"id\": \"$id1\".*\"receipt\": \"sealine-receipt 1" <<<"$j"
j=$(ctl b log --received --json)
sl_assert "B's receive log: received from A over the line, with its names" \
	grep -q "\"id\": \"$id1\", \"peer\": \"$ACCT_A\", \"via\": \"line\", \"outcome\": \"delivered\".*\"name\": \"tree/random.bin\"" <<<"$j"

# ---------------------------------------------------------------- sharing the line
sl_random_file "$D/app.bin" $((128 * 1024))
sl_random_file "$D/one.bin" $((256 * 1024))
ctl a send --to "$ACCT_B" --wait "$D/one.bin" >"$D/send2.out" 2>&1 &
send2=$!
BG+=("$send2")
sl_wait_for "the courier transfer starts" 30 grep -q sending "$D/send2.out" || true
sl_assert "128 KiB of an application through the virtual ttys meanwhile" \
	transfer "$SL_VTTY_A" "$SL_VTTY_B" "$D/app.bin" 120 app
wait "$send2" && rc=0 || rc=$?
sl_log "send 2: $(cat "$D/send2.out")"
sl_assert_eq "the envelope sent beside it is delivered" 0 "$rc"
id2=$(send_id "$(cat "$D/send2.out")")
sl_assert "... byte-exact" cmp "$D/one.bin" "$(state b)/inbox/$id2/one.bin"

# ---------------------------------------------------------------- a cut, resumed
sl_random_file "$D/cut.bin" $((640 * 1024))
out=$(ctl a send --to "$ACCT_B" "$D/cut.bin" 2>&1)
id3=$(send_id "$out")
sl_log "envelope $id3 queued: $out"
# A killed once B made at least 4 chunks durable (B's status says so)
sl_assert "B holds 4 chunks of the transfer" sl_wait_for "4 chunks" 120 chunks_at_b_ge 4
kill -9 "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
unset "PID[a]"
sl_log "A killed mid-transfer"
mv "$D/a.log" "$D/a.log.1"
start a
sl_assert "the restarted A delivers it" sl_wait_for "delivered after the cut" 180 outbox_state_is a "$id3" delivered
sl_assert "B resumed at a chunk after those it held" \
	grep -Eq "receiving envelope $id3 from $ACCT_A \\([0-9]+ bytes, resuming at chunk ([4-9]|[1-9][0-9]) of" "$D/b.log"
wire=$(outbox_field a "$id3" wire_bytes)
size=$(outbox_field a "$id3" size)
from=$(sed -n "s/.*receiving envelope $id3 from $ACCT_A ([0-9]* bytes, resuming at chunk \([0-9]*\) of.*/\1/p" "$D/b.log" | tail -n 1)
sl_log "envelope $id3: $size bytes; resumed at chunk ${from:-?}; $wire bytes on the wire after the restart"
# (the killed A never recorded its first attempt's bytes)
sl_assert "after the restart A sent only the chunks from there on" \
	test "$wire" -lt $((size - (${from:-0} - 1) * 65552))
sl_assert "... byte-exact" cmp "$D/cut.bin" "$(state b)/inbox/$id3/cut.bin"
sl_assert "A counted two attempts" test "$(outbox_field a "$id3" attempts)" -ge 2

# ---------------------------------------------------------------- the wire
print_logs | grep -Ei 'courier|envelope|receipt' | tail -n 80 || true
stop_both
for f in a2b b2a; do
	sl_assert "$f.raw holds no file name" sh -c "! grep -aq '$MARK_NAME' '$SL_OUT/$f.raw'"
	sl_assert "$f.raw holds no file content" sh -c "! grep -aq '$MARK_TEXT' '$SL_OUT/$f.raw'"
done
sl_check_dmesg
