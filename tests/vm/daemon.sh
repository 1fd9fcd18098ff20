# shellcheck shell=bash
# tests/vm/daemon.sh - two sealined instances driven as operators would:
# A (initiator) and B (responder), each with its own configuration, state
# directory and socket named after the test. Source after lib.sh and
# pair.sh. Provides: D (work dir), ACCT_A/ACCT_B, PID[NAME], OPS/BG (pids
# killed on exit), sock/state/ctl NAME, write_conf NAME ACCOUNT TTY PEER
# [ROLE] (SL_LINE_EXTRA adds lines to the [line] section), start NAME
# [PROGRAM] (default sealined; tsp.sh starts sealtspd) and stop NAME,
# start_both/stop_both, status_field, line_registered,
# both_keyed_same_epoch, transfer, wire_has_no_marker, print_logs, and the
# operator helpers operator/say/operator_done/shown_code/pair_start.

SEALINED=${SEALINED:-$SEALINE_ROOT/build/bin/sealined}
[[ -x $SEALINED ]] || sl_die "$SEALINED not built (make -C agent)"

D=/tmp/sealined-$SL_NAME
ACCT_A=314159265358
ACCT_B=271828182845
declare -A PID
OPS=()
BG=()		# background helpers of the test, killed on exit too

cleanup() {
	local n p
	for p in "${OPS[@]}" "${BG[@]}"; do
		kill -9 "$p" 2>/dev/null || true
	done
	for n in "${!PID[@]}"; do
		kill -9 "${PID[$n]}" 2>/dev/null || true
	done
	return 0
}
# shellcheck disable=SC2154 # rc_ is assigned inside the trap
trap 'rc_=$?; cleanup; (exit "$rc_"); _sl_on_exit' EXIT

sock() { echo "/run/sealine-$SL_NAME-$1/sealined.sock"; }
state() { echo "/var/lib/sealine-$SL_NAME-$1"; }
ctl() { local n=$1; shift; "$SEALCTL" "$@" --socket "$(sock "$n")"; }

# write_conf NAME ACCOUNT TTY PEER [ROLE]: no ROLE, no role line (the
# daemon's default, auto); an empty PEER, no peer line (any paired peer).
write_conf() {
	cat >"$D/$1.conf" <<EOF
# sealined instance $1 of tests/vm/$SL_NAME.sh
[agent]
account = $2
state_dir = $(state "$1")
socket = $(sock "$1")
name = $1
log_level = debug

[line $3]
${4:+peer = $4}
${5:+role = $5}
${SL_LINE_EXTRA:-}
EOF
}

start() {
	local prog=${2:-$SEALINED}
	"$prog" -f -c "$D/$1.conf" 2>>"$D/$1.log" &
	PID[$1]=$!
	sl_log "${prog##*/} $1 started (pid ${PID[$1]})"
}

stop() {
	local rc
	kill -TERM "${PID[$1]}"
	wait "${PID[$1]}" && rc=0 || rc=$?
	unset "PID[$1]"
	return "$rc"
}

# start_both: A and B started, each registered as its line's agent.
start_both() {
	start a
	start b
	sl_assert "A registers as the agent of ttyS1" sl_wait_for "A registered" 20 line_registered a
	sl_assert "B registers as the agent of ttyS2" sl_wait_for "B registered" 20 line_registered b
}

# stop_both: A and B stop cleanly (status 0), then the pair goes down.
stop_both() {
	sl_assert "A stops cleanly" stop a
	sl_assert "B stops cleanly" stop b
	sl_pair_down
}

status_field() {
	ctl "$1" status --json 2>/dev/null |
		grep -o "\"$2\": [^,}]*" | head -n 1 | sed 's/^[^:]*: //; s/"//g'
}

line_registered() {
	[[ $(status_field "$1" status) == registered ]]
}

both_keyed_same_epoch() {
	local ea eb
	sl_field_is ttyS1 state keyed && sl_field_is ttyS2 state keyed || return 1
	ea=$("$SEALCTL" show ttyS1 epoch) && eb=$("$SEALCTL" show ttyS2 epoch) || return 1
	[[ -n $ea && $ea == "$eb" ]]
}

# operator NAME TTY: start `sealctl pair TTY $OPARGS` for daemon NAME, its stdin
# the FIFO $D/NAME.in (held open for writing on fd OPFD[NAME]), its output
# in $D/NAME.out.
declare -A OPPID OPFD
operator() {
	local n=$1 tty=$2 fd
	rm -f "$D/$n.in" "$D/$n.out"
	mkfifo "$D/$n.in"
	# shellcheck disable=SC2086 # OPARGS: options, split on purpose
	"$SEALCTL" pair "$tty" ${OPARGS:-} --socket "$(sock "$n")" <"$D/$n.in" >"$D/$n.out" 2>&1 &
	OPPID[$n]=$!
	OPS+=($!)
	exec {fd}>"$D/$n.in"
	OPFD[$n]=$fd
}

# say NAME TEXT: the operator of NAME types a line.
say() {
	printf '%s\n' "$2" >&"${OPFD[$1]}"
}

# operator_done NAME: wait (<= 30 s) for NAME's sealctl pair; its status.
operator_done() {
	local n=$1 rc fd=${OPFD[$1]}
	sl_wait_for "sealctl pair of $n ends" 30 sh -c "! kill -0 ${OPPID[$n]} 2>/dev/null" || true
	wait "${OPPID[$n]}" && rc=0 || rc=$?
	exec {fd}>&-
	sl_log "--- sealctl pair of $n (status $rc):"
	cat "$D/$n.out"
	echo
	return "$rc"
}

