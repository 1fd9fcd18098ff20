# shellcheck shell=bash disable=SC2034 # PN_* are for the script that sources this
# tests/bench/pppnet.sh - what a user would run instead of sealine, for
# tests/bench/reliable.sh to compare with: pppd on the bare line ends,
# each end in its own network namespace, and WireGuard over that PPP
# link. Source after tests/vm/lib.sh.
#
#   pn_ppp_up        pppd on SL_TTY_A in namespace PN_NS_A (address
#                    PN_PPP_A) and on SL_TTY_B in PN_NS_B (PN_PPP_B);
#                    returns 1, with PN_WHY set, if the link does not
#                    come up
#   pn_wg_up         wg0 in both namespaces (PN_WG_A, PN_WG_B), its UDP
#                    over the PPP link, handshake done; returns 1, with
#                    PN_WHY set, if WireGuard is not available in this
#                    guest (no module, no wg tool) or does not come up
#   pn_tcp_ends ADDR sets PN_END_A and PN_END_B: the two ends of a new TCP
#                    connection from PN_NS_A to ADDR (in PN_NS_B) on a
#                    port not used before, as tests/bench/bulk and rtt
#                    take them (tcp:NETNS:ADDR:PORT)
#   pn_tcp_resent    print how many TCP segments PN_NS_A has resent so far
#   pn_down          stop pppd, delete both namespaces (and wg0 with them)
#
# pppd runs with Debian's /etc/ppp/options (asyncmap 0: only the flag and
# escape bytes are escaped) and its defaults (Van Jacobson header
# compression, address/control and protocol field compression, MTU
# 1500), minus what a null-modem cable between two hosts does not have:
# no authentication, no modem control lines, no lock file, and no LCP
# echo (a lost echo would end the link in the middle of a measurement).
# WireGuard: Debian's wireguard-tools, fresh keys, MTU 1420 (its
# default), no persistent keepalive.

PN_NS_A=slbench-a
PN_NS_B=slbench-b
PN_PPP_A=10.97.0.1
PN_PPP_B=10.97.0.2
PN_WG_A=10.96.0.1
PN_WG_B=10.96.0.2
PN_WG_PORT=51820
PN_PORT=5100
PN_WHY=
PN_END_A=
PN_END_B=
_pn_pids=()
_pn_dir=

_pn_ppp_ready() { # both ends have their PPP address
	ip -n "$PN_NS_A" -o addr show | grep -q "inet $PN_PPP_A peer" &&
		ip -n "$PN_NS_B" -o addr show | grep -q "inet $PN_PPP_B peer"
}

pn_ppp_up() {
	local args=(115200 nodetach noauth local nocrtscts nolock
		lcp-echo-interval 0 nodefaultroute)
	_pn_dir=$(mktemp -d)
	if ! ip netns add "$PN_NS_A" || ! ip netns add "$PN_NS_B"; then
		PN_WHY="cannot create the network namespaces $PN_NS_A and $PN_NS_B"
		return 1
	fi
	# Debian's kernel has PPP as modules, and there is no udev here to
	# load them: ppp_generic (which ppp_async pulls in) makes /dev/ppp
	modprobe ppp_async || { PN_WHY="modprobe ppp_async failed"; return 1; }
	# ($! is pppd's own process: ip netns exec execs it)
	ip netns exec "$PN_NS_A" pppd "$SL_TTY_A" "${args[@]}" "$PN_PPP_A:$PN_PPP_B" \
		>"$_pn_dir/pppA.log" 2>&1 &
	_pn_pids+=($!)
	ip netns exec "$PN_NS_B" pppd "$SL_TTY_B" "${args[@]}" "$PN_PPP_B:$PN_PPP_A" \
		>"$_pn_dir/pppB.log" 2>&1 &
	_pn_pids+=($!)
	if ! sl_wait_for "PPP up in both namespaces" 60 _pn_ppp_ready; then
		PN_WHY="the PPP link did not come up within 60 s (pppd A: $(tail -n 3 "$_pn_dir/pppA.log" | tr '\n' ' '); B: $(tail -n 3 "$_pn_dir/pppB.log" | tr '\n' ' '))"
		return 1
	fi
	sl_log "pppd: $SL_TTY_A ($PN_NS_A, $PN_PPP_A) <-> $SL_TTY_B ($PN_NS_B, $PN_PPP_B): $(grep -h 'local  IP\|remote IP' "$_pn_dir/pppA.log" | tr -s ' \n' ' ')"
}

