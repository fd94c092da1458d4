#!/usr/bin/env python3
"""Write the committed fixtures for `kiln quantize` (Fixtures/quantize): two small float models and
a small calibration set for each, in every sample layout `kiln quantize --calibration` reads.

Usage: make_quantize_fixtures.py [--out Fixtures/quantize] [--check]

  cnn.onnx             a small image classifier: Conv/BatchNormalization/Relu stem, a residual block
                       (Conv-BN-Relu-Conv-BN, Add, Relu), a strided Conv, MaxPool, GlobalAveragePool,
                       Flatten and a Gemm classifier with 10 classes. Input `input` [N, 3, 32, 32].
  transformer.onnx     one BERT-style encoder block on hidden states `hidden` [N, 16, 64] with an int64
                       `attention_mask` [N, 16]: the additive mask is (1 - mask) * float32-min (the values
                       that break histogram calibrators), decomposed LayerNorm before attention, Q/K/V
                       MatMul+Add, 4 heads, Softmax, output projection, residual Add, LayerNormalization
                       (the opset-17 op), FFN 64 -> 256 -> 64 with erf-form GELU, residual Add; outputs
                       `last_hidden` [N, 16, 64] and `logits` [N, 10] (mean-pooled classifier).
  cnn_calib/           8 samples, one .npz per sample (sample_000..005 as np.savez, 006..007 compressed)
  cnn_eval/            4 samples in the ONNX test-data layout (test_data_set_K/input_0.pb), other images
  transformer_calib/   8 samples, one folder per sample holding hidden.npy and attention_mask.npy

Weights come from seeded numpy generators with trained-looking scales (He-initialised convolutions,
BN statistics near 1/0, transformer weights ~N(0, 0.02) plus a few larger outlier channels), opset 17.
Deterministic: the .npz files are written with fixed zip timestamps, so --check (regenerate into a
temporary folder and compare) passes on any machine with the pinned onnx/numpy.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import os
import shutil
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import _diff, check, opset  # noqa: E402
from make_optimize_fixtures import Builder, _bn, _conv, tensor  # noqa: E402

PRODUCER = "kiln-quantize-fixtures"
F = TensorProto.FLOAT
I64 = TensorProto.INT64
OPSET = 17
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Fixtures", "quantize")
CALIB_SAMPLES = 8
EVAL_SAMPLES = 4
SEQ, HIDDEN, HEADS, FFN, CLASSES = 16, 64, 4, 256, 10


def _model(b: Builder, name: str, inputs, outputs, doc: str) -> onnx.ModelProto:
    g = h.make_graph(b.nodes, name, inputs, outputs, b.inits)
    m = h.make_model(g, opset_imports=[opset("", OPSET)], producer_name=PRODUCER, doc_string=doc)
    m.ir_version = h.find_min_ir_version_for([opset("", OPSET)])
    return m


# ----------------------------------------------------------------------------
# cnn.onnx


def build_cnn() -> onnx.ModelProto:
    b = Builder(seed=7)
    b.scope = "/stem"
    x = _conv(b, "stem.conv", "input", 3, 16, 3, pad=1)
    x = b.op("Relu", [_bn(b, "stem.bn", x, 16)])
    b.scope = "/block"
    y = _conv(b, "block.conv1", x, 16, 16, 3, pad=1)
    y = b.op("Relu", [_bn(b, "block.bn1", y, 16)])
    y = _bn(b, "block.bn2", _conv(b, "block.conv2", y, 16, 16, 3, pad=1), 16)
    x = b.op("Relu", [b.op("Add", [x, y])])
    b.scope = "/down"
    x = b.op("Relu", [_conv(b, "down.conv", x, 16, 32, 3, stride=2, pad=1, bias=True)])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    b.scope = "/head"
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    w = (b.rng.standard_normal((CLASSES, 32)) * np.sqrt(1.0 / 32) * 3).astype(np.float32)
    w = b.weight("fc.weight", w - w.mean(axis=0, keepdims=True))  # classes differ by pattern, not by a shared offset
    bias = b.randn("fc.bias", (CLASSES,), 0.1)
    b.op("Gemm", [x, w, bias], outputs=["logits"], alpha=1.0, beta=1.0, transB=1)
    return _model(b, "cnn", [h.make_tensor_value_info("input", F, ["N", 3, 32, 32])],
                  [h.make_tensor_value_info("logits", F, ["N", CLASSES])],
                  "small residual CNN classifier for kiln quantize tests")


def cnn_images(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Image-like inputs: smooth blobs plus noise, normalised per channel like ImageNet inputs."""
    out = []
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 31.0
    for _ in range(n):
        img = np.zeros((3, 32, 32), np.float32)
        for c in range(3):
            for _ in range(3):
                cx, cy, s = rng.random(3)
                img[c] += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.02 + 0.1 * s)) * rng.uniform(0.5, 1.5)
        img += 0.1 * rng.standard_normal(img.shape).astype(np.float32)
        img = (img - img.mean(axis=(1, 2), keepdims=True)) / (img.std(axis=(1, 2), keepdims=True) + 1e-3)
        out.append(img[None].astype(np.float32))
    return out


