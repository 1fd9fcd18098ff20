#!/bin/bash
# 50-netlink: the generic netlink contract of uapi/linux/sealine.h, driven
# through sealctl, nlprobe and ldattach as a user or an agent would:
#   - sealctl show (dump, one line, one field; text and JSON) reports what
#     the kernel holds; unknown lines, bad epochs (clash in the low 4 bits
#     with the current or previous key: EEXIST), activate with nothing
#     staged (ENOKEY) or another epoch (ESTALE) are refused;
#   - clear-keys returns a line to nokey: a non-blocking write gets EAGAIN,
#     a blocking one blocks, and nothing reaches the wire;
#   - without CAP_NET_ADMIN every command (dump included), set-key, the
#     events group and attaching the line discipline are refused (EPERM),
#     and change nothing;
#   - control channel: only the registered agent sends (EACCES for another
#     socket, ENOTCONN with no agent) and receives (an unregistered socket
#     in the events group sees nothing), byte-exact, also with no key;
#     on the wire control messages travel only inside CRC-checked COBS
#     frames, as many as control_tx/control_rx count; 0 and
#     SEALINE_MAX_CONTROL+1 bytes are refused; a message with no agent
#     is counted as a drop; when the agent's socket closes the line's keys
#     are wiped (fail-closed);
#   - sealctl monitor reports line_up/line_down on attach/detach, and
#     filters by line.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

NLPROBE=$SEALINE_ROOT/build/bin/nlprobe
t=$(mktemp -d)
chmod 755 "$t"
PERM_MSG='permission denied: sealctl needs CAP_NET_ADMIN'
BG_PIDS=()

cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	return 0
}
trap 'rc_=$?; cleanup; (exit "$rc_"); _sl_on_exit' EXIT

[[ -x $SEALCTL && -x $NLPROBE ]] || sl_die "build the agent first (make -C agent)"
command -v python3 >/dev/null || sl_die "python3 is needed to decode the wire capture"

# capture CMD...: run CMD; sets rc, out (stdout) and err (stderr).
capture() {
	rc=0
	out=$("$@" 2>"$t/stderr") || rc=$?
	err=$(<"$t/stderr")
}

# expect_fail DESC STATUS ERE CMD...: a check that CMD exits with STATUS
# and says something matching ERE on stderr.
expect_fail() {
	local desc=$1 want=$2 pat=$3
	shift 3
	capture "$@"
	if [[ $rc -eq $want ]] && grep -Eq -- "$pat" <<<"$err"; then
		sl_pass "$desc"
	else
		sl_fail "$desc (status $rc, wanted $want and /$pat/; stderr: ${err:0:300})"
	fi
}

field() { "$SEALCTL" show "$1" "$2"; }

# nonblock_write VTTY: one byte with O_NONBLOCK; prints dd's complaint.
nonblock_write() {
	local rc=0
	timeout 5 dd if=/dev/zero of="$1" bs=1 count=1 oflag=nonblock \
		status=none 2>"$t/dd.err" || rc=$?
	cat "$t/dd.err" >&2
	return "$rc"
}

# hex FILE: the file as one line of lower-case hex.
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# ---------------------------------------------------------------- no module
sl_unload_module || sl_die "sealine is loaded and busy (left over from an earlier test?)"
expect_fail "sealctl without the module says it is not loaded" 1 \
	'module not loaded' "$SEALCTL" show

sl_drain_wire || sl_log "sl_wire drain did not answer"
sl_setup_lines
sl_load_module || sl_die "cannot load sealine.ko"

# ---------------------------------------------------------------- monitors
"$SEALCTL" monitor --json >"$t/mon.json" 2>"$t/mon.err" &
mon=$!
BG_PIDS+=("$mon")
"$SEALCTL" monitor ttyS2 >"$t/mon2.txt" 2>"$t/mon2.err" &
mon2=$!
BG_PIDS+=("$mon2")
if sl_wait_for "monitors joined the events group" 10 \
	sh -c "$(declare -f sl_nl_subscribed); sl_nl_subscribed $mon && sl_nl_subscribed $mon2"; then
	sl_log "both monitors are in the events group"
