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
#   - the manual pages render without warnings and document every option
#     and command; the bash completion completes commands, fields,
#     options and lines; the DKMS tree builds the module on its own and
#     it reports VERSION;
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

version=$(<"$ROOT/VERSION")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage
dirs=(PREFIX="$stage/usr" SYSCONFDIR="$stage/etc" LOCALSTATEDIR="$stage/var"
	RUNSTATEDIR="$stage/run" DKMSSRCDIR="$stage/usr/src")

# ------------------------------------------------------------ staged build
if ! out=$(make -s -C "$ROOT" BUILD="$BUILD" CFLAGS="-O0" "${dirs[@]}" install 2>&1); then
	fail "make install PREFIX=... SYSCONFDIR=... into a stage" "$out"
	echo "$passed passed, $failed failed"
	exit 1
fi
pass "make install PREFIX=... SYSCONFDIR=... LOCALSTATEDIR=... RUNSTATEDIR=..."
unitdir=$stage/usr/lib/systemd/system

for f in usr/bin/sealctl usr/sbin/sealined usr/sbin/sealtspd usr/sbin/sealine-ui \
	usr/lib/systemd/system/sealined.service \
	usr/lib/systemd/system/sealtspd.service \
	usr/lib/systemd/system/sealine-attach@.service \
	usr/lib/udev/rules.d/90-sealine.rules \
	usr/lib/modules-load.d/sealine.conf \
	usr/share/man/man8/sealctl.8 usr/share/man/man8/sealined.8 \
	usr/share/man/man8/sealtspd.8 usr/share/man/man8/sealine-ui.8 \
	usr/share/man/man5/sealined.conf.5 \
	usr/share/bash-completion/completions/sealctl \
	usr/share/bash-completion/completions/sealine-ui \
	etc/sealine/sealined.conf etc/logrotate.d/sealine \
	etc/sealine/sealined.conf.example etc/sealine/sealtspd.conf.example; do
	if [[ -f $stage/$f ]]; then pass "installed $f"; else fail "installed $f"; fi
done

# The compiled-in defaults follow SYSCONFDIR, LOCALSTATEDIR, RUNSTATEDIR.
# The default configuration it installs is valid as it is.
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
	grep -q "store           $stage/var/lib/sealine/tsp/accounts.db (an SQLite file)" <<<"$out"; then
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
out=$("$stage/usr/sbin/sealine-ui" --help 2>&1)
if grep -q "$stage/var/lib/sealine/ui-uploads" <<<"$out" &&
	grep -q "$stage/run/sealine/sealined.sock" <<<"$out"; then
	pass "sealine-ui's default upload directory and socket are under LOCALSTATEDIR, RUNSTATEDIR"
else
	fail "sealine-ui's default upload directory and socket are under LOCALSTATEDIR, RUNSTATEDIR" "$out"
fi
for p in usr/bin/sealctl usr/sbin/sealined usr/sbin/sealtspd usr/sbin/sealine-ui; do
	out=$("$stage/$p" --version 2>&1)
	if [[ $out == "${p##*/} $version "* ]]; then
		pass "${p##*/} --version says $version (VERSION)"
	else
		fail "${p##*/} --version says $version (VERSION)" "$out"
	fi
done

# ------------------------------------------------------------ manual pages
# man(1) renders each without a groff warning, with the version and the
# staged directories filled in.
for m in man8/sealctl.8 man8/sealined.8 man8/sealtspd.8 man8/sealine-ui.8 \
	man5/sealined.conf.5; do
	f=$stage/usr/share/man/$m
	out=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$f" 2>&1 >"$tmp/rendered")
	if [[ -z $out ]] && grep -q "$version" "$tmp/rendered" && ! grep -q '@[A-Z]*@' "$tmp/rendered"; then
		pass "man ${m#*/}: renders cleanly, version and paths filled in"
	else
		fail "man ${m#*/}: renders cleanly, version and paths filled in" "$out$(grep '@[A-Z]*@' "$tmp/rendered")"
	fi
done
if MANWIDTH=80 man -l "$stage/usr/share/man/man5/sealined.conf.5" 2>/dev/null | grep -q "$stage/etc/sealine/sealined.conf"; then
	pass "sealined.conf(5) names the configured SYSCONFDIR"
else
	fail "sealined.conf(5) names the configured SYSCONFDIR"
