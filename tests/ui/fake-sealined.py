#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
A stand-in for sealined's control socket (agent/lib/ipc.h, protocol 1)
for the states of an envelope the host test bed cannot reach without a
kernel, for sealtspd's status with a call on a line, and for the two
halves of a pairing (modem0 reads the code, modem1 types it): one envelope that goes from queued through sending to delivered
with a receipt, one that failed and can be tried again. Each "outbox"
request moves the first one step on, so the progress page, which reloads
itself, sees every step. It logs every request to LOG, one a line.

    fake-sealined.py SOCKET LOG
"""
import os
import socket
import sys
import threading

SOCK, LOG = sys.argv[1:3]
SENDING = "5" * 32
FAILED = "f" * 32
CHUNK = 65536 + 16
SIZE = 4 * CHUNK - 1000
steps = [("queued", 0), ("sending", 0), ("sending", 1), ("sending", 3),
         ("delivered", 4)]
state = {"step": 0, "failed": "failed"}
lock = threading.Lock()
RECEIPT = ("sealine-receipt 1\nenvelope %s\nsha256 %s\nsize %d\nsender 123456789012\n"
           "recipient 210987654321\ndelivered 2026-12-07T10:00:00Z\nfiles 2\nbytes 250000\n"
           "key %s\nsignature %s\n" % (SENDING, "ab" * 32, SIZE, "cd" * 32, "ef" * 64))


def enc(v):
    out = ""
    for b in str(v).encode():
        c = chr(b)
        if b <= 0x20 or b >= 0x7f or c in "%=":
            out += "%%%02X" % b
        else:
            out += c
    return out


def rec(kind, **kv):
    return kind + "".join(" %s=%s" % (k, enc(v)) for k, v in kv.items() if v is not None) + "\n"


def envelope(hexid, st, acked, **more):
    return rec("envelope", id=hexid, to="210987654321", name="Müller GmbH", state=st,
               queued="2026-12-07T09:59:00Z", via="auto", size=SIZE, files=2,
               content_bytes=250000, chunks=4, acked=acked, attempts=1,
               wire_bytes=acked * CHUNK, **more)


def pairing(conn, words):
    """The operator's conversation of "pair LINE" (ipc.h): on modem0 this
    side reads the code, on modem1 it types what the other side reads."""
    verb = words[0]
    if verb == "pair":
        conn["line"] = words[1]
        if words[1] == "modem0":
            return ("waiting reason=start seconds=600\n"
                    + rec("sas", code="K7Q2M", peer="210987654321",
                          fingerprint="ffff-eeee-dddd-cccc", seconds=60))
        return rec("ask-sas", attempts=3, peer="333333333333",
                   fingerprint="1111-2222-3333-4444", seconds=60)
    if verb == "confirm" and conn.get("line") == "modem0":
        if words[1:] == ["yes"]:
            return "accepted\nok peer=210987654321\n"
        return "accepted\nerr EPERM the codes differ: nothing was stored\n"
    if verb == "sas" and conn.get("line") == "modem1":
        if words[1:] == ["K7Q2M"]:
            return "accepted\nmatched\nok peer=333333333333\n"
        conn["tries"] = conn.get("tries", 3) - 1
        return "accepted\n" + rec("ask-sas", attempts=conn["tries"], peer="333333333333",
                                   fingerprint="1111-2222-3333-4444", seconds=60)
    return "err EINVAL not in a pairing\n"


def answer(line, conn):
    words = line.split()
    verb = words[0] if words else ""
    if verb in ("pair", "confirm", "sas"):
        return pairing(conn, words)
    with lock:
        if verb == "status":  # as sealtspd answers it, for the TSP's calls page
            return (rec("daemon", pid=os.getpid(), version="0.1.0", role="tsp",
                        instance="tsp1", store_state="up", lines=2, calls=1,
                        fingerprint="aaaa-bbbb-cccc-dddd")
                    + rec("line", tty="modem0", path="/dev/ttyS0", state="bridged",
                          modem="online", call_tracking="00000000000000aa",
                          call_leg="caller", caller="111111111111",
                          recipient="222222222222", bytes_up=123, bytes_down=456)
                    + rec("line", tty="modem1", path="/dev/ttyS1", state="idle",
                          modem="idle")
                    + "ok\n")
        if verb == "peers":
            return (rec("peer", account="210987654321", authorised="yes", revoked="no",
                        ltk="yes", name="Müller GmbH") + "ok\n")
        if verb == "outbox":
            st, acked = steps[min(state["step"], len(steps) - 1)]
            state["step"] += 1
            out = envelope(SENDING, st, acked,
                           finished="2026-12-07T10:00:00Z" if st == "delivered" else None)
            if state["failed"] == "failed":
                out += envelope(FAILED, "failed", 1, finished="2026-12-07T09:00:00Z",
                                detail="30 attempts failed; the last: no answer")
            else:
                out += envelope(FAILED, "queued", 1)
            return out + "ok\n"
        if verb == "outbox-receipt" and words[1:] == [SENDING]:
            return rec("receipt", id=SENDING, text=RECEIPT) + "ok\n"
        if verb == "outbox-retry" and words[1:] == [FAILED]:
            state["failed"] = "queued"
            return "ok id=%s\n" % FAILED
        return "err EINVAL the stand-in does not know '%s'\n" % line


def serve(conn):
    f = conn.makefile("rwb")
    state = {}
    for raw in f:
        line = raw.decode().strip()
        with open(LOG, "a") as log:
            log.write(line + "\n")
        f.write(answer(line, state).encode())
        f.flush()
    conn.close()


if os.path.exists(SOCK):
    os.unlink(SOCK)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(SOCK)
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
