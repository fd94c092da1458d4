#!/usr/bin/env python3
"""Kiln vs the Python onnx package on the codec's hot paths.

  KILN=.build/release/kiln .venv/bin/python Benchmarks/bench.py [--runs N] [--quick]
      [--only a,b,c,check,infer,check-bert,infer-bert,startup]

Generates its models once into Benchmarks/.data (git-ignored), then runs each
command N times, alternating Kiln and the peer, each in a fresh process, and
reports medians of wall time and peak RSS with the ratio kiln/peer (< 1 means
Kiln is faster or smaller). See Benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / ".data"
PY = sys.executable
RSS_LIMIT_C = 1 << 30  # (c) must convert in under 1 GiB peak RSS


# ----------------------------------------------------------------------------
# model generation (cached; a stamp file records the parameters)


def _stamp_ok(path: Path, params: dict) -> bool:
    stamp = path.with_suffix(".json")
    return path.exists() and stamp.exists() and json.loads(stamp.read_text()) == params


def _write_stamp(path: Path, params: dict) -> None:
    path.with_suffix(".json").write_text(json.dumps(params))


def gen_matmul_chain(path: Path, layers: int, n: int) -> None:
    """(a) X[1,n] -> MatMul W_0 -> ... -> MatMul W_{layers-1} -> Y; weights inline (raw_data)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    params = {"kind": "matmul_chain", "layers": layers, "n": n, "v": 2}
    if _stamp_ok(path, params):
        return
    print(f"  generating {path.name}: {layers} x MatMul {n}x{n} float32 ({layers * n * n * 4 / 1e6:.0f} MB)")
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    for i in range(layers):
        w = ((rng.random((n, n), dtype=np.float32) - 0.5) * (2.0 / n**0.5)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"W{i}"))
        nodes.append(helper.make_node("MatMul", ["X" if i == 0 else f"h{i}", f"W{i}"],
                                      ["Y" if i == layers - 1 else f"h{i + 1}"], name=f"mm{i}"))
    g = helper.make_graph(nodes, "matmul_chain", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_operatorsetid("", 17)], producer_name="kiln-bench")
    m.ir_version = 8
    path.write_bytes(m.SerializeToString())
    _write_stamp(path, params)


def gen_many_nodes(path: Path, count: int) -> None:
    """(b) a chain of `count` nodes cycling Add(c) / Mul(c) / Relu, one scalar constant per Add/Mul."""
    from onnx import TensorProto, helper

    params = {"kind": "many_nodes", "count": count, "v": 1}
    if _stamp_ok(path, params):
        return
    print(f"  generating {path.name}: {count} nodes")
    nodes, inits = [], []
    cur = "X"
    for i in range(count):
        out = "Y" if i == count - 1 else f"t{i}"
        kind = ("Add", "Mul", "Relu")[i % 3]
        if kind == "Relu":
            nodes.append(helper.make_node("Relu", [cur], [out], name=f"n{i}"))
        else:
            c = f"c{i}"
            val = 0.001 * (i % 7) if kind == "Add" else 1.0 + 0.0001 * (i % 5)
            inits.append(helper.make_tensor(c, TensorProto.FLOAT, [1], [val]))
            nodes.append(helper.make_node(kind, [cur, c], [out], name=f"n{i}"))
        cur = out
    g = helper.make_graph(nodes, "many_nodes", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_operatorsetid("", 17)], producer_name="kiln-bench")
    m.ir_version = 8
    path.write_bytes(m.SerializeToString())
    _write_stamp(path, params)


