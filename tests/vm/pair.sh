# shellcheck shell=bash
# tests/vm/pair.sh - sealine helpers on top of lib.sh: attach sealine to
# both line ends, key them, read counters. Source after lib.sh.
#
#   sl_pair_up [MODPARAMS...]   load the module, ldattach both ends; sets
#                               SL_VTTY_A/SL_VTTY_B (/dev/ttySL<n>)
#   sl_pair_down                detach both ends, unload the module
#   sl_pair_key EPOCH [CIPHER]  fresh keys on both ends, activate from A
#   sl_stat TTY FIELD           one field of `sealctl show TTY FIELD`
#   sl_drain_wire               wait until nothing an earlier line sent is
#                               still in flight (between tests/lines)
#   sl_nl_subscribed PID        PID joined a genl multicast group
#   sl_no_data_flows SRC DST    a write on vtty SRC does not reach vtty DST

SEALCTL=${SEALCTL:-$SEALINE_ROOT/build/bin/sealctl}
SL_KEYDIR=${SL_KEYDIR:-/tmp/sealine-keys}
SL_LDATTACH_PIDS=()

# sl_vtty_of TTY: the /dev/ttySL<n> of an attached physical tty.
sl_vtty_of() {
	local index
	index=$("$SEALCTL" show "$1" index) || return 1
	echo "/dev/ttySL$index"
}

# sl_attach TTY: ldattach sealine to TTY in the foreground (-d) as a
# background job, so that killing it detaches. Prints nothing.
sl_attach() {
	ldattach -d -s 115200 -8 -n -1 29 "$1" &
	SL_LDATTACH_PIDS+=($!)
	sl_wait_for "sealine on $1" 10 "$SEALCTL" show "$1" index >/dev/null
}

sl_pair_up() {
	sl_setup_lines
	sl_load_module "$@" || sl_die "cannot load sealine.ko"
	sl_attach "$SL_TTY_A" || sl_die "ldattach on $SL_TTY_A failed"
	sl_attach "$SL_TTY_B" || sl_die "ldattach on $SL_TTY_B failed"
	SL_VTTY_A=$(sl_vtty_of "$SL_TTY_A")
	SL_VTTY_B=$(sl_vtty_of "$SL_TTY_B")
	sl_wait_for "$SL_VTTY_A and $SL_VTTY_B" 5 test -c "$SL_VTTY_A" -a -c "$SL_VTTY_B" ||
		sl_die "virtual ttys did not appear"
	stty -F "$SL_VTTY_A" raw -echo
	stty -F "$SL_VTTY_B" raw -echo
	sl_log "attached: $SL_TTY_A -> $SL_VTTY_A, $SL_TTY_B -> $SL_VTTY_B"
}

sl_pair_down() {
	local pid
	for pid in "${SL_LDATTACH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	SL_LDATTACH_PIDS=()
	sl_unload_module
}

# sl_pair_key EPOCH [CIPHER]: A sends with key t, receives with key r; B
# the other way round. Both stage it, then A activates; B follows on A's
# keepalive.
sl_pair_key() {
	local epoch=$1 cipher=${2:-chacha20poly1305}
	mkdir -p "$SL_KEYDIR" && chmod 700 "$SL_KEYDIR"
	umask 077
	"$SEALCTL" genkey >"$SL_KEYDIR/ab.$epoch"
	"$SEALCTL" genkey >"$SL_KEYDIR/ba.$epoch"
	"$SEALCTL" set-key "$SL_TTY_A" --epoch "$epoch" --cipher "$cipher" \
		--tx "$SL_KEYDIR/ab.$epoch" --rx "$SL_KEYDIR/ba.$epoch" || return 1
	"$SEALCTL" set-key "$SL_TTY_B" --epoch "$epoch" --cipher "$cipher" \
		--tx "$SL_KEYDIR/ba.$epoch" --rx "$SL_KEYDIR/ab.$epoch" || return 1
	"$SEALCTL" activate "$SL_TTY_A" --epoch "$epoch" || return 1
	sl_wait_for "B follows A to epoch $epoch" 10 \
		sl_field_is "$SL_TTY_B" epoch "$epoch"
}

