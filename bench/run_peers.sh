#!/usr/bin/env bash
# Peer comparisons, one run each, on this machine. Installs the peers (PyPI,
# pinned) into a virtual environment under WORK, builds xlqa's benchmarks,
# and prints the tables recorded in docs/RESULTS.md.
#   bash bench/run_peers.sh [WORK]        (default WORK: target/bench-peers)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${1:-target/bench-peers}"
mkdir -p "$WORK"
if [ ! -x "$WORK/venv/bin/python" ]; then
  python3 -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install -q onnx==1.23.2 onnxruntime==1.31.1 numpy==2.4.6 faiss-cpu==1.15.1 bm25s==0.3.16
cargo build --release -p xlqa-models --examples
cargo build --release -p xlqa-index --examples
THREADS="${THREADS:-2}"
echo "## encoder"
"$WORK/venv/bin/python" bench/peers_encoder.py --work "$WORK" --threads "$THREADS"
if [ -f bench/peers_search.py ]; then
  echo "## dense search"
  "$WORK/venv/bin/python" bench/peers_search.py --work "$WORK" --threads "$THREADS"
fi
