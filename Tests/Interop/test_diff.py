"""`kiln diff`: structural and numeric comparison of model pairs whose true change is known.

Every B model is built here from a committed fixture with onnx and numpy, independently of Kiln:
renamed tensors and nodes (no structural change), BatchNormalization folded into Conv (a rewrite
with identical outputs), one weight perturbed (numeric diff must point at that layer first), and
weights quantized to int8 behind DequantizeLinear (Q/DQ inserted)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import kilnlib as kl

CNN = kl.FIXTURES / "cnn.onnx"


def _diff(a, b, *extra):
    run = kl.run_kiln("diff", a, b, "--json", *extra)
    assert run.rc in (0, 1), run.describe()
    return run.rc, json.loads(run.stdout)


def _renamed(tmp_path):
    m = onnx.load(CNN)
    g = m.graph
    outputs = {o.name for o in g.output}
    ren = {}
    for i, n in enumerate(g.node):
        n.name = f"node_{i}"
        for k, o in enumerate(n.output):
            if o not in outputs:
                ren[o] = f"t{i}_{k}"
    for n in g.node:
        n.input[:] = [ren.get(x, x) for x in n.input]
        n.output[:] = [ren.get(x, x) for x in n.output]
    for vi in g.value_info:
        vi.name = ren.get(vi.name, vi.name)
    p = tmp_path / "renamed.onnx"
    onnx.save(m, p)
    return p


def _bn_folded(tmp_path):
    m = onnx.load(CNN)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    keep, drop_inits = [], set()
    producer = {o: n for n in g.node for o in n.output}
    rename = {}
    for n in g.node:
        if n.op_type == "BatchNormalization" and producer.get(n.input[0], None) is not None \
                and producer[n.input[0]].op_type == "Conv":
            conv = producer[n.input[0]]
            eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
            scale, bias, mean, var = (inits[x] for x in n.input[1:5])
            w = inits[conv.input[1]]
            b = inits[conv.input[2]] if len(conv.input) > 2 else np.zeros(w.shape[0], np.float32)
            f = scale / np.sqrt(var + eps)
            inits[conv.input[1]] = (w * f[:, None, None, None]).astype(np.float32)
            bname = conv.input[2] if len(conv.input) > 2 else conv.name + "_bias"
            inits[bname] = ((b - mean) * f + bias).astype(np.float32)
            if len(conv.input) < 3:
                conv.input.append(bname)
            drop_inits.update(n.input[1:5])
            rename[n.output[0]] = conv.output[0]
            continue
        keep.append(n)
    for n in keep:
        n.input[:] = [rename.get(x, x) for x in n.input]
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in inits.items() if k not in drop_inits)
    del g.value_info[:]
    p = tmp_path / "folded.onnx"
    onnx.save(m, p)
    return p


def _perturbed(tmp_path):
    m = onnx.load(CNN)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    target = convs[1].input[1]
    for t in m.graph.initializer:
        if t.name == target:
            a = numpy_helper.to_array(t).copy()
            a.flat[0] += 1.0
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    p = tmp_path / "perturbed.onnx"
    onnx.save(m, p)
    return p, convs[1].name


def _weights_qdq(tmp_path):
    m = onnx.load(CNN)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    new_nodes = []
    for n in g.node:
        if n.op_type == "Conv":
            w = numpy_helper.to_array(inits[n.input[1]])
            s = np.float32(np.abs(w).max() / 127)
            q = np.clip(np.round(w / s), -127, 127).astype(np.int8)
            qn, sn, dn = n.input[1] + "_q", n.input[1] + "_scale", n.input[1] + "_dq"
            g.initializer.extend([numpy_helper.from_array(q, qn), numpy_helper.from_array(np.array(s), sn)])
            new_nodes.append(helper.make_node("DequantizeLinear", [qn, sn], [dn], name=dn))
            n.input[1] = dn
    nodes = new_nodes + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    p = tmp_path / "qdq.onnx"
    onnx.save(m, p)
    return p


def test_identical_to_itself():
    rc, d = _diff(CNN, CNN)
    assert rc == 0
    assert d["summary"]["identical"] == d["summary"]["nodesA"]
    assert not d["changed"] and not d["removed"] and not d["added"]


def test_renamed_tensors_are_not_a_structural_change(tmp_path):
    rc, d = _diff(CNN, _renamed(tmp_path))
    assert rc == 0, d
    assert d["summary"]["renamedOutputs"] > 0
    assert d["summary"]["identical"] == len(onnx.load(CNN).graph.node)


def test_batchnorm_fold_is_a_rewrite_with_equal_outputs(tmp_path):
    b = _bn_folded(tmp_path)
    onnx.checker.check_model(str(b), full_check=True)
    rc, d = _diff(CNN, b, "--numeric")
    assert rc == 1  # structure changed
    assert [r["description"] for r in d["rewrites"]] == ["Conv + BatchNormalization -> Conv"]
    assert d["rewrites"][0]["count"] == 2
    assert sorted(r["op"] for r in d["removed"]) == ["BatchNormalization", "BatchNormalization"]
    assert d["numeric"]["runs"] and all(
        o["withinTolerance"] for r in d["numeric"]["runs"] for o in r["outputs"])
    # Fused Conv outputs pair with the BatchNormalization outputs they replace.
    assert all(r["intermediatesDiverged"] == 0 for r in d["numeric"]["runs"])
    rc, _ = _diff(CNN, b, "--numeric", "--fail-on", "numeric", "io-change")
    assert rc == 0


def test_perturbed_weight_is_located(tmp_path):
    b, conv_name = _perturbed(tmp_path)
    rc, d = _diff(CNN, b, "--numeric")
    assert rc == 1
    assert [c["a"] for c in d["changed"]] == [conv_name]
    w = d["changed"][0]["weights"][0]
    assert w["input"] == 1 and abs(w["maxAbsDiff"] - 1.0) < 1e-6
    for r in d["numeric"]["runs"]:
        assert r["firstDivergence"]["node"] == conv_name


def test_qdq_inserted_is_summarized(tmp_path):
    b = _weights_qdq(tmp_path)
    rc, d = _diff(CNN, b)
    assert rc == 1
    descs = [r["description"] for r in d["rewrites"]]
    assert descs == ["Conv -> DequantizeLinear + Conv"], descs
    assert d["rewrites"][0]["count"] == 2


def test_text_output_and_bad_input(tmp_path):
    run = kl.run_kiln("diff", CNN, _bn_folded(tmp_path))
    assert run.rc == 1
    assert "Conv + BatchNormalization -> Conv  (x2)" in run.stdout
    missing = tmp_path / "missing.onnx"
    run = kl.run_kiln("diff", CNN, missing)
    assert run.rc == 2 and str(missing) in run.stderr


def test_opset_conversion_is_summarized(tmp_path):
    from onnx import version_converter
    src = kl.FIXTURES / "optimize" / "transformer_opset17.onnx"
    b = tmp_path / "opset18.onnx"
    onnx.save(version_converter.convert_version(onnx.load(src), 18), b)
    rc, d = _diff(src, b, "--numeric")
    assert rc == 1
    assert {"field": "opset_import[ai.onnx]", "a": "17", "b": "18"} in d["model"]
    reduce_means = sum(1 for n in onnx.load(src).graph.node if n.op_type == "ReduceMean")
    descs = [r["description"] for r in d["rewrites"]]
    assert descs[0] == f"opset 17 -> 18: {2 * reduce_means} nodes rewritten", descs
    assert {"description": "ReduceMean -> Constant + ReduceMean", "count": reduce_means} == \
        {k: d["rewrites"][1][k] for k in ("description", "count")}
    assert all(c["op"] == "ReduceMean" and c["attributes"][0]["name"] == "axes" for c in d["changed"])
    assert all(o["withinTolerance"] for r in d["numeric"]["runs"] for o in r["outputs"])
