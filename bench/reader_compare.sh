#!/usr/bin/env bash
# A candidate span reader against a baseline reader, paired, on the evaluation
# set-ups of docs/RESULTS.md: calibrate the candidate on held-out training
# data, then XQuAD gold paragraphs (200 per language), TyDi GoldP dev, the
# XQuAD open pool (50 per language, whole and own language removed) and the
# 12x12 cross-language matrix (20 per pair), each compared by paired
# bootstrap (`xlqa eval compare`, A = candidate, B = baseline).
#
#   bash bench/reader_compare.sh CANDIDATE_DIR BASELINE_DIR OUT_DIR [XQUAD_INDEX]
#
# The baseline is evaluated too unless OUT_DIR/baseline-* already exists.
# XQUAD_INDEX (default runs/xquad-index) is built when missing:
#   xlqa eval xquad-collection --out runs/xquad.jsonl && xlqa index runs/xquad.jsonl --out runs/xquad-index
set -euo pipefail
cd "$(dirname "$0")/.."
cand=$1 base=$2 out=$3 pool=${4:-runs/xquad-index}
x=${CARGO_TARGET_DIR:-target}/release/xlqa
mkdir -p "$out"
if [ ! -d "$pool" ]; then
  "$x" eval xquad-collection --out "$out/xquad.jsonl"
  "$x" index "$out/xquad.jsonl" --out "$pool"
fi
"$x" train calibrate --reader-dir "$cand" --per-lang 60 --quiet > "$out/calibration.json"
evaluate() { # READER_DIR PREFIX
  local r=$1 p=$2
  [ -d "$out/$p-xquad200" ] || "$x" eval reader --dataset xquad --limit 200 --reader-dir "$r" --out "$out/$p-xquad200" --quiet
  [ -d "$out/$p-tydi" ] || "$x" eval reader --dataset tydi --reader-dir "$r" --out "$out/$p-tydi" --quiet
  [ -d "$out/$p-open50" ] || "$x" eval reader-open --index "$pool" --limit 50 --reader-dir "$r" --out "$out/$p-open50" --quiet
  [ -d "$out/$p-matrix20" ] || "$x" eval reader --dataset xquad --limit 1 --matrix --matrix-limit 20 --reader-dir "$r" --out "$out/$p-matrix20" --quiet
}
evaluate "$cand" candidate
evaluate "$base" baseline
for s in xquad200 tydi matrix20; do
  "$x" eval compare "$out/candidate-$s" "$out/baseline-$s" --metric f1 > "$out/compare-$s.md"
done
for f in all own_removed; do
  "$x" eval compare "$out/candidate-open50/per_question_$f.jsonl" "$out/baseline-open50/per_question_$f.jsonl" --metric f1 > "$out/compare-open50-$f.md"
done
echo "comparisons in $out/compare-*.md"
