#!/bin/bash
# 91-tsp-tamper: the TSP cannot read or change what the endpoints say
# (scripts/vm-run --exchange tests/vm/exchange.conf, after 90-tsp-call in
# the same boot, with its own daemons, state and account store):
#   C, the caller      ttyS4, number 5551001
#   T, the TSP         ttyS5 and ttyS6, number 5550100 (hunt group)
#   B, the recipient   ttyS7, number 5552002
# C pairs with B through the TSP (SAS), hangs up, and calls again: the
# stored long-term key (LTK) keys the session. While that call is up:
#   - no key at the TSP: the LTK (raw and in hex) is nowhere in the TSP's
#     state directory, its database files, nor its process memory (every
#     readable mapping of /proc/PID/mem); the scanner finds it where it
#     is planted (a positive control), and the TSP has no sealine line on
#     its ports, so it cannot have installed a session key either;
#   - tampering cannot change a byte: the exchange flips bits in what the
#     TSP relays to B (its control port, tests/vm/exchange.sh); B's kernel
#     counts authentication failures, and since sealined runs its lines in
#     reliable mode, C sends the damaged frames again and B's virtual tty
#     gets exactly the sent data; with the noise off a fresh transfer is
#     byte-exact too. (20-noise.sh covers datagram mode, where damage is
#     a hole.)
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
. "$SEALINE_ROOT/tests/vm/exchange.sh"

. "$SEALINE_ROOT/tests/vm/tsp.sh"

tsp_require
[[ -n ${SEALINE_EXCHANGE_CTL:-} ]] ||
	sl_skip "needs the exchange's control port (SEALINE_EXCHANGE_CTL from scripts/vm-run --exchange)"

# Bit flips per million bytes the TSP relays to B, and the bytes sent
# through them. A full frame is about 2050 bytes on the wire: at 250 per
# million some 6 frames in 10 pass intact, so many are sent again (and
# the adaptive frame size shrinks them).
FLIP=250
NOISY=262144

# ltk_of NAME PEER: the LTK NAME stored for PEER, in hex.
ltk_of() {
	sed -n 's/^ltk \([0-9a-f]\{64\}\)$/\1/p' "$(state "$1")/peers/$2"
}

# scan_for HEX TARGET...: print what of the 32-byte key HEX (its raw bytes,
# its hex in either case) occurs in each TARGET, one line each:
# "TARGET found raw|hex|HEX" or "TARGET clean (N bytes)". A TARGET is a
# file, a directory (every regular file below it) or pid:N (every
# readable mapping of the process's memory). Status 0 if nothing was
# found, 1 if something was, 2 if a target could not be read at all.
scan_for() {
	python3 - "$@" <<'EOF'
import os, re, sys

key = bytes.fromhex(sys.argv[1])
needles = {"raw": key, "hex": key.hex().encode(), "HEX": key.hex().upper().encode()}
CHUNK = 1 << 20
OVERLAP = 128

def scan_stream(read_at, start, end):
    """Search [start, end) read through read_at(off, n); which needles hit, bytes read."""
    hits, done, off, tail = set(), 0, start, b""
    while off < end:
        n = min(CHUNK, end - off)
        try:
            buf = read_at(off, n)
        except OSError:
            # an unreadable page (guard, device memory): skip it
            off = (off + 4096) & ~4095
            tail = b""
            continue
        if not buf:
            break
        data = tail + buf
        for name, nd in needles.items():
            if nd in data:
                hits.add(name)
        tail = data[-OVERLAP:]
        off += len(buf)
        done += len(buf)
    return hits, done

def scan_file(path):
    with open(path, "rb") as f:
        def rd(off, n):
            f.seek(off)
            return f.read(n)
        return scan_stream(rd, 0, os.fstat(f.fileno()).st_size)

def scan_pid(pid):
    hits, total = set(), 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or m.group(3)[0] != "r" or line.rstrip().endswith("[vsyscall]"):
                continue
            def rd(off, n):
                mem.seek(off)
                return mem.read(n)
            h, n = scan_stream(rd, int(m.group(1), 16), int(m.group(2), 16))
            hits |= h
            total += n
    return hits, total

status = 0
for target in sys.argv[2:]:
    try:
        if target.startswith("pid:"):
            hits, n = scan_pid(int(target[4:]))
        elif os.path.isdir(target):
            hits, n = set(), 0
            for root, _, files in os.walk(target):
                for fn in files:
                    p = os.path.join(root, fn)
                    if os.path.isfile(p) and not os.path.islink(p):
                        h, k = scan_file(p)
                        hits |= h
                        n += k
        else:
            hits, n = scan_file(target)
    except OSError as e:
        print(f"{target} unreadable: {e}")
        status = max(status, 2)
        continue
    if n == 0:
        print(f"{target} unreadable: nothing read")
        status = max(status, 2)
    elif hits:
        print(f"{target} found {'|'.join(sorted(hits))} ({n} bytes)")
        status = max(status, 1)
    else:
        print(f"{target} clean ({n} bytes)")
sys.exit(status)
EOF
}

