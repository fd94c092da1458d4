#!/usr/bin/env python3
"""Kiln's CPU evaluator vs onnxruntime (CPU EP) vs onnx's Python ReferenceEvaluator, in one run.

Models (Benchmarks/models.py, generated into Benchmarks/.data/, git-ignored): a ResNet-50-shaped
CNN and a BERT-base-shaped encoder (seq 128), batch 1 and 8.

For each (model, batch):
  1. check: Kiln's outputs (`kiln run --output-dir`) must agree with onnxruntime's
     (rtol 1e-3, atol 1e-4) before anything is timed;
  2. latency: `kiln run --repeat N --json` times N runs in process after one warm-up run;
     onnxruntime times N runs after one warm-up in a child process, with
     intra_op_num_threads = Kiln's thread count (inter_op 1, sequential execution);
     the median is reported, and the kiln/ort ratio;
  3. peak RSS of each child process (GNU time %M, the whole process: loading included), next to
     the memory bound of issue 4: weights + 2x the largest set of simultaneously live activations
     (from onnx shape inference with the batch fixed, freeing each value after its last reader);
  4. ReferenceEvaluator: one run (it is slow), batch 1 only, with a timeout; with --ref-layers L
     < 12, BERT's row uses a reduced copy with L layers, compared with Kiln on the same reduced
     model (the row is labeled with the layer count).

    KILN=.build-eval/release/kiln .venv/bin/python Benchmarks/bench_eval.py
    .venv/bin/python Benchmarks/bench_eval.py --quick            # batch 1, 3 runs, no reference
    .venv/bin/python Benchmarks/bench_eval.py --models bert --batches 8 --runs 5
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data"
sys.path.insert(0, str(HERE))
import models  # noqa: E402

PY = sys.executable
TIME = shutil.which("time") or "/usr/bin/time"

ORT_CHILD = r"""
import json, sys, time, numpy as np, onnxruntime as ort
path, inputs, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions()
o.intra_op_num_threads = threads
o.inter_op_num_threads = 1
o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
t0 = time.perf_counter()
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
load = time.perf_counter() - t0
feed = dict(np.load(inputs))
s.run(None, feed)
times, cpu = [], []
for _ in range(runs):
    t, c = time.perf_counter(), time.process_time()
    s.run(None, feed)
    times.append((time.perf_counter() - t) * 1000); cpu.append((time.process_time() - c) * 1000)
print(json.dumps({"load_ms": load * 1000, "runs_ms": times, "median_ms": float(np.median(times)),
                  "median_cpu_ms": float(np.median(cpu))}))
"""

REF_CHILD = r"""
import json, sys, time, numpy as np, onnx
from onnx.reference import ReferenceEvaluator
path, inputs = sys.argv[1], sys.argv[2]
ev = ReferenceEvaluator(onnx.load(path))
feed = dict(np.load(inputs))
t = time.perf_counter(); ev.run(None, feed); ms = (time.perf_counter() - t) * 1000
print(json.dumps({"median_ms": ms}))
"""


def generate(name: str, fn, **params) -> Path:
    """Generates a model once; a .json stamp records the parameters (regenerated when they change)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path, stamp = DATA / f"{name}.onnx", DATA / f"{name}.json"
    want = json.dumps(params, sort_keys=True)
    if not path.exists() or not stamp.exists() or stamp.read_text() != want:
        print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr)
        fn(str(path), **params)
        stamp.write_text(want)
    return path


