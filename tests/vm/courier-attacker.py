#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR MIT
"""courier-attacker.py: a hostile sender for tests/vm/97-courier-hostile.sh.

What it is: a client of sealined's control socket written from scratch
(Python 3 from Debian, no sealine code), as a local user on the sending
machine who may talk to that socket (root or the daemon's own user,
agent/lib/ipc.h) would write one instead of running sealctl. It makes the
"send ACCOUNT wait" request as sealctl send does and passes the read end
of a pipe with it (SCM_RIGHTS, socket.send_fds), then writes on that pipe
the records sealined reads (ipc.h: 'D' payload, 'F' one entry, 'E' the
end), but the payload is not what sl_env_pack() would make of real files:
it is a pax archive of this program's choosing (Python's tarfile, any
name, type and link target), compressed by the zstd command (an ordinary
zstd stream, as sealctl's). sealined seals whatever arrives into an
envelope for ACCOUNT and delivers it; the recipient's sealined must refuse
it. What the client cannot choose: the envelope's header, its recipient
(sealined seals for the paired peer named in the request, with that
peer's key and account, and delivers only on a line keyed with that very
peer) and its chunking.

Usage: courier-attacker.py --socket PATH --to ACCOUNT [--limit N] [--no-wait]
                          CASE

CASE (every name the archive holds contains "hostile-canary", so that a
search finds anything of it that was written anywhere):
  dotdot      a good file, then "../../hostile-canary-dotdot"
  absolute    a good file, then "/etc/hostile-canary-absolute"
  symlink     a good file, "hostile-canary-etc" -> /etc, then a file
              "hostile-canary-etc/hostile-canary-symlink" through it
  hardlink    a good file, then a hard link to /etc/passwd
  device      a good file, then a character device 1,3 (/dev/null's)
  duplicate   "hostile-canary-twice", then again with other content
  bomb        200 MiB of zeros in one file: a few kilobytes compressed
  claim       a good file, then one whose header claims 1 TiB (no data)
  at-limit    zeros in one file "at-limit", the archive exactly --limit
              bytes (meant to arrive: the only name without the marker)
  over-limit  the same with one more tar block: --limit + 512 bytes
  roomless    the same as at-limit, named as a canary (for a recipient
              with less free space than that)
  cut-zstd    a good archive whose zstd stream is cut 8 bytes short
  cut-tar     an archive cut inside a file's data, then compressed whole
  cut-pipe    half of a good stream, then the pipe closed: no 'E' record

Prints each line sealined answers (prefixed "< ") and what it sent
("# "); exits 0 on "ok", 1 on "err", 2 on a usage or local error. With
--no-wait the request has no "wait": "ok" comes once it is queued.
"""
import argparse
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading

REC_MAX = 64 * 1024           # ipc.h: at most 64 KiB of payload a record
MTIME = 1600000000
CANARY = "hostile-canary"


