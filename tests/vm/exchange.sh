# shellcheck shell=bash
# tests/vm/exchange.sh - the guest's control channel to the simulated
# telephone exchange (scripts/vm-run --exchange): a UART that QEMU joins
# to sealine-exchange's --control socket, named in /out/guest.env as
# SEALINE_EXCHANGE_CTL. Source after lib.sh. Provides:
#   sl_exchange CMD...        one command, its answer on stdout
#   sl_exchange_line_of NUMBER-OR-ID PEER   the line id whose peer is PEER
#   sl_exchange_field ID KEY  one key=value field of "status ID"
# Commands and answers: tests/exchange/sealine-exchange --help, CONTROL.

SL_EXCHANGE_TIMEOUT=${SL_EXCHANGE_TIMEOUT:-10}
_sl_exchange_ready=

# _sl_exchange_tty: the control port's device, configured once; the
# first use waits (<= 20 s) until "ping" is answered, since QEMU connects
# to the exchange's socket in the background and drops what the guest
# sends before that.
_sl_exchange_tty() {
	[[ -n ${SEALINE_EXCHANGE_CTL:-} ]] || . /out/guest.env
	[[ -n ${SEALINE_EXCHANGE_CTL:-} ]] ||
		sl_die "no SEALINE_EXCHANGE_CTL in /out/guest.env (run with scripts/vm-run --exchange)"
	echo "/dev/$SEALINE_EXCHANGE_CTL"
}

# _sl_exchange_once CMD...: send one line, print the answer (all its
# lines: "ok N" of status is followed by N lines). Status 0 for "ok",
# 1 for "error:", 2 for no answer in time.
_sl_exchange_once() {
	local tty fd reply n i more
	tty=$(_sl_exchange_tty) || return 2
	exec {fd}<>"$tty"
	# a late answer to an earlier command must not be taken for this one's
	while read -r -t 0 -u "$fd"; do
		read -r -t 0.2 -u "$fd" _ || break
	done
	printf '%s\n' "$*" >&"$fd"
	if ! IFS= read -r -t "$SL_EXCHANGE_TIMEOUT" -u "$fd" reply; then
		exec {fd}>&-
		echo "sl_exchange: no answer to '$*' within ${SL_EXCHANGE_TIMEOUT}s" >&2
		return 2
	fi
	reply=${reply%$'\r'}
	printf '%s\n' "$reply"
	if [[ $1 == status && $reply =~ ^ok\ ([0-9]+)$ ]]; then
		n=${BASH_REMATCH[1]}
		for ((i = 0; i < n; i++)); do
			if ! IFS= read -r -t "$SL_EXCHANGE_TIMEOUT" -u "$fd" more; then
				exec {fd}>&-
				echo "sl_exchange: status answer cut short ($i of $n lines)" >&2
				return 2
			fi
			printf '%s\n' "${more%$'\r'}"
		done
	fi
	exec {fd}>&-
	[[ $reply == ok* ]] && return 0
	return 1
}

# sl_exchange CMD...: send CMD to the exchange and print its answer;
# succeed only on "ok ...".
sl_exchange() {
	local tty i
	if [[ -z $_sl_exchange_ready ]]; then
		tty=$(_sl_exchange_tty) || return 2
		stty -F "$tty" raw -echo clocal cread cs8 -parenb -crtscts \
			-ixon -ixoff -hupcl 115200 || sl_die "stty on $tty failed"
		for ((i = 0; i < 40; i++)); do
			SL_EXCHANGE_TIMEOUT=0.5 _sl_exchange_once ping >/dev/null 2>&1 && break
		done
		[[ $i -lt 40 ]] || { echo "sl_exchange: the exchange does not answer on $tty" >&2; return 2; }
		_sl_exchange_ready=1
	fi
	_sl_exchange_once "$@"
}

# sl_exchange_field ID KEY: the value of KEY in the status line of ID.
sl_exchange_field() {
	local out line
	out=$(sl_exchange status "$1") || return 1
	line=$(grep -m1 "^$1 " <<<"$out") || return 1
	line=" ${line#* } "
	[[ $line == *" $2="* ]] || return 1
	line=${line##* "$2"=}
	echo "${line%% *}"
}

# sl_exchange_line_of SEL PEER: the id of the line of SEL (a NUMBER)
# whose call peer is PEER (a line id).
sl_exchange_line_of() {
	local out
	out=$(sl_exchange status "$1") || return 1
	awk -v p="peer=$2" '$1 != "ok" { for (i = 2; i <= NF; i++) if ($i == p) { print $1; exit } }' <<<"$out" |
		grep .
}

# sl_exchange_hangup_all: end every call on the exchange's lines. A test
# that kills its daemons leaves their calls up: the exchange cannot see
# DTR drop over QEMU's sockets, so a modem whose computer went away
# stays connected, and the next test's modem init would go out as data.
sl_exchange_hangup_all() {
	local spec
	[[ -n ${SEALINE_EXCHANGE:-} ]] || . /out/guest.env
	for spec in ${SEALINE_EXCHANGE:-}; do
		sl_exchange hangup "${spec#*=}" >/dev/null 2>&1 || true
	done
}
