#!/bin/bash
# vm-dial: the guest's exchange lines (scripts/vm-run --exchange
# tests/exchange/vm.conf tests/exchange/vm-dial.sh): ttyS4..ttyS7 are
# 16550A UARTs, each with an emulated Hayes modem behind it; ttyS4 (100)
# dials 101 (ttyS5, auto-answer), both see CONNECT, bytes cross both
# ways, +++ and ATH end the call and the other side sees NO CARRIER.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"

. /out/guest.env
sl_assert_eq "vm-run describes the exchange lines" \
	"ttyS4=100 ttyS5=101 ttyS6=102 ttyS7=103" "${SEALINE_EXCHANGE:-}"
serial=$(</proc/tty/driver/serial)
for i in 4 5 6 7; do
	sl_assert "ttyS$i exists" test -c /dev/ttyS$i
	sl_assert "ttyS$i is a 16550A" grep -q "^$i: uart:16550A " <<<"$serial"
done

sl_stty_raw /dev/ttyS4
sl_stty_raw /dev/ttyS5
tmp=$(mktemp -d)
# bash's read on a tty mixes up buffered input between file descriptors:
# a cat per port collects what arrives, checks grep in it
exec {A}<>/dev/ttyS4 {B}<>/dev/ttyS5
cat <&$A >"$tmp/A" &
cat_a=$!
cat <&$B >"$tmp/B" &
cat_b=$!
# (lib.sh's exit trap still runs, with the test's status)
# shellcheck disable=SC2154 # rc is set by the trap itself
trap 'rc=$?; kill $cat_a $cat_b 2>/dev/null; (exit $rc); _sl_on_exit' EXIT
declare -A mark=([A]=0 [B]=0)

# send PORT TEXT: mark what came so far, then send TEXT
send() {
	mark[$1]=$(stat -c %s "$tmp/$1")
	if [[ $1 == A ]]; then printf '%s' "$2" >&$A; else printf '%s' "$2" >&$B; fi
}
# arrived PORT REGEX: a line (CR stripped) since the last send matches
arrived() {
	tail -c +$((${mark[$1]} + 1)) "$tmp/$1" | tr -d '\r' | grep -qE "$2"
}
# expect PORT REGEX SECONDS
expect() {
	sl_wait_for "$2 on port $1" "$3" arrived "$1" "$2" || {
		sl_log "port $1 got: $(tail -c +$((${mark[$1]} + 1)) "$tmp/$1" | od -c | head -n 5)"
		return 1
	}
}

send A $'ATZ\r'
sl_assert "ttyS4: ATZ -> OK (echoed)" expect A '^ATZ$' 5
sl_assert "ttyS4: OK" expect A '^OK$' 5
send B $'ATE0S0=1\r'
sl_assert "ttyS5: ATE0S0=1 -> OK" expect B '^OK$' 5
send A $'ATE0\r'
sl_assert "ttyS4: ATE0 -> OK" expect A '^OK$' 5
mark[B]=$(stat -c %s "$tmp/B")
send A $'ATD101\r'
sl_assert "ttyS5 rings" expect B '^RING$' 10
sl_assert "ttyS5 answers: CONNECT" expect B '^CONNECT 9600$' 10
sl_assert "ttyS4 gets CONNECT" expect A '^CONNECT 9600$' 10
send A $'hello from 100\n'
sl_assert "data 100 -> 101" expect B 'hello from 100' 5
send B $'hello from 101\n'
sl_assert "data 101 -> 100" expect A 'hello from 101' 5
sleep 1.2
send A '+++'
sl_assert "+++ -> OK" expect A '^OK$' 5
sl_assert "+++ relayed" expect B '\+\+\+' 5
send A $'ATH\r'
sl_assert "ATH -> OK" expect A '^OK$' 5
sl_assert "ttyS5: NO CARRIER" expect B 'NO CARRIER$' 5
send A $'ATD555\r'
sl_assert "unassigned number -> NO CARRIER" expect A '^NO CARRIER$' 10