else
	# the group id may be above 31, which /proc/net/netlink does not show
	sl_log "cannot see the monitors' membership; giving them 2 s"
	sleep 2
fi

# ---------------------------------------------------------------- nobody attaches
owner=$(stat -c %u:%g "$SL_TTY_A")
mode=$(stat -c %a "$SL_TTY_A")
chown "$SL_NOBODY_UID:$SL_NOBODY_GID" "$SL_TTY_A"
sl_assert "nobody may open and configure $SL_TTY_A it owns" \
	sl_as_nobody stty -F "$SL_TTY_A" raw -echo clocal 115200
expect_fail "nobody cannot attach sealine (EPERM from the ldisc open)" 1 \
	'cannot set line discipline: Operation not permitted' \
	sl_as_nobody timeout 10 ldattach -s 115200 29 "$SL_TTY_A"
sl_assert "$SL_TTY_A still runs N_TTY after nobody's attempt" \
	grep -q 'line = 0;' <<<"$(stty -F "$SL_TTY_A" -a)"
sl_assert_eq "no line attached after nobody's attempt" 0 \
	"$("$SEALCTL" show --json | jq length)"
chown "$owner" "$SL_TTY_A"
chmod "$mode" "$SL_TTY_A"

# ---------------------------------------------------------------- attach
sl_attach "$SL_TTY_A" || sl_die "ldattach on $SL_TTY_A failed"
sl_assert "monitor saw line_up for $SL_TTY_A" sl_wait_for "line_up ttyS1" 5 \
	grep -q '"event": "line_up".*"tty": "ttyS1"' "$t/mon.json"

# an unregistered socket in the events group: sees events, never control
"$NLPROBE" listen-unregistered "$SL_TTY_A" --ready-file "$t/leak.ready" \
	>"$t/leak.out" 2>"$t/leak.err" &
leak=$!
BG_PIDS+=("$leak")
sl_wait_for "listen-unregistered ready" 10 test -e "$t/leak.ready" ||
	sl_die "nlprobe listen-unregistered did not start: $(cat "$t/leak.err")"

sl_attach "$SL_TTY_B" || sl_die "ldattach on $SL_TTY_B failed"
SL_VTTY_A=$(sl_vtty_of "$SL_TTY_A")
SL_VTTY_B=$(sl_vtty_of "$SL_TTY_B")
sl_wait_for "virtual ttys" 5 test -c "$SL_VTTY_A" -a -c "$SL_VTTY_B" ||
	sl_die "virtual ttys did not appear"
stty -F "$SL_VTTY_A" raw -echo
stty -F "$SL_VTTY_B" raw -echo
sl_assert "the unregistered listener receives events (line_up of ttyS2)" \
	sl_wait_for "listener saw line_up" 5 grep -q 'event line_up index=1 tty=ttyS2' "$t/leak.err"

# ---------------------------------------------------------------- show
capture "$SEALCTL" show
sl_assert "show lists line 0 on ttyS1" grep -q '^line 0: /dev/ttySL0 on ttyS1' <<<"$out"
sl_assert "show lists line 1 on ttyS2" grep -q '^line 1: /dev/ttySL1 on ttyS2' <<<"$out"
sl_assert "show --json dump: two lines, both nokey" jq -e \
	'length == 2 and .[0].tty == "ttyS1" and .[0].index == 0 and
	 .[1].tty == "ttyS2" and .[1].index == 1 and
	 all(.[]; .state == "nokey" and .key_epoch == null)' \
	<<<"$("$SEALCTL" show --json)"
