#!/usr/bin/env python3
# tests/vm/ttyprobe.py - tty-level probes for the sealine VM tests, where a
# shell cannot reach: pty pairs with sealine on them, TIOCSETD, tcdrain
# timing, SIGIO counting, reopening a held tty through /proc.
#
#   ttyprobe.py ptys N [--both] [--control] [--ready FILE]
#       open N pty pairs and attach sealine (TIOCSETD 29) to each slave
#       (--both: to the master too: two lines joined by the pty), write
#       "ptm<n> pts<n>" lines (the tty names sealine knows them by) to
#       stdout and touch FILE when all are attached; then hold everything
#       until SIGTERM or stdin closes (a detach of every line). With
#       --control nothing is attached at first: each "attach" or "detach"
#       line on stdin attaches or detaches them all, "ok ..." on stderr.
#   ttyprobe.py tcdrain VTTY BYTES SECONDS -- CMD...
#       open VTTY raw, write BYTES (non-blocking: what fits), run CMD one
#       second ($TTYPROBE_WAIT) into a tcdrain(), and print how many
#       seconds tcdrain() took
#       after CMD; exit 1 if it did not return within SECONDS after CMD.
#   ttyprobe.py write-wakeup SECONDS
#       open a pty pair, attach sealine to the slave and key it (sealctl
#       in $SEALCTL), write to its virtual tty until the master (never
#       read) is full and the virtual tty still holds bytes (sealine
#       waits for a write wakeup), switch the slave back to N_TTY; then
#       ask for SIGIO (as a realtime signal with its reason) on the
#       slave, read the master empty, and print how many output-room
#       signals came in SECONDS: "queued=N unasked_output_signals=N" (a
#       write-wakeup flag left set makes N_TTY signal room nobody asked
#       for).
#   ttyprobe.py reopen-held VTTY -- CMD...
#       hold VTTY open, run CMD (which detaches its line), then open the
#       held tty again through /proc/self/fd and print the errno name
#       ("ok" if the open succeeded).
#   ttyprobe.py gsm VTTY SECONDS
#       attach n_gsm to VTTY as the mux initiator for SECONDS (its SABM
#       frames, retransmitted from a timer, go out through VTTY), then
#       detach it.
#   ttyprobe.py flow WRITER_VTTY READER_VTTY STALL_SECONDS BYTES
#       open READER_VTTY raw and do not read it; write BYTES of a pattern
#       to WRITER_VTTY (raw, non-blocking) for STALL_SECONDS and print how
#       many were accepted; then read everything back, check it byte for
#       byte, and print "accepted=N received=N exact=yes|no".
import errno
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import tty as ttymod

TIOCSETD = 0x5423
N_TTY = 0
N_SEALINE = int(os.environ.get("SEALINE_LDISC", "29"))
F_SETSIG = 10  # <asm-generic/fcntl.h>; Python's fcntl module lacks it
POLL_OUT = 2   # si_code of SIGIO for output room


def setd(fd, ldisc):
    fcntl.ioctl(fd, TIOCSETD, ldisc.to_bytes(4, sys.byteorder))


