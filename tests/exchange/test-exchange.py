#!/usr/bin/env python3
"""tests/exchange/test-exchange.py - self-test of sealine-exchange.

Starts sealine-exchange with pty lines (and a hunt group), drives the
emulated modems with real AT commands over the ptys, and checks result
codes, echo, dialling, BUSY / NO ANSWER / unknown numbers, ringing with
caller ID, answering (ATA and S0), byte-exact data both ways, pacing,
the +++ escape with ATO / ATH, hang-up from either side and by closing,
impairments and replay, captures, the control socket and the event log;
then a load test: 200 pty lines, 100 simultaneous calls relaying data.

Usage: test-exchange.py EXCHANGE-BINARY [-v]
Last line: "exchange: N passed, N failed"; exit status 0 only if all passed.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
import tty

EXE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
VERBOSE = "-v" in sys.argv[2:]
passed = 0
failed = 0


def check(desc, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS", desc)
    else:
        failed += 1
        print("FAIL", desc, ("(%s)" % detail) if detail else "")
    sys.stdout.flush()
    return ok


class Port:
    """The DTE side of one exchange line: the slave of its pty."""

    def __init__(self, path):
        self.path = path
        self.buf = b""
        self.open()

    def open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[2] |= termios.CLOCAL
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.buf = b""

    def close(self):
        os.close(self.fd)
        self.fd = -1

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        while data:
            select.select([], [self.fd], [], 5)
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                continue
            data = data[n:]

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            try:
                d = os.read(self.fd, 65536)
            except (BlockingIOError, OSError):
                return
            if VERBOSE:
                print("  %s <- %r" % (os.path.basename(self.path), d[:200]))
            self.buf += d

    def expect(self, pattern, timeout=5.0):
        """Waits for regex pattern (bytes) in what came; consumes up to its end."""
        rx = re.compile(pattern, re.S)
        end = time.time() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = end - time.time()
            if left <= 0:
                return None
            self.pump(left)

    def quiet_for(self, secs):
        """Collects what arrives during secs; returns it."""
        end = time.time() + secs
        while time.time() < end:
            self.pump(end - time.time())
        d, self.buf = self.buf, b""
        return d

    def cmd(self, line, want=rb"\r\nOK\r\n", timeout=5.0):
        self.buf = b""
        self.send(line + "\r")
        return self.expect(want, timeout) is not None


class Exchange:
    def __init__(self, tmp, args, name="ex"):
        self.log = os.path.join(tmp, name + ".log")
        self.ctl = os.path.join(tmp, name + ".ctl")
        self.err = open(os.path.join(tmp, name + ".err"), "w")
        self.proc = subprocess.Popen([EXE, "--control", self.ctl, "--log", self.log] + args,
                                     stdout=self.err, stderr=self.err)
        for _ in range(500):
            if os.path.exists(self.ctl) or self.proc.poll() is not None:
                break
            time.sleep(0.01)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.ctl)
        self.sf = self.sock.makefile("rwb", buffering=0)

    def control(self, line):
        self.sf.write((line + "\n").encode())
        reply = self.sf.readline().decode().rstrip("\n")
        if reply.startswith("ok ") and line.startswith("status"):
            n = int(reply.split()[1])
            return reply, [self.sf.readline().decode().rstrip("\n") for _ in range(n)]
        return reply

    def events(self):
        with open(self.log) as f:
            return f.read().splitlines()

    def wait_event(self, pattern, timeout=5.0):
        rx = re.compile(pattern)
        end = time.time() + timeout
        while time.time() < end:
            for e in self.events():
                if rx.search(e):
                    return e
            time.sleep(0.02)
        return None

    def stop(self):
        try:
            self.control("quit")
        except OSError:
            pass
        try:
            rc = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.err.close()
        return rc


def pattern_bytes(n, seed):
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def transfer(pairs, timeout=60.0):
    """pairs: list of (src Port, dst Port, data). Sends all at once, returns
    the list of what each dst received (as many bytes as were sent)."""
    outs = {id(p[0]): [p[0], p[2], 0] for p in pairs}
    got = {id(p[1]): [p[1], bytearray(), len(p[2])] for p in pairs}
    end = time.time() + timeout
    while time.time() < end:
        wfds = [o[0].fd for o in outs.values() if o[2] < len(o[1])]
        rfds = [g[0].fd for g in got.values() if len(g[1]) < g[2]]
        if not wfds and not rfds:
            break
        r, w, _ = select.select(rfds, wfds, [], 1.0)
        for o in outs.values():
            if o[0].fd in w:
                try:
                    o[2] += os.write(o[0].fd, o[1][o[2]:o[2] + 4096])
                except BlockingIOError:
                    pass
        for g in got.values():
            if g[0].fd in r:
                try:
                    g[1] += os.read(g[0].fd, 65536)
                except BlockingIOError:
                    pass
    return [bytes(got[id(p[1])][1]) for p in pairs]


def escape(port, guard=0.25):
    time.sleep(guard)
    port.buf = b""
    port.send("+++")
    return port.expect(rb"\r\nOK\r\n", 3) is not None


def functional(tmp):
    d = lambda n: os.path.join(tmp, n)
    cap = d("cap")
    os.mkdir(cap)
    lines = d("lines")
    with open(lines, "w") as f:
        f.write("# hunt group\n200=pty:%s\n\n200=pty:%s\n" % (d("l200a"), d("l200b")))
    ex = Exchange(tmp, ["--line", "100=pty:" + d("l100"), "--line", "101=pty:" + d("l101"),
                        "--line", "102=pty:" + d("l102"), "--line", "103=pty:" + d("l103"),
                        "--line", "300=pty:%s,baud=19200,pace" % d("l300"),
                        "--line", "301=pty:%s,baud=19200" % d("l301"),
                        "--lines-file", lines, "--ring-interval", "0.6",
                        "--unknown-delay", "0.3", "--capture", cap, "--seed", "7"])
    a, b, c, n = Port(d("l100")), Port(d("l101")), Port(d("l102")), Port(d("l103"))
    h0, h1 = Port(d("l200a")), Port(d("l200b"))
    p300, p301 = Port(d("l300")), Port(d("l301"))
    allp = [a, b, c, n, h0, h1, p300, p301]
    check("event log: start and lines up",
          ex.wait_event(r"start lines=8") and ex.wait_event(r"up line=200-1") is not None)

    # ---- command mode
    a.buf = b""
    a.send("ATZ\r")
    check("ATZ echoed and OK", a.expect(rb"^ATZ\r\r\nOK\r\n$", 3) is not None, a.buf)
    check("ATE0 -> OK", a.cmd("ATE0"))
    a.send("AT\r")
    check("echo off: AT gives exactly CR LF OK CR LF", a.quiet_for(0.4) == b"\r\nOK\r\n")
    a.send("at\r")
    check("lower-case at -> OK", a.quiet_for(0.4) == b"\r\nOK\r\n")
    check("unknown command ATJ -> ERROR", a.cmd("ATJ", rb"\r\nERROR\r\n"))
    check("ATS99=1 -> ERROR", a.cmd("ATS99=1", rb"\r\nERROR\r\n"))
    check("ATE0V1Q0&D2X4 -> OK", a.cmd("ATE0V1Q0&D2X4"))
    a.send("ATS7?\r")
    check("ATS7? -> 050", a.quiet_for(0.4) == b"\r\n050\r\n\r\nOK\r\n")
    a.send("ATV0\r")
    check("ATV0 -> numeric 0", a.quiet_for(0.4) == b"0\r")
    a.send("ATX\r")
    check("V0: ATX (X0) -> 0", a.quiet_for(0.4) == b"0\r")
    a.send("ATK\r")
    check("V0: ERROR is 4 (ATK)", a.quiet_for(0.4) == b"4\r")
    a.send("ATV1Q1\r")
    check("ATQ1: no result code", a.quiet_for(0.4) == b"")
    check("ATQ0 -> OK again", a.cmd("ATQ0"))
    check("ATI3 names the line", a.cmd("ATI3", rb"line 100-0\r\n\r\nOK\r\n"))
    check("+VCID? -> 0", a.cmd("AT+VCID?", rb"\+VCID: 0\r\n\r\nOK"))
    check("garbage before AT ignored", a.cmd("xyzAT", rb"\r\nOK\r\n"))
    check("A/ repeats the last line", a.cmd("ATI3") and a.cmd("A/", rb"line 100-0"))
    for p in allp[1:]:
        p.send("ATZE0\r")
        p.expect(rb"OK\r\n", 3)

    # ---- unknown number, busy, no dial tone
    t0 = time.time()
    a.buf = b""
    a.send("ATD999\r")
    ok = a.expect(rb"\r\nNO CARRIER\r\n", 3) is not None
    check("dial unknown number -> NO CARRIER after the delay", ok and time.time() - t0 >= 0.25)
    check("event: unknown", ex.wait_event(r" unknown line=100-0 to=999$") is not None)
    check("control busy 102 on", ex.control("busy 102 on").startswith("ok"))
    check("dial forced-busy number -> BUSY", a.cmd("ATDT102", rb"\r\nBUSY\r\n"))
    check("event: busy", ex.wait_event(r" busy line=100-0 to=102$") is not None)
    ex.control("busy 102 off")
    ex.control("nodialtone 100 on")
    check("forced no dial tone -> NO DIALTONE", a.cmd("ATD102", rb"\r\nNO DIALTONE\r\n"))
    ex.control("nodialtone 100 off")
    check("ATH1 makes a line busy", c.cmd("ATH1") and a.cmd("ATD102", rb"\r\nBUSY\r\n")
          and c.cmd("ATH0"))
    check("dial string with punctuation ATDT(1)-0,2 W",
          c.cmd("ATS0=1") and a.cmd("ATDT(1)-0,2 W", rb"\r\nCONNECT 9600\r\n"))
    check("escape and hang up", escape(a, 1.1) and a.cmd("ATH") and
          c.expect(rb"NO CARRIER", 2) is not None)
    c.cmd("ATS0=0")

    # ---- ringing with caller ID, ATA, data
    check("callee AT+VCID=1 -> OK", b.cmd("AT+VCID=1"))
    b.buf = b""
    a.buf = b""
    a.send("ATDT101\r")
    m = b.expect(rb"^\r\nRING\r\n\r\nDATE = (\d{4})\r\nTIME = (\d{4})\r\nNMBR = 100\r\n"
                 rb"NAME = O\r\n\r\nRING\r\n", 3)
    check("RING, caller ID (DATE TIME NMBR=100), RING", m is not None, b.buf)
    if m:
        lt = time.localtime()
        check("caller ID date is today", m.group(1) == ("%02d%02d" % (lt.tm_mon, lt.tm_mday)).encode())
    check("event: ring and cid", ex.wait_event(r" ring line=101-0 from=100-0 count=1 delivered=yes")
          and ex.wait_event(r" cid line=101-0 nmbr=100$") is not None)
    b.send("ATA\r")
    check("ATA -> CONNECT on the callee", b.expect(rb"^\r\nCONNECT 9600\r\n$", 3) is not None, b.buf)
    check("caller gets CONNECT", a.expect(rb"^\r\nCONNECT 9600\r\n$", 3) is not None, a.buf)
    check("event: answer ata and connect",
          ex.wait_event(r" answer line=101-0 how=ata") and
          ex.wait_event(r" connect caller=100-0 callee=101-0 speed=9600 paced=no") is not None)
    st, rows = ex.control("status 100")
    check("status shows the call", st == "ok 1" and "state=online peer=101-0" in rows[0], rows)
    d1, d2 = pattern_bytes(300 * 1024, 1), pattern_bytes(250 * 1024, 2)
    r1, r2 = transfer([(a, b, d1), (b, a, d2)])
    check("300 KiB caller -> callee byte-exact", r1 == d1, "%d/%d" % (len(r1), len(d1)))
    check("250 KiB callee -> caller byte-exact", r2 == d2, "%d/%d" % (len(r2), len(d2)))

    # ---- escape, ATO, ATH; NO CARRIER to the other side
    check("+++ escape with the default guard time (1 s)",
          escape(a, 1.1))
    b.buf = b""
    check("+++ relayed to the peer", b.expect(rb"\+\+\+", 2) is not None)
    check("online-command: AT -> OK", a.cmd("AT"))
    check("ATO -> CONNECT", a.cmd("ATO", rb"\r\nCONNECT 9600\r\n"))
    r1, r2 = transfer([(a, b, b"after ATO"), (b, a, b"back")], 5)
    check("data after ATO", r1 == b"after ATO" and r2 == b"back")
    a.send("x+++")
    check("+++ without guard time is data", b.expect(rb"x\+\+\+", 2) is not None and
          a.quiet_for(1.3) == b"")
    check("escape again", escape(a, 1.1))
    check("ATH by the caller -> OK", a.cmd("ATH"))
    check("callee gets NO CARRIER", b.expect(rb"\r\nNO CARRIER\r\n", 2) is not None)
    e = ex.wait_event(r" hangup caller=100-0 callee=101-0 by=100-0 how=ath ")
    m = e and re.search(r"caller_sent=(\d+) callee_sent=(\d+) secs=\d+\.\d{3}$", e)
    # 300 KiB, "after ATO", "x+++", two "+++"; 250 KiB, "back"
    check("event: hangup by caller with byte counts", m and int(m.group(1)) == len(d1) + 19
          and int(m.group(2)) == len(d2) + 4, e)

    # ---- S12 guard, hangup from the callee side, close of an endpoint
    check("ATS12=10 -> OK", a.cmd("ATS12=10") and b.cmd("ATS12=10") and b.cmd("ATS0=2"))
    a.send("ATD101\r")
    check("auto-answer S0=2 after two rings", b.expect(rb"RING.*RING.*CONNECT 9600\r\n", 4) is not None
          and a.expect(rb"CONNECT 9600", 2) is not None)
    check("event: answer auto rings=2", ex.wait_event(r" answer line=101-0 how=auto rings=2") is not None)
    check("callee +++ with a short guard", escape(b, 0.3))
    check("callee ATH", b.cmd("ATH0"))
    check("caller gets NO CARRIER", a.expect(rb"\r\nNO CARRIER\r\n", 2) is not None)
    b.cmd("ATS0=1")
    a.send("ATD101\r")
    a.expect(rb"CONNECT", 3)
    b.expect(rb"CONNECT", 3)
    a.close()
    check("caller closes its port -> callee NO CARRIER", b.expect(rb"\r\nNO CARRIER\r\n", 2) is not None)
    check("event: hangup how=close", ex.wait_event(r" hangup caller=100-0 .* by=100-0 how=close") is not None)
    time.sleep(0.2)
    a.open()
    check("reopened port works", a.cmd("ATE0"))
    check("callee on-line again, ATA without a call -> NO CARRIER", b.cmd("ATA", rb"NO CARRIER"))
    a.send("ATD101\r")
    b.expect(rb"CONNECT", 3)
    a.expect(rb"CONNECT", 3)
    check("control hangup", ex.control("hangup 101").startswith("ok hangup 101 calls=1") and
          a.expect(rb"NO CARRIER", 2) is not None and b.expect(rb"NO CARRIER", 2) is not None)
    b.cmd("ATS0=0")

    # ---- no answer, abort
    check("caller ATS7=2", a.cmd("ATS7=2"))
    t0 = time.time()
    a.send("ATD103\r")
    check("no answer within S7 -> NO ANSWER", a.expect(rb"\r\nNO ANSWER\r\n", 4) is not None
          and time.time() - t0 >= 1.8)
    check("callee had rung, then the ringing stopped",
          b"RING" in n.quiet_for(0.2) and b"RING" not in n.quiet_for(1.0))
    check("event: noanswer", ex.wait_event(r" noanswer line=100-0 to=103-0") is not None)
    ex.control("noanswer 103 on")
    a.send("ATD103\r")
    check("forced noanswer: no RING delivered, NO ANSWER",
          a.expect(rb"NO ANSWER\r\n", 4) is not None and b"RING" not in n.quiet_for(0.1))
    a.send("ATD103\r")
    time.sleep(0.3)
    r1 = n.cmd("ATA", rb"NO CARRIER")
    r2 = a.quiet_for(0.3)
    check("forced noanswer: ATA finds no call", r1 and r2 == b"", repr((r1, r2, n.buf)))
    a.send("x")
    a.expect(rb"NO CARRIER", 2)
    ex.control("noanswer 103 off")
    a.cmd("ATS7=50")
    a.send("ATD103\r")
    n.expect(rb"RING", 2)
    a.send("x")
    check("a key while dialling aborts -> NO CARRIER", a.expect(rb"NO CARRIER", 2) is not None)

    # ---- hunt group
    h0.cmd("ATH1")
    h1.buf = b""
    a.send("ATD200\r")
    check("hunt group: first busy, second rings", h1.expect(rb"RING", 2) is not None and
          ex.wait_event(r" ring line=200-1 from=100-0") is not None)
    check("ATD from a ringing line -> NO DIALTONE", h1.cmd("ATD100", rb"NO DIALTONE"))
    h1.send("ATA\r")
    check("hunt group line 200-1 answers", a.expect(rb"CONNECT", 2) is not None and
          h1.expect(rb"CONNECT", 2) is not None)
    c.buf = b""
    c.send("ATD200\r")
    check("hunt group all busy -> BUSY", c.expect(rb"BUSY", 2) is not None)
    escape(h1, 1.1)
    h1.cmd("ATH")
    a.expect(rb"NO CARRIER", 2)
    h0.cmd("ATH0")
    c.send("ATD200\r")
    check("hunt group: first line idle again rings first", h0.expect(rb"RING", 2) is not None)
    h0.cmd("ATA")
    c.expect(rb"CONNECT", 2)
    h0.close()
    c.expect(rb"NO CARRIER", 2)
    h0.open()

    # ---- pacing (19200 on 300 paced)
    p301.cmd("ATS0=1")
    p300.send("ATD301\r")
    check("paced call CONNECT 19200", p300.expect(rb"CONNECT 19200\r\n", 3) is not None and
          p301.expect(rb"CONNECT 19200\r\n", 2) is not None)
    check("event: paced=yes", ex.wait_event(r" connect caller=300-0 callee=301-0 speed=19200 paced=yes") is not None)
    data = pattern_bytes(6000, 3)
    t0 = time.time()
    r1, = transfer([(p300, p301, data)], 20)
    el = time.time() - t0
    check("paced: 6000 bytes delivered byte-exact", r1 == data, "%d %r" % (len(r1), r1[:40]))
    check("paced: not faster than the line (3.1 s at 19200; took %.2f s)" % el, el >= 2.5)

    # ---- impairments and replay, on 300 -> 301
    ex.control("noise 300-0 flip=1000000")
    data = pattern_bytes(500, 4)
    r1, = transfer([(p300, p301, data)], 5)
    check("flip=1000000: every byte differs in one bit", len(r1) == 500 and
          all(bin(x ^ y).count("1") == 1 for x, y in zip(data, r1)))
    ex.control("noise 300 flip=0 drop=1000000")
    p300.send(b"dropped")
    check("drop=1000000: nothing arrives", p301.quiet_for(0.5) == b"")
    ex.control("noise 300 drop=0 insert=1000000")
    r1, = transfer([(p300, p301, b"abcd")], 3)
    r1 += p301.quiet_for(0.3)
    check("insert=1000000: a byte after each", len(r1) == 8 and r1[0::2] == b"abcd", r1)
    ex.control("noise 300 insert=0")
    st, rows = ex.control("status 300-0")
    check("status counts faults", "flipped=500 dropped=7 inserted=4" in rows[0], rows)
    p300.send(b"\x00AB\x00")  # the first delimiter ends what came before
    p301.expect(rb"\x00AB\x00", 2)
    check("control replay armed", ex.control("replay 300 2").startswith("ok replay"))
    p300.send(b"CD\x00")
    check("replay of the frame 2 back after the next frame",
          p301.expect(rb"^CD\x00AB\x00$", 2) is not None, p301.buf)
    check("event: replay", ex.wait_event(r" replay line=300-0 to=301-0 back=2 bytes=3") is not None)

    # ---- control errors
    check("control: unknown command -> error", ex.control("frobnicate").startswith("error:"))
    check("control: unknown line -> error", ex.control("busy 555 on").startswith("error: no line"))
    check("control: bad noise -> error", ex.control("noise 300 flip=x").startswith("error:"))
    check("control: ping", ex.control("ping") == "ok pong")

    # ---- captures
    for p in allp:
        p.close()
    rc = ex.stop()
    check("exchange quits with status 0", rc == 0, rc)
    tx = open(os.path.join(cap, "100-0.tx"), "rb").read()
    check("capture 100-0.tx holds the commands and the data sent",
          b"ATD999\r" in tx and d1 in tx)
    rx = open(os.path.join(cap, "101-0.rx"), "rb").read()
    check("capture 101-0.rx holds what was delivered", d1 in rx and b"NMBR = 100" in rx)
    check("pty links removed at exit", not os.path.lexists(d("l100")))


def unix_and_options(tmp):
    """A unix-socket line (the exchange as a client of a QEMU-like server
    that appears late), --no-answer-rings, exit when QEMU closes, bad options."""
    d = lambda n: os.path.join(tmp, n)
    path = d("qemu.sock")
    ex = Exchange(tmp, ["--line", "500=unix:" + path, "--line", "501=pty:" + d("l501"),
                        "--ring-interval", "0.3", "--no-answer-rings", "2",
                        "--connect-timeout", "10"], "unix")
    time.sleep(0.3)  # the exchange retries meanwhile
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(5)
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        conn = None
    check("unix line: connects to a server that appears late", conn is not None)
    if conn is None:
        ex.stop()
        return
    conn.settimeout(3)

    def sock_expect(pat):
        buf = b""
        end = time.time() + 3
        while time.time() < end:
            m = re.search(pat, buf, re.S)
            if m:
                return m
            try:
                buf += conn.recv(4096)
            except socket.timeout:
                break
        return None

    conn.sendall(b"ATE0\r")
    check("unix line: ATE0 -> OK", sock_expect(rb"\r\nOK\r\n") is not None)
    p = Port(d("l501"))
    p.cmd("ATE0")
    t0 = time.time()
    conn.sendall(b"ATD501\r")
    m = sock_expect(rb"\r\nNO ANSWER\r\n")
    check("--no-answer-rings 2: NO ANSWER after two rings", m is not None and time.time() - t0 >= 0.5)
    check("--no-answer-rings 2: the callee saw exactly two RINGs",
          p.quiet_for(0.5).count(b"RING") == 2)
    p.cmd("ATS0=1")
    conn.sendall(b"ATD501\r")
    check("unix line: call to a pty line connects", sock_expect(rb"CONNECT 9600\r\n") is not None
          and p.expect(rb"CONNECT 9600\r\n", 2) is not None)
    data = pattern_bytes(100000, 9)
    conn.sendall(data)
    got = b""
    end = time.time() + 10
    while len(got) < len(data) and time.time() < end:
        p.pump(1)
        got, p.buf = got + p.buf, b""
    check("unix line -> pty line: 100 kB byte-exact", got == data)
    conn.close()
    check("QEMU side closes: pty side NO CARRIER", p.expect(rb"NO CARRIER", 3) is not None)
    try:
        rc = ex.proc.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    check("all unix lines closed: the exchange exits 0", rc == 0, rc)
    ex.stop()
    p.close()
    srv.close()

    for args, want in ((["--line", "12x=pty:/tmp/x"], "bad number"),
                       (["--line", "12=tty:/tmp/x"], "unknown kind"),
                       (["--line", "12=pty:/tmp/x,foo"], "unknown option"),
                       (["--baud", "fast", "--line", "1=pty:/tmp/x"], "--baud"),
                       (["--lines-file", d("nonexistent")], "nonexistent"),
                       (["--line", "1=unix:" + d("nobody"), "--connect-timeout", "0"],
                        "gave up")):
        r = subprocess.run([EXE] + args, capture_output=True, text=True, timeout=10)
        check("bad usage %s -> clear error" % " ".join(args)[:40],
              r.returncode != 0 and want in r.stderr, r.stderr.strip())
    r = subprocess.run([EXE, "--help"], capture_output=True, text=True, timeout=10)
    check("--help: manual on stdout, status 0", r.returncode == 0 and
          all(k in r.stdout for k in ("SYNOPSIS", "MODEM EMULATION", "EVENT LOG", "CONTROL",
                                      "EXAMPLES")))


def load(tmp, nlines=int(os.environ.get("EXCHANGE_LOAD_LINES", "200"))):
    half = nlines // 2
    spec = os.path.join(tmp, "load-lines")
    with open(spec, "w") as f:
        for i in range(nlines):
            f.write("%d=pty:%s\n" % (7000 + i, os.path.join(tmp, "p%d" % i)))
    ex = Exchange(tmp, ["--lines-file", spec, "--ring-interval", "0.5"], "load")
    ports = [Port(os.path.join(tmp, "p%d" % i)) for i in range(nlines)]
    for p in ports:
        p.send("ATZE0S0=1\r")
    ok = all(p.expect(rb"OK\r\n", 10) is not None for p in ports)
    check("load: %d lines answer OK" % nlines, ok)
    for i in range(half):
        ports[i].send("ATD%d\r" % (7000 + half + i))
    ok = all(p.expect(rb"\r\nCONNECT 9600\r\n", 20) is not None for p in ports)
    check("load: %d simultaneous calls all CONNECT" % half, ok)
    pairs = []
    for i in range(half):
        pairs.append((ports[i], ports[half + i], pattern_bytes(16384, 100 + i)))
        pairs.append((ports[half + i], ports[i], pattern_bytes(16384, 1000 + i)))
    res = transfer(pairs, 120)
    bad = sum(1 for p, r in zip(pairs, res) if r != p[2])
    check("load: %d streams of 16 KiB relayed byte-exact" % len(pairs), bad == 0, "%d bad" % bad)
    for i in range(half):
        ports[i].close()
    ok = all(ports[half + i].expect(rb"NO CARRIER", 10) is not None for i in range(half))
    check("load: all callers close -> all callees NO CARRIER", ok)
    n = sum(1 for e in ex.events() if " hangup " in e and "how=close" in e)
    check("load: %d hangup events" % half, n == half, n)
    for p in ports[half:]:
        p.close()
    # a client that sends one command and half-closes (echo | socat) gets
    # the whole answer, however long
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ex.ctl)
    s.sendall(b"status\n")
    s.shutdown(socket.SHUT_WR)
    data = b""
    s.settimeout(5)
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    rows = data.decode().splitlines()
    check("load: status of %d lines to a half-closed client" % nlines,
          rows[0] == "ok %d" % nlines and len(rows) == nlines + 1 and
          all(" state=idle " in r for r in rows[1:]), rows[:2])
    check("load: quit answers ok quit", ex.control("quit") == "ok quit")
    check("load: exchange quits cleanly", ex.stop() == 0)


def main():
    if not EXE or not os.access(EXE, os.X_OK):
        print("usage: test-exchange.py EXCHANGE-BINARY [-v]", file=sys.stderr)
        sys.exit(2)
    signal.alarm(600)
    with tempfile.TemporaryDirectory(prefix="test-exchange.") as tmp:
        try:
            functional(tmp)
        except Exception as e:  # a crash is a failure, not a hang
            check("functional tests ran to the end", False, repr(e))
        try:
            unix_and_options(tmp)
        except Exception as e:
            check("unix-line tests ran to the end", False, repr(e))
        try:
            load(tmp)
        except Exception as e:
            check("load test ran to the end", False, repr(e))
        for name in ("ex.err", "unix.err", "load.err"):
            p = os.path.join(tmp, name)
            if os.path.exists(p) and os.path.getsize(p):
                print("--- %s:" % name)
                print(open(p).read()[-2000:])
    print("exchange: %d passed, %d failed" % (passed, failed))
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
