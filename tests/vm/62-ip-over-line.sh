#!/bin/bash
# 62-ip-over-line: the line disciplines that write to a tty from softirq
# and with interrupts off run over /dev/ttySL<n> without a deadlock or a
# lockdep report (on vm-run --debug-kernel: PROVE_LOCKING):
#   - PPP (pppd, ppp_async: its tasklet writes to the virtual tty): B's end
#     in a network namespace, TCP bulk both ways at once (byte-exact) with
#     a ping flood both ways;
#   - SLIP (slattach, slip: writes from the network stack's softirq): the
#     same traffic over sl0/sl1;
#   - n_gsm (the mux initiator, set up by tests/vm/ttyprobe.py gsm): its
#     T1 timer retransmits SABM frames, written to the virtual tty from a
#     timer with interrupts off.
# Before the locking fix, the debug kernel reports "inconsistent lock
# state" / an irq lock inversion on line->lock within seconds of PPP.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

t=$(mktemp -d)
NS=slpeer
BG_PIDS=()
# lockdep and KASAN judge each lock and access the first times they are
# used, in every context: 8 s of floods on the debug kernel (3-6 times
# slower) run every path as often as 20 s do on Debian's
if [[ ${SEALINE_DEBUG_KERNEL:-0} == 1 ]]; then
	TRAFFIC_SECS=${SL_IP_TRAFFIC_SECS:-8}
else
	TRAFFIC_SECS=${SL_IP_TRAFFIC_SECS:-20}
fi
BULK=${SL_IP_BULK_BYTES:-65536}

cleanup() {
	local pid
	for pid in "${BG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	sleep 0.5
	for pid in "${BG_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	return 0
}
trap 'rc_=$?; cleanup; (exit "$rc_"); _sl_on_exit' EXIT

in_ns() { ip netns exec "$NS" "$@"; }

# bulk_both LOCAL_IP PEER_IP PORT LABEL: BULK random bytes each way at once
# over TCP, with a ping flood each way during it (small pings: at 100 a
# second they would fill the line by themselves and starve TCP's SYNs);
# checks byte-exactness.
bulk_both() {
	local lip=$1 pip=$2 port=$3 label=$4 s1 s2 c1 c2 p1 p2 rc=0
	local limit=$((TRAFFIC_SECS * 10))
	head -c "$BULK" /dev/urandom >"$t/up"
	head -c "$BULK" /dev/urandom >"$t/down"
	rm -f "$t/up.got" "$t/down.got"
	timeout "$limit" ip netns exec "$NS" socat -u "TCP-LISTEN:$port,bind=$pip,reuseaddr" "OPEN:$t/up.got,creat,trunc" &
	s1=$!
	timeout "$limit" socat -u "TCP-LISTEN:$((port + 1)),bind=$lip,reuseaddr" "OPEN:$t/down.got,creat,trunc" &
	s2=$!
	BG_PIDS+=("$s1" "$s2")
	sleep 1
	timeout "$limit" socat -u "FILE:$t/up" "TCP:$pip:$port,connect-timeout=60" &
	c1=$!
	timeout "$limit" ip netns exec "$NS" socat -u "FILE:$t/down" "TCP:$lip:$((port + 1)),connect-timeout=60" &
	c2=$!
	sleep 2
	ping -q -f -s 16 -w "$TRAFFIC_SECS" "$pip" >"$t/ping1" 2>&1 &
	p1=$!
	in_ns ping -q -f -s 16 -w "$TRAFFIC_SECS" "$lip" >"$t/ping2" 2>&1 &
	p2=$!
	wait "$c1" || rc=1
	wait "$c2" || rc=1
	wait "$s1" || rc=1
	wait "$s2" || rc=1
	wait "$p1" || true
	wait "$p2" || true
	sl_log "$label ping $pip: $(grep -E 'transmitted' "$t/ping1" || cat "$t/ping1")"
	sl_log "$label ping $lip: $(grep -E 'transmitted' "$t/ping2" || cat "$t/ping2")"
	sl_assert "$label: TCP $BULK bytes out, byte-exact" cmp -s "$t/up" "$t/up.got"
	sl_assert "$label: TCP $BULK bytes back, byte-exact" cmp -s "$t/down" "$t/down.got"
	sl_assert "$label: both TCP transfers ended" test "$rc" -eq 0
	sl_assert "$label: ping flood out got replies" \
		grep -Eq ' [1-9][0-9]* received' "$t/ping1"
	sl_assert "$label: ping flood back got replies" \
		grep -Eq ' [1-9][0-9]* received' "$t/ping2"
}

ip netns add "$NS" || sl_die "cannot create a network namespace"
# Debian's kernel has them as modules (and no udev here to load ppp_generic,
# whose loading creates /dev/ppp); the debug kernel has them built in.
for m in ppp_async slip n_gsm; do
	modprobe -q "$m" 2>/dev/null || true
