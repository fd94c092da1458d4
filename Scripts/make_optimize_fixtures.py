#!/usr/bin/env python3
"""Write the committed fixtures for `kiln optimize` (Fixtures/optimize): small models
shaped like typical exporter output, full of what an optimizer should remove, fold
or fuse.

Usage: make_optimize_fixtures.py [--out Fixtures/optimize] [--check]

Deterministic: weights come from seeded numpy generators and models are serialized
by the protobuf runtime, so the bytes are reproducible for a given onnx/protobuf
version. The script also writes README.md (one line per fixture, from the builders'
descriptions). --check regenerates into a temporary folder and exits 1 if anything
differs from --out (stale or hand-edited fixtures), like Scripts/make_fixtures.py.

Every model carries two metadata_props entries the interop suite reads to make
inputs (Tests/Interop/test_optimize.py):
  kiln.optimize.dims    JSON {symbolic dim: [size, size]}: two sizes to run each dynamic dim at
  kiln.optimize.ranges  JSON {input name: [low, high)}: value range for integer inputs
                        (token ids inside the embedding table)
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import _diff, check, opset, vi  # noqa: E402

PRODUCER = "kiln-optimize-fixtures"
F = TensorProto.FLOAT
I64 = TensorProto.INT64
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Fixtures", "optimize")
EXTERNAL_DATA = "external_weights.data"
EXTERNAL_THRESHOLD = 1024  # tensors of at least this many bytes go to the data file


def tensor(name: str, arr: np.ndarray) -> TensorProto:
    """A raw_data tensor; unlike make_fixtures.tensor it keeps 0-d arrays scalars
    (np.ascontiguousarray turns them into shape [1])."""
    return nh.from_array(np.asarray(arr), name)


# ----------------------------------------------------------------------------
# a small graph builder that names things the way torch.onnx.export does
# (node "/scope/Op_1", value "/scope/Op_1_output_0", weights "scope.weight")


class Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.scope = ""
        self._count: dict[str, int] = {}

    def weight(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(tensor(name, arr))
        return name

    def randn(self, name: str, shape, scale: float = 1.0) -> str:
        return self.weight(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type: str, inputs, outputs: int | list[str] = 1, domain: str = "", **attrs):
        """Add a node; returns its output name (or the list of names when outputs > 1)."""
        key = f"{self.scope}/{op_type}"
        n = self._count.get(key, 0)
        self._count[key] = n + 1
        name = key if n == 0 else f"{key}_{n}"
        outs = outputs if isinstance(outputs, list) else [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(h.make_node(op_type, list(inputs), outs, name=name, domain=domain or None, **attrs))
        return outs[0] if len(outs) == 1 else outs

    def const(self, arr, dtype=np.float32) -> str:
        """A Constant node, as torch exports scalars and shape pieces."""
        return self.op("Constant", [], value=tensor("", np.asarray(arr, dtype=dtype)))


def _model(b: Builder, name: str, inputs, outputs, opset_version: int, dims: dict, ranges: dict | None = None,
           doc: str = "") -> onnx.ModelProto:
    g = h.make_graph(b.nodes, name, inputs, outputs, b.inits)
    m = h.make_model(g, opset_imports=[opset("", opset_version)], producer_name=PRODUCER, doc_string=doc)
    m.ir_version = h.find_min_ir_version_for([opset("", opset_version)])
    h.set_model_props(m, {"kiln.optimize.dims": json.dumps(dims, sort_keys=True),
                          "kiln.optimize.ranges": json.dumps(ranges or {}, sort_keys=True)})
    return m


# ----------------------------------------------------------------------------
# resnet_block.onnx


def _bn(b: Builder, prefix: str, x: str, c: int) -> str:
    return b.op("BatchNormalization", [
        x,
        b.weight(f"{prefix}.weight", (1 + 0.1 * b.rng.standard_normal(c)).astype(np.float32)),
        b.weight(f"{prefix}.bias", (0.1 * b.rng.standard_normal(c)).astype(np.float32)),
        b.weight(f"{prefix}.running_mean", (0.1 * b.rng.standard_normal(c)).astype(np.float32)),
        b.weight(f"{prefix}.running_var", (0.5 + b.rng.random(c)).astype(np.float32)),
    ], epsilon=1e-5, momentum=0.9)


def _conv(b: Builder, prefix: str, x: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0,
          bias: bool = False) -> str:
    w = b.randn(f"{prefix}.weight", (cout, cin, k, k), np.sqrt(2.0 / (cin * k * k)))
    ins = [x, w] + ([b.randn(f"{prefix}.bias", (cout,), 0.01)] if bias else [])
    return b.op("Conv", ins, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, dilations=[1, 1],
                group=1)


def build_resnet_block():
    b = Builder(11)
    pads1 = b.weight("pads.1", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    # stem: Pad -> Conv -> BN -> Relu
    b.scope = "/stem"
    x = b.op("Pad", ["input", pads1], mode="constant")
    x = b.op("Relu", [_bn(b, "stem.bn", _conv(b, "stem.conv", x, 3, 8, 3), 8)])
    # Conv -> Mul by a per-channel constant -> Add a per-channel constant -> Relu
    b.scope = "/scale"
    y = _conv(b, "scale.conv", x, 8, 8, 3, pad=1, bias=True)
    y = b.op("Mul", [y, b.weight("scale.gamma", (1 + 0.2 * b.rng.standard_normal((1, 8, 1, 1))).astype(np.float32))])
    y = b.op("Add", [y, b.weight("scale.beta", (0.1 * b.rng.standard_normal((1, 8, 1, 1))).astype(np.float32))])
    s2 = b.op("Relu", [y])
    # basic residual block
    b.scope = "/layer1/layer1.0"
    y = b.op("Relu", [_bn(b, "layer1.0.bn1", _conv(b, "layer1.0.conv1", s2, 8, 8, 3, pad=1), 8)])
    y = _bn(b, "layer1.0.bn2", _conv(b, "layer1.0.conv2", y, 8, 8, 3, pad=1), 8)
    b1 = b.op("Relu", [b.op("Add", [y, s2])])
    # downsampling block with a 1x1 projection shortcut
    b.scope = "/layer2/layer2.0"
    y = b.op("Relu", [_bn(b, "layer2.0.bn1", _conv(b, "layer2.0.conv1", b1, 8, 16, 3, stride=2, pad=1), 16)])
    y = _bn(b, "layer2.0.bn2", _conv(b, "layer2.0.conv2", y, 16, 16, 3, pad=1), 16)
    sc = _bn(b, "layer2.0.downsample.1", _conv(b, "layer2.0.downsample.0", b1, 8, 16, 1, stride=2), 16)
    b2 = b.op("Relu", [b.op("Add", [y, sc])])
    # ConvTranspose + BN + Relu back up, merged with the first block
    b.scope = "/up"
    w = b.randn("up.deconv.weight", (16, 8, 2, 2), 0.25)
    y = b.op("ConvTranspose", [b2, w, b.randn("up.deconv.bias", (8,), 0.01)], kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Relu", [_bn(b, "up.bn", y, 8)])
    m = b.op("Add", [y, b1])
    # Pad(-inf) -> MaxPool and Pad(0) -> AveragePool (torch's F.pad before pooling)
    b.scope = "/pool"
    m = b.op("Pad", [m, pads1, b.weight("pool.neg_inf", np.array(-np.inf, np.float32))], mode="constant")
    m = b.op("MaxPool", [m], kernel_shape=[3, 3], strides=[2, 2])
    m = b.op("Pad", [m, pads1, b.weight("pool.zero", np.array(0, np.float32))], mode="constant")
    m = b.op("AveragePool", [m], kernel_shape=[2, 2], strides=[2, 2])
    # head: GAP -> Flatten -> Gemm -> BatchNorm1d -> Relu -> Gemm
    b.scope = "/head"
    y = b.op("Flatten", [b.op("GlobalAveragePool", [m])], axis=1)
    y = b.op("Gemm", [y, b.randn("head.fc1.weight", (16, 8), 0.4), b.randn("head.fc1.bias", (16,), 0.1)],
             alpha=1.0, beta=1.0, transB=1)
    y = b.op("Relu", [_bn(b, "head.bn", y, 16)])
    b.op("Gemm", [y, b.randn("head.fc2.weight", (10, 16), 0.3), b.randn("head.fc2.bias", (10,), 0.1)], ["logits"],
         alpha=1.0, beta=1.0, transB=1)
    m = _model(b, "resnet_block", [vi("input", F, ["batch", 3, 16, 16])], [vi("logits", F, ["batch", 10])], 17,
               {"batch": [1, 3]})
    return m, ("Conv+BN+Relu stem after Pad; Conv then Mul/Add by per-channel constants; basic and downsampling "
               "residual blocks (1x1 projection shortcut); ConvTranspose+BN; Pad(-inf)->MaxPool; "
               "Pad(0)->AveragePool; GAP->Flatten->Gemm->BatchNorm1d->Gemm; dynamic batch; opset 17")


# ----------------------------------------------------------------------------
# torch_shapes.onnx


def build_torch_shapes():
    b = Builder(12)
    X = "x"
    one_i = lambda v: b.const([v], np.int64)  # noqa: E731
    # 1. x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    b.scope = "/view"
    bsz = b.op("Gather", [b.op("Shape", [X]), b.const(0, np.int64)], axis=0)
    flat = b.op("Reshape", [X, b.op("Concat", [b.op("Unsqueeze", [bsz, one_i(0)]), one_i(-1)], axis=0)])
    # 2. Shape -> Slice -> Concat -> Reshape, then two Transposes that cancel
    b.scope = "/slice_shape"
    lead = b.op("Slice", [b.op("Shape", [X]), one_i(0), one_i(1)])
    y = b.op("Reshape", [X, b.op("Concat", [lead, b.const([8, 4], np.int64)], axis=0)])
    y = b.op("Transpose", [b.op("Transpose", [y], perm=[0, 2, 1])], perm=[0, 2, 1])
    y = b.op("Reshape", [y, b.op("Concat", [lead, b.const([4, 8], np.int64)], axis=0)])
    # 3. ConstantOfShape over a dynamic shape (ones) and over a static shape (zeros), Expand, Size, Range
    b.scope = "/fill"
    ones = b.op("ConstantOfShape", [b.op("Shape", [X])], value=tensor("", np.array([1], np.float32)))
    y = b.op("Mul", [y, ones])
    zeros = b.op("ConstantOfShape", [b.const([4, 8], np.int64)], value=tensor("", np.array([0], np.float32)))
    y = b.op("Add", [y, zeros])
    bias = b.randn("fill.bias", (8,), 0.5)
    y = b.op("Add", [y, b.op("Expand", [bias, b.op("Shape", [X])])])
    size = b.op("Cast", [b.op("Size", [X])], to=F)
    y = b.op("Div", [y, b.op("Sqrt", [size])])
    n = b.op("Gather", [b.op("Shape", [X]), b.const(2, np.int64)], axis=0)
    ramp = b.op("Cast", [b.op("Range", [b.const(0, np.int64), n, b.const(1, np.int64)])], to=F)
    y = b.op("Add", [y, b.op("Mul", [ramp, b.const(0.01)])])
    # 4. no-ops: Identity, Dropout (inference), Cast to the same type, Reshape/Transpose/Slice/Pad that change
    #    nothing, Concat of one, Split into one, Mul by 1, Add of 0
    b.scope = "/noop"
    y = b.op("Identity", [y])
    y = b.op("Dropout", [y, b.const(0.1)])
    y = b.op("Cast", [y], to=F)
    y = b.op("Reshape", [y, b.const([0, 4, 8], np.int64)])
    y = b.op("Transpose", [y], perm=[0, 1, 2])
    y = b.op("Slice", [y, one_i(0), one_i(np.iinfo(np.int64).max), one_i(1)])
    y = b.op("Pad", [y, b.const([0] * 6, np.int64)], mode="constant")
    y = b.op("Concat", [y], axis=1)
    y = b.op("Split", [y, one_i(4)], axis=1)
    y = b.op("Mul", [y, b.weight("noop.one", np.array(1, np.float32))])
    y = b.op("Add", [y, b.weight("noop.zero", np.zeros((1, 1, 8), np.float32))])
    # 5. duplicate initializers, duplicate subexpressions, Constant nodes
    b.scope = "/dup"
    shift = (0.1 * b.rng.standard_normal(8)).astype(np.float32)
    y1 = b.op("Add", [y, b.weight("dup.shift_a", shift)])
    y2 = b.op("Add", [y, b.weight("dup.shift_b", shift.copy())])
    r1, r2 = b.op("Relu", [y1]), b.op("Relu", [y2])
    y = b.op("Add", [b.op("Mul", [r1, b.const(0.5)]), b.op("Mul", [r2, b.const(0.5)])])
    # 6. dead code: an unused initializer and nodes whose outputs nobody reads
    b.weight("dead.unused", b.rng.standard_normal((16, 16)).astype(np.float32))
    b.scope = "/dead"
    b.op("Tanh", [b.op("Exp", [y])])
    # 7. chains: Reshape -> Reshape -> Reshape, Unsqueeze -> Squeeze, lossless and lossy Cast chains
    b.scope = "/chain"
    y = b.op("Reshape", [y, b.const([0, 32], np.int64)])
    y = b.op("Reshape", [y, b.const([0, 2, 16], np.int64)])
    y = b.op("Reshape", [y, b.const([0, 4, 8], np.int64)])
    y = b.op("Squeeze", [b.op("Unsqueeze", [y, one_i(1)]), one_i(1)])
    y = b.op("Cast", [b.op("Cast", [y], to=TensorProto.DOUBLE)], to=F)  # float -> double -> float: lossless
    lossy = b.op("Cast", [b.op("Cast", [b.op("Mul", [y, b.const(4.0)])], to=TensorProto.INT32)], to=F)
    y = b.op("Add", [y, lossy], ["features"])  # float -> int32 -> float truncates: must stay
    # 8. MatMul + Add on 2-D (-> Gemm), Transpose of a weight into Gemm
    b.scope = "/fc"
    h1 = b.op("Add", [b.op("MatMul", [flat, b.randn("fc1.weight", (32, 16), 0.2)]), b.randn("fc1.bias", (16,), 0.1)])
    h1 = b.op("Relu", [h1])
    wt = b.op("Transpose", [b.randn("fc2.weight", (10, 16), 0.3)], perm=[1, 0])
    b.op("Gemm", [h1, wt, b.randn("fc2.bias", (10,), 0.1)], ["logits"])
    m = _model(b, "torch_shapes", [vi(X, F, ["batch", 4, 8])],
               [vi("features", F, ["batch", 4, 8]), vi("logits", F, ["batch", 10])], 17, {"batch": [1, 3]})
    return m, ("Shape->Gather->Unsqueeze->Concat->Reshape, Shape->Slice->Concat->Reshape, ConstantOfShape "
               "(dynamic and static), Expand, Size, Range over a shape; Identity, Dropout, Cast to same type, "
               "no-op Reshape/Transpose/Slice/Pad, Concat of one, Split into one, Mul by 1, Add of 0; duplicate "
               "initializers, CSE, Constant nodes, unused initializer, dead nodes; cancelling Transposes, Reshape "
               "chain, Unsqueeze->Squeeze, lossless (f32->f64->f32) and lossy (f32->i32->f32) Cast chains; "
               "MatMul+Add 2-D, Transpose of a weight into Gemm; dynamic batch; opset 17")


# ----------------------------------------------------------------------------
# transformer_opset{13,17,18,20,23}.onnx

VOCAB, MAXPOS, D, HEADS, FF = 50, 32, 32, 4, 64


class _Tx:
    """Opset-dependent spellings, as each exporter generation writes them."""

    def __init__(self, b: Builder, version: int):
        self.b, self.v = b, version

    def reduce_mean(self, x: str) -> str:
        if self.v < 18:
            return self.b.op("ReduceMean", [x], axes=[-1], keepdims=1)
        return self.b.op("ReduceMean", [x, self.b.const([-1], np.int64)], keepdims=1)

    def unsqueeze(self, x: str, axes) -> str:
        return self.b.op("Unsqueeze", [x, self.b.const(axes, np.int64)])

    def dim(self, x: str, i: int) -> str:
        """x.size(i) as a 1-element tensor (Shape -> Gather -> Unsqueeze), recomputed at every use like torch."""
        s = self.b.op("Gather", [self.b.op("Shape", [x]), self.b.const(i, np.int64)], axis=0)
        return self.unsqueeze(s, [0])


def _layer_norm(t: _Tx, prefix: str, x: str) -> str:
    b = t.b
    mean = t.reduce_mean(x)
    d = b.op("Sub", [x, mean])
    var = t.reduce_mean(b.op("Pow", [d, b.const(2.0)]))
    y = b.op("Div", [d, b.op("Sqrt", [b.op("Add", [var, b.const(1e-5)])])])
    y = b.op("Mul", [y, b.weight(f"{prefix}.weight", (1 + 0.1 * b.rng.standard_normal(D)).astype(np.float32))])
    return b.op("Add", [y, b.weight(f"{prefix}.bias", (0.1 * b.rng.standard_normal(D)).astype(np.float32))])


def _rms_norm(t: _Tx, prefix: str, x: str) -> str:
    b = t.b
    ms = t.reduce_mean(b.op("Pow", [x, b.const(2.0)]))
    inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [ms, b.const(1e-6)])])])
    y = b.op("Mul", [x, inv])
    return b.op("Mul", [y, b.weight(f"{prefix}.weight", (1 + 0.1 * b.rng.standard_normal(D)).astype(np.float32))])


def _gelu_erf(b: Builder, x: str) -> str:
    e = b.op("Erf", [b.op("Div", [x, b.const(np.sqrt(2.0))])])
    return b.op("Mul", [b.op("Mul", [x, b.op("Add", [e, b.const(1.0)])]), b.const(0.5)])


def _gelu_tanh(b: Builder, x: str) -> str:
    inner = b.op("Add", [x, b.op("Mul", [b.op("Pow", [x, b.const(3.0)]), b.const(0.044715)])])
    th = b.op("Tanh", [b.op("Mul", [inner, b.const(np.sqrt(2.0 / np.pi))])])
    return b.op("Mul", [b.op("Mul", [b.const(0.5), x]), b.op("Add", [b.const(1.0), th])])


def _linear(b: Builder, prefix: str, x: str, cin: int, cout: int) -> str:
    y = b.op("MatMul", [x, b.randn(f"{prefix}.weight", (cin, cout), 1.0 / np.sqrt(cin))])
    return b.op("Add", [b.randn(f"{prefix}.bias", (cout,), 0.02), y])  # torch puts the bias first


def _heads(t: _Tx, x: str, perm) -> str:
    """[b, s, D] -> Reshape [b, s, H, D/H] -> Transpose(perm), shapes built from Shape ops."""
    b = t.b
    shape = b.op("Concat", [t.dim(x, 0), t.dim(x, 1), b.const([HEADS], np.int64), b.const([D // HEADS], np.int64)],
                 axis=0)
    return b.op("Transpose", [b.op("Reshape", [x, shape])], perm=perm)


def _attention(t: _Tx, prefix: str, x: str, mask: str, fused_qkv: bool) -> str:
    b = t.b
    if fused_qkv:  # one projection, split in three (Split's sizes are an input from opset 13)
        qkv = _linear(b, f"{prefix}.qkv", x, D, 3 * D)
        q, k, v = b.op("Split", [qkv, b.const([D, D, D], np.int64)], outputs=3, axis=2)
    else:
        q, k, v = (_linear(b, f"{prefix}.{n}", x, D, D) for n in ("query", "key", "value"))
    q = _heads(t, q, [0, 2, 1, 3])
    kt = _heads(t, k, [0, 2, 3, 1])
    v = _heads(t, v, [0, 2, 1, 3])
    scores = b.op("MatMul", [q, kt])
    dh = D // HEADS
    if t.v in (13, 18):
        scores = b.op("Div", [scores, b.const(np.sqrt(dh))])
    else:
        scores = b.op("Mul", [scores, b.const(1.0 / np.sqrt(dh))])
    probs = b.op("Softmax", [b.op("Add", [scores, mask])], axis=-1)
    probs = b.op("Dropout", [probs])
    ctx = b.op("Transpose", [b.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, b.op("Concat", [t.dim(x, 0), t.dim(x, 1), b.const([D], np.int64)], axis=0)])
    return _linear(b, f"{prefix}.output.dense", ctx, D, D)


def build_transformer(version: int):
    b = Builder(100 + version)
    t = _Tx(b, version)
    rms = version in (18, 23)
    b.scope = "/embeddings"
    emb = b.op("Gather", [b.randn("embeddings.word_embeddings.weight", (VOCAB, D), 0.5), "input_ids"], axis=0)
    seq = b.op("Gather", [b.op("Shape", ["input_ids"]), b.const(1, np.int64)], axis=0)
    pos = b.op("Range", [b.const(0, np.int64), seq, b.const(1, np.int64)])
    pos = b.op("Gather", [b.randn("embeddings.position_embeddings.weight", (MAXPOS, D), 0.5), t.unsqueeze(pos, [0])],
               axis=0)
    x = _layer_norm(t, "embeddings.LayerNorm", b.op("Add", [emb, pos]))
    # extended attention mask: (1 - mask[:, None, None, :]) * -10000
    b.scope = "/mask"
    m = b.op("Cast", [t.unsqueeze(t.unsqueeze("attention_mask", [1]), [2])], to=F)
    mask = b.op("Mul", [b.op("Sub", [b.const(1.0), m]), b.const(-10000.0)])
    for i in range(2):
        p = f"encoder.layer.{i}"
        b.scope = f"/encoder/layer.{i}/attention"
        a = _attention(t, f"{p}.attention", x, mask, fused_qkv=(i == 1))
        norm = _rms_norm if (rms and i == 1) else _layer_norm
        x = norm(t, f"{p}.attention.output.LayerNorm", b.op("Add", [a, x]))
        b.scope = f"/encoder/layer.{i}/ffn"
        f = _linear(b, f"{p}.intermediate.dense", x, D, FF)
        f = _gelu_erf(b, f) if i == 0 else _gelu_tanh(b, f)
        f = _linear(b, f"{p}.output.dense", f, FF, D)
        x = norm(t, f"{p}.output.LayerNorm", b.op("Add", [f, x]))
    b.nodes.append(h.make_node("Identity", [x], ["last_hidden_state"], name="/Identity_output"))
    ins = [vi("input_ids", I64, ["batch", "sequence"]), vi("attention_mask", I64, ["batch", "sequence"])]
    outs = [vi("last_hidden_state", F, ["batch", "sequence", D])]
    m = _model(b, f"transformer_opset{version}", ins, outs, version, {"batch": [1, 3], "sequence": [7, 16]},
               {"input_ids": [0, VOCAB], "attention_mask": [0, 2]})
    axes = "ReduceMean axes as attribute" if version < 18 else "ReduceMean axes as input"
    norms = "LayerNorm in layer 0, RMSNorm in layer 1" if rms else "LayerNorm everywhere"
    scale = "Div by sqrt(d)" if version in (13, 18) else "Mul by 1/sqrt(d)"
    return m, (f"2-layer encoder, dynamic batch and sequence, opset {version}: token+position embeddings "
               f"(Range over Shape), decomposed {norms}; GELU erf form (layer 0) and tanh form (layer 1); attention "
               f"decomposed (MatMul, {scale}, Add mask, Softmax, Dropout, MatMul) with Shape->Gather->Unsqueeze->"
               f"Concat->Reshape/Transpose head chains, separate Q/K/V (layer 0) and fused QKV + Split (layer 1); "
               f"{axes}; Unsqueeze/Split sizes as inputs")


# ----------------------------------------------------------------------------
# control_flow.onnx


def build_control_flow():
    b = Builder(13)
    X = "x"
    # 1. If with a constant condition: only the then-branch survives
    then1 = Builder(0)
    then1.op("Mul", [X, then1.const(2.0)], ["then_out"])
    else1 = Builder(0)
    else1.op("Sub", [X, else1.const(1.0)], ["else_out"])
    b.scope = "/const_if"
    y = b.op("If", [b.weight("const_if.cond", np.array(True))],
             then_branch=h.make_graph(then1.nodes, "then_const", [], [vi("then_out", F, ["batch", 4])]),
             else_branch=h.make_graph(else1.nodes, "else_const", [], [vi("else_out", F, ["batch", 4])]))
    # 2. If on data: both branches hold foldable constants, identities and shape arithmetic
    t2 = Builder(0)
    t2.scope = "/then"
    c = t2.op("Add", [t2.const([0.5, 1.0, 1.5, 2.0]), t2.const([0.5, 0.5, 0.5, 0.5])])
    shp = t2.op("Concat", [t2.op("Slice", [t2.op("Shape", [y]), t2.const([0], np.int64), t2.const([1], np.int64)]),
                           t2.const([4], np.int64)], axis=0)
    t2.op("Reshape", [t2.op("Mul", [t2.op("Identity", [y]), c]), shp], ["then_y"])
    e2 = Builder(0)
    e2.scope = "/else"
    e2.op("Add", [e2.op("Mul", [y, e2.const(1.0)]), e2.op("Neg", [e2.const([1.0, 2.0, 3.0, 4.0])])], ["else_y"])
    b.scope = "/data_if"
    cond = b.op("Greater", [b.op("ReduceSum", [X], keepdims=0), b.const(0.0)])
    y = b.op("If", [cond],
             then_branch=h.make_graph(t2.nodes, "then_data", [], [vi("then_y", F, ["batch", 4])]),
             else_branch=h.make_graph(e2.nodes, "else_data", [], [vi("else_y", F, ["batch", 4])]))
    # 3. Loop (3 trips): the body folds a constant step and carries an identity
    body = Builder(0)
    body.scope = "/body"
    step = body.op("Mul", [body.op("Add", [body.const(0.25), body.const(0.75)]), body.const(0.5)])
    it = body.op("Cast", ["iter"], to=F)
    body.op("Add", ["acc_in", body.op("Mul", [body.op("Add", [X, it]), step])], ["acc_out"])
    body.op("Identity", ["cond_in"], ["cond_out"])
    body.op("Mul", ["acc_out", body.const(1.0)], ["scan_out"])
    body_g = h.make_graph(body.nodes, "loop_body",
                          [vi("iter", I64, []), vi("cond_in", TensorProto.BOOL, []), vi("acc_in", F, ["batch", 4])],
                          [vi("cond_out", TensorProto.BOOL, []), vi("acc_out", F, ["batch", 4]),
                           vi("scan_out", F, ["batch", 4])])
    b.scope = "/loop"
    b.op("Loop", [b.weight("loop.trip_count", np.array(3, np.int64)), b.weight("loop.cond", np.array(True)), y],
         ["acc", "trace"], body=body_g)
    m = _model(b, "control_flow", [vi(X, F, ["batch", 4])], [vi("acc", F, ["batch", 4]),
               vi("trace", F, [3, "batch", 4])], 17, {"batch": [1, 3]})
    return m, ("If with a constant condition; If on a data-dependent condition whose branches hold foldable "
               "constants, Identity, Mul by 1 and a Shape->Slice->Concat->Reshape; Loop (3 trips) whose body folds "
               "a constant step, with a scan output; outer-scope references; dynamic batch; opset 17")


# ----------------------------------------------------------------------------
# external_weights.onnx + external_weights.data


def build_external_weights():
    b = Builder(14)
    b.scope = "/mlp"
    y = _linear(b, "fc1", "x", 64, 128)
    y = b.op("Relu", [_bn(b, "bn1", y, 128)])
    # two weight-only MatMuls in a row (foldable into one product) then a bias
    y = b.op("MatMul", [b.op("MatMul", [y, b.randn("fc2.weight", (128, 128), 1 / np.sqrt(128))]),
                        b.randn("fc3.weight", (128, 64), 1 / np.sqrt(128))])
    y = b.op("Add", [y, b.randn("fc3.bias", (64,), 0.02)])
    b.scope = "/conv"
    y = b.op("Reshape", [y, b.const([-1, 4, 4, 4], np.int64)])
    y = _conv(b, "conv", y, 4, 32, 3, pad=1, bias=True)
    y = b.op("Relu", [_bn(b, "conv.bn", y, 32)])
    y = b.op("Flatten", [b.op("GlobalAveragePool", [y])], axis=1)
    b.op("Gemm", [y, b.randn("head.weight", (10, 32), 0.3), b.randn("head.bias", (10,), 0.1)], ["y"], transB=1)
    m = _model(b, "external_weights", [vi("x", F, ["batch", 64])], [vi("y", F, ["batch", 10])], 17, {"batch": [1, 3]})
    data = bytearray()
    for t in m.graph.initializer:
        if len(t.raw_data) < EXTERNAL_THRESHOLD:
            continue
        data += b"\0" * (-len(data) % 64)
        offset, raw = len(data), t.raw_data
        data += raw
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", EXTERNAL_DATA), ("offset", str(offset)), ("length", str(len(raw)))):
            t.external_data.add(key=k, value=v)
    n_ext = sum(1 for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL)
    return (m, bytes(data)), (f"weights of {EXTERNAL_THRESHOLD} bytes or more ({n_ext} tensors) in {EXTERNAL_DATA}: "
                              "MatMul+Add+BatchNorm1d, two weight-only MatMuls in a row, Conv+BN+Relu, Gemm; "
                              "dynamic batch; opset 17")


# ----------------------------------------------------------------------------
# driver

FIXTURES = {
    "resnet_block.onnx": build_resnet_block,
    "torch_shapes.onnx": build_torch_shapes,
    **{f"transformer_opset{v}.onnx": (lambda v=v: build_transformer(v)) for v in (13, 17, 18, 20, 23)},
    "control_flow.onnx": build_control_flow,
    "external_weights.onnx": build_external_weights,
}
OWNED = list(FIXTURES) + [EXTERNAL_DATA, "README.md"]


def generate(out_dir: str) -> dict[str, str]:
    """Write every fixture into out_dir; returns {file: description}. Fails loudly if the
    onnx checker rejects a fixture (they must all be valid models)."""
    os.makedirs(out_dir, exist_ok=True)
    described = {}
    for name, builder in FIXTURES.items():
        msg, desc = builder()
        if isinstance(msg, tuple):
            msg, data = msg
            with open(os.path.join(out_dir, EXTERNAL_DATA), "wb") as f:
                f.write(data)
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(msg.SerializeToString())
        err = check(path)
        if err:
            raise SystemExit(f"make_optimize_fixtures: {name} fails the onnx checker: {err}")
        described[name] = desc
    lines = ["# Fixtures for `kiln optimize`", "",
             "Written by `Scripts/make_optimize_fixtures.py` (do not edit by hand; `--check` finds stale files).",
             "Each model carries `kiln.optimize.dims` (two sizes per dynamic dim) and `kiln.optimize.ranges`",
             "(value ranges of integer inputs) in `metadata_props`; `Tests/Interop/test_optimize.py` reads them.", ""]
    lines += [f"- `{n}`: {d}" for n, d in described.items()]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return described


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="verify --out is up to date instead of writing it")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp)
        if args.check:
            bad = _diff(filecmp.dircmp(tmp, args.out), "")
            if bad:
                print("optimize fixtures are stale: " + ", ".join(bad) + "; run Scripts/make_optimize_fixtures.py",
                      file=sys.stderr)
                return 1
            print("optimize fixtures are up to date")
            return 0
        os.makedirs(args.out, exist_ok=True)
        for name in OWNED:  # replace only what this script owns
            shutil.copyfile(os.path.join(tmp, name), os.path.join(args.out, name))
    total = 0
    for name in OWNED:
        size = os.path.getsize(os.path.join(args.out, name))
        total += size
        print(f"  {name:28s} {size:8d} B")
    print(f"make_optimize_fixtures: {len(FIXTURES)} models, {total} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
