"""`kiln convert --opset N`: converted models are valid and compute the same numbers.

Models: every Fixtures/*.onnx that onnxruntime runs (MANIFEST.json), every
Fixtures/optimize/*.onnx, and every NODE_OPSET_SAMPLE-th case of the ONNX backend
node suite (NODE_SUITE; the default stride 10 keeps this file under ~4 minutes on 2
busy cores with a debug build; NODE_OPSET_SAMPLE=1 runs all 1,885 cases: 5 minutes).
Only the conversions the selected tests need run, so a -k filter checks a few cases in
seconds. Sequence outputs are compared element by element.

Targets: opsets 11, 13, 17, 21 and the highest onnx knows. For each model and target:
  - `kiln convert IN -o OUT --opset N` exits 0, or exits 1 with a refusal that names
    the node and writes nothing (counted, and the test skips with Kiln's reason);
  - the output imports the target opset and passes onnx.checker (full_check) whenever
    the original does;
  - onnxruntime gives the same outputs as for the original (rtol 1e-4, atol 1e-5) on
    the node suite's own inputs (random inputs for fixtures), when onnxruntime can
    run both (it is skipped, with the reason, for opsets it does not implement); where
    onnxruntime's kernels for the two opsets disagree, the suite's reference output decides.
The number of successful conversions must stay at or above SUCCESS_FLOOR (refusals
are allowed, regressions are not); the terminal summary prints the counts.
Conversions run in a thread pool of 2; each original runs once in onnxruntime.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest

import kilnlib as kl
from conftest import node_suite_dir

HIGHEST = onnx.defs.onnx_opset_version()
TARGETS = (11, 13, 17, 21, HIGHEST)
RTOL, ATOL = 1e-4, 1e-5
NODE_OPSET_SAMPLE = int(os.environ.get("NODE_OPSET_SAMPLE", "10"))
# Successful conversions (exit 0) with the default sample: 812 of 1,065 measured at commit time.
SUCCESS_FLOOR = int(os.environ.get("KILN_OPSET_FLOOR", "800"))


def _models() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, info in sorted(kl.manifest().items()):
        if info["onnxruntime"]:
            out[f"fixtures/{name.removesuffix('.onnx')}"] = kl.FIXTURES / name
    for p in sorted((kl.FIXTURES / "optimize").glob("*.onnx")):
        out[f"optimize/{p.stem}"] = p
    suite = node_suite_dir()
    if NODE_OPSET_SAMPLE > 0 and suite.is_dir():
        cases = sorted(p.name for p in suite.iterdir() if (p / "model.onnx").is_file())
        for case in cases[::NODE_OPSET_SAMPLE]:
            out[f"node/{case}"] = suite / case / "model.onnx"
    return out


MODELS = _models()
JOBS = [(m, t) for m in MODELS for t in TARGETS]
COUNTS: dict[str, int] = {"converted": 0, "refused": 0, "ort-compared": 0, "ort-skipped": 0}
REFUSALS: list[str] = []


class Conversions:
    """Runs every (model, target) conversion once, two at a time, on first use."""

    def __init__(self, root: Path):
        self.root = root
        self.results: dict[tuple[str, int], tuple[kl.Run, Path]] = {}
        self.lock = threading.Lock()

    def _one(self, job: tuple[str, int]) -> None:
        model_id, target = job
        out = self.root / f"{model_id.replace('/', '__')}.{target}.onnx"
        run = kl.run_kiln("convert", MODELS[model_id], "-o", out, "--opset", str(target))
        with self.lock:
            self.results[job] = (run, out)

    def run_all(self, jobs) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(self._one, jobs))


class Summary:
    """Prints the counts at the end of the run (registered as a plugin by `conversions`)."""

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("kiln convert --opset")
        terminalreporter.write_line(f"conversions: {COUNTS} of {len(JOBS)} (floor {SUCCESS_FLOOR})")
        for line in REFUSALS[:40]:
            terminalreporter.write_line(f"  refused {line}")
        if len(REFUSALS) > 40:
            terminalreporter.write_line(f"  ... {len(REFUSALS) - 40} more refusals")


@pytest.fixture(scope="session")
def conversions(tmp_path_factory, request) -> Conversions:
    request.config.pluginmanager.register(Summary(), "kiln-opset-summary")
    c = Conversions(tmp_path_factory.mktemp("opset"))
    # Only the conversions the selected tests use (`-k` filters run a few cases quickly).
    # Other test files share the session (and parameter names such as model_id): take this file's only.
    selected = {(item.callspec.params["model_id"], item.callspec.params["target"])
                for item in request.session.items
                if hasattr(item, "callspec") and Path(str(item.fspath)).name == Path(__file__).name
                and {"model_id", "target"} <= item.callspec.params.keys()}
    c.run_all([job for job in JOBS if job in selected])
    return c


_ORIGINALS: dict[str, object] = {}


def node_feeds(path: Path, model: onnx.ModelProto) -> dict[str, np.ndarray] | None:
    data = path.parent / "test_data_set_0"
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for i, inp in enumerate(i for i in model.graph.input if i.name not in inits):
        f = data / f"input_{i}.pb"
        if not f.is_file() or not inp.type.HasField("tensor_type"):
            return None
        t = onnx.TensorProto()
        t.ParseFromString(f.read_bytes())
        feeds[inp.name] = onnx.numpy_helper.to_array(t)
    return feeds


def original(model_id: str):
    """(feeds, outputs) of the original in onnxruntime, or a skip reason string."""
    if model_id not in _ORIGINALS:
        path = MODELS[model_id]
        model = kl.load(path, external=False)
        feeds = node_feeds(path, model) if model_id.startswith("node/") else kl.random_feeds(model, 0)
        if feeds is None:
            _ORIGINALS[model_id] = "an input is not a plain tensor with data"
        else:
            try:
                _ORIGINALS[model_id] = (feeds, kl.ort_run(path, feeds))
            except Exception as e:  # noqa: BLE001
                _ORIGINALS[model_id] = f"onnxruntime cannot run the original: {str(e).splitlines()[0][:200]}"
    return _ORIGINALS[model_id]


_CHECKED: dict[str, str | None] = {}


def original_checker_error(model_id: str) -> str | None:
    if model_id not in _CHECKED:
        _CHECKED[model_id] = kl.checker_error(MODELS[model_id])
    return _CHECKED[model_id]


def expected_outputs(model_id: str) -> list[np.ndarray] | None:
    """The node suite's reference outputs (test_data_set_0/output_*.pb), if any."""
    if not model_id.startswith("node/"):
        return None
    data = MODELS[model_id].parent / "test_data_set_0"
    files = sorted(data.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    out = []
    for f in files:
        t = onnx.TensorProto()
        try:
            t.ParseFromString(f.read_bytes())
        except Exception:  # noqa: BLE001  (a sequence or optional output)
            return None
        out.append(onnx.numpy_helper.to_array(t))
    return out or None


def close(a, b) -> bool:
    if isinstance(a, list) or isinstance(b, list):  # a sequence output: element by element
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(close, a, b))
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        # float16 results: onnxruntime may pick another kernel at another opset (float accumulation).
        rtol, atol = (1e-3, 1e-3) if a.dtype == np.float16 else (RTOL, ATOL)
        return bool(np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(a, b))