# _pn_wg_end NS KEY ADDR PEER_KEY PEER_WG PEER_PPP: wg0 in NS.
_pn_wg_end() {
	ip -n "$1" link add wg0 type wireguard &&
		ip netns exec "$1" wg set wg0 private-key "$2" listen-port "$PN_WG_PORT" \
			peer "$(cat "$4")" allowed-ips "$5/32" endpoint "$6:$PN_WG_PORT" &&
		ip -n "$1" addr add "$3" peer "$5" dev wg0 &&
		ip -n "$1" link set wg0 up
}

pn_wg_up() {
	local err
	if ! err=$(modprobe wireguard 2>&1); then
		PN_WHY="no WireGuard in this kernel (modprobe wireguard: ${err:-failed})"
		return 1
	fi
	if ! command -v wg >/dev/null; then
		PN_WHY="wg is not installed (Debian's wireguard-tools: apt-get install wireguard-tools)"
		return 1
	fi
	if ! (umask 077 && wg genkey >"$_pn_dir/a.key" && wg genkey >"$_pn_dir/b.key" &&
		wg pubkey <"$_pn_dir/a.key" >"$_pn_dir/a.pub" &&
		wg pubkey <"$_pn_dir/b.key" >"$_pn_dir/b.pub"); then
		PN_WHY="wg genkey or wg pubkey failed"
		return 1
	fi
	if ! _pn_wg_end "$PN_NS_A" "$_pn_dir/a.key" "$PN_WG_A" "$_pn_dir/b.pub" "$PN_WG_B" "$PN_PPP_B" ||
		! _pn_wg_end "$PN_NS_B" "$_pn_dir/b.key" "$PN_WG_B" "$_pn_dir/a.pub" "$PN_WG_A" "$PN_PPP_A"; then
		PN_WHY="setting up wg0 failed (see the log above)"
		return 1
	fi
	# the first packet starts the handshake; a ping answered means done
	if ! sl_wait_for "WireGuard handshake" 30 \
		ip netns exec "$PN_NS_A" ping -c 1 -W 2 "$PN_WG_B" >/dev/null; then
		PN_WHY="no ping answered over WireGuard within 30 s"
		return 1
	fi
	sl_log "WireGuard: wg0 $PN_WG_A ($PN_NS_A) <-> $PN_WG_B ($PN_NS_B) over PPP, MTU $(ip -n "$PN_NS_A" -o link show wg0 | sed -n 's/.* mtu \([0-9]*\).*/\1/p')"
}

pn_tcp_ends() {
	PN_PORT=$((PN_PORT + 1))
	PN_END_A=tcp:$PN_NS_A:$1:$PN_PORT
	PN_END_B=tcp:$PN_NS_B:$1:$PN_PORT
}

pn_tcp_resent() {
	# shellcheck disable=SC2016 # awk's own $ fields
	ip netns exec "$PN_NS_A" awk '$1 == "Tcp:" {
		if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1; next }
		print $(col["RetransSegs"]) }' /proc/net/snmp
}

pn_down() {
	local pid
	for pid in "${_pn_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	# pppd says goodbye to its peer (LCP terminate) before it exits
	for pid in "${_pn_pids[@]}"; do
		sl_wait_for "pppd $pid gone" 10 sh -c "! kill -0 $pid 2>/dev/null" ||
			kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	_pn_pids=()
	ip netns del "$PN_NS_A" 2>/dev/null || true
	ip netns del "$PN_NS_B" 2>/dev/null || true
	[[ -z $_pn_dir ]] || rm -rf "$_pn_dir"
	_pn_dir=
}
