#!/usr/bin/env python3
"""Ingest speed: documents per second through `POST /v1/documents` of
`xlqa serve` (batches of B documents, one request at a time) against
`xlqa index` building an index of the same documents, side by side.

    python3 bench/serve_ingest.py COLLECTION.jsonl [--n 600] [--batches 1,32]

The served index starts as the demo collection (36 passages); the same first
N documents of COLLECTION, taken evenly over the file, go to both. Prints a markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_crash as sc  # noqa: E402  (start/call helpers)

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("collection")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--batches", default="1,32")
    a = ap.parse_args()
    every = [json.loads(l) for l in open(a.collection, encoding="utf-8") if l.strip()]
    docs = every[:: max(1, len(every) // a.n)][: a.n]  # spread over the file (all languages)
    tmp = Path(tempfile.mkdtemp())
    sub = tmp / "docs.jsonl"
    sub.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    t = time.time()
    subprocess.run([sc.EXE, "index", sub, "--out", tmp / "built", "--quiet"], check=True,
                   stderr=subprocess.DEVNULL)
    index_s = time.time() - t
    print(f"{len(docs)} documents of {a.collection}, taken evenly over the file\n")
    print("| path | batch | seconds | documents/s |\n|---|---:|---:|---:|")
    print(f"| `xlqa index` (one build, model loading included) | {len(docs)} | {index_s:.1f} | {len(docs) / index_s:.1f} |")
    for b in [int(x) for x in a.batches.split(",")]:
        idx = tmp / f"served-{b}"
        subprocess.run([sc.EXE, "index", ROOT / "data/demo/collection.jsonl", "--out", idx, "--quiet"],
                       check=True, stderr=subprocess.DEVNULL)
        server, addr = sc.start(str(idx))
        try:
            t = time.time()
            for i in range(0, len(docs), b):
                body = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[i:i + b])
                st, r = sc.call(addr, "POST", "/v1/documents", body, "application/x-ndjson")
                if st != 200:
                    raise SystemExit(f"batch at {i}: HTTP {st}: {r}")
            s = time.time() - t
        finally:
            server.terminate()
            server.wait()
        print(f"| POST /v1/documents (server already up) | {b} | {s:.1f} | {len(docs) / s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
