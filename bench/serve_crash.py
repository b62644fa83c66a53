#!/usr/bin/env python3
"""Crash test of `xlqa serve`'s live updates: a client streams POST
/v1/documents (one document each, now and then a DELETE of an earlier one)
while this script kills the server with SIGKILL at a random moment; then it
restarts the server and checks that every acknowledged (200) add is served
(GET /v1/documents/ID, and BM25 finds it by its own word), every
acknowledged delete is gone, and /v1/index counts what GET finds.

    python3 bench/serve_crash.py [--kills 50] [--seed 1] [--max-s 2.0] [--index DIR]

Default index: the demo collection, indexed into a temporary folder.
"""
import argparse
import json
import os
import random
import re
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "xlqa"


def call(addr, method, path, body=None, ctype="application/json"):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method,
                                 headers={"Content-Type": ctype} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def start(index):
    p = subprocess.Popen([EXE, "serve", index, "--addr", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"listening on http://([^/]+)/", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, m.group(1)
    raise SystemExit("xlqa serve ended before it listened")


def word(n):
    return "zq" + "".join(chr(ord("a") + int(c)) for c in str(n))


def stream(addr, first, acked, deleted, tried, stop, rng):
    n = first
    while not stop.is_set():
        doc = {"id": f"k{n}", "title": f"Note {n}",
               "text": f"Note {n} records the word {word(n)} for the crash test of live updates in xlqa. "
                       "The server is killed at a random moment while notes like this one are added and deleted."}
        try:
            st, _ = call(addr, "POST", "/v1/documents", json.dumps(doc), "application/x-ndjson")
            if st == 200:
                acked.append(n)
            if acked and rng.random() < 0.25:
                victim = rng.choice(acked)
                tried.add(victim)  # a delete may commit and die before its answer
                st, _ = call(addr, "DELETE", f"/v1/documents/k{victim}")
                if st == 200:
                    deleted.add(victim)
        except (OSError, urllib.error.URLError, json.JSONDecodeError):
            return  # the server died
        n += 1


def verify(addr, acked, deleted, tried, rng):
    bad = []
    for n in acked:
        st, body = call(addr, "GET", f"/v1/documents/k{n}")
        want = {404} if n in deleted else {200, 404} if n in tried else {200}
        if st not in want:
            bad.append(f"k{n}: GET {st}, expected {sorted(want)}")
    alive = [a for a in acked if a not in tried]
    for n in rng.sample(alive, min(5, len(alive))):
        st, r = call(addr, "POST", "/v1/ask", json.dumps(
            {"question": f"Which note records {word(n)}?", "lang": "en", "retriever": "bm25", "reader": "none", "k": 3}))
        if st != 200 or f"k{n}" not in [p["doc_id"] for p in r.get("passages", [])]:
            bad.append(f"k{n}: BM25 does not find it")
    st, ix = call(addr, "GET", "/v1/index")
    return bad, ix


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-s", type=float, default=2.0)
    ap.add_argument("--index")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = Path(tempfile.mkdtemp())
    index = a.index or str(tmp / "idx")
    if not a.index:
        subprocess.run([EXE, "index", ROOT / "data/demo/collection.jsonl", "--out", index, "--quiet"], check=True)
    acked, deleted, tried, first = [], set(), set(), 1
    for k in range(a.kills):
        server, addr = start(index)
        stop = threading.Event()
        t = threading.Thread(target=stream, args=(addr, first, acked, deleted, tried, stop, rng))
        t.start()
        time.sleep(rng.uniform(0.05, a.max_s))
        server.kill()
        server.wait()
        stop.set()
        t.join()
        first = (max(acked) if acked else first) + 100
        server, addr = start(index)
        try:
            bad, ix = verify(addr, acked, deleted, tried, rng)
        finally:
            server.terminate()
            server.wait()
        if bad:
            print(f"kill {k + 1}: FAILED\n" + "\n".join(bad))
            raise SystemExit(1)
        print(f"kill {k + 1:3d}: {len(acked)} adds and {len(deleted)} deletes acknowledged, all as acknowledged; "
              f"index generation {ix['generation']}, {ix['documents']} documents", flush=True)
    print(f"\n{a.kills} kills of the server: every acknowledged add and delete survived")


if __name__ == "__main__":
    main()