# sl_stat TTY FIELD: print one field of the line.
sl_stat() {
	"$SEALCTL" show "$1" "$2"
}

# sl_field_is TTY FIELD VALUE
sl_field_is() {
	[[ $("$SEALCTL" show "$1" "$2" 2>/dev/null) == "$3" ]]
}

# sl_random_file FILE BYTES
sl_random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# sl_transfer SRC_VTTY DST_VTTY FILE SECONDS: send FILE with socat and
# receive it with head; succeeds if every byte arrived within SECONDS and
# is unchanged.
sl_transfer() {
	local src=$1 dst=$2 file=$3 secs=$4 got=/tmp/sl-got.$$ size reader rc=0
	size=$(stat -c %s "$file")
	sl_read_bytes "$dst" "$size" "$secs" "$got" & reader=$!
	sleep 0.2
	socat -u "FILE:$file" "$src,raw,echo=0" || rc=$?
	wait "$reader" || rc=$?
	if [[ $rc -eq 0 ]] && ! cmp -s "$file" "$got"; then
		rc=1
	fi
	[[ $rc -eq 0 ]] || sl_log "transfer of $size bytes: got $(stat -c %s "$got" 2>/dev/null || echo 0)"
	rm -f "$got"
	return "$rc"
}

# sl_nl_subscribed PID: PID holds a generic netlink socket that joined a
# multicast group (as /proc/net/netlink shows the first 32 groups).
sl_nl_subscribed() {
	local ino
	for ino in $(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null |
		tr -dc '0-9\n'); do
		awk -v i="$ino" '$2 == 16 && $NF == i && $4 != "00000000" { f = 1 }
			END { exit !f }' /proc/net/netlink && return 0
	done
	return 1
}

# sl_drain_wire: with nothing attached, read both line ends until whatever is
# still in flight has arrived. sealine-wire buffers an unpaced direction
# without limit, so bytes an earlier line sent would otherwise reach the
# next line attached (and delay its first frames by seconds).
sl_drain_wire() {
	local t
	t=$(mktemp -d)
	local ra rb na nb sa=-1 sb=-1 quiet=0 rc=0
	sl_stty_raw "$SL_TTY_A"
	sl_stty_raw "$SL_TTY_B"
	cat "$SL_TTY_A" >"$t/drainA" &
	ra=$!
	cat "$SL_TTY_B" >"$t/drainB" &
	rb=$!
	sl_wire drain >/dev/null || rc=$?
	# QEMU's sockets may still hold bytes: wait for 0.5 s of silence
	for _ in $(seq 300); do
		sleep 0.1
		na=$(stat -c %s "$t/drainA")
		nb=$(stat -c %s "$t/drainB")
		if [[ $na == "$sa" && $nb == "$sb" ]]; then
			quiet=$((quiet + 1))
			((quiet < 5)) || break
		else
			quiet=0
		fi
		sa=$na
		sb=$nb
	done
	kill "$ra" "$rb" 2>/dev/null || true
	wait "$ra" "$rb" 2>/dev/null || true
	sl_log "wire drained: $sa stale bytes at A, $sb at B"
	rm -rf "$t"
	return "$rc"
}

# sl_no_data_flows SRC DST: a write on SRC (a virtual tty) does not reach
# DST. DST is open before anything is written: a line delivers nothing to
# a virtual tty no one holds open, which would make this pass falsely.
sl_no_data_flows() {
	local src=$1 dst=$2 got n r rfd
	got=$(mktemp)
	exec {rfd}<"$dst"
	timeout 3 cat <&"$rfd" >"$got" 2>/dev/null &
	r=$!
	sleep 0.2
	timeout 2 sh -c "printf 'SEALINE-SHOULD-NOT-ARRIVE' >'$src'" 2>/dev/null || true
	wait "$r" 2>/dev/null || true
	exec {rfd}<&-
	n=$(stat -c %s "$got")
	rm -f "$got"
	[[ $n -eq 0 ]]
}
