#!/bin/bash
# tests/vm-systemd/10-packages.sh - sealine installed as a Debian admin
# would, on a machine that boots with systemd as PID 1 (scripts/vm-run
# --append slvm.init=systemd: the host root under a tmpfs overlay, so
# dpkg's database is the host's and nothing reaches the host). One boot:
#
#   - dpkg -i the packages "make deb" built (build/deb): DKMS builds
#     sealine.ko for the running kernel, modinfo finds it with the version
#     of VERSION, and the postinst starts sealined.service, which reports
#     ready (Type=notify) and loads the module (ExecStartPre=+modprobe);
#   - a line configured in /etc/sealine/sealined.conf, attached by the
#     udev rule (sealine-attach@ttyS1.service, started by udev), keys
#     with a peer (a second sealined on ttyS2) after the operators pair;
#   - systemctl reload keeps the keyed line up (same pid, same epoch);
#   - a broken configuration: the unit fails with status 78 and is not
#     restarted (RestartPreventExitStatus=78), the journal names FILE:LINE;
#   - stopping sealine-attach@ttyS1 detaches the line;
#   - sealtspd.service with a configuration on two modem lines of the
#     simulated exchange reports ready and has opened them (its unit's
#     DeviceAllow= lets it), as systemctl and sealctl status show, and
#     serves a call between two endpoints (the tree's sealined on their
#     own modem lines): connected, hung up, its call record written.
#
# Run by the "systemd" suite of scripts/check after the "deb" suite.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"
SL_LINE_EXTRA="rekey_interval = 20m"
. "$SEALINE_ROOT/tests/vm/daemon.sh"

[[ $(</proc/1/comm) == systemd ]] ||
	sl_die "systemd is not PID 1 (run with scripts/vm-run --append slvm.init=systemd)"
sl_pass "systemd is PID 1"

VERSION=$(<"$SEALINE_ROOT/VERSION")
KVER=$(uname -r)
DEBS=$SEALINE_ROOT/build/deb
DKMS_DEB=$DEBS/sealine-dkms_${VERSION}_all.deb
TOOLS_DEB=$DEBS/sealine_${VERSION}_amd64.deb
[[ -f $DKMS_DEB && -f $TOOLS_DEB ]] || sl_die "no packages in $DEBS: run make deb first"

prop() { systemctl show -P "$2" "$1"; }
journal_has() { journalctl -u "$1" --no-pager -o cat 2>/dev/null | grep -Eq -- "$2"; }
print_journal() {
	sl_log "--- journal of $1:"
	journalctl -u "$1" --no-pager -o short-monotonic 2>/dev/null | tail -n 40
}
trap 'rc_=$?; cleanup; print_journal sealined.service; print_journal sealtspd.service; (exit "$rc_"); _sl_on_exit' EXIT

# ---------------------------------------------------------------- install
export DEBIAN_FRONTEND=noninteractive
# A container image's /usr/sbin/policy-rc.d (Docker's exits 101) forbids
# maintainer scripts to start services; a Debian machine has none. Mask
# it for this boot only (a bind mount, nothing written below it).
if [[ -e /usr/sbin/policy-rc.d ]]; then
	printf '#!/bin/sh\nexit 0\n' >/run/policy-rc.d
	chmod 755 /run/policy-rc.d
	mount --bind /run/policy-rc.d /usr/sbin/policy-rc.d
fi
# dpkg's output, each line with the time it came (where the minutes go)
dpkg_install() {
	dpkg -i "$@" 2>&1 | while IFS= read -r l; do sl_log "  $l"; done
	return "${PIPESTATUS[0]}"
}
sl_log "dpkg -i $DKMS_DEB $TOOLS_DEB (DKMS builds the module under TCG)"
sl_assert "dpkg -i sealine-dkms sealine" dpkg_install "$DKMS_DEB" "$TOOLS_DEB"
SEALCTL=/usr/bin/sealctl
sl_assert "dkms status: sealine/$VERSION installed for $KVER" \
	sh -c "dkms status sealine/$VERSION -k $KVER | grep -q installed"
sl_assert_eq "modinfo finds sealine with version $VERSION" "$VERSION" \
	"$(modinfo -F version sealine 2>&1)"
sl_assert "the module is DKMS's" sh -c "modinfo -n sealine | grep -q /updates/dkms/"

sl_assert "the postinst starts sealined.service, ready (Type=notify)" \
	sl_wait_for "sealined active" 60 systemctl is-active --quiet sealined.service