sl_assert "show LINE --json: one flat object" jq -e \
	'.index == 0 and .vtty == "/dev/ttySL0" and .tty == "ttyS1" and
	 .state == "nokey" and .cipher == "none" and .key_epoch == null and
	 .staged_epoch == null and .agent_portid == null and .tx_frames == 0 and
	 .control_tx == 0' <<<"$("$SEALCTL" show "$SL_TTY_A" --json)"
sl_assert_eq "show ttyS1 state" nokey "$(field ttyS1 state)"
sl_assert_eq "show by virtual tty path" 1 "$(field "$SL_VTTY_B" index)"
sl_assert_eq "show by virtual tty name" ttyS2 "$(field ttySL1 tty)"
sl_assert_eq "show FIELD vtty" /dev/ttySL0 "$(field /dev/ttyS1 vtty)"
sl_assert_eq "absent field is none" none "$(field ttyS1 key_epoch)"
sl_assert_eq "absent field is JSON null" null "$("$SEALCTL" show ttyS1 key_epoch --json)"
sl_assert_eq "field as JSON string" '"nokey"' "$("$SEALCTL" show ttyS1 state --json)"
expect_fail "unknown FIELD is a usage error" 2 'bogus' "$SEALCTL" show ttyS1 bogus

# ---------------------------------------------------------------- unknown lines
expect_fail "show of an unattached tty fails" 1 'no such line' "$SEALCTL" show ttyS3
expect_fail "show of an unused ttySL index fails" 1 'no such line' "$SEALCTL" show ttySL7
expect_fail "clear-keys of an unattached tty fails" 1 'no such line' \
	"$SEALCTL" clear-keys ttyS3
expect_fail "activate on an unattached tty fails" 1 'no such line' \
	"$SEALCTL" activate ttyS3 --epoch 1
sl_assert_eq "raw get_line of an unattached tty: ENODEV" ENODEV \
	"$("$NLPROBE" raw get_line --line ttyS3 2>/dev/null || true)"

# ---------------------------------------------------------------- control channel
# No key anywhere: control messages must still flow.
"$NLPROBE" register "$SL_TTY_A" --count 3 --timeout 60 --ready-file "$t/a.ready" \
	>"$t/a.out" 2>"$t/a.err" &
agent_a=$!
BG_PIDS+=("$agent_a")
sl_wait_for "agent on A registered" 10 test -e "$t/a.ready" ||
	sl_die "nlprobe register did not start: $(cat "$t/a.err")"
portid=$(sed -n 's/.*registered as the agent of .* (portid \([0-9]*\)).*/\1/p' "$t/a.err")
sl_assert_eq "agent_portid is the registered socket's port id" "${portid:-?}" \
	"$(field ttyS1 agent_portid)"

expect_fail "another socket cannot send on a line with an agent: EACCES" 1 \
	'EACCES' "$NLPROBE" send "$SL_TTY_A" 0102 --no-register
expect_fail "nobody can send on a line without an agent: ENOTCONN" 1 \
	'ENOTCONN' "$NLPROBE" send "$SL_TTY_B" 0102 --no-register
sl_assert_eq "refused sends put nothing on the line" "0 0" \
	"$(field ttyS1 control_tx) $(field ttyS2 control_tx)"

# three messages B -> A: plain, full of zeros (COBS must escape them) and
# the largest allowed
printf '\xde\xad\xbe\xef' >"$t/m1"
printf '\x00\xff\x00\x00\xff\x00' >"$t/m2"
head -c 2048 /dev/urandom >"$t/m3"
wire_off=$(stat -c %s "$SL_OUT/b2a.raw" 2>/dev/null || echo 0)
for m in m1 m2 m3; do
	sl_assert "registered agent on B sends $m ($(stat -c %s "$t/$m") bytes)" \
		"$NLPROBE" send "$SL_TTY_B" "$(hex "$t/$m")"