# ----------------------------------------------------------------------------
# transformer.onnx


def _linear(b: Builder, prefix: str, x: str, cin: int, cout: int, outliers: int = 0) -> str:
    w = (b.rng.standard_normal((cin, cout)) * 0.02 * np.sqrt(768 / cin)).astype(np.float32)
    for c in b.rng.choice(cout, size=outliers, replace=False):
        w[:, c] *= 6.0  # a few large output channels, as trained transformers have: per-channel helps
    y = b.op("MatMul", [x, b.weight(f"{prefix}.weight", w)])
    return b.op("Add", [y, b.randn(f"{prefix}.bias", (cout,), 0.02)])


def _layer_norm_decomposed(b: Builder, prefix: str, x: str) -> str:
    mean = b.op("ReduceMean", [x], axes=[-1], keepdims=1)
    d = b.op("Sub", [x, mean])
    var = b.op("ReduceMean", [b.op("Pow", [d, b.const(2.0)])], axes=[-1], keepdims=1)
    std = b.op("Sqrt", [b.op("Add", [var, b.const(1e-12)])])
    y = b.op("Div", [d, std])
    y = b.op("Mul", [y, b.weight(f"{prefix}.weight", (1 + 0.05 * b.rng.standard_normal(HIDDEN)).astype(np.float32))])
    return b.op("Add", [y, b.randn(f"{prefix}.bias", (HIDDEN,), 0.02)])


def build_transformer() -> onnx.ModelProto:
    b = Builder(seed=11)
    dh = HIDDEN // HEADS
    b.scope = "/mask"
    m = b.op("Cast", ["attention_mask"], to=F)
    m = b.op("Sub", [b.const(1.0), m])
    m = b.op("Mul", [m, b.const(np.finfo(np.float32).min)])
    mask = b.op("Unsqueeze", [m, b.const([1, 2], np.int64)])  # [N, 1, 1, S]
    b.scope = "/attention"
    x = _layer_norm_decomposed(b, "attention.norm", "hidden")
    heads_shape = b.const([0, SEQ, HEADS, dh], np.int64)

    def split_heads(t: str, perm) -> str:
        return b.op("Transpose", [b.op("Reshape", [t, heads_shape])], perm=perm)

    q = split_heads(_linear(b, "attention.query", x, HIDDEN, HIDDEN, outliers=2), [0, 2, 1, 3])
    k = split_heads(_linear(b, "attention.key", x, HIDDEN, HIDDEN, outliers=2), [0, 2, 3, 1])
    v = split_heads(_linear(b, "attention.value", x, HIDDEN, HIDDEN), [0, 2, 1, 3])
    s = b.op("Div", [b.op("MatMul", [q, k]), b.const(np.sqrt(dh))])
    p = b.op("Softmax", [b.op("Add", [s, mask])], axis=-1)
    ctx = b.op("Transpose", [b.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, b.const([0, SEQ, HIDDEN], np.int64)])
    a = _linear(b, "attention.output", ctx, HIDDEN, HIDDEN)
    x = b.op("Add", [a, "hidden"])
    x = b.op("LayerNormalization", [x, b.weight("ffn.norm.weight", (1 + 0.05 * b.rng.standard_normal(HIDDEN)).astype(np.float32)),
                                    b.randn("ffn.norm.bias", (HIDDEN,), 0.02)], axis=-1, epsilon=1e-12)
    b.scope = "/ffn"
    f = _linear(b, "ffn.up", x, HIDDEN, FFN, outliers=4)
    g = b.op("Erf", [b.op("Div", [f, b.const(np.sqrt(2.0))])])
    f = b.op("Mul", [b.op("Mul", [f, b.op("Add", [g, b.const(1.0)])]), b.const(0.5)])
    f = _linear(b, "ffn.down", f, FFN, HIDDEN)
    b.op("Add", [f, x], outputs=["last_hidden"])
    b.scope = "/classifier"
    pooled = b.op("ReduceMean", ["last_hidden"], axes=[1], keepdims=0)
    w = (b.rng.standard_normal((HIDDEN, CLASSES)) * 0.3).astype(np.float32)
    logits = b.op("MatMul", [pooled, b.weight("classifier.weight", w)])
    b.op("Add", [logits, b.randn("classifier.bias", (CLASSES,), 0.02)], outputs=["logits"])
    return _model(b, "transformer_block",
                  [h.make_tensor_value_info("hidden", F, ["N", SEQ, HIDDEN]),
                   h.make_tensor_value_info("attention_mask", I64, ["N", SEQ])],
                  [h.make_tensor_value_info("last_hidden", F, ["N", SEQ, HIDDEN]),
                   h.make_tensor_value_info("logits", F, ["N", CLASSES])],
                  "one BERT-style encoder block with an additive float32-min mask, for kiln quantize tests")