sl_assert_eq "sealined reports its status to systemd" running "$(prop sealined StatusText)"
sl_assert "sealined.service loaded the module (ExecStartPre=+modprobe)" test -d /sys/module/sealine
sl_assert "the journal shows sealined $VERSION starting" \
	journal_has sealined "sealined $VERSION starting"
sl_assert "the default configuration names no line, and the journal says so" \
	journal_has sealined "names no line"

# ---------------------------------------------------------------- a keyed line
# A is the packaged sealined under systemd on ttyS1; B the tree's sealined
# on ttyS2, the other end of the cable.
sock() {
	if [[ $1 == a ]]; then echo /run/sealine/sealined.sock; else echo "/run/sealine-$SL_NAME-$1/sealined.sock"; fi
}
mkdir -p "$D"
chmod 700 "$D"
systemctl stop sealined.service
rm -rf /var/lib/sealine/*	# the identity the first start drew
cat >/etc/sealine/sealined.conf <<EOF
[agent]
account = $ACCT_A
log_level = debug

[line ttyS1]
peer = $ACCT_B
role = initiator
rekey_interval = 20m
EOF
sl_assert "sealined -t accepts the configuration" sealined -t
sl_setup_lines
sl_assert "systemctl start sealined" systemctl start sealined.service

# The udev rule as an admin enables it: attach at boot or when plugged.
sed -n 's/^#\(SUBSYSTEM=="tty", KERNEL=="ttyS1".*\)/\1/p' \
	/lib/udev/rules.d/90-sealine.rules >/etc/udev/rules.d/90-sealine.rules
sl_assert "the udev rule for ttyS1 is enabled" grep -q 'sealine-attach@%k.service' /etc/udev/rules.d/90-sealine.rules
udevadm control --reload
udevadm trigger --action=add --settle /sys/class/tty/ttyS1 || true
if sl_wait_for "sealine-attach@ttyS1 active" 30 systemctl is-active --quiet sealine-attach@ttyS1.service; then
	sl_pass "udev starts sealine-attach@ttyS1.service"
else
	sl_fail "udev starts sealine-attach@ttyS1.service"
	systemctl start sealine-attach@ttyS1.service || true
fi
sl_assert "sealine-attach@ttyS1 attached the line" sl_wait_for "ttyS1 attached" 20 "$SEALCTL" show ttyS1 index
sl_assert "sealine-attach@ttyS1 set clocal" sh -c "stty -F /dev/ttyS1 -a | grep -Eq '(^| )clocal( |\$)'"
sl_attach /dev/ttyS2
write_conf b "$ACCT_B" ttyS2 "$ACCT_A" responder
start b
sl_assert "A (systemd) registers as the agent of ttyS1" sl_wait_for "A registered" 30 line_registered a
sl_assert "B registers as the agent of ttyS2" sl_wait_for "B registered" 30 line_registered b
sl_assert "the operators pair, the line keys" pair_ab
sl_assert "the journal shows the session" journal_has sealined "ttyS1: .*(session|keyed)"

# ---------------------------------------------------------------- reload
pid=$(prop sealined MainPID)
epoch=$("$SEALCTL" show ttyS1 epoch)
sl_assert "systemctl reload sealined" systemctl reload sealined.service
sl_assert "the journal shows the reload" \
	sl_wait_for "reload logged" 20 journal_has sealined "SIGHUP: re-reading the configuration"
sl_assert_eq "reload keeps the process" "$pid" "$(prop sealined MainPID)"
sl_assert_eq "reload keeps the line keyed at its epoch" "keyed $epoch" \
	"$("$SEALCTL" show ttyS1 state) $("$SEALCTL" show ttyS1 epoch)"
sl_assert "reload: both ends still keyed at one epoch" both_keyed_same_epoch

# ---------------------------------------------------------------- config error
printf '[agent]\nlog_level = loud\n' >/etc/sealine/sealined.conf
sl_assert_fails "systemctl restart with a broken configuration fails" systemctl restart sealined.service
sleep 6		# RestartSec=2: a restart loop would have restarted twice
sl_assert_eq "the unit failed with status 78 (EX_CONFIG)" "failed 78" \
	"$(prop sealined ActiveState) $(prop sealined ExecMainStatus)"
sl_assert_eq "and was not restarted (RestartPreventExitStatus=78)" 0 "$(prop sealined NRestarts)"
sl_assert "the journal names file and line" \
	journal_has sealined "/etc/sealine/sealined.conf:2: "

# ---------------------------------------------------------------- detach
sl_assert "systemctl stop sealine-attach@ttyS1" systemctl stop sealine-attach@ttyS1.service
sl_assert "the line is detached" sl_wait_for "ttyS1 detached" 10 sh -c "! $SEALCTL show ttyS1 index"

# ---------------------------------------------------------------- the TSP
# The packaged sealtspd under its unit on the exchange's TSP lines (ttyS5,
# ttyS6: one number), two of the tree's sealined as the endpoints of
# tests/vm/tsp.sh (C on ttyS4 calls R on ttyS7): it serves a call.
[[ -n ${SEALINE_EXCHANGE:-} ]] || . /out/guest.env
. "$SEALINE_ROOT/tests/vm/exchange.sh"
. "$SEALINE_ROOT/tests/vm/tsp.sh"
tsp_require
DB=/var/lib/sealine/tsp/accounts.db
printf '[agent]\nstate_dir = /var/lib/sealine/tsp-state\nsocket = /run/sealine/sealtspd.sock\n\n[tsp]\nstore = %s\nlines = /dev/ttyS5, /dev/ttyS6\nanswer_timeout = 15\n' \
	"$DB" >/etc/sealine/sealtspd.conf
sl_exchange_hangup_all
sl_assert "sealtspd -t accepts its configuration" sealtspd -t
sl_assert "systemctl start sealtspd (ready: store, socket, lines)" systemctl start sealtspd.service
sl_assert_eq "sealtspd.service is active" active "$(prop sealtspd ActiveState)"
sl_assert "sealtspd opened its modem lines under the unit (DeviceAllow)" \
	sl_wait_for "TSP lines idle" 60 sh -c "$SEALCTL status --socket /run/sealine/sealtspd.sock | grep -Eq 'ttyS6.*idle'"
"$SEALCTL" status --socket /run/sealine/sealtspd.sock || true
TSP_KEY=$(sed -n 's/^public //p' /var/lib/sealine/tsp-state/identity)
sl_assert "the journal shows the TSP's static key for the endpoints to pin" \
	journal_has sealtspd "static key $TSP_KEY"
endpoint_conf c "$ACCT_A" ttyS4
endpoint_conf r "$ACCT_B" ttyS7 "pairing = yes"	# answers a first call
start c
start r
sl_assert "C's modem is idle" sl_wait_for "C idle" 30 idle c
sl_assert "R's modem is idle" sl_wait_for "R idle" 30 idle r
pubkey c >"$D/c.pub"
pubkey r >"$D/r.pub"
sl_assert "enrol C at the TSP" tsp accounts add "$ACCT_A" --name "Caller Ltd" \
	--key "$D/c.pub" --phone "$PHONE_C" --caller-id "$PHONE_C"
sl_assert "enrol R at the TSP" tsp accounts add "$ACCT_B" --name "Recipient plc" \
	--key "$D/r.pub" --phone "$PHONE_B" --caller-id "$PHONE_B"
sl_assert "R accepts calls from C" tsp accounts authorise "$ACCT_B" "$ACCT_A"
sl_assert "C calls R through the TSP under systemd" \
	timeout 90 "$SEALCTL" call "$ACCT_B" --socket "$(sock c)"
sl_assert "R's side of the call is connected" sl_wait_for "R connected" 30 connected r
sl_assert_eq "R learnt from the TSP who calls" "$ACCT_A" "$(status_field r call_peer)"
sl_assert "C hangs up" "$SEALCTL" hangup ttyS4 --socket "$(sock c)"
sl_assert "R is idle again" sl_wait_for "R idle" 60 idle r
# record_of_the_call: the newest call record is C's completed call to R
record_of_the_call() {
	tsp cdr --json | jq -e --arg c "$ACCT_A" --arg r "$ACCT_B" \
		'.[-1] | .outcome == "completed" and .caller_account == $c and .recipient_account == $r' >/dev/null
}
sl_assert "the TSP's call record: completed, from C to R" \
	sl_wait_for "call record" 30 record_of_the_call
tsp cdr --json | jq -c '.[-1]' || true
stop c
stop r
sl_assert "systemctl stop sealtspd" systemctl stop sealtspd.service
sl_assert_eq "sealtspd stopped cleanly" "inactive 0" \
	"$(prop sealtspd ActiveState) $(prop sealtspd ExecMainStatus)"
