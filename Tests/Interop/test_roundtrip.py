"""`kiln convert` must be lossless: what it writes parses to the same ModelProto as
its input (external data loaded), passes the onnx checker whenever the input does,
and, for the ONNX backend node suite, is byte-for-byte identical to the input."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto

import kilnlib as kl
from conftest import BYTE_IDENTITY, node_suite_dir

FIXTURES = kl.fixture_files()
MANIFEST = kl.manifest()
ORT_FIXTURES = sorted(k for k, v in MANIFEST.items() if v["onnxruntime"])
_suite = node_suite_dir()
NODE_CASES = sorted(p.name for p in _suite.iterdir() if (p / "model.onnx").is_file()) if _suite.is_dir() else []


def _convert(src: Path, out: Path, *flags: str) -> kl.Run:
    return kl.run_kiln("convert", src, "-o", out, *flags)


def _fail_diff(what: str, a, b) -> str:
    diffs = kl.differences(a, b)
    return f"{what}: converted model differs from the original:\n  " + "\n  ".join(diffs)


# ----------------------------------------------------------------------------
# node suite: one kiln process per case, run in a thread pool once per session


@pytest.fixture(scope="session")
def node_suite_results(node_suite, tmp_path_factory):
    out_root = tmp_path_factory.mktemp("node_out")

    def one(case: str):
        src = node_suite / case / "model.onnx"
        out = out_root / f"{case}.onnx"
        return case, _convert(src, out), src, out

    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 1) as pool:
        return {case: (run, src, out) for case, run, src, out in pool.map(one, NODE_CASES)}


def test_node_suite_present(node_suite):
    """All cases the generator wrote are here (its VERSION file records the count)."""
    info = dict(line.split(" ", 1) for line in (node_suite / "VERSION").read_text().splitlines() if " " in line)
    assert len(NODE_CASES) == int(info["cases"]), f"{node_suite} has {len(NODE_CASES)} cases, generator wrote {info['cases']}"
    if "op" not in info:
        # onnx 1.23.2 has 1,884 node cases; fewer than 1,000 means generation went wrong.
        assert len(NODE_CASES) > 1000, f"only {len(NODE_CASES)} node cases in {node_suite}"


@pytest.mark.parametrize("case", NODE_CASES)
def test_node_suite_case_byte_identical(case, node_suite_results):
    run, src, out = node_suite_results[case]
    assert run.rc == 0, run.describe()
    assert out.is_file(), f"{case}: kiln exited 0 but wrote no {out.name}"
    a_bytes, b_bytes = src.read_bytes(), out.read_bytes()
    if a_bytes == b_bytes:
        return
    a, b = kl.load(src), kl.load(out)
    lines = [f"{case}: output is not byte-identical ({len(a_bytes)} bytes in, {len(b_bytes)} bytes out)"]
    diffs = kl.differences(a, b)
    lines.append("message differences: " + ("; ".join(diffs) if diffs else "none (same message, different encoding)"))
    if kl.checker_error(src) is None and (err := kl.checker_error(out)) is not None:
        lines.append(f"checker rejects the output: {err}")
    first = next((i for i, (x, y) in enumerate(zip(a_bytes, b_bytes)) if x != y), min(len(a_bytes), len(b_bytes)))
    lines.append(f"first differing byte offset: {first}")
    pytest.fail("\n".join(lines))


# ----------------------------------------------------------------------------
# fixtures, default mode


def test_manifest_lists_every_fixture():
    # Fixtures/optimize/ and quantize/ are written by Scripts/make_{optimize,quantize}_fixtures.py (own READMEs).
    listed = [f for f in FIXTURES if not f.startswith(("optimize/", "quantize/"))]
    assert sorted(MANIFEST) == listed, "Fixtures/MANIFEST.json is stale; run `make fixtures`"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_fixture_roundtrip(fixture, tmp_path):
    src = kl.FIXTURES / fixture
    before = kl.tree_snapshot(src.parent)
    out = tmp_path / "out.onnx"
    run = _convert(src, out)
    assert run.rc == 0, run.describe()
    assert kl.tree_snapshot(src.parent) == before, f"{fixture}: converting changed files next to the input"

    a, b = kl.load(src), kl.load(out)
    assert a == b, _fail_diff(fixture, a, b)

    in_err, out_err = kl.checker_error(src), kl.checker_error(out)
    assert in_err is not None or out_err is None, f"{fixture}: checker accepts the input but rejects the output: {out_err}"

    # Default mode keeps external tensors external under the same location and the rest inline.
    ra, rb = kl.load(src, external=False), kl.load(out, external=False)
    ta, tb = dict(kl.walk_tensors(ra)), dict(kl.walk_tensors(rb))
    assert ta.keys() == tb.keys(), f"{fixture}: tensor paths differ"
    locations = set()
    for path, t in ta.items():
        u = tb[path]
        assert kl.is_external(t) == kl.is_external(u), \
            f"{fixture}: {path} ({t.name!r}) external={kl.is_external(t)} in input but {kl.is_external(u)} in output"
        if kl.is_external(t):
            assert kl.external_info(u).get("location") == kl.external_info(t)["location"], \
                f"{fixture}: {path} ({t.name!r}) location changed: {kl.external_info(t)} -> {kl.external_info(u)}"
            locations.add(kl.external_info(t)["location"])
        else:
            assert t == u, _fail_diff(f"{fixture} {path}", t, u)
    assert sorted(os.listdir(tmp_path)) == sorted({"out.onnx"} | locations), \
        f"{fixture}: unexpected files next to the output: {sorted(os.listdir(tmp_path))}"

    same = src.read_bytes() == out.read_bytes()
    BYTE_IDENTITY[fixture] = same


@pytest.mark.parametrize("fixture", FIXTURES)
def test_fixture_output_is_a_fixed_point(fixture, tmp_path):
    """Converting Kiln's own output again gives the same bytes, and two conversions of
    the same input agree (deterministic output)."""
    src = kl.FIXTURES / fixture
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    (tmp_path / "3").mkdir()
    out1, out2, out3 = tmp_path / "1" / "m.onnx", tmp_path / "2" / "m.onnx", tmp_path / "3" / "m.onnx"
    for s, o in [(src, out1), (src, out2), (out1, out3)]:
        run = _convert(s, o)
        assert run.rc == 0, run.describe()
    assert kl.tree_snapshot(tmp_path / "1") == kl.tree_snapshot(tmp_path / "2"), \
        f"{fixture}: two conversions of the same input differ"
    assert kl.tree_snapshot(tmp_path / "1") == kl.tree_snapshot(tmp_path / "3"), \
        f"{fixture}: converting Kiln's output again changes it"


def test_unknown_fields_survive(tmp_path):
    """Spelled out for the fixture whose purpose this is (also covered by ==)."""
    from google.protobuf import unknown_fields

    src = kl.FIXTURES / "unknown_fields.onnx"
    out = tmp_path / "out.onnx"
    run = _convert(src, out)
    assert run.rc == 0, run.describe()
    data = out.read_bytes()
    for tag in ["model", "graph", "node", "attribute", "tensor", "value_info", "type", "dim", "opset", "entry",
                "function"]:
        assert b"kiln-unknown-" + tag.encode() in data, f"unknown field on {tag} message lost"
    m = kl.load(out)
    fields = sorted((f.field_number, f.wire_type) for f in unknown_fields.UnknownFieldSet(m))
    assert fields == [(1001, 2), (1002, 0), (1003, 1), (1004, 5), (1005, 0)], f"model unknown fields: {fields}"


# ----------------------------------------------------------------------------
# external data modes

MODES = {
    "none": ["--external-data", "none"],
    "preserve": ["--external-data", "preserve"],
    "single": ["--external-data", "single"],
    "single-t0": ["--external-data", "single", "--external-data-threshold", "0"],
    "single-loc": ["--external-data", "single", "--external-data-threshold", "100",
                   "--external-data-location", "weights.bin"],
    "per-tensor-t0": ["--external-data", "per-tensor", "--external-data-threshold", "0"],
    "per-tensor": ["--external-data", "per-tensor"],
}


def _threshold(flags: list[str]) -> int:
    return int(flags[flags.index("--external-data-threshold") + 1]) if "--external-data-threshold" in flags else 1024


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("fixture", FIXTURES)
def test_external_data_modes(fixture, mode, tmp_path):
    flags = MODES[mode]
    src = kl.FIXTURES / fixture
    out = tmp_path / "out.onnx"
    run = _convert(src, out, *flags)
    assert run.rc == 0, run.describe()

    a, b = kl.load(src), kl.load(out)
    sa, sb = kl.strip_tensor_data(a), kl.strip_tensor_data(b)
    assert sa == sb, _fail_diff(f"{fixture} [{mode}] (tensor data ignored)", sa, sb)
    la, lb = dict(kl.walk_tensors(a)), dict(kl.walk_tensors(b))
    for path, t in la.items():
        assert kl.same_values(t, lb[path]), f"{fixture} [{mode}]: values of {path} ({t.name!r}) changed"

    in_err, out_err = kl.checker_error(src), kl.checker_error(out)
    assert in_err is not None or out_err is None, f"{fixture} [{mode}]: checker rejects the output: {out_err}"

    raw_in, raw_out = kl.load(src, external=False), kl.load(out, external=False)
    tin, tout = dict(kl.walk_tensors(raw_in)), dict(kl.walk_tensors(raw_out))
    ext = {p: t for p, t in tout.items() if kl.is_external(t)}
    files = sorted(os.listdir(tmp_path))
    kind = flags[1]

    if kind == "none":
        assert not ext, f"{fixture} [{mode}]: tensors still external: {sorted(ext)}"
        assert files == ["out.onnx"], f"{fixture} [{mode}]: unexpected files {files}"
        if not any(kl.is_external(t) for t in tin.values()):
            assert a == b, _fail_diff(f"{fixture} [{mode}]", a, b)
        return
    if kind == "preserve":
        assert a == b, _fail_diff(f"{fixture} [{mode}]", a, b)
        assert {p for p, t in tin.items() if kl.is_external(t)} == set(ext), f"{fixture} [{mode}]: external set changed"
        return

    threshold = _threshold(flags)
    for p, t in tout.items():
        if kl.is_external(t):
            assert kl.tensor_nbytes(t) >= threshold, \
                f"{fixture} [{mode}]: {p} ({t.name!r}) has {kl.tensor_nbytes(t)} bytes < threshold {threshold} but is external"
        else:
            # What stays inline is stored exactly as in the input (no re-encoding of typed fields).
            if not kl.is_external(tin[p]):
                assert t == tin[p], _fail_diff(f"{fixture} [{mode}] inline tensor {p}", tin[p], t)
    # Every main-graph initializer with at least THRESHOLD bytes goes external, whatever
    # field (raw_data or float_data, int32_data, ...) held it in the input -- except strings and
    # float6 values in int32_data (one element per entry, while their raw layout packs four into
    # three bytes; Kiln keeps those inline rather than re-pack bits).
    missing = []
    float6 = (27, 28)
    for i, t in enumerate(a.graph.initializer):
        p = f"model.graph.initializer[{i}]"
        typed_float6 = t.data_type in float6 and not (t.HasField("raw_data") or kl.is_external(t))
        if t.data_type != TensorProto.STRING and not typed_float6 and not t.HasField("segment") \
                and kl.tensor_nbytes(t) >= max(threshold, 1) \
                and p not in ext:
            how = "raw_data" if tin[p].HasField("raw_data") or kl.is_external(tin[p]) else "typed field"
            missing.append(f"{t.name!r} ({kl.tensor_nbytes(t)} bytes, {how})")
    assert not missing, f"{fixture} [{mode}]: initializers >= {threshold} bytes left inline: {', '.join(missing)}"

    locs = [kl.external_info(t).get("location") for t in ext.values()]
    for t in ext.values():
        loc = kl.external_info(t).get("location", "")
        assert loc and not os.path.isabs(loc) and ".." not in Path(loc).parts, \
            f"{fixture} [{mode}]: bad location {loc!r} for {t.name!r}"
    if kind == "single":
        expected = flags[flags.index("--external-data-location") + 1] if "--external-data-location" in flags \
            else "out.onnx.data"
        if ext:
            assert set(locs) == {expected}, f"{fixture} [{mode}]: locations {sorted(set(locs))}, expected {expected!r}"
            _assert_disjoint_ranges(tmp_path / expected, ext.values(), f"{fixture} [{mode}]")
        assert set(files) <= {"out.onnx", expected}, f"{fixture} [{mode}]: unexpected files {files}"
    else:
        assert len(set(locs)) == len(locs), f"{fixture} [{mode}]: per-tensor locations repeat: {locs}"
        assert set(files) == {"out.onnx", *locs}, f"{fixture} [{mode}]: files {files}, locations {locs}"


def _assert_disjoint_ranges(data_file: Path, tensors, what: str) -> None:
    size = data_file.stat().st_size
    ranges = []
    for t in tensors:
        info = kl.external_info(t)
        off = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else size - off
        assert off + length <= size, f"{what}: {t.name!r} range {off}+{length} beyond {data_file.name} ({size} bytes)"
        ranges.append((off, off + length, t.name))
    ranges.sort()
    for (s0, e0, n0), (s1, e1, n1) in zip(ranges, ranges[1:]):
        assert e0 <= s1 or s0 == e0 or s1 == e1, f"{what}: external ranges of {n0!r} and {n1!r} overlap"


# ----------------------------------------------------------------------------
# external data: paths, in-place conversion


def _copy_external_fixture(dst: Path) -> Path:
    shutil.copytree(kl.FIXTURES / "external", dst)
    return dst / "model.onnx"


def test_external_written_next_to_output_with_relative_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    src = kl.FIXTURES / "external" / "model.onnx"
    run = kl.run_kiln("convert", src, "-o", "sub/converted.onnx", cwd=tmp_path)
    assert run.rc == 0, run.describe()
    assert (tmp_path / "sub" / "model.data").is_file(), f"model.data not written next to the output: {os.listdir(tmp_path / 'sub')}"
    assert kl.load(src) == kl.load(tmp_path / "sub" / "converted.onnx")


@pytest.mark.parametrize("flags", [[], ["--external-data", "single", "--external-data-location", "model.data",
                                        "--external-data-threshold", "0"]], ids=["default", "single-same-name"])
def test_convert_in_place(tmp_path, flags):
    """-o equal to the input, with the output's data file named like the input's:
    Kiln must not read data it has already overwritten."""
    original = kl.load(kl.FIXTURES / "external" / "model.onnx")
    src = _copy_external_fixture(tmp_path / "m")
    run = _convert(src, src, *flags)
    assert run.rc == 0, run.describe()
    got = kl.load(src)
    assert kl.strip_tensor_data(original) == kl.strip_tensor_data(got)
    for (p, t), (_, u) in zip(kl.walk_tensors(original), kl.walk_tensors(got)):
        assert kl.same_values(t, u), f"in-place conversion corrupted {p} ({t.name!r})"


def test_overwrite_existing_output(tmp_path):
    src = kl.FIXTURES / "mlp.onnx"
    out = tmp_path / "out.onnx"
    (tmp_path / "out.onnx.data").write_bytes(b"\xAB" * 100_000)  # stale, larger than the new one
    out.write_bytes(b"garbage")
    run = _convert(src, out, "--external-data", "single", "--external-data-threshold", "0")
    assert run.rc == 0, run.describe()
    assert kl.load(src) == _inline(kl.load(out)), "output after overwriting differs"


def _inline(m):
    for _, t in kl.walk_tensors(m):
        if t.data_location == TensorProto.DEFAULT and t.HasField("data_location"):
            t.ClearField("data_location")
    return m


# ----------------------------------------------------------------------------
# onnxruntime gives the same numbers on the original and the converted model


# Threshold 64, not 0: onnxruntime (like onnx shape inference) cannot read small
# shape-carrying inputs such as Resize scales from external data at load time.
ORT_MODES = {
    "default": [],
    "none": ["--external-data", "none"],
    "single-t64": ["--external-data", "single", "--external-data-threshold", "64"],
    "per-tensor-t64": ["--external-data", "per-tensor", "--external-data-threshold", "64"],
}


@pytest.mark.parametrize("mode", list(ORT_MODES))
@pytest.mark.parametrize("fixture", ORT_FIXTURES)
def test_onnxruntime_same_outputs(fixture, mode, tmp_path):
    src = kl.FIXTURES / fixture
    out = tmp_path / "out.onnx"
    run = _convert(src, out, *ORT_MODES[mode])
    assert run.rc == 0, run.describe()
    feeds = kl.random_feeds(kl.load(src, external=False), seed=42)
    assert feeds is not None, f"{fixture} is marked for onnxruntime but has non-tensor inputs"
    want = kl.ort_run(src, feeds)
    got = kl.ort_run(out, feeds)
    assert len(want) == len(got)
    for i, (x, y) in enumerate(zip(want, got)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), \
            f"{fixture} [{mode}]: output {i} differs (max abs diff {np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64))) if x.shape == y.shape else 'shape'})"


# ----------------------------------------------------------------------------
# structure the fixtures do not reach


def _nested_ifs(depth: int):
    """depth-1 Ifs, each then-branch holding the next; the innermost reads `x` from the main graph.
    python protobuf's parser stops at 100 message levels (3 per If): depth 30 is near its limit."""
    from onnx import helper as h

    vi = h.make_tensor_value_info
    g = h.make_graph([h.make_node("Identity", ["x"], ["y0"])], "g0", [], [vi("y0", TensorProto.FLOAT, [])])
    for d in range(1, depth):
        other = h.make_graph([h.make_node("Constant", [], [f"e{d}"], value_float=float(d))], f"else{d}", [],
                             [vi(f"e{d}", TensorProto.FLOAT, [])])
        g = h.make_graph([h.make_node("If", ["c"], [f"y{d}"], then_branch=g, else_branch=other)], f"g{d}", [],
                         [vi(f"y{d}", TensorProto.FLOAT, [])])
    top = h.make_graph(list(g.node), "nested", [vi("c", TensorProto.BOOL, []), vi("x", TensorProto.FLOAT, [])],
                       list(g.output))
    m = h.make_model(top, opset_imports=[h.make_operatorsetid("", 17)], producer_name="kiln-tests")
    m.ir_version = 8
    return m


