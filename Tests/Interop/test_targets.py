"""`kiln check --target` (Sources/KilnQuantization/Targets, Docs/Targets.md) and the real consumers:

- planted violations (non-zero zero point, opset out of range, QOperator ops, float64, block-quantized DQ,
  contrib ops) are each flagged with the right rule, node and fix; exit 1; JSON lists them; the fix
  command, when run, clears the finding;
- Kiln's own `kiln quantize --target T` outputs pass `kiln check --target T` with no finding;
- OpenVINO (pip `openvino`) reads and compiles on CPU Kiln's outputs of the interop fixtures (optimized;
  QDQ-quantized with `--target openvino` from Fixtures/quantize and its calibration set) and gives
  onnxruntime's outputs on the original within tolerance;
- TVM (pip `apache-tvm`) imports the same outputs through its Relax ONNX frontend and runs them on the
  LLVM CPU target, compared the same way.
A consumer that cannot be imported makes its tests skip with the exact import error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

import kilnlib as kl

Q = kl.FIXTURES / "quantize"
# fixture -> calibration folder (None: random inputs, no quantized variant)
FIXTURES = {
    "quantize/cnn.onnx": Q / "cnn_calib",
    "quantize/transformer.onnx": Q / "transformer_calib",
    "optimize/resnet_block.onnx": None,
    "mlp.onnx": None,
}

try:
    import openvino as ov
    OV_ERROR = None
except Exception as e:  # noqa: BLE001 - the exact error is the skip reason
    ov, OV_ERROR = None, f"{type(e).__name__}: {e}"
try:
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx
    TVM_ERROR = None
except Exception as e:  # noqa: BLE001
    tvm, TVM_ERROR = None, f"{type(e).__name__}: {e}"


# ----------------------------------------------------------------------------
# helpers


def check(path, target, *extra) -> tuple[kl.Run, dict]:
    run = kl.run_kiln("check", path, "--target", target, "--json", *extra)
    assert run.rc in (0, 1), run.describe()
    return run, json.loads(run.stdout)


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def qdq_model(zero_point: int, opset: int = 21) -> onnx.ModelProto:
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], name="q"),
             h.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], name="dq")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
                     [nh.from_array(np.array(0.1, np.float32), "s"), nh.from_array(np.array(zero_point, np.int8), "zp")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)], ir_version=10)


def relu_model(opset: int, dtype=TensorProto.FLOAT) -> onnx.ModelProto:
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                     [h.make_tensor_value_info("x", dtype, [2])], [h.make_tensor_value_info("y", dtype, [2])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)], ir_version=8)


def feeds(model_path: Path, calib: Path | None, count: int = 2) -> list[dict[str, np.ndarray]]:
    if calib is not None:
        out = []
        for p in sorted(calib.iterdir())[:count]:
            if p.suffix == ".npz":
                with np.load(p) as z:
                    out.append({k: z[k] for k in z.files})
            else:
                out.append({f.stem: np.load(f) for f in sorted(p.glob("*.npy"))})
        return out
    m = onnx.load(str(model_path))
    inits = {t.name for t in m.graph.initializer}
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        feed = {}
        for i in m.graph.input:
            if i.name in inits:
                continue
            shape = [d.dim_value or 2 for d in i.type.tensor_type.shape.dim]
            feed[i.name] = rng.standard_normal(shape).astype(np.float32)
        out.append(feed)
    return out


def ort_run(path: Path, feed) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, feed)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """fixture -> {kind: path}: the original, `kiln optimize`, `kiln convert --opset 21`, and (with a
    calibration set) `kiln quantize --target openvino` / `--target tvm` (QDQ)."""
    d = tmp_path_factory.mktemp("targets")
    out = {}
    for name, calib in FIXTURES.items():
        src = kl.FIXTURES / name
        stem = name.replace("/", "_").removesuffix(".onnx")
        paths = {"original": src, "optimized": d / f"{stem}.opt.onnx", "converted": d / f"{stem}.opset21.onnx"}
        run = kl.run_kiln("optimize", src, "-o", paths["optimized"])
        assert run.rc == 0, run.describe()
        run = kl.run_kiln("convert", src, "-o", paths["converted"], "--opset", "21")
        assert run.rc == 0, run.describe()
        if calib is not None:
            for target in ("openvino", "tvm"):
                paths[f"quantized-{target}"] = d / f"{stem}.qdq-{target}.onnx"
                run = kl.run_kiln("quantize", src, "-o", paths[f"quantized-{target}"], "--calibration", calib, "--target", target)
                assert run.rc == 0, run.describe()
        out[name] = paths
    return out


def variants(paths: dict[str, Path], target: str) -> list[tuple[str, Path]]:
    return [(k, p) for k, p in paths.items() if k in ("optimized", "converted", f"quantized-{target}")]


def compare(name, kind, got: list[np.ndarray], want: list[np.ndarray], min_cosine: float = 0.98):
    assert len(got) == len(want), f"{name} {kind}: {len(got)} outputs, onnxruntime gives {len(want)}"
    for k, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape, f"{name} {kind} output {k}: shape {a.shape} vs {b.shape}"
        cos = float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))
        print(f"{name} {kind} output {k}: max |diff| {np.abs(a - b).max():.3g}, cosine {cos:.5f}")  # shown with -s
        if not kind.startswith("quantized"):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=f"{name} {kind} output {k}")
        else:  # quantized: the consumer's int8 arithmetic against float onnxruntime on the original
            assert cos > min_cosine, f"{name} {kind} output {k}: cosine {cos:.4f} against onnxruntime"


# ----------------------------------------------------------------------------
# the CLI on planted models


def test_without_target_the_output_is_unchanged(tmp_path):
    path = save(qdq_model(3), tmp_path / "m.onnx")
    run = kl.run_kiln("check", path, "--json")
    assert run.rc == 0, run.describe()
    assert set(json.loads(run.stdout)) == {"schema", "file", "valid", "issues"}
    assert kl.run_kiln("check", path).stdout.strip() == f"{path}: valid"


def test_nonzero_zero_point_flagged_for_tensorrt(tmp_path):
    path = save(qdq_model(3), tmp_path / "m.onnx")
    run, report = check(path, "tensorrt")
    assert run.rc == 1
    assert report["valid"] and report["target"] == "tensorrt" and "TensorRT" in report["consumer"]
    found = {(f["node"], f["rule"]) for f in report["findings"]}
    assert found == {("q", "quantization"), ("dq", "quantization")}, report["findings"]
    assert all("zero point 3 is not 0" in f["reason"] for f in report["findings"])
    assert all(f["fix"].startswith("kiln quantize --target tensorrt") for f in report["findings"])
    text = kl.run_kiln("check", path, "--target", "tensorrt")
    assert text.rc == 1 and "2 findings" in text.stdout and "node 'q' (QuantizeLinear): [quantization]" in text.stdout
    for target in ("openvino", "onnxruntime", "tvm"):
        run, report = check(path, target)
        assert run.rc == 0 and report["findings"] == [], (target, report)
    run, report = check(save(qdq_model(0), tmp_path / "ok.onnx"), "tensorrt")
    assert run.rc == 0, report


@pytest.mark.parametrize("target,opset,fix", [("tensorrt", 8, 9), ("tensorrt", 25, 24), ("openvino", 6, None)])
def test_opset_out_of_range_and_its_fix(target, opset, fix, tmp_path):
    path = save(relu_model(opset), tmp_path / "m.onnx")
    run, report = check(path, target)
    assert run.rc == 1
    [f] = report["findings"]
    assert f["rule"] == "opset.range" and "node" not in f and f"opset {opset}" in f["reason"]
    if fix is None:  # kiln convert reads opset 7 and later: no fix to offer
        assert "fix" not in f, f
        return
    assert f["fix"] == f"kiln convert --opset {fix}"
    fixed = tmp_path / "fixed.onnx"
    conv = kl.run_kiln("convert", path, "-o", fixed, "--opset", str(fix))
    assert conv.rc == 0, conv.describe()
    run, report = check(fixed, target)
    assert run.rc == 0, report


def test_float64_flagged_for_tensorrt(tmp_path):
    path = save(relu_model(17, TensorProto.DOUBLE), tmp_path / "m.onnx")
    run, report = check(path, "tensorrt")
    assert run.rc == 1
    assert {f["rule"] for f in report["findings"]} == {"dtype.double"}
    assert any("FLT_MAX" in f["reason"] for f in report["findings"])
    assert check(path, "openvino")[0].rc == 0


def test_qoperator_and_dynamic_outputs_flagged(tmp_path):
    src = Q / "cnn.onnx"
    qop, dyn = tmp_path / "qop.onnx", tmp_path / "dyn.onnx"
    assert kl.run_kiln("quantize", src, "-o", qop, "--calibration", Q / "cnn_calib", "--format", "qoperator").rc == 0
    assert kl.run_kiln("quantize", src, "-o", dyn, "--mode", "dynamic").rc == 0
    for target in ("tensorrt", "tvm"):
        run, report = check(qop, target)
        assert run.rc == 1
        rule = "quantization" if target == "tensorrt" else "op.unsupported"
        assert any(f["op"] == "QLinearConv" and f["rule"] == rule for f in report["findings"]), target
        rules = {}
        for f in report["findings"]:
            rules.setdefault(f["node"], set()).add(f["rule"])
        assert not any({"op.unsupported", "quantization"} <= r for r in rules.values()), f"{target}: one cause flagged twice"
        assert all(f["fix"] == f"kiln quantize --target {target} (on the float model)" for f in report["findings"]), target
    assert check(qop, "onnxruntime")[0].rc == 0
    assert check(qop, "openvino")[0].rc == 0  # OpenVINO compiles QLinearConv/MatMulInteger (test below)
    run, report = check(dyn, "tensorrt")
    assert run.rc == 1 and any(f["op"] == "DynamicQuantizeLinear" for f in report["findings"])


@pytest.mark.parametrize("bits,real_error", [("8", "blocked quantization is not supported"), ("4", "size mismatch")])
def test_block_quantized_dequantize_flagged_for_tvm(bits, real_error, tmp_path):
    src = tmp_path / "t21.onnx"
    from onnx import version_converter
    onnx.save(version_converter.convert_version(onnx.load(str(Q / "transformer.onnx")), 21), str(src))
    out = tmp_path / "wo.onnx"
    run = kl.run_kiln("quantize", src, "-o", out, "--mode", "weight-only", "--bits", bits, "--block-size", "32")
    assert run.rc == 0, run.describe()
    run, report = check(out, "tvm")
    assert run.rc == 1
    assert any("block_size 32" in f["reason"] for f in report["findings"])
    assert check(out, "onnxruntime")[0].rc == 0
    if tvm is not None:  # the real frontend rejects it too
        with pytest.raises(Exception, match=real_error):
            from_onnx(onnx.load(str(out)), shape_dict={"hidden": [1, 16, 64], "attention_mask": [1, 16]},
                      dtype_dict={"hidden": "float32", "attention_mask": "int64"})


def test_contrib_operator_flagged_except_for_onnxruntime(tmp_path):
    g = h.make_graph([h.make_node("FusedMatMul", ["a", "b"], ["y"], name="fused", domain="com.microsoft")], "g",
                     [h.make_tensor_value_info("a", TensorProto.FLOAT, [2, 2]),
                      h.make_tensor_value_info("b", TensorProto.FLOAT, [2, 2])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("com.microsoft", 1)], ir_version=8)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # onnxruntime does run it
    assert check(path, "onnxruntime")[0].rc == 0
    for target in ("tensorrt", "openvino", "tvm"):
        run, report = check(path, target)
        assert run.rc == 1 and [f["rule"] for f in report["findings"]] == ["op.domain"], report


def test_unknown_target_is_a_usage_error(tmp_path):
    path = save(relu_model(17), tmp_path / "m.onnx")
    run = kl.run_kiln("check", path, "--target", "coreml")
    assert run.rc not in (0, 1) and "coreml" in run.stderr, run.describe()


@pytest.mark.parametrize("target", ["tensorrt", "openvino", "tvm", "onnxruntime"])
@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_kiln_target_outputs_have_no_finding(model, target, tmp_path):
    out = tmp_path / "q.onnx"
    run = kl.run_kiln("quantize", Q / f"{model}.onnx", "-o", out, "--calibration", Q / f"{model}_calib", "--target", target)
    assert run.rc == 0, run.describe()
    assert f"target {target}: no finding" in run.stdout  # quantize --target ends with the target check
    run, report = check(out, target)
    assert run.rc == 0 and report["valid"] and report["findings"] == [], report


# ----------------------------------------------------------------------------
# real consumers


@pytest.mark.skipif(ov is None, reason=f"openvino cannot be imported: {OV_ERROR}")
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_openvino_compiles_and_matches_onnxruntime(name, outputs):
    src = outputs[name]["original"]
    core = ov.Core()
    for kind, path in variants(outputs[name], "openvino"):
        run, report = check(path, "openvino")
        assert run.rc == 0, report
        # f32: the CPU plugin otherwise runs float models in bf16 where the hardware has it
        compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        for feed in feeds(src, FIXTURES[name]):
            result = compiled(feed)
            got = [result[o] for o in compiled.outputs]
            compare(name, kind, got, ort_run(src, feed))
            if kind.startswith("quantized"):  # and onnxruntime on the same quantized file
                compare(name, kind + " (vs onnxruntime on it)", got, ort_run(path, feed), min_cosine=0.999)


@pytest.mark.skipif(tvm is None, reason=f"apache-tvm cannot be imported: {TVM_ERROR}")
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_tvm_imports_and_runs_on_llvm(name, outputs):
    src = outputs[name]["original"]
    for kind, path in variants(outputs[name], "tvm"):
        run, report = check(path, "tvm")
        assert run.rc == 0, report
        model = onnx.load(str(path))
        samples = feeds(src, FIXTURES[name])
        shapes = {k: v.shape for k, v in samples[0].items()}
        dtypes = {k: str(v.dtype) for k, v in samples[0].items()}
        mod = from_onnx(model, shape_dict=shapes, dtype_dict=dtypes, keep_params_in_input=False)
        mod = relax.transform.DecomposeOpsForInference()(mod)
        vm = relax.VirtualMachine(relax.build(mod, target="llvm"), tvm.cpu())
        names = [i.name for i in model.graph.input if i.name in shapes]
        for feed in samples:
            res = vm["main"](*[tvm.runtime.tensor(feed[n]) for n in names])
            got = [res.numpy()] if hasattr(res, "numpy") else [r.numpy() for r in res]
            compare(name, kind, got, ort_run(src, feed))
            if kind.startswith("quantized"):  # and onnxruntime on the same quantized file
                compare(name, kind + " (vs onnxruntime on it)", got, ort_run(path, feed), min_cosine=0.999)


@pytest.mark.skipif(ov is None, reason=f"openvino cannot be imported: {OV_ERROR}")
def test_openvino_compiles_qoperator_and_dynamic_outputs(tmp_path):
    """Why the openvino profile rejects no QOperator/integer operator: OpenVINO compiles them."""
    core = ov.Core()
    for args in (["--calibration", Q / "cnn_calib", "--format", "qoperator"], ["--mode", "dynamic"]):
        out = tmp_path / "q.onnx"
        assert kl.run_kiln("quantize", Q / "cnn.onnx", "-o", out, *args).rc == 0
        core.compile_model(core.read_model(str(out)), "CPU")
        assert check(out, "openvino")[0].rc == 0


@pytest.mark.skipif(tvm is None, reason=f"apache-tvm cannot be imported: {TVM_ERROR}")
def test_tvm_rejects_what_kiln_flags(tmp_path):
    out = tmp_path / "qop.onnx"
    assert kl.run_kiln("quantize", Q / "cnn.onnx", "-o", out, "--calibration", Q / "cnn_calib", "--format", "qoperator").rc == 0
    run, report = check(out, "tvm")
    assert run.rc == 1 and {f["op"] for f in report["findings"]} == {"QLinearConv"}, report
    with pytest.raises(Exception, match="QLinearConv"):
        from_onnx(onnx.load(str(out)), shape_dict={"input": [1, 3, 32, 32]})


@pytest.mark.skipif(tvm is None, reason=f"apache-tvm cannot be imported: {TVM_ERROR}")
def test_tvm_operator_list_matches_the_installed_frontend():
    """The tvm profile's rejected operators are exactly the default-domain operators (of the installed onnx)
    missing from the installed TVM's Relax convert map."""
    import re
    from tvm.relax.frontend.onnx import onnx_frontend
    src = (kl.REPO / "Sources/KilnQuantization/Targets/TargetProfile.swift").read_text()
    block = src[src.index("public static let tvm"):src.index("public static let onnxruntime")]
    listed = set(re.findall(r'"([A-Za-z0-9]+)"', block[block.index("unsupportedOps"):block.index(".map")]))
    default = {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain == ""}
    missing = default - set(onnx_frontend._get_convert_map())
    assert listed == missing, f"only in Kiln: {sorted(listed - missing)}; only measured: {sorted(missing - listed)}"