# no_key_in HEX TARGET...: scan_for finds nothing in any TARGET.
no_key_in() {
	local out rc=0
	out=$(scan_for "$@") || rc=$?
	sl_log "$out"
	[[ $rc -eq 0 ]]
}

# key_in FORMS HEX TARGET: scan_for finds the key in TARGET in each of
# FORMS ("raw hex": both).
key_in() {
	local forms=$1 out rc=0 f
	shift
	out=$(scan_for "$@") || rc=$?
	sl_log "$out"
	[[ $rc -eq 1 ]] || return 1
	for f in $forms; do
		[[ $out =~ found\ ([a-zA-Z|]*\|)?$f[\ \|] ]] || return 1
	done
}

sl_assert "the exchange answers on its control port ($SEALINE_EXCHANGE_CTL)" sl_exchange ping
sl_assert "no impairment on the exchange lines" sl_exchange noise "$TSP_NUMBER" flip=0 drop=0 insert=0

# ---------------------------------------------------------------- set up
tsp_setup vm-tsp-tamper

# ---------------------------------------------------------------- pairing
sl_assert "C calls B through the TSP" \
	timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
sl_assert "B's side is connected" sl_wait_for "B connected" 20 connected b
tsp_pair
sl_assert "C stored an LTK for B" sl_wait_for "C's LTK" 10 sh -c "grep -q '^ltk ' '$(state c)/peers/$ACCT_B'"
sl_assert "B stored an LTK for C" sl_wait_for "B's LTK" 10 sh -c "grep -q '^ltk ' '$(state b)/peers/$ACCT_A'"
LTK=$(ltk_of c "$ACCT_B")
sl_assert "the LTK is 32 bytes of hex" test "${#LTK}" -eq 64
sl_assert_eq "both ends hold the same LTK" "$LTK" "$(ltk_of b "$ACCT_A")"
sl_assert "C hangs up" "$SEALCTL" hangup ttyS4 --socket "$(sock c)"
sl_assert "B is idle again" sl_wait_for "B idle" 30 idle b
sl_assert "C is idle again" sl_wait_for "C idle" 30 idle c

# ---------------------------------------------------------------- LTK call
sl_assert "C calls B again" timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
sl_assert "the stored LTK keys the call" sl_wait_for "keyed" 30 both_keyed
sl_assert "B's side is connected" sl_wait_for "B connected" 20 connected b
VC=$(sl_vtty_of ttyS4)
VB=$(sl_vtty_of ttyS7)
stty -F "$VC" raw -echo
stty -F "$VB" raw -echo
sl_random_file "$D/clean" 65536
sl_assert "64 KiB C -> B byte-exact before any tampering" sl_transfer "$VC" "$VB" "$D/clean" 60

# ---------------------------------------------------------------- no key at the TSP
TPID=${PID[t]}
# positive controls: the scanner finds the key where it is
sl_assert "the scanner finds the LTK in C's peer record" key_in hex "$LTK" "$(state c)/peers"
python3 -c 'import sys, time; k = bytearray.fromhex(sys.argv[1]); sys.stdout.write("ready\n"); sys.stdout.flush(); time.sleep(120)' \
	"$LTK" >"$D/probe.out" &
PROBE=$!
BG+=("$PROBE")
sl_wait_for "probe process" 10 grep -q ready "$D/probe.out" || true
sl_assert "the scanner finds the LTK in a process that holds it" key_in "raw hex" "$LTK" "pid:$PROBE"
kill "$PROBE" 2>/dev/null || true
wait "$PROBE" 2>/dev/null || true

sl_assert "the call is up while the TSP is searched" connected c
sl_log "TSP state: $(find "$(state t)" -type f -printf '%p %s\n' | tr '\n' ' ')"
sl_assert "no LTK in the TSP's state directory" no_key_in "$LTK" "$(state t)"
for f in "$DB" "$DB-wal" "$DB-shm"; do
	[[ -e $f ]] || { sl_log "$f does not exist"; continue; }
	sl_assert "no LTK in $(basename "$f")" no_key_in "$LTK" "$f"