class Counter(io.RawIOBase):
    """A write-only stream that counts and forwards: tarfile needs tell()."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.n = 0

    def writable(self):
        return True

    def write(self, b):
        self.out.write(b)
        self.n += len(b)
        return len(b)

    def tell(self):
        return self.n


class Zeros(io.RawIOBase):
    """size zero bytes, read in pieces (a file's data for tarfile)."""

    def __init__(self, size):
        super().__init__()
        self.left = size

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def entry(name, kind=tarfile.REGTYPE, size=0, link=""):
    ti = tarfile.TarInfo(name)   # kept as given: no "/" or ".." stripped
    ti.type = kind
    ti.size = size
    ti.mode = 0o644
    ti.mtime = MTIME
    ti.linkname = link
    if kind == tarfile.CHRTYPE:
        ti.devmajor, ti.devminor = 1, 3
    return ti


def archive(out, entries):
    """Writes a pax archive of entries (TarInfo, data: bytes, an int of
    zeros, or None) to out, ending right after the two zero blocks (no
    padding to a 10 KiB record). Returns its length in bytes."""
    counter = Counter(out)
    saved = tarfile.RECORDSIZE
    tarfile.RECORDSIZE = tarfile.BLOCKSIZE
    try:
        with tarfile.open(fileobj=counter, mode="w",
                          format=tarfile.PAX_FORMAT) as tf:
            for ti, data in entries:
                if isinstance(data, bytes):
                    tf.addfile(ti, io.BytesIO(data))
                elif isinstance(data, int):
                    tf.addfile(ti, Zeros(data))
                else:
                    tf.addfile(ti)
    finally:
        tarfile.RECORDSIZE = saved
    return counter.n


def compressed(entries, cut_tar=None):
    """(zstd stream, archive length): the archive fed to `zstd -3` as it
    is written (a bomb is never whole in memory); cut_tar: only that many
    of the archive's bytes are compressed."""
    z = subprocess.Popen(["zstd", "-q", "-3", "-c"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    result = {}

    def feed():
        if cut_tar is None:
            result["n"] = archive(z.stdin, entries)
        else:
            buf = io.BytesIO()
            result["n"] = archive(buf, entries)
            z.stdin.write(buf.getvalue()[:cut_tar])
        z.stdin.close()

    t = threading.Thread(target=feed)
    t.start()
    out = z.stdout.read()
    t.join()
    if z.wait() != 0 or "n" not in result:
        sys.exit("courier-attacker: zstd failed")
    return out, result["n"]


def good(name):
    return (entry(name, size=5), b"good\n")


def build(case, limit):
    """(payload, the 'F' list, files, content bytes, what it is)."""
    first = good(f"{CANARY}-{case}-first")
    cut_zstd = 0
    cut_tar = None
    if case == "dotdot":
        ents = [first, (entry(f"../../{CANARY}-dotdot", size=5), b"evil\n")]
    elif case == "absolute":
        ents = [first, (entry(f"/etc/{CANARY}-absolute", size=5), b"evil\n")]
    elif case == "symlink":
        ents = [first,
                (entry(f"{CANARY}-etc", tarfile.SYMTYPE, link="/etc"), None),
                (entry(f"{CANARY}-etc/{CANARY}-symlink", size=5), b"evil\n")]
    elif case == "hardlink":
        ents = [first, (entry(f"{CANARY}-passwd", tarfile.LNKTYPE,
                              link="/etc/passwd"), None)]
    elif case == "device":
        ents = [first, (entry(f"{CANARY}-null", tarfile.CHRTYPE), None)]
    elif case == "duplicate":
        ents = [(entry(f"{CANARY}-twice", size=6), b"first\n"),
                (entry(f"{CANARY}-twice", size=7), b"second\n")]
    elif case == "bomb":
        ents = [(entry(f"{CANARY}-bomb", size=200 << 20), 200 << 20)]
    elif case == "claim":
        ents = [first, (entry(f"{CANARY}-claim", size=1 << 40), None)]
    elif case in ("at-limit", "over-limit", "roomless"):
        # a header block, the data in whole blocks, two zero blocks
        size = limit - 3 * 512 + (1 if case == "over-limit" else 0)
        # the one meant to arrive is no canary
        name = "at-limit" if case == "at-limit" else f"{CANARY}-{case}"
        ents = [(entry(name, size=size), size)]
    elif case == "cut-zstd":
        ents = [first, (entry(f"{CANARY}-cut", size=4096), b"x" * 4096)]
        cut_zstd = 8
    elif case in ("cut-tar", "cut-pipe"):
        ents = [first, (entry(f"{CANARY}-cut", size=4096), b"x" * 4096)]
        if case == "cut-tar":
            cut_tar = 3 * 512 + 1000    # inside the second file's data
    else:
        sys.exit(f"courier-attacker: no case '{case}' (see --help)")
    payload, n = compressed(ents, cut_tar)
    if cut_zstd:
        payload = payload[:-cut_zstd]
    if case in ("at-limit", "over-limit"):
        want = limit + (512 if case == "over-limit" else 0)
        if n != want:
            sys.exit(f"courier-attacker: the archive has {n} bytes, not {want}")
    flist = []
    for ti, _ in ents:
        kind = "d" if ti.isdir() else "l" if ti.issym() else "f"
        name = "".join(c if 0x20 < ord(c) < 0x7f and c not in "%=" else
                       "%%%02X" % ord(c) for c in ti.name)
        flist.append(f"{kind} {ti.mode:o} {ti.size} {ti.mtime} {name}")
    what = (f"{case}: an archive of {n} bytes"
            f"{'' if cut_tar is None else f' cut to {cut_tar}'}"
            f", {len(payload)} bytes of zstd"
            f"{f' ({cut_zstd} cut off its end)' if cut_zstd else ''}")
    return payload, flist, len(ents), sum(ti.size for ti, _ in ents), what


def record(kind, body):
    return kind + len(body).to_bytes(4, "big") + body


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--limit", type=int, default=8 << 20,
                    help="the recipient's max_unpacked, for at-limit and over-limit")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-wait", action="store_true",
                    help="ask without wait: the answer ends once it is queued")
    ap.add_argument("case")
    args = ap.parse_args()

    payload, flist, files, content, what = build(args.case, args.limit)
    print(f"# {what}", flush=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(args.timeout)
    s.connect(args.socket)
    rd, wr = os.pipe()
    request = f"send {args.to}{'' if args.no_wait else ' wait'}\n"
    socket.send_fds(s, [request.encode()], [rd])
    os.close(rd)
    lines = s.makefile("r", encoding="ascii", errors="replace", newline="\n")
    sent = False
    for line in lines:
        line = line.rstrip("\n")
        print(f"< {line}", flush=True)
        if line.startswith("ready ") and not sent:
            sent = True
            pipe = os.fdopen(wr, "wb")
            if args.case == "cut-pipe":
                pipe.write(record(b"D", payload[:len(payload) // 2]))
                pipe.close()
                print("# the pipe closed after half of the stream, no 'E'",
                      flush=True)
                continue
            for i in range(0, len(payload), REC_MAX):
                pipe.write(record(b"D", payload[i:i + REC_MAX]))
            for f in flist:
                pipe.write(record(b"F", f.encode()))
            pipe.write(record(b"E", files.to_bytes(8, "big") +
                              content.to_bytes(8, "big")))
            pipe.close()
            print(f"# sent {len(payload)} payload bytes, {files} entries",
                  flush=True)
        elif line.startswith("ok"):
            return 0
        elif line.startswith("err"):
            return 1
    print("# sealined closed the connection without ok or err", flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