done
rc=0
wait "$agent_a" || rc=$?
sl_assert_eq "A's agent got 3 messages (nlprobe status)" 0 "$rc"
{ hex "$t/m1"; echo; hex "$t/m2"; echo; hex "$t/m3"; echo; } >"$t/want"
sl_assert "A's agent received exactly the bytes sent" cmp -s "$t/want" "$t/a.out"
sl_assert_eq "B control_tx" 3 "$(field ttyS2 control_tx)"
sl_assert_eq "A control_rx" 3 "$(field ttyS1 control_rx)"
sl_assert_eq "A control_drops" 0 "$(field ttyS1 control_drops)"
sl_assert_eq "A malformed" 0 "$(field ttyS1 malformed)"
sl_assert_eq "control frames are not data frames (B tx_frames)" 0 "$(field ttyS2 tx_frames)"

# What the wire carried from B to A, as sealine-wire delivered it
# (b2a.raw): COBS frames with 0x00 delimiters; decoded, control frames are
# header 0x50, the message, CRC-32 (little endian) of both. (QEMU's own
# capture wireB.raw is not used: it logs some bytes twice when the socket
# chardev backs up.)
cat >"$t/frames.py" <<'EOF'
import sys, zlib

def cobs_decode(b):
    out, i = bytearray(), 0
    while i < len(b):
        code = b[i]
        if code == 0 or i + code > len(b):
            raise ValueError("bad COBS")
        out += b[i + 1:i + code]
        i += code
        if code < 0xff and i < len(b):
            out.append(0)
    return bytes(out)

data = open(sys.argv[1], "rb").read()[int(sys.argv[2]):]
ctl = other = bad = 0
for chunk in data.split(b"\0"):
    if not chunk:
        continue
    try:
        f = cobs_decode(chunk)
    except ValueError:
        bad += 1
        continue
    if len(f) >= 6 and f[0] == 0x50 and \
            zlib.crc32(f[:-4]) == int.from_bytes(f[-4:], "little"):
        ctl += 1
        print(f[1:-4].hex())
    else:
        other += 1
print("ctl=%d other=%d bad=%d" % (ctl, other, bad), file=sys.stderr)
EOF
python3 "$t/frames.py" "$SL_OUT/b2a.raw" "$wire_off" >"$t/frames.out" 2>"$t/frames.err" || true
sl_log "b2a.raw from byte $wire_off: $(cat "$t/frames.err")"
sl_assert "wire B->A: exactly the 3 messages, each in one CRC-checked COBS frame" \
	cmp -s "$t/want" "$t/frames.out"
sl_assert "wire B->A: nothing but those 3 frames (= control_tx), no bad COBS" \
	grep -qx 'ctl=3 other=0 bad=0' "$t/frames.err"
sl_assert "the zero-filled message is not on the wire as is (COBS)" \
	python3 -c 'import sys; d = open(sys.argv[1], "rb").read()[int(sys.argv[2]):]
sys.exit(b"\xff\x00\x00\xff" in d)' "$SL_OUT/b2a.raw" "$wire_off"

# the listener never saw a control message
kill "$leak"
rc=0
wait "$leak" || rc=$?
sl_assert_eq "listen-unregistered exits 0 (no leak)" 0 "$rc"
sl_assert_eq "listen-unregistered printed no control message" "" "$(cat "$t/leak.out")"
sl_assert "listen-unregistered reported no leak" sh -c "! grep -q LEAK '$t/leak.err'"

# sizes: 0 and SEALINE_MAX_CONTROL + 1 are refused and send nothing
head -c 2049 /dev/urandom >"$t/m2049"
expect_fail "a control message of 2049 bytes is refused" 1 'send' \
	"$NLPROBE" send "$SL_TTY_B" "$(hex "$t/m2049")"
expect_fail "an empty control message is refused" 1 'send' \
	"$NLPROBE" send "$SL_TTY_B" ""
# A's agent is gone now: a message that does arrive is dropped and counted
sl_assert "one more message B -> A with no agent on A" \
	"$NLPROBE" send "$SL_TTY_B" 0a0b0c