def raw(fd):
    ttymod.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[2] |= termios.CLOCAL
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def cmd_ptys(args):
    n = int(args[0])
    both = "--both" in args
    control = "--control" in args
    ready = None
    if "--ready" in args:
        ready = args[args.index("--ready") + 1]
    fds = []
    for _ in range(n):
        m, s = os.openpty()
        num = int(os.ttyname(s).rsplit("/", 1)[1])
        raw(m)
        raw(s)
        fds.append((m, s))
        if not control:
            setd(s, N_SEALINE)
            if both:
                setd(m, N_SEALINE)
        print("ptm%d pts%d" % (num, num), flush=True)
    if ready:
        open(ready, "w").close()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        # --control: "attach" / "detach" lines on stdin switch every
        # slave (and with --both, master) to sealine / N_TTY; "ok" on
        # stderr when done
        for line in sys.stdin:
            if not control:
                continue
            ld = N_SEALINE if line.strip() == "attach" else N_TTY
            for m, s in fds:
                setd(s, ld)
                if both:
                    setd(m, ld)
            print("ok %s" % line.strip(), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for m, s in fds:
        os.close(s)
        os.close(m)


def cmd_tcdrain(args):
    vtty, nbytes, secs = args[0], int(args[1]), float(args[2])
    cmd = args[args.index("--") + 1:]
    # TTYPROBE_STOP=PHYS: stop PHYS's output (TCOOFF) while writing, so
    # the plaintext waits in sealine's FIFO; restart it (TCOON) just
    # before CMD, so nothing is in flight then.
    stop = os.environ.get("TTYPROBE_STOP")
    phys = None
    if stop:
        phys = os.open(stop, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        termios.tcflow(phys, termios.TCOOFF)
    fd = os.open(vtty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    raw(fd)
    sent = 0
    data = b"Q" * nbytes
    try:
        sent = os.write(fd, data)
    except BlockingIOError:
        pass
    time.sleep(1)  # what may leave has left
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    # tcdrain() in a child: Python's termios.tcdrain() keeps the GIL
    # while it blocks
    child = os.fork()
    if child == 0:
        termios.tcdrain(fd)
        os._exit(0)

    def returned(wait):
        end = time.monotonic() + wait
        while True:
            pid, _ = os.waitpid(child, os.WNOHANG)
            if pid:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)

    if returned(float(os.environ.get("TTYPROBE_WAIT", "1"))):
        print("queued=%d tcdrain returned before the command: nothing was stuck" % sent)
        return 2
    if phys is not None:
        termios.tcflow(phys, termios.TCOON)
        if returned(3):
            print("queued=%d tcdrain returned once the line moved: nothing was stuck" % sent)
            return 2
    subprocess.run(cmd, check=False)
    t0 = time.monotonic()
    ok = returned(secs)
    took = time.monotonic() - t0
    print("queued=%d tcdrain_after=%.2f returned=%s" % (sent, took, "yes" if ok else "no"),
          flush=True)
    if not ok:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        return 1
    os.close(fd)
    return 0


def cmd_write_wakeup(args):
    secs = float(args[0])

    def step(what):
        print("write-wakeup: " + what, file=sys.stderr, flush=True)

    sealctl = os.environ["SEALCTL"]
    keydir = os.environ.get("SL_KEYDIR", "/tmp/sealine-keys")
    # A pty, not a UART: TIOCSETD first waits until the driver's buffer
    # is empty (tty_wait_until_sent()), and a pty has none, so the line
    # can be detached while sealine waits for room. The slave is the
    # line; the master, never read until the end, its full wire.
    m, s = os.openpty()
    raw(m)
    raw(s)
    os.set_blocking(m, False)
    name = "pts" + os.ttyname(s).rsplit("/", 1)[1]
    setd(s, N_SEALINE)
    os.makedirs(keydir, exist_ok=True)
    os.umask(0o077)
    for k in ("wake-tx", "wake-rx"):
        with open(os.path.join(keydir, k), "w") as f:
            subprocess.run([sealctl, "genkey"], stdout=f, check=True)
    subprocess.run([sealctl, "set-key", name, "--epoch", "1",
                    "--tx", os.path.join(keydir, "wake-tx"),
                    "--rx", os.path.join(keydir, "wake-rx"), "--activate"],
                   check=True, stdout=subprocess.DEVNULL)
    index = subprocess.run([sealctl, "show", name, "index"], check=True,
                           capture_output=True, text=True).stdout.strip()
    step("%s keyed, line %s" % (name, index))
    v = os.open("/dev/ttySL" + index, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    raw(v)
    # write until the master's buffer is full and sealine keeps what is
    # left (the virtual tty's output queue) for the pty's write wakeup
    written, idle, queued = 0, 0.0, 0
    end = time.monotonic() + 30
    while idle < 1.0 and time.monotonic() < end:
        try:
            written += os.write(v, b"W" * 4096)
            idle = 0.0
        except BlockingIOError:
            time.sleep(0.1)
            idle += 0.1
    queued = struct.unpack("i", fcntl.ioctl(v, termios.TIOCOUTQ, b"\0" * 4))[0]
    step("%d bytes written, %d wait in the virtual tty; detaching" % (written, queued))
    setd(s, N_TTY)
    os.close(v)
    # N_TTY from here on, and it asked for no wakeup: a signal for output
    # room (SIGIO's POLL_OUT, as a realtime signal with its reason) can
    # only come from a write-wakeup flag sealine left set. Reading the
    # master makes room, and N_TTY on the master then wakes the slave.
    sig = signal.SIGRTMIN
    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    fcntl.fcntl(s, F_SETSIG, sig)
    fcntl.fcntl(s, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(s, fcntl.F_SETFL, fcntl.fcntl(s, fcntl.F_GETFL) | os.O_ASYNC)
    drained = 0
    unasked = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            while True:
                chunk = os.read(m, 65536)
                if not chunk:
                    break
                drained += len(chunk)
        except (BlockingIOError, OSError):
            pass
        info = signal.sigtimedwait({sig}, 0.1)
        if info is not None and info.si_code == POLL_OUT:
            unasked += 1
    step("%d bytes read from the master" % drained)
    print("queued=%d unasked_output_signals=%d" % (queued, unasked), flush=True)
    os.close(s)
    os.close(m)
    return 0


def cmd_reopen(args):
    vtty = args[0]
    cmd = args[args.index("--") + 1:]
    fd = os.open(vtty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    subprocess.run(cmd, check=False)
    time.sleep(0.5)
    try:
        fd2 = os.open("/proc/self/fd/%d" % fd, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        os.close(fd2)
        print("ok")
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
    os.close(fd)
    return 0


def cmd_gsm(args):
    """n_gsm on VTTY as the initiator for SECONDS: it opens DLC0 with SABM
    frames, retransmitted from its T1 timer (interrupts off, tx_lock held)
    while nobody answers."""
    vtty, secs = args[0], float(args[1])
    fd = os.open(vtty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    raw(fd)
    setd(fd, 21)  # N_GSM0710
    size = 19 * 4  # struct gsm_config: 11 fields and 8 unused, all u32
    getconf = 0x80000000 | (size << 16) | (ord("G") << 8) | 0
    setconf = 0x40000000 | (size << 16) | (ord("G") << 8) | 1
    conf = bytearray(fcntl.ioctl(fd, getconf, bytes(size)))
    conf[8:12] = (1).to_bytes(4, sys.byteorder)  # initiator
    conf[36:40] = bytes(4)  # k: GETCONF reports it, SETCONF refuses it
    fcntl.ioctl(fd, setconf, bytes(conf))
    time.sleep(secs)
    setd(fd, N_TTY)
    os.close(fd)
    print("ok")
    return 0


def pattern(n):
    block = bytes(range(251)) * 64
    out = bytearray()
    while len(out) < n:
        out += block
    return bytes(out[:n])


def cmd_flow(args):
    wpath, rpath, stall, nbytes = args[0], args[1], float(args[2]), int(args[3])
    r = os.open(rpath, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    raw(r)
    w = os.open(wpath, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    raw(w)
    data = pattern(nbytes)
    sent = 0
    end = time.monotonic() + stall
    while sent < nbytes and time.monotonic() < end:
        try:
            sent += os.write(w, data[sent:sent + 4096])
        except BlockingIOError:
            select.select([], [w], [], 0.2)
    accepted = sent
    # the reader wakes up: everything accepted, and the rest, must arrive
    got = bytearray()
    deadline = time.monotonic() + 60 + nbytes / 20000
    while len(got) < nbytes and time.monotonic() < deadline:
        if sent < nbytes:
            try:
                sent += os.write(w, data[sent:sent + 4096])
            except BlockingIOError:
                pass
        rl, _, _ = select.select([r], [], [], 0.1)
        if rl:
            try:
                got += os.read(r, 65536)
            except BlockingIOError:
                pass
    exact = bytes(got) == data
    print("accepted=%d received=%d exact=%s" % (accepted, len(got), "yes" if exact else "no"))
    return 0 if exact else 1


def main():
    if len(sys.argv) < 2:
        print(__doc__ or "see the comment at the top", file=sys.stderr)
        return 2
    cmds = {"ptys": cmd_ptys, "tcdrain": cmd_tcdrain,
            "write-wakeup": cmd_write_wakeup, "reopen-held": cmd_reopen,
            "flow": cmd_flow, "gsm": cmd_gsm}
    if sys.argv[1] not in cmds:
        print("ttyprobe.py: unknown command %s" % sys.argv[1], file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main())
