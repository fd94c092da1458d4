"""`kiln infer-shapes` agrees with onnx.shape_inference.infer_shapes(strict_mode=True, data_prop=True).

Each node-suite model is stripped of its declared output types and value_info, so that both tools
infer every value; then, wherever onnx infers something for a value, Kiln must infer the same or
something more specific:
- element type: onnx's, or unknown (counted) -- a different type is a disagreement;
- rank: onnx's, or unknown (counted) -- a different rank is a disagreement;
- each dim: onnx dim_value N -> Kiln N (agree), Kiln symbol/unknown (counted as Kiln unknown),
  another value (disagreement); onnx dim_param -> Kiln value (Kiln more specific), same symbol
  (agree), another symbol or unknown (counted); onnx's fresh `unk__N` symbols stand for dims it
  does not know and are counted apart (a Kiln expression there counts as more specific).
Disagreements must be 0; the number of agreeing dims must not fall below the committed floor.
Running the unstripped models must give no conflict with their declared types.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import onnx
from onnx import shape_inference

import kilnlib as kl

# Agreeing facts (element types, ranks and dims) on the stripped node suite. Raise it when coverage grows.
AGREEMENT_FLOOR = int(os.environ.get("KILN_SHAPE_FLOOR", "52965"))


def _strip(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for o in m.graph.output:
        o.ClearField("type")
    del m.graph.value_info[:]
    return m


def _types(graph: onnx.GraphProto) -> dict[str, onnx.TypeProto]:
    out = {}
    for vi in list(graph.value_info) + list(graph.output):
        if vi.HasField("type"):
            out[vi.name] = vi.type
    return out


def _compare(onnx_t: onnx.TypeProto, kiln_t: onnx.TypeProto | None, counts: Counter, bad: list, where: str):
    if onnx_t.WhichOneof("value") != "tensor_type":
        return
    ot = onnx_t.tensor_type
    kt = kiln_t.tensor_type if kiln_t is not None and kiln_t.WhichOneof("value") == "tensor_type" else None
    if ot.elem_type:
        counts["facts"] += 1
        if kt is None or not kt.elem_type:
            counts["kiln_unknown"] += 1
        elif kt.elem_type != ot.elem_type:
            bad.append(f"{where}: element type {kt.elem_type} vs onnx {ot.elem_type}")
        else:
            counts["agree"] += 1
    if not ot.HasField("shape"):
        return
    counts["facts"] += 1
    if kt is None or not kt.HasField("shape"):
        counts["kiln_unknown"] += 1 + len(ot.shape.dim)
        counts["facts"] += len(ot.shape.dim)
        return
    if len(kt.shape.dim) != len(ot.shape.dim):
        bad.append(f"{where}: rank {len(kt.shape.dim)} vs onnx {len(ot.shape.dim)}")
        return
    counts["agree"] += 1
    for k, (od, kd) in enumerate(zip(ot.shape.dim, kt.shape.dim)):
        ow, kw = od.WhichOneof("value"), kd.WhichOneof("value")
        if ow is None:
            continue
        counts["facts"] += 1
        if ow == "dim_value":
            if kw == "dim_value":
                if kd.dim_value == od.dim_value:
                    counts["agree"] += 1
                else:
                    bad.append(f"{where}: dim {k} is {kd.dim_value}, onnx says {od.dim_value}")
            else:
                counts["kiln_unknown"] += 1
        else:
            if kw == "dim_value":
                counts["kiln_more_specific"] += 1
            elif kw == "dim_param" and kd.dim_param == od.dim_param:
                counts["agree"] += 1
            elif od.dim_param.startswith("unk__"):
                # A fresh symbol onnx made up for a dim it does not know: no knowledge to match.
                counts["facts"] -= 1
                counts["onnx_fresh_symbol"] += 1
                if kw == "dim_param":
                    counts["kiln_more_specific"] += 1
            else:
                counts["kiln_unknown"] += 1


def _one(path: Path) -> tuple[str, Counter, list[str], str | None]:
    counts: Counter = Counter()
    bad: list[str] = []
    model = onnx.load(str(path))
    stripped = _strip(model)
    try:
        ref = shape_inference.infer_shapes(stripped, strict_mode=True, data_prop=True)
    except Exception:
        counts["onnx_failed"] += 1
        return path.parent.name, counts, bad, None
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.onnx", Path(d) / "out.onnx"
        onnx.save(stripped, str(src))
        r = kl.run_kiln("infer-shapes", "--json", src, "-o", dst)
        if r.rc != 0:
            return path.parent.name, counts, bad, f"exit {r.rc}: {r.stdout[-800:]} {r.stderr[-400:]}"
        ours = onnx.load(str(dst))
    kt = _types(ours.graph)
    for name, t in _types(ref.graph).items():
        counts["values"] += 1
        _compare(t, kt.get(name), counts, bad, f"{path.parent.name}:{name}")
    return path.parent.name, counts, bad, None


def test_agreement_with_onnx(node_suite: Path):
    models = sorted(node_suite.glob("*/model.onnx"))
    assert len(models) > 1800
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(_one, models))
    total: Counter = Counter()
    bad: list[str] = []
    failures = []
    for name, counts, b, err in results:
        total.update(counts)
        bad += b
        if err:
            failures.append(f"{name}: {err}")
    print(f"\ninfer-shapes vs onnx on {len(models)} models: values compared {total['values']}, "
          f"facts {total['facts']}, agree {total['agree']}, Kiln more specific {total['kiln_more_specific']}, "
          f"Kiln unknown where onnx knows {total['kiln_unknown']}, onnx fresh unk__ symbols {total['onnx_fresh_symbol']}, "
          f"disagreements {len(bad)}, "
          f"onnx failed {total['onnx_failed']}, kiln failed {len(failures)}")
    assert not failures, f"{len(failures)} models failed in kiln, e.g. {failures[:5]}"
    assert not bad, f"{len(bad)} disagreements with onnx, e.g. {bad[:10]}"
    # Every fact onnx infers, Kiln infers too (the last gap, inverse one-sided DFT without
    # dft_length, closed with onnx's n = 2*(m - 1)).
    assert total["kiln_unknown"] == 0, f"Kiln leaves {total['kiln_unknown']} facts unknown that onnx infers"
    assert total["agree"] >= AGREEMENT_FLOOR, f"agreement {total['agree']} fell below the floor {AGREEMENT_FLOOR}"


def _declared(path: Path):
    with tempfile.TemporaryDirectory() as d:
        r = kl.run_kiln("infer-shapes", "--json", path, "-o", Path(d) / "out.onnx")
    return path.parent.name, r


def test_no_conflict_with_declared_types(node_suite: Path):
    models = sorted(node_suite.glob("*/model.onnx"))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(_declared, models))
    conflicts = [(n, json.loads(r.stdout)["issues"][:2] if r.rc == 1 else r.stderr[-300:])
                 for n, r in results if r.rc != 0]
    assert not conflicts, f"{len(conflicts)} models conflict with their declared types, e.g. {conflicts[:5]}"


def test_conflict_is_reported_naming_the_node_and_nothing_is_written(tmp_path):
    from onnx import TensorProto, helper
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu1"), helper.make_node("Neg", ["r"], ["y"], name="neg")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        value_info=[helper.make_tensor_value_info("r", TensorProto.FLOAT, ["batch", 5])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    src, dst = tmp_path / "m.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    r = kl.run_kiln("infer-shapes", "--json", src, "-o", dst)
    assert r.rc == 1, r.describe()
    report = json.loads(r.stdout)
    assert report["valid"] is False
    assert report["issues"][0]["nodeName"] == "relu1" and report["issues"][0]["rule"] == "shape.conflict"
    assert not dst.exists()

    # Without the bad declaration: written, symbolic dims kept, onnx's checker accepts the result.
    del m.graph.value_info[:]
    onnx.save(m, str(src))
    r = kl.run_kiln("infer-shapes", src, "-o", dst)
    assert r.rc == 0, r.describe()
    out = onnx.load(str(dst))
    onnx.checker.check_model(out, full_check=True)
    dims = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in list(out.graph.value_info) + list(out.graph.output)}
    assert dims == {"r": ["batch", 4], "y": ["batch", 4]}


def test_missing_input_is_a_usage_error(tmp_path):
    r = kl.run_kiln("infer-shapes", tmp_path / "nope.onnx", "-o", tmp_path / "out.onnx")
    assert r.rc == 2 and "kiln: error:" in r.stderr


def _exporter_style_attention() -> onnx.ModelProto:
    """A torch-exporter-style self-attention block with dynamic batch and sequence: the head split
    and merge go through Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads, size = 64, 4, 16
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((hidden, hidden)).astype(np.float32), f"W{n}") for n in "qkvo"]
    inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              [("i0", 0), ("i1", 1), ("ax0", [0]), ("heads", [heads]), ("size", [size]), ("hid", [hidden]), ("m1", [-1])]]
    inits.append(numpy_helper.from_array(np.array(np.sqrt(size), np.float32), "scale"))
    N = helper.make_node
    nodes = [
        N("Shape", ["x"], ["s"]), N("Gather", ["s", "i0"], ["b"]), N("Gather", ["s", "i1"], ["l"]),
        N("Unsqueeze", ["b", "ax0"], ["b1"]), N("Unsqueeze", ["l", "ax0"], ["l1"]),
        N("Concat", ["b1", "l1", "heads", "size"], ["split_shape"], axis=0),
        N("Concat", ["b1", "l1", "hid"], ["merge_shape"], axis=0),
    ]
    for n in "qkv":
        nodes += [N("MatMul", ["x", f"W{n}"], [f"{n}p"]), N("Reshape", [f"{n}p", "split_shape"], [f"{n}4"]),
                  N("Transpose", [f"{n}4"], [f"{n}t"], perm=[0, 2, 3, 1] if n == "k" else [0, 2, 1, 3])]
    nodes += [
        N("MatMul", ["qt", "kt"], ["scores"]), N("Div", ["scores", "scale"], ["scaled"]),
        N("Add", ["scaled", "mask"], ["masked"]), N("Softmax", ["masked"], ["probs"], axis=-1),
        N("MatMul", ["probs", "vt"], ["ctx"]), N("Transpose", ["ctx"], ["ctxt"], perm=[0, 2, 1, 3]),
        N("Reshape", ["ctxt", "merge_shape"], ["merged"]), N("MatMul", ["merged", "Wo"], ["out"]),
        N("Concat", ["m1", "hid"], ["flat_shape"], axis=0), N("Reshape", ["out", "flat_shape"], ["flat"]),
        N("Concat", ["x", "out"], ["both"], axis=1),
    ]
    g = helper.make_graph(
        nodes, "attention",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", hidden]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 1, "seq"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("out", "flat", "both")], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_exporter_style_attention_block(tmp_path):
    m = _exporter_style_attention()
    ref = shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    src, dst = tmp_path / "attn.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    r = kl.run_kiln("infer-shapes", src, "-o", dst)
    assert r.rc == 0, r.describe()
    ours = onnx.load(str(dst))
    counts: Counter = Counter()
    bad: list[str] = []
    kt = _types(ours.graph)
    for name, t in _types(ref.graph).items():
        counts["values"] += 1
        _compare(t, kt.get(name), counts, bad, name)
    print(f"\nattention block: {dict(counts)}")
    assert not bad, bad
    assert counts["kiln_unknown"] == 0

    def dims(name):
        return [d.dim_param or d.dim_value for d in kt[name].tensor_type.shape.dim]

    assert dims("qt") == ["batch", 4, "seq", 16]
    assert dims("scores") == ["batch", 4, "seq", "seq"]
    assert dims("out") == ["batch", "seq", 64]
    assert dims("flat") == ["batch*seq", 64]
    assert dims("both") == ["batch", "2*seq", 64]
