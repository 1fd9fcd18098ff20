# shellcheck shell=bash
# tests/vm/lib.sh - helpers for sealine guest tests (run by scripts/vm-run).
#
# Use from a test script:
#
#     #!/bin/bash
#     set -euo pipefail
#     . "$SEALINE_ROOT/tests/vm/lib.sh"
#     sl_setup_lines
#     sl_load_module
#     sl_assert "line attaches" ldattach 29 "$SL_TTY_A"
#     ...
#     sl_check_dmesg
#
# A test passes when it exits 0. Checks (sl_pass/sl_fail/sl_assert*) are
# counted; if any failed, the test exits 1 even if the script ends with
# status 0. sl_die stops the test at once. Exit status 77 (sl_skip) means
# "skipped".
#
# The guest (see scripts/vm-run --help):
#   - root file system: the host's, read-only over 9p, under a tmpfs
#     overlay (writes succeed and vanish with the VM); fresh tmpfs on /tmp,
#     /run, /var/tmp, /var/lib, /var/log; the host out-dir at /out
#     (writable, 9p, cache=none: files the host writes there show up).
#   - no udev: device nodes come from devtmpfs, owned by root, mode 0600
#     for most ttys. A test that runs something as nobody must chmod/chown
#     the nodes it needs.
#   - serial ports, all 16550A UARTs on the ISA bus:
#       /dev/ttyS0  console
#       /dev/ttyS1  line end A  } joined through the host program
#       /dev/ttyS2  line end B  } tests/line/sealine-wire
#       /dev/ttyS3  sealine-wire's control channel (use sl_wire)
#     IRQs: ttyS1 and ttyS3 share IRQ 3, ttyS0 and ttyS2 share IRQ 4 (as
#     on a PC; the 8250 driver handles the sharing).
#     QEMU does not pace the UARTs: use "sl_wire pace BAUD" when speed
#     matters (then keep a sending tty open until its data arrived, see
#     sl_line_transfer).
#   - wire captures: QEMU records what ttyS1 and ttyS2 send in
#     /out/wireA.raw and /out/wireB.raw (independent of the guest and of
#     sealine-wire), but when its socket write has to wait (the line program
#     is slow or pacing) QEMU logs the byte once more on the retry: the
#     capture may hold a few duplicated bytes. sealine-wire records exactly
#     what it delivers to B and A in /out/a2b.raw and /out/b2a.raw; compare
#     byte streams with those.
#
# Variables (override before sourcing where it makes sense):
#   SEALINE_ROOT     repository path (exported by vm-run)
#   SEALINE_KVER     running kernel version (exported by vm-run)
#   SEALINE_KO       module to load (default $SEALINE_ROOT/kmod/sealine.ko;
#                    vm-run --debug-kernel sets the one built for it)
#   SEALINE_DEBUG_KERNEL  1 on vm-run --debug-kernel's kernel
#   SL_TTY_A, SL_TTY_B, SL_TTY_CTL   the three serial ports above
#   SL_WIRE_TIMEOUT  seconds sl_wire waits for a reply (default 10)
#   SL_NAME          test name (file name without .sh)
#   SEALINE_MODINDEX modprobe index files for kmod/sealine.ko built by
#                    vm-run (see sl_install_module), or empty

