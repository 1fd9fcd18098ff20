#!/usr/bin/env bash
# tests/line/test-wire.sh - host self-test of sealine-wire.
#
# Runs sealine-wire between unix socket servers made by socat (standing in
# for QEMU's UART chardevs) and checks pass-through, recording, pacing
# accuracy, each fault, replay, determinism, the control socket, the
# handshake counters (ctlstats), the man in the middle (mitm: commands,
# relaying, answering a PAIR_COMMIT on both legs) and error handling.
# Needs socat and perl (perl-base). Takes about 15 s.
# Prints "N passed, N failed" last; exit status 0 only if all passed.
#
# Usage: tests/line/test-wire.sh [-v]   (-v: show sealine-wire's logs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
WIRE=$HERE/sealine-wire
VERBOSE=0
case ${1:-} in
-v) VERBOSE=1 ;;
-h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) echo "test-wire: unknown argument '$1'" >&2; exit 2 ;;
esac

for tool in socat perl make; do
	command -v "$tool" >/dev/null || { echo "test-wire: $tool not found (scripts/install-deps)" >&2; exit 2; }
done
make -s -C "$HERE" sealine-wire

T=$(mktemp -d /tmp/test-wire.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # DESC CMD...
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
size() { stat -c %s "$1"; }

wait_sockets() { # PATH...
	local p
	for p in "$@"; do
		for _ in $(seq 200); do [[ -S $p ]] && break; sleep 0.01; done
		[[ -S $p ]] || { echo "test-wire: socat did not create $p" >&2; return 1; }
	done
}

# run_case NAME DIR INPUT [WIRE-ARGS...]: send INPUT from the source end of
# DIR (a2b: A sends, B receives; b2a the other way) through sealine-wire
# and capture what the other end receives in $T/NAME.out. The source
# closes after INPUT, which makes sealine-wire deliver what it holds and
# exit. Sets ELAPSED (seconds from start to the receiver's end) and
# SPAN (seconds from the first byte's arrival to the end, which does not
# depend on how fast processes start on a busy machine), and leaves the
# wire's log in $T/NAME.log.
run_case() {
	local name=$1 dir=$2 input=$3 src dst t0 t1 rx wire rc=0
	shift 3
	if [[ $dir == a2b ]]; then src=a dst=b; else src=b dst=a; fi
	rm -f "$T/a" "$T/b"
	socat -U "UNIX-LISTEN:$T/$src" "OPEN:$input,rdonly" &
	PIDS+=("$!")
	# the receiver notes when the first byte came (dd reads exactly one)
	# and when the stream ended
	socat -u -t 0 "UNIX-LISTEN:$T/$dst" - | {
		dd bs=1 count=1 status=none
		echo "$EPOCHREALTIME" >"$T/$name.first"
		cat
		echo "$EPOCHREALTIME" >"$T/$name.end"
	} >"$T/$name.out" &
	rx=$!
	PIDS+=("$rx")
	wait_sockets "$T/a" "$T/b"
	t0=$(now)
	"$WIRE" --sock-a "$T/a" --sock-b "$T/b" --connect-timeout 5 "$@" \
		2>"$T/$name.log" &
	wire=$!
	wait "$rx" || true
	t1=$(now)
	wait "$wire" || rc=$?
	ELAPSED=$(secs "$t0" "$t1")
	SPAN=$(secs "$(cat "$T/$name.first")" "$(cat "$T/$name.end")")
	[[ $VERBOSE -eq 0 ]] || sed "s/^/    [$name] /" "$T/$name.log"
	if [[ $rc -ne 0 ]]; then
		echo "    sealine-wire exited with $rc:" && sed 's/^/    /' "$T/$name.log"
		return 1
	fi
}

# Byte-level helpers (perl: part of every Debian system).
drop_every() { # N IN OUT: remove bytes N, 2N, ... (1-based)
	perl -e 'local $/; my $d = <STDIN>; my $n = $ARGV[0]; my $o = "";
		for my $i (0 .. length($d) - 1) { $o .= substr($d, $i, 1) if ($i + 1) % $n }
		print $o' "$1" <"$2" >"$3"
}
count_bitflips() { # A B: print "bytes-differing bytes-with-one-bit"
	perl -e 'open my $fa, "<", $ARGV[0]; open my $fb, "<", $ARGV[1]; local $/;
		my $a = <$fa>; my $b = <$fb>; my ($d, $one) = (0, 0);
		for my $i (0 .. length($a) - 1) {
			my $x = ord(substr($a, $i, 1)) ^ ord(substr($b, $i, 1));
			next unless $x; $d++; $one++ if ($x & ($x - 1)) == 0 }
		print "$d $one\n"' "$1" "$2"
}
flip_positions() { # A B: 1-based positions that differ
	{ cmp -l "$1" "$2" || true; } | awk '{ print $1 }' | tr '\n' ' '
}

head -c 102400 /dev/urandom >"$T/rand100k"
head -c 10000 /dev/urandom >"$T/rand10k"

# ---------------------------------------------------------------- pass-through
run_case pass-a2b a2b "$T/rand100k" --record "$T"
check "pass-through a2b: 100 KiB unchanged" cmp -s "$T/rand100k" "$T/pass-a2b.out"
check "record: a2b.raw holds what B received" cmp -s "$T/rand100k" "$T/a2b.raw"
check "record: b2a.raw is empty" test ! -s "$T/b2a.raw"
run_case pass-b2a b2a "$T/rand100k"
check "pass-through b2a: 100 KiB unchanged" cmp -s "$T/rand100k" "$T/pass-b2a.out"
check "final counters logged" grep -q 'final: a2b in=0 out=0' "$T/pass-b2a.log"

# ---------------------------------------------------------------- pacing
# 10 bits per byte: the first of N bytes arrives at once, the last after
# (N - 1) * 10 / BAUD seconds. The only timing check in the project, of the
# tool itself. What pacing promises is that bytes never arrive faster than
# the line rate: the span from the first byte to the end of the stream is
# at least 95 % of that (less 0.3 s of scheduling). A busy machine (CI,
# parallel builds) can only make it slower, so the upper bound is loose:
# twice the time plus a second, enough to catch a pacer that is off by a
# factor (on an idle machine the span is within 0.1 %).
pace_check() { # NAME DIR BAUD BYTES [WIRE-ARGS...]
	local name=$1 dir=$2 baud=$3 n=$4 want
	shift 4
	head -c "$n" /dev/urandom >"$T/$name.in"
	run_case "$name" "$dir" "$T/$name.in" "$@"
	want=$(awk -v n="$n" -v b="$baud" 'BEGIN { printf "%.3f", (n - 1) * 10 / b }')
	check "$name: $n bytes unchanged" cmp -s "$T/$name.in" "$T/$name.out"
	if awk -v e="$SPAN" -v w="$want" 'BEGIN { exit !(e >= w * 0.95 - 0.3 && e <= w * 2 + 1) }'; then
		pass "$name: $n bytes at $baud baud took ${SPAN}s, expected ${want}s"
	else
		fail "$name: $n bytes at $baud baud took ${SPAN}s, expected ${want}s (at least 95 %, at most twice)"
	fi
}
pace_check pace115200 a2b 115200 34560 --pace 115200
pace_check pace9600 a2b 9600 1920 --pace 9600
pace_check pace57600-b2a b2a 57600 10000 --cmd "pace b2a 57600"
pace_check pace38400-buffer a2b 38400 10000 --pace 38400 --cmd "buffer a2b 1048576"
run_case pace-other a2b "$T/rand100k" --cmd "pace b2a 1200"
check "pacing b2a leaves a2b unpaced (${ELAPSED}s for 100 KiB)" \
	awk -v e="$ELAPSED" 'BEGIN { exit !(e < 2) }'

# ---------------------------------------------------------------- faults
run_case flip a2b "$T/rand10k" --cmd "flip a2b 100"
check "flip 100: length unchanged" test "$(size "$T/flip.out")" -eq 10000
read -r ndiff none < <(count_bitflips "$T/rand10k" "$T/flip.out")
check "flip 100: 100 bytes differ (got $ndiff)" test "$ndiff" -eq 100
check "flip 100: each differs in exactly one bit (got $none)" test "$none" -eq 100
pos=$(flip_positions "$T/rand10k" "$T/flip.out")
check "flip 100: bytes 100, 200, ... are the flipped ones" \
	test "$pos" == "$(seq -s ' ' 100 100 10000) "
check "flip 100: counted" grep -q 'final: a2b .*flipped=100 ' "$T/flip.log"

run_case flip-b2a-only a2b "$T/rand10k" --cmd "flip b2a 10" --cmd "drop b2a 10"
check "faults on b2a leave a2b alone" cmp -s "$T/rand10k" "$T/flip-b2a-only.out"

run_case drop a2b "$T/rand10k" --cmd "drop a2b 100"
drop_every 100 "$T/rand10k" "$T/drop.want"
check "drop 100: 9900 bytes arrive" test "$(size "$T/drop.out")" -eq 9900
check "drop 100: exactly bytes 100, 200, ... are missing" cmp -s "$T/drop.want" "$T/drop.out"
check "drop 100: counted" grep -q 'final: a2b .*dropped=100 ' "$T/drop.log"

run_case drop-b2a b2a "$T/rand10k" --cmd "drop both 1000"
check "drop both 1000 on b2a: 9990 bytes arrive" test "$(size "$T/drop-b2a.out")" -eq 9990

run_case insert a2b "$T/rand10k" --cmd "insert a2b 100"
check "insert 100: 10100 bytes arrive" test "$(size "$T/insert.out")" -eq 10100
drop_every 101 "$T/insert.out" "$T/insert.stripped"
check "insert 100: one extra byte after bytes 100, 200, ..." cmp -s "$T/rand10k" "$T/insert.stripped"
check "insert 100: counted" grep -q 'final: a2b .*inserted=100 ' "$T/insert.log"

run_case delay a2b "$T/rand10k" --cmd "delay a2b 700"
check "delay 700: data unchanged" cmp -s "$T/rand10k" "$T/delay.out"
check "delay 700: took ${ELAPSED}s (at least 0.7 s)" \
	awk -v e="$ELAPSED" 'BEGIN { exit !(e >= 0.7 && e < 5) }'

# ---------------------------------------------------------------- determinism
run_case seed1 a2b "$T/rand10k" --seed 7 --cmd "flip a2b 7" --cmd "insert a2b 13"
run_case seed2 a2b "$T/rand10k" --seed 7 --cmd "flip a2b 7" --cmd "insert a2b 13"
run_case seed3 a2b "$T/rand10k" --seed 8 --cmd "flip a2b 7" --cmd "insert a2b 13"
check "same seed, same input: same output" cmp -s "$T/seed1.out" "$T/seed2.out"
check "another seed: another output" sh -c "! cmp -s '$T/seed1.out' '$T/seed3.out'"

# ---------------------------------------------------------------- replay
printf 'AAAA\0BBBBB\0CCCCCC\0DDDDDDD\0' >"$T/frames"
run_case replay2 a2b "$T/frames" --cmd "replay a2b 2"
printf 'AAAA\0BBBBB\0AAAA\0CCCCCC\0DDDDDDD\0' >"$T/replay2.want"
check "replay 2: frame 1 sent again after frame 2" cmp -s "$T/replay2.want" "$T/replay2.out"
run_case replay1 a2b "$T/frames" --cmd "replay a2b 1"
printf 'AAAA\0AAAA\0BBBBB\0CCCCCC\0DDDDDDD\0' >"$T/replay1.want"
check "replay 1: the frame just ended is sent twice" cmp -s "$T/replay1.want" "$T/replay1.out"
printf '\0\0AAAA\0\0BBBBB\0' >"$T/frames0"
run_case replay-empty a2b "$T/frames0" --cmd "replay a2b 1"
printf '\0\0AAAA\0AAAA\0\0BBBBB\0' >"$T/replay-empty.want"
check "replay: lone delimiters are not frames" cmp -s "$T/replay-empty.want" "$T/replay-empty.out"
run_case replay-all a2b "$T/frames" --cmd "replay-all a2b on"
printf 'AAAA\0AAAA\0BBBBB\0BBBBB\0CCCCCC\0CCCCCC\0DDDDDDD\0DDDDDDD\0' >"$T/replay-all.want"
check "replay-all: every frame twice" cmp -s "$T/replay-all.want" "$T/replay-all.out"
run_case replay-flip a2b "$T/frames" --cmd "replay a2b 1" --cmd "flip a2b 2"
check "replayed copies are clean, taken before faults" \
	perl -e 'local $/; open my $f, "<", $ARGV[0]; my $d = <$f>;
		exit(substr($d, 5, 5) ne "AAAA\0" || substr($d, 0, 5) eq "AAAA\0")' "$T/replay-flip.out"

# ---------------------------------------------------------------- control socket
rm -f "$T/a" "$T/b" "$T/c"
mkfifo "$T/in_a"
socat -U "UNIX-LISTEN:$T/a" "OPEN:$T/in_a,rdonly" &
PIDS+=("$!")
socat -u "UNIX-LISTEN:$T/b" "CREATE:$T/ctl.out" &
rx=$!
PIDS+=("$rx")
coproc CTL { exec socat - "UNIX-LISTEN:$T/c"; }
ctl_pid=$CTL_PID # bash unsets CTL_PID when the coprocess ends
PIDS+=("$ctl_pid")
wait_sockets "$T/a" "$T/b" "$T/c"
"$WIRE" -a "$T/a" -b "$T/b" -c "$T/c" -t 5 2>"$T/ctl.log" &
wire=$!
exec {feed}>"$T/in_a" # opens once socat opens the fifo for reading
ctl() { # COMMAND: send, print the reply
	local reply
	printf '%s\n' "$1" >&"${CTL[1]}"
	IFS= read -r -t 5 reply <&"${CTL[0]}" || reply="(no reply)"
	printf '%s\n' "$reply"
}
# wait_in N: until sealine-wire has read N bytes from A since the last
# reset-stats (they go through the fifo and socat first)
wait_in() {
	for _ in $(seq 100); do
		[[ $(ctl "stats a2b") == "ok a2b in=$1 "* ]] && return 0
		sleep 0.05
	done
	return 1
}
check "control: ping" test "$(ctl ping)" == "ok pong"
check "control: help lists commands" sh -c "case '$(ctl help)' in 'ok commands:'*replay-all*drain*) ;; *) exit 1 ;; esac"
r=$(ctl "frobnicate")
check "control: unknown command -> err ($r)" test "${r%% *}" == err
r=$(ctl "flip a2b x")
check "control: bad number -> err ($r)" test "${r%% *}" == err
r=$(ctl "replay a2b 33")
check "control: replay beyond 32 -> err ($r)" test "${r%% *}" == err
r=$(ctl "$(printf 'x%.0s' $(seq 300))")
check "control: overlong line -> err ($r)" test "$r" == "err line too long"
r=$(ctl "drop a2b 10")
check "control: drop a2b 10 -> ok ($r)" sh -c "case '$r' in 'ok a2b pace=0 flip=0 drop=10 '*) ;; *) exit 1 ;; esac"
r=$(ctl "show b2a")
check "control: show b2a ($r)" test "$r" == "ok b2a pace=0 flip=0 drop=0 insert=0 delay=0 replay=0 replay-all=off buffer=0"
head -c 1000 "$T/rand10k" >&"$feed"
wait_in 1000 || true
r=$(ctl drain)
check "control: drain -> ok drained ($r)" test "$r" == "ok drained"
r=$(ctl "stats a2b")
check "control: stats counts 1000 in, 900 out, 100 dropped ($r)" \
	sh -c "case '$r' in 'ok a2b in=1000 out=900 queued=0 '*dropped=100*) ;; *) exit 1 ;; esac"
r=$(ctl "clean")
check "control: clean turns faults off" sh -c "case '$r' in *drop=10*) exit 1 ;; ok*) ;; *) exit 1 ;; esac"
r=$(ctl "reset-stats")
check "control: reset-stats ($r)" test "$r" == "ok reset-stats"
head -c 1000 "$T/rand10k" >&"$feed"
wait_in 1000 || true
ctl drain >/dev/null
r=$(ctl "stats a2b")
check "control: clean line after clean ($r)" \
	sh -c "case '$r' in 'ok a2b in=1000 out=1000 '*) ;; *) exit 1 ;; esac"
r=$(ctl "outage a2b 1500")
check "control: outage a2b 1500 -> ok ($r)" test "$r" == "ok outage 1500 ms"
ctl "reset-stats" >/dev/null
head -c 700 "$T/rand10k" >&"$feed"
wait_in 700 || true
ctl drain >/dev/null
r=$(ctl "stats a2b")
check "control: every byte in the outage is lost ($r)" \
	sh -c "case '$r' in 'ok a2b in=700 out=0 '*dropped=700*) ;; *) exit 1 ;; esac"
sleep 1.6
head -c 300 "$T/rand10k" >&"$feed"
wait_in 1000 || true
ctl drain >/dev/null
r=$(ctl "stats a2b")
check "control: after the outage bytes pass again ($r)" \
	sh -c "case '$r' in 'ok a2b in=1000 out=300 '*dropped=700*) ;; *) exit 1 ;; esac"
r=$(ctl "garbage a2b 250")
check "control: garbage a2b 250 -> ok ($r)" test "$r" == "ok garbage 250 bytes"
ctl drain >/dev/null
r=$(ctl "stats a2b")
check "control: the burst goes out, counted as inserted ($r)" \
	sh -c "case '$r' in 'ok a2b in=1000 out=550 '*inserted=250*) ;; *) exit 1 ;; esac"
r=$(ctl "garbage a2b 65537")
check "control: a burst over 64 KiB -> err ($r)" test "${r%% *}" == err
r=$(ctl "outage a2b")
check "control: outage without MS -> err ($r)" test "$r" == "err usage: outage [DIR] MS"
ctl "outage a2b 60000" >/dev/null
r=$(ctl "clean a2b")
head -c 100 "$T/rand10k" >&"$feed"
wait_in 1100 || true
ctl drain >/dev/null
r=$(ctl "stats a2b")
check "control: clean ends an outage ($r)" \
	sh -c "case '$r' in 'ok a2b in=1100 out=650 '*) ;; *) exit 1 ;; esac"
ctl "reset-stats" >/dev/null
ctl "pace a2b 9600" >/dev/null
head -c 480 "$T/rand10k" >&"$feed" # half a second of line time
wait_in 480 || true
printf 'drain\nping\n' >&"${CTL[1]}"
IFS= read -r -t 5 r1 <&"${CTL[0]}" || r1=
IFS= read -r -t 5 r2 <&"${CTL[0]}" || r2=
check "control: a command after drain waits for it ($r1, $r2)" \
	test "$r1,$r2" == "ok drained,ok pong"
ctl "pace a2b 0" >/dev/null
r=$(ctl "drop b2a 7")
r=$(ctl "reset")
check "control: reset restores the start-up settings ($r)" \
	test "$r" == "ok reset a2b pace=0 flip=0 drop=0 insert=0 delay=0 replay=0 replay-all=off buffer=0 b2a pace=0 flip=0 drop=0 insert=0 delay=0 replay=0 replay-all=off buffer=0"
r=$(ctl "stats")
check "control: reset zeroes the counters" \
	sh -c "case '$r' in 'ok a2b in=0 out=0 '*'b2a in=0 out=0 '*) ;; *) exit 1 ;; esac"
printf 'ping\r\n' >&"${CTL[1]}"
IFS= read -r -t 5 r <&"${CTL[0]}" || r=
check "control: CR LF line ends work" test "$r" == "ok pong"

# ---------------------------------------------------------------- mitm
r=$(ctl "mitm on 12345 222222222222")
check "mitm: a bad account -> err ($r)" test "${r%% *}" == err
r=$(ctl "mitm on 111111111111")
check "mitm: missing account -> err ($r)" test "${r%% *}" == err
r=$(ctl "mitm status")
check "mitm: off by default ($r)" test "$r" == "ok mitm=off"
r=$(ctl "mitm on 111111111111 222222222222")
check "mitm: on ($r)" sh -c "case '$r' in 'ok mitm=on legA rx=0 tx=0 dh=no '*) ;; *) exit 1 ;; esac"
# Bytes that are no control frame pass unchanged (random data has 0x00s:
# "frames" that do not decode are relayed as they are, each once its
# delimiter came).
ctl "reset-stats" >/dev/null
{ head -c 1000 "$T/rand10k"; printf '\0'; } >&"$feed"
wait_in 1001 || true
ctl drain >/dev/null
r=$(ctl "stats a2b")
check "mitm: non-control bytes relayed unchanged ($r)" \
	sh -c "case '$r' in 'ok a2b in=1001 out=1001 '*) ;; *) exit 1 ;; esac"
# A PAIR_COMMIT from A (a control frame: header 0x50, message, CRC-32 LE,
# COBS, 0x00) is taken off the line: leg A answers A (PAIR_EPHEMERAL),
# leg B sends B a PAIR_COMMIT of its own, with another commitment.
perl -e '
	my $msg = pack("C C N C C", 1, 0x10, 0x01020304, 1, 1) . ("\x5a" x 32);
	my $raw = "\x50" . $msg;
	my $crc = 0xffffffff;
	for my $c (unpack("C*", $raw)) {
		$crc ^= $c;
		for (1 .. 8) { $crc = ($crc >> 1) ^ (0xedb88320 & -($crc & 1)); }
	}
	$raw .= pack("V", ~$crc & 0xffffffff);
	my ($out, $run) = ("", "");
	for my $c (split //, $raw . "\0") {
		if ($c eq "\0" || length($run) == 254) {
			$out .= chr(length($run) + 1) . $run;
			$run = "";
			next if $c eq "\0";
		}
		$run .= $c;
	}
	print $out, "\0";' >"$T/commit.frame"
before=$(size "$T/ctl.out")
cat "$T/commit.frame" >&"$feed"
for _ in $(seq 100); do
	case $(ctl "mitm status") in *"legA rx=1 tx=1 "*"legB rx=0 tx=1 "*) break ;; esac
	sleep 0.05
