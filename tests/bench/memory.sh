#!/bin/bash
# tests/bench/memory.sh - sealine's kernel memory per line, in the VM
# (scripts/bench runs it; alone: scripts/vm-run tests/bench/memory.sh).
#
# Opens LINES pty pairs (default 256, SEALINE_MAX_LINES) and then, one
# stage after the other, measures the kernel's slab (/proc/meminfo Slab
# after dropping caches) and free memory against the stage before:
#
#   attach      sealine attached to every pty slave (no key, virtual tty
#               closed): the fixed cost of a line
#   chacha      a ChaCha20-Poly1305 key pair activated on every line
#   chacha-rekey  a second key staged on every line (current + next)
#   chacha-prev   the second key activated (previous + current)
#   clear       every key cleared (back to "attach")
#   aes, aes-rekey, aes-prev, clear   the same with AES-256-GCM
#   detach      sealine detached from every pty (back to the start: what
#               is left is a leak, or a cache that keeps its slabs)
#
# Writes /out/memory.txt (a table, per line in bytes), /out/memory.rst
# (the same for Documentation/performance.rst), /out/memory.figures
# ("key value" lines) and the slab caches that grew most at each stage in
# /out/memory-slabs.txt.
set -euo pipefail
. "$SEALINE_ROOT/tests/vm/lib.sh"
. "$SEALINE_ROOT/tests/vm/pair.sh"

LINES=${SL_MEMORY_LINES:-256}
PROBE=$SEALINE_ROOT/tests/vm/ttyprobe.py
OUT=${SL_OUT:-/out}
t=$(mktemp -d)
exec 3>"$OUT/memory-slabs.txt"

slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
free_kb() { awk '/^MemFree:/ { print $2 }' /proc/meminfo; }
# Drop clean caches, then give every slab cache's empty slabs back, so
# freed objects do not count (SLUB keeps some slabs for reuse).
settle() {
	local f
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for f in /sys/kernel/slab/*/shrink; do
		echo 1 >"$f" 2>/dev/null || true
	done
	sleep 1
}
slabs() { # cache -> bytes in use
	awk 'NR > 2 { print $1, $3 * $4 }' /proc/slabinfo | sort
}

declare -A SLAB FREE
prev_stage=
STAGES=()
measure() { # STAGE
	settle
	SLAB[$1]=$(slab_kb)
	FREE[$1]=$(free_kb)
	slabs >"$t/slabs.$1"
	STAGES+=("$1")
	if [[ -n $prev_stage ]]; then
		echo "== $1 (vs $prev_stage): caches that grew most, bytes" >&3
		join "$t/slabs.$prev_stage" "$t/slabs.$1" |
			awk '{ d = $3 - $2; if (d != 0) print d, $1 }' | sort -rn | head -n 8 >&3
	fi
	sl_log "stage $1: Slab ${SLAB[$1]} kB, MemFree ${FREE[$1]} kB"
	prev_stage=$1
}

# key_all CIPHER EPOCH [--activate|activate]: on every line
keyfiles() {
	umask 077
	"$SEALCTL" genkey >"$t/k.tx"
	"$SEALCTL" genkey >"$t/k.rx"
}
set_key_all() { # CIPHER EPOCH [--activate]
	local n
	keyfiles
	for n in "${NAMES[@]}"; do
		"$SEALCTL" set-key "$n" --cipher "$1" --epoch "$2" --tx "$t/k.tx" --rx "$t/k.rx" ${3:+"$3"} ||
			sl_die "set-key $n failed"
	done
}
activate_all() { # EPOCH
	local n
	for n in "${NAMES[@]}"; do
		"$SEALCTL" activate "$n" --epoch "$1" || sl_die "activate $n failed"
	done
}
clear_all() {
	local n
	for n in "${NAMES[@]}"; do "$SEALCTL" clear-keys "$n"; done
}

sl_load_module || sl_die "cannot load sealine.ko"
coproc PTYS { python3 "$PROBE" ptys "$LINES" --control --ready "$t/ready" 2>&1; }
NAMES=()
for _ in $(seq "$LINES"); do
	read -r -u "${PTYS[0]}" _ slave || sl_die "ttyprobe ptys stopped early"
	NAMES+=("$slave")
done
sl_wait_for "ptys open" 30 test -e "$t/ready" || sl_die "ttyprobe ptys did not start"
ctl() {
	local reply
	echo "$1" >&"${PTYS[1]}"
	read -r -t 120 -u "${PTYS[0]}" reply || sl_die "ttyprobe: no answer to $1"
	[[ $reply == "ok $1" ]] || sl_die "ttyprobe: $reply"
}

measure start
ctl attach
sl_assert_eq "$LINES lines attached" "$LINES" "$("$SEALCTL" show --json | jq length)"
measure attach
set_key_all chacha20poly1305 1 --activate
measure chacha
set_key_all chacha20poly1305 2
measure chacha-rekey
activate_all 2
measure chacha-prev
clear_all
measure clear
set_key_all aes256gcm 3 --activate
measure aes
set_key_all aes256gcm 4
measure aes-rekey
activate_all 4
measure aes-prev
clear_all
measure clear2
ctl detach
measure detach
exec {PTYS[1]}>&-
wait "$PTYS_PID" 2>/dev/null || true
sl_unload_module

# per line, in bytes: KiB * 1024 / LINES
per() { echo $(((${SLAB[$2]} - ${SLAB[$1]}) * 1024 / LINES)); }
perfree() { echo $(((${FREE[$1]} - ${FREE[$2]}) * 1024 / LINES)); }
{
	echo "memory.lines $LINES"
	echo "memory.fixed.slab $(per start attach)"
	echo "memory.fixed.free $(perfree start attach)"
	echo "memory.chacha.key.slab $(per attach chacha)"
	echo "memory.chacha.rekey.slab $(per attach chacha-rekey)"
	echo "memory.chacha.prev.slab $(per attach chacha-prev)"
	echo "memory.aes.key.slab $(per clear aes)"
	echo "memory.aes.rekey.slab $(per clear aes-rekey)"
	echo "memory.aes.prev.slab $(per clear aes-prev)"
	echo "memory.cleared.slab $(per attach clear)"
	echo "memory.detached.slab $(per start detach)"
} >"$OUT/memory.figures"
row() { printf '%-44s %10s %10s\n' "$1" "$2" "$3"; }
{
	echo "Kernel memory per line, $LINES lines on pty pairs (bytes per line; Slab after drop_caches and shrinking every cache)"
	row "stage" "slab" "MemFree"
	row "line attached, no key (fixed)" "$(per start attach)" "$(perfree start attach)"
	row "+ ChaCha20-Poly1305 key (current)" "$(per attach chacha)" "$(perfree attach chacha)"
	row "+ ChaCha20-Poly1305 rekey (current + next)" "$(per attach chacha-rekey)" "$(perfree attach chacha-rekey)"
	row "+ ChaCha20-Poly1305 after rekey (prev + cur)" "$(per attach chacha-prev)" "$(perfree attach chacha-prev)"
	row "+ AES-256-GCM key (current)" "$(per clear aes)" "$(perfree clear aes)"
	row "+ AES-256-GCM rekey (current + next)" "$(per clear aes-rekey)" "$(perfree clear aes-rekey)"
	row "+ AES-256-GCM after rekey (prev + cur)" "$(per clear aes-prev)" "$(perfree clear aes-prev)"
	row "keys cleared (vs attached)" "$(per attach clear)" "$(perfree attach clear)"
	row "all detached (vs start)" "$(per start detach)" "$(perfree start detach)"
} | tee "$OUT/memory.txt"
{
	echo "============================================  ==========  =========="
	echo "Per line (bytes)                              Slab        MemFree"
	echo "============================================  ==========  =========="
	tail -n +3 "$OUT/memory.txt" | while IFS= read -r l; do
		printf '%-44s  %10s  %10s\n' "${l:0:44}" "$(awk '{ print $(NF-1) }' <<<"$l")" "$(awk '{ print $NF }' <<<"$l")"
	done
	echo "============================================  ==========  =========="
} >"$OUT/memory.rst"
sl_assert "fixed cost per line measured" test -n "$(per start attach)"
sl_check_dmesg
rm -rf "$t"