def gen_external(path: Path, tensors: int, n: int) -> None:
    """(c) X[1,n] -> `tensors` chained MatMuls with n x n float32 weights, all in one
    external data file written chunk by chunk (never more than one chunk in memory)."""
    from onnx import TensorProto, helper

    data_name = path.name + ".data"
    params = {"kind": "external", "tensors": tensors, "n": n, "v": 1}
    if _stamp_ok(path, params) and (path.parent / data_name).exists():
        return
    size = tensors * n * n * 4
    print(f"  generating {path.name}: {tensors} x {n}x{n} float32 in {data_name} ({size / 2**30:.2f} GiB)")
    nodes, inits = [], []
    offset = 0
    rows = max(1, (16 << 20) // (n * 4))  # ~16 MB per chunk
    with open(path.parent / data_name, "wb") as f:
        for i in range(tensors):
            rng = np.random.default_rng(100 + i)
            pad = (-offset) % 4096
            f.write(b"\0" * pad)
            offset += pad
            for r in range(0, n, rows):
                block = rng.random((min(rows, n - r), n), dtype=np.float32) - np.float32(0.5)
                f.write(block.tobytes())
            length = n * n * 4
            t = TensorProto(name=f"W{i}", data_type=TensorProto.FLOAT, dims=[n, n],
                            data_location=TensorProto.EXTERNAL)
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(length))):
                t.external_data.add(key=k, value=v)
            inits.append(t)
            offset += length
            nodes.append(helper.make_node("MatMul", ["X" if i == 0 else f"h{i}", f"W{i}"],
                                          ["Y" if i == tensors - 1 else f"h{i + 1}"], name=f"mm{i}"))
    g = helper.make_graph(nodes, "external_chain", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_operatorsetid("", 17)], producer_name="kiln-bench")
    m.ir_version = 8
    path.write_bytes(m.SerializeToString())
    _write_stamp(path, params)


def gen_bert(path: Path, layers: int) -> bool:
    """(bert) a BERT-base-shaped encoder from Benchmarks/models.py (HF-style export: decomposed
    LayerNorm and GELU, Shape->Gather->Concat->Reshape head splits, symbolic batch and seq).
    Returns False when models.py is missing (the BERT rows are then skipped)."""
    params = {"kind": "bert_base", "layers": layers, "v": 1}
    if _stamp_ok(path, params):
        return True
    try:
        sys.path.insert(0, str(HERE))
        from models import bert_base
    except ImportError as e:
        print(f"  bert: Benchmarks/models.py not importable ({e}); skipping the BERT rows")
        return False
    print(f"  generating {path.name}: BERT-base encoder, {layers} layers")
    bert_base(str(path), layers=layers)
    _write_stamp(path, params)
    return True


# ----------------------------------------------------------------------------
# measuring one process: wall time, ru_maxrss (wait4), sampled peak RssAnon/RssFile


@dataclass
class Sample:
    wall: float
    maxrss: int  # bytes
    anon: int  # peak RssAnon seen by sampling /proc (bytes), 0 if unavailable
    inner: dict = field(default_factory=dict)  # what the child printed as JSON (python timings)


def _sample_proc(pid: int, via_time: bool, peak: dict, stop: threading.Event) -> None:
    if via_time:  # sample the command, not /usr/bin/time: its first child
        for _ in range(200):
            try:
                kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
            except OSError:
                return
            if kids:
                pid = int(kids[0])
                break
            if stop.wait(0.001):
                return
    path = f"/proc/{pid}/status"
    while not stop.is_set():
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(("RssAnon:", "VmHWM:")):
                        k, v = line.split(":")
                        peak[k] = max(peak.get(k, 0), int(v.split()[0]) * 1024)
        except OSError:
            return
        stop.wait(0.005)


TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def measure(argv: list[str], cwd: Path | None = None) -> Sample:
    """Run argv once. Peak RSS comes from GNU time's %M (the command's own high-water
    mark; ru_maxrss of a direct child would include this Python process's RSS at
    fork time), else from VmHWM sampled in /proc."""
    rss_file = DATA / ".maxrss"
    full = [TIME, "-f", "%M", "-o", str(rss_file), *argv] if TIME else argv
    t0 = time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    peak: dict = {}
    stop = threading.Event()
    th = threading.Thread(target=_sample_proc, args=(p.pid, bool(TIME), peak, stop), daemon=True)
    th.start()
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, _ = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    th.join()
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {err.decode(errors='replace')[-2000:]}")
    maxrss = int(rss_file.read_text().split()[-1]) * 1024 if TIME else peak.get("VmHWM", 0)
    inner = {}
    lines = out.decode(errors="replace").strip().splitlines()
    if lines and lines[-1].startswith("{"):
        inner = json.loads(lines[-1])
    return Sample(wall, maxrss, peak.get("RssAnon", 0), inner)