sl_wait_for "A counts a control drop" 5 sl_field_is ttyS1 control_drops 1 || true
sl_assert_eq "refused messages never left B (control_tx)" 4 "$(field ttyS2 control_tx)"
sl_assert_eq "message without an agent on A: control_drops" 1 "$(field ttyS1 control_drops)"
sl_assert_eq "and not delivered (control_rx)" 3 "$(field ttyS1 control_rx)"

# ---------------------------------------------------------------- agent exit wipes keys
sl_assert "keys installed and activated (epoch 1)" sl_pair_key 1
"$NLPROBE" register "$SL_TTY_A" --ready-file "$t/a2.ready" >/dev/null 2>"$t/a2.err" &
agent_a=$!
BG_PIDS+=("$agent_a")
sl_wait_for "agent on A registered" 10 test -e "$t/a2.ready" || true
sl_assert_eq "A keyed under an agent" keyed "$(field ttyS1 state)"
sl_assert "A has an agent" sh -c "[ \"\$('$SEALCTL' show ttyS1 agent_portid)\" != none ]"
kill "$agent_a"
wait "$agent_a" || true
sl_assert "the agent's exit wipes A's keys (nokey)" \
	sl_wait_for "A nokey" 5 sl_field_is ttyS1 state nokey
sl_assert_eq "no agent left on A" none "$(field ttyS1 agent_portid)"
sl_assert_eq "no key epoch left on A" none "$(field ttyS1 key_epoch)"
sl_assert_eq "B (no agent, nothing registered) keeps its keys" keyed "$(field ttyS2 state)"
expect_fail "A's virtual tty refuses writes after the wipe (EAGAIN)" 1 \
	'Resource temporarily unavailable' nonblock_write "$SL_VTTY_A"

# ---------------------------------------------------------------- keys and epochs
expect_fail "activate with nothing staged: ENOKEY" 1 'no key is staged' \
	"$SEALCTL" activate ttyS1 --epoch 1
sl_assert "sealctl clear-keys B" "$SEALCTL" clear-keys ttyS2
sl_assert "keys installed and activated again (epoch 1)" sl_pair_key 1
capture nonblock_write "$SL_VTTY_A"
sl_assert_eq "a keyed line takes a non-blocking write" 0 "$rc"

umask 077
"$SEALCTL" genkey >"$t/k1"
"$SEALCTL" genkey >"$t/k2"
expect_fail "epoch 17 clashes with current epoch 1 (low 4 bits): EEXIST" 1 \
	'epoch clashes' "$SEALCTL" set-key ttyS1 --epoch 17 --tx "$t/k1" --rx "$t/k2"
expect_fail "epoch 1 again clashes with the current key" 1 'epoch clashes' \
	"$SEALCTL" set-key ttyS1 --epoch 1 --tx "$t/k1" --rx "$t/k2"
sl_assert_eq "nothing staged after the clashes" none "$(field ttyS1 staged_epoch)"
sl_assert "epoch 2 stages on A" "$SEALCTL" set-key ttyS1 --epoch 2 --tx "$t/k1" --rx "$t/k2"
sl_assert "epoch 2 stages on B" "$SEALCTL" set-key ttyS2 --epoch 2 --tx "$t/k2" --rx "$t/k1"
sl_assert_eq "A staged_epoch" 2 "$(field ttyS1 staged_epoch)"
expect_fail "activate another epoch than the staged one: ESTALE" 1 \
	'different epoch' "$SEALCTL" activate ttyS1 --epoch 3
sl_assert_eq "A still on epoch 1 after ESTALE" "1 2" \
	"$(field ttyS1 key_epoch) $(field ttyS1 staged_epoch)"
