#!/bin/bash
# 64-vtty-lifetime: what the virtual tty and the line owe their users when
# keys go, lines go and users come back:
#   - SET_KEY with equal transmit and receive keys is refused (EINVAL,
#     "transmit and receive keys are equal") and stages nothing;
#   - CLEAR_KEYS wakes a tcdrain() that waits for plaintext queued under
#     an expired key (it returns at once instead of never), and so does
#     the registered agent's socket closing;
#   - a hangup of the virtual tty wipes what its user queued: the next
#     user's new key never carries it to the peer;
#   - a new line at a reused index starts in cooked mode (the previous
#     line's user left it raw); within a line, "stty raw" persists;
#   - reopening a virtual tty held open across its line's detach fails
#     with ENODEV, and the tty core finds the port count balanced (no
#     "bad port count" / "port count" complaint);
#   - REGISTER_AGENT names a live line only.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

PROBE=$SEALINE_ROOT/tests/vm/ttyprobe.py
NLPROBE=$SEALINE_ROOT/tests/vm/nlprobe
export SEALCTL SL_KEYDIR
t=$(mktemp -d)
BG_PIDS=()
cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	sl_wire pace 0 >/dev/null 2>&1 || true
	return 0
}
trap 'rc_=$?; cleanup; (exit "$rc_"); _sl_on_exit' EXIT

field() { "$SEALCTL" show "$1" "$2"; }
keys() { # NAME: two fresh keys in $t/NAME.tx, $t/NAME.rx
	umask 077
	"$SEALCTL" genkey >"$t/$1.tx"
	"$SEALCTL" genkey >"$t/$1.rx"
}

sl_drain_wire || true
# A key is refused 8 s after its activation; plaintext written in those
# 8 s while A's UART is stopped (TCOOFF) is still queued then, and stays
# once the UART runs again.
# (A message limit would not do: the transmit work seals each 2 KiB chunk
# N_TTY hands over before the next comes, and the frame that reaches the
# limit closes the FIFO behind it.)
LIMITS=(rekey_after_seconds=1 reject_after_seconds=8)
sl_pair_up "${LIMITS[@]}"

# ---------------------------------------------------------------- equal keys
# (sealctl refuses such keys itself: ask the kernel directly)
rc=0
out=$("$NLPROBE" raw set_key --line "$SL_TTY_A" --keys same 2>&1) || rc=$?
sl_log "SET_KEY with tx = rx: status $rc: $out"
sl_assert "SET_KEY with equal tx and rx keys is refused with EINVAL" grep -q '^EINVAL' <<<"$out"
sl_assert "and the kernel says why" grep -q 'transmit and receive keys are equal' <<<"$out"
sl_assert_eq "nothing staged after the refusal" none "$(field "$SL_TTY_A" staged_epoch)"
sl_assert_eq "SET_KEY with different keys is taken" ok \
	"$("$NLPROBE" raw set_key --line "$SL_TTY_A" --keys differ 2>/dev/null)"
"$SEALCTL" clear-keys "$SL_TTY_A"

# ---------------------------------------------------------------- tcdrain
# A alone keyed, A's UART stopped: 8 KiB written, two frames go to the
# UART's buffer, the rest waits in the FIFO; 8 s in, the key expires, the
# UART restarts and the frame in flight leaves, and the FIFO's 4 KiB
# stay: tcdrain() waits on them until CMD. If the probe came too late
# (the key had expired), try again.
# stuck_tcdrain CMD...: prints the probe's last verdict
epoch=0
stuck_tcdrain() {
	local out try
	for try in 1 2 3 4 5 6; do
		epoch=$((epoch + 1))
		keys "e$epoch"
		"$SEALCTL" set-key "$SL_TTY_A" --epoch "$epoch" --tx "$t/e$epoch.tx" \
			--rx "$t/e$epoch.rx" --activate >/dev/null
		out=$(TTYPROBE_STOP=$SL_TTY_A TTYPROBE_WAIT=10 timeout 60 \
			python3 "$PROBE" tcdrain "$SL_VTTY_A" 8192 8 -- "$@" 2>&1) || true
		[[ $out == *"nothing was stuck"* ]] || break
	done
	echo "$out (try $try)"
}
out=$(stuck_tcdrain "$SEALCTL" clear-keys "$SL_TTY_A")
sl_log "tcdrain across CLEAR_KEYS: $out"
sl_assert "CLEAR_KEYS: a tcdrain() waiting on queued plaintext returns" \
	grep -q 'returned=yes' <<<"$out"
sl_assert_eq "CLEAR_KEYS: state nokey" nokey "$(field "$SL_TTY_A" state)"

