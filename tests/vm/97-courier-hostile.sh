#!/bin/bash
# 97-courier-hostile: a hostile sender through two real daemons on a
# direct line (A on ttyS1 sends, B on ttyS2 receives; default
# configuration, role auto on both ends, until the limits below). The
# attacker is a local user on A who talks to A's control socket with a
# client of their own (courier-attacker.py), not sealctl: A's sealined
# seals whatever payload arrives on the pipe, so every byte of the pax
# archive and of its zstd stream is the attacker's. B's sealined must
# refuse each, with the reason in A's outbox, the attacker's answer, both
# JSON logs and both daemon logs; nothing of it in B's inbox, staging or
# spool; no file written anywhere outside (every name the attacker packs
# holds "hostile-canary": none may exist afterwards, and /etc is
# unchanged); A keeps the envelope; and the line still delivers:
#   - ../../x, /etc/x, a symlink to /etc then a file through it, a hard
#     link to /etc/passwd, a character device, a name twice;
#   - a zstd bomb (200 MiB of zeros in a few kilobytes: BOMB), a header
#     claiming a 1 TiB file (UNPACKED_TOO_BIG);
#   - a zstd stream cut short and a pax archive cut inside a file, both
#     sealed whole (BAD_ARCHIVE); the pipe closed before the end: A
#     queues nothing and B never hears of it;
#   - another account: the client names only the account (sealined seals
#     with that peer's key and account from its own key store, and sends
#     only on a line keyed with that peer), so it can ask only for an
#     unpaired account or its own: both refused before a byte is packed;
#   - B's max_unpacked at 8 MiB: an archive of exactly 8 MiB of zeros
#     arrives, one 512-byte tar block more is refused (UNPACKED_TOO_BIG,
#     below the ratio's 16 MiB floor, so the absolute limit stops it);
#   - B with 4 MiB to spare: those 8 MiB of zeros (356 bytes sealed) are
#     refused as NO_SPACE when unpacked, A keeps them queued, an ordinary
#     send still goes through.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/courier.sh"

ATTACKER=$SEALINE_ROOT/tests/vm/courier-attacker.py
LIMIT=$((8 * 1024 * 1024))

# attack CASE [ARGS]: the attacker's client against A's socket, to B
# unless TO says otherwise; its output in OUT, its status in RC (124:
# no final answer within 180 s, as when B's refusal is one A retries).
attack() {
	OUT=$(timeout 180 python3 "$ATTACKER" --socket "$(sock a)" \
		--to "${TO:-$ACCT_B}" --limit "$LIMIT" "$@" 2>&1) && RC=0 || RC=$?
	sl_log "attacker $* (status $RC):"$'\n'"$OUT"
	ID=$(sed -n 's/^< ready id=\([0-9a-f]\{32\}\)$/\1/p' <<<"$OUT" | head -n 1)
	if [[ $RC -eq 124 ]]; then
		sl_log "no answer in time; the daemons' last words:"
		tail -n 40 "$D/a.log" "$D/b.log" || true
	fi
}

# Anything named by an attacker's archive, wherever sealined could have
# written it (B's state, staging and inbox are under /var/lib).
canaries() {
	find /etc /tmp /var/lib /var/tmp /var/log /run -xdev \
		-name '*hostile-canary*' 2>/dev/null || true
}

nothing_written() {
	local found
	found=$(canaries)
	[[ -z $found ]] && return 0
	sl_log "written by an attacker's envelope:"$'\n'"$found"
	return 1
}

nothing_at_b() {
	test ! -e "$(state b)/inbox/$1" &&
		test -z "$(ls -A "$(state b)/staging")" &&
		test ! -e "$(state b)/spool/$1.env"
}

etc_state() {
	find /etc -xdev -printf '%p %y %s %n %T@ %l\n' 2>/dev/null | sort
}

