"""`kiln inspect`, `--version`, `--help` and usage errors.

The expected `inspect --json` values are computed here from the model with onnx
and numpy, independently of Kiln. The JSON shape (camelCase keys, schema 1) is the
one documented in Docs/Commands/inspect.md."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import TensorProto

import kilnlib as kl

FIXTURES = kl.fixture_files()


def _inspect_json(path) -> dict:
    run = kl.run_kiln("inspect", path, "--json")
    assert run.rc == 0, run.describe()
    try:
        return json.loads(run.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"inspect --json printed invalid JSON ({e}): {run.stdout[:500]!r}")


def _op_key(n: onnx.NodeProto) -> str:
    return n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"


def _subgraphs(n: onnx.NodeProto):
    for a in n.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def _walk_nodes(nodes, counter: Counter) -> int:
    """Count ops of nodes and of every subgraph below them; returns the number of subgraphs."""
    graphs = 0
    for n in nodes:
        counter[_op_key(n)] += 1
        for g in _subgraphs(n):
            graphs += 1 + _walk_nodes(g.node, counter)
    return graphs


def _elements(t: TensorProto) -> int:
    return int(np.prod(t.dims, dtype=np.int64)) if t.dims else 1


def _payload_bytes(t: TensorProto) -> int:
    """Bytes of the tensor's data as raw_data would hold it (sub-byte types packed)."""
    if t.data_type == TensorProto.STRING:
        return sum(len(s) for s in t.string_data)
    bits = {TensorProto.INT4: 4, TensorProto.UINT4: 4, TensorProto.FLOAT4E2M1: 4, TensorProto.INT2: 2,
            TensorProto.UINT2: 2, TensorProto.FLOAT6E2M3: 6, TensorProto.FLOAT6E3M2: 6}.get(t.data_type)
    if bits:
        return (_elements(t) * bits + 7) // 8
    return _elements(t) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize


def _dtype_name(dt: int) -> str:
    return TensorProto.DataType.Name(dt).lower()


def _io(v: onnx.ValueInfoProto) -> dict:
    if not v.type.HasField("tensor_type"):
        return {"name": v.name}
    tt = v.type.tensor_type
    shape = None
    if tt.HasField("shape"):
        shape = [d.dim_value if d.HasField("dim_value") else d.dim_param if d.HasField("dim_param") else None
                 for d in tt.shape.dim]
    return {"name": v.name, "dtype": _dtype_name(tt.elem_type), "shape": shape}


def expected_summary(path) -> dict:
    m = kl.load(path, external=False)
    g = m.graph
    ops: Counter = Counter()
    subgraphs = _walk_nodes(g.node, ops)
    for ti in m.training_info:  # training graphs count as graphs of the model
        for tg in (ti.initialization, ti.algorithm):
            if tg.node or tg.name:
                subgraphs += 1 + _walk_nodes(tg.node, ops)
    for f in m.functions:
        _walk_nodes(f.node, ops)
    by_dtype: dict[str, dict] = {}
    for t in list(g.initializer) + [s.values for s in g.sparse_initializer]:
        s = by_dtype.setdefault(_dtype_name(t.data_type), {"tensors": 0, "elements": 0, "bytes": 0})
        s["tensors"] += 1
        s["elements"] += _elements(t)
        s["bytes"] += _payload_bytes(t)
    ext: dict[str, dict] = {}
    for _, t in kl.walk_tensors(m):
        if kl.is_external(t):
            info = kl.external_info(t)
            e = ext.setdefault(info["location"], {"tensors": 0, "bytes": 0})
            e["tensors"] += 1
            e["bytes"] += _payload_bytes(t)
    inits = {t.name for t in g.initializer}
    return {
        "irVersion": m.ir_version,
        "producerName": m.producer_name,
        "producerVersion": m.producer_version,
        "domain": m.domain,
        "modelVersion": m.model_version,
        "graphName": g.name,
        "opsets": [{"domain": o.domain or "ai.onnx", "version": o.version} for o in m.opset_import],
        "inputs": [_io(v) for v in g.input if v.name not in inits],
        "outputs": [_io(v) for v in g.output],
        "ops": dict(ops),
        "counts": {
            "nodes": len(g.node), "nodesTotal": sum(ops.values()), "initializers": len(g.initializer),
            "sparseInitializers": len(g.sparse_initializer), "subgraphs": subgraphs, "functions": len(m.functions),
            "valueInfo": len(g.value_info),
        },
        "parameters": sum(s["elements"] for s in by_dtype.values()),
        "parameterBytes": sum(s["bytes"] for s in by_dtype.values()),
        "byDtype": by_dtype,
        "externalData": ext,
        "functions": [f.name if not f.domain else f"{f.domain}:{f.name}" for f in m.functions],
        "metadata": {p.key: p.value for p in m.metadata_props},
    }


