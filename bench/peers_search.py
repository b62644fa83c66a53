#!/usr/bin/env python3
"""Dense search: xlqa's int8 scan against FAISS (IndexFlatIP, IndexHNSWFlat), one run.

    python3 bench/peers_search.py --work DIR [--threads 2] [--sizes 100000,1000000] [--real dense.f32]

For each size, xlqa's dense_bench example writes seeded random unit vectors
(384-d) and 1,000 queries, times its own scans and prints JSON; FAISS then
loads the same files. Latency: one query per call, 200 calls, p50/p95.
Throughput: 64 queries per call. Recall@10 is against exact f32 search
(FAISS flat = xlqa f32 scan). Memory per vector: what the index holds.
With --real, the same on the vectors of a real xlqa index (queries: its own
vectors perturbed, see dense_bench.rs).
"""
import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "examples"


def xlqa(work, n, threads, real=None, hnsw=False):
    cmd = [str(TARGET / "dense_bench"), str(work), str(n), "384"]
    if real:
        cmd += ["--real", str(real)]
    if hnsw:
        cmd += ["--hnsw", "16"]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)


def faiss_run(base, queries, threads, hnsw=True):
    import faiss

    faiss.omp_set_num_threads(threads)
    d = base.shape[1]
    out = {}
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(base)
    out["flat_build_s"] = time.perf_counter() - t
    lat = []
    for q in queries[:200]:
        t = time.perf_counter()
        flat.search(q[None, :], 10)
        lat.append((time.perf_counter() - t) * 1e3)
    out["flat_p50_ms"] = statistics.median(lat)
    out["flat_p95_ms"] = float(np.percentile(lat, 95))
    t = time.perf_counter()
    for i in range(0, len(queries), 64):
        flat.search(queries[i : i + 64], 10)
    out["flat_batch64_qps"] = len(queries) / (time.perf_counter() - t)
    _, exact = flat.search(queries, 10)
    out["flat_bytes_per_vector"] = 4 * d
    if hnsw:
        t = time.perf_counter()
        h = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = 40
        h.add(base)
        out["hnsw_build_s"] = time.perf_counter() - t
        for ef in (64, 128):
            h.hnsw.efSearch = ef
            lat = []
            for q in queries[:200]:
                t = time.perf_counter()
                h.search(q[None, :], 10)
                lat.append((time.perf_counter() - t) * 1e3)
            _, got = h.search(queries, 10)
            rec = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])
            out[f"hnsw_ef{ef}_p50_ms"] = statistics.median(lat)
            out[f"hnsw_ef{ef}_recall_at_10"] = float(rec)
        out["hnsw_bytes_per_vector"] = 4 * d + 2 * 32 * 4  # vectors + level-0 links (approx.)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--real", type=Path, help="dense.f32 of an xlqa index")
    ap.add_argument("--no-hnsw-above", type=int, default=1_000_000)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    runs = [(int(s), None) for s in a.sizes.split(",") if s]
    if a.real:
        runs.append((0, a.real))
    print("| vectors | engine | build/open s | bytes/vector | p50 ms | p95 ms | qps (64/call) | recall@10 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for n, real in runs:
        x = xlqa(a.work, n, a.threads, real, hnsw=(n or 0) <= a.no_hnsw_above)
        base = np.fromfile(x["base"], dtype="<f4").reshape(-1, 384)
        queries = np.fromfile(x["queries"], dtype="<f4").reshape(-1, 384)
        f = faiss_run(base, queries, a.threads, hnsw=len(base) <= a.no_hnsw_above)
        label = f"{len(base):,}" + (" (real)" if real else "")
        print(f"| {label} | xlqa int8 scan + f32 re-score | {x['open_s']:.2f} | {x['memory_bytes_per_vector']:.0f} | "
              f"{x['int8_p50_ms']:.2f} | {x['int8_p95_ms']:.2f} | {x['int8_batch64_qps']:.0f} | "
              f"{x['recall_at_10_int8_vs_f32']:.4f} |")
        if x.get("hnsw"):
            hn = x["hnsw"]
            for e in hn["search"]:
                print(f"| {label} | xlqa HNSW M={hn['m']} efC={hn['ef_construction']} ef={e['ef']} (+ f32 re-score) | "
                      f"{hn['build_s']:.1f} | {hn['memory_bytes_per_vector']:.0f} | {e['p50_ms']:.2f} | "
                      f"{e['p95_ms']:.2f} | — | {e['recall_at_10']:.4f} |")
        print(f"| {label} | xlqa f32 scan | — | {4 * 384} | {x['f32_p50_ms']:.2f} | {x['f32_p95_ms']:.2f} | — | 1 |")
        print(f"| {label} | FAISS IndexFlatIP | {f['flat_build_s']:.2f} | {f['flat_bytes_per_vector']} | "
              f"{f['flat_p50_ms']:.2f} | {f['flat_p95_ms']:.2f} | {f['flat_batch64_qps']:.0f} | 1 |")
        if "hnsw_build_s" in f:
            for ef in (64, 128):
                print(f"| {label} | FAISS IndexHNSWFlat M=32 efSearch={ef} | {f['hnsw_build_s']:.1f} | "
                      f"~{f['hnsw_bytes_per_vector']} | {f[f'hnsw_ef{ef}_p50_ms']:.2f} | — | — | "
                      f"{f[f'hnsw_ef{ef}_recall_at_10']:.4f} |")
        ratios.append((label, f["flat_p50_ms"] / x["int8_p50_ms"], x["int8_batch64_qps"] / f["flat_batch64_qps"]))
    print()
    print("| vectors | FAISS flat p50 / xlqa p50 | xlqa qps / FAISS flat qps (64 per call) |")
    print("|---|---:|---:|")
    for label, r1, r2 in ratios:
        print(f"| {label} | {r1:.2f}x | {r2:.2f}x |")


if __name__ == "__main__":
    main()
