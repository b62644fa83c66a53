#!/usr/bin/env python3
"""A multilingual synthetic collection for index-build and latency runs.

    python3 bench/make_synthetic.py N OUT.jsonl [--data ../shared/data]

N documents, round-robin over the 12 XQuAD languages; each is 3 sentences
drawn (seed 1) from that language's XQuAD paragraphs. xlqa's chunker (about
100 word-pieces a passage, sentence-aligned) makes about 2.45 passages of a
document: 40,800 documents gave 100,035 passages. Text is real, documents
are not: use it for speed and memory, never for quality.
"""
import argparse
import json
import random
import re
from pathlib import Path

LANGS = "ar de el en es hi ro ru th tr vi zh".split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    a = ap.parse_args()
    random.seed(1)
    sents = {}
    for l in LANGS:
        d = json.load(open(a.data / "xquad" / f"xquad.{l}.json", encoding="utf-8"))
        ss = []
        for art in d["data"]:
            for p in art["paragraphs"]:
                ss += [s.strip() for s in re.split(r"(?<=[.!?。])\s*", p["context"]) if len(s.strip()) > 20]
        sents[l] = ss
    with open(a.out, "w", encoding="utf-8") as f:
        for i in range(a.n):
            l = LANGS[i % len(LANGS)]
            text = " ".join(random.sample(sents[l], 3))
            f.write(json.dumps({"id": f"s{i}", "title": "", "text": text, "lang": l}, ensure_ascii=False) + "\n")
    print(f"wrote {a.n} documents to {a.out}")


if __name__ == "__main__":
    main()
