#!/usr/bin/env python3
"""Deterministic benchmark models shaped like `torch.onnx.export` output (opset 17), built with
numpy (seeded) and onnx.helper only: no torch, no downloads.

Stable API (other scripts import these; keep the signatures):

    resnet50(path, batch="N", seed=0, flatten="shape") -> str
        torchvision ResNet-50 topology (bottlenecks 3-4-6-3, 224x224 input, 1000 classes):
        Conv + BatchNormalization (not folded) + Relu, residual Add, MaxPool, GlobalAveragePool,
        a torch-style flatten (flatten="shape": Shape->Gather->Unsqueeze->Concat->Reshape, as
        `x.view(x.size(0), -1)` exports; flatten="flatten": Flatten axis=1) and Gemm (transB=1).
        Input "input" float32 [batch, 3, 224, 224] (batch: an int, or a name for a symbolic dim);
        output "output" float32 [batch, 1000].

    bert_base(path, layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, max_pos=512, seed=0) -> str
        A BERT-base-shaped encoder as HF BertModel exports at opset < 17: inputs "input_ids" and
        "attention_mask" int64 [batch, seq] (symbolic); embeddings (word Gather + position Gather of
        a sliced position_ids buffer + token-type row) and every LayerNorm decomposed
        (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add); attention with
        Shape->Gather->Unsqueeze->Concat->Reshape chains, Transpose, MatMul, Div by sqrt(d), Add of
        the extended mask, Softmax; GELU in erf form (Div, Erf, Add, Mul, Mul); linear layers as
        MatMul + Add. Outputs "last_hidden_state" [batch, seq, hidden] and "pooler_output"
        [batch, hidden] (Gather of token 0, Gemm, Tanh).

    resnet50_inputs(batch, seed=1) -> dict[str, np.ndarray]
    bert_inputs(batch, seq=128, vocab=30522, seed=1) -> dict[str, np.ndarray]
        Matching random inputs (bert: attention_mask has the last quarter of each row but the
        first masked out).

Weights are random with scales that keep activations finite and O(1): He-normal convolutions,
BatchNorm statistics near (0, 1) with the last BN of each residual branch scaled by 0.2, BERT
weights N(0, 0.02) as BERT's initializer.

CLI:  python Benchmarks/models.py resnet50 out.onnx [--batch 8]
      python Benchmarks/models.py bert out.onnx [--layers 2]
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Builder:
    """Collects nodes and initializers; names values the way torch.onnx.export does (/path/Op_output_0)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.require(array, requirements="C"), name))
        return name

    def const(self, array, dtype=np.int64) -> str:
        self.count += 1
        return self.init(f"onnx::Const_{self.count}", np.asarray(array, dtype=dtype))

    def op(self, op_type: str, inputs: list[str], scope: str, outputs: int = 1, **attrs) -> str | list[str]:
        self.count += 1
        name = f"{scope}/{op_type}_{self.count}"
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def model(self, inputs, outputs, name: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="pytorch", producer_version="2.1.0")
        model.ir_version = 8
        return model


def _dim(batch):
    return batch if isinstance(batch, int) else str(batch)


# ---------------------------------------------------------------- ResNet-50

def resnet50(path: str, batch="N", seed: int = 0, flatten: str = "shape") -> str:
    """Writes a ResNet-50 (see the module doc) to `path`; returns `path`."""
    b = _Builder(seed)
    f32 = np.float32

    def conv_bn(x, cin, cout, k, stride, pad, scope, relu=True, gamma_scale=1.0):
        w = b.rng.standard_normal((cout, cin, k, k), dtype=f32) * f32(math.sqrt(2.0 / (cin * k * k)))
        wn = b.init(f"{scope}.conv.weight", w)
        y = b.op("Conv", [x, wn], f"{scope}/conv", dilations=[1, 1], group=1, kernel_shape=[k, k],
                 pads=[pad] * 4, strides=[stride, stride])
        gamma = (b.rng.uniform(0.8, 1.2, cout) * gamma_scale).astype(f32)
        beta = b.rng.uniform(-0.1, 0.1, cout).astype(f32)
        mean = b.rng.uniform(-0.1, 0.1, cout).astype(f32)
        var = b.rng.uniform(0.8, 1.2, cout).astype(f32)
        names = [b.init(f"{scope}.bn.{n}", a) for n, a in
                 (("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var))]
        y = b.op("BatchNormalization", [y] + names, f"{scope}/bn", epsilon=1e-5, momentum=0.9)
        return b.op("Relu", [y], f"{scope}/relu") if relu else y

    x = "input"
    y = conv_bn(x, 3, 64, 7, 2, 3, "/conv1")
    y = b.op("MaxPool", [y], "/maxpool", ceil_mode=0, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    cin = 64
    for li, (blocks, width, stride) in enumerate([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)], start=1):
        for bi in range(blocks):
            s = stride if bi == 0 else 1
            scope = f"/layer{li}/layer{li}.{bi}"
            out = width * 4
            h = conv_bn(y, cin, width, 1, 1, 0, f"{scope}/1")
            h = conv_bn(h, width, width, 3, s, 1, f"{scope}/2")
            h = conv_bn(h, width, out, 1, 1, 0, f"{scope}/3", relu=False, gamma_scale=0.2)
            skip = conv_bn(y, cin, out, 1, s, 0, f"{scope}/downsample", relu=False) if bi == 0 else y
            y = b.op("Relu", [b.op("Add", [h, skip], scope)], scope)
            cin = out
    y = b.op("GlobalAveragePool", [y], "/avgpool")
    if flatten == "shape":
        shape = b.op("Shape", [y], "")
        n = b.op("Gather", [shape, b.const(0)], "", axis=0)
        n = b.op("Unsqueeze", [n, b.const([0])], "")
        target = b.op("Concat", [n, b.const([-1])], "", axis=0)
        y = b.op("Reshape", [y, target], "")
    elif flatten == "flatten":
        y = b.op("Flatten", [y], "", axis=1)
    else:
        raise ValueError(f"flatten must be 'shape' or 'flatten', got {flatten!r}")
    fc_w = b.init("fc.weight", b.rng.standard_normal((1000, 2048), dtype=f32) * f32(1 / math.sqrt(2048)))
    fc_b = b.init("fc.bias", b.rng.uniform(-0.01, 0.01, 1000).astype(f32))
    b.nodes.append(helper.make_node("Gemm", [y, fc_w, fc_b], ["output"], name="/fc/Gemm", alpha=1.0, beta=1.0, transB=1))
    model = b.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, [_dim(batch), 3, 224, 224])],
                    [helper.make_tensor_value_info("output", TensorProto.FLOAT, [_dim(batch), 1000])], "main_graph")
    onnx.save(model, path)
    return path


