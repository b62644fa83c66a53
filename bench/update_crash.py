#!/usr/bin/env python3
"""Crash test of live index updates: a worker adds (and now and then
deletes) documents one update at a time and prints each acknowledgement;
this script kills it with SIGKILL at a random moment, checks the index
(every acknowledged add is live and found by BM25, every acknowledged delete
is gone, the manifest's counts are true, the index opens), restarts it, and
repeats.

    python3 bench/update_crash.py [--kills 50] [--seed 1] [--max-ms 400]

Builds and runs crates/xlqa-index/examples/update_crash.rs (release).
"""
import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-ms", type=int, default=400)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "xlqa-index", "--example", "update_crash"],
                   cwd=ROOT, check=True)
    exe = ROOT / "target" / "release" / "examples" / "update_crash"
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp())
    idx, acks = tmp / "idx", tmp / "acks.txt"
    subprocess.run([exe, idx, "init"], check=True)
    acked = 0
    next_id = 1
    for k in range(a.kills):
        with open(acks, "a") as out:
            p = subprocess.Popen([exe, idx, "run", str(next_id)], stdout=out)
            time.sleep(rng.uniform(0.005, a.max_ms / 1000))
            p.kill()
            p.wait()
        lines = acks.read_text().splitlines()
        ids = [int(l.split()[1][1:]) for l in lines if l.startswith("ACK ")]
        next_id = (max(ids) + 10) if ids else next_id + 10
        v = subprocess.run([exe, idx, "verify", acks], capture_output=True, text=True)
        if v.returncode != 0:
            print(f"kill {k + 1}: FAILED\n{v.stdout}{v.stderr}")
            raise SystemExit(1)
        acked = len(ids)
        print(f"kill {k + 1:3d}: {v.stdout.strip()}", flush=True)
    print(f"\n{a.kills} kills, {acked} acknowledged updates: every check passed")


if __name__ == "__main__":
    main()
