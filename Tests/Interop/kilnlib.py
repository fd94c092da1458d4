"""Helpers shared by the interop tests: running the kiln binary, walking and
diffing protobuf messages, external-data bookkeeping, onnxruntime comparisons."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf import unknown_fields as pb_unknown
from google.protobuf.descriptor import FieldDescriptor
from onnx import TensorProto

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Fixtures"


# ----------------------------------------------------------------------------
# running kiln


@dataclass
class Run:
    args: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        err = self.stderr.strip()
        if len(err) > 2000:
            err = err[:2000] + " ..."
        return f"`{' '.join(self.args)}` exited {self.rc}; stderr: {err or '(empty)'}"


def kiln_binary() -> str:
    return os.environ.get("KILN") or str(REPO / ".build" / "debug" / "kiln")


def run_kiln(*args: str | os.PathLike, timeout: float = 300, cwd: str | os.PathLike | None = None) -> Run:
    argv = [kiln_binary(), *map(str, args)]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        return Run(argv, -999, (e.stdout or b"").decode(errors="replace"),
                   f"timed out after {timeout}s", time.monotonic() - t0)
    return Run(argv, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
               time.monotonic() - t0)


# ----------------------------------------------------------------------------
# fixtures


def manifest() -> dict:
    with open(FIXTURES / "MANIFEST.json") as f:
        return json.load(f)


def fixture_files() -> list[str]:
    """Every .onnx file under Fixtures/, relative, sorted."""
    return sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.onnx"))


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_snapshot(root: str | os.PathLike) -> dict[str, str]:
    """{relative path: sha256} for every file (and symlink target) under root."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "symlink->" + os.readlink(p)
        elif p.is_file():
            out[rel] = sha256(p)
        elif p.is_dir():
            out[rel] = "dir"
    return out


# ----------------------------------------------------------------------------
# loading and checking


def load(path: str | os.PathLike, external: bool = True) -> onnx.ModelProto:
    return onnx.load(str(path), load_external_data=external)


def checker_error(path: str | os.PathLike) -> str | None:
    """None if the onnx checker accepts the file, else its message.

    Two passes: check_model(path) checks the file as stored (external data paths
    included); check_model(model, full_check=True) then runs strict shape inference
    on the model with its external data loaded (shape inference cannot read
    external tensors, e.g. Resize scales, and would fail for that reason alone)."""
    try:
        onnx.checker.check_model(str(path))
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        return None
    except Exception as e:  # noqa: BLE001
        return (str(e).strip().splitlines() or [type(e).__name__])[0][:400]


# ----------------------------------------------------------------------------
# walking and diffing messages


def _repeated(fd) -> bool:
    # protobuf >= 5.29 has is_repeated; `label` is gone in newer upb releases.
    rep = getattr(fd, "is_repeated", None)
    return rep if rep is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def walk_tensors(msg, path: str = "model") -> Iterator[tuple[str, TensorProto]]:
    """Every TensorProto reachable from msg (initializers, attribute tensors, sparse
    values/indices, subgraphs, functions, training info), with its field path."""
    if isinstance(msg, TensorProto):
        yield path, msg
        return
    for fd, value in msg.ListFields():
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if _repeated(fd):
            for i, item in enumerate(value):
                yield from walk_tensors(item, f"{path}.{fd.name}[{i}]")
        else:
            yield from walk_tensors(value, f"{path}.{fd.name}")


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 120 else r[:117] + "..."


def _unknown(msg) -> list:
    out = []
    for f in pb_unknown.UnknownFieldSet(msg):
        data = f.data
        if f.wire_type == 3:  # group: nested set
            data = [(g.field_number, g.wire_type, g.data) for g in data]
        out.append((f.field_number, f.wire_type, data))
    return out


def differences(a, b, path: str = "model", limit: int = 8) -> list[str]:
    """Field paths where protobuf messages a (original) and b (converted) differ,
    including presence of optional fields and unknown fields."""
    out: list[str] = []
    _diff(a, b, path, out, limit)
    if not out and a != b:
        out.append(f"{path}: messages compare unequal but no field differs (presence or unknown-field order?)")
    return out


