#!/bin/bash
# Reliable mode under what real lines do, with the tools users run: 1 MiB
# A -> B with socat while 256 KiB go B -> A, through bit flips, dropped and inserted
# bytes, bursts of garbage and outages of 0.5 s and 5 s in mid-transfer;
# then a ZMODEM file (sz/rz) and a picocom session, each through noise and
# an outage. Every byte arrives in order, exactly once; the counters show
# the resends and the damage the line did.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

# at_progress FILE TOTAL LOG FRACTION COMMAND... [-- FRACTION COMMAND...]:
# in the background, run each wire COMMAND once FILE has grown past
# FRACTION percent of TOTAL bytes, so that every fault lands while the
# transfer is running however fast or slow the guest is. LOG gets a line
# per fault with the size it saw.
at_progress() {
	local file=$1 total=$2 log=$3 pct cmd size
	shift 3
	while [[ $# -gt 0 ]]; do
		pct=$1 cmd=$2
		shift 2
		while :; do
			size=$(stat -c %s "$file" 2>/dev/null || echo 0)
			((size * 100 < total * pct)) || break
			sleep 0.05
		done
		echo "$cmd at $size of $total bytes (other way: $(stat -c %s /tmp/ba.got 2>/dev/null || echo 0)):" \
			"$(sl_wire "$cmd")" >>"$log"
	done
}

sl_pair_up
sl_assert "A reliable" "$SEALCTL" set-line "$SL_TTY_A" --mode reliable
sl_assert "B reliable" "$SEALCTL" set-line "$SL_TTY_B" --mode reliable
sl_assert "key" sl_pair_key 1

# --- 1 MiB one way, 256 KiB the other at once: noise, garbage, outages ----
# (a TCG guest moves about 10 KB/s through two sealed lines at once, so the
# reverse stream is shorter; it still runs through every fault)
MIB=1048576
BACK=262144
sl_random_file /tmp/ab "$MIB"
sl_random_file /tmp/ba "$BACK"
# about 1e-5 flips, 5e-6 drops and 5e-6 inserts per byte, both ways
sl_wire flip 100003 >/dev/null
sl_wire drop 199999 >/dev/null
sl_wire insert 200003 >/dev/null
rm -f /tmp/faults.log /tmp/ab.got /tmp/ba.got
sl_read_bytes "$SL_VTTY_B" "$MIB" 300 /tmp/ab.got & rb=$!
sl_read_bytes "$SL_VTTY_A" "$BACK" 300 /tmp/ba.got & ra=$!
sl_wait_for "both readers" 30 sl_tty_held "$SL_VTTY_A" "$SL_VTTY_B"
at_progress /tmp/ab.got "$MIB" /tmp/faults.log \
	4 "outage a2b 500" 8 "garbage both 2000" 12 "outage b2a 5000" \
	40 "outage both 5000" 60 "garbage a2b 16384" 75 "outage b2a 500" & chaos=$!
socat -u FILE:/tmp/ab "$SL_VTTY_A,raw,echo=0" & wa=$!
socat -u FILE:/tmp/ba "$SL_VTTY_B,raw,echo=0" & wb=$!
sl_assert "1 MiB: socat on A wrote it all" wait "$wa"
sl_assert "1 MiB: socat on B wrote it all" wait "$wb"
sl_assert "1 MiB: B read 1 MiB" wait "$rb"
sl_assert "256 KiB: A read them" wait "$ra"
wait "$chaos" || true
sl_log "faults: $(tr '\n' ';' </tmp/faults.log)"
sl_assert_eq "1 MiB: all six faults struck during the transfer" 6 \
	"$(grep -c ': ok' /tmp/faults.log)"
sl_assert "1 MiB A->B byte-exact, in order" cmp /tmp/ab /tmp/ab.got
sl_assert "256 KiB B->A byte-exact, in order" cmp /tmp/ba /tmp/ba.got
for t in "$SL_TTY_A" "$SL_TTY_B"; do
	sl_log "$t: retransmits $(sl_stat "$t" retransmits) timeouts $(sl_stat "$t" timeouts)" \
		"auth_failures $(sl_stat "$t" auth_failures) resyncs $(sl_stat "$t" resyncs)" \
		"frame_size $(sl_stat "$t" frame_size)"
done
sl_assert "the outages ran out retransmission timers on A" test "$(sl_stat "$SL_TTY_A" timeouts)" -gt 0
sl_assert "... and on B" test "$(sl_stat "$SL_TTY_B" timeouts)" -gt 0
sl_assert "A resent frames" test "$(sl_stat "$SL_TTY_A" retransmits)" -gt 0
sl_assert "B resent frames" test "$(sl_stat "$SL_TTY_B" retransmits)" -gt 0
sl_assert "the garbage was seen as damage on B" \
	test $(($(sl_stat "$SL_TTY_B" auth_failures) + $(sl_stat "$SL_TTY_B" resyncs) +
		$(sl_stat "$SL_TTY_B" malformed))) -gt 0
sl_assert_eq "a 5 s outage is not a dead line (30 s)" 0 "$(sl_stat "$SL_TTY_A" link_dead)"
sl_assert_eq "nothing overran the virtual tty on A" 0 "$(sl_stat "$SL_TTY_A" rx_overruns)"
sl_assert_eq "... nor on B" 0 "$(sl_stat "$SL_TTY_B" rx_overruns)"
sl_wire clean >/dev/null

# --- sz/rz through noise and an outage -------------------------------------
mkdir -p /tmp/rx
{ head -c 32768 /dev/urandom
  printf 'SEALINE-ZMODEM-MARKER-%s\n' {1..500}
  head -c 32768 /dev/urandom; } >/tmp/zfile
sl_wire flip 5003 >/dev/null
sl_wire insert 10009 >/dev/null
before=$(sl_stat "$SL_TTY_A" retransmits)
(cd /tmp/rx && timeout 180 rz -y -q <"$SL_VTTY_B" >"$SL_VTTY_B") & rzpid=$!
sl_wait_for "rz on B" 30 sl_tty_held "$SL_VTTY_B"
(sleep 1; sl_wire outage 500 >/dev/null) & cut=$!
sl_assert "sz sends the file" timeout 180 sz -q /tmp/zfile <"$SL_VTTY_A" >"$SL_VTTY_A"
sl_assert "rz receives it" wait "$rzpid"
wait "$cut" || true
sl_assert "the file arrived byte-exact" cmp /tmp/zfile /tmp/rx/zfile
sl_assert "A resent what the line lost" test "$(sl_stat "$SL_TTY_A" retransmits)" -gt "$before"
sl_wire clean >/dev/null

# --- a picocom session through noise ----------------------------------------
# A flip every 300 bytes damages a good share of the small frames keystrokes
# travel in; each must still arrive, once, in order.
sl_wire flip 300 >/dev/null
sl_wire garbage 500 >/dev/null
sl_picocom_both "$SL_VTTY_A" /tmp/pico.a typed-on-A-SEALINE-TEXT \
	"$SL_VTTY_B" /tmp/pico.b typed-on-B-SEALINE-TEXT \
	hello-from-A-SEALINE-TEXT hello-from-B-SEALINE-TEXT
sl_log "picocom on A saw: $(tr -cd '[:print:]' </tmp/pico.a)"
sl_log "picocom on B saw: $(tr -cd '[:print:]' </tmp/pico.b)"
sl_assert "picocom on B got A's init string" grep -q hello-from-A-SEALINE-TEXT /tmp/pico.b
sl_assert "picocom on B got A's keystrokes" grep -q typed-on-A-SEALINE-TEXT /tmp/pico.b
sl_assert "picocom on A got B's keystrokes" grep -q typed-on-B-SEALINE-TEXT /tmp/pico.a
sl_assert_eq "... each once" 1 "$(grep -o typed-on-B-SEALINE-TEXT /tmp/pico.a | wc -l)"
sl_wire clean >/dev/null

sl_assert "the wire carries none of the file's text" \
	sh -c "! grep -qa SEALINE-ZMODEM-MARKER $SL_OUT/a2b.raw"
sl_assert "nor picocom's" sh -c "! grep -qa SEALINE-TEXT $SL_OUT/a2b.raw $SL_OUT/b2a.raw"
sl_pair_down
sl_check_dmesg