@pytest.mark.parametrize("depth", [2, 10, 30])
def test_deeply_nested_subgraphs(depth, tmp_path):
    m = _nested_ifs(depth)
    src, out = tmp_path / "nested.onnx", tmp_path / "out.onnx"
    src.write_bytes(m.SerializeToString())
    run = _convert(src, out)
    assert run.rc == 0, run.describe()
    assert src.read_bytes() == out.read_bytes(), _fail_diff(f"nested depth {depth}", kl.load(src), kl.load(out))
    feeds = {"c": np.array(True), "x": np.array(1.5, np.float32)}
    assert kl.ort_run(out, feeds)[0] == np.float32(1.5)


@pytest.mark.skipif(os.environ.get("KILN_SLOW_TESTS") != "1", reason="set KILN_SLOW_TESTS=1 (writes ~4.4 GB)")
def test_over_2gb_inline_is_refused_and_preserve_works(tmp_path):
    """A model with 2.2 GB of external data: `--external-data none` cannot fit protobuf's
    2 GB limit and must fail cleanly; the default keeps the data external."""
    from onnx import helper as h

    n = 550_000_000  # float32 elements: 2.2 GB
    data = tmp_path / "big.data"
    with open(data, "wb") as f:
        f.truncate(n * 4)  # sparse file of zeros
    t = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[n], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "big.data"), ("offset", "0"), ("length", str(n * 4))):
        t.external_data.add(key=k, value=v)
    g = h.make_graph([h.make_node("Add", ["X", "W"], ["Y"])], "big",
                     [h.make_tensor_value_info("X", TensorProto.FLOAT, [n])],
                     [h.make_tensor_value_info("Y", TensorProto.FLOAT, [n])], [t])
    m = h.make_model(g, opset_imports=[h.make_operatorsetid("", 17)])
    src = tmp_path / "big.onnx"
    src.write_bytes(m.SerializeToString())
    (tmp_path / "none").mkdir()
    run = _convert(src, tmp_path / "none" / "out.onnx", "--external-data", "none")
    assert run.rc in (1, 2), f"inlining 2.2 GB must fail: {run.describe()}"
    assert run.stderr.strip().startswith("kiln: error:") and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert os.listdir(tmp_path / "none") == [], "files left behind by the failed conversion"
    (tmp_path / "keep").mkdir()
    run = _convert(src, tmp_path / "keep" / "out.onnx")
    assert run.rc == 0, run.describe()
    assert (tmp_path / "keep" / "big.data").stat().st_size == n * 4