# refused CASE REASON DETAIL: the attacker's CASE is refused by B as
# REASON (its name as sealctl shows it) with a detail matching the
# extended regex DETAIL (as the daemon logs show it; in JSON each " is
# escaped), and each side says so.
refused() {
	local case=$1 reason=$2 detail=$3 lower=${2,,} jdetail
	jdetail=${3//\"/\\\\\"}
	attack "$case"
	sl_assert "$case: A took the attacker's stream (ready id=...)" test -n "$ID"
	[[ -n $ID ]] || ID=none
	sl_assert_eq "$case: the attacker's request ends in err" 1 "$RC"
	sl_assert "$case: ... saying $reason and why" \
		grep -Eq "^< err ECONNREFUSED envelope $ID refused: $reason: .*$detail" <<<"$OUT"
	sl_assert "$case: A's outbox: refused, $reason" \
		test "$(outbox_field a "$ID" reason)" = "$reason"
	sl_assert "$case: ... with B's detail" \
		has a "\"id\": \"$ID\".*\"detail\": \".*$jdetail" outbox --json
	sl_assert "$case: A keeps the envelope" test -s "$(state a)/outbox/$ID.env"
	sl_assert "$case: B's receive log: refused, $lower, the detail" \
		has b "\"id\": \"$ID\", \"peer\": \"$ACCT_A\", \"via\": \"line\", \"outcome\": \"refused\", \"reason\": \"$lower\", \"detail\": \".*$jdetail" log --received --json
	sl_assert "$case: A's send log: refused, $lower" \
		has a "\"id\": \"$ID\", \"peer\": \"$ACCT_B\", \"outcome\": \"refused\", \"reason\": \"$lower\"" log --sent --json
	sl_assert "$case: B's daemon log says it refused it and why" \
		grep -Eq "envelope $ID from $ACCT_A refused: $reason \\(.*$detail" "$D/b.log"
	sl_assert "$case: A's daemon log says B refused it" \
		grep -Eq "envelope $ID refused by $ACCT_B: $reason: .*$detail" "$D/a.log"
	sl_assert "$case: nothing of it in B's inbox, staging or spool" nothing_at_b "$ID"
	sl_assert "$case: nothing of it written anywhere" nothing_written
}

# normal NAME: an ordinary sealctl send afterwards is delivered.
normal() {
	local out rc id
	printf 'an ordinary file after %s\n' "$1" >"$D/$1.txt"
	out=$(timeout 180 "$SEALCTL" send --to "$ACCT_B" --wait "$D/$1.txt" \
		--socket "$(sock a)" 2>&1) && rc=0 || rc=$?
	sl_log "sealctl send after $1 (status $rc): $out"
	id=$(send_id "$out")
	sl_assert_eq "after $1: an ordinary sealctl send is delivered" 0 "$rc"
	sl_assert "... byte-exact" cmp "$D/$1.txt" "$(state b)/inbox/$id/$1.txt"
}

# ---------------------------------------------------------------- up
fresh_pair_conf
write_conf a "$ACCT_A" ttyS1 "$ACCT_B"
write_conf b "$ACCT_B" ttyS2 "$ACCT_A"
etc_state >"$D/etc.before"
cp -a /etc/passwd "$D/passwd.before"
sl_assert "no canary exists before the attacks" nothing_written
sl_pair_up
start_both
sl_assert "A and B pair" pair_either a ttyS1 b ttyS2
sl_assert "the daemons key both lines" sl_wait_for "session keys" 30 both_keyed_same_epoch
normal first

# ---------------------------------------------------------------- names and types
refused dotdot UNSAFE_PATH '"\.\./\.\./hostile-canary-dotdot": a "\." or "\.\." component'
refused absolute UNSAFE_PATH '"/etc/hostile-canary-absolute": an absolute path'
refused symlink SYMLINK_OUTSIDE '"hostile-canary-etc" -> "/etc"'
refused hardlink HARDLINK_OUTSIDE '"hostile-canary-passwd" => "/etc/passwd"'
refused device SPECIAL_FILE '"hostile-canary-null" is a character device'
refused duplicate DUPLICATE '"hostile-canary-twice"'

# ---------------------------------------------------------------- sizes
refused bomb BOMB '[0-9]+ compressed bytes unpack to over [0-9]+ \(more than 1000:1\)'
sl_assert "the bomb was small: under 10,000 bytes of zstd for 200 MiB" \
	grep -Eq '^# bomb: an archive of 209716736 bytes, [0-9]{1,4} bytes of zstd' <<<"$OUT"
refused claim UNPACKED_TOO_BIG '"hostile-canary-claim" \(1099511627776 bytes\) brings the files over 4294967296 bytes'

# ---------------------------------------------------------------- cut short
refused cut-zstd BAD_ARCHIVE 'ends inside a frame'
refused cut-tar BAD_ARCHIVE 'hostile-canary-cut.*[Tt]runcated'
n_out=$(find "$(state a)/outbox" -name '*.env' | wc -l)
attack cut-pipe
sl_assert_eq "cut-pipe: the attacker's request ends in err" 1 "$RC"
sl_assert "cut-pipe: ... saying sealined got no end" \
	grep -q "^< err ECANCELED sealctl ended before the files were packed" <<<"$OUT"
sl_assert "cut-pipe: A logged that it queued nothing" \
	grep -q "envelope $ID to $ACCT_B not queued: sealctl ended before the files were packed" "$D/a.log"
sl_assert "cut-pipe: A's outbox holds nothing of it" \
	sh -c "! ls '$(state a)/outbox/' | grep -q '^$ID'"
sl_assert_eq "cut-pipe: ... and no new envelope" "$n_out" "$(find "$(state a)/outbox" -name '*.env' | wc -l)"
sl_assert "cut-pipe: B never heard of it" sh -c "! grep -q '$ID' '$D/b.log'"

# ---------------------------------------------------------------- another account
TO=999999999999 attack dotdot
sl_assert_eq "to an unpaired account: refused" 1 "$RC"
sl_assert "... before a byte is packed (no ready), saying why" \
	grep -q "^< err ENOKEY 999999999999 is not paired with this installation" <<<"$OUT"
TO=$ACCT_A attack dotdot
sl_assert "to A's own account: refused, saying why" \
	grep -q "^< err EINVAL $ACCT_A is this installation's own account" <<<"$OUT"
sl_assert_eq "... and nothing queued" "$n_out" "$(find "$(state a)/outbox" -name '*.env' | wc -l)"
normal attacks

# ---------------------------------------------------------------- the absolute limit
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
printf '[courier]\nmax_unpacked = 8M\n' >>"$D/b.conf"
start b
start a
sl_assert "keyed again" sl_wait_for "session" 60 both_keyed_same_epoch
attack at-limit
sl_assert_eq "an archive of exactly max_unpacked (8 MiB) is delivered" 0 "$RC"
sl_assert "... its file whole" \
	cmp -n $((LIMIT - 1536)) /dev/zero "$(state b)/inbox/$ID/at-limit"
sl_assert "... of its size" test "$(stat -c %s "$(state b)/inbox/$ID/at-limit")" -eq $((LIMIT - 1536))
refused over-limit UNPACKED_TOO_BIG 'the archive is over 8388608 bytes'
normal limits

# ---------------------------------------------------------------- no room to unpack
# B keeps free all but 4 MiB of its file system: 8 MiB of zeros (356
# bytes sealed) pass the offer's check of the envelope's size, not the
# unpack's of the file's: NO_SPACE, which may pass later, so A keeps it
# queued to try again (and B its spool); other envelopes go on meanwhile.
sl_assert "A stops cleanly" stop a
sl_assert "B stops cleanly" stop b
avail=$(df -B1 --output=avail "$(state b)" | tail -n 1 | tr -d ' ')
write_conf b "$ACCT_B" ttyS2 "$ACCT_A"
printf '[courier]\nmin_free = %s\n' $((avail - 4 * 1024 * 1024)) >>"$D/b.conf"
sl_log "B keeps $((avail - 4 * 1024 * 1024)) of $avail bytes free"
start b
start a
sl_assert "keyed again" sl_wait_for "session" 60 both_keyed_same_epoch
attack roomless --no-wait
sl_assert_eq "roomless: queued" 0 "$RC"
sl_assert "roomless: B refuses it for want of room, A keeps it queued to try again" \
	sl_wait_for "NO_SPACE at A" 120 has a "\"id\": \"$ID\".*\"state\": \"queued\".*\"detail\": \"NO_SPACE: .*hostile-canary-roomless.* needs 8387072 bytes" outbox --json
sl_assert "roomless: B's daemon log says why" \
	grep -Eq "envelope $ID from $ACCT_A refused: NO_SPACE \\(.*hostile-canary-roomless.* needs 8387072 bytes" "$D/b.log"
sl_assert "roomless: ... and its receive log" \
	has b "\"id\": \"$ID\".*\"outcome\": \"refused\", \"reason\": \"no_space\"" log --received --json
sl_assert "roomless: nothing of it in B's inbox or staging" \
	sh -c "test ! -e '$(state b)/inbox/$ID' && test -z \"\$(ls -A '$(state b)/staging')\""
sl_assert "roomless: nothing of it written anywhere" nothing_written
normal roomless
sl_assert "roomless: A cancels it" ctl a outbox cancel "$ID"

# ---------------------------------------------------------------- outside
etc_state >"$D/etc.after"
sl_assert "/etc is unchanged (names, types, sizes, links, times)" \
	diff "$D/etc.before" "$D/etc.after"
sl_assert "/etc/passwd is unchanged" cmp "$D/passwd.before" /etc/passwd
sl_assert "/etc/passwd has no second link" test "$(stat -c %h /etc/passwd)" -eq 1
sl_assert "no canary anywhere at the end" nothing_written

print_logs | grep -Ei 'courier|envelope|receipt' | tail -n 80 || true
stop_both
sl_check_dmesg
