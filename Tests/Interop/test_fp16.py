"""`kiln convert --fp16 / --bf16 [--keep-io-types] [--block-op OP]` against onnx and onnxruntime.

Every fixture (Fixtures/*.onnx, Fixtures/external/model.onnx, Fixtures/optimize/*.onnx), and every
ONNX backend node-suite model (with --keep-io-types), is converted with --fp16 and with --fp16
--keep-io-types: the onnx checker (full check) accepts the result,
onnxruntime loads and runs it, and every float output is within 1e-2 of the float32 original's by
max |a - b| / max |a| (exact for integer and bool outputs). Fixtures without float32 compute are
skipped with the reason; a fixture Kiln refuses must be refused with exit 2 and nothing written.

bfloat16: onnxruntime's CPU provider has almost no bfloat16 kernels (Add, Relu, MatMul, ReduceMean,
Softmax ... all missing in 1.32), so "runs in onnxruntime" cannot mean outputs there. What is checked:
the onnx checker accepts the model; onnxruntime either runs it or refuses it only for a missing
kernel (NOT_IMPLEMENTED), never for a type error (a Cast whose type disagrees with its reader is
caught when the graph is resolved, before kernels are looked up); Kiln's evaluator (`kiln run`, which
has bfloat16 kernels) gives outputs within 5e-2 of onnxruntime's float32 ones.

The terminal summary prints the size ratio (converted / original) and conversion times.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

import kilnlib as kl

TOL_FP16 = 1e-2
TOL_BF16 = 5e-2
FIXTURES = sorted([p for p in kl.FIXTURES.glob("*.onnx")] + [kl.FIXTURES / "external" / "model.onnx"]
                  + sorted((kl.FIXTURES / "optimize").glob("*.onnx")))
IDS = [str(p.relative_to(kl.FIXTURES)) for p in FIXTURES]
PATHS = dict(zip(IDS, FIXTURES))
# Fixtures Kiln refuses to convert, with a piece of the message.
REFUSED = {"training.onnx": "training_info"}
SIZES: dict[str, tuple[int, int, float]] = {}


def _meta(model: onnx.ModelProto, key: str) -> dict:
    for p in model.metadata_props:
        if p.key == key:
            return json.loads(p.value)
    return {}


def total_bytes(path: Path) -> int:
    """The model file plus its external data files."""
    n = path.stat().st_size
    m = kl.load(path, external=False)
    files = {e.value for _, t in kl.walk_tensors(m) for e in t.external_data if e.key == "location"}
    return n + sum((path.parent / f).stat().st_size for f in files)


def float_compute(model: onnx.ModelProto) -> bool:
    """Whether the model has float32 weights, inputs or outputs."""
    F = onnx.TensorProto.FLOAT
    if any(t.data_type == F for _, t in kl.walk_tensors(model)):
        return True
    vis = list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info)
    return any(v.type.HasField("tensor_type") and v.type.tensor_type.elem_type == F for v in vis)


def feeds_for(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Random inputs; dynamic dims at the fixture's `kiln.optimize.dims` first size (else 2),
    integer inputs inside `kiln.optimize.ranges`."""
    sizes = _meta(model, "kiln.optimize.dims")
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for inp in fixed.graph.input:
        if inp.type.HasField("tensor_type"):
            for d in inp.type.tensor_type.shape.dim:
                if not d.HasField("dim_value"):
                    d.dim_value = sizes.get(d.dim_param, [2])[0]
    feeds = kl.random_feeds(fixed, 0)
    if feeds is None:
        pytest.skip("an input is not a plain tensor")
    rng = np.random.default_rng(1000)
    for name, (lo, hi) in _meta(model, "kiln.optimize.ranges").items():
        if name in feeds:
            feeds[name] = rng.integers(lo, hi, size=feeds[name].shape).astype(feeds[name].dtype)
    return feeds


