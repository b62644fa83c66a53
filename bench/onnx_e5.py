#!/usr/bin/env python3
"""Builds multilingual-e5-small as an ONNX graph from xlqa's safetensors export.

    python3 bench/onnx_e5.py WEIGHTS.safetensors OUT_DIR

Writes OUT_DIR/e5_f32.onnx (the same post-LN BERT that xlqa runs: exact-erf
GELU, masked softmax, mean pooling over the attention mask, L2 norm) and
OUT_DIR/e5_int8.onnx (onnxruntime's quantize_dynamic: int8 weights, dynamic
uint8 activations, the recipe the issue names). Only the `onnx`, `numpy` and
`onnxruntime` packages are needed; no torch.

Inputs: input_ids and attention_mask, int64 [batch, len]. Output: embedding
float [batch, hidden].
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_safetensors(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {info['dtype']}, expected F32")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a : base + b], dtype=np.float32).reshape(info["shape"])
    return out


def build(weights, meta):
    H, nh, L_ = meta["hidden"], meta["heads"], meta["layers"]
    hd = H // nh
    eps = float(meta["eps"])
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, out, **kw):
        nodes.append(helper.make_node(op, ins, [out], **kw))
        return out

    const("w_word", weights["emb.word"])
    const("w_pos", weights["emb.pos"])
    const("w_type0", weights["emb.type"].reshape(-1, H)[0])
    const("zero_i", np.array(0, dtype=np.int64))
    const("one_i", np.array(1, dtype=np.int64))
    const("one_f", np.array(1.0, dtype=np.float32))
    const("neg_big", np.array(-1e9, dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("inv_sqrt2", np.array(1 / np.sqrt(2), dtype=np.float32))
    const("scale", np.array(1 / np.sqrt(hd), dtype=np.float32))
    const("heads_shape", np.array([0, 0, nh, hd], dtype=np.int64))
    const("hidden_shape", np.array([0, 0, H], dtype=np.int64))
    const("axes_1", np.array([1], dtype=np.int64))
    const("axes_12", np.array([1, 2], dtype=np.int64))
    const("axes_m1", np.array([-1], dtype=np.int64))

    node("Shape", ["input_ids"], "ids_shape")
    node("Gather", ["ids_shape", "one_i"], "seq_len", axis=0)
    node("Range", ["zero_i", "seq_len", "one_i"], "pos_ids")
    node("Gather", ["w_word", "input_ids"], "e_word")
    node("Gather", ["w_pos", "pos_ids"], "e_pos")
    node("Add", ["e_word", "e_pos"], "e_wp")
    node("Add", ["e_wp", "w_type0"], "e_sum")
    const("eln_w", weights["emb.ln.w"])
    const("eln_b", weights["emb.ln.b"])
    x = node("LayerNormalization", ["e_sum", "eln_w", "eln_b"], "x0", axis=-1, epsilon=eps)

    node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    node("Sub", ["one_f", "mask_f"], "mask_inv")
    node("Mul", ["mask_inv", "neg_big"], "mask_add2")
    node("Unsqueeze", ["mask_add2", "axes_12"], "mask_add")

    for l in range(L_):
        p = f"l{l}"

        def lin(inp, name, out):
            w = const(f"{p}.{name}.wt", np.ascontiguousarray(weights[f"{p}.{name}.w"].T))
            b = const(f"{p}.{name}.b", weights[f"{p}.{name}.b"])
            node("MatMul", [inp, w], f"{out}_mm")
            return node("Add", [f"{out}_mm", b], out)

        q = lin(x, "q", f"{p}_q")
        k = lin(x, "k", f"{p}_k")
        v = lin(x, "v", f"{p}_v")
        node("Reshape", [q, "heads_shape"], f"{p}_qr")
        node("Transpose", [f"{p}_qr"], f"{p}_qt", perm=[0, 2, 1, 3])
        node("Reshape", [k, "heads_shape"], f"{p}_kr")
        node("Transpose", [f"{p}_kr"], f"{p}_kt", perm=[0, 2, 3, 1])
        node("Reshape", [v, "heads_shape"], f"{p}_vr")
        node("Transpose", [f"{p}_vr"], f"{p}_vt", perm=[0, 2, 1, 3])
        node("MatMul", [f"{p}_qt", f"{p}_kt"], f"{p}_s0")
        node("Mul", [f"{p}_s0", "scale"], f"{p}_s1")
        node("Add", [f"{p}_s1", "mask_add"], f"{p}_s2")
        node("Softmax", [f"{p}_s2"], f"{p}_pr", axis=-1)
        node("MatMul", [f"{p}_pr", f"{p}_vt"], f"{p}_c0")
        node("Transpose", [f"{p}_c0"], f"{p}_c1", perm=[0, 2, 1, 3])
        node("Reshape", [f"{p}_c1", "hidden_shape"], f"{p}_ctx")
        a = lin(f"{p}_ctx", "ao", f"{p}_ao")
        node("Add", [a, x], f"{p}_r1")
        const(f"{p}.aln.w", weights[f"{p}.aln.w"])
        const(f"{p}.aln.b", weights[f"{p}.aln.b"])
        x = node(
            "LayerNormalization", [f"{p}_r1", f"{p}.aln.w", f"{p}.aln.b"], f"{p}_x1", axis=-1, epsilon=eps
        )
        f = lin(x, "fi", f"{p}_fi")
        node("Mul", [f, "inv_sqrt2"], f"{p}_g0")
        node("Erf", [f"{p}_g0"], f"{p}_g1")
        node("Add", [f"{p}_g1", "one_f"], f"{p}_g2")
        node("Mul", [f, f"{p}_g2"], f"{p}_g3")
        node("Mul", [f"{p}_g3", "half"], f"{p}_g")
        o = lin(f"{p}_g", "fo", f"{p}_fo")
        node("Add", [o, x], f"{p}_r2")
        const(f"{p}.oln.w", weights[f"{p}.oln.w"])
        const(f"{p}.oln.b", weights[f"{p}.oln.b"])
        x = node(
            "LayerNormalization", [f"{p}_r2", f"{p}.oln.w", f"{p}.oln.b"], f"{p}_x2", axis=-1, epsilon=eps
        )

    node("Unsqueeze", ["mask_f", "axes_m1"], "mask3")
    node("Mul", [x, "mask3"], "masked")
    node("ReduceSum", ["masked", "axes_1"], "sum_h", keepdims=0)
    node("ReduceSum", ["mask_f", "axes_1"], "count", keepdims=1)
    node("Div", ["sum_h", "count"], "mean")
    node("ReduceL2", ["mean"], "norm", axes=[-1], keepdims=1)
    node("Div", ["mean", "norm"], "embedding")

    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "len"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "len"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", H])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=False)
    return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    weights_path, out_dir = sys.argv[1], Path(sys.argv[2])
    meta = json.loads(Path(weights_path + ".json").read_text())
    weights = read_safetensors(weights_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = build(weights, meta)
    f32 = out_dir / "e5_f32.onnx"
    onnx.save_model(model, f32)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = out_dir / "e5_int8.onnx"
    quantize_dynamic(f32, int8, weight_type=QuantType.QInt8)
    print(f"wrote {f32} and {int8}")


if __name__ == "__main__":
    main()
