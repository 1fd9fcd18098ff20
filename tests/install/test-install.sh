#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# tests/install/test-install.sh - "make install" and "make uninstall" as an
# administrator runs them, and the installed systemd units checked by
# systemd itself, on the host (no VM, no root needed beyond what make
# needs; nothing is written outside a temporary directory):
#
#   - a staged installation (PREFIX, SYSCONFDIR, LOCALSTATEDIR and
#     RUNSTATEDIR all under the stage) of programs built for it: the
#     daemons' compiled-in defaults point into the stage (sealined -t with
#     no -c reads the staged file), every unit names the staged programs
#     and configuration;
#   - "systemd-analyze verify" on every unit (the template instantiated as
#     sealine-attach@ttyS1.service), with the installed manual pages on
#     MANPATH so Documentation=man: is checked too; "systemd-analyze
#     security --offline" on every unit, each at most EXPOSURE_MAX;
#   - what the units must say: no PrivateDevices=, the tty classes in
#     DeviceAllow=, no unprivileged modprobe, RestartPreventExitStatus=78
#     for both daemons, RuntimeDirectoryPreserve=, Documentation=man:;
#   - DESTDIR with PREFIX=/usr (the packages' layout): where each file
#     lands, modes;
#   - "make uninstall" removes every file "make install" put there.
#
# The staged programs build with -O0 into build/install-test/ (their paths
# differ from the normal build's, so they cannot share objects).
# Prints "N passed, N failed" last; exit status 0 only if all passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
EXPOSURE_MAX=${EXPOSURE_MAX:-2.5}
BUILD=$ROOT/build/install-test

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; [[ -z ${2:-} ]] || sed 's/^/  /' <<<"$2" | head -n 20; }
# check DESC CMD...: pass if CMD succeeds, else fail with its output.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$desc"; else fail "$desc" "$out"; fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
dirs=(PREFIX="$stage/usr" SYSCONFDIR="$stage/etc" LOCALSTATEDIR="$stage/var"
	RUNSTATEDIR="$stage/run")

# ------------------------------------------------------------ staged build
if ! out=$(make -s -C "$ROOT" BUILD="$BUILD" CFLAGS="-O0" "${dirs[@]}" install 2>&1); then
	fail "make install PREFIX=... SYSCONFDIR=... into a stage" "$out"
	echo "$passed passed, $failed failed"
	exit 1
fi
pass "make install PREFIX=... SYSCONFDIR=... LOCALSTATEDIR=... RUNSTATEDIR=..."
unitdir=$stage/usr/lib/systemd/system

for f in usr/bin/sealctl usr/sbin/sealined usr/sbin/sealtspd \
	usr/lib/systemd/system/sealined.service \
	usr/lib/systemd/system/sealtspd.service \
	usr/lib/systemd/system/sealine-attach@.service \
	usr/lib/udev/rules.d/90-sealine.rules \
	usr/lib/modules-load.d/sealine.conf \
	etc/sealine/sealined.conf.example etc/sealine/sealtspd.conf.example; do
	if [[ -f $stage/$f ]]; then pass "installed $f"; else fail "installed $f"; fi
done

# The compiled-in defaults follow SYSCONFDIR, LOCALSTATEDIR, RUNSTATEDIR.
cp "$stage/etc/sealine/sealined.conf.example" "$stage/etc/sealine/sealined.conf"
out=$("$stage/usr/sbin/sealined" -t 2>&1)
if grep -q "configuration $stage/etc/sealine/sealined.conf is valid" <<<"$out" &&
	grep -q "state_dir    $stage/var/lib/sealine" <<<"$out" &&
	grep -q "socket       $stage/run/sealine/sealined.sock" <<<"$out"; then
	pass "sealined's default configuration, state and socket are under SYSCONFDIR, LOCALSTATEDIR, RUNSTATEDIR"
else
	fail "sealined's default configuration, state and socket are under SYSCONFDIR, LOCALSTATEDIR, RUNSTATEDIR" "$out"
fi
cp "$stage/etc/sealine/sealtspd.conf.example" "$stage/etc/sealine/sealtspd.conf"
out=$("$stage/usr/sbin/sealtspd" -t 2>&1)
if grep -q "configuration $stage/etc/sealine/sealtspd.conf is valid" <<<"$out" &&
	grep -q "database        $stage/var/lib/sealine/tsp/accounts.db" <<<"$out"; then
	pass "sealtspd's default configuration and store are under SYSCONFDIR, LOCALSTATEDIR"
else
	fail "sealtspd's default configuration and store are under SYSCONFDIR, LOCALSTATEDIR" "$out"
fi
out=$("$stage/usr/bin/sealctl" status 2>&1)
if grep -q "$stage/run/sealine/sealined.sock" <<<"$out"; then
	pass "sealctl's default socket is under RUNSTATEDIR"
else
	fail "sealctl's default socket is under RUNSTATEDIR" "$out"
fi
version=$(<"$ROOT/VERSION")
for p in usr/bin/sealctl usr/sbin/sealined usr/sbin/sealtspd; do
	out=$("$stage/$p" --version 2>&1)
	if [[ $out == "${p##*/} $version "* ]]; then
		pass "${p##*/} --version says $version (VERSION)"
	else
		fail "${p##*/} --version says $version (VERSION)" "$out"
	fi
