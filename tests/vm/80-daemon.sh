#!/bin/bash
# 80-daemon: sealined's infrastructure, two instances side by side in one
# guest, each with its own configuration, state directory, control socket
# and line (A keys ttyS1, B keys ttyS2; the two ends of one cable):
#   - sealined -t accepts both configurations, and a broken one is refused
#     with FILE:LINE;
#   - both start, create their identity (0700 state directory, 0600 files,
#     the configured account), register as their line's agent: sealctl show
#     names each daemon's netlink port as agent_portid, sealctl status
#     (pointed at each socket) reports the line registered and names the
#     built-in handshake driver; with no peer paired, nothing keys;
#   - a second daemon on a used state directory or socket is refused;
#   - peers authorise / list / revoke / forget work, are written 0600, and
#     survive a restart; bad accounts are usage errors;
#   - a malformed control message from the far end reaches the handshake
#     and is refused without a crash or a key; sealctl pair refuses a line
#     the daemon does not manage (tests/vm/85-pairing.sh pairs for real);
#   - killing a daemon (SIGKILL) wipes its line's keys (the kernel ends the
#     registration when the socket closes) while the other line keeps its
#     own; a restarted daemon registers again; SIGTERM stops cleanly and
#     removes the socket;
#   - a line detached and attached again is registered again.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

# rekey_interval unused: nothing pairs here, so nothing keys.
SL_LINE_EXTRA="rekey_interval = 20m"
. "$SEALINE_ROOT/tests/vm/daemon.sh"
NLPROBE=$SEALINE_ROOT/build/bin/nlprobe

# agent_is TTY PORTID: the kernel names PORTID as the line's agent.
agent_is() {
	[[ $("$SEALCTL" show "$1" agent_portid 2>/dev/null) == "$2" ]]
}

mkdir -p "$D"
chmod 700 "$D"
write_conf a "$ACCT_A" ttyS1 "$ACCT_B"
write_conf b "$ACCT_B" ttyS2 "$ACCT_A"

# ---------------------------------------------------------------- configuration
sl_assert "sealined -t accepts A's configuration" "$SEALINED" -t -c "$D/a.conf"
sl_assert "sealined -t accepts B's configuration" "$SEALINED" -t -c "$D/b.conf"
printf '[agent]\naccount = 1234\n' >"$D/bad.conf"
out=$("$SEALINED" -t -c "$D/bad.conf" 2>&1) && rc=0 || rc=$?
sl_assert_eq "a bad configuration exits 78 (EX_CONFIG)" 78 "$rc"
sl_assert "the error names file and line" grep -q "$D/bad.conf:2: account must be an account number of exactly 12 digits" <<<"$out"

# ---------------------------------------------------------------- start both
# A starts before the module is loaded: it waits for it.
start a
sl_assert "A answers before the module is loaded" sl_wait_for "A up" 20 ctl a status
sl_assert_eq "A reports no module" no-module "$(status_field a netlink)"
sl_assert_eq "A reports ttyS1 detached" detached "$(status_field a status)"
# shellcheck disable=SC2119 # no module parameters
sl_pair_up
start b
sl_assert "A registers as the agent of ttyS1" sl_wait_for "A registered" 20 line_registered a
sl_assert "B registers as the agent of ttyS2" sl_wait_for "B registered" 20 line_registered b
port_a=$(status_field a portid)
port_b=$(status_field b portid)
sl_log "netlink ports: A $port_a, B $port_b"
sl_assert "sealctl show names A's port as ttyS1's agent" agent_is ttyS1 "$port_a"
sl_assert "sealctl show names B's port as ttyS2's agent" agent_is ttyS2 "$port_b"
sl_assert "status of A names the line's agent" test "$(status_field a agent_portid)" = "$port_a"
sl_assert "the two daemons have different ports" test "$port_a" != "$port_b"
sl_assert_eq "A's account" "$ACCT_A" "$(status_field a account)"
sl_assert_eq "B's account" "$ACCT_B" "$(status_field b account)"
sl_assert_eq "A names its handshake driver" noise-v1 "$(status_field a handshake)"
sl_assert_eq "B names its handshake driver" noise-v1 "$(status_field b handshake)"
sl_assert_eq "line ttyS1 is still fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"
sl_log "$(ctl a status)"
sl_assert "the text status names the line" sh -c "'$SEALCTL' status --socket '$(sock a)' | grep -q '^line ttyS1: registered, /dev/ttySL'"
sl_assert "A's log says it registered" grep -q "ttyS1: registered as the agent of " "$D/a.log"
sl_assert "A's log does not claim handshakes are missing" sh -c "! grep -q 'no handshake implementation' '$D/a.log'"