rekeys=$(field ttyS1 rekeys)
sl_assert "activate epoch 2 on A" "$SEALCTL" activate ttyS1 --epoch 2
sl_assert "B follows A to epoch 2" sl_wait_for "B on epoch 2" 10 sl_field_is ttyS2 key_epoch 2
# current 2, previous 1
expect_fail "epoch 33 clashes with previous epoch 1: EEXIST" 1 'epoch clashes' \
	"$SEALCTL" set-key ttyS1 --epoch 33 --tx "$t/k2" --rx "$t/k1"
expect_fail "epoch 18 clashes with current epoch 2: EEXIST" 1 'epoch clashes' \
	"$SEALCTL" set-key ttyS1 --epoch 18 --tx "$t/k2" --rx "$t/k1"
sl_assert "epoch 19 (low bits 3) stages" \
	"$SEALCTL" set-key ttyS1 --epoch 19 --tx "$t/k2" --rx "$t/k1"
sl_assert_eq "A: current 2, staged 19, one more rekey" "2 19 $((rekeys + 1))" \
	"$(field ttyS1 key_epoch) $(field ttyS1 staged_epoch) $(field ttyS1 rekeys)"

# data flows on epoch 2 (so the fail-closed checks below can fail)
printf 'netlink-test-%s\n' {1..20} >"$t/data"
sl_assert "data A -> B under epoch 2" sl_transfer "$SL_VTTY_A" "$SL_VTTY_B" "$t/data" 20

# ---------------------------------------------------------------- unprivileged
mkdir -p "$t/nb"
chmod 755 "$t/nb"
"$SEALCTL" genkey >"$t/nb/tx"
"$SEALCTL" genkey >"$t/nb/rx"
chmod 644 "$t/nb/tx" "$t/nb/rx"
capture sl_as_nobody "$SEALCTL" genkey
sl_assert "nobody can run sealctl (genkey needs no privilege)" \
	grep -Eqx '[0-9a-f]{64}' <<<"$out"
expect_fail "nobody: show (dump) EPERM" 1 "$PERM_MSG" sl_as_nobody "$SEALCTL" show
expect_fail "nobody: show --json EPERM" 1 "$PERM_MSG" sl_as_nobody "$SEALCTL" show --json
expect_fail "nobody: show LINE EPERM" 1 "$PERM_MSG" sl_as_nobody "$SEALCTL" show ttyS1
expect_fail "nobody: show LINE FIELD EPERM" 1 "$PERM_MSG" \
	sl_as_nobody "$SEALCTL" show ttyS1 state
expect_fail "nobody: set-key EPERM" 1 "$PERM_MSG" sl_as_nobody "$SEALCTL" \
	set-key ttyS1 --epoch 4 --tx "$t/nb/tx" --rx "$t/nb/rx"
expect_fail "nobody: set-key --activate EPERM" 1 "$PERM_MSG" sl_as_nobody "$SEALCTL" \
	set-key ttyS2 --epoch 4 --tx "$t/nb/tx" --rx "$t/nb/rx" --activate
expect_fail "nobody: activate EPERM" 1 "$PERM_MSG" \
	sl_as_nobody "$SEALCTL" activate ttyS1 --epoch 19
expect_fail "nobody: clear-keys EPERM" 1 "$PERM_MSG" \
	sl_as_nobody "$SEALCTL" clear-keys ttyS1
expect_fail "nobody: monitor cannot join the events group (EPERM)" 1 "$PERM_MSG" \
	sl_as_nobody timeout 10 "$SEALCTL" monitor
expect_fail "nobody: monitor LINE EPERM" 1 "$PERM_MSG" \
	sl_as_nobody timeout 10 "$SEALCTL" monitor ttyS1
for cmd in get_line set_key activate_key clear_keys register_agent send_control; do
	sl_assert_eq "nobody: raw $cmd --line ttyS1 is EPERM" EPERM \
		"$(sl_as_nobody "$NLPROBE" raw "$cmd" --line ttyS1 2>/dev/null || true)"