# the agent (the probe runs the command only once something is stuck)
"$NLPROBE" register "$SL_TTY_A" --ready-file "$t/agent.ready" >/dev/null 2>"$t/agent.err" &
agent=$!
BG_PIDS+=("$agent")
sl_wait_for "agent registered" 10 test -e "$t/agent.ready" || sl_die "nlprobe register: $(cat "$t/agent.err")"
out=$(stuck_tcdrain kill "$agent")
sl_log "tcdrain across the agent's exit: $out"
sl_assert "agent exit: a tcdrain() waiting on queued plaintext returns" \
	grep -q 'returned=yes' <<<"$out"
wait "$agent" 2>/dev/null || true
sl_pair_down

# ---------------------------------------------------------------- hangup wipes
sl_drain_wire || true
sl_pair_up "${LIMITS[@]}"
sl_assert "keys installed and activated (epoch 1)" sl_pair_key 1
exec {rd}<"$SL_VTTY_B"
cat <&"$rd" >"$t/b.got" &
BG_PIDS+=($!)
# the wire slow: two frames of filler go to the UART, a third waits in
# flight, and the secret behind it is still queued on A when the key
# expires (8 s after its activation) and when the virtual tty hangs up
# (again N_TTY's two chunks race the first frame: retry until the secret
# got queued)
for try in 1 2 3 4 5 6; do
	sl_wire pace 1200 >/dev/null
	got=$(python3 - "$SL_VTTY_A" <<'EOF'
import fcntl, os, sys, time, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
tty.setraw(fd)
msg = b"f" * 6144 + b"SECRET-OF-THE-FIRST-USER" * 10
try:
    n = os.write(fd, msg)
except BlockingIOError:
    n = 0
time.sleep(10)
fcntl.ioctl(fd, 0x5437, 0)  # TIOCVHANGUP: the port shuts down
print("queued" if n == len(msg) else "sent")
EOF
)
	sl_wire pace 0 >/dev/null
	[[ $got == queued ]] && break
	sl_assert "re-key A and B (epoch $((try + 1)))" sl_pair_key $((try + 1))
done
sl_log "the secret was queued behind an expired key on try $try: $got"
sl_assert_eq "hangup: the secret was queued when the key expired" queued "$got"
sl_assert_eq "hangup: A's key had expired" expired "$(field "$SL_TTY_A" state)"
keys h2
"$SEALCTL" set-key "$SL_TTY_A" --epoch 9 --tx "$t/h2.tx" --rx "$t/h2.rx"
"$SEALCTL" set-key "$SL_TTY_B" --epoch 9 --tx "$t/h2.rx" --rx "$t/h2.tx"
"$SEALCTL" activate "$SL_TTY_A" --epoch 9
sleep 3
sl_log "B received $(stat -c %s "$t/b.got") bytes"
sl_assert "hangup: the first user's queued plaintext never reaches B" \
	sh -c "! grep -q SECRET-OF-THE-FIRST-USER '$t/b.got'"
exec {rd}<&-

# ---------------------------------------------------------------- termios
stty -F "$SL_VTTY_A" raw -echo
sl_assert "stty raw persists between opens of one line" \
	sh -c "stty -F '$SL_VTTY_A' -a | grep -q -- '-icanon'"
sl_pair_down
sl_drain_wire || true
sl_setup_lines
sl_load_module
sl_attach "$SL_TTY_A"
sl_assert_eq "the new line reuses index 0" 0 "$(field "$SL_TTY_A" index)"
sl_wait_for "ttySL0" 5 test -c /dev/ttySL0 || true
modes=$(stty -F /dev/ttySL0 -a)
sl_log "modes of a fresh ttySL0: $(tr '\n' ' ' <<<"$modes")"
sl_assert "a new line starts in cooked mode (icanon)" grep -Eq '(^| )icanon' <<<"$modes"
sl_assert "a new line starts with echo" grep -Eq '(^| )echo( |$)' <<<"$modes"
sl_pair_down

# ---------------------------------------------------------------- reopen held
sl_drain_wire || true
sl_pair_up
mark=$(dmesg | wc -l)
out=$(timeout 30 python3 "$PROBE" reopen-held "$SL_VTTY_A" -- kill "${SL_LDATTACH_PIDS[0]}" 2>&1) || true
wait "${SL_LDATTACH_PIDS[0]}" 2>/dev/null || true
sl_log "reopen of a held ttySL after its detach: $out"
sl_assert_eq "reopening a detached line's held vtty fails with ENODEV" ENODEV "$out"
bad=$(dmesg | tail -n +"$((mark + 1))" | grep -E 'port count' || true)
sl_assert_eq "the tty core found the port count balanced" "" "$bad"

# ---------------------------------------------------------------- dead line
rc=0
out=$("$NLPROBE" raw register_agent --line "$SL_TTY_A" 2>&1) || rc=$?
sl_assert "REGISTER_AGENT on a detached line fails ($out)" test "$rc" -ne 0
sl_pair_down
sl_check_dmesg
rm -rf "$t"