def session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_ort(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs by name; each feed is cast to the element type the model declares for it."""
    sess = session(path)
    model = kl.load(path, external=False)
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input if i.type.HasField("tensor_type")}
    wanted = {i.name for i in sess.get_inputs()}
    cast = {k: v.astype(onnx.helper.tensor_dtype_to_np_dtype(types[k])) for k, v in feeds.items() if k in wanted}
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, cast)))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & (a == b)
    ok = both_nan | same_inf
    scale = float(np.max(np.abs(np.where(ok | ~np.isfinite(a), 0, a)), initial=0.0))
    with np.errstate(invalid="ignore"):
        diff = np.where(ok, 0, np.abs(a - b))
    return float(np.max(diff, initial=0.0)) / max(scale, 1e-12)


def compare(want: dict[str, np.ndarray], got: dict[str, np.ndarray], tol: float) -> list[str]:
    problems = []
    if list(want) != list(got):
        problems.append(f"graph outputs changed: {list(want)} -> {list(got)}")
    for name, a in want.items():
        b = got.get(name)
        if b is None:
            continue
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            problems.append(f"{name}: shape {list(a.shape)} -> {list(b.shape)}")
        elif a.dtype.kind == "f":
            e = relative_error(a, b)
            if not e <= tol:
                problems.append(f"{name}: max |a-b| / max |a| = {e:.3g} > {tol}")
        elif not np.array_equal(a, b):
            problems.append(f"{name}: {int((a != b).sum())}/{a.size} elements differ")
    return problems


def convert(src: Path, dst: Path, *flags: str) -> kl.Run:
    return kl.run_kiln("convert", src, "-o", dst, *flags)


def original(model_id: str) -> Path:
    path = PATHS[model_id]
    model = kl.load(path)
    if not float_compute(model):
        pytest.skip("no float32 weights, inputs or outputs: nothing to convert")
    return path


# ----------------------------------------------------------------------------
# float16


@pytest.mark.parametrize("flags", [["--fp16"], ["--fp16", "--keep-io-types"]], ids=["fp16", "fp16-keep-io"])
@pytest.mark.parametrize("model_id", IDS)
def test_fp16_checker_and_onnxruntime(model_id, flags, tmp_path):
    src = original(model_id)
    dst = tmp_path / "out.onnx"
    before = kl.tree_snapshot(src.parent)
    t0 = time.monotonic()
    r = convert(src, dst, *flags)
    seconds = time.monotonic() - t0
    assert kl.tree_snapshot(src.parent) == before, "the input folder changed"
    if model_id in REFUSED:
        assert r.rc == 2, r.describe()
        assert REFUSED[model_id] in r.stderr, r.describe()
        assert not dst.exists()
        return
    assert r.rc == 0, r.describe()
    assert r.stdout.count("\n") >= 1 and "float16:" in r.stdout, r.stdout
    err = kl.checker_error(dst)
    assert err is None, f"onnx checker: {err}"
    if "--keep-io-types" in flags:
        a, b = kl.load(src, external=False), kl.load(dst, external=False)
        assert [(i.name, i.type) for i in a.graph.input] == [(i.name, i.type) for i in b.graph.input]
        assert [(o.name, o.type.tensor_type.elem_type) for o in a.graph.output] == \
               [(o.name, o.type.tensor_type.elem_type) for o in b.graph.output]
    else:
        SIZES[model_id] = (total_bytes(src), total_bytes(dst), seconds)
    if not kl.manifest().get(model_id, {}).get("onnxruntime", True):
        pytest.skip("the float32 original does not run in onnxruntime (manifest)")
    feeds = feeds_for(kl.load(src, external=False))
    want = run_ort(src, feeds)
    got = run_ort(dst, feeds)
    if "clamped to" in r.stdout:
        # dtypes.onnx holds 3e38 on purpose: no float16 model can give that back.
        pytest.skip(f"weights beyond float16's range, clamped and reported: {r.stdout.strip()}")
    problems = compare(want, got, TOL_FP16)
    assert not problems, "; ".join(problems)


def float_weight_bytes(path: Path) -> int:
    m = kl.load(path)
    return sum(kl.tensor_nbytes(t) for _, t in kl.walk_tensors(m) if t.data_type == onnx.TensorProto.FLOAT)


@pytest.mark.parametrize("model_id", ["mlp.onnx", "cnn.onnx", "external/model.onnx", "optimize/transformer_opset17.onnx",
                                      "optimize/resnet_block.onnx", "optimize/external_weights.onnx"])
def test_weights_halve(model_id, tmp_path):
    """Float32 weights take half the bytes; the rest of the file (graph structure) stays: the size
    ratio is (total - weights / 2) / total, within 3 points (names of the few Casts added)."""
    src = PATHS[model_id]
    dst = tmp_path / "out.onnx"
    r = convert(src, dst, "--fp16")
    assert r.rc == 0, r.describe()
    total, weights = total_bytes(src), float_weight_bytes(src)
    expected = (total - weights / 2) / total
    ratio = total_bytes(dst) / total
    assert ratio <= expected + 0.03, f"{model_id}: size ratio {ratio:.3f}, expected about {expected:.3f}"
    if weights > 0.9 * total:
        assert ratio <= 0.56, f"{model_id}: size ratio {ratio:.3f}"


def test_block_op_and_summary(tmp_path):
    src = PATHS["optimize/transformer_opset17.onnx"]
    dst = tmp_path / "t.onnx"
    r = convert(src, dst, "--fp16", "--keep-io-types", "--block-op", "Softmax", "--block-op", "MatMul")
    assert r.rc == 0, r.describe()
    assert "Softmax x" in r.stdout and "MatMul x" in r.stdout, r.stdout
    m = kl.load(dst)
    F = onnx.TensorProto.FLOAT
    # Every MatMul and Softmax reads float32: through a Cast (to float) or a float32 value.
    produced = {o: n for n in m.graph.node for o in n.output}
    inits = {t.name: t for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type in ("MatMul", "Softmax"):
            for x in n.input:
                if x in inits:
                    assert inits[x].data_type == F, f"{n.name}: {x}"
                elif x in produced and produced[x].op_type == "Cast":
                    assert onnx.helper.get_attribute_value(produced[x].attribute[0]) == F
    assert kl.checker_error(dst) is None
    feeds = feeds_for(kl.load(src, external=False))
    assert not compare(run_ort(src, feeds), run_ort(dst, feeds), TOL_FP16)


# ----------------------------------------------------------------------------
# bfloat16


def kiln_run_outputs(path: Path, feeds: dict[str, np.ndarray], tmp: Path) -> dict[str, np.ndarray]:
    """Outputs of Kiln's evaluator (`kiln run`), float32 feeds cast to the model's input types."""
    import ml_dtypes  # noqa: F401  (numpy bfloat16)

    model = kl.load(path, external=False)
    args = []
    for inp in model.graph.input:
        if inp.name not in feeds:
            continue
        t = onnx.numpy_helper.from_array(feeds[inp.name].astype(np.float32) if feeds[inp.name].dtype.kind == "f"
                                         else feeds[inp.name], inp.name)
        if inp.type.tensor_type.elem_type == onnx.TensorProto.BFLOAT16:
            t = onnx.helper.make_tensor(inp.name, onnx.TensorProto.BFLOAT16, feeds[inp.name].shape,
                                        feeds[inp.name].astype(np.float32).flatten().tolist())
        f = tmp / f"in_{len(args)}.pb"
        f.write_bytes(t.SerializeToString())
        args.append(f"{inp.name}={f}")
    out_dir = tmp / "out"
    out_dir.mkdir(exist_ok=True)
    r = kl.run_kiln("run", path, *args, "--output-dir", out_dir)
    assert r.rc == 0, r.describe()
    outs = {}
    for i, o in enumerate(model.graph.output):
        t = onnx.TensorProto()
        t.ParseFromString((out_dir / f"output_{i}.pb").read_bytes())
        outs[o.name] = onnx.numpy_helper.to_array(t).astype(np.float64) if t.data_type in (
            onnx.TensorProto.BFLOAT16, onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT) else onnx.numpy_helper.to_array(t)
    return outs


BF16_MODELS = ["mlp.onnx", "cnn.onnx", "optimize/transformer_opset17.onnx", "optimize/transformer_opset23.onnx",
               "optimize/resnet_block.onnx"]


@pytest.mark.parametrize("model_id", BF16_MODELS)
def test_bf16(model_id, tmp_path):
    src = PATHS[model_id]
    opset = next(o.version for o in kl.load(src, external=False).opset_import if o.domain in ("", "ai.onnx"))
    dst = tmp_path / "bf16.onnx"
    r = convert(src, dst, "--bf16", "--keep-io-types")
    if opset < 13:
        assert r.rc == 2 and "opset 13" in r.stderr, r.describe()
        assert not dst.exists()
        return
    assert r.rc == 0, r.describe()
    assert kl.checker_error(dst) is None
    m = kl.load(dst, external=False)
    assert any(t.data_type == onnx.TensorProto.BFLOAT16 for t in m.graph.initializer), "no bfloat16 weight"
    feeds = feeds_for(kl.load(src, external=False))
    want = run_ort(src, feeds)
    try:
        got = run_ort(dst, feeds)
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        assert "NOT_IMPLEMENTED" in msg and "Type Error" not in msg and "INVALID_GRAPH" not in msg, msg
        got = kiln_run_outputs(dst, feeds, tmp_path)
    problems = compare(want, {k: np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else v
                              for k, v in got.items()}, TOL_BF16)
    assert not problems, "; ".join(problems)


# ----------------------------------------------------------------------------
# the ONNX backend node suite


def _node_case_feeds(case: Path, model: onnx.ModelProto) -> dict[str, np.ndarray] | None:
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for i, inp in enumerate(x for x in model.graph.input if x.name not in inits):
        f = case / "test_data_set_0" / f"input_{i}.pb"
        if not f.is_file() or not inp.type.HasField("tensor_type"):
            return None
        t = onnx.TensorProto()
        t.ParseFromString(f.read_bytes())
        feeds[inp.name] = onnx.numpy_helper.to_array(t)
    return feeds


def test_node_suite_fp16(node_suite, tmp_path):
    """Every node-suite model with float32 compute whose original onnxruntime runs and the onnx
    checker accepts, converted with --fp16 --keep-io-types: checker passes, onnxruntime runs it,
    tensor outputs within 1e-2. Models importing no ai.onnx opset (ai.onnx.ml only) are refused."""
    counts = {"ok": 0, "refused (no ai.onnx opset)": 0, "not comparable": 0}
    failures = []
    for case in sorted(p for p in node_suite.iterdir() if (p / "model.onnx").is_file()):
        src = case / "model.onnx"
        model = kl.load(src)
        if not float_compute(model):
            continue
        feeds = _node_case_feeds(case, model)
        if feeds is None or kl.checker_error(src):
            counts["not comparable"] += 1
            continue
        try:
            want = run_ort(src, feeds)
        except Exception:  # noqa: BLE001 - the original does not run there
            counts["not comparable"] += 1
            continue
        dst = tmp_path / f"{case.name}.onnx"
        r = convert(src, dst, "--fp16", "--keep-io-types")
        if r.rc != 0:
            if r.rc == 2 and "imports no ai.onnx opset" in r.stderr:
                counts["refused (no ai.onnx opset)"] += 1
            else:
                failures.append(f"{case.name}: {r.describe()}")
            continue
        err = kl.checker_error(dst)
        if err:
            failures.append(f"{case.name}: checker: {err}")
            continue
        try:
            got = run_ort(dst, feeds)
        except Exception as e:  # noqa: BLE001
            failures.append(f"{case.name}: onnxruntime: {str(e)[:200]}")
            continue
        if any(isinstance(v, list) for v in want.values()):
            counts["not comparable"] += 1  # sequence outputs
            continue
        problems = compare(want, got, TOL_FP16)
        if problems:
            failures.append(f"{case.name}: {problems[0]}")
        else:
            counts["ok"] += 1
    print(f"node suite --fp16 --keep-io-types: {counts}, {len(failures)} failures")
    assert counts["ok"] > 1000, counts
    assert not failures, "\n".join(failures[:20])


# ----------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("flags,message", [
    (["--fp16", "--bf16"], "exclude each other"),
    (["--keep-io-types"], "need --fp16 or --bf16"),
    (["--block-op", "Exp"], "need --fp16 or --bf16"),
    (["--fp16", "--block-op", "NoSuchOp"], "NoSuchOp"),
], ids=["fp16-and-bf16", "keep-io-alone", "block-op-alone", "unknown-op"])
def test_bad_flags_exit_2(flags, message, tmp_path):
    dst = tmp_path / "out.onnx"
    r = convert(PATHS["mlp.onnx"], dst, *flags)
    assert r.rc == 2, r.describe()
    assert message in r.stderr, r.describe()
    assert not dst.exists()


def test_bf16_old_opset_refused(tmp_path):
    src = tmp_path / "old.onnx"
    m = kl.load(PATHS["mlp.onnx"])
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 11
    onnx.save(m, str(src))
    r = convert(src, tmp_path / "out.onnx", "--bf16")
    assert r.rc == 2 and "opset 13" in r.stderr and str(src) in r.stderr, r.describe()
    assert not (tmp_path / "out.onnx").exists()


def test_after_opset_conversion(tmp_path):
    """`--opset 13 --fp16`: the precision conversion runs on the opset-13 model (last in convert)."""
    src = PATHS["optimize/transformer_opset17.onnx"]
    dst = tmp_path / "t13.onnx"
    r = convert(src, dst, "--opset", "13", "--fp16", "--keep-io-types")
    assert r.rc == 0, r.describe()
    m = kl.load(dst, external=False)
    assert [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [13]
    assert kl.checker_error(dst) is None
    feeds = feeds_for(kl.load(src, external=False))
    assert not compare(run_ort(src, feeds), run_ort(dst, feeds), TOL_FP16)


def test_output_may_replace_input(tmp_path):
    src = tmp_path / "m.onnx"
    shutil.copy(PATHS["mlp.onnx"], src)
    r = convert(src, src, "--fp16")
    assert r.rc == 0, r.describe()
    assert kl.checker_error(src) is None


@pytest.fixture(scope="session", autouse=True)
def _size_table(request):
    """Prints the size ratio and conversion time of every fixture converted with --fp16."""
    yield
    if not SIZES:
        return
    lines = ["", "kiln convert --fp16: size (model + external data) and time"]
    for k, (a, b, s) in sorted(SIZES.items()):
        lines.append(f"  {k:40s} {a:9d} -> {b:9d} bytes  ratio {b / a:.3f}  {s:.2f} s")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n".join(lines))
