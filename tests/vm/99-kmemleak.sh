#!/bin/bash
# 99-kmemleak: run last on the debug kernel (vm-run --debug-kernel): a
# kmemleak scan after every test before it finds no leaked object that
# sealine allocated (a backtrace frame in sealine, or in module space: on
# the debug kernel every other driver is built in, and frames of an
# unloaded module print as bare addresses). Other reports (the kernel's
# own, from boot) are listed, not failed. Skipped on a kernel without
# kmemleak (Debian's).
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"

K=/sys/kernel/debug/kmemleak
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
[[ -e $K ]] || sl_skip "no $K (this kernel has no kmemleak: run with vm-run --debug-kernel)"
if [[ -d /sys/module/sealine ]]; then
	rmmod sealine || sl_fail "sealine is still loaded and busy"
fi

# An object is reported once it has been unreferenced for 5 s and through
# two scans.
sleep 6
echo scan >"$K"
sleep 6
echo scan >"$K"
report=$(cat "$K")
total=$(grep -c '^unreferenced object' <<<"$report" || true)
sl_log "kmemleak: $total unreferenced object(s) in all"

# Split the report into objects; keep those with a sealine frame or a
# frame in module space (0xffffffffc0000000 and up, bare or symbolised).
ours=$(awk '
	/^unreferenced object/ { if (obj != "" && hit) printf "%s\n", obj; obj = $0 "\n"; hit = 0; next }
	{ obj = obj $0 "\n" }
	/sealine/ { hit = 1 }
	/\[<ffffffffc[0-9a-f]*>\] (0xffffffffc|[^ ]*\[)/ { hit = 1 }
	END { if (obj != "" && hit) printf "%s\n", obj }' <<<"$report")
if [[ -n $ours ]]; then
	sl_fail "kmemleak: objects leaked by sealine"
	printf '%s\n' "$ours" | head -n 80
else
	sl_pass "kmemleak: no object leaked by sealine ($total other report(s))"
fi
if [[ $total -gt 0 ]]; then
	sl_log "other kmemleak reports (not sealine's), first lines:"
	printf '%s\n' "$report" | head -n 40
fi
sl_check_dmesg