done

# ------------------------------------------------------------ the units
for u in sealined sealtspd; do
	if grep -qx "ExecStart=$stage/usr/sbin/$u -c $stage/etc/sealine/$u.conf" "$unitdir/$u.service"; then
		pass "$u.service runs the staged $u with the staged configuration"
	else
		fail "$u.service runs the staged $u with the staged configuration" "$(grep ExecStart "$unitdir/$u.service")"
	fi
	check "$u.service: RestartPreventExitStatus=78 (no restart loop on a broken configuration)" \
		grep -qx 'RestartPreventExitStatus=78' "$unitdir/$u.service"
	check "$u.service: RuntimeDirectoryPreserve=yes (the daemons share /run/sealine)" \
		grep -qx 'RuntimeDirectoryPreserve=yes' "$unitdir/$u.service"
done
for u in sealined sealtspd sealine-attach@; do
	f=$unitdir/$u.service
	if grep -q '^PrivateDevices=yes' "$f"; then
		fail "$u.service: no PrivateDevices=yes (it hides the serial ports)"
	else
		pass "$u.service: no PrivateDevices=yes (it hides the serial ports)"
	fi
	# modprobe needs CAP_SYS_MODULE, which no unit's bounding set has.
	if grep -E '^Exec[A-Za-z]*=[-@:!]*/s?bin/modprobe' "$f"; then
		fail "$u.service: modprobe only with full privileges (+)"
	else
		pass "$u.service: modprobe only with full privileges (+)"
	fi
	check "$u.service: Documentation=man:" grep -q '^Documentation=man:' "$f"
done
for c in ttyS ttyUSB ttyACM ttySL pts; do
	check "sealined.service: DeviceAllow=char-$c" grep -qx "DeviceAllow=char-$c rw" "$unitdir/sealined.service"
done
check "sealine-attach@.service sets clocal before ldattach" \
	grep -qx "ExecStartPre=/bin/stty -F /dev/%I clocal" "$unitdir/sealine-attach@.service"

# systemd's own checks. The template as an instance, as udev starts it.
ln -s sealine-attach@.service "$unitdir/sealine-attach@ttyS1.service"
export MANPATH=$stage/usr/share/man:
for u in sealined.service sealtspd.service sealine-attach@ttyS1.service; do
	out=$(cd "$unitdir" && systemd-analyze verify "$u" 2>&1)
	if [[ $? -eq 0 && -z $out ]]; then
		pass "systemd-analyze verify $u"
	else
		fail "systemd-analyze verify $u" "$out"
	fi
	out=$(cd "$unitdir" && systemd-analyze security --offline=true "$u" 2>&1)
	level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
	if [[ -n $level ]] && awk -v l="$level" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(l <= m) }'; then
		pass "systemd-analyze security $u: exposure $level (at most $EXPOSURE_MAX)"
	else
		fail "systemd-analyze security $u: exposure ${level:-?} (at most $EXPOSURE_MAX)" "$(grep -v '^ *✓' <<<"$out")"
	fi
done
rm "$unitdir/sealine-attach@ttyS1.service"

# ------------------------------------------------------------ uninstall
out=$(make -s -C "$ROOT" BUILD="$BUILD" CFLAGS="-O0" "${dirs[@]}" uninstall 2>&1)
check "make uninstall" test -z "$out"
rm -f "$stage/etc/sealine/sealined.conf" "$stage/etc/sealine/sealtspd.conf"
left=$(find "$stage" -type f -o -type l)
if [[ -z $left ]]; then
	pass "make uninstall removes every file make install put there"
else
	fail "make uninstall removes every file make install put there" "$left"
fi

# ------------------------------------------------------------ DESTDIR
dest=$tmp/dest
if out=$(make -s -C "$ROOT/agent" install DESTDIR="$dest" PREFIX=/usr 2>&1); then
	pass "make install DESTDIR=... PREFIX=/usr"
else
	fail "make install DESTDIR=... PREFIX=/usr" "$out"
fi
for f in usr/bin/sealctl:755 usr/sbin/sealined:755 usr/sbin/sealtspd:755 \
	lib/systemd/system/sealined.service:644 \
	lib/systemd/system/sealine-attach@.service:644 \
	lib/udev/rules.d/90-sealine.rules:644 \
	lib/modules-load.d/sealine.conf:644 \
	etc/sealine/sealined.conf.example:644; do
	mode=$(stat -c %a "$dest/${f%:*}" 2>/dev/null)
	if [[ $mode == "${f#*:}" ]]; then
		pass "DESTDIR: /${f%:*} mode ${f#*:}"
	else
		fail "DESTDIR: /${f%:*} mode ${f#*:} (is ${mode:-missing})"
	fi
done
check "DESTDIR: sealined.service names /usr/sbin/sealined and /etc/sealine" \
	grep -qx 'ExecStart=/usr/sbin/sealined -c /etc/sealine/sealined.conf' "$dest/lib/systemd/system/sealined.service"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