@pytest.mark.parametrize("fixture", FIXTURES)
def test_inspect_json_matches_model(fixture):
    path = kl.FIXTURES / fixture
    got = _inspect_json(path)
    want = expected_summary(path)
    assert got.get("schema") == 1, f"schema: {got.get('schema')!r}"
    problems = []
    for key in ["irVersion", "producerName", "producerVersion", "domain", "modelVersion", "graphName", "opsets",
                "ops", "counts", "parameters", "functions", "metadata"]:
        if got.get(key) != want[key]:
            problems.append(f"{key}: kiln {got.get(key)!r}, expected {want[key]!r}")
    for key in ["inputs", "outputs"]:
        g = [{k: v for k, v in io.items() if k in w} for io, w in zip(got.get(key, []), want[key])]
        if g != want[key] or len(got.get(key, [])) != len(want[key]):
            problems.append(f"{key}: kiln {got.get(key)!r}, expected {want[key]!r}")
    got_dt = {d["dtype"]: {k: d[k] for k in ("tensors", "elements", "bytes")} for d in got.get("byDtype", [])}
    want_dt = want["byDtype"]
    if "string" in want_dt:  # what a string tensor's "bytes" are is not pinned down; compare the rest
        for d in (got_dt.get("string", {}), want_dt["string"]):
            d.pop("bytes", None)
        if got.get("parameterBytes") is not None:
            want["parameterBytes"] = None
            got = {**got, "parameterBytes": None}
    if got_dt != want_dt:
        problems.append(f"byDtype: kiln {got_dt!r}, expected {want_dt!r}")
    if got.get("parameterBytes") != want["parameterBytes"]:
        problems.append(f"parameterBytes: kiln {got.get('parameterBytes')!r}, expected {want['parameterBytes']!r}")
    got_ext = {e["location"]: {"tensors": e["tensors"], "bytes": e["bytes"]} for e in got.get("externalData", [])}
    if got_ext != want["externalData"]:
        problems.append(f"externalData: kiln {got_ext!r}, expected {want['externalData']!r}")
    assert not problems, f"{fixture}:\n  " + "\n  ".join(problems)


def test_inspect_mlp_spelled_out():
    """The demo model, with numbers computed by hand from the fixture's definition."""
    got = _inspect_json(kl.FIXTURES / "mlp.onnx")
    assert got["ops"] == {"MatMul": 3, "Add": 3, "Relu": 2}
    m = kl.load(kl.FIXTURES / "mlp.onnx")
    arrays = [onnx.numpy_helper.to_array(t) for t in m.graph.initializer]
    assert got["parameters"] == sum(a.size for a in arrays) == 16 * 32 + 32 + 32 * 8 + 8 + 8 * 4 + 4
    assert got["parameterBytes"] == sum(a.nbytes for a in arrays)
    assert got["inputs"] == [{"name": "X", "dtype": "float", "shape": ["batch", 16]}]
    assert got["outputs"] == [{"name": "Y", "dtype": "float", "shape": ["batch", 4]}]
    assert got["externalData"] == []


def test_inspect_external_lists_data_file(tmp_path):
    got = _inspect_json(kl.FIXTURES / "external" / "model.onnx")
    m = kl.load(kl.FIXTURES / "external" / "model.onnx", external=False)
    ext = [t for t in m.graph.initializer if kl.is_external(t)]
    assert [e["location"] for e in got["externalData"]] == ["model.data"]
    assert got["externalData"][0]["tensors"] == len(ext)
    assert got["externalData"][0]["bytes"] == sum(int(kl.external_info(t)["length"]) for t in ext)


def test_inspect_after_external_conversion(tmp_path):
    """inspect reads what convert wrote: same parameters, data file listed."""
    out = tmp_path / "mlp.onnx"
    run = kl.run_kiln("convert", kl.FIXTURES / "mlp.onnx", "-o", out, "--external-data", "single",
                      "--external-data-threshold", "0")
    assert run.rc == 0, run.describe()
    before, after = _inspect_json(kl.FIXTURES / "mlp.onnx"), _inspect_json(out)
    assert after["parameters"] == before["parameters"]
    assert after["ops"] == before["ops"]
    assert [e["location"] for e in after["externalData"]] == ["mlp.onnx.data"]
    assert after["externalData"][0]["bytes"] == before["parameterBytes"]


def test_inspect_text():
    run = kl.run_kiln("inspect", kl.FIXTURES / "cnn.onnx")
    assert run.rc == 0, run.describe()
    for word in ["Conv", "BatchNormalization", "Gemm", "pytorch", "input", "logits"]:
        assert word in run.stdout, f"text summary does not mention {word!r}:\n{run.stdout}"
    assert run.stderr == ""


def test_version():
    run = kl.run_kiln("--version")
    assert run.rc == 0, run.describe()
    assert any(ch.isdigit() for ch in run.stdout), f"--version prints no version: {run.stdout!r}"


@pytest.mark.parametrize("args,words", [
    (["--help"], ["convert", "inspect"]),
    (["convert", "--help"], ["--external-data", "--external-data-threshold", "--external-data-location", "-o"]),
    (["inspect", "--help"], ["--json"]),
])
def test_help(args, words):
    run = kl.run_kiln(*args)
    assert run.rc == 0, run.describe()
    for w in words:
        assert w in run.stdout, f"`kiln {' '.join(args)}` does not mention {w!r}:\n{run.stdout}"


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["convert"],
    ["convert", "IN", "-o", "OUT", "--external-data", "bogus"],
    ["convert", "IN", "-o", "OUT", "--external-data-threshold", "-5"],
    ["convert", "IN", "-o", "OUT", "--external-data-threshold", "lots"],
    ["convert", "IN", "-o", "OUT", "--no-such-flag"],
    ["inspect"],
    ["inspect", "a.onnx", "b.onnx"],
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(args, tmp_path):
    args = [str(tmp_path / "in.onnx") if a == "IN" else str(tmp_path / "out.onnx") if a == "OUT" else a
            for a in args]
    (tmp_path / "in.onnx").write_bytes((kl.FIXTURES / "mlp.onnx").read_bytes())
    run = kl.run_kiln(*args, cwd=tmp_path)
    assert run.rc == 2, f"usage error must exit 2: {run.describe()}"
    assert "error" in run.stderr.lower(), f"usage error without an error message: {run.stderr!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.onnx"], "usage error wrote files"