def _diff(a, b, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit or a == b:
        return
    fa = {fd.name: (fd, v) for fd, v in a.ListFields()}
    fb = {fd.name: (fd, v) for fd, v in b.ListFields()}
    for name in sorted(set(fa) | set(fb), key=lambda n: (fa.get(n) or fb.get(n))[0].number):
        if len(out) >= limit:
            return
        p = f"{path}.{name}"
        if name not in fb:
            out.append(f"{p}: present in original ({_short(fa[name][1])}) but missing in converted")
            continue
        if name not in fa:
            out.append(f"{p}: absent in original but present in converted ({_short(fb[name][1])})")
            continue
        fd, va = fa[name]
        vb = fb[name][1]
        is_msg = fd.type == FieldDescriptor.TYPE_MESSAGE
        if _repeated(fd):
            if len(va) != len(vb):
                out.append(f"{p}: {len(va)} entries in original, {len(vb)} in converted")
                continue
            for i, (x, y) in enumerate(zip(va, vb)):
                if is_msg:
                    _diff(x, y, f"{p}[{i}]", out, limit)
                elif not _same_scalar(x, y):
                    out.append(f"{p}[{i}]: {_short(x)} != {_short(y)}")
                if len(out) >= limit:
                    return
        elif is_msg:
            _diff(va, vb, p, out, limit)
        elif not _same_scalar(va, vb):
            if isinstance(va, bytes) and len(va) > 32:
                idx = next((i for i, (x, y) in enumerate(zip(va, vb)) if x != y), min(len(va), len(vb)))
                out.append(f"{p}: {len(va)} bytes vs {len(vb)} bytes, first difference at byte {idx}")
            else:
                out.append(f"{p}: {_short(va)} != {_short(vb)}")
    ua, ub = _unknown(a), _unknown(b)
    if ua != ub and len(out) < limit:
        out.append(f"{path}: unknown fields differ: original {_short(ua)} vs converted {_short(ub)}")


def _same_scalar(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return np.float64(x).tobytes() == np.float64(y).tobytes() or (x != x and y != y)
    return x == y


# ----------------------------------------------------------------------------
# external data


def external_info(t: TensorProto) -> dict[str, str]:
    return {e.key: e.value for e in t.external_data}


def is_external(t: TensorProto) -> bool:
    return t.data_location == TensorProto.EXTERNAL


def tensor_nbytes(t: TensorProto) -> int:
    """Size of the tensor's data in its raw (packed) form."""
    if is_external(t):
        info = external_info(t)
        if "length" in info:
            return int(info["length"])
    if t.HasField("raw_data"):
        return len(t.raw_data)
    if t.data_type == TensorProto.STRING:
        return sum(len(s) for s in t.string_data)
    return len(onnx.numpy_helper.from_array(_to_array(t)).raw_data)


def _to_array(t: TensorProto) -> np.ndarray:
    if t.HasField("segment"):  # numpy_helper refuses segments; the data itself is ordinary
        t2 = TensorProto()
        t2.CopyFrom(t)
        t2.ClearField("segment")
        t = t2
    return onnx.numpy_helper.to_array(t)


def strip_tensor_data(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with the data-carrying fields of every tensor cleared, for comparing
    everything but how the data is stored."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for _, t in walk_tensors(m):
        for f in ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data",
                  "raw_data", "external_data", "data_location"):
            t.ClearField(f)
    return m


def same_values(a: TensorProto, b: TensorProto) -> bool:
    """True if both tensors decode to the same bytes, dtype and shape (NaN-safe, -0 sensitive)."""
    if a.data_type == TensorProto.STRING or b.data_type == TensorProto.STRING:
        return a.data_type == b.data_type and list(a.string_data) == list(b.string_data) and a.dims == b.dims
    x, y = _to_array(a), _to_array(b)
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


# ----------------------------------------------------------------------------
# onnxruntime


def random_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray] | None:
    """Inputs for every graph input that is not an initializer, or None if some input
    is not a plain tensor."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        if not inp.type.HasField("tensor_type"):
            return None
        tt = inp.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 2 for d in tt.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        if dtype == np.bool_:
            feeds[inp.name] = np.asarray(rng.random(shape) < 0.5)
        elif np.issubdtype(dtype, np.integer):
            feeds[inp.name] = rng.integers(0, 4, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.floating):
            feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
        else:
            return None
    return feeds


def ort_run(path: str | os.PathLike, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    # No graph optimizations: both models must run the exact same kernels.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)