def timed(cmd: list[str], timeout: float | None = None) -> tuple[str, int]:
    """Runs cmd under GNU time; returns (stdout, peak RSS in KiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        proc = subprocess.run([TIME, "-f", "%M", "-o", rss.name] + cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        return proc.stdout, int(rss.read().strip().splitlines()[-1])


def kiln_args(model: Path, feed_dir: Path, feed: dict) -> list[str]:
    return [str(model)] + [f"{k}={feed_dir / (k + '.npy')}" for k in feed]


def write_feed(tag: str, feed: dict) -> tuple[Path, Path]:
    d = DATA / "eval_inputs" / tag
    d.mkdir(parents=True, exist_ok=True)
    for k, v in feed.items():
        np.save(d / f"{k}.npy", v)
    np.savez(d / "feed.npz", **feed)
    return d, d / "feed.npz"


def check(kiln: str, model: Path, feed_dir: Path, feed: dict, threads: int) -> str:
    import onnxruntime as ort
    out = Path(tempfile.mkdtemp(prefix="kiln-eval-"))
    try:
        subprocess.run([kiln, "run"] + kiln_args(model, feed_dir, feed) + ["--output-dir", str(out), "--format", "npy",
                                                                         "--threads", str(threads)],
                       check=True, capture_output=True, text=True)
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        expected = ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"]).run(None, feed)
        worst = 0.0
        for i, e in enumerate(expected):
            got = np.load(out / f"output_{i}.npy")
            if got.shape != e.shape:
                raise AssertionError(f"output {i}: shape {got.shape}, onnxruntime {e.shape}")
            np.testing.assert_allclose(got, e, rtol=1e-3, atol=1e-4, err_msg=f"{model.name} output {i}")
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - e))))
        return f"max |kiln - ort| {worst:.2e}"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def value_sizes(m: onnx.ModelProto) -> dict:
    sizes = {}
    for vi in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input):
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if None in dims or not t.HasField("shape"):
            continue
        sizes[vi.name] = int(np.prod(dims, dtype=np.int64)) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize
    return sizes


def memory_bound(model: Path, feed: dict, kiln: str) -> tuple[int, int] | None:
    """(weight bytes, largest live activation bytes) with the inputs' shapes fixed, or None when
    shape inference leaves a size unknown. onnx's shape inference first; where it leaves a dim
    unknown (Slice with computed ends), Kiln's (`kiln infer-shapes`, which propagates small
    integer tensors)."""
    m = onnx.load(str(model), load_external_data=False)
    weights = sum(int(np.prod(t.dims)) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
                  for t in m.graph.initializer)
    for i in m.graph.input:
        if i.name in feed:
            for d, n in zip(i.type.tensor_type.shape.dim, feed[i.name].shape):
                d.ClearField("dim_param")
                d.dim_value = n
    sizes = value_sizes(onnx.shape_inference.infer_shapes(m, data_prop=True))
    if any(y not in sizes for n in m.graph.node for y in n.output):
        with tempfile.TemporaryDirectory() as d:
            fixed, out = Path(d) / "fixed.onnx", Path(d) / "inferred.onnx"
            onnx.save(m, str(fixed))
            proc = subprocess.run([kiln, "infer-shapes", str(fixed), "-o", str(out)], capture_output=True, text=True)
            if proc.returncode == 0:
                sizes.update(value_sizes(onnx.load(str(out), load_external_data=False)))
    inits = {t.name for t in m.graph.initializer}
    last = {}
    for i, n in enumerate(m.graph.node):
        for x in n.input:
            last[x] = i
    outputs = {o.name for o in m.graph.output}
    live, peak = {}, 0
    for k in feed:
        live[k] = sizes.get(k, feed[k].nbytes)
    for i, n in enumerate(m.graph.node):
        for y in n.output:
            if y not in sizes:
                return None
            live[y] = sizes[y]
        peak = max(peak, sum(live.values()))
        for x in set(n.input):
            if x in live and x not in inits and x not in outputs and last.get(x) == i:
                del live[x]
    return weights, peak


def baseline_rss(kiln: str) -> int:
    """Peak RSS (KiB) of `kiln run` on a one-MatMul model: the process itself (runtime, OpenBLAS
    loaded), which the memory bound of issue 4 does not count."""
    from onnx import TensorProto, helper
    path = DATA / "baseline_matmul.onnx"
    if not path.exists():
        g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "baseline",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])],
                              [onnx.numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")])
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = DATA / "baseline_x.npy"
    np.save(x, np.ones((4, 4), np.float32))
    return timed([kiln, "run", str(path), f"x={x}"])[1]


def fmt_ms(v):
    return "-" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="resnet50,bert")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up (median reported)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--ref-layers", type=int, default=12, help="BERT layers for the ReferenceEvaluator comparison (12: the benchmark model itself)")
    ap.add_argument("--ref-timeout", type=float, default=900, help="seconds before a ReferenceEvaluator run is abandoned")
    ap.add_argument("--no-ref", action="store_true", help="skip onnx's ReferenceEvaluator")
    ap.add_argument("--quick", action="store_true", help="batch 1, 3 runs, no ReferenceEvaluator")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    if a.quick:
        a.batches, a.runs, a.no_ref = "1", 3, True
    kiln = os.environ.get("KILN", str(ROOT / ".build-eval/release/kiln"))
    if not Path(kiln).exists():
        sys.exit(f"no kiln binary at {kiln} (set KILN=...)")

    rows = []
    base_mb = baseline_rss(kiln) / 1024
    for name in a.models.split(","):
        if name == "resnet50":
            model = generate("resnet50", models.resnet50, batch="N")
            make_feed = lambda b: models.resnet50_inputs(b)  # noqa: E731
            ref_model, ref_label = model, "resnet50"
        elif name == "bert":
            model = generate("bert_base", models.bert_base)
            make_feed = lambda b: models.bert_inputs(b, seq=a.seq)  # noqa: E731
            if a.ref_layers == 12:
                ref_model, ref_label = model, "bert"
            else:
                ref_model = generate(f"bert_{a.ref_layers}layer", models.bert_base, layers=a.ref_layers)
                ref_label = f"bert ({a.ref_layers} of 12 layers)"
        else:
            sys.exit(f"unknown model {name} (resnet50, bert)")
        for batch in [int(b) for b in a.batches.split(",")]:
            feed = make_feed(batch)
            feed_dir, npz = write_feed(f"{name}-b{batch}", feed)
            row = {"model": name, "batch": batch, "threads": a.threads}
            row["check"] = check(kiln, model, feed_dir, feed, a.threads)
            out, rss = timed([kiln, "run"] + kiln_args(model, feed_dir, feed) +
                             ["--repeat", str(a.runs), "--threads", str(a.threads), "--json"])
            t = json.loads(out)["timing"]
            row["kiln_ms"], row["kiln_cpu_ms"], row["kiln_rss_mb"] = t["median_ms"], t["median_cpu_ms"], rss / 1024
            out, rss = timed([PY, "-c", ORT_CHILD, str(model), str(npz), str(a.threads), str(a.runs)])
            t = json.loads(out)
            row["ort_ms"], row["ort_cpu_ms"], row["ort_rss_mb"] = t["median_ms"], t["median_cpu_ms"], rss / 1024
            bound = memory_bound(model, feed, kiln)
            if bound:
                row["weights_mb"], row["live_mb"] = bound[0] / 2**20, bound[1] / 2**20
                row["bound_mb"] = (bound[0] + 2 * bound[1]) / 2**20
            if batch == 1 and not a.no_ref:
                row["ref_model"] = ref_label
                if ref_model == model:
                    row["kiln_ref_model_ms"] = row["kiln_ms"]
                try:
                    out, _ = timed([PY, "-c", REF_CHILD, str(ref_model), str(npz)], timeout=a.ref_timeout)
                    row["ref_ms"] = json.loads(out)["median_ms"]
                    if ref_model != model:
                        out, _ = timed([kiln, "run"] + kiln_args(ref_model, feed_dir, feed) +
                                       ["--repeat", str(a.runs), "--threads", str(a.threads), "--json"])
                        row["kiln_ref_model_ms"] = json.loads(out)["timing"]["median_ms"]
                except subprocess.TimeoutExpired:
                    row["ref_ms"] = None
                    row["ref_note"] = f"timed out after {a.ref_timeout:.0f} s"
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)

    print(f"\nKiln vs onnxruntime {__import__('onnxruntime').__version__} (CPU EP) vs onnx "
          f"{onnx.__version__} ReferenceEvaluator; {a.threads} thread(s); median of {a.runs} runs after a warm-up; "
          f"{os.cpu_count()} cores\n")
    print("| model | batch | kiln ms | ort ms | kiln/ort | kiln CPU ms | ort CPU ms | CPU kiln/ort | kiln RSS MB | "
          "kiln RSS - process base MB | bound MB (weights + 2x live) | ort RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        bound = f"{r['bound_mb']:.0f} ({r['weights_mb']:.0f} + 2x{r['live_mb']:.0f})" if "bound_mb" in r else "-"
        print(f"| {r['model']} | {r['batch']} | {fmt_ms(r['kiln_ms'])} | {fmt_ms(r['ort_ms'])} | "
              f"{r['kiln_ms'] / r['ort_ms']:.2f} | {fmt_ms(r['kiln_cpu_ms'])} | {fmt_ms(r['ort_cpu_ms'])} | "
              f"{r['kiln_cpu_ms'] / r['ort_cpu_ms']:.2f} | {r['kiln_rss_mb']:.0f} | {r['kiln_rss_mb'] - base_mb:.0f} | {bound} | "
              f"{r['ort_rss_mb']:.0f} |")
    print("\nms: wall-clock latency; CPU ms: CPU time of the process (all threads) per run, which a busy "
          "machine inflates less than wall time")
    print(f"process base: peak RSS of `kiln run` on a one-MatMul model (runtime + OpenBLAS): {base_mb:.0f} MB")
    refs = [r for r in rows if "ref_model" in r]
    if refs:
        print("\n| ReferenceEvaluator model (batch 1) | ref ms (1 run) | kiln ms | ref/kiln |")
        print("|---|---|---|---|")
        for r in refs:
            if r.get("ref_ms") is None:
                print(f"| {r['ref_model']} | {r.get('ref_note')} | {fmt_ms(r['kiln_ref_model_ms'] if 'kiln_ref_model_ms' in r else None)} | - |")
            else:
                print(f"| {r['ref_model']} | {fmt_ms(r['ref_ms'])} | {fmt_ms(r['kiln_ref_model_ms'])} | "
                      f"{r['ref_ms'] / r['kiln_ref_model_ms']:.0f}x |")
    print("\nchecks: " + "; ".join(f"{r['model']} b{r['batch']}: {r['check']}" for r in rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
