#!/usr/bin/env python3
# tests/tsp/check-cdrs.py - compare the call records a TSP wrote (the JSON
# of "sealctl tsp cdr --json") with what sim-endpoints saw of each call.
#
# Usage: check-cdrs.py CDR.json SIM-OUTPUT [--instances A,B,...]
#
# Each "call ..." line of SIM-OUTPUT must have exactly one record whose
# caller ID is the caller's phone (5550000 + its index), with the outcome
# its expectation implies (connected: completed, dropped: interrupted,
# nak:R: nak with reason R, or busy / no-answer), and for a connected
# call the accounts, tracking id, answer and end times, a duration within
# a second of the one measured, and the byte counts the endpoints sent.
# --instances: the records of these calls must come from every instance
# named, and from no other. Prints one problem per line; exit status 1 if
# there is any.
import json
import sys

args = sys.argv[1:]
instances = None
if "--instances" in args:
    i = args.index("--instances")
    instances = set(args[i + 1].split(","))
    del args[i:i + 2]
recs = json.load(open(args[0]))
by_cid = {}
for r in recs:
    by_cid.setdefault(r["caller_id"], []).append(r)
bad = 0
seen = set()


def fail(msg):
    global bad
    bad += 1
    print(msg)


want = {"connected": ("completed", None), "busy": ("busy", None),
        "no-answer": ("no-answer", None), "dropped": ("interrupted", None)}
for line in open(args[1]):
    if not line.startswith("call "):
        continue
    f = dict(kv.split("=", 1) for kv in line.split()[1:-1])
    caller = f["caller"]
    phone = str(5550000 + int(caller) - 100000000000)
    rs = by_cid.get(phone, [])
    if len(rs) != 1:
        fail(f"{caller}: {len(rs)} records with caller ID {phone}")
        continue
    r = rs[0]
    seen.add(r["tsp_instance"])
    exp = f["expected"]
    if exp.startswith("nak:"):
        reason = exp.split(":")[1]
        outc = {"BUSY": "busy", "NO_ANSWER": "no-answer"}.get(reason, "nak")
        want_o, want_r = outc, (reason if outc == "nak" else None)
    else:
        want_o, want_r = want[exp]
    if r["outcome"] != want_o or (want_r and r["nak_reason"] != want_r):
        fail(f"{caller}: record outcome {r['outcome']} {r['nak_reason']}, expected {want_o} {want_r}")
    if exp == "connected":
        if r["caller_account"] != caller or r["recipient_account"] != f["recipient"]:
            fail(f"{caller}: accounts {r['caller_account']} -> {r['recipient_account']}")
        if r["tracking_id"] != f["tracking"]:
            fail(f"{caller}: tracking id {r['tracking_id']} != {f['tracking']}")
        if not r["answer_time"] or not r["end_time"]:
            fail(f"{caller}: answer/end time missing")
        if abs(float(r["duration_s"]) - float(f["duration"])) > 1.0:
            fail(f"{caller}: duration {r['duration_s']} vs measured {f['duration']}")
        if int(r["bytes_caller_to_recipient"]) != int(f["up"]):
            fail(f"{caller}: bytes to recipient {r['bytes_caller_to_recipient']} != sent {f['up']}")
        if int(r["bytes_recipient_to_caller"]) != int(f["down"]):
            fail(f"{caller}: bytes back {r['bytes_recipient_to_caller']} != sent {f['down']}")
if instances is not None and seen != instances:
    fail(f"records from instances {sorted(seen)}, expected {sorted(instances)}")
sys.exit(1 if bad else 0)
