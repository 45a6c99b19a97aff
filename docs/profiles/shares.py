#!/usr/bin/env python3
"""Share of a CPU profile's samples by category: each sample is charged to
the first category (in the order below) matching any frame of its stack.
Usage: python3 shares.py PROFILE.pprof  (needs `go` on PATH)."""
import re, subprocess, sys

CATEGORIES = [
    ("message authentication (Ed25519, HMAC-SHA-512)", r"curve25519-voi|crypto/ed25519|crypto/internal/fips140/(ed25519|edwards25519|sha512|hmac)|envelope\.linkMAC"),
    ("audit: capture and the embedded store (SQLite)", r"cordon/(audit|sqlite)|modernc\.org/"),
    ("HTTP: public server, upstream client, proxy of the load", r"^net/http\.|net/textproto"),
    ("embedded NATS servers", r"nats-server/"),
    ("NATS client library", r"nats-io/nats\.go"),
    ("policy engine (routing, strict JSON, schemas, DLP)", r"cordon/(policy|jsonstrict|dlp)|santhosh-tekuri"),
    ("allocation and garbage collection", r"^runtime\.(mallocgc|gcBgMarkWorker|gcAssist|bgsweep|bgscavenge|newobject|makeslice|growslice|gcDrain)"),
]

def main(path):
    out = subprocess.run(["go", "tool", "pprof", "-traces", path], capture_output=True, text=True, check=True).stdout
    totals, total = {}, 0.0
    for block in out.split("-----------+-------------------------------------------------------")[1:]:
        lines = [l for l in block.strip().splitlines() if l.strip()]
        if not lines:
            continue
        m = re.match(r"\s*([\d.]+)(ms|s)\s+(\S+)", lines[0])
        if not m:
            continue
        v = float(m.group(1)) * (1 if m.group(2) == "s" else 0.001)
        frames = [m.group(3)] + [l.split()[-1] for l in lines[1:]]
        cat = "scheduler, syscalls and the rest"
        for name, rx in CATEGORIES:
            if any(re.search(rx, f) for f in frames):
                cat = name
                break
        totals[cat] = totals.get(cat, 0) + v
        total += v
    for name, _ in CATEGORIES + [("scheduler, syscalls and the rest", "")]:
        print(f"{100 * totals.get(name, 0) / total:5.1f} %  {name}")

main(sys.argv[1])
