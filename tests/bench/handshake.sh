#!/bin/bash
# tests/bench/handshake.sh - the guest half of "make bench" for sealined's
# handshakes (scripts/bench), run by scripts/vm-run after bench.sh in the
# same VM boot.
#
# Two sealined instances (A on ttyS1 the initiator, B on ttyS2 the
# responder, as tests/vm/85-pairing.sh) with the line paced by
# sealine-wire at each of $HS_BAUDS (10 bits a byte). At each rate:
#   pairing  a fresh pairing (new identities): bytes and messages of the
#            pairing messages on the wire (sealine-wire's ctlstats), and
#            its protocol time without the operators: from A's `sealctl
#            pair` to A showing the code (PAIR_COMMIT .. PAIR_FINISH) plus
#            from A's operator confirming to "paired" (PAIR_CONFIRM,
#            PAIR_DONE);
#   session  the session the daemons run right after the pairing, then
#            $HS_SESSIONS more on running daemons, each after both ends of the
#            line were detached and attached again (a new connection: the
#            lines' keys went with them): bytes and messages of the session
#            messages, and the time from A's daemon registering as the new
#            line's agent (when it sends SESSION_INIT) to A's "session
#            keyed" (after SESSION_DONE);
#   restart  the same after restarting A's daemon ($HS_RESTARTS times): a
#            new process pays for its first handshake's set-up too.
# Times come from the daemons' own log time stamps (milliseconds). The
# results go to $SL_OUT/hs.results, one line per measurement:
#   pair.BAUD sas_ms=N confirm_ms=N msgs_a2b=N bytes_a2b=N msgs_b2a=N bytes_b2a=N
#   session.BAUD.K ms=N msgs_a2b=N bytes_a2b=N msgs_b2a=N bytes_b2a=N
#   restart.BAUD.K (the same fields)
#   cpu session_ms=N session_min_ms=N x25519_ms=N n=N
# (the last from tests/bench/hscpu: both sides of a session computed in
# one process with no line, i.e. what part of a session's time is CPU).
# A handshake that does not complete fails the test.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

HS_BAUDS="115200 9600"
HS_SESSIONS=4
HS_RESTARTS=2
if [[ -r $SL_OUT/bench.conf ]]; then
	# shellcheck source=/dev/null
	. "$SL_OUT/bench.conf"
fi
RES=$SL_OUT/hs.results
: >"$RES"
HSCPU=$SEALINE_ROOT/tests/bench/hscpu
[[ -x $HSCPU ]] || sl_die "$HSCPU is not built (make -C tests/bench)"

# The computation alone: both sides of a session in one process, no line.
cpu=$("$HSCPU" 20) || sl_die "hscpu failed"
sl_log "hscpu: $cpu"
echo "cpu $cpu" >>"$RES"

# ms_of HH:MM:SS.mmm: milliseconds since midnight.
ms_of() {
	awk -F'[:.]' '{ printf "%d\n", (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }' <<<"$1"
}

# logts NAME REGEX: the time (ms) of the last line of NAME's log matching.
logts() {
	local line
	line=$(grep -E "$2" "$D/$1.log" | tail -n 1)
	[[ -n $line ]] || return 1
	ms_of "${line%% *}"
}

now_ms() {
	ms_of "$(date +%H:%M:%S.%3N)"
}