fi
# Every long option of every daemon's --help is in its page.
for p in sealined sealtspd sealine-ui; do
	missing=
	for o in $("$stage/usr/sbin/$p" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		MANWIDTH=200 man -l "$stage/usr/share/man/man8/$p.8" 2>/dev/null | grep -q -- "$o" || missing+=" $o"
	done
	if [[ -z $missing ]]; then pass "$p(8) documents every option of --help"; else fail "$p(8) documents every option of --help:$missing"; fi
done
missing=
for c in $("$stage/usr/bin/sealctl" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF > 1 { print $1 }'); do
	MANWIDTH=200 man -l "$stage/usr/share/man/man8/sealctl.8" 2>/dev/null | grep -q "^ *$c\b" || missing+=" $c"
done
if [[ -z $missing ]]; then pass "sealctl(8) documents every command"; else fail "sealctl(8) documents every command:$missing"; fi

# ------------------------------------------------------------ completion
# complete_words LINE: what the installed completion offers at the end of
# LINE (bash-completion's own loader, as an interactive shell has it).
complete_words() {
	bash --norc --noprofile -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$2 COMP_POINT=${#2}
		_sealctl sealctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$stage/usr/share/bash-completion/completions/sealctl" "$1" | sort | tr '\n' ' '
}
# sealine-ui's completion offers exactly the options of its --help.
if [[ -f /usr/share/bash-completion/bash_completion ]]; then
	got=$(bash --norc --noprofile -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		COMP_WORDS=(sealine-ui --) COMP_CWORD=1 COMP_LINE="sealine-ui --" COMP_POINT=13
		_sealine_ui sealine-ui -- sealine-ui
		printf "%s\n" "${COMPREPLY[@]}"
	' _ "$stage/usr/share/bash-completion/completions/sealine-ui" | sort | tr '\n' ' ')
	want=$("$stage/usr/sbin/sealine-ui" --help | grep -o -- '--[a-z][a-z-]*' | sort -u | tr '\n' ' ')
	if [[ -n $got && $got == "$want" ]]; then
		pass "sealine-ui's completion offers the options of its --help"
	else
		fail "sealine-ui's completion offers the options of its --help" "got: $got; want: $want"
	fi
fi
comp=$stage/usr/share/bash-completion/completions/sealctl
if [[ -f /usr/share/bash-completion/bash_completion ]]; then
	out=$(complete_words "sealctl s")
	[[ $out == "send set-key set-line show status " ]] && pass "completion: commands (sealctl s -> $out)" || fail "completion: commands" "$out"
	out=$(complete_words "sealctl set-line ttyS1 --mode ")
	[[ $out == "datagram reliable " ]] && pass "completion: set-line --mode values" || fail "completion: set-line --mode values" "$out"
	out=$(complete_words "sealctl show ttyS0 auth")
	[[ $out == "auth_failures " ]] && pass "completion: show LINE FIELD" || fail "completion: show LINE FIELD" "$out"
	out=$(complete_words "sealctl set-key ttyS1 --cipher ")
	[[ $out == "aes256gcm chacha20poly1305 " ]] && pass "completion: --cipher values" || fail "completion: --cipher values" "$out"
	out=$(complete_words "sealctl peers ")
	[[ $out == "authorise company forget list name revoke " ]] && pass "completion: peers subcommands" || fail "completion: peers subcommands" "$out"
	out=$(complete_words "sealctl outbox ")
	[[ $out == "acceptance cancel collect list notice receipt retry " ]] && pass "completion: outbox subcommands" || fail "completion: outbox subcommands" "$out"
	out=$(complete_words "sealctl inbox ")
	[[ $out == "list show " ]] && pass "completion: inbox subcommands" || fail "completion: inbox subcommands" "$out"
	out=$(complete_words "sealctl receipt ")
	[[ $out == "verify " ]] && pass "completion: receipt subcommands" || fail "completion: receipt subcommands" "$out"
	out=$(complete_words "sealctl log --")
	[[ $out == "--count --file --help --json --received --sent --socket " ]] && pass "completion: log options (--sent, --received)" || fail "completion: log options (--sent, --received)" "$out"
	out=$(complete_words "sealctl send --to 210987654321 --call --")
	[[ $out == "--call --deliver-after --deliver-window --help --level --line --quiet --socket --to --via-tsp --wait " ]] && pass "completion: send options (--call takes no argument)" || fail "completion: send options (--call takes no argument)" "$out"
	out=$(complete_words "sealctl send --to 210987654321 --wait $ROOT/VERS")
	[[ $out == "$ROOT/VERSION " ]] && pass "completion: send FILE after --wait" || fail "completion: send FILE after --wait" "$out"
	out=$(complete_words "sealctl send --to 210987654321 --via-tsp --deliver-window 22:00-06:00 $ROOT/VERS")
	[[ $out == "$ROOT/VERSION " ]] && pass "completion: send FILE after --via-tsp --deliver-window" || fail "completion: send FILE after --via-tsp --deliver-window" "$out"
	out=$(complete_words "sealctl tsp ")
	[[ $out == "accounts cdr migrate spool " ]] && pass "completion: tsp parts" || fail "completion: tsp parts" "$out"
	out=$(complete_words "sealctl tsp spool --")
	[[ $out == "--all --db --help --json " ]] && pass "completion: tsp spool options" || fail "completion: tsp spool options" "$out"
	out=$(complete_words "sealctl tsp migrate --")
	[[ $out == "--from --help --to " ]] && pass "completion: tsp migrate options" || fail "completion: tsp migrate options" "$out"
	out=$(complete_words "sealctl tsp accounts a")
	[[ $out == "add authorise " ]] && pass "completion: tsp accounts subcommands" || fail "completion: tsp accounts subcommands" "$out"
	out=$(complete_words "sealctl pair ttyS1 --")
	[[ $out == "--help --replace --socket --wait " ]] && pass "completion: pair options" || fail "completion: pair options" "$out"
	if compgen -G '/dev/ttyS[0-9]*' >/dev/null; then
		out=$(complete_words "sealctl show tty")
		[[ $out == *ttyS0* ]] && pass "completion: LINE offers the serial ports" || fail "completion: LINE offers the serial ports" "$out"
	fi
else
	fail "bash-completion is installed (scripts/install-deps)"
fi

# ------------------------------------------------------------ DKMS source
# The installed tree builds the module on its own (as dkms runs it), and
# the module reports VERSION.
tree=$stage/usr/src/sealine-$version
check "dkms.conf in /usr/src/sealine-$version names version $version" \
	grep -qx "PACKAGE_VERSION=\"$version\"" "$tree/dkms.conf"
# Exactly the module's source as git has it (kmod/ was split into more
# files; a module built in the tree leaves generated ones beside them).
want=$(cd "$ROOT" && git ls-files kmod | grep -vx kmod/dkms.conf | sed 's|^kmod/||' | sort)
have=$(ls "$tree/kmod" | sort)
if [[ $have == "$want" ]]; then
	pass "the DKMS tree's kmod/ holds every source file of the module, nothing generated"
else
	fail "the DKMS tree's kmod/ holds every source file of the module, nothing generated" "$(diff <(echo "$want") <(echo "$have"))"
fi
kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | head -n 1)
if [[ -n $kdir ]] && out=$(make -C "$tree/kmod" KDIR="$kdir" 2>&1); then
	pass "the DKMS tree builds sealine.ko against $kdir"
	out=$(/sbin/modinfo -F version "$tree/kmod/sealine.ko" 2>&1)
	[[ $out == "$version" ]] && pass "modinfo: version $version (VERSION)" || fail "modinfo: version $version (VERSION)" "$out"
else
	fail "the DKMS tree builds sealine.ko against ${kdir:-(no headers)}" "$out"
fi
make -s -C "$tree/kmod" KDIR="$kdir" clean >/dev/null 2>&1

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
# The TSP's store may be PostgreSQL and its lines terminal servers' ports:
# both over IP, after the network is up; libpq's password file where
# ProtectHome=yes does not hide it.
check "sealtspd.service: AF_INET and AF_INET6 (a PostgreSQL store, terminal servers)" \
	grep -qx 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' "$unitdir/sealtspd.service"
check "sealtspd.service: after network-online.target" \
	grep -qx 'After=network-online.target postgresql.service' "$unitdir/sealtspd.service"
check "sealtspd.service: PGPASSFILE under SYSCONFDIR" \
	grep -qx "Environment=PGPASSFILE=$stage/etc/sealine/pgpass" "$unitdir/sealtspd.service"
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

check "the logrotate file names the staged session log and reloads sealined" \
	grep -q "^$stage/var/lib/sealine/sessions.log {" "$stage/etc/logrotate.d/sealine"

# An administrator's sealined.conf survives another make install.
echo '# mine' >>"$stage/etc/sealine/sealined.conf"
make -s -C "$ROOT" BUILD="$BUILD" CFLAGS="-O0" "${dirs[@]}" install >/dev/null 2>&1
check "make install again keeps the administrator's sealined.conf" \
	grep -qx '# mine' "$stage/etc/sealine/sealined.conf"

# ------------------------------------------------------------ uninstall
out=$(make -s -C "$ROOT" BUILD="$BUILD" CFLAGS="-O0" "${dirs[@]}" uninstall 2>&1)
check "make uninstall" test -z "$out"
check "make uninstall keeps the administrator's sealined.conf" \
	grep -qx '# mine' "$stage/etc/sealine/sealined.conf"
rm -f "$stage/etc/sealine/sealined.conf" "$stage/etc/sealine/sealtspd.conf"
left=$(find "$stage" \( -type f -o -type l \) -print)
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
