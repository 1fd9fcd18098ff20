# shellcheck shell=bash
# tests/vm/courier.sh - helpers of the courier's VM tests (93, 94), on
# top of lib.sh, pair.sh and daemon.sh: the markers that must never reach
# the wire, and what sealctl says about envelopes.
#
#   outbox_field NAME ID FIELD   one field of envelope ID in NAME's outbox
#   outbox_state_is NAME ID STATE
#   send_id OUTPUT               the id sealctl send printed first
#   same_tree SRC DST            names, types, contents, modes, mtimes
#   has NAME REGEX ARGS...       `sealctl ARGS` of NAME matches REGEX
#   chunks_at_b_ge N             B's transfer holds N chunks durable
#   inbox_count                  entries in B's inbox

MARK_NAME=courier-name-marker-7f3a
MARK_TEXT=courier-content-marker-91c2

# outbox_field NAME ID FIELD: FIELD of envelope ID in NAME's outbox.
outbox_field() {
	ctl "$1" outbox --json 2>/dev/null | grep "\"id\": \"$2\"" |
		grep -o "\"$3\": [^,}]*" | head -n 1 | sed 's/^[^:]*: //; s/"//g'
}

outbox_state_is() {
	[[ $(outbox_field "$1" "$2" state) == "$3" ]]
}

# send_id OUTPUT: the envelope id sealctl send printed first.
send_id() {
	grep -Eo '^[0-9a-f]{32}' <<<"$1" | head -n 1
}

# same_tree SRC DST: same names, types, contents, modes and mtimes.
same_tree() {
	local src=$1 dst=$2
	diff -r --no-dereference "$src" "$dst" || return 1
	# times in whole seconds (pax keeps more, the courier seconds);
	# a symlink's own time is not carried
	diff <(cd "$src" && find . ! -type l -printf '%P %y %m %Ts\n' | sort) \
		<(cd "$dst" && find . ! -type l -printf '%P %y %m %Ts\n' | sort)
}

# has NAME REGEX SEALCTL-ARGS...: NAME's sealctl output matches REGEX.
has() {
	local n=$1 re=$2
	shift 2
	ctl "$n" "$@" 2>/dev/null | grep -Eq -- "$re"
}

# chunks_at_b_ge N: B's line shows at least N chunks of its transfer
# durable.
chunks_at_b_ge() {
	local n
	n=$(status_field b courier_chunks)
	[[ ${n%%/*} =~ ^[0-9]+$ ]] && ((${n%%/*} >= $1))
}

inbox_count() {
	find "$(state b)/inbox" -mindepth 1 -maxdepth 1 | wc -l
}