PY_CONVERT = r"""
import json, sys, time
t0 = time.perf_counter()
import onnx
t1 = time.perf_counter()
src, dst, external = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
m = onnx.load(src)
if external:
    import os
    onnx.save(m, dst, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(dst) + ".data", size_threshold=1024)
else:
    onnx.save(m, dst)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load_save": t2 - t1}))
"""

PY_CHECK = r"""
import json, sys, time
t0 = time.perf_counter()
import onnx
t1 = time.perf_counter()
m = onnx.load(sys.argv[1])
if sys.argv[2] == "check":
    onnx.checker.check_model(m, full_check=True)
else:
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    onnx.save(m, sys.argv[3])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load_save": t2 - t1}))
"""


# ----------------------------------------------------------------------------
# the benchmark table


@dataclass
class Row:
    name: str
    kiln: list[Sample]
    peer: list[Sample]
    peer_name: str
    note: str = ""


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def fmt_b(x: float) -> str:
    return f"{x / 2**20:.0f} MiB" if x < 2**30 else f"{x / 2**30:.2f} GiB"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and b == b and a == a else "n/a"


def clean(out_dir: Path) -> None:
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)


def bench_convert(kiln: str, name: str, src: Path, runs: int, external: bool, run_python: bool) -> Row:
    out_dir = DATA / "out"
    k_samples, p_samples = [], []
    for i in range(runs + 1):  # first round warms the page cache and is discarded
        clean(out_dir)
        ks = measure([kiln, "convert", str(src), "-o", str(out_dir / "kiln.onnx")])
        if i == 0:
            verify_output(src, out_dir / "kiln.onnx", external)
        clean(out_dir)
        ps = measure([PY, "-c", PY_CONVERT, str(src), str(out_dir / "py.onnx"), "1" if external else "0"]) \
            if run_python else None
        if i > 0:
            k_samples.append(ks)
            if ps:
                p_samples.append(ps)
        print(f"    run {i}{' (warm-up)' if i == 0 else ''}: kiln {fmt_s(ks.wall)} {fmt_b(ks.maxrss)}"
              + (f" | python {fmt_s(ps.wall)} (load+save {fmt_s(ps.inner['load_save'])}) {fmt_b(ps.maxrss)}"
                 if ps else ""), flush=True)
    clean(out_dir)
    return Row(name, k_samples, p_samples, "python onnx.load+onnx.save")


def verify_output(src: Path, out: Path, external: bool) -> None:
    """The benchmark only means something if Kiln wrote the same model."""
    if not external:
        if src.read_bytes() != out.read_bytes():
            raise SystemExit(f"kiln output for {src.name} differs from its input; fix convert before benchmarking")
        return
    import onnx

    a = onnx.load(str(src), load_external_data=False)
    b = onnx.load(str(out), load_external_data=False)
    want = sum(int({e.key: e.value for e in t.external_data}["length"]) for t in a.graph.initializer)
    files = {e.value for t in b.graph.initializer for e in t.external_data if e.key == "location"}
    got = sum((out.parent / f).stat().st_size for f in files)
    if len(a.graph.node) != len(b.graph.node) or got < want:
        raise SystemExit(f"kiln output for {src.name} looks wrong: {len(b.graph.node)} nodes, {got} data bytes")


