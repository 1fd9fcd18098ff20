#!/usr/bin/env bash
# tests/exchange/test-exchange.sh - build sealine-exchange and run its
# self-test (test-exchange.py: pty lines driven with real AT commands, then
# 200 lines with 100 simultaneous calls). Takes about a minute.
# Last line: "exchange: N passed, N failed"; exit status 0 only if all passed.
#
# Usage: tests/exchange/test-exchange.sh [-v]   (-v: show what the ports get)
# EXCHANGE=PATH tests another build (make check: the ASan+UBSan one);
# EXCHANGE_LOAD_LINES=N sets the size of the load test (default 200).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
case ${1:-} in
-h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
-v | "") ;;
*) echo "test-exchange: unknown argument '$1'" >&2; exit 2 ;;
esac
command -v python3 >/dev/null || { echo "test-exchange: python3 not found" >&2; exit 2; }
if [[ -z ${EXCHANGE:-} ]]; then
	make -s -C "$HERE" sealine-exchange
	EXCHANGE=$HERE/sealine-exchange
fi
exec python3 "$HERE/test-exchange.py" "$EXCHANGE" ${1:+"$1"}