def transformer_samples(rng: np.random.Generator, n: int) -> list[dict[str, np.ndarray]]:
    out = []
    for _ in range(n):
        hidden = rng.standard_normal((1, SEQ, HIDDEN)).astype(np.float32)
        hidden[..., rng.choice(HIDDEN, 2, replace=False)] *= 4.0  # outlier features, as in BERT
        length = int(rng.integers(SEQ // 2, SEQ + 1))
        mask = np.zeros((1, SEQ), np.int64)
        mask[0, :length] = 1
        out.append({"hidden": hidden, "attention_mask": mask})
    return out


# ----------------------------------------------------------------------------
# sample files


def write_npz(path: str, arrays: dict[str, np.ndarray], compressed: bool) -> None:
    """np.savez / np.savez_compressed layout (one `<key>.npy` member per array) with a fixed
    timestamp, so the bytes do not depend on when the script ran."""
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue())


def write_npy(path: str, arr: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)


def generate(out_dir: str) -> list[str]:
    """Write every fixture into out_dir; returns the relative paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name, builder in (("cnn.onnx", build_cnn), ("transformer.onnx", build_transformer)):
        path = os.path.join(out_dir, name)
        with open(path, "wb") as f:
            f.write(builder().SerializeToString())
        err = check(path)
        if err:
            raise SystemExit(f"make_quantize_fixtures: {name} fails the onnx checker: {err}")
        written.append(name)

    rng = np.random.default_rng(2024)
    images = cnn_images(rng, CALIB_SAMPLES + EVAL_SAMPLES)
    os.makedirs(os.path.join(out_dir, "cnn_calib"), exist_ok=True)
    for i in range(CALIB_SAMPLES):
        rel = f"cnn_calib/sample_{i:03d}.npz"
        write_npz(os.path.join(out_dir, rel), {"input": images[i]}, compressed=i >= CALIB_SAMPLES - 2)
        written.append(rel)
    for i in range(EVAL_SAMPLES):
        rel = f"cnn_eval/test_data_set_{i}/input_0.pb"
        os.makedirs(os.path.join(out_dir, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(out_dir, rel), "wb") as f:
            f.write(nh.from_array(images[CALIB_SAMPLES + i], "input").SerializeToString())
        written.append(rel)
    for i, sample in enumerate(transformer_samples(np.random.default_rng(99), CALIB_SAMPLES)):
        folder = f"transformer_calib/sample_{i:03d}"
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
        for key, arr in sample.items():
            write_npy(os.path.join(out_dir, folder, key + ".npy"), arr)
            written.append(f"{folder}/{key}.npy")

    lines = ["# Fixtures for `kiln quantize`", "",
             "Written by `Scripts/make_quantize_fixtures.py` (do not edit by hand; `--check` finds stale files);",
             "see the script's docstring for what each model holds. Used by `Tests/Interop/test_quantize.py`.", "",
             "- `cnn.onnx`: small residual CNN classifier (Conv/BN/Relu/Add/MaxPool/GlobalAveragePool/Gemm, 10 classes)",
             "- `transformer.onnx`: one BERT-style encoder block, additive float32-min attention mask, erf GELU",
             f"- `cnn_calib/`: {CALIB_SAMPLES} samples, one `.npz` per sample (the last two compressed)",
             f"- `cnn_eval/`: {EVAL_SAMPLES} other samples in the ONNX test-data layout (`test_data_set_K/input_0.pb`)",
             f"- `transformer_calib/`: {CALIB_SAMPLES} samples, `<sample>/<input>.npy`"]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    written.append("README.md")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="verify --out is up to date instead of writing it")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        owned = generate(tmp)
        if args.check:
            bad = _diff(filecmp.dircmp(tmp, args.out), "") if os.path.isdir(args.out) else ["(missing folder)"]
            bad += [p for p in owned if not os.path.exists(os.path.join(args.out, p))]
            if bad:
                print("quantize fixtures are stale: " + ", ".join(sorted(set(bad)))
                      + "; run Scripts/make_quantize_fixtures.py", file=sys.stderr)
                return 1
            print("quantize fixtures are up to date")
            return 0
        for rel in owned:  # replace only what this script owns
            dst = os.path.join(args.out, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(tmp, rel), dst)
    total = sum(os.path.getsize(os.path.join(args.out, rel)) for rel in owned)
    print(f"make_quantize_fixtures: 2 models, {len(owned) - 3} sample files, {total} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