@pytest.mark.parametrize("opset", [7, 28])
def test_opset_range_ends_load_in_the_consumers(opset, tmp_path):
    """The measured ends of the onnxruntime / openvino / tvm opset ranges (7...28)."""
    path = save(relu_model(opset), tmp_path / "m.onnx")
    x = np.array([-1.0, 2.0], np.float32)
    assert ort_run(path, {"x": x})[0].tolist() == [0.0, 2.0]
    if ov is not None:
        compiled = ov.Core().compile_model(ov.Core().read_model(str(path)), "CPU")
        assert compiled({"x": x})[compiled.outputs[0]].tolist() == [0.0, 2.0]
    if tvm is not None:
        mod = from_onnx(onnx.load(str(path)), opset=opset)
        vm = relax.VirtualMachine(relax.build(mod, target="llvm"), tvm.cpu())
        assert vm["main"](tvm.runtime.tensor(x)).numpy().tolist() == [0.0, 2.0]
    for target in ("onnxruntime", "openvino", "tvm"):
        assert check(path, target)[0].rc == 0


def test_convert_with_target_brings_the_opset_into_range_and_checks(tmp_path):
    path = save(relu_model(25), tmp_path / "m.onnx")
    out = tmp_path / "out.onnx"
    run = kl.run_kiln("convert", path, "-o", out, "--target", "tensorrt")
    assert run.rc == 0, run.describe()
    assert "opset 25 -> 24 (tensorrt)" in run.stdout and "target tensorrt: no finding" in run.stdout, run.stdout
    m = onnx.load(str(out))
    onnx.checker.check_model(m, full_check=True)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [24]
    x = np.array([-1.0, 2.0], np.float32)
    assert ort_run(out, {"x": x})[0].tolist() == [0.0, 2.0]
    # A finding convert cannot fix: the output is written, the finding printed, exit 1.
    bad, out2 = save(qdq_model(3), tmp_path / "zp.onnx"), tmp_path / "zp.out.onnx"
    run = kl.run_kiln("convert", bad, "-o", out2, "--target", "tensorrt")
    assert run.rc == 1 and out2.exists(), run.describe()
    assert "target tensorrt: 2 findings" in run.stdout and "zero point 3 is not 0" in run.stdout, run.stdout
    run = kl.run_kiln("convert", bad, "-o", tmp_path / "ov.onnx", "--target", "openvino")
    assert run.rc == 0 and "opset" not in run.stdout.split("wrote")[0], run.describe()


def test_optimize_target_brings_the_opset_into_range_and_checks(tmp_path):
    """`kiln optimize --target tensorrt` on an opset-25 model: optimized, converted to 24, no finding, same
    outputs in onnxruntime; without --target the output stays at 25 and `check --target` flags it."""
    path = save(relu_model(25), tmp_path / "m.onnx")
    out = tmp_path / "o.onnx"
    run = kl.run_kiln("optimize", path, "-o", out, "--target", "tensorrt", "--verify", "1")
    assert run.rc == 0, run.describe()
    assert "target tensorrt: opset 25 -> 24" in run.stdout and "target tensorrt: no finding" in run.stdout
    assert {o.version for o in onnx.load(out).opset_import if o.domain in ("", "ai.onnx")} == {24}
    onnx.checker.check_model(onnx.load(out), full_check=True)
    x = {"x": np.array([-1.5, 2.0], dtype=np.float32)}
    np.testing.assert_array_equal(ort_run(out, x)[0], np.maximum(x["x"], 0))
    plain = tmp_path / "plain.onnx"
    assert kl.run_kiln("optimize", path, "-o", plain).rc == 0
    assert check(plain, "tensorrt")[0].rc == 1
