"""Bad input never crashes kiln, never writes an output, never touches the input.

Contract: exit status 2; stderr is exactly one line starting with "kiln: error:"
that names the offending file (and the tensor where there is one); no file
appears next to the output path; every file in the input folder is unchanged."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

import kilnlib as kl

MLP = kl.FIXTURES / "mlp.onnx"
EXTERNAL = kl.FIXTURES / "external" / "model.onnx"


@dataclass
class Bad:
    """A bad input made inside `root`; returns the model path plus the names the
    error line must mention (any one of `mentions` is enough)."""

    make: Callable[[Path], tuple[Path, list[str]]]
    decoder_level: bool = True  # `kiln inspect` must reject it too


def _write(root: Path, data: bytes, name: str = "model.onnx") -> Path:
    p = root / name
    p.write_bytes(data)
    return p


def _mlp_model() -> onnx.ModelProto:
    return kl.load(MLP)


def _truncated_in_raw_data(root: Path):
    data = MLP.read_bytes()
    w = _mlp_model().graph.initializer[0].raw_data
    at = data.find(w)
    assert at > 0 and len(w) > 100, "fc0.weight raw bytes not found in mlp.onnx"
    return _write(root, data[: at + len(w) // 2]), ["model.onnx"]


def _random_bytes(root: Path):
    # The first seed whose bytes the python protobuf parser rejects (so the input
    # is unambiguously not a model); fixed, so the test is deterministic.
    for seed in range(100):
        data = np.random.default_rng(seed).bytes(4096)
        try:
            onnx.ModelProto().ParseFromString(data)
        except Exception:  # noqa: BLE001
            return _write(root, data), ["model.onnx"]
    raise AssertionError("no rejected random buffer found")


def _unknown_dtype(root: Path):
    m = _mlp_model()
    m.graph.initializer[3].data_type = 99
    return _write(root, m.SerializeToString()), ["model.onnx", m.graph.initializer[3].name]


def _external(root: Path, edit: Callable[[onnx.ModelProto, Path], str]):
    """Copy the external fixture into root, apply edit(model, root) -> tensor name."""
    shutil.copyfile(EXTERNAL, root / "model.onnx")
    shutil.copyfile(EXTERNAL.parent / "model.data", root / "model.data")
    m = kl.load(root / "model.onnx", external=False)
    name = edit(m, root)
    (root / "model.onnx").write_bytes(m.SerializeToString())
    return root / "model.onnx", ["model.onnx"] if name is None else [name]


def _ext_tensor(m: onnx.ModelProto, index: int = 1) -> TensorProto:
    ext = [t for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    return ext[index]


def _set_entry(t: TensorProto, key: str, value: str | None) -> None:
    entries = [(e.key, e.value) for e in t.external_data if e.key != key]
    if value is not None:
        entries.append((key, value))
    del t.external_data[:]
    for k, v in entries:
        t.external_data.add(key=k, value=v)


def _ext_missing(root: Path):
    path, _ = _external(root, lambda m, r: None)
    (root / "model.data").unlink()
    m = kl.load(path, external=False)
    names = [t.name for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    return path, names + ["model.data"]


def _edit_entry(key: str, value: Callable[[Path], str] | str | None):
    def edit(m: onnx.ModelProto, root: Path) -> str:
        t = _ext_tensor(m)
        v = value(root) if callable(value) else value
        _set_entry(t, key, v)
        return t.name

    return lambda root: _external(root, edit)


def _outside_copy(root: Path) -> Path:
    """A real copy of the data file outside the model folder (so only the escape
    check, not a missing file, can reject it)."""
    outside = root.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copyfile(EXTERNAL.parent / "model.data", outside / "x.data")
    return outside / "x.data"


def _ext_parent(root: Path):
    _outside_copy(root)
    shutil.copyfile(EXTERNAL.parent / "model.data", root.parent / "x.data")
    return _edit_entry("location", "../x.data")(root)


def _ext_absolute(root: Path):
    return _edit_entry("location", lambda r: str(_outside_copy(r)))(root)


def _ext_symlink(root: Path):
    def edit(m: onnx.ModelProto, r: Path) -> str:
        os.symlink(_outside_copy(r), r / "link.data")
        t = _ext_tensor(m)
        _set_entry(t, "location", "link.data")
        return t.name

    return _external(root, edit)


BAD: dict[str, Bad] = {
    "empty-file": Bad(lambda r: (_write(r, b""), ["model.onnx"])),
    "truncated-half": Bad(lambda r: (_write(r, MLP.read_bytes()[: MLP.stat().st_size // 2]), ["model.onnx"])),
    "truncated-in-raw-data": Bad(_truncated_in_raw_data),
    "random-bytes": Bad(_random_bytes),
    "tensor-proto": Bad(lambda r: (_write(r, _mlp_model().graph.initializer[0].SerializeToString()), ["model.onnx"])),
    "graph-proto": Bad(lambda r: (_write(r, _mlp_model().graph.SerializeToString()), ["model.onnx"])),
    "unknown-data-type-99": Bad(_unknown_dtype),
    "external-file-missing": Bad(_ext_missing, decoder_level=False),
    "external-offset-beyond-file": Bad(_edit_entry("offset", "1048576"), decoder_level=False),
    "external-length-beyond-file": Bad(_edit_entry("length", "999999"), decoder_level=False),
    "external-offset-not-a-number": Bad(_edit_entry("offset", "12abc"), decoder_level=False),
    "external-negative-length": Bad(_edit_entry("length", "-4"), decoder_level=False),
    "external-no-location": Bad(_edit_entry("location", None), decoder_level=False),
    "external-location-parent": Bad(_ext_parent, decoder_level=False),
    "external-location-absolute": Bad(_ext_absolute, decoder_level=False),
    "external-location-symlink-outside": Bad(_ext_symlink, decoder_level=False),
}


def _check_error(run: kl.Run, mentions: list[str]) -> None:
    assert run.rc == 2, f"expected exit 2: {run.describe()}"
    lines = run.stderr.strip("\n").splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}: {run.stderr!r}"
    line = lines[0]
    assert line.startswith("kiln: error:"), f"stderr line does not start with 'kiln: error:': {line!r}"
    assert any(m in line for m in mentions), f"error line names none of {mentions}: {line!r}"


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    out.mkdir()
    return root, out


@pytest.mark.parametrize("case", list(BAD))
def test_convert_rejects(case, tmp_path):
    root, out_dir = _layout(tmp_path)
    model, mentions = BAD[case].make(root)
    before_in, before_out = kl.tree_snapshot(tmp_path), kl.tree_snapshot(out_dir)
    out = out_dir / "converted.onnx"
    run = kl.run_kiln("convert", model, "-o", out)
    _check_error(run, mentions)
    assert kl.tree_snapshot(out_dir) == before_out, f"files written despite the error: {sorted(os.listdir(out_dir))}"
    assert kl.tree_snapshot(tmp_path) == before_in, "input folder changed"


@pytest.mark.parametrize("case", [c for c, b in BAD.items() if b.decoder_level])
def test_inspect_rejects(case, tmp_path):
    root, _ = _layout(tmp_path)
    model, mentions = BAD[case].make(root)
    before = kl.tree_snapshot(tmp_path)
    run = kl.run_kiln("inspect", model)
    _check_error(run, mentions)
    run = kl.run_kiln("inspect", model, "--json")
    _check_error(run, mentions)
    assert kl.tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["external-file-missing", "unknown-data-type-99", "truncated-in-raw-data"])
def test_failed_in_place_conversion_keeps_input(case, tmp_path):
    """-o pointing at the input: a failing conversion must leave the input intact."""
    root, _ = _layout(tmp_path)
    model, mentions = BAD[case].make(root)
    before = kl.tree_snapshot(tmp_path)
    run = kl.run_kiln("convert", model, "-o", model)
    _check_error(run, mentions)
    assert kl.tree_snapshot(tmp_path) == before, "input changed by a failed in-place conversion"


def test_output_into_missing_directory(tmp_path):
    src = tmp_path / "mlp.onnx"
    shutil.copyfile(MLP, src)
    out = tmp_path / "no" / "such" / "dir" / "out.onnx"
    before = kl.tree_snapshot(tmp_path)
    run = kl.run_kiln("convert", src, "-o", out)
    _check_error(run, ["out.onnx", str(out.parent)])
    assert kl.tree_snapshot(tmp_path) == before, "kiln created files or folders"


def test_nonexistent_input(tmp_path):
    missing = tmp_path / "does-not-exist.onnx"
    run = kl.run_kiln("convert", missing, "-o", tmp_path / "out.onnx")
    _check_error(run, ["does-not-exist.onnx"])
    assert os.listdir(tmp_path) == []
    run = kl.run_kiln("inspect", missing)
    _check_error(run, ["does-not-exist.onnx"])


def test_input_is_a_directory(tmp_path):
    run = kl.run_kiln("convert", tmp_path, "-o", tmp_path / "out.onnx")
    _check_error(run, [tmp_path.name])
    assert os.listdir(tmp_path) == []


def test_missing_output_option_is_usage_error(tmp_path):
    src = tmp_path / "mlp.onnx"
    shutil.copyfile(MLP, src)
    run = kl.run_kiln("convert", src, cwd=tmp_path)
    assert run.rc == 2, f"missing -o must be a usage error (exit 2): {run.describe()}"
    assert run.stderr.strip(), "usage error without a message"
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]


# ----------------------------------------------------------------------------
# Hostile but parseable: protobuf-valid models whose contents are inconsistent.
# Kiln may keep them as they are (exit 0, output == input: the codec is lossless)
# or refuse them (exit 2, the one-line error, nothing written). It must not crash,
# hang, or write something different.


def _mlp_with(edit: Callable[[onnx.ModelProto], None]) -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        m = _mlp_model()
        edit(m)
        return _write(root, m.SerializeToString())

    return make


def _set_dims(index: int, dims: list[int]):
    def edit(m: onnx.ModelProto) -> None:
        t = m.graph.initializer[index]
        del t.dims[:]
        t.dims.extend(dims)

    return edit


def _add_init(**kw):
    return lambda m: m.graph.initializer.append(TensorProto(name="hostile", **kw))


def _add_attr(**kw):
    return lambda m: m.graph.node[0].attribute.append(onnx.AttributeProto(name="hostile", **kw))


def _cycle(m: onnx.ModelProto) -> None:
    m.graph.node.extend([onnx.helper.make_node("Relu", ["b"], ["a"]), onnx.helper.make_node("Relu", ["a"], ["b"])])


def _segment(m: onnx.ModelProto) -> None:
    m.graph.initializer[0].segment.begin = 5
    m.graph.initializer[0].segment.end = 1


HOSTILE: dict[str, Callable[[Path], Path]] = {
    "dims-product-overflows-int64": _mlp_with(_set_dims(0, [2**62, 8])),
    "dims-negative": _mlp_with(_set_dims(0, [-1, 512])),
    "dims-huge-no-data": _mlp_with(lambda m: m.graph.initializer.append(
        TensorProto(name="hostile", data_type=TensorProto.FLOAT, dims=[2**31, 2**31]))),
    "raw-data-shorter-than-dims": _mlp_with(lambda m: setattr(m.graph.initializer[0], "raw_data", b"\0" * 7)),
    "int4-raw-data-too-short": _mlp_with(_add_init(data_type=TensorProto.INT4, dims=[5], raw_data=b"\x01")),
    "typed-count-mismatch": _mlp_with(_add_init(data_type=TensorProto.FLOAT, dims=[5], float_data=[1.0])),
    "string-tensor-with-raw-data": _mlp_with(_add_init(data_type=TensorProto.STRING, dims=[1], raw_data=b"abcd")),
    "float-tensor-in-int64-data": _mlp_with(_add_init(data_type=TensorProto.FLOAT, dims=[2], int64_data=[1, 2])),
    "data-type-undefined": _mlp_with(_add_init(data_type=0, dims=[2])),
    "segment-end-before-begin": _mlp_with(_segment),
    "attribute-type-missing": _mlp_with(_add_attr(i=3)),
    "attribute-type-int-holding-f": _mlp_with(_add_attr(type=onnx.AttributeProto.INT, f=2.0)),
    "attribute-two-values": _mlp_with(_add_attr(type=onnx.AttributeProto.INT, i=1, s=b"x")),
    "node-input-undefined": _mlp_with(lambda m: m.graph.node.append(onnx.helper.make_node("Relu", ["nope"], ["Z"]))),
    "graph-cycle": _mlp_with(_cycle),
    "no-opset-import": _mlp_with(lambda m: m.ClearField("opset_import")),
    "no-ir-version": _mlp_with(lambda m: m.ClearField("ir_version")),
}


def _check_no_crash(run: kl.Run, src: Path, out: Path | None, out_dir: Path, before_out: dict) -> None:
    assert run.rc in (0, 2), f"kiln must keep or refuse, not crash: {run.describe()}"
    if run.rc == 2:
        lines = run.stderr.strip("\n").splitlines()
        assert len(lines) == 1 and lines[0].startswith("kiln: error:"), f"refusal is not one error line: {run.stderr!r}"
        assert kl.tree_snapshot(out_dir) == before_out, "files written despite the error"
    elif out is not None:
        a, b = src.read_bytes(), out.read_bytes()
        if a != b:
            ma, mb = onnx.ModelProto(), onnx.ModelProto()
            ma.ParseFromString(a)
            mb.ParseFromString(b)
            assert ma == mb, "kiln accepted the model but changed it:\n  " + "\n  ".join(kl.differences(ma, mb))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_model_is_kept_or_refused(case, tmp_path):
    root, out_dir = _layout(tmp_path)
    src = HOSTILE[case](root)
    before_in, before_out = kl.tree_snapshot(root), kl.tree_snapshot(out_dir)
    out = out_dir / "converted.onnx"
    _check_no_crash(kl.run_kiln("convert", src, "-o", out, timeout=60), src, out, out_dir, before_out)
    _check_no_crash(kl.run_kiln("inspect", src, "--json", timeout=60), src, None, out_dir, before_out)
    assert kl.tree_snapshot(root) == before_in, "input changed"


@pytest.mark.parametrize("case", [c for c in HOSTILE if "dims" in c or "data" in c or "typed" in c or "segment" in c])
def test_hostile_tensor_externalized_or_refused(case, tmp_path):
    """The same, with every tensor sent to external data (sizes are computed from the data)."""
    root, out_dir = _layout(tmp_path)
    src = HOSTILE[case](root)
    before_out = kl.tree_snapshot(out_dir)
    out = out_dir / "converted.onnx"
    run = kl.run_kiln("convert", src, "-o", out, "--external-data", "single", "--external-data-threshold", "0",
                      timeout=60)
    _check_no_crash(run, src, None, out_dir, before_out)
    if run.rc == 0:
        a, b = kl.load(src), kl.load(out)
        assert kl.strip_tensor_data(a) == kl.strip_tensor_data(b), \
            "accepted but changed:\n  " + "\n  ".join(kl.differences(kl.strip_tensor_data(a), kl.strip_tensor_data(b)))
        for (p, t), (_, u) in zip(kl.walk_tensors(a), kl.walk_tensors(b)):
            if t.HasField("raw_data"):
                assert u.raw_data == t.raw_data, f"{p} ({t.name!r}): raw bytes changed when moved to external data"