done
r=$(ctl "mitm status")
check "mitm: A's PAIR_COMMIT answered by leg A, leg B starts towards B ($r)" \
	sh -c "case '$r' in *'legA rx=1 tx=1 '*'legB rx=0 tx=1 '*) ;; *) exit 1 ;; esac"
ctl drain >/dev/null
tail -c +$((before + 1)) "$T/ctl.out" >"$T/b.got"
# (its first frame towards B comes after a delimiter, as the kernel's
# first frame after attach does)
check "mitm: B got a PAIR_COMMIT frame of its own, not A's ($(size "$T/b.got") bytes)" \
	sh -c "test \$(stat -c %s '$T/b.got') -eq \$((\$(stat -c %s '$T/commit.frame') + 1)) &&
	       ! tail -c +2 '$T/b.got' | cmp -s - '$T/commit.frame' &&
	       test \"\$(head -c 1 '$T/b.got' | od -An -tx1 | tr -d ' ')\" = 00 &&
	       test \"\$(tail -c 1 '$T/b.got' | od -An -tx1 | tr -d ' ')\" = 00"
r=$(ctl "stats b2a")
check "mitm: A got leg A's answer ($r)" sh -c "case '$r' in 'ok b2a in=0 out='[1-9]*) ;; *) exit 1 ;; esac"
r=$(ctl "mitm off")
check "mitm: off ($r)" test "$r" == "ok mitm=off"
r=$(ctl "reset")
check "mitm: reset after mitm" sh -c "case '$r' in 'ok reset '*) ;; *) exit 1 ;; esac"
# ctlstats: the same PAIR_COMMIT, relayed now, counted as one pairing
# message of its wire size; the random bytes before are no handshake.
{ head -c 1000 "$T/rand10k"; printf '\0'; cat "$T/commit.frame"; } >&"$feed"
wait_in $((1001 + $(size "$T/commit.frame"))) || true
ctl drain >/dev/null
r=$(ctl "ctlstats")
check "ctlstats: one pairing message of $(size "$T/commit.frame") bytes A -> B ($r)" \
	test "$r" == "ok a2b pair=1/$(size "$T/commit.frame") session=0/0 other=0/0 b2a pair=0/0 session=0/0 other=0/0"