: "${SEALINE_ROOT:?SEALINE_ROOT is not set: run guest tests through scripts/vm-run}"
SEALINE_KVER=${SEALINE_KVER:-$(uname -r)}
SEALINE_KO=${SEALINE_KO:-$SEALINE_ROOT/kmod/sealine.ko}
SL_TTY_A=${SL_TTY_A:-/dev/ttyS1}
SL_TTY_B=${SL_TTY_B:-/dev/ttyS2}
SL_TTY_CTL=${SL_TTY_CTL:-/dev/ttyS3}
SL_WIRE_TIMEOUT=${SL_WIRE_TIMEOUT:-10}
# shellcheck disable=SC2034 # for the tests that source this file
SL_OUT=${SEALINE_OUT:-/out}
SL_NAME=${SL_NAME:-${0##*/}}
SL_NAME=${SL_NAME%.sh}
SL_NOBODY_UID=65534
SL_NOBODY_GID=65534
# Kernel log lines that fail a test (same list as vm-run's console scan).
SL_KERNEL_BAD='WARNING:|BUG:|Oops|Kernel panic|KASAN|UBSAN|locking correctness validator|possible circular locking|general protection fault|refcount_t|detected stalls|blocked for more than'

_sl_passed=0
_sl_failed=0

# ---------------------------------------------------------------- logging

# sl_log MSG...: a line with the guest's uptime, on stdout (the test log).
sl_log() {
	local up
	read -r up _ </proc/uptime
	printf '[%8s] %s\n' "$up" "$*"
}

# sl_pass DESC: record a passing check.
sl_pass() {
	_sl_passed=$((_sl_passed + 1))
	sl_log "ok - $*"
}

# sl_fail DESC: record a failing check and go on (the test will fail).
sl_fail() {
	_sl_failed=$((_sl_failed + 1))
	sl_log "not ok - $*"
}

# sl_die MSG: fail the test now.
sl_die() {
	_sl_failed=$((_sl_failed + 1))
	sl_log "FATAL: $*"
	exit 1
}

# sl_skip REASON: end the test as skipped (exit 77).
sl_skip() {
	sl_log "SKIP: $*"
	_sl_skipped=1
	exit 77
}

# sl_run CMD...: log a command, run it, return its status.
sl_run() {
	sl_log "+ $*"
	"$@"
}

# sl_assert DESC CMD...: run CMD; a check that passes when it exits 0.
# Always returns 0, so a failed check does not end a set -e test (sl_die
# does). Checks made in a subshell (a pipeline, $(...), a background job)
# are not counted: make them in the test's own shell.
sl_assert() {
	local desc=$1 rc=0
	shift
	"$@" || rc=$?
	if [[ $rc -eq 0 ]]; then
		sl_pass "$desc"
	else
		sl_fail "$desc (status $rc: $*)"
	fi
	return 0
}

# sl_assert_fails DESC CMD...: a check that passes when CMD exits non-zero.
# Always returns 0.
sl_assert_fails() {
	local desc=$1 rc=0
	shift
	"$@" || rc=$?
	if [[ $rc -ne 0 ]]; then
		sl_pass "$desc"
	else
		sl_fail "$desc (succeeded but should have failed: $*)"
	fi
	return 0
}

# sl_assert_eq DESC EXPECTED ACTUAL: a check that the strings are equal.
sl_assert_eq() {
	if [[ $2 == "$3" ]]; then
		sl_pass "$1"
	else
		sl_fail "$1 (expected '$2', got '$3')"
	fi
	return 0
}

# sl_wait_for DESC SECONDS CMD...: retry CMD every 0.1 s until it succeeds
# (return 0) or SECONDS (whole seconds) pass (log and return 1). Not a
# check by itself; wrap it in sl_assert to make it one.
sl_wait_for() {
	local desc=$1 secs=$2 end
	shift 2
	end=$((${EPOCHREALTIME/./} + secs * 1000000))
	until "$@"; do
		if [[ ${EPOCHREALTIME/./} -ge $end ]]; then
			sl_log "timed out after ${secs}s waiting for: $desc"
			return 1
		fi
		sleep 0.1
	done
}

# sl_tty_held DEV...: true when some process holds every DEV open.
sl_tty_held() {
	local dev f held
	for dev; do
		held=0
		# -ef: same device and inode, without a fork per descriptor
		# (an exec from the 9p root takes seconds on a loaded host)
		for f in /proc/[0-9]*/fd/*; do
			if [[ $f -ef $dev ]]; then
				held=1
				break
			fi
		done
		[[ $held -eq 1 ]] || return 1
	done
}

# sl_picocom_both DEV_A OUT_A TEXT_A DEV_B OUT_B TEXT_B [INIT_A [INIT_B]]:
# picocom on DEV_B, then, once DEV_B is held open, picocom on DEV_A (so
# that A's init string INIT_A reaches a held tty: a line delivers nothing
# to a virtual tty no one holds open). Each types its TEXT once both are
# held open, listens 4 s more and exits after 8 s of quiet; what each saw
# is in OUT_A and OUT_B. No fixed sleeps: a loaded machine only waits.
sl_picocom_both() {
	local da=$1 oa=$2 ta=$3 db=$4 ob=$5 tb=$6 ia=${7:-} ib=${8:-} pb
	local -a xa=() xb=()
	[[ -z $ia ]] || xa=(-t "$ia")
	[[ -z $ib ]] || xb=(-t "$ib")
	(sl_wait_for "picocom on $da and $db" 60 sl_tty_held "$da" "$db" >&2
	 printf '%s' "$tb"
	 sleep 4) |
		timeout 120 picocom -q -b 115200 -x 8000 "${xb[@]}" "$db" >"$ob" 2>&1 &
	pb=$!
	sl_wait_for "picocom on $db" 60 sl_tty_held "$db" || true
	(sl_wait_for "picocom on $da and $db" 60 sl_tty_held "$da" "$db" >&2
	 printf '%s' "$ta"
	 sleep 4) |
		timeout 120 picocom -q -b 115200 -x 8000 "${xa[@]}" "$da" >"$oa" 2>&1 || true
	wait "$pb" || true
}

_sl_on_err() {
	# only meaningful when the test runs with set -e: say where it died
	[[ $- == *e* ]] && sl_log "error: line $1: '$2' exited with status $3"
	return 0
}

_sl_on_exit() {
	local rc=$?
	[[ -n ${_sl_skipped:-} ]] && exit 77
	sl_log "# $SL_NAME: $_sl_passed check(s) passed, $_sl_failed failed, exit status $rc"
	if [[ $rc -eq 0 && $_sl_failed -gt 0 ]]; then
		exit 1
	fi
	exit "$rc"
}
trap '_sl_on_err "$LINENO" "$BASH_COMMAND" "$?"' ERR
trap _sl_on_exit EXIT

# ---------------------------------------------------------------- serial lines

# sl_stty_raw TTY [BAUD]: raw 8N1, no echo, no flow control, clocal (so an
# open does not wait for carrier), BAUD (default 115200). Also discards
# anything already received.
sl_stty_raw() {
	local tty=$1 baud=${2:-115200}
	stty -F "$tty" raw -echo -echoe -echok -echoctl -echoke clocal cread \
		cs8 -parenb -cstopb -crtscts -ixon -ixoff -hupcl "$baud" ||
		sl_die "stty on $tty failed"
	sl_flush_tty "$tty"
}

# sl_flush_tty TTY: throw away bytes waiting to be read on TTY.
sl_flush_tty() {
	local fd
	exec {fd}<"$1"
	while read -r -t 0 -u "$fd"; do
		read -r -N 4096 -t 0.05 -u "$fd" _ || break
	done
	exec {fd}<&-
}

# sl_setup_lines [BAUD]: sl_stty_raw on both line ends ttyS1 and ttyS2.
sl_setup_lines() {
	sl_stty_raw "$SL_TTY_A" "${1:-115200}"
	sl_stty_raw "$SL_TTY_B" "${1:-115200}"
}

# sl_read_bytes TTY COUNT SECONDS FILE: read exactly COUNT bytes from TTY
# into FILE; returns non-zero if they did not all arrive within SECONDS.
# Start it in the background before the writer, e.g.
#     sl_read_bytes "$SL_TTY_B" 4096 10 /tmp/got & reader=$!
#     head -c 4096 /tmp/sent >"$SL_TTY_A"; wait "$reader"
# (TTY may also be "/dev/fd/N" for a tty the caller holds open.)
sl_read_bytes() {
	timeout "$3" head -c "$2" <"$1" >"$4" && [[ $(stat -c %s "$4") -eq $2 ]]
}

# sl_line_transfer SRC_TTY DST_TTY FILE SECONDS: write FILE to SRC_TTY and
# check that DST_TTY receives exactly its bytes within SECONDS. The
# receiving tty is opened before anything is sent, and the sending tty is
# kept open until everything has arrived: closing a serial port discards
# what its UART FIFO still holds once the kernel's short drain timeout
# passes, which happens when a paced line (sl_wire pace) backs up.
sl_line_transfer() {
	local src=$1 dst=$2 file=$3 secs=$4 n got rfd wfd reader rc=0
	n=$(stat -c %s "$file")
	got=$(mktemp)
	exec {rfd}<"$dst"
	sl_read_bytes "/dev/fd/$rfd" "$n" "$secs" "$got" &
	reader=$!
	exec {wfd}>"$src"
	cat "$file" >&"$wfd" || rc=$?
	wait "$reader" || rc=$?
	exec {wfd}>&- {rfd}<&-
	if [[ $rc -eq 0 ]] && ! cmp -s "$file" "$got"; then
		rc=1
	fi
	[[ $rc -eq 0 ]] ||
		sl_log "sl_line_transfer $src -> $dst: $n bytes sent, $(stat -c %s "$got") received${rc:+, status $rc}"
	rm -f "$got"
	return "$rc"
}

# ---------------------------------------------------------------- sealine-wire

_sl_ctl_ready=

# sl_wire COMMAND...: send one command to sealine-wire over the control
# tty and wait (SL_WIRE_TIMEOUT s) for its reply line, which goes to
# stdout. Returns 0 for "ok ...", 1 for "err ...", 2 if no reply came.
# Commands (see tests/line/sealine-wire --help): ping, help, show [DIR],
# stats [DIR], reset-stats [DIR], pace [DIR] BAUD, buffer [DIR] BYTES,
# flip [DIR] N, drop [DIR] N, insert [DIR] N, delay [DIR] MS,
# outage [DIR] MS, garbage [DIR] N, replay [DIR] K, replay-all [DIR] on|off, clean [DIR], reset, seed N,
# drain. DIR is a2b (ttyS1 -> ttyS2), b2a or both (the default).
# Each test starts with the wire reset (vm-run's --wire-arg settings,
# counters zeroed). "drain" may take long on a paced line: raise
# SL_WIRE_TIMEOUT for it. Only one sl_wire at a time may run (they share
# the tty).
sl_wire() {
	local fd reply
	if [[ -z $_sl_ctl_ready ]]; then
		stty -F "$SL_TTY_CTL" raw -echo clocal cread cs8 -parenb -crtscts \
			-ixon -ixoff -hupcl 115200 || sl_die "stty on $SL_TTY_CTL failed"
		_sl_ctl_ready=1
	fi
	exec {fd}<>"$SL_TTY_CTL"
	# a reply to an earlier command that timed out must not be taken
	# for this one's
	while read -r -t 0 -u "$fd"; do
		read -r -t 0.2 -u "$fd" _ || break
	done
	printf '%s\n' "$*" >&"$fd"
	if ! IFS= read -r -t "$SL_WIRE_TIMEOUT" -u "$fd" reply; then
		exec {fd}>&-
		echo "sl_wire: no reply to '$*' within ${SL_WIRE_TIMEOUT}s" >&2
		return 2
	fi
	exec {fd}>&-
	reply=${reply%$'\r'}
	printf '%s\n' "$reply"
	[[ $reply == ok* ]]
}

# sl_wire_stat DIR COUNTER: print one counter of "sl_wire stats", e.g.
# "sl_wire_stat a2b dropped". Counters: in out queued frames flipped
# dropped inserted replayed.
sl_wire_stat() {
	local reply
	reply=$(sl_wire stats "$1") || return 1
	reply=" ${reply#ok } "
	reply=${reply##* "$2"=}
	[[ $reply =~ ^([0-9]+) ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

# ---------------------------------------------------------------- module

# sl_load_module [PARAM=VALUE...]: insmod $SEALINE_KO with parameters.
sl_load_module() {
	[[ -f $SEALINE_KO ]] || sl_die "$SEALINE_KO not found: build the module first (make -C kmod)"
	sl_run insmod "$SEALINE_KO" "$@" || return 1
	[[ -d /sys/module/sealine ]] || sl_die "insmod succeeded but /sys/module/sealine is missing"
}

# sl_unload_module: rmmod sealine (waits up to 5 s while it is busy).
# Returns 0 if it was not loaded.
sl_unload_module() {
	[[ -d /sys/module/sealine ]] || return 0
	for _ in $(seq 50); do
		rmmod sealine 2>/dev/null && return 0
		sleep 0.1
	done
	sl_run rmmod sealine
}

# sl_install_module [KO]: make KO (default $SEALINE_KO) known to modprobe,
# so that "modprobe sealine" and the kernel's ldisc autoload (ldattach ->
# request_module("tty-ldisc-29") -> /sbin/modprobe) find it: mounts an
# overlay over /lib/modules/$SEALINE_KVER that adds extra/sealine.ko and
# matching index files (modules.dep, modules.alias, ...). Nothing changes
# on the host. vm-run builds the index files on the host for
# kmod/sealine.ko as it was at boot ($SEALINE_MODINDEX); they still fit a
# KO rebuilt since if its name, aliases and dependencies are the same, and
# then this takes a fraction of a second. Otherwise it runs depmod in the
# guest, which reads every module over 9p (30 s to minutes under TCG).
sl_install_module() {
	local ko=${1:-$SEALINE_KO} dir=/lib/modules/$SEALINE_KVER rw=/run/sl-modules
	local idx=${SEALINE_MODINDEX:-}
	[[ -f $ko ]] || sl_die "$ko not found: build the module first"
	sl_uninstall_module
	mkdir -p "$rw/upper" "$rw/work"
	# (the debug kernel has no module tree on the host)
	mkdir -p "$dir"
	if [[ -n $idx && -f $idx/extra/sealine.ko ]] &&
		[[ $(_sl_modkeys "$ko") == "$(_sl_modkeys "$idx/extra/sealine.ko")" ]]; then
		mount -t overlay -o "lowerdir=$idx:$dir,upperdir=$rw/upper,workdir=$rw/work" \
			sl-modules "$dir" || sl_die "cannot mount the module index over $dir"
		if ! cmp -s "$ko" "$idx/extra/sealine.ko"; then
			cp "$ko" "$dir/extra/sealine.ko" || sl_die "cannot write $dir/extra"
		fi
		sl_log "installed $ko with the index vm-run built"
	else
		mount -t overlay -o "lowerdir=$dir,upperdir=$rw/upper,workdir=$rw/work" \
			sl-modules "$dir" || sl_die "cannot mount an overlay over $dir"
		mkdir -p "$dir/extra" && cp "$ko" "$dir/extra/sealine.ko" ||
			sl_die "cannot write $dir/extra"
		sl_log "no host-built index fits $ko: running depmod in the guest (slow)"
		sl_run depmod -a "$SEALINE_KVER" || sl_die "depmod failed"
	fi
}

# _sl_modkeys KO: what modprobe's index records about a module.
_sl_modkeys() {
	modinfo "$1" 2>/dev/null | grep -E '^(name|alias|depends|softdep):' | sort
}

# sl_uninstall_module: undo sl_install_module (the module stays loaded if
# it is).
sl_uninstall_module() {
	local dir=/lib/modules/$SEALINE_KVER
	while mountpoint -q "$dir"; do
		umount "$dir" || sl_die "cannot unmount $dir"
	done
	rm -rf /run/sl-modules
}

# ---------------------------------------------------------------- kernel log

# sl_check_dmesg: a check that fails if the kernel logged a warning, BUG,
# oops, lockdep/KASAN/UBSAN report since this test started (run-guest
# marks the start in the kernel log). Returns 1 if it failed.
sl_check_dmesg() {
	local bad
	bad=$(dmesg | awk -v m="sealine-vm: start test $SL_NAME" '
		substr($0, length($0) - length(m) + 1) == m { buf = ""; next }
		{ buf = buf $0 "\n" }
		END { printf "%s", buf }' |
		grep -E "$SL_KERNEL_BAD" || true)
	if [[ -n $bad ]]; then
		sl_fail "kernel log is clean"
		printf '%s\n' "$bad" | head -n 40
		return 1
	fi
	sl_pass "kernel log is clean"
}

# ---------------------------------------------------------------- users

# sl_as_nobody CMD...: run CMD as nobody (uid/gid 65534), no supplementary
# groups, no capabilities.
sl_as_nobody() {
	HOME=/ USER=nobody LOGNAME=nobody setpriv --reuid="$SL_NOBODY_UID" \
		--regid="$SL_NOBODY_GID" --clear-groups --inh-caps=-all "$@"
}