done
sl_assert "no LTK in the TSP's memory (pid $TPID)" no_key_in "$LTK" "pid:$TPID"
sl_assert "no LTK in the TSP's log" sh -c "! grep -qi '$LTK' '$D/t.log'"
"$SEALCTL" show --json >"$D/lines.json"
sl_log "sealine lines: $(jq -c '[.[] | {tty, state}]' "$D/lines.json")"
sl_assert "the endpoints' lines are sealine lines" \
	jq -e '[.[].tty] | (index("ttyS4") != null) and (index("ttyS7") != null)' "$D/lines.json"
sl_assert "the TSP holds no sealine line on ttyS5 or ttyS6" \
	jq -e '[.[].tty | select(test("ttyS[56]$"))] | length == 0' "$D/lines.json"
sl_assert_fails "sealctl show ttyS5: not a sealine line" "$SEALCTL" show ttyS5
sl_assert_fails "sealctl show ttyS6: not a sealine line" "$SEALCTL" show ttyS6

# ---------------------------------------------------------------- tampering
TB=$(sl_exchange_line_of "$TSP_NUMBER" 5552002-0) || true
sl_assert "the exchange names the TSP's line towards B ($TB)" test -n "$TB"
TC=$(sl_exchange_line_of "$TSP_NUMBER" 5551001-0) || true
sl_assert "and the TSP's line from C ($TC), another one" test -n "$TC" -a "$TC" != "$TB"

AUTH0=$(sl_stat ttyS7 auth_failures)
RES0=$(sl_stat ttyS7 resyncs)
BAD0=$(sl_stat ttyS7 malformed)
RX0=$(sl_stat ttyS7 rx_bytes)
RT0=$(sl_stat ttyS4 retransmits)
FLIPPED0=$(sl_exchange_field "$TB" flipped)
sl_assert "bit flips on what the TSP relays to B ($TB, $FLIP per million)" \
	sl_exchange noise "$TB" flip=$FLIP
sl_random_file "$D/noisy" "$NOISY"
timeout 240 head -c "$NOISY" <"$VB" >"$D/noisy.got" & reader=$!
BG+=("$reader")
sleep 0.3
socat -u "FILE:$D/noisy" "$VC,raw,echo=0"
wait "$reader" 2>/dev/null || true
sl_assert "noise off again" sl_exchange noise "$TB" flip=0
FLIPPED=$(( $(sl_exchange_field "$TB" flipped) - FLIPPED0 ))
GOT=$(stat -c %s "$D/noisy.got")
AUTH=$(( $(sl_stat ttyS7 auth_failures) - AUTH0 ))
RES=$(( $(sl_stat ttyS7 resyncs) - RES0 ))
BAD=$(( $(sl_stat ttyS7 malformed) - BAD0 ))
RX=$(( $(sl_stat ttyS7 rx_bytes) - RX0 ))
RT=$(( $(sl_stat ttyS4 retransmits) - RT0 ))
sl_log "tampering: exchange flipped $FLIPPED bits; B got $GOT of $NOISY bytes ($RX counted); auth failures +$AUTH, resyncs +$RES, malformed +$BAD; C sent $RT frames again"
sl_assert "the exchange did flip bits" test "$FLIPPED" -gt 0
sl_assert "B's kernel counts authentication failures" test "$AUTH" -gt 0
sl_assert "C sent the damaged frames again" test "$RT" -gt 0
sl_assert "B received exactly what C sent, nothing altered or missing" \
	cmp "$D/noisy" "$D/noisy.got"
sl_assert "the call survived the tampering" connected c
sl_assert "the line is still keyed" both_keyed

sl_flush_tty "$VB"
sl_random_file "$D/fresh" 65536
sl_assert "with the noise off a fresh 64 KiB C -> B is byte-exact" \
	sl_transfer "$VC" "$VB" "$D/fresh" 60
sl_random_file "$D/back" 65536
sl_assert "and 64 KiB B -> C too" sl_transfer "$VB" "$VC" "$D/back" 60
sl_assert "no authentication failure after the noise stopped" \
	test "$(( $(sl_stat ttyS7 auth_failures) - AUTH0 ))" -eq "$AUTH"

sl_assert "C hangs up" "$SEALCTL" hangup ttyS4 --socket "$(sock c)"
sl_assert "B is idle again" sl_wait_for "B idle" 30 idle b
sl_assert "C is idle again" sl_wait_for "C idle" 30 idle c
sl_assert "no LTK in the TSP's state after the call" no_key_in "$LTK" "$(state t)"
sl_check_dmesg