r=$(ctl "reset-stats")
r=$(ctl "ctlstats a2b")
check "ctlstats: zeroed by reset-stats ($r)" test "$r" == "ok a2b pair=0/0 session=0/0 other=0/0"
exec {feed}>&-
wait "$rx" || true
rc=0
wait "$wire" || rc=$?
check "wire exits 0 when a line socket closes" test "$rc" -eq 0
{ head -c 1000 "$T/rand10k" | perl -e 'local $/; my $d = <STDIN>; my $o = "";
	for my $i (0 .. length($d) - 1) { $o .= substr($d, $i, 1) if ($i + 1) % 10 } print $o'
  head -c 1000 "$T/rand10k"
  # the outage's 700 bytes are lost; the garbage burst is random: its 250
  # bytes are taken from what B got, the rest must match around it
  head -c 300 "$T/rand10k"; tail -c +2201 "$T/ctl.out" | head -c 250
  head -c 100 "$T/rand10k"; head -c 480 "$T/rand10k"
  head -c 1000 "$T/rand10k"; printf '\0'; cat "$T/b.got"
  head -c 1000 "$T/rand10k"; printf '\0'; cat "$T/commit.frame"; } >"$T/ctl.want"
check "control: B got the faulted, the clean, then the mitm test's bytes" cmp -s "$T/ctl.want" "$T/ctl.out"
[[ $VERBOSE -eq 0 ]] || sed 's/^/    [ctl] /' "$T/ctl.log"