def test_kiln_has_opset_option():
    run = kl.run_kiln("convert", "--help")
    assert "--opset" in run.stdout + run.stderr


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model_id", list(MODELS))
def test_converted_model(model_id, target, conversions):
    run, out = conversions.results[(model_id, target)]
    if run.rc != 0:
        assert run.rc == 1, f"exit {run.rc}: {run.stderr}"
        assert "cannot convert" in run.stderr or "fails the checker" in run.stderr, run.stderr
        assert not out.exists(), "a refused conversion wrote its output"
        COUNTS["refused"] += 1
        REFUSALS.append(f"{model_id} -> {target}: {run.stderr.strip()[:160]}")
        pytest.skip(f"kiln refuses: {run.stderr.strip()[:300]}")
    COUNTS["converted"] += 1
    converted = kl.load(out, external=False)
    versions = {o.domain or "ai.onnx": o.version for o in converted.opset_import}
    assert versions.get("ai.onnx") == target
    problem = kl.checker_error(out)
    if problem is not None and original_checker_error(model_id) is not None:
        pytest.skip(f"onnx.checker rejects the original too: {original_checker_error(model_id)[:200]}")
    assert problem is None, f"onnx.checker rejects the output: {problem}"
    ref = original(model_id)
    if isinstance(ref, str):
        COUNTS["ort-skipped"] += 1
        pytest.skip(ref)
    feeds, want = ref
    try:
        got = kl.ort_run(out, feeds)
    except Exception as e:  # noqa: BLE001
        message = str(e).splitlines()[0]
        low = message.lower()
        if "not_implemented" in low or ("opset" in low and ("not supported" in low or "under development" in low
                                                             or "unsupported" in low)):
            COUNTS["ort-skipped"] += 1
            pytest.skip(f"onnxruntime does not run opset {target}: {message[:200]}")
        raise
    COUNTS["ort-compared"] += 1
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(want, got)):
        if close(a, b):
            continue
        # onnxruntime's kernels for two opsets of one operator may differ; the suite's own
        # reference output decides then.
        expected = expected_outputs(model_id)
        if expected is not None and k < len(expected) and close(expected[k], b):
            continue
        if isinstance(a, list) or isinstance(b, list):
            raise AssertionError(f"output {k} (a sequence) differs")
        a, b = np.asarray(a), np.asarray(b)
        detail = f"max |d| {np.nanmax(np.abs(b.astype(np.float64) - a.astype(np.float64)))}" if a.shape == b.shape and a.dtype.kind in "fciu" else ""
        raise AssertionError(f"output {k} differs: {a.dtype}{list(a.shape)} -> {b.dtype}{list(b.shape)} {detail}")


