#!/usr/bin/env python3
"""Per-stage latency of `xlqa ask` on any index, p50/p95.

    python3 bench/ask_latency.py INDEX [--n 100] [--reader span|sentence|none] [--data ../shared/data]
        [--ask-args "--span-evidence passages"]

Questions: the first n/12 XQuAD questions of each of the 12 languages
(language detected, as a user would ask), asked in one `xlqa ask
--questions FILE --json` process (the model is loaded once, not timed).
Prints a markdown table of the per-stage timings that ask reports, and the
process's peak RSS (from /usr/bin/time -v; model loading included).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LANGS = "ar de el en es hi ro ru th tr vi zh".split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--reader", default="sentence")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--ask-args", default="", help="more `xlqa ask` flags, space-separated")
    a = ap.parse_args()
    per = -(-a.n // len(LANGS))
    qs = []
    for l in LANGS:
        d = json.load(open(a.data / "xquad" / f"xquad.{l}.json", encoding="utf-8"))
        got = 0
        for art in d["data"]:
            for p in art["paragraphs"]:
                for q in p["qas"]:
                    if got < per and len(qs) < a.n:
                        qs.append({"id": f"{l}-{q['id']}", "question": q["question"]})
                        got += 1
    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "xlqa"
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for q in qs:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    cmd = [str(exe), "ask", a.index, "--questions", f.name, "--json", "--reader", a.reader] + a.ask_args.split()
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    done = subprocess.run(timer + cmd, check=True, capture_output=True, text=True)
    out = done.stdout
    rss = [l.split(":")[-1].strip() for l in done.stderr.splitlines() if "Maximum resident set size" in l]
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    timings = [r["timings"] for r in rows]
    keys = [k for k in timings[0] if isinstance(timings[0][k], (int, float))]
    print(f"{len(rows)} questions, reader {a.reader} {a.ask_args}, index {a.index}")
    if rss:
        print(f"peak RSS {int(rss[0]) / 1024:.0f} MB (whole process, models included)")
    print()
    print("| stage | p50 ms | p95 ms |\n|---|---:|---:|")
    for k in keys:
        v = sorted(t[k] for t in timings)
        p95 = v[min(len(v) - 1, round(0.95 * (len(v) - 1)))]
        print(f"| {k} | {statistics.median(v):.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