# reset goes back to the command line's settings, not to nothing
kill "$ctl_pid" 2>/dev/null || true
wait "$ctl_pid" 2>/dev/null || true
rm -f "$T/a" "$T/b" "$T/c"
mkfifo "$T/in_a2"
socat -U "UNIX-LISTEN:$T/a" "OPEN:$T/in_a2,rdonly" &
PIDS+=("$!")
socat -u -t 0 "UNIX-LISTEN:$T/b" "CREATE:/dev/null" &
PIDS+=("$!")
coproc CTL2 { exec socat - "UNIX-LISTEN:$T/c"; }
PIDS+=("$CTL2_PID")
exec {c2in}<&"${CTL2[0]}" {c2out}>&"${CTL2[1]}"
wait_sockets "$T/a" "$T/b" "$T/c"
"$WIRE" -a "$T/a" -b "$T/b" -c "$T/c" -t 5 --pace 9600 --cmd "flip a2b 5" 2>"$T/reset.log" &
wire=$!
exec {feed}>"$T/in_a2"
printf 'clean\nreset\n' >&"$c2out"
IFS= read -r -t 5 r1 <&"$c2in" || r1=
IFS= read -r -t 5 r2 <&"$c2in" || r2=
check "control: reset restores --pace and --cmd settings ($r2)" \
	sh -c "case '$r2' in 'ok reset a2b pace=9600 flip=5 '*'b2a pace=9600 flip=0 '*) ;; *) exit 1 ;; esac"