def test_refusals_name_the_node(tmp_path):
    """A node Kiln cannot convert: exit 1, one line naming node, op and reason, nothing written."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 3])
    node = onnx.helper.make_node("Trilu", ["x"], ["y"], name="upper")
    model = onnx.helper.make_model(onnx.helper.make_graph([node], "g", [x], [y]),
                                   opset_imports=[onnx.helper.make_opsetid("", 14)])
    src, dst = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(model, src)
    before = kl.sha256(src)
    run = kl.run_kiln("convert", src, "-o", dst, "--opset", "13")
    assert run.rc == 1, run.stderr
    assert "'upper'" in run.stderr and "Trilu" in run.stderr and "opset 14" in run.stderr
    assert not dst.exists() and kl.sha256(src) == before


def test_round_trip_keeps_numbers(tmp_path):
    """Up to the highest opset and back down to 13 computes what the original computes."""
    src = kl.FIXTURES / "optimize" / "transformer_opset17.onnx"
    up, down = tmp_path / "up.onnx", tmp_path / "down.onnx"
    assert kl.run_kiln("convert", src, "-o", up, "--opset", str(HIGHEST)).rc == 0
    assert kl.run_kiln("convert", up, "-o", down, "--opset", "13").rc == 0
    model = kl.load(src)
    feeds = kl.random_feeds(model, 3)
    for a, b in zip(kl.ort_run(src, feeds), kl.ort_run(down, feeds)):
        assert np.allclose(a, b, rtol=RTOL, atol=ATOL)


def test_success_count_floor():
    """Runs last (pytest keeps file order): conversions that succeeded must not regress."""
    total = COUNTS["converted"] + COUNTS["refused"]
    if total < len(JOBS):
        pytest.skip("not every conversion ran (a -k filter or -x stop)")
    assert COUNTS["converted"] >= SUCCESS_FLOOR, f"{COUNTS} below the floor {SUCCESS_FLOOR}"