# ---------------------------------------------------------------- state files
for n in a b; do
	s=$(state "$n")
	sl_assert_eq "state dir of $n is 0700" 700 "$(stat -c %a "$s")"
	sl_assert_eq "identity of $n is 0600" 600 "$(stat -c %a "$s/identity")"
	sl_assert_eq "peers dir of $n is 0700" 700 "$(stat -c %a "$s/peers")"
	sl_assert_eq "control socket of $n is 0600" 600 "$(stat -c %a "$(sock "$n")")"
done
sl_assert "A's identity holds its account" grep -qx "account $ACCT_A" "$(state a)/identity"
sl_assert "the identities differ" sh -c "! cmp -s '$(state a)/identity' '$(state b)/identity'"

# ---------------------------------------------------------------- exclusion
out=$("$SEALINED" -f -c "$D/a.conf" --socket /run/sealine-x.sock 2>&1) && rc=0 || rc=$?
sl_assert_eq "a second daemon on A's state directory fails" 1 "$rc"
sl_assert "it says the directory is in use" grep -q "in use by another sealined (pid ${PID[a]})" <<<"$out"
out=$("$SEALINED" -f -c "$D/a.conf" --state-dir /var/lib/sealine-x 2>&1) && rc=0 || rc=$?
sl_assert_eq "a second daemon on A's socket fails" 1 "$rc"
sl_assert "it says another sealined listens" grep -q "another sealined is already listening" <<<"$out"
sl_assert "A still answers" ctl a status

# ---------------------------------------------------------------- peers
sl_assert "no peers at first" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -qx 'no peers'"
sl_assert "authorise B on A" ctl a peers authorise "$ACCT_B"
sl_assert "A lists B as authorised" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -q '^$ACCT_B *authorised *no'"
sl_assert_eq "B's record is 0600" 600 "$(stat -c %a "$(state a)/peers/$ACCT_B")"
sl_assert "revoke B on A" ctl a peers revoke "$ACCT_B"
sl_assert "A lists B as revoked (JSON)" sh -c "'$SEALCTL' peers --json --socket '$(sock a)' | grep -q '\"account\": \"$ACCT_B\", \"authorised\": false, \"revoked\": true'"
sl_assert_eq "status counts the revoked peer" 1 "$(status_field a peers_revoked)"
out=$(ctl a peers authorise 12345 2>&1) && rc=0 || rc=$?
sl_assert_eq "a short account is a usage error" 2 "$rc"
out=$(ctl a peers revoke 999999999999 2>&1) && rc=0 || rc=$?
sl_assert_eq "revoking an unknown peer fails" 1 "$rc"
sl_assert "and says so" grep -q "no peer with account 999999999999" <<<"$out"
out=$(ctl a peers authorise "$ACCT_A" 2>&1) && rc=0 || rc=$?
sl_assert_eq "authorising our own account fails" 1 "$rc"
sl_assert "A's log records the revocation" grep -q "peer $ACCT_B revoked" "$D/a.log"

# ---------------------------------------------------------------- pairing, log
out=$(ctl a pair ttyS9 2>&1) && rc=0 || rc=$?
sl_assert "pair on a line A does not manage fails" grep -q "not a line of this sealined" <<<"$out"
sl_assert "the session log is empty" sh -c "'$SEALCTL' log --socket '$(sock a)' | grep -qx 'no sessions logged'"
sl_assert "the session log file exists, 0600" test "$(stat -c %a "$(state a)/sessions.log")" = 600

# ---------------------------------------------------------------- control messages reach the agent
sl_assert "SIGTERM stops B" kill -TERM "${PID[b]}"
wait "${PID[b]}" && rc=0 || rc=$?
unset 'PID[b]'
sl_assert_eq "B exits 0 after SIGTERM" 0 "$rc"
sl_assert "B removed its socket" test ! -e "$(sock b)"
sl_assert "B logged its stop" grep -q "sealined stopped" "$D/b.log"
sl_assert "ttyS2 has no agent once B stopped" sl_wait_for "no agent" 5 agent_is ttyS2 none
sl_assert "a probe sends a control message from the far end" \
	timeout 10 "$NLPROBE" send ttyS2 5eA1C0de
sl_assert "A's handshake drops the malformed message and logs it" \
	sl_wait_for "dropped message logged" 10 grep -q "ttyS1: control message dropped: shorter than an envelope" "$D/a.log"
sl_assert "A still answers" ctl a status
sl_assert_eq "ttyS1 is still fail-closed" nokey "$("$SEALCTL" show ttyS1 state)"

