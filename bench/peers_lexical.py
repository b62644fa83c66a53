#!/usr/bin/env python3
"""BM25: xlqa's lexical index against bm25s, on the same passages and queries, one run.

    python3 bench/peers_lexical.py --work DIR [--synthetic 100000]

xlqa's bm25_bench example writes the collections (per XQuAD language: its
240 paragraphs and 1,190 questions; and N synthetic English passages) and
prints its own numbers; bm25s (PyPI) then indexes and queries the same files:
its default tokenizer (lowercase regex words, no stemming) with English
stopwords for English, none for the rest (bm25s has no segmenter for zh/th
and no stemmers other than through PyStemmer, not installed here). Pyserini
(Lucene) was not tried: it was not installed here, so whether one of its
versions runs on this machine's Java 17 is unverified.
Prints markdown tables: recall@1/@10 per language, then indexing throughput
and single-query latency.
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


def read_jsonl(p):
    return [json.loads(l) for l in open(p, encoding="utf-8")]


def bm25s_index(texts, lang):
    import bm25s

    stop = "en" if lang == "en" else None
    tok = bm25s.tokenize(texts, stopwords=stop, show_progress=False)
    r = bm25s.BM25()
    r.index(tok, show_progress=False)
    return r, stop


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--synthetic", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    out = subprocess.run([str(TARGET / "bm25_bench"), str(a.work), str(a.synthetic)], check=True,
                         capture_output=True, text=True, env=env).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    import bm25s

    print(f"| lang | xlqa analyzer | xlqa R@1 | bm25s R@1 | xlqa R@10 | bm25s R@10 |")
    print("|---|---|---:|---:|---:|---:|")
    xs, bs = [], []
    for r in rows:
        if r["part"] != "quality":
            continue
        lang = r["lang"]
        texts = [p["text"] for p in read_jsonl(a.work / f"xquad-{lang}.jsonl")]
        qs = read_jsonl(a.work / f"xquad-{lang}-queries.jsonl")
        ret, stop = bm25s_index(texts, lang)
        qt = bm25s.tokenize([q["q"] for q in qs], stopwords=stop, show_progress=False)
        res, _ = ret.retrieve(qt, k=10, show_progress=False, n_threads=a.threads)
        gold = np.array([q["gold"] for q in qs])
        b1 = float(np.mean(res[:, 0] == gold))
        b10 = float(np.mean([g in row for g, row in zip(gold, res)]))
        xs.append((r["r1"], r["r10"]))
        bs.append((b1, b10))
        print(f"| {lang} | {r['analyzer']} | {r['r1']:.3f} | {b1:.3f} | {r['r10']:.3f} | {b10:.3f} |")
    print(f"| **macro** | | {np.mean([x[0] for x in xs]):.3f} | {np.mean([b[0] for b in bs]):.3f} | "
          f"{np.mean([x[1] for x in xs]):.3f} | {np.mean([b[1] for b in bs]):.3f} |")

    sp = [r for r in rows if r["part"] == "speed"][0]
    texts = [p["text"] for p in read_jsonl(a.work / f"synthetic-{a.synthetic}.jsonl")]
    qs = [q["q"] for q in read_jsonl(a.work / "xquad-en-queries.jsonl")]
    t = time.perf_counter()
    ret, stop = bm25s_index(texts, "en")
    b_index = time.perf_counter() - t
    lat = []
    for q in qs:
        t = time.perf_counter()
        qt = bm25s.tokenize([q], stopwords=stop, show_progress=False)
        ret.retrieve(qt, k=10, show_progress=False, n_threads=1)
        lat.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter()
    qt = bm25s.tokenize(qs, stopwords=stop, show_progress=False)
    ret.retrieve(qt, k=10, show_progress=False, n_threads=a.threads)
    b_batch = len(qs) / (time.perf_counter() - t)
    print()
    print(f"Synthetic English collection, {sp['passages']:,} passages, {sp['queries']} queries:")
    print()
    print("| engine | index s | passages/s | query p50 ms | query p95 ms |")
    print("|---|---:|---:|---:|---:|")
    print(f"| xlqa (tantivy; en: unicode words, NFKC, lowercase, Snowball, no stopwords) | {sp['index_s']:.2f} | "
          f"{sp['passages_per_s']:.0f} | {sp['p50_ms']:.3f} | {sp['p95_ms']:.3f} |")
    print(f"| bm25s {bm25s.__version__} (numpy, one query per call) | {b_index:.2f} | {len(texts) / b_index:.0f} | "
          f"{statistics.median(lat):.3f} | {float(np.percentile(lat, 95)):.3f} |")
    print(f"\nbm25s, all {len(qs)} queries in one call: {b_batch:.0f} queries/s")
    print(f"\nratios: indexing xlqa/bm25s {(sp['passages_per_s']) / (len(texts) / b_index):.2f}x; "
          f"query latency bm25s/xlqa {statistics.median(lat) / sp['p50_ms']:.2f}x (p50)")


if __name__ == "__main__":
    main()