def mem_available() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    ap.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    tasks = "a,b,c,check,infer,check-bert,infer-bert,startup"
    ap.add_argument("--only", default=tasks, help=f"comma-separated subset of {tasks}")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))

    kiln = os.environ.get("KILN") or str(REPO / ".build" / "release" / "kiln")
    if not os.access(kiln, os.X_OK):
        print(f"bench: kiln binary not found at {kiln} (make release, or set KILN)", file=sys.stderr)
        return 2
    import onnx

    version = subprocess.run([kiln, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"kiln {version} ({kiln})")
    print(f"python {platform.python_version()}, onnx {onnx.__version__}, numpy {np.__version__}; "
          f"{os.cpu_count()} CPUs, {mem_available() / 2**30:.1f} GiB available; runs={args.runs}"
          f"{' (quick)' if args.quick else ''}")

    sizes = dict(a=(10, 512), b=5_000, c=(4, 4096), bert=2) if args.quick else \
        dict(a=(50, 1414), b=50_000, c=(12, 8192), bert=12)
    suffix = "-quick" if args.quick else ""
    DATA.mkdir(parents=True, exist_ok=True)
    paths = {"a": DATA / f"matmul_chain{suffix}.onnx", "b": DATA / f"many_nodes{suffix}.onnx",
             "c": DATA / f"external{suffix}" / "model.onnx", "bert": DATA / f"bert-base{suffix}.onnx"}
    print("models:")
    if "a" in only:
        gen_matmul_chain(paths["a"], *sizes["a"])
    if "b" in only:
        gen_many_nodes(paths["b"], sizes["b"])
    if "c" in only:
        paths["c"].parent.mkdir(exist_ok=True)
        gen_external(paths["c"], *sizes["c"])
    have_bert = bool(only & {"check-bert", "infer-bert"}) and gen_bert(paths["bert"], sizes["bert"])
    for k in sorted((only & set(paths)) | ({"bert"} if have_bert else set())):
        p = paths[k]
        extra = sum(f.stat().st_size for f in p.parent.iterdir() if f.name.endswith(".data")) if k == "c" else 0
        print(f"  ({k}) {p.relative_to(REPO)}: {fmt_b(p.stat().st_size + extra)}")

    rows: list[Row] = []
    failures: list[str] = []
    if "a" in only:
        print(f"(a) convert {paths['a'].name}")
        rows.append(bench_convert(kiln, "(a) convert ~400 MB inline" if not args.quick else "(a) convert inline",
                                  paths["a"], args.runs, False, True))
    if "b" in only:
        print(f"(b) convert {paths['b'].name}")
        rows.append(bench_convert(kiln, f"(b) convert {sizes['b']:,} nodes", paths["b"], args.runs, False, True))
    if "c" in only:
        data_bytes = sizes["c"][0] * sizes["c"][1] ** 2 * 4
        run_py = mem_available() > 3 * data_bytes
        print(f"(c) convert {paths['c'].relative_to(DATA)} (external data)"
              + ("" if run_py else " - python skipped, not enough memory"))
        row = bench_convert(kiln, f"(c) convert {fmt_b(data_bytes)} external", paths["c"], args.runs, True, run_py)
        row.note = "" if run_py else "python skipped: not enough memory"
        rows.append(row)
        peak = max(s.maxrss for s in row.kiln)
        if peak >= RSS_LIMIT_C:
            failures.append(f"(c) kiln peak RSS {fmt_b(peak)} >= 1 GiB")
    for key in ("check", "infer", "check-bert", "infer-bert"):
        if key not in only or (key.endswith("bert") and not have_bert):
            continue
        task = key.split("-")[0]
        src = paths["bert" if key.endswith("bert") else "b"]
        if key in ("check", "infer"):
            gen_many_nodes(src, sizes["b"])  # a no-op when the stamped model is there
        out_dir = DATA / "out"
        clean(out_dir)
        kiln_argv = [kiln, "check", str(src)] if task == "check" else \
            [kiln, "infer-shapes", str(src), "-o", str(out_dir / "kiln.onnx")]
        peer = "onnx.checker.check_model(full_check=True)" if task == "check" else \
            "onnx.shape_inference.infer_shapes(strict, data_prop) + save"
        print(f"{task}: kiln {' '.join(kiln_argv[1:2])} {src.name} vs onnx.load + {peer}")
        ks, ps = [], []
        for i in range(args.runs + 1):
            k = measure(kiln_argv)
            p = measure([PY, "-c", PY_CHECK, str(src), task, str(out_dir / "py.onnx")])
            if i:
                ks.append(k)
                ps.append(p)
            print(f"    run {i}{' (warm-up)' if i == 0 else ''}: kiln {fmt_s(k.wall)} | python {fmt_s(p.wall)} "
                  f"(in process {fmt_s(p.inner['load_save'])})", flush=True)
        clean(out_dir)
        label = "check" if task == "check" else "infer-shapes"
        what = f"BERT-base ({sizes['bert']} layers)" if key.endswith("bert") else f"{sizes['b']:,} nodes"
        rows.append(Row(f"{label} {what}", ks, ps, f"python onnx.load + {peer}"))
    if "startup" in only:
        print("start-up: kiln inspect Fixtures/mlp.onnx vs python -c 'import onnx'")
        ks, ps = [], []
        for i in range(args.runs + 1):
            k = measure([kiln, "inspect", str(REPO / "Fixtures" / "mlp.onnx")])
            p = measure([PY, "-c", "import onnx"])
            if i:
                ks.append(k)
                ps.append(p)
        rows.append(Row("start-up (inspect tiny model)", ks, ps, "python -c 'import onnx'"))

    print()
    print_table(rows)
    if failures:
        print("\nFAILED: " + "; ".join(failures))
        return 1
    return 0


def print_table(rows: list[Row]) -> None:
    hdr = f"{'benchmark':34s} {'metric':22s} {'kiln':>10s} {'peer':>10s} {'kiln/peer':>9s}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        kw, pw = med([s.wall for s in r.kiln]), med([s.wall for s in r.peer])
        km, pm = med([s.maxrss for s in r.kiln]), med([s.maxrss for s in r.peer])
        print(f"{r.name:34s} {'wall time':22s} {fmt_s(kw):>10s} {fmt_s(pw) if r.peer else '-':>10s} {ratio(kw, pw):>9s}")
        if r.peer and "load_save" in r.peer[0].inner:
            pi = med([s.inner["load_save"] for s in r.peer])
            inner = "vs python in-process" if r.name.startswith(("check", "infer")) else "vs python load+save"
            print(f"{'':34s} {inner:22s} {fmt_s(kw):>10s} {fmt_s(pi):>10s} {ratio(kw, pi):>9s}")
            if r.name.startswith(("check", "infer")):
                # Issue 3's criterion: Kiln at least 5x faster than onnx (python time / kiln time).
                ok = "meets" if kw and pw / kw >= 5 and pi / kw >= 5 else "below"
                print(f"{'':34s} {'speed-up (python/kiln)':22s} {pw / kw:9.1f}x {pi / kw:9.1f}x  "
                      f"(wall, in-process; {ok} 5x)")
        print(f"{'':34s} {'peak RSS':22s} {fmt_b(km):>10s} {fmt_b(pm) if r.peer else '-':>10s} {ratio(km, pm):>9s}")
        ka, pa = med([s.anon for s in r.kiln]), med([s.anon for s in r.peer])
        if ka:
            print(f"{'':34s} {'peak RssAnon (sampled)':22s} {fmt_b(ka):>10s} {fmt_b(pa) if r.peer else '-':>10s} "
                  f"{ratio(ka, pa):>9s}")
        if r.note:
            print(f"{'':34s} note: {r.note}")
    print("\nmedians of the timed runs; peer = " + "; ".join(sorted({r.peer_name for r in rows})))


if __name__ == "__main__":
    sys.exit(main())
