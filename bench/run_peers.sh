#!/usr/bin/env bash
# Peer comparisons, each side by side in one run, on this machine (see
# docs/RESULTS.md, "Performance"). Installs the peers (PyPI, pinned) into a
# virtual environment under WORK, builds xlqa's benchmark programs, and prints
# the tables. Needs ../shared/data and about 4 GB of disk under WORK.
#   bash bench/run_peers.sh [WORK]        (default WORK: target/bench-peers)
# The 100k-passage index build and ask latency runs are separate, slower
# steps (about 20 minutes on 2 cores):
#   python3 bench/make_synthetic.py 40800 WORK/syn100k.jsonl
#   xlqa index WORK/syn100k.jsonl --out WORK/syn100k-index --json
#   python3 bench/ask_latency.py WORK/syn100k-index --reader none   # and sentence
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-target/bench-peers}"
THREADS="${THREADS:-2}"
mkdir -p "$WORK"
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
fi
PY="$WORK/venv/bin/python"
"$PY" -m pip install -q onnx==1.23.2 onnxruntime==1.31.1 numpy==2.4.6 faiss-cpu==1.15.1 bm25s==0.3.16
cargo build --release -p xlqa-cli -p xlqa-models -p xlqa-index -p xlqa-eval --examples --bins
echo "## encoder"
"$PY" bench/peers_encoder.py --work "$WORK/encoder" --threads "$THREADS"
echo "## dense search"
"$PY" bench/peers_search.py --work "$WORK/dense" --threads "$THREADS" --sizes 100000,1000000 --no-hnsw-above 100000
echo "## lexical search"
"$PY" bench/peers_lexical.py --work "$WORK/lexical" --threads "$THREADS" --synthetic 100000
