"""`kiln convert --dynamic-batch / --dim / --input-shape / --rename-dim` against onnx and onnxruntime.

Models are built here with onnx.helper (numpy-seeded weights) the way torch exports them with a
static batch of 1: Flatten as Reshape [1, -1] or [1, C*H*W], attention heads split with
Reshape [1, 16, 4, 8]. After kiln makes the axes dynamic, the onnx checker (full check) accepts the
model and onnxruntime gives for batch 4 the same outputs as 4 runs at batch 1 (rtol 1e-4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kilnlib as kl

RTOL = 1e-4
ATOL = 1e-5


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array, name)


def cnn(flatten: list[int]) -> onnx.ModelProto:
    """Conv -> Relu -> MaxPool -> Reshape(flatten) -> MatMul -> Add, input [1, 3, 8, 8]."""
    rng = np.random.default_rng(0)
    inits = [
        _init("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        _init("b", rng.standard_normal(4).astype(np.float32)),
        _init("flat_shape", np.array(flatten, dtype=np.int64)),
        _init("fc_w", rng.standard_normal((64, 10)).astype(np.float32)),
        _init("fc_b", rng.standard_normal(10).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("MaxPool", ["relu"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pool", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "fc_w"], ["mm"], name="fc"),
        helper.make_node("Add", ["mm", "fc_b"], ["y"], name="fc_bias"),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def transformer(seq: int = 16, heads: int = 4, dim: int = 32) -> onnx.ModelProto:
    """One self-attention block with the sequence length baked into its Reshape targets."""
    rng = np.random.default_rng(1)
    hd = dim // heads
    inits = [_init(n, (rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32)) for n in ("wq", "wk", "wv", "wo")]
    inits += [
        _init("split_shape", np.array([1, seq, heads, hd], dtype=np.int64)),
        _init("merge_shape", np.array([1, seq, dim], dtype=np.int64)),
        _init("scale", np.array(np.sqrt(hd), dtype=np.float32)),
        _init("gamma", rng.standard_normal(dim).astype(np.float32)),
        _init("beta", rng.standard_normal(dim).astype(np.float32)),
    ]
    nodes = []
    for p in ("q", "k", "v"):
        nodes += [
            helper.make_node("MatMul", ["x", "w" + p], [p + "_proj"], name=p + "_proj"),
            helper.make_node("Reshape", [p + "_proj", "split_shape"], [p + "_split"], name=p + "_split"),
        ]
    nodes += [
        helper.make_node("Transpose", ["q_split"], ["q_t"], name="q_t", perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k_split"], ["k_t"], name="k_t", perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["v_split"], ["v_t"], name="v_t", perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["q_t", "k_t"], ["scores"], name="scores"),
        helper.make_node("Div", ["scores", "scale"], ["scaled"], name="scaled"),
        helper.make_node("Softmax", ["scaled"], ["probs"], name="probs", axis=-1),
        helper.make_node("MatMul", ["probs", "v_t"], ["ctx"], name="ctx"),
        helper.make_node("Transpose", ["ctx"], ["ctx_t"], name="ctx_t", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["ctx_t", "merge_shape"], ["merged"], name="merge"),
        helper.make_node("MatMul", ["merged", "wo"], ["attn"], name="out_proj"),
        helper.make_node("Add", ["attn", "x"], ["res"], name="residual"),
        helper.make_node("LayerNormalization", ["res", "gamma", "beta"], ["y"], name="norm", axis=-1),
    ]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, dim])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, seq, dim])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def heads_into_batch() -> onnx.ModelProto:
    """torch's x.view(B * heads, S, D) at B = 1: Reshape [1, 4, 16, 8] -> [4, 16, 8]."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["r"], name="merge_heads"),
         helper.make_node("Relu", ["r"], ["y"], name="relu")],
        "heads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 16, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16, 8])],
        [_init("shape", np.array([4, 16, 8], dtype=np.int64))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def split_sequence() -> onnx.ModelProto:
    """Reshape [1, 16, 32] -> [1, 4, 4, 32]: the sequence is split over two elements."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="split_seq")],
        "split", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 32])],
        [_init("shape", np.array([1, 4, 4, 32], dtype=np.int64))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _dims(vi: onnx.ValueInfoProto) -> list:
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


def _convert(src: Path, dst: Path, *args: str) -> kl.Run:
    before = kl.sha256(src)
    r = kl.run_kiln("convert", src, "-o", dst, *args)
    assert kl.sha256(src) == before, "the input file was modified"
    return r


@pytest.mark.parametrize("flatten", [[1, -1], [1, 64]], ids=["reshape-1x-1", "reshape-1x64"])
def test_cnn_dynamic_batch(tmp_path: Path, flatten: list[int]):
    src = _save(cnn(flatten), tmp_path / "cnn.onnx")
    dst = tmp_path / "dyn.onnx"
    r = _convert(src, dst, "--dynamic-batch")
    assert r.rc == 0, r.describe()
    assert "verified" in r.stdout
    assert kl.checker_error(dst) is None, kl.checker_error(dst)
    m = onnx.load(str(dst))
    assert _dims(m.graph.input[0]) == ["batch", 3, 8, 8]
    assert _dims(m.graph.output[0]) == ["batch", 10]
    x = np.random.default_rng(7).standard_normal((4, 3, 8, 8)).astype(np.float32)
    batched = kl.ort_run(dst, {"x": x})[0]
    singles = np.concatenate([kl.ort_run(src, {"x": x[i:i + 1]})[0] for i in range(4)])
    assert batched.shape == (4, 10)
    np.testing.assert_allclose(batched, singles, rtol=RTOL, atol=ATOL)


def test_cnn_dynamic_batch_no_verify_same_model(tmp_path: Path):
    src = _save(cnn([1, -1]), tmp_path / "cnn.onnx")
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert _convert(src, a, "--dynamic-batch").rc == 0
    r = _convert(src, b, "--dynamic-batch", "--no-verify")
    assert r.rc == 0, r.describe()
    assert "verified" not in r.stdout
    assert a.read_bytes() == b.read_bytes()


def test_transformer_dynamic_sequence(tmp_path: Path):
    src = _save(transformer(), tmp_path / "block.onnx")
    dst = tmp_path / "dyn.onnx"
    r = _convert(src, dst, "--dim", "x:1=sequence")
    assert r.rc == 0, r.describe()
    assert kl.checker_error(dst) is None, kl.checker_error(dst)
    m = onnx.load(str(dst))
    assert _dims(m.graph.output[0]) == [1, "sequence", 32]
    rng = np.random.default_rng(3)
    x16 = rng.standard_normal((1, 16, 32)).astype(np.float32)
    np.testing.assert_allclose(kl.ort_run(dst, {"x": x16})[0], kl.ort_run(src, {"x": x16})[0], rtol=RTOL, atol=ATOL)
    # Another length: the same block built with that length baked in is the reference.
    for seq in (5, 23):
        ref = _save(transformer(seq=seq), tmp_path / f"ref{seq}.onnx")
        x = rng.standard_normal((1, seq, 32)).astype(np.float32)
        got = kl.ort_run(dst, {"x": x})[0]
        assert got.shape == (1, seq, 32)
        np.testing.assert_allclose(got, kl.ort_run(ref, {"x": x})[0], rtol=RTOL, atol=ATOL)


def test_transformer_dynamic_batch_and_sequence(tmp_path: Path):
    src = _save(transformer(), tmp_path / "block.onnx")
    dst = tmp_path / "dyn.onnx"
    r = _convert(src, dst, "--dynamic-batch", "--dim", "x:1=sequence")
    assert r.rc == 0, r.describe()
    assert kl.checker_error(dst) is None, kl.checker_error(dst)
    assert _dims(onnx.load(str(dst)).graph.output[0]) == ["batch", "sequence", 32]
    x = np.random.default_rng(4).standard_normal((4, 16, 32)).astype(np.float32)
    batched = kl.ort_run(dst, {"x": x})[0]
    singles = np.concatenate([kl.ort_run(src, {"x": x[i:i + 1]})[0] for i in range(4)])
    np.testing.assert_allclose(batched, singles, rtol=RTOL, atol=ATOL)


def test_unrewritable_constant_is_refused(tmp_path: Path):
    src = _save(split_sequence(), tmp_path / "split.onnx")
    dst = tmp_path / "out.onnx"
    r = _convert(src, dst, "--dim", "x:1=seq")
    assert r.rc == 1, r.describe()
    assert "split_seq" in r.stderr and "Reshape" in r.stderr, r.stderr
    assert not dst.exists()


def test_batch_merged_into_heads(tmp_path: Path):
    src = _save(heads_into_batch(), tmp_path / "heads.onnx")
    dst = tmp_path / "dyn.onnx"
    r = _convert(src, dst, "--dynamic-batch")
    assert r.rc == 0, r.describe()
    assert kl.checker_error(dst) is None, kl.checker_error(dst)
    x = np.random.default_rng(8).standard_normal((4, 4, 16, 8)).astype(np.float32)
    batched = kl.ort_run(dst, {"x": x})[0]
    singles = np.concatenate([kl.ort_run(src, {"x": x[i:i + 1]})[0] for i in range(4)])
    assert batched.shape == (16, 16, 8)
    np.testing.assert_allclose(batched, singles, rtol=RTOL, atol=ATOL)


def test_input_shape_pins_and_checks(tmp_path: Path):
    src = _save(cnn([1, -1]), tmp_path / "cnn.onnx")
    dyn = tmp_path / "dyn.onnx"
    assert _convert(src, dyn, "--dynamic-batch").rc == 0
    pinned = tmp_path / "pinned.onnx"
    r = _convert(dyn, pinned, "--input-shape", "x:2x3x8x8")
    assert r.rc == 0, r.describe()
    m = onnx.load(str(pinned))
    assert _dims(m.graph.input[0]) == [2, 3, 8, 8]
    assert _dims(m.graph.output[0]) == [2, 10]
    assert kl.checker_error(pinned) is None, kl.checker_error(pinned)
    x = np.random.default_rng(5).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(kl.ort_run(pinned, {"x": x})[0], kl.ort_run(dyn, {"x": x})[0], rtol=RTOL, atol=ATOL)
    for bad in ("x:2x3x8", "x:2x4x8x8", "nope:1x3x8x8"):
        out = tmp_path / "bad.onnx"
        r = _convert(dyn, out, "--input-shape", bad)
        assert r.rc == 2, r.describe()
        assert r.stderr.startswith("kiln: error:"), r.stderr
        assert not out.exists()


def test_rename_dim(tmp_path: Path):
    src = _save(cnn([1, 64]), tmp_path / "cnn.onnx")
    dst = tmp_path / "named.onnx"
    r = _convert(src, dst, "--dynamic-batch", "--rename-dim", "batch=N")
    assert r.rc == 0, r.describe()
    m = onnx.load(str(dst))
    assert _dims(m.graph.input[0]) == ["N", 3, 8, 8]
    assert _dims(m.graph.output[0]) == ["N", 10]
    assert kl.checker_error(dst) is None
    r = _convert(dst, tmp_path / "again.onnx", "--rename-dim", "batch=M")
    assert r.rc == 2 and "batch" in r.stderr, r.describe()


def _one_node(op: str, inputs: list[str], name: str, table: str, array: np.ndarray) -> Path:
    graph = helper.make_graph(
        [helper.make_node(op, inputs, ["y"], name=name)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8])], [_init(table, array)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_positional_table_is_refused(tmp_path: Path):
    """An Add of a positional table built for length 6 is refused by name before anything runs."""
    src = _save(_one_node("Add", ["x", "pos"], "add_pos", "pos", np.arange(48, dtype=np.float32).reshape(1, 6, 8)),
                tmp_path / "pos.onnx")
    dst = tmp_path / "out.onnx"
    r = _convert(src, dst, "--dim", "x:1=seq")
    assert r.rc == 1, r.describe()
    assert "add_pos" in r.stderr and "'pos'" in r.stderr, r.stderr
    assert not dst.exists()


def test_length_specific_model_fails_verification(tmp_path: Path):
    """A token-mixing MatMul [6, 6] has nothing to rewrite but only works at length 6: verification names it."""
    mix = np.random.default_rng(9).standard_normal((6, 6)).astype(np.float32)
    src = _save(_one_node("MatMul", ["mix", "x"], "mix_tokens", "mix", mix), tmp_path / "mix.onnx")
    dst = tmp_path / "out.onnx"
    r = _convert(src, dst, "--dim", "x:1=seq")
    assert r.rc == 1, r.describe()
    assert "mix_tokens" in r.stderr and "verification failed" in r.stderr, r.stderr
    assert not dst.exists()
    # Without verification the caller takes responsibility: the file is written.
    assert _convert(src, dst, "--dim", "x:1=seq", "--no-verify").rc == 0


# Real torch exports (Fixtures/optimize, dynamic axes): made static the way a static-shape export
# looks (pin the inputs, fold the shape computations into constants), then made dynamic again by
# kiln. The original dynamic fixture is the reference at other sizes.
FIXTURE_AXES = {
    "transformer_opset13": {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}},
    "transformer_opset17": {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}},
    "resnet_block": {"input": {0: "batch"}},
    "torch_shapes": {"x": {0: "batch"}},
}
STATIC_SIZES = {"batch": 1, "sequence": 16}
# torch_shapes divides by sqrt(Size(x)): its static form bakes Size = 32 (a number, not a shape
# constant), so at another batch it rightly differs from the dynamic export; only the batch-4
# check applies.
NOT_SIZE_GENERIC = {"torch_shapes"}


def _feeds(model: onnx.ModelProto, sizes: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    vocab = next((i.dims[0] for i in model.graph.initializer if "word_embeddings" in i.name), 8)
    feeds = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        shape = [d.dim_value or sizes[d.dim_param] for d in i.type.tensor_type.shape.dim]
        if i.type.tensor_type.elem_type == TensorProto.INT64:
            feeds[i.name] = (np.ones(shape, np.int64) if "mask" in i.name else rng.integers(0, vocab, shape, dtype=np.int64))
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


@pytest.mark.parametrize("name", sorted(FIXTURE_AXES))
def test_static_export_made_dynamic(tmp_path: Path, name: str):
    original = kl.FIXTURES / "optimize" / f"{name}.onnx"
    axes = FIXTURE_AXES[name]
    pins = [a for inp, dims in axes.items() for a in ("--input-shape", f"{inp}:" + "x".join(
        str(d.dim_value or STATIC_SIZES[dims[k]]) for k, d in enumerate(
            next(i for i in kl.load(original).graph.input if i.name == inp).type.tensor_type.shape.dim)))]
    pinned, static, dyn = tmp_path / "pinned.onnx", tmp_path / "static.onnx", tmp_path / "dyn.onnx"
    assert _convert(original, pinned, *pins).rc == 0
    r = kl.run_kiln("optimize", pinned, "-o", static, "--only", "constant-to-initializer", "--only", "shape-folding",
                    "--only", "dead-code")
    assert r.rc == 0, r.describe()
    dims = [a for inp, d in axes.items() for k, sym in d.items() for a in ("--dim", f"{inp}:{k}={sym}")]
    r = _convert(static, dyn, *dims)
    assert r.rc == 0, r.describe()
    assert kl.checker_error(dyn) is None, kl.checker_error(dyn)
    model = kl.load(dyn)
    # Batch 4 equals 4 runs of the static model at batch 1.
    x = _feeds(model, {"batch": 4, "sequence": 16}, seed=11)
    batched = kl.ort_run(dyn, x)
    for i in range(4):
        single = kl.ort_run(static, {k: v[i:i + 1] for k, v in x.items()})
        for b, s in zip(batched, single):
            np.testing.assert_allclose(b[i:i + 1], s, rtol=RTOL, atol=ATOL)
    if name in NOT_SIZE_GENERIC:
        return
    # Another size: the original dynamic export is the reference.
    x = _feeds(model, {"batch": 3, "sequence": 23}, seed=12)
    for got, want in zip(kl.ort_run(dyn, x), kl.ort_run(original, x)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
