#!/bin/bash
# 66-churn: lines come and go while they are used, opened and asked about
# (tests/vm/churn.py): SL_CHURN_CYCLES attach/detach cycles (default 40,
# 10 on the debug kernel, which runs them 3-6 times slower; "make churn"
# runs 1,000 there) on two sealine lines joined
# by a pty, each with traffic both ways, racing opens of the virtual ttys
# and racing netlink requests, and an unload/load of the module every
# SL_CHURN_UNLOAD_EVERY cycles (default 10). Passes when no user hangs,
# nothing is left behind, the module unloads, and the kernel log stays
# clean (on the debug kernel: no lockdep, KASAN, KFENCE or debug-objects
# report; 99-kmemleak then looks for leaks).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

if [[ ${SEALINE_DEBUG_KERNEL:-0} == 1 ]]; then
	CYCLES=${SL_CHURN_CYCLES:-10}
else
	CYCLES=${SL_CHURN_CYCLES:-40}
fi
UNLOAD_EVERY=${SL_CHURN_UNLOAD_EVERY:-10}
export SEALCTL SEALINE_KO SL_KEYDIR

sl_load_module || sl_die "cannot load sealine.ko"
rc=0
python3 "$SEALINE_ROOT/tests/vm/churn.py" "$CYCLES" "$UNLOAD_EVERY" || rc=$?
sl_assert_eq "$CYCLES attach/detach cycles with traffic, racing opens and requests" 0 "$rc"
sl_assert "the module unloads at the end" sl_unload_module
sl_check_dmesg