done
sl_pair_up
sl_assert "keys installed and activated" sl_pair_key 1

# ---------------------------------------------------------------- PPP
# A in the root namespace, B in $NS (pppd creates its ppp unit where it
# runs). /etc/ppp/options asks for auth, crtscts, modem: undone here.
pppd_args=(115200 nodetach noauth local nocrtscts nolock nodefaultroute
	noipdefault novj nopcomp noaccomp lcp-echo-interval 0 mtu 1500 mru 1500)
pppd "$SL_VTTY_A" "${pppd_args[@]}" 10.99.0.1:10.99.0.2 >"$t/pppA.log" 2>&1 &
BG_PIDS+=($!)
in_ns pppd "$SL_VTTY_B" "${pppd_args[@]}" 10.99.0.2:10.99.0.1 >"$t/pppB.log" 2>&1 &
BG_PIDS+=($!)
if sl_wait_for "ppp up on both ends" 60 sh -c \
	"ip -o addr show | grep -q 'inet 10.99.0.1 peer' && ip netns exec $NS ip -o addr show | grep -q 'inet 10.99.0.2 peer'"; then
	sl_pass "PPP: pppd brings IP up over $SL_VTTY_A and $SL_VTTY_B"
	bulk_both 10.99.0.1 10.99.0.2 5001 PPP
else
	sl_fail "PPP: link did not come up"
	sl_log "pppd A: $(tail -n 5 "$t/pppA.log")"
	sl_log "pppd B: $(tail -n 5 "$t/pppB.log")"
fi
sl_log "A after PPP: $("$SEALCTL" show "$SL_TTY_A" --json)"
sl_assert_eq "PPP: no authentication failure on B" 0 "$(sl_stat "$SL_TTY_B" auth_failures)"
for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
BG_PIDS=()
sl_wait_for "pppd gone" 10 sh -c "! pgrep -x pppd >/dev/null" || true

# ---------------------------------------------------------------- SLIP
# slip registers its sl<n> in the root namespace: move B's into $NS.
slattach -L -p slip -s 115200 "$SL_VTTY_A" >"$t/slA.log" 2>&1 &
BG_PIDS+=($!)
sl_wait_for "sl0" 10 ip link show sl0 >/dev/null 2>&1 || sl_die "slattach A made no sl0"
slattach -L -p slip -s 115200 "$SL_VTTY_B" >"$t/slB.log" 2>&1 &
BG_PIDS+=($!)
sl_wait_for "sl1" 10 ip link show sl1 >/dev/null 2>&1 || sl_die "slattach B made no sl1"
ip link set sl1 netns "$NS"
ip addr add 10.98.0.1 peer 10.98.0.2 dev sl0
ip link set sl0 mtu 1006 up
in_ns ip addr add 10.98.0.2 peer 10.98.0.1 dev sl1
in_ns ip link set sl1 mtu 1006 up
if sl_wait_for "slip answers" 20 ping -c 1 -W 2 10.98.0.2 >/dev/null 2>&1; then
	sl_pass "SLIP: slattach carries IP over $SL_VTTY_A and $SL_VTTY_B"
	bulk_both 10.98.0.1 10.98.0.2 5011 SLIP
else
	sl_fail "SLIP: no ping reply"
fi
sl_assert_eq "SLIP: no authentication failure on A" 0 "$(sl_stat "$SL_TTY_A" auth_failures)"
for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
BG_PIDS=()

# ---------------------------------------------------------------- n_gsm
# Only A's end muxes: its DLC0 SABM goes unanswered, so n_gsm retransmits
# it from its T1 timer (softirq, interrupts off) into the virtual tty.
# Debian's kernel is built without n_gsm (CONFIG_N_GSM is not set): this
# part runs on the debug kernel (scripts/check's vm-debug), which has it.
if grep -q '^n_gsm ' /proc/tty/ldiscs; then
	cat "$SL_VTTY_B" >/dev/null 2>&1 &
	BG_PIDS+=($!)
	tx0=$(sl_stat "$SL_TTY_A" tx_frames)
	out=$(timeout 60 python3 "$SEALINE_ROOT/tests/vm/ttyprobe.py" gsm "$SL_VTTY_A" 10 2>&1) || true
	sent=$(($(sl_stat "$SL_TTY_A" tx_frames) - tx0))
	if [[ $out == ok && $sent -ge 2 ]]; then
		sl_pass "n_gsm: the mux initiator on $SL_VTTY_A retransmits from its timer, sealed ($sent frames)"
	else
		sl_fail "n_gsm: on $SL_VTTY_A: $out, $sent frames sent"
	fi
	for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	BG_PIDS=()
else
	sl_log "n_gsm: not in this kernel (no n_gsm in /proc/tty/ldiscs): not checked in this boot"
fi

sl_pair_down
sl_check_dmesg
rm -rf "$t"