done
sl_assert_eq "nobody: raw get_line --dump is EPERM" EPERM \
	"$(sl_as_nobody "$NLPROBE" raw get_line --dump 2>/dev/null || true)"
sl_assert_eq "root: raw get_line --dump is ok" ok "$("$NLPROBE" raw get_line --dump 2>/dev/null || true)"
expect_fail "nobody: nlprobe register EPERM" 1 EPERM \
	sl_as_nobody timeout 10 "$NLPROBE" register ttyS1 --timeout 2
expect_fail "nobody: nlprobe send EPERM" 1 EPERM \
	sl_as_nobody "$NLPROBE" send ttyS1 0102 --no-register
sl_assert_eq "nobody changed nothing: A current 2, staged 19, keyed, no agent" \
	"2 19 keyed none" \
	"$(field ttyS1 key_epoch) $(field ttyS1 staged_epoch) $(field ttyS1 state) $(field ttyS1 agent_portid)"
sl_assert_eq "nobody changed nothing: B current 2, nothing staged" "2 none" \
	"$(field ttyS2 key_epoch) $(field ttyS2 staged_epoch)"

# ---------------------------------------------------------------- clear-keys
tx_wire=$(field ttyS1 tx_wire_bytes)
sl_assert "sealctl clear-keys A" "$SEALCTL" clear-keys ttyS1
sl_assert_eq "A back to nokey, no key, nothing staged" "nokey none none" \
	"$(field ttyS1 state) $(field ttyS1 key_epoch) $(field ttyS1 staged_epoch)"
expect_fail "non-blocking write after clear-keys: EAGAIN" 1 \
	'Resource temporarily unavailable' nonblock_write "$SL_VTTY_A"
rc=0
timeout 3 dd if="$t/data" of="$SL_VTTY_A" bs=64 count=1 status=none 2>/dev/null || rc=$?
sl_assert_eq "blocking write after clear-keys blocks (killed by timeout)" 124 "$rc"
sleep 0.5
sl_assert_eq "nothing reached the wire after clear-keys" "$tx_wire" "$(field ttyS1 tx_wire_bytes)"
sl_assert_eq "B is still keyed (clear-keys is per line)" keyed "$(field ttyS2 state)"

# ---------------------------------------------------------------- detach
for pid in "${SL_LDATTACH_PIDS[@]}"; do
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
SL_LDATTACH_PIDS=()
sl_assert "monitor saw line_down for ttyS2" sl_wait_for "line_down ttyS2" 5 \
	grep -q '"event": "line_down".*"tty": "ttyS2"' "$t/mon.json"
sl_assert_eq "no line left after detach" 0 "$("$SEALCTL" show --json | jq length)"
kill "$mon" "$mon2"
rc=0
wait "$mon" || rc=$?
sl_assert_eq "monitor exits 0 on SIGTERM" 0 "$rc"
rc=0
wait "$mon2" || rc=$?
sl_assert_eq "monitor LINE exits 0 on SIGTERM" 0 "$rc"
sl_log "monitor --json:"
cat "$t/mon.json"
sl_log "monitor ttyS2:"
cat "$t/mon2.txt"
sl_assert_eq "monitor: exactly up A, up B, down A, down B" \
	'line_up ttyS1 0 /dev/ttySL0,line_up ttyS2 1 /dev/ttySL1,line_down ttyS1 0 /dev/ttySL0,line_down ttyS2 1 /dev/ttySL1' \
	"$(jq -r '"\(.event) \(.tty) \(.index) \(.vtty)"' "$t/mon.json" | paste -sd,)"
sl_assert_eq "monitor ttyS2 shows only ttyS2's events" \
	'line_up index=1 vtty=/dev/ttySL1 tty=ttyS2,line_down index=1 vtty=/dev/ttySL1 tty=ttyS2' \
	"$(paste -sd, "$t/mon2.txt")"

sl_unload_module || sl_fail "rmmod sealine"
sl_check_dmesg
rm -rf "$t"
