"""`kiln quantize` on the committed fixtures (Fixtures/quantize, Scripts/make_quantize_fixtures.py):

- every mode / format / target output passes the onnx checker (full_check) and runs in onnxruntime on the
  calibration samples, float in and float out, with the float model's output names, types and shapes;
- TensorRT-preset outputs pass a structural check of TensorRT's quantization rules written here;
- output agreement with the float model (cosine, worst output) is at least onnxruntime.quantization's
  (quantize_static / quantize_dynamic with the same options on the same samples, computed here);
- bad input (empty folder, wrong shape or dtype, NaN, no quantizable op, --max-drop unmet): exit status,
  message naming the file or input, no output file;
- the report's JSON fields; a calibration cache reproduces the output byte for byte; the input is unchanged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

import kilnlib as kl

Q = kl.FIXTURES / "quantize"
CNN, TRANSFORMER = Q / "cnn.onnx", Q / "transformer.onnx"
CALIB = {"cnn": Q / "cnn_calib", "transformer": Q / "transformer_calib"}
MODELS = {"cnn": CNN, "transformer": TRANSFORMER}
TOLERANCE = 0.002  # kiln's worst-output cosine may be this much below onnxruntime's


# ----------------------------------------------------------------------------
# helpers


def load_samples(folder: Path, model: Path) -> list[dict[str, np.ndarray]]:
    """The samples of a calibration folder in any of the three layouts."""
    names = [i.name for i in onnx.load(str(model), load_external_data=False).graph.input]
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix == ".npz":
            with np.load(p) as z:
                out.append({k: z[k] for k in z.files})
        elif p.is_dir() and any(p.glob("*.npy")):
            out.append({f.stem: np.load(f) for f in sorted(p.glob("*.npy"))})
        elif p.is_dir() and any(p.glob("input_*.pb")):
            feed = {}
            for k, f in enumerate(sorted(p.glob("input_*.pb"))):
                t = onnx.TensorProto()
                t.ParseFromString(f.read_bytes())
                feed[t.name or names[k]] = nh.to_array(t)
            out.append(feed)
    return out


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    return float(a @ b / (na * nb)) if na and nb else 0.0


def agreement(float_path: Path, quant_path: Path, samples) -> tuple[float, float]:
    """(worst output's mean cosine, top-1 agreement of `logits`) of quant vs float in onnxruntime."""
    fs, qs = session(float_path), session(quant_path)
    names = [o.name for o in fs.get_outputs()]
    cos = {n: [] for n in names}
    agree = []
    for feed in samples:
        want, got = fs.run(None, feed), qs.run(names, feed)
        for n, a, b in zip(names, want, got):
            assert a.shape == b.shape and b.dtype == a.dtype, f"{n}: {b.dtype}{b.shape} vs float {a.dtype}{a.shape}"
            assert np.isfinite(b).all(), f"{quant_path.name}: output {n} has non-finite values"
            cos[n].append(cosine(a, b))
            if n == "logits":
                agree.extend((a.argmax(-1) == b.argmax(-1)).ravel().tolist())
    return min(float(np.mean(v)) for v in cos.values()), float(np.mean(agree)) if agree else 1.0


def quantize(tmp_path: Path, model: str, *args, name: str = "q.onnx") -> tuple[kl.Run, Path]:
    out = tmp_path / name
    return kl.run_kiln("quantize", MODELS[model], "-o", out, *args), out


class Reader:
    """onnxruntime.quantization CalibrationDataReader over the same samples."""

    def __init__(self, samples):
        self.it = iter(samples)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):  # newer onnxruntime versions may call it
        pass


def ort_static(src: Path, dst: Path, samples, per_channel: bool, method: str = "minmax", fmt: str = "qdq"):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    quantize_static(str(src), str(dst), Reader(samples),
                    quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                    per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy}[method])


def ort_dynamic(src: Path, dst: Path, per_channel: bool):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(src), str(dst), per_channel=per_channel, weight_type=QuantType.QInt8)