exec {feed}>&- {c2in}<&- {c2out}>&-
wait "$wire" || true

# ---------------------------------------------------------------- errors
t0=$(now)
rc=0
"$WIRE" -a "$T/nonexistent-a" -b "$T/nonexistent-b" -t 1 2>"$T/err.log" || rc=$?
t1=$(now)
check "no sockets: exits 1 after the connect timeout ($(secs "$t0" "$t1")s)" \
	sh -c "[ $rc -eq 1 ] && grep -q 'gave up after 1 s' '$T/err.log'"
rc=0
"$WIRE" -a x -b y --cmd "flip sideways 3" 2>/dev/null || rc=$?
check "bad --cmd: exit 2" test "$rc" -eq 2
rc=0
"$WIRE" -a x 2>/dev/null || rc=$?
check "missing --sock-b: exit 2" test "$rc" -eq 2
help=$("$WIRE" --help)
missing=
for w in --sock-a --sock-b --control --connect-timeout --record --pace --seed --cmd --verbose \
	ping help show stats reset-stats pace buffer flip drop insert delay outage garbage replay replay-all \
	clean reset seed drain; do
	grep -qw -- "$w" <<<"$help" || missing+=" $w"
done
check "--help documents every option and command${missing:+ (missing:$missing)}" test -z "$missing"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
