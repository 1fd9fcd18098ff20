#!/bin/bash
# 96-ui: sealine-ui in a real browser, on two real daemons joined by a
# sealed line (tests/ui runs the browser against one sealined without the
# kernel, and a stand-in for what needs it). Both daemons in their default
# configuration (no role, no peer); a sealine-ui in front of each;
# headless Chromium in the VM (tests/vm/ui-browser.py):
#   - A's operator pairs from the browser's Pairing page while B's runs
#     `sealctl pair`: whoever's screen shows the code reads it out, the
#     other types it; both sides paired;
#   - A's operator addresses an envelope to B (by name, from the address
#     book), uploads two files (a UTF-8 name, 256 KiB of random bytes),
#     sends, and the progress page follows it to delivered and shows B's
#     signed receipt;
#   - B's operator finds it in B's inbox page and downloads both files,
#     byte-exact; B's receive log and A's send log show it delivered;
#   - sealctl agrees: A's outbox says delivered, the receipt verifies
#     with B's key; both sealine-ui stop cleanly.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/courier.sh"

UI=$SEALINE_ROOT/build/bin/sealine-ui
for p in /usr/bin/chromium /usr/bin/chromedriver "$UI"; do
	[[ -x $p ]] || sl_skip "$p missing (scripts/install-deps, make)"
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || sl_skip "python3-selenium missing"

fresh_pair_conf
write_conf a "$ACCT_A" ttyS1 ""
write_conf b "$ACCT_B" ttyS2 ""
mkdir -p "$D/files" "$D/up-a" "$D/up-b"
printf 'Bericht für März, %s\n' "$MARK_TEXT" >"$D/files/Bericht März.txt"
sl_random_file "$D/files/random.bin" $((256 * 1024))
ln -s "$(sock a)" "$D/a.sock"
ln -s "$(sock b)" "$D/b.sock"

sl_pair_up
start_both

# ui NAME: sealine-ui for daemon NAME on a free port; its URL in
# $D/ui-NAME.url once it prints one
ui() {
	"$UI" --port 0 --socket "$(sock "$1")" --upload-dir "$D/up-$1" \
		>"$D/ui-$1.out" 2>"$D/ui-$1.err" &
	PID[ui-$1]=$!
	sl_wait_for "sealine-ui of $1" 60 grep -q 'http://127.0.0.1:[0-9]*/login' "$D/ui-$1.out"
}
sl_assert "sealine-ui starts in front of A" ui a
sl_assert "sealine-ui starts in front of B" ui b
url_a=$(grep -o 'http://127.0.0.1:[0-9]*/login[^ ]*' "$D/ui-a.out" | head -n 1)
url_b=$(grep -o 'http://127.0.0.1:[0-9]*/login[^ ]*' "$D/ui-b.out" | head -n 1)

out=$(SEALCTL=$SEALCTL HOME=$D timeout 1500 /usr/bin/python3 \
	"$SEALINE_ROOT/tests/vm/ui-browser.py" "$url_a" "$url_b" "$D" "$ACCT_A" "$ACCT_B" 2>&1) || true
printf '%s\n' "$out"
while IFS= read -r l; do
	case $l in
	"ok: "*) sl_pass "${l#ok: }" ;;
	"FAIL: "*) sl_fail "${l#FAIL: }" ;;
	esac
done <<<"$out"
grep -q '^[0-9]* passed, 0 failed$' <<<"$out" || sl_fail "the browser session ended with every check passed"

id=$(ctl a outbox --json | grep -o '"id": "[0-9a-f]*"' | head -n 1 | grep -o '[0-9a-f]\{32\}') || id=
sl_assert "sealctl outbox on A: delivered" outbox_state_is a "$id" delivered
key_b=$(status_field b receipt_key)
ctl a outbox receipt "$id" >"$D/receipt" || true
sl_assert "the receipt verifies with B's key" \
	"$SEALCTL" receipt verify "$D/receipt" --key "$key_b"
for n in a b; do
	kill -TERM "${PID[ui-$n]}"
	rc=0
	wait "${PID[ui-$n]}" || rc=$?
	unset "PID[ui-$n]"
	sl_assert_eq "sealine-ui of $n stops on SIGTERM with status 0" 0 "$rc"
done
stop_both
sl_check_dmesg