def op_types(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


# ----------------------------------------------------------------------------
# every mode, format and target loads, checks and runs


CASES = {
    "cnn-dynamic": ("cnn", []),
    "cnn-dynamic-per-channel": ("cnn", ["--mode", "dynamic", "--per-channel"]),
    "cnn-static-qdq-minmax": ("cnn", ["--calibration", CALIB["cnn"]]),
    "cnn-static-qdq-per-channel-entropy": ("cnn", ["--calibration", CALIB["cnn"], "--per-channel", "--method", "entropy"]),
    "cnn-static-percentile": ("cnn", ["--calibration", CALIB["cnn"], "--method", "percentile", "--percentile", "99.9"]),
    "cnn-static-mse-int8-symmetric": ("cnn", ["--calibration", CALIB["cnn"], "--method", "mse", "--activation-type", "int8",
                                              "--symmetric"]),
    "cnn-static-qoperator": ("cnn", ["--calibration", CALIB["cnn"], "--format", "qoperator"]),
    "cnn-static-exclude-op": ("cnn", ["--calibration", CALIB["cnn"], "--exclude-op", "Gemm"]),
    "cnn-tensorrt": ("cnn", ["--calibration", CALIB["cnn"], "--target", "tensorrt"]),
    "cnn-openvino": ("cnn", ["--calibration", CALIB["cnn"], "--target", "openvino"]),
    "cnn-onnxruntime": ("cnn", ["--calibration", CALIB["cnn"], "--target", "onnxruntime", "--per-channel"]),
    "cnn-tvm": ("cnn", ["--calibration", CALIB["cnn"], "--target", "tvm"]),
    "transformer-dynamic": ("transformer", ["--mode", "dynamic"]),
    "transformer-static-qdq": ("transformer", ["--calibration", CALIB["transformer"]]),
    "transformer-static-entropy": ("transformer", ["--calibration", CALIB["transformer"], "--method", "entropy", "--per-channel"]),
    "transformer-static-qoperator": ("transformer", ["--calibration", CALIB["transformer"], "--format", "qoperator"]),
    "transformer-tensorrt": ("transformer", ["--calibration", CALIB["transformer"], "--target", "tensorrt"]),
    "transformer-openvino": ("transformer", ["--calibration", CALIB["transformer"], "--target", "openvino"]),
    "transformer-tvm": ("transformer", ["--calibration", CALIB["transformer"], "--target", "tvm"]),
    "transformer21-weight-only-8": ("transformer21", ["--mode", "weight-only", "--bits", "8", "--block-size", "32"]),
    "transformer21-weight-only-4": ("transformer21", ["--mode", "weight-only", "--bits", "4", "--block-size", "32"]),
    "transformer21-weight-only-4-per-channel": ("transformer21", ["--mode", "weight-only", "--bits", "4", "--block-size", "0"]),
    "transformer21-static": ("transformer21", ["--calibration", CALIB["transformer"], "--per-channel"]),
    # opset 17: the emitter converts the model to opset 21 for block-wise DequantizeLinear (and says so)
    "transformer-weight-only-4-opset17": ("transformer", ["--mode", "weight-only", "--bits", "4", "--block-size", "32"]),
}


@pytest.fixture(scope="module", autouse=True)
def transformer21(tmp_path_factory):
    """The transformer at opset 21 (block-wise DequantizeLinear needs it), by onnx's version converter."""
    from onnx import version_converter
    path = tmp_path_factory.mktemp("opset21") / "transformer21.onnx"
    onnx.save(version_converter.convert_version(onnx.load(str(TRANSFORMER)), 21), str(path))
    MODELS["transformer21"] = path
    CALIB["transformer21"] = CALIB["transformer"]
    yield path


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_checks_and_runs(case, tmp_path):
    model, args = CASES[case]
    src = MODELS[model]
    before = kl.tree_snapshot(Q)
    run, out = quantize(tmp_path, model, *args)
    assert run.rc == 0, run.describe()
    assert kl.tree_snapshot(Q) == before, f"{case}: quantizing changed files under Fixtures/quantize"
    onnx.checker.check_model(str(out), full_check=True)
    g_in, g_out = onnx.load(str(src)).graph, onnx.load(str(out)).graph
    assert [(i.name, i.type) for i in g_out.input] == [(i.name, i.type) for i in g_in.input], "graph inputs changed"
    assert [(o.name, o.type) for o in g_out.output] == [(o.name, o.type) for o in g_in.output], "graph outputs changed"
    worst, top1 = agreement(src, out, load_samples(CALIB[model], src))
    assert worst > 0.9, f"{case}: worst-output cosine vs float is {worst:.4f}"
    ops = set(op_types(out))
    if "--mode" in args and args[args.index("--mode") + 1] == "weight-only":
        assert "DequantizeLinear" in ops and "QuantizeLinear" not in ops, ops
    elif "--format" in args and "qoperator" in args:
        assert ops & {"QLinearConv", "QLinearMatMul"}, ops
    elif "--calibration" in args:
        assert "QuantizeLinear" in ops and "DequantizeLinear" in ops, ops
    else:
        assert ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}, ops
    assert out.stat().st_size < src.stat().st_size, f"{case}: output is not smaller than the float model"


