#!/usr/bin/env python3
# tests/vm/churn.py CYCLES UNLOAD_EVERY - attach/detach/unload churn for
# 66-churn.sh. Each cycle, on one pty pair:
#   attach sealine to both ends (TIOCSETD 29: two lines joined by the pty),
#   key them (sealctl set-key --activate on each end), start traffic both
#   ways through the virtual ttys, and race the detach with
#     - a thread that opens and closes both virtual ttys in a loop,
#     - a thread that sends netlink requests in a loop (sealctl show
#       --json, set-key, clear-keys on both lines),
#   then detach both ends in the middle of it (TIOCSETD 0) and check that
#   the traffic threads ended (EIO/EOF, no hang), the virtual ttys'
#   nodes went and no line is left. Every UNLOAD_EVERY cycles the module is
#   unloaded and loaded again (once every user is gone).
# Prints one line per 50 cycles and a summary; exit 1 on the first failure.
import errno
import fcntl
import json
import os
import subprocess
import sys
import threading
import time

TIOCSETD = 0x5423
SEALCTL = os.environ["SEALCTL"]
KO = os.environ["SEALINE_KO"]
KEYDIR = os.environ.get("SL_KEYDIR", "/tmp/sealine-keys")


def setd(fd, ld):
    fcntl.ioctl(fd, TIOCSETD, ld.to_bytes(4, sys.byteorder))


def sealctl(*args, check=False):
    return subprocess.run([SEALCTL, *args], capture_output=True, text=True,
                          check=check, timeout=60)


def lines():
    r = sealctl("show", "--json")
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else []


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


class Loop(threading.Thread):
    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.stop = threading.Event()
        self.count = 0

    def run(self):
        while not self.stop.is_set():
            try:
                self.fn()
            except OSError:
                pass
            self.count += 1


def pump_out(fd, stop):
    data = os.urandom(1024)
    while not stop.is_set():
        try:
            os.write(fd, data)
        except BlockingIOError:
            time.sleep(0.005)
        except OSError:
            return  # EIO: the line is gone


def pump_in(fd, stop):
    while not stop.is_set():
        try:
            if not os.read(fd, 4096):
                return  # EOF: hung up
        except BlockingIOError:
            time.sleep(0.005)
        except OSError:
            return


def main():
    cycles, unload_every = int(sys.argv[1]), int(sys.argv[2])
    os.makedirs(KEYDIR, exist_ok=True)
    keys = []
    for name in ("churn-a", "churn-b"):
        path = os.path.join(KEYDIR, name)
        with open(path, "w") as f:
            subprocess.run([SEALCTL, "genkey"], stdout=f, check=True)
        keys.append(path)
    m, s = os.openpty()
    num = int(os.ttyname(s).rsplit("/", 1)[1])
    names = ["ptm%d" % num, "pts%d" % num]
    t0 = time.monotonic()
    stats = {"opens": 0, "requests": 0, "unloads": 0, "bytes": 0}
    for cyc in range(1, cycles + 1):
        setd(m, 29)
        setd(s, 29)
        ls = {l["tty"]: l for l in lines()}
        if set(ls) != set(names):
            fail("cycle %d: lines after attach: %s" % (cyc, sorted(ls)))
        vttys = ["/dev/ttySL%d" % ls[n]["index"] for n in names]
        epoch = str(cyc % 16)
        sealctl("set-key", names[0], "--epoch", epoch, "--tx", keys[0],
                "--rx", keys[1], "--activate")
        sealctl("set-key", names[1], "--epoch", epoch, "--tx", keys[1],
                "--rx", keys[0], "--activate")
        stop = threading.Event()
        fds = []
        pumps = []
        for v in vttys:
            for _ in range(20):
                try:
                    fd = os.open(v, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                    break
                except FileNotFoundError:
                    time.sleep(0.05)  # the node is on its way
            else:
                fail("cycle %d: %s never appeared" % (cyc, v))
            fds.append(fd)
            pumps += [threading.Thread(target=pump_out, args=(fd, stop), daemon=True),
                      threading.Thread(target=pump_in, args=(fd, stop), daemon=True)]

        def reopen():
            for v in vttys:
                try:
                    os.close(os.open(v, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))
                except OSError as e:
                    if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EIO, errno.ENXIO):
                        raise

        def request():
            sealctl("show", "--json")
            sealctl("set-key", names[cyc % 2], "--epoch", str((cyc + 1) % 16),
                    "--tx", keys[0], "--rx", keys[1])
            sealctl("clear-keys", names[(cyc + 1) % 2])

        racers = [Loop(reopen), Loop(request)]
        for th in pumps + racers:
            th.start()
        time.sleep(0.3)
        # detach both ends while everything runs
        setd(m, 0)
        setd(s, 0)
        for th in pumps:
            th.join(10)
            if th.is_alive():
                fail("cycle %d: a vtty user still blocked 10 s after the detach" % cyc)
        stop.set()
        for th in racers:
            th.stop.set()
        for th in racers:
            th.join(60)
            if th.is_alive():
                fail("cycle %d: a racing opener/requester hangs" % cyc)
        stats["opens"] += racers[0].count
        stats["requests"] += racers[1].count
        for fd in fds:
            os.close(fd)
        for v in vttys:
            for _ in range(50):
                if not os.path.exists(v):
                    break
                time.sleep(0.1)
            else:
                fail("cycle %d: %s still there after the detach" % (cyc, v))
        if lines():
            fail("cycle %d: lines left after the detach: %s" % (cyc, lines()))
        if cyc % unload_every == 0:
            for _ in range(100):
                if subprocess.run(["rmmod", "sealine"]).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                fail("cycle %d: rmmod refused with every user gone" % cyc)
            subprocess.run(["insmod", KO], check=True)
            stats["unloads"] += 1
        if cyc % 50 == 0 or cyc == cycles:
            print("cycle %d: %.0f s, %d racing opens, %d netlink rounds, %d unloads"
                  % (cyc, time.monotonic() - t0, stats["opens"], stats["requests"],
                     stats["unloads"]), flush=True)
    os.close(s)
    os.close(m)
    print("ok: %d cycles in %.0f s" % (cycles, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