shown_code() {
	sed -n 's/^Code: \([0-9A-Z]\{5\}\)$/\1/p' "$D/a.out" | tail -n 1
}

# pair_start: B's operator arms the pairing, then A's starts it; prints
# the code A's sealctl shows once B's sealctl asks for it.
pair_start() {
	operator b ttyS2
	sl_wait_for "B's operator registered" 10 \
		grep -q "ttyS2: operator (pid ${OPPID[b]}) starts a pairing" "$D/b.log" ||
		return 1
	operator a ttyS1
	sl_wait_for "A shows the code" 30 sh -c "grep -q '^Code: ' '$D/a.out'" &&
		sl_wait_for "B asks for the code" 30 grep -q "Type the code" "$D/b.out" ||
		return 1
}

# fresh_pair_conf: no identity, peer or epoch left by an earlier run; the
# configurations of A (ttyS1, initiator, peer B) and B (ttyS2, responder,
# peer A).
fresh_pair_conf() {
	rm -rf "$D" "$(state a)" "$(state b)" "$(dirname "$(sock a)")" "$(dirname "$(sock b)")"
	mkdir -p "$D"
	chmod 700 "$D"
	write_conf a "$ACCT_A" ttyS1 "$ACCT_B" initiator
	write_conf b "$ACCT_B" ttyS2 "$ACCT_A" responder
}

# pair_ab: both operators pair with the right code (B types what A shows,
# A confirms), both sealctl pair exit 0, and the daemons key both lines
# at one epoch.
pair_ab() {
	local code
	pair_start || return 1
	code=$(shown_code)
	sl_log "code shown on A: $code"
	say b "$code"
	say a y
	operator_done b || return 1
	operator_done a || return 1
	sl_wait_for "session keys" 30 both_keyed_same_epoch
}

# pair_either FIRST TTY1 SECOND TTY2 [DELAY]: the operators of daemons
# FIRST and SECOND run `sealctl pair` on their lines, SECOND DELAY seconds
# after FIRST (default 0: at once), as two people on the phone would with
# role = auto: whoever's screen shows the code reads it out, the other
# types it, the reader confirms once told it matches. Sets SHOWER and
# TYPER. Fails unless both sealctl pair exit 0.
pair_either() {
	local first=$1 tty1=$2 second=$3 tty2=$4 delay=${5:-0} code
	operator "$first" "$tty1"
	if [[ $delay != 0 ]]; then
		sleep "$delay"
	fi
	operator "$second" "$tty2"
	sl_wait_for "a code on one of the screens" 60 \
		sh -c "grep -q '^Code: ' '$D/$first.out' '$D/$second.out'" || return 1
	if grep -q '^Code: ' "$D/$first.out"; then
		SHOWER=$first TYPER=$second
	else
		SHOWER=$second TYPER=$first
	fi
	sl_log "$SHOWER's screen shows the code, $TYPER's asks for it"
	sl_wait_for "$TYPER asks for the code" 30 grep -q "Type the code" "$D/$TYPER.out" || return 1
	code=$(sed -n 's/^Code: \([0-9A-Z]\{5\}\)$/\1/p' "$D/$SHOWER.out" | tail -n 1)
	say "$TYPER" "$code"
	sl_wait_for "$TYPER is told the code matches" 30 grep -q "The code matches" "$D/$TYPER.out" || return 1
	say "$SHOWER" y
	operator_done "$TYPER" && operator_done "$SHOWER"
}

# slog_has NAME REGEX: a record of NAME's `sealctl log --json` matches.
slog_has() {
	ctl "$1" log --json 2>/dev/null | grep -Eq "$2"
}

# transfer SRC DST FILE SECONDS TAG: like sl_transfer, but safe to run
# twice at once (own temp file) and holding SRC open until the data
# arrived (a paced line backs up: nothing may be discarded on close);
# DST is open before anything is sent.
transfer() {
	local src=$1 dst=$2 file=$3 secs=$4 got=$D/got.$5 size reader hold rfd rc=0
	size=$(stat -c %s "$file")
	exec {rfd}<"$dst" {hold}<>"$src"
	sl_read_bytes "/dev/fd/$rfd" "$size" "$secs" "$got" &
	reader=$!
	sleep 0.2
	socat -u "FILE:$file" "$src,raw,echo=0" || rc=$?
	wait "$reader" || rc=$?
	exec {hold}>&- {rfd}<&-
	if [[ $rc -eq 0 ]] && ! cmp -s "$file" "$got"; then
		rc=1
	fi
	sl_log "transfer $5 of $size bytes: got $(stat -c %s "$got" 2>/dev/null || echo 0), status $rc"
	rm -f "$got"
	return "$rc"
}

# wire_has_no_marker: neither wire capture holds the marker of data that
# must not arrive (after the pair is down, so the captures are complete).
wire_has_no_marker() {
	local f
	sleep 1
	for f in a2b b2a; do
		sl_assert "$f.raw holds no plaintext marker" sh -c "! grep -aq SEALINE-SHOULD-NOT-ARRIVE '$SL_OUT/$f.raw'"
	done
}

# print_logs: both daemons' logs, A's then B's, each with the ones a test
# moved aside (NAME.log.1, .2, ...) first.
print_logs() {
	local n f
	for n in a b; do
		sl_log "--- ${n^^}'s log"
		for f in "$D/$n.log".[0-9] "$D/$n.log"; do
			if [[ -e $f ]]; then
				cat "$f"
			fi
		done
	done
}
