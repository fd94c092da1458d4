"""`kiln conformance` over the ONNX backend node suite, and `kiln run` on its test data.

The pass count must not drop below the floor committed in conformance_floor.txt (raise it as
kernels land). `kiln run` results are checked here with numpy against the suite's expected
outputs, independently of Kiln's own comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import kilnlib as kl

FLOOR_FILE = Path(__file__).parent / "conformance_floor.txt"


def _floor() -> int:
    return int(FLOOR_FILE.read_text().split()[0])


def test_node_suite_pass_count_at_or_above_floor(node_suite):
    floor = _floor()
    run = kl.run_kiln("conformance", node_suite, "--json", "--floor", str(floor), timeout=1800)
    assert run.rc in (0, 1), run.describe()
    report = json.loads(run.stdout)
    assert report["total"] == len(report["cases"])
    assert report["passed"] + report["failed"] + report["unsupported"] == report["total"]
    failing = sorted(c["name"] for c in report["cases"] if c["outcome"] == "fail")
    assert report["passed"] >= floor, (
        f"{report['passed']} node-suite cases pass, below the floor {floor}; failing: {failing[:40]}")
    assert run.rc == 0, run.describe()


def test_floor_failure_exits_1(node_suite):
    run = kl.run_kiln("conformance", node_suite, "--filter", "test_abs", "--floor", "100000")
    assert run.rc == 1, run.describe()
    assert "below the floor" in run.stderr


def test_text_report_counts_per_operator(node_suite):
    run = kl.run_kiln("conformance", node_suite, "--filter", "test_add")
    assert run.rc == 0, run.describe()
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["operator", "pass", "fail", "unsupported"]
    assert any(line.split()[0] == "Add" for line in lines[1:-1])
    assert lines[-1].startswith("total: ")


def _expected(case: Path) -> list[np.ndarray]:
    return [numpy_helper.to_array(onnx.load_tensor(str(p)))
            for p in sorted((case / "test_data_set_0").glob("output_*.pb"))]


def test_run_test_data_folder_writes_comparable_outputs(node_suite, tmp_path):
    case = node_suite / "test_gemm_all_attributes"
    run = kl.run_kiln("run", case / "model.onnx", case / "test_data_set_0", "--output-dir", tmp_path)
    assert run.rc == 0, run.describe()
    assert "float" in run.stdout and "min" in run.stdout
    got = numpy_helper.to_array(onnx.load_tensor(str(tmp_path / "output_0.pb")))
    np.testing.assert_allclose(got, _expected(case)[0], rtol=1e-3, atol=1e-7)


def test_run_named_npy_inputs_and_npy_outputs(node_suite, tmp_path):
    case = node_suite / "test_add_bcast"
    model = onnx.load(str(case / "model.onnx"))
    args = []
    for i, inp in enumerate(model.graph.input):
        arr = numpy_helper.to_array(onnx.load_tensor(str(case / "test_data_set_0" / f"input_{i}.pb")))
        path = tmp_path / f"{inp.name}.npy"
        np.save(path, arr)
        args.append(f"{inp.name}={path}")
    out = tmp_path / "out"
    run = kl.run_kiln("run", case / "model.onnx", *args, "--output-dir", out, "--format", "npy", "--json")
    assert run.rc == 0, run.describe()
    report = json.loads(run.stdout)
    assert report["schema"] == 1
    assert report["outputs"][0]["dtype"] == "float"
    got = np.load(out / "output_0.npy")
    np.testing.assert_allclose(got, _expected(case)[0], rtol=1e-6)


def test_run_missing_input_is_an_input_error(node_suite):
    case = node_suite / "test_add"
    run = kl.run_kiln("run", case / "model.onnx")
    assert run.rc == 2, run.describe()
    assert "input 'x' is missing" in run.stderr


def test_run_wrong_dtype_names_the_input(node_suite, tmp_path):
    case = node_suite / "test_add"
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((3, 4, 5), dtype=np.int64))
    y = tmp_path / "y.npy"
    np.save(y, np.zeros((3, 4, 5), dtype=np.float32))
    run = kl.run_kiln("run", case / "model.onnx", f"x={bad}", f"y={y}")
    assert run.rc == 2, run.describe()
    assert "input 'x'" in run.stderr and "int64" in run.stderr