# ---------------------------------------------------------------- killing wipes the keys
start b
sl_assert "B registers again" sl_wait_for "B registered" 20 line_registered b
port_b=$(status_field b portid)
sl_assert "B kept its peers and identity" test "$(status_field b account)" = "$ACCT_B"
sl_assert "lines keyed by hand while the daemons hold them" sl_pair_key 1
sl_assert_eq "ttyS1 keyed" keyed "$("$SEALCTL" show ttyS1 state)"
sl_assert_eq "ttyS2 keyed" keyed "$("$SEALCTL" show ttyS2 state)"
sl_run kill -KILL "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
unset 'PID[a]'
sl_assert "killing A wipes ttyS1's keys" sl_wait_for "ttyS1 nokey" 10 sl_field_is ttyS1 state nokey
sl_assert "ttyS1 has no agent" agent_is ttyS1 none
sl_assert_eq "ttyS2 (B alive) keeps its key" keyed "$("$SEALCTL" show ttyS2 state)"
sl_assert "a dead daemon's socket refuses" sh -c "! '$SEALCTL' status --socket '$(sock a)' 2>/dev/null"
start a
sl_assert "a restarted A registers again (stale socket replaced)" sl_wait_for "A registered" 20 line_registered a
new_port=$(status_field a portid)
sl_assert "with its new port as the agent" agent_is ttyS1 "$new_port"
sl_assert "A kept its revoked peer across the restart" sh -c "'$SEALCTL' peers --socket '$(sock a)' | grep -q '^$ACCT_B *revoked'"
sl_assert "forget B on A" ctl a peers forget "$ACCT_B"
sl_assert "B's record is gone" test ! -e "$(state a)/peers/$ACCT_B"
sl_assert "A identity unchanged by the restart" grep -q "sealined 0.1.0 starting: account $ACCT_A" "$D/a.log"

# ---------------------------------------------------------------- re-attach
sl_run kill "${SL_LDATTACH_PIDS[0]}"
wait "${SL_LDATTACH_PIDS[0]}" 2>/dev/null || true
sl_assert "A notices ttyS1 detached" sl_wait_for "detached" 10 sh -c "[ \"\$('$SEALCTL' status --json --socket '$(sock a)' | grep -o '\"status\": \"[a-z]*\"' | head -n 1)\" = '\"status\": \"detached\"' ]"
sl_attach "$SL_TTY_A"
SL_LDATTACH_PIDS[0]=${SL_LDATTACH_PIDS[-1]}
unset 'SL_LDATTACH_PIDS[-1]'
sl_assert "A registers the re-attached line" sl_wait_for "A registered again" 20 line_registered a
sl_assert "as its agent" agent_is ttyS1 "$new_port"
sl_assert "A logged the detach and the attach" sh -c "grep -q 'ttyS1: line detached' '$D/a.log' && grep -q 'ttyS1: line attached' '$D/a.log'"

# ---------------------------------------------------------------- module unloaded and loaded again
sl_pair_down
sl_assert "A notices the module went away" sl_wait_for "no module" 20 sh -c "[ \"\$('$SEALCTL' status --json --socket '$(sock a)' | grep -o '\"netlink\": \"[a-z-]*\"')\" = '\"netlink\": \"no-module\"' ]"
sl_assert_eq "ttyS2 detached for B" detached "$(status_field b status)"
# shellcheck disable=SC2119 # no module parameters
sl_pair_up
sl_assert "A registers again on the reloaded module" sl_wait_for "A registered" 20 line_registered a
sl_assert "B registers again on the reloaded module" sl_wait_for "B registered" 20 line_registered b
sl_assert "ttyS1's agent is A's new port" agent_is ttyS1 "$(status_field a portid)"
sl_assert "ttyS2's agent is B's new port" agent_is ttyS2 "$(status_field b portid)"

# ---------------------------------------------------------------- stop
for n in a b; do
	kill -TERM "${PID[$n]}"
	wait "${PID[$n]}" && rc=0 || rc=$?
	unset "PID[$n]"
	sl_assert_eq "$n stops with status 0" 0 "$rc"
done
sl_assert "no agent on either line" sh -c "[ \"\$('$SEALCTL' show ttyS1 agent_portid)\" = none ] && [ \"\$('$SEALCTL' show ttyS2 agent_portid)\" = none ]"
sl_assert "no daemon logged an error" sh -c "! grep -h ' error: ' '$D/a.log' '$D/b.log'"
sl_log "--- A's log"
cat "$D/a.log"
sl_log "--- B's log"
cat "$D/b.log"

sl_pair_down
sl_check_dmesg