def resnet50_inputs(batch: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {"input": rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)}


# ---------------------------------------------------------------- BERT-base

def bert_base(path: str, layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072,
              vocab: int = 30522, max_pos: int = 512, seed: int = 0) -> str:
    """Writes a BERT-base-shaped encoder (see the module doc) to `path`; returns `path`."""
    assert hidden % heads == 0
    head = hidden // heads
    b = _Builder(seed)
    f32 = np.float32

    def weight(shape, name):
        return b.init(name, (b.rng.standard_normal(shape, dtype=f32) * f32(0.02)))

    def linear(x, cin, cout, prefix, scope):
        # torch exports nn.Linear on 3-D input as MatMul with the transposed weight, then Add.
        w = weight((cin, cout), f"onnx::MatMul_{prefix}")
        bias = b.init(f"{prefix}.bias", b.rng.uniform(-0.02, 0.02, cout).astype(f32))
        return b.op("Add", [bias, b.op("MatMul", [x, w], scope)], scope)

    def layer_norm(x, prefix, scope):
        gamma = b.init(f"{prefix}.weight", b.rng.uniform(0.9, 1.1, hidden).astype(f32))
        beta = b.init(f"{prefix}.bias", b.rng.uniform(-0.05, 0.05, hidden).astype(f32))
        mean = b.op("ReduceMean", [x], scope, axes=[-1], keepdims=1)
        d = b.op("Sub", [x, mean], scope)
        p = b.op("Pow", [d, b.const(2.0, f32)], scope)
        var = b.op("ReduceMean", [p], scope, axes=[-1], keepdims=1)
        e = b.op("Add", [var, b.const(1e-12, f32)], scope)
        s = b.op("Sqrt", [e], scope)
        n = b.op("Div", [d, s], scope)
        return b.op("Add", [b.op("Mul", [n, gamma], scope), beta], scope)

    def dim(x, i, scope):
        """Unsqueezed dimension i of x: Shape -> Gather -> Unsqueeze (torch's size() chain)."""
        g = b.op("Gather", [b.op("Shape", [x], scope), b.const(i)], scope, axis=0)
        return b.op("Unsqueeze", [g, b.const([0])], scope)

    ids, mask = "input_ids", "attention_mask"
    # Embeddings.
    scope = "/embeddings"
    words = b.op("Gather", [weight((vocab, hidden), "embeddings.word_embeddings.weight"), ids], scope)
    token_type = b.init("embeddings.token_type_embeddings.weight", (b.rng.standard_normal((2, hidden), dtype=f32) * f32(0.02)))
    tt_ids = b.op("Slice", [b.init("embeddings.token_type_ids", np.zeros((1, max_pos), np.int64)),
                            b.const([0]), dim(ids, 1, scope), b.const([1]), b.const([1])], scope)
    emb = b.op("Add", [words, b.op("Gather", [token_type, tt_ids], scope)], scope)
    pos_ids = b.op("Slice", [b.init("embeddings.position_ids", np.arange(max_pos, dtype=np.int64)[None, :]),
                             b.const([0]), dim(ids, 1, scope), b.const([1]), b.const([1])], scope)
    pos = b.op("Gather", [weight((max_pos, hidden), "embeddings.position_embeddings.weight"), pos_ids], scope)
    h = layer_norm(b.op("Add", [emb, pos], scope), "embeddings.LayerNorm", f"{scope}/LayerNorm")
    # Extended attention mask: (1 - mask[:, None, None, :]) * -10000.
    m = b.op("Unsqueeze", [b.op("Unsqueeze", [mask, b.const([1])], ""), b.const([2])], "")
    m = b.op("Cast", [m], "", to=TensorProto.FLOAT)
    m = b.op("Mul", [b.op("Sub", [b.const(1.0, f32), m], ""), b.const(-10000.0, f32)], "")

    def split_heads(x, scope):
        shape = b.op("Concat", [dim(x, 0, scope), dim(x, 1, scope), b.const([heads]), b.const([head])], scope, axis=0)
        return b.op("Transpose", [b.op("Reshape", [x, shape], scope)], scope, perm=[0, 2, 1, 3])

    for li in range(layers):
        p = f"encoder.layer.{li}"
        scope = f"/encoder/layer.{li}/attention/self"
        q = split_heads(linear(h, hidden, hidden, f"{p}.attention.self.query", f"{scope}/query"), scope)
        k = split_heads(linear(h, hidden, hidden, f"{p}.attention.self.key", f"{scope}/key"), scope)
        v = split_heads(linear(h, hidden, hidden, f"{p}.attention.self.value", f"{scope}/value"), scope)
        kt = b.op("Transpose", [k], scope, perm=[0, 1, 3, 2])
        scores = b.op("Div", [b.op("MatMul", [q, kt], scope), b.const(math.sqrt(head), f32)], scope)
        probs = b.op("Softmax", [b.op("Add", [scores, m], scope)], scope, axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v], scope)], scope, perm=[0, 2, 1, 3])
        shape = b.op("Concat", [dim(ctx, 0, scope), dim(ctx, 1, scope), b.const([hidden])], scope, axis=0)
        ctx = b.op("Reshape", [ctx, shape], scope)
        scope = f"/encoder/layer.{li}/attention/output"
        a = linear(ctx, hidden, hidden, f"{p}.attention.output.dense", f"{scope}/dense")
        h = layer_norm(b.op("Add", [a, h], scope), f"{p}.attention.output.LayerNorm", f"{scope}/LayerNorm")
        scope = f"/encoder/layer.{li}/intermediate"
        x = linear(h, hidden, ffn, f"{p}.intermediate.dense", f"{scope}/dense")
        g = b.op("Erf", [b.op("Div", [x, b.const(1.4142135381698608, f32)], scope)], scope)
        x = b.op("Mul", [b.op("Mul", [x, b.op("Add", [g, b.const(1.0, f32)], scope)], scope), b.const(0.5, f32)], scope)
        scope = f"/encoder/layer.{li}/output"
        o = linear(x, ffn, hidden, f"{p}.output.dense", f"{scope}/dense")
        h = layer_norm(b.op("Add", [o, h], scope), f"{p}.output.LayerNorm", f"{scope}/LayerNorm")
    b.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"], name="/Identity"))
    first = b.op("Gather", [h, b.const(0)], "/pooler", axis=1)
    pw = b.init("pooler.dense.weight", (b.rng.standard_normal((hidden, hidden), dtype=f32) * f32(0.02)))
    pb = b.init("pooler.dense.bias", b.rng.uniform(-0.02, 0.02, hidden).astype(f32))
    pooled = b.op("Gemm", [first, pw, pb], "/pooler/dense", alpha=1.0, beta=1.0, transB=1)
    b.nodes.append(helper.make_node("Tanh", [pooled], ["pooler_output"], name="/pooler/activation/Tanh"))
    model = b.model(
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", hidden]),
         helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch", hidden])], "main_graph")
    onnx.save(model, path)
    return path


def bert_inputs(batch: int, seq: int = 128, vocab: int = 30522, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, (batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), dtype=np.int64)
    for r in range(1, batch):  # every row but the first has a padded tail
        mask[r, seq - seq // 4:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="model", required=True)
    r = sub.add_parser("resnet50")
    r.add_argument("path")
    r.add_argument("--batch", default="N", help="an integer, or a name for a symbolic batch dimension")
    r.add_argument("--flatten", default="shape", choices=["shape", "flatten"])
    r.add_argument("--seed", type=int, default=0)
    bb = sub.add_parser("bert")
    bb.add_argument("path")
    for name, default in (("layers", 12), ("hidden", 768), ("heads", 12), ("ffn", 3072), ("vocab", 30522),
                          ("max-pos", 512), ("seed", 0)):
        bb.add_argument(f"--{name}", type=int, default=default)
    a = ap.parse_args()
    if a.model == "resnet50":
        batch = int(a.batch) if str(a.batch).isdigit() else a.batch
        resnet50(a.path, batch=batch, seed=a.seed, flatten=a.flatten)
    else:
        bert_base(a.path, layers=a.layers, hidden=a.hidden, heads=a.heads, ffn=a.ffn, vocab=a.vocab,
                  max_pos=a.max_pos, seed=a.seed)
    print(a.path)


if __name__ == "__main__":
    main()