# ----------------------------------------------------------------------------
# TensorRT's rules, checked structurally


def tensorrt_findings(path: Path) -> list[str]:
    """TensorRT's quantization rules, structurally. Every Q/DQ zero point is int8 0, so biases stay float
    (TensorRT's DequantizeLinear takes int8 / fp8 / int4 input, not int32)."""
    m = onnx.load(str(path))
    inits = {t.name: nh.to_array(t) for t in m.graph.initializer}
    consts = {n.output[0]: nh.to_array(n.attribute[0].t) for n in m.graph.node if n.op_type == "Constant"}
    inits.update(consts)
    producers = {o: n for n in m.graph.node for o in n.output}
    bad = []
    for n in m.graph.node:
        if n.op_type in ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger") or n.op_type.startswith("QLinear"):
            bad.append(f"{n.name}: {n.op_type} is not allowed")
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            if len(n.input) < 3 or n.input[2] not in inits:
                bad.append(f"{n.name}: no constant zero point")
                continue
            zp = inits[n.input[2]]
            if zp.dtype != np.int8 or np.any(zp != 0):
                bad.append(f"{n.name}: zero point {zp.dtype} {zp.ravel()[:4]} is not int8 0")
            if n.op_type == "DequantizeLinear" and n.input[0] in inits:
                w = inits[n.input[0]]
                if w.dtype == np.int8 and (w.min() < -127 or w.max() > 127):
                    bad.append(f"{n.name}: weight values outside [-127, 127]")
    # weights of Conv/Gemm/MatMul come through per-channel DequantizeLinear of int8 initializers
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        dq = producers.get(n.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            if n.input[1] in inits:
                bad.append(f"{n.name}: float weight {n.input[1]} is not quantized")
            continue
        if dq.input[0] in inits:
            scale = inits[dq.input[1]]
            if inits[dq.input[0]].ndim >= 2 and scale.size <= 1 and inits[dq.input[0]].shape[0] > 1:
                bad.append(f"{n.name}: weight {dq.input[0]} is quantized per tensor, TensorRT wants per channel")
    return bad


@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_tensorrt_rules(model, tmp_path):
    run, out = quantize(tmp_path, model, "--calibration", CALIB[model], "--target", "tensorrt")
    assert run.rc == 0, run.describe()
    findings = tensorrt_findings(out)
    assert not findings, "\n".join(findings)
    assert "QuantizeLinear" in op_types(out)


def test_tensorrt_check_catches_onnxruntime_default_output(tmp_path):
    """The structural check is not vacuous: onnxruntime's default uint8 QDQ output fails it."""
    dst = tmp_path / "ort.onnx"
    ort_static(CNN, dst, load_samples(CALIB["cnn"], CNN), per_channel=False)
    assert tensorrt_findings(dst)


# ----------------------------------------------------------------------------
# at least as good as onnxruntime.quantization


@pytest.mark.parametrize("model", ["cnn", "transformer"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
def test_static_agreement_vs_onnxruntime(model, per_channel, tmp_path):
    src, samples = MODELS[model], load_samples(CALIB[model], MODELS[model])
    ref = tmp_path / "ort.onnx"
    ort_static(src, ref, samples, per_channel)
    args = ["--calibration", CALIB[model]] + (["--per-channel"] if per_channel else [])
    run, out = quantize(tmp_path, model, *args)
    assert run.rc == 0, run.describe()
    ours, our_top1 = agreement(src, out, samples)
    theirs, their_top1 = agreement(src, ref, samples)
    assert ours >= theirs - TOLERANCE, f"kiln cosine {ours:.5f} < onnxruntime {theirs:.5f}"
    assert our_top1 >= their_top1 - 0.125, f"kiln top-1 {our_top1:.3f} < onnxruntime {their_top1:.3f}"


@pytest.mark.parametrize("model", ["cnn", "transformer"])
def test_dynamic_agreement_vs_onnxruntime(model, tmp_path):
    src, samples = MODELS[model], load_samples(CALIB[model], MODELS[model])
    ref = tmp_path / "ort.onnx"
    ort_dynamic(src, ref, per_channel=False)
    run, out = quantize(tmp_path, model, "--mode", "dynamic")
    assert run.rc == 0, run.describe()
    ours, _ = agreement(src, out, samples)
    theirs, _ = agreement(src, ref, samples)
    assert ours >= theirs - TOLERANCE, f"kiln cosine {ours:.5f} < onnxruntime {theirs:.5f}"


def test_entropy_survives_float32_min_mask(tmp_path):
    """The transformer's additive mask holds float32-min: entropy calibration still gives a usable model."""
    run, out = quantize(tmp_path, "transformer", "--calibration", CALIB["transformer"], "--method", "entropy")
    assert run.rc == 0, run.describe()
    worst, _ = agreement(TRANSFORMER, out, load_samples(CALIB["transformer"], TRANSFORMER))
    assert worst > 0.95, worst


# ----------------------------------------------------------------------------
# report


def test_report_json_fields(tmp_path):
    rep = tmp_path / "r.json"
    run, out = quantize(tmp_path, "cnn", "--calibration", CALIB["cnn"], "--eval", Q / "cnn_eval", "--report", rep)
    assert run.rc == 0, run.describe()
    doc = json.loads(rep.read_text())
    assert doc["input"] == str(CNN) and doc["output"] == str(out) and doc["outputBytes"] == out.stat().st_size
    r = doc["report"]
    assert r["schema"] == 1 and r["mode"] == "static" and r["format"] == "qdq" and r["method"] == "minmax"
    assert r["calibrationSamples"] == 8 and r["quantizedNodes"]
    acts = [t for t in r["tensors"] if t.get("chosen")]
    assert acts, "no activation tensor with a calibrated range"
    for t in r["tensors"]:
        assert t["scale"] and len(t["scale"]) == len(t["zeroPoint"]) and t["type"] in ("int8", "uint8", "int32")
    for t in acts:
        assert 0 <= t["clippedFraction"] <= 1 and t["observed"]["min"] <= t["observed"]["max"]
    acc = r["accuracy"]
    assert acc["samples"] == 4 and acc["source"] == "eval" and acc["metric"] == "1 - cosine"
    (logits,) = [o for o in acc["outputs"] if o["name"] == "logits"]
    assert 0.9 < logits["cosine"] <= 1 and logits["minCosine"] <= logits["cosine"]
    assert logits["maxAbsError"] >= 0 and 0 <= logits["top1Agreement"] <= 1
    assert abs(acc["drop"] - (1 - logits["cosine"])) < 1e-9
    assert acc["layers"], "no per-layer SQNR"
    assert all(l["sqnr"] is None or l["sqnr"] > 5 for l in acc["layers"]), acc["layers"]
    # the table on stdout carries the same numbers
    assert "SQNR" in run.stdout and "logits" in run.stdout


def test_json_stdout(tmp_path):
    run, _ = quantize(tmp_path, "transformer", "--mode", "dynamic", "--json")
    assert run.rc == 0, run.describe()
    doc = json.loads(run.stdout)
    assert doc["report"]["mode"] == "dynamic" and doc["report"]["quantizedNodes"]
    assert "\r" not in run.stderr, "progress bar drawn with --json"


def test_max_drop_keeps_sensitive_layers_in_float(tmp_path):
    rep = tmp_path / "full.json"
    run, _ = quantize(tmp_path, "transformer", "--calibration", CALIB["transformer"], "--report", rep)
    assert run.rc == 0, run.describe()
    full = json.loads(rep.read_text())["report"]["accuracy"]["drop"]
    assert full > 0
    budget = full / 2
    rep2 = tmp_path / "fit.json"
    run, out = quantize(tmp_path, "transformer", "--calibration", CALIB["transformer"], "--max-drop", f"{budget:.9g}",
                        "--report", rep2, name="fit.onnx")
    if run.rc == 1:  # cannot be met: says so, writes nothing
        assert "--max-drop" in run.stderr and not out.exists() and not rep2.exists()
        return
    assert run.rc == 0, run.describe()
    r = json.loads(rep2.read_text())["report"]
    assert r["keptInFloat"] and all(k["reason"] for k in r["keptInFloat"])
    assert r["accuracy"]["drop"] <= budget
    kept = {k["node"] for k in r["keptInFloat"]}
    assert not kept & set(r["quantizedNodes"])
    worst, _ = agreement(TRANSFORMER, out, load_samples(CALIB["transformer"], TRANSFORMER))
    assert 1 - worst <= budget + 1e-4


def test_max_drop_unmet_exits_1(tmp_path):
    run, out = quantize(tmp_path, "cnn", "--calibration", CALIB["cnn"], "--max-drop", "0")
    assert run.rc == 1, run.describe()
    assert "--max-drop" in run.stderr and "cannot be met" in run.stderr
    assert not out.exists()


# ----------------------------------------------------------------------------
# calibration cache


def test_calibration_cache_reuse_is_byte_identical(tmp_path):
    cache = tmp_path / "ranges.json"
    run, first = quantize(tmp_path, "cnn", "--calibration", CALIB["cnn"], "--calibration-cache", cache, name="a.onnx")
    assert run.rc == 0, run.describe()
    assert cache.exists()
    cached = cache.read_bytes()
    run, second = quantize(tmp_path, "cnn", "--calibration-cache", cache, name="b.onnx")
    assert run.rc == 0, run.describe()
    assert first.read_bytes() == second.read_bytes()
    assert cache.read_bytes() == cached, "reading the cache rewrote it"
    run, third = quantize(tmp_path, "cnn", "--calibration", CALIB["cnn"], "--calibration-cache", cache, name="c.onnx")
    assert run.rc == 0, run.describe()
    assert third.read_bytes() == first.read_bytes()


def test_calibration_cache_of_another_model_is_refused(tmp_path):
    cache = tmp_path / "ranges.json"
    run, _ = quantize(tmp_path, "cnn", "--calibration", CALIB["cnn"], "--calibration-cache", cache)
    assert run.rc == 0, run.describe()
    run, out = quantize(tmp_path, "transformer", "--calibration-cache", cache, name="t.onnx")
    assert run.rc == 2, run.describe()
    assert "calibration cache" in run.stderr and not out.exists()


# ----------------------------------------------------------------------------
# bad input


def _save_npz(folder: Path, name: str, **arrays):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / name, **arrays)


def _bad(tmp_path, model, *args) -> kl.Run:
    run, out = quantize(tmp_path, model, *args)
    assert run.rc == 2, run.describe()
    assert not out.exists(), "an output was written on failure"
    assert len(run.stderr.strip().splitlines()) >= 1 and run.stderr.startswith("kiln: error:")
    return run


def test_empty_calibration_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _bad(tmp_path, "cnn", "--calibration", empty)
    assert "empty" in run.stderr


def test_missing_calibration_folder(tmp_path):
    run = _bad(tmp_path, "cnn", "--calibration", tmp_path / "nope")
    assert "nope" in run.stderr


def test_sample_with_wrong_shape(tmp_path):
    d = tmp_path / "calib"
    _save_npz(d, "s0.npz", input=np.zeros((1, 3, 16, 16), np.float32))
    run = _bad(tmp_path, "cnn", "--calibration", d)
    assert "s0.npz" in run.stderr and "input" in run.stderr


def test_sample_with_wrong_dtype(tmp_path):
    d = tmp_path / "calib"
    _save_npz(d, "s0.npz", input=np.zeros((1, 3, 32, 32), np.float64))
    run = _bad(tmp_path, "cnn", "--calibration", d)
    assert "s0.npz" in run.stderr and "input" in run.stderr


def test_sample_with_nan(tmp_path):
    d = tmp_path / "calib"
    shutil.copytree(CALIB["cnn"], d)
    x = np.zeros((1, 3, 32, 32), np.float32)
    x[0, 1, 2, 3] = np.nan
    _save_npz(d, "zz_nan.npz", input=x)
    run = _bad(tmp_path, "cnn", "--calibration", d)
    assert "zz_nan.npz" in run.stderr and ("NaN" in run.stderr or "nan" in run.stderr.lower())


def test_sample_missing_an_input(tmp_path):
    d = tmp_path / "calib" / "s0"
    d.mkdir(parents=True)
    np.save(d / "hidden.npy", np.zeros((1, 16, 64), np.float32))
    run = _bad(tmp_path, "transformer", "--calibration", d.parent)
    assert "attention_mask" in run.stderr


def test_model_without_quantizable_op(tmp_path):
    g = h.make_graph([h.make_node("Relu", ["x"], ["r"], name="relu"), h.make_node("Add", ["r", "x"], ["y"], name="add")],
                     "plain", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                     [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])])
    src = tmp_path / "plain.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), src)
    out = tmp_path / "q.onnx"
    run = kl.run_kiln("quantize", src, "-o", out, "--mode", "dynamic")
    assert run.rc == 2, run.describe()
    assert "no quantizable op" in run.stderr and not out.exists()


def test_static_without_samples_is_a_usage_error(tmp_path):
    run = _bad(tmp_path, "cnn", "--mode", "static")
    assert "--calibration" in run.stderr


def test_input_is_never_modified(tmp_path):
    src = tmp_path / "cnn.onnx"
    shutil.copyfile(CNN, src)
    digest = kl.sha256(src)
    out = tmp_path / "q.onnx"
    run = kl.run_kiln("quantize", src, "-o", out, "--calibration", CALIB["cnn"], "--report", tmp_path / "r.json")
    assert run.rc == 0, run.describe()
    assert kl.sha256(src) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx", "q.onnx", "r.json"]