# ctl_field DIR CLASS WHAT: from ctlstats, messages (m) or bytes (b).
ctl_field() {
	local st=$CTL part
	part=${st#*"$1 "}
	part=" ${part%%" b2a"*} "
	part=${part##*" $2="}
	part=${part%% *}
	if [[ $3 == m ]]; then echo "${part%/*}"; else echo "${part#*/}"; fi
}

counts() { # CLASS: the key=value fields of both directions
	echo "msgs_a2b=$(ctl_field a2b "$1" m) bytes_a2b=$(ctl_field a2b "$1" b)" \
	     "msgs_b2a=$(ctl_field b2a "$1" m) bytes_b2a=$(ctl_field b2a "$1" b)"
}

session_keyed() {
	[[ $(grep -cE "session with $ACCT_B keyed" "$D/a.log") -gt $1 ]] &&
		both_keyed_same_epoch
}

for baud in $HS_BAUDS; do
	SL_NAME=handshake-$baud
	D=/tmp/sealined-$SL_NAME
	fresh_pair_conf
	# shellcheck disable=SC2119 # no module parameters
	sl_pair_up
	sl_assert "the wire is paced at $baud baud" sl_wire pace both "$baud"
	start a
	start b
	sl_assert "A registers ($baud baud)" sl_wait_for "A registered" 20 line_registered a
	sl_assert "B registers ($baud baud)" sl_wait_for "B registered" 20 line_registered b

	# ---------------------------------------------------------------- pairing
	sl_wire reset-stats >/dev/null
	sl_assert "a pairing starts and A shows a code ($baud baud)" pair_start
	code=$(shown_code)
	t_start=$(logts a "operator \(pid [0-9]+\) starts a pairing")
	t_sas=$(logts a "a pairing waits for its operator to compare the code")
	say b "$code"
	sleep 0.5	# B's daemon has the code; it waits for PAIR_CONFIRM
	t_yes=$(now_ms)
	say a y
	operator_done b >/dev/null || sl_fail "B's sealctl pair failed ($baud baud)"
	operator_done a >/dev/null || sl_fail "A's sealctl pair failed ($baud baud)"
	sl_assert "the session after pairing keys both lines ($baud baud)" \
		sl_wait_for "session keys" 30 session_keyed 0
	t_paired=$(logts a "paired with $ACCT_B")
	t_keyed=$(logts a "session with $ACCT_B keyed")
	CTL=$(sl_wire ctlstats)
	sl_log "ctlstats after pairing and session: $CTL"
	echo "pair.$baud sas_ms=$((t_sas - t_start)) confirm_ms=$((t_paired - t_yes)) $(counts pair)" >>"$RES"
	sl_log "--- the end of the pairing and the first session at $baud baud, A's and B's logs"
	grep -E "control message|staged|active|paired|keyed|NAK" "$D/a.log" | tail -n 14
	grep -E "control message|staged|active|paired|keyed|NAK" "$D/b.log" | tail -n 14
	echo "session.$baud.0 ms=$((t_keyed - t_paired)) $(counts session)" >>"$RES"

	# ---------------------------------------------------------------- sessions
	# A new connection on running daemons: both ends of the line are
	# detached and attached again (ldattach), B's first, as a new call
	# would bring them up; their keys went with the old lines. A's daemon
	# registers as the new line's agent and keys a new session.
	for k in $(seq "$HS_SESSIONS"); do
		n=$(grep -cE "session with $ACCT_B keyed" "$D/a.log")
		for pid in "${SL_LDATTACH_PIDS[@]}"; do
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		done
		SL_LDATTACH_PIDS=()
		sl_assert "both daemons see their lines detached ($baud baud, session $k)" \
			sl_wait_for "lines detached" 10 sh -c "[ \"\$('$SEALCTL' status --json --socket '$(sock a)' | grep -o '\"status\": \"[a-z]*\"' | head -n 1)\" = '\"status\": \"detached\"' ] &&
				[ \"\$('$SEALCTL' status --json --socket '$(sock b)' | grep -o '\"status\": \"[a-z]*\"' | head -n 1)\" = '\"status\": \"detached\"' ]"
		sl_wire reset-stats >/dev/null
		sl_attach "$SL_TTY_B" || sl_fail "ldattach on $SL_TTY_B failed"
		sl_assert "B registers on its new line" sl_wait_for "B registered" 10 line_registered b
		sl_attach "$SL_TTY_A" || sl_fail "ldattach on $SL_TTY_A failed"
		sl_assert "A's new session keys both lines ($baud baud, session $k)" \
			sl_wait_for "session $k" 30 session_keyed "$n"
		t_reg=$(logts a "registered as the agent of")
		t_keyed=$(logts a "session with $ACCT_B keyed")
		CTL=$(sl_wire ctlstats)
		echo "session.$baud.$k ms=$((t_keyed - t_reg)) $(counts session)" >>"$RES"
	done
	# After a restart of A's daemon: a new process (its line's keys are
	# wiped when it stops), with whatever a first handshake in a new
	# process costs.
	for k in $(seq "$HS_RESTARTS"); do
		sl_assert "A stops ($baud baud, restart $k)" stop a
		sl_assert "ttyS1 is keyless with A gone" sl_wait_for "ttyS1 nokey" 10 sl_field_is ttyS1 state nokey
		n=$(grep -cE "session with $ACCT_B keyed" "$D/a.log")
		sl_wire reset-stats >/dev/null
		start a
		sl_assert "A's new session keys both lines ($baud baud, restart $k)" \
			sl_wait_for "restart $k" 30 session_keyed "$n"
		t_reg=$(logts a "registered as the agent of")
		t_keyed=$(logts a "session with $ACCT_B keyed")
		CTL=$(sl_wire ctlstats)
		echo "restart.$baud.$k ms=$((t_keyed - t_reg)) $(counts session)" >>"$RES"
	done
	# where the time of the last session went (debug log, ms stamps)
	sl_log "--- the last session at $baud baud, A's and B's logs"
	sed -n "/$(tail -n 1 <(grep 'registered as the agent of' "$D/a.log") | cut -c1-12)/,\$p" "$D/a.log"
	tail -n 12 "$D/b.log"
	sl_assert "A stops" stop a
	sl_assert "B stops" stop b
	sl_wire pace both 0 >/dev/null
	sl_pair_down
	sl_drain_wire
done
sl_log "--- $RES"
cat "$RES"
sl_check_dmesg
