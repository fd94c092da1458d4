"""`kiln check` agrees with onnx.checker: every node-suite model and fixture is valid for both, and
each deliberately broken model below is rejected by both, Kiln naming the rule and the node."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kilnlib as kl


def _check(path) -> tuple[int, dict | None, str]:
    r = kl.run_kiln("check", "--json", path)
    report = json.loads(r.stdout) if r.rc in (0, 1) else None
    return r.rc, report, r.stderr


def test_node_suite_models_are_valid(node_suite: Path):
    models = sorted(node_suite.glob("*/model.onnx"))
    assert len(models) > 1800
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(_check, models))
    invalid = [(m.parent.name, rep["issues"][:2] if rep else err)
               for m, (rc, rep, err) in zip(models, results) if rc != 0]
    assert not invalid, f"{len(invalid)} node-suite models reported invalid, e.g. {invalid[:5]}"


@pytest.mark.parametrize("fixture", kl.fixture_files())
def test_fixtures_are_valid(fixture):
    rc, report, err = _check(kl.REPO / "Fixtures" / fixture)
    assert rc == 0, f"{fixture}: {report['issues'] if report else err}"


def _vi(name, elem=TensorProto.FLOAT, shape=(2,)):
    return helper.make_tensor_value_info(name, elem, list(shape))


def _model(nodes, inputs=None, outputs=None, inits=(), opset=17, ir=8, imports=None):
    g = helper.make_graph(nodes, "g", inputs if inputs is not None else [_vi("x")],
                          outputs if outputs is not None else [_vi("y")], list(inits))
    m = helper.make_model(g, opset_imports=imports if imports is not None else [helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def _broken_models():
    """(id, model, expected rule, expected node name or None)."""
    w = numpy_helper.from_array(np.ones(2, np.float32), "w")
    yield "unknown-op", _model([helper.make_node("Frobnicate", ["x"], ["y"], name="frob")]), "node.unknown-op", "frob"
    yield "domain-not-imported", _model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")]), \
        "node.domain-not-imported", "r"
    yield "deprecated-op", _model([helper.make_node("Upsample", ["x", "s"], ["y"], name="up")],
                                  inputs=[_vi("x"), _vi("s")], opset=10), "node.deprecated-op", "up"
    yield "unknown-attribute", _model([helper.make_node("Relu", ["x"], ["y"], name="r", alpha=0.1)]), \
        "node.unknown-attribute", "r"
    yield "attribute-type", _model([helper.make_node("Transpose", ["x"], ["y"], name="t", perm=1.5)]), \
        "node.attribute-type", "t"
    yield "missing-attribute", _model([helper.make_node("Concat", ["x", "x"], ["y"], name="cat")]), \
        "node.missing-attribute", "cat"
    yield "arity", _model([helper.make_node("Add", ["x"], ["y"], name="add")]), "node.arity", "add"
    yield "missing-input", _model([helper.make_node("Add", ["x", ""], ["y"], name="add")]), "node.missing-input", "add"
    yield "topological-order", _model([helper.make_node("Relu", ["h"], ["y"], name="second"),
                                       helper.make_node("Neg", ["x"], ["h"], name="first")]), \
        "graph.topological-order", "second"
    yield "undefined-input", _model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="add")]), \
        "graph.undefined-input", "add"
    yield "ssa", _model([helper.make_node("Relu", ["x"], ["x"], name="r"), helper.make_node("Neg", ["x"], ["y"], name="n")]), \
        "graph.ssa", "r"
    yield "type-constraint", _model([helper.make_node("Gather", ["x", "i"], ["y"], name="g")],
                                    inputs=[_vi("x"), _vi("i", TensorProto.FLOAT)]), "node.type-constraint", "g"
    yield "type-mismatch", _model([helper.make_node("Add", ["x", "i"], ["y"], name="add")],
                                  inputs=[_vi("x"), _vi("i", TensorProto.INT64)]), "node.type-mismatch", "add"
    yield "opset-missing", _model([helper.make_node("Relu", ["x"], ["y"], name="r")], imports=[]), "model.opset-missing", None
    yield "ir-version", _model([helper.make_node("Relu", ["x"], ["y"], name="r")], ir=99), "model.ir-version", None
    yield "initializer-not-input", _model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], inits=[w], ir=3,
                                          opset=8), "graph.initializer-not-input", None
    yield "value-info-type", _model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                    inputs=[helper.make_value_info("x", onnx.TypeProto())]), "value-info.type", None
    # Only shape inference (strict mode, as onnx's full_check) finds these.
    for case in _inference_only_models():
        yield case


def _inference_only_models():
    """Structurally valid models that shape inference in strict mode rejects."""
    yield "matmul-inner-dims", _model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
                                      inputs=[_vi("a", shape=(2, 3)), _vi("b", shape=(4, 5))],
                                      outputs=[_vi("y", shape=(2, 5))]), "shape.error", "mm"
    yield "add-broadcast", _model([helper.make_node("Add", ["a", "b"], ["y"], name="add")],
                                  inputs=[_vi("a", shape=(2, 3)), _vi("b", shape=(4,))],
                                  outputs=[_vi("y", shape=(2, 3))]), "shape.error", "add"
    yield "declared-output-conflict", _model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                                             outputs=[_vi("y", shape=(3,))]), "shape.conflict", "r"


@pytest.mark.parametrize("case", list(_broken_models()), ids=lambda c: c[0])
def test_broken_model_is_rejected_by_both(case, tmp_path):
    name, model, rule, node = case
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    with pytest.raises(Exception):
        onnx.checker.check_model(onnx.load(path), full_check=True)
    rc, report, err = _check(path)
    assert rc == 1, f"{name}: kiln check exit {rc}: {err}"
    rules = [i["rule"] for i in report["issues"]]
    assert rule in rules, f"{name}: expected {rule}, got {report['issues']}"
    if node is not None:
        hit = next(i for i in report["issues"] if i["rule"] == rule)
        assert hit.get("nodeName") == node, f"{name}: issue should name node {node!r}: {hit}"
    text = kl.run_kiln("check", path)
    assert text.rc == 1 and rule in text.stdout


@pytest.mark.parametrize("case", list(_inference_only_models()), ids=lambda c: c[0])
def test_no_infer_skips_shape_inference(case, tmp_path):
    name, model, _, _ = case
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    onnx.checker.check_model(onnx.load(path))  # without full_check onnx accepts it too
    r = kl.run_kiln("check", "--no-infer", path)
    assert r.rc == 0, f"{name}: {r.stdout}{r.stderr}"
