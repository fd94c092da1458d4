#!/usr/bin/env python3
"""`kiln optimize` vs onnxsim, onnxslim and onnxoptimizer on the same models, in one run.

  KILN=.build/release/kiln .venv/bin/python Benchmarks/bench_optimize.py [--runs N] [--quick]
      [--only resnet50,bert,many,gpt2] [--timeout S] [--json FILE]

Models (generated once into Benchmarks/.data, git-ignored; a .json stamp records the parameters):
  resnet50  Benchmarks/models.py resnet50 (torch-export-shaped, BN not folded, dynamic batch)
  bert      Benchmarks/models.py bert_base (12 layers, decomposed LayerNorm/GELU/attention)
  many      Benchmarks/bench.py gen_many_nodes: 50,000 Add/Mul/Relu nodes
  gpt2      a GPT-2-large-shaped decoder (28 layers, hidden 1280): ~2.5 GB of float32 weights in
            one external data file, written chunk by chunk (generating it never holds the weights)
--quick shrinks them (2-layer BERT, 5,000 nodes, 2-layer GPT-2 with hidden 256) for a smoke run.

Every tool runs in a fresh process; rounds alternate kiln, onnxsim, onnxslim, onnxoptimizer;
the first round is a warm-up (page cache) and is discarded; the table shows medians. Wall time
and peak RSS come from Benchmarks/bench.py's `measure` (GNU time %M, /proc sampling). A tool
that crashes, fails or runs past --timeout is reported as such: that is a result, and it is not
run again on that model. The warm-up output of every tool is checked with onnxruntime against
the original model (except gpt2, too large to run here), so a wrong result cannot look fast.

Exit status: 1 if kiln failed or missed a floor from issue 5 (5x faster than onnxsim and
onnxslim; gpt2 peak RSS under 1.5 GiB; not more nodes than any peer that succeeded), else 0.
--quick checks correctness only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import (  # noqa: E402
    DATA, PY, REPO, Sample, _stamp_ok, _write_stamp, clean, fmt_b, fmt_s, gen_many_nodes, measure, med,
    mem_available, ratio,
)

TOOLS = ("kiln", "onnxsim", "onnxslim", "onnxoptimizer")
PEERS = TOOLS[1:]
SPEED_FLOOR = 5.0  # kiln at least this many times faster than these peers
SPEED_PEERS = ("onnxsim", "onnxslim")
GPT2_RSS_LIMIT = int(1.5 * 2**30)
RTOL, ATOL = 1e-3, 1e-4


# ----------------------------------------------------------------------------
# the GPT-2-shaped model with external weights


def gen_gpt2(path: Path, layers: int, hidden: int, heads: int, vocab: int, max_pos: int) -> None:
    """GPT-2 decoder as torch.onnx.export writes it at opset 17, minus the LM head: token and
    position Gather, then per layer decomposed LayerNorm, c_attn MatMul+Add, Split into q/k/v,
    Shape->Gather->Unsqueeze->Concat->Reshape + Transpose head chains, MatMul, Div, causal mask
    (Slice of a bool buffer by the sequence length, Where), Softmax, MatMul, c_proj, residual Add,
    MLP with GELU in tanh form; final LayerNorm. Weights are written to `<name>.data` one chunk at
    a time (at most ~16 MB in memory)."""
    from onnx import TensorProto, helper, numpy_helper

    data_name = path.name + ".data"
    params = {"kind": "gpt2", "layers": layers, "hidden": hidden, "heads": heads, "vocab": vocab,
              "max_pos": max_pos, "v": 1}
    if _stamp_ok(path, params) and (path.parent / data_name).exists():
        return
    total = 4 * (vocab * hidden + max_pos * hidden + layers * (12 * hidden * hidden + 13 * hidden) + 2 * hidden)
    print(f"  generating {path.name}: {layers} layers, hidden {hidden}, {total / 2**30:.2f} GiB in {data_name}",
          flush=True)
    nodes: list = []
    inits: list = []
    count = [0]
    f = open(path.parent / data_name, "wb")
    offset = [0]

    def external(name: str, shape: tuple, scale: float, seed: int, const: float | None = None) -> str:
        """Write a float32 tensor chunk by chunk; only its TensorProto header stays in memory."""
        rng = np.random.default_rng(seed)
        pad = -offset[0] % 64
        f.write(b"\0" * pad)
        offset[0] += pad
        n = int(np.prod(shape))
        chunk = 4 << 20  # elements
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            block = np.full(k, const, np.float32) if const is not None else \
                (rng.random(k, dtype=np.float32) - np.float32(0.5)) * np.float32(2 * scale)
            f.write(block.tobytes())
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape), data_location=TensorProto.EXTERNAL)
        for key, value in (("location", data_name), ("offset", str(offset[0])), ("length", str(n * 4))):
            t.external_data.add(key=key, value=value)
        offset[0] += n * 4
        inits.append(t)
        return name

    def const(value, dtype=np.int64) -> str:
        count[0] += 1
        name = f"onnx::Const_{count[0]}"
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(op_type: str, inputs: list[str], scope: str, outputs: int = 1, **attrs):
        count[0] += 1
        name = f"{scope}/{op_type}_{count[0]}"
        outs = [f"{name}_output_{i}" for i in range(outputs)]
        nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    seed = [1000]

    def weight(name, shape, scale=0.02, value=None):
        seed[0] += 1
        return external(name, shape, scale, seed[0], value)

    def layer_norm(x, prefix, scope):
        mean = op("ReduceMean", [x], scope, axes=[-1], keepdims=1)
        d = op("Sub", [x, mean], scope)
        var = op("ReduceMean", [op("Pow", [d, const(2.0, np.float32)], scope)], scope, axes=[-1], keepdims=1)
        y = op("Div", [d, op("Sqrt", [op("Add", [var, const(1e-5, np.float32)], scope)], scope)], scope)
        y = op("Mul", [y, weight(f"{prefix}.weight", (hidden,), value=1.0)], scope)
        return op("Add", [y, weight(f"{prefix}.bias", (hidden,), value=0.0)], scope)

    def linear(x, cin, cout, prefix, scope):
        y = op("MatMul", [x, weight(f"{prefix}.weight", (cin, cout))], scope)
        return op("Add", [y, weight(f"{prefix}.bias", (cout,), value=0.0)], scope)

    def dim(x, i, scope):
        g = op("Gather", [op("Shape", [x], scope), const(i)], scope, axis=0)
        return op("Unsqueeze", [g, const([0])], scope)

    head = hidden // heads
    causal = "transformer.h.bias"
    inits.append(numpy_helper.from_array(np.tril(np.ones((max_pos, max_pos), np.bool_))[None, None], causal))
    scope = "/transformer"
    seq = dim("input_ids", 1, scope)
    pos = op("Unsqueeze", [op("Range", [const(0), op("Gather", [op("Shape", ["input_ids"], scope), const(1)], scope,
                                                                 axis=0), const(1)], scope), const([0])], scope)
    h = op("Add", [op("Gather", [weight("transformer.wte.weight", (vocab, hidden)), "input_ids"], scope),
                   op("Gather", [weight("transformer.wpe.weight", (max_pos, hidden), 0.01), pos], scope)], scope)
    for li in range(layers):
        p, scope = f"transformer.h.{li}", f"/transformer/h.{li}"
        x = layer_norm(h, f"{p}.ln_1", f"{scope}/ln_1")
        qkv = linear(x, hidden, 3 * hidden, f"{p}.attn.c_attn", f"{scope}/attn/c_attn")
        q, k, v = op("Split", [qkv, const([hidden] * 3)], f"{scope}/attn", outputs=3, axis=2)

        def heads_of(t, perm):
            shape = op("Concat", [dim(t, 0, scope), dim(t, 1, scope), const([heads]), const([head])], scope, axis=0)
            return op("Transpose", [op("Reshape", [t, shape], scope)], scope, perm=perm)

        s = op("MatMul", [heads_of(q, [0, 2, 1, 3]), heads_of(k, [0, 2, 3, 1])], f"{scope}/attn")
        s = op("Div", [s, const(float(np.sqrt(head)), np.float32)], f"{scope}/attn")
        mask = op("Slice", [causal, const([0, 0]), op("Concat", [seq, seq], scope, axis=0), const([2, 3])], scope)
        s = op("Where", [mask, s, const(np.finfo(np.float32).min, np.float32)], f"{scope}/attn")
        ctx = op("MatMul", [op("Softmax", [s], f"{scope}/attn", axis=-1), heads_of(v, [0, 2, 1, 3])], f"{scope}/attn")
        ctx = op("Transpose", [ctx], scope, perm=[0, 2, 1, 3])
        ctx = op("Reshape", [ctx, op("Concat", [dim(ctx, 0, scope), dim(ctx, 1, scope), const([hidden])], scope,
                                     axis=0)], scope)
        h = op("Add", [h, linear(ctx, hidden, hidden, f"{p}.attn.c_proj", f"{scope}/attn/c_proj")], scope)
        x = linear(layer_norm(h, f"{p}.ln_2", f"{scope}/ln_2"), hidden, 4 * hidden, f"{p}.mlp.c_fc",
                   f"{scope}/mlp/c_fc")
        inner = op("Add", [x, op("Mul", [op("Pow", [x, const(3.0, np.float32)], scope),
                                         const(0.044715, np.float32)], scope)], scope)
        t = op("Tanh", [op("Mul", [inner, const(float(np.sqrt(2 / np.pi)), np.float32)], scope)], scope)
        x = op("Mul", [op("Mul", [x, const(0.5, np.float32)], scope), op("Add", [t, const(1.0, np.float32)], scope)],
               scope)
        h = op("Add", [h, linear(x, 4 * hidden, hidden, f"{p}.mlp.c_proj", f"{scope}/mlp/c_proj")], scope)
    y = layer_norm(h, "transformer.ln_f", "/transformer/ln_f")
    nodes.append(helper.make_node("Identity", [y], ["last_hidden_state"], name="/transformer/Identity"))
    f.close()
    g = helper.make_graph(nodes, "main_graph",
                          [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
                          [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                                         ["batch", "sequence", hidden])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_operatorsetid("", 17)], producer_name="pytorch")
    m.ir_version = 8
    path.write_bytes(m.SerializeToString())
    _write_stamp(path, params)


# ----------------------------------------------------------------------------
# running one tool

# Peers run through their Python APIs in a fresh interpreter. The driver loads the model
# (external data included), optimizes, saves (external data again when the input had it or
# the result is over 1.8 GB), and prints its own timings as the last stdout line (JSON).
PEER_DRIVER = r"""
import json, os, signal, sys, time
t0 = time.perf_counter()
peer, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
import onnx
from onnx.external_data_helper import load_external_data_for_model
m = onnx.load(src, load_external_data=False)
external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
load_external_data_for_model(m, os.path.dirname(os.path.abspath(src)))
t1 = time.perf_counter()
if peer == "onnxsim":
    import onnxsim
    m, ok = onnxsim.simplify(m)
    if not ok:
        sys.exit("onnxsim: its own check failed")
elif peer == "onnxslim":
    import onnxslim
    m = onnxslim.slim(m)
elif peer == "onnxoptimizer":
    import onnxoptimizer
    m = onnxoptimizer.optimize(m)
t2 = time.perf_counter()
big = external or sum(len(t.raw_data) for t in m.graph.initializer) > 1_800_000_000
onnx.save(m, dst, save_as_external_data=big, all_tensors_to_one_file=True,
          location=os.path.basename(dst) + ".data", size_threshold=1024)
t3 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "optimize": t2 - t1, "save": t3 - t2}))
"""


def tool_argv(tool: str, kiln: str, src: Path, dst: Path) -> list[str]:
    if tool == "kiln":
        return [kiln, "optimize", str(src), "-o", str(dst)]
    return [PY, "-c", PEER_DRIVER, tool, str(src), str(dst)]


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def run_timed(argv: list[str], timeout: float) -> tuple[Sample | None, str]:
    """bench.measure with a deadline: past it, every process this script started is killed
    by id. Returns (sample, "ok") or (None, why it failed)."""
    fired = threading.Event()
    done = threading.Event()

    def watchdog():
        if not done.wait(timeout):
            fired.set()
            for pid in _descendants(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    th = threading.Thread(target=watchdog, daemon=True)
    th.start()
    try:
        return measure(argv), "ok"
    except RuntimeError as e:
        if fired.is_set():
            return None, f"timed out after {timeout:.0f} s"
        code, _, err = str(e).rpartition(" exited ")[2].partition(": ")  # "<argv> exited <rc>: <stderr tail>"
        lines = [ln.strip() for ln in err.strip().splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if "rror" in ln), lines[-1] if lines else "no message")
        return None, f"failed (exit {code}): {why[:160]}"
    finally:
        done.set()
        th.join()


# ----------------------------------------------------------------------------
# checking a result


def count_nodes(path: Path) -> int:
    import onnx

    def walk(g) -> int:
        n = len(g.node)
        for node in g.node:
            for a in node.attribute:
                n += walk(a.g) if a.type == onnx.AttributeProto.GRAPH else sum(walk(s) for s in a.graphs)
        return n

    return walk(onnx.load(str(path), load_external_data=False).graph)


def ort_outputs(path: Path, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def check_result(src: Path, out: Path, feeds: dict | None, want: list | None) -> str:
    """'ok', 'not checked (...)', or what is wrong with the optimized model."""
    if want is None:
        return "not checked (too large to run here)"
    try:
        got = ort_outputs(out, feeds)
    except Exception as e:  # noqa: BLE001 - a model onnxruntime cannot run is a wrong result
        return f"onnxruntime cannot run it: {str(e).splitlines()[0][:120]}"
    for i, (a, b) in enumerate(zip(want, got)):
        if a.shape != b.shape or not np.allclose(b, a, rtol=RTOL, atol=ATOL, equal_nan=True):
            return f"output {i} differs from the original"
    return "ok" if len(want) == len(got) else f"{len(got)} outputs instead of {len(want)}"


# ----------------------------------------------------------------------------
# the benchmark


@dataclass
class Result:
    tool: str
    samples: list[Sample] = field(default_factory=list)
    status: str = "ok"
    check: str = ""
    nodes_after: int | None = None


@dataclass
class ModelRun:
    name: str
    nodes_before: int
    size: int
    results: dict[str, Result]
    note: str = ""


def bench_model(name: str, src: Path, kiln: str, runs: int, timeout: float, feeds: dict | None,
                tools: tuple[str, ...]) -> ModelRun:
    out_dir = DATA / "opt_out"
    want = ort_outputs(src, feeds) if feeds is not None else None
    size = sum(p.stat().st_size for p in src.parent.iterdir() if p == src or p.name == src.name + ".data")
    res = {t: Result(t) for t in tools}
    for rnd in range(runs + 1):
        for tool in tools:
            r = res[tool]
            if r.status != "ok":
                continue  # a crash or timeout is the result; do not repeat it
            clean(out_dir)
            dst = out_dir / f"{tool}.onnx"
            sample, status = run_timed(tool_argv(tool, kiln, src, dst), timeout)
            if sample is None or not dst.is_file():
                r.status = status if sample is None else "exited 0 without writing a model"
                print(f"    {tool}: {r.status}", flush=True)
                continue
            if rnd == 0:
                r.nodes_after = count_nodes(dst)
                r.check = check_result(src, dst, feeds, want)
            else:
                r.samples.append(sample)
            print(f"    run {rnd}{' (warm-up)' if rnd == 0 else ''}: {tool} {fmt_s(sample.wall)} "
                  f"{fmt_b(sample.maxrss)}" + (f", {r.nodes_after} nodes, {r.check}" if rnd == 0 else ""), flush=True)
    clean(out_dir)
    return ModelRun(name, count_nodes(src), size, res)


def print_table(runs: list[ModelRun]) -> None:
    hdr = (f"{'model':24s} {'tool':14s} {'wall':>9s} {'kiln/tool':>9s} {'peak RSS':>9s} {'kiln/tool':>9s} "
           f"{'RssAnon':>9s} {'nodes':>15s}  result")
    print(hdr)
    print("-" * len(hdr))
    for mr in runs:
        k = mr.results.get("kiln")
        kw = med([s.wall for s in k.samples]) if k and k.samples else float("nan")
        km = med([s.maxrss for s in k.samples]) if k and k.samples else float("nan")
        label = f"{mr.name} ({fmt_b(mr.size)})"
        for tool, r in mr.results.items():
            if r.samples:
                w, m = med([s.wall for s in r.samples]), med([s.maxrss for s in r.samples])
                anon = med([s.anon for s in r.samples])
                cells = f"{fmt_s(w):>9s} {ratio(kw, w) if tool != 'kiln' else '':>9s} {fmt_b(m):>9s} " \
                        f"{ratio(km, m) if tool != 'kiln' else '':>9s} {fmt_b(anon) if anon else '-':>9s}"
            else:
                cells = f"{'-':>9s} {'':>9s} {'-':>9s} {'':>9s} {'-':>9s}"
            nodes = f"{mr.nodes_before} -> {r.nodes_after}" if r.nodes_after is not None else f"{mr.nodes_before} -> -"
            result = r.status if r.status != "ok" else (r.check or "ok")
            print(f"{label:24s} {tool:14s} {cells} {nodes:>15s}  {result}")
            label = ""
        if mr.note:
            print(f"{'':24s} note: {mr.note}")
    print("\nmedians of the timed runs; ratios kiln/tool (< 1: kiln faster or smaller); peak RSS counts mapped file "
          "pages too, RssAnon (sampled every 5 ms, a lower bound) only allocated memory; nodes include subgraphs")


def floors(runs: list[ModelRun]) -> list[str]:
    bad = []
    for mr in runs:
        k = mr.results.get("kiln")
        if k is None:
            continue
        if k.status != "ok" or k.check not in ("ok",) and not k.check.startswith("not checked"):
            bad.append(f"{mr.name}: kiln {k.status if k.status != 'ok' else k.check}")
            continue
        kw = med([s.wall for s in k.samples])
        for p in SPEED_PEERS:
            r = mr.results.get(p)
            if r and r.samples and kw * SPEED_FLOOR > med([s.wall for s in r.samples]):
                bad.append(f"{mr.name}: kiln {fmt_s(kw)} is not {SPEED_FLOOR:.0f}x faster than {p} "
                           f"({fmt_s(med([s.wall for s in r.samples]))})")
        for p in PEERS:
            r = mr.results.get(p)
            if r and r.nodes_after is not None and r.status == "ok" and k.nodes_after > r.nodes_after:
                bad.append(f"{mr.name}: kiln leaves {k.nodes_after} nodes, {p} {r.nodes_after}")
        if mr.name.startswith("gpt2"):
            peak = max(s.maxrss for s in k.samples)
            if peak >= GPT2_RSS_LIMIT:
                bad.append(f"{mr.name}: kiln peak RSS {fmt_b(peak)} >= {fmt_b(GPT2_RSS_LIMIT)}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="timed runs per tool and model (default 3)")
    ap.add_argument("--quick", action="store_true", help="small models, for a smoke run (no floors)")
    ap.add_argument("--only", default="resnet50,bert,many,gpt2", help="comma-separated subset")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=600, help="seconds per tool run (default 600)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    tools = tuple(t for t in TOOLS if t in args.tools.split(","))

    import models  # Benchmarks/models.py
    import onnx

    kiln = os.environ.get("KILN") or str(REPO / ".build" / "release" / "kiln")
    if "kiln" in tools and not os.access(kiln, os.X_OK):
        print(f"bench_optimize: kiln binary not found at {kiln} (make release, or set KILN)", file=sys.stderr)
        return 2
    versions = {}
    for p in PEERS:
        try:
            versions[p] = __import__(p).__version__
        except Exception as e:  # noqa: BLE001 - a missing peer is reported, not fatal
            versions[p] = f"unavailable ({type(e).__name__})"
    kv = subprocess.run([kiln, "--version"], capture_output=True, text=True).stdout.strip() if "kiln" in tools else "-"
    print(f"kiln {kv} ({kiln}); " + ", ".join(f"{p} {v}" for p, v in versions.items()))
    print(f"python {platform.python_version()}, onnx {onnx.__version__}; {os.cpu_count()} CPUs, "
          f"{mem_available() / 2**30:.1f} GiB available; runs={args.runs}, timeout={args.timeout:.0f} s"
          f"{' (quick)' if args.quick else ''}")

    q = "-quick" if args.quick else ""
    DATA.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[str, Path, dict | None, str]] = []
    print("models:")
    if "resnet50" in only:
        path = DATA / "opt_resnet50.onnx"
        params = {"kind": "resnet50", "v": 1}
        if not _stamp_ok(path, params):
            print(f"  generating {path.name}", flush=True)
            models.resnet50(str(path))
            _write_stamp(path, params)
        todo.append(("resnet50", path, models.resnet50_inputs(1), ""))
    if "bert" in only:
        layers = 2 if args.quick else 12
        path = DATA / f"opt_bert_base{q}.onnx"
        params = {"kind": "bert_base", "layers": layers, "v": 1}
        if not _stamp_ok(path, params):
            print(f"  generating {path.name}", flush=True)
            models.bert_base(str(path), layers=layers)
            _write_stamp(path, params)
        todo.append((f"bert-base{q}", path, models.bert_inputs(2, seq=16), ""))
    if "many" in only:
        count = 5_000 if args.quick else 50_000
        path = DATA / f"many_nodes{q}.onnx"
        gen_many_nodes(path, count)
        feeds = {"X": np.random.default_rng(0).standard_normal((1, 64), dtype=np.float32)}
        todo.append((f"{count:,} nodes", path, feeds, ""))
    if "gpt2" in only:
        cfg = dict(layers=2, hidden=256, heads=4, vocab=50257, max_pos=1024) if args.quick else \
            dict(layers=28, hidden=1280, heads=20, vocab=50257, max_pos=1024)
        d = DATA / f"opt_gpt2{q}"
        d.mkdir(exist_ok=True)
        path = d / "model.onnx"
        h, L, v = cfg["hidden"], cfg["layers"], cfg["vocab"]
        need = 4 * (v * h + cfg["max_pos"] * h + L * 12 * h * h)
        free = shutil.disk_usage(DATA).free + (path.with_name("model.onnx.data").stat().st_size
                                               if path.with_name("model.onnx.data").exists() else 0)
        if free < 2 * need + (1 << 30):
            print(f"  gpt2 skipped: {fmt_b(free)} free disk, needs {fmt_b(2 * need + (1 << 30))} "
                  "(model + one optimized copy + 1 GiB)")
        else:
            gen_gpt2(path, **cfg)
            note = ""
            if mem_available() < 3 * need:
                note = (f"peers skipped: {fmt_b(mem_available())} available, they load all weights "
                        f"(needs ~{fmt_b(3 * need)})")
            # the full model is too large to run in onnxruntime five times here; the quick one is checked
            feeds = {"input_ids": np.random.default_rng(0).integers(0, v, (1, 16), dtype=np.int64)} if args.quick \
                else None
            todo.append((f"gpt2{q}", path, feeds, note))
    for name, path, _, _ in todo:
        data = path.with_name(path.name + ".data")
        print(f"  {name}: {path.relative_to(REPO)} {fmt_b(path.stat().st_size)}"
              + (f" + {fmt_b(data.stat().st_size)} external" if data.exists() else ""))

    results: list[ModelRun] = []
    for name, path, feeds, note in todo:
        ts = tuple(t for t in tools if t == "kiln" or not note)
        print(f"{name}: {', '.join(ts)}", flush=True)
        mr = bench_model(name, path, kiln, args.runs, args.timeout, feeds, ts)
        mr.note = note
        results.append(mr)

    print()
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps([{
            "model": mr.name, "bytes": mr.size, "nodes_before": mr.nodes_before, "note": mr.note,
            "tools": {t: {"status": r.status, "check": r.check, "nodes_after": r.nodes_after,
                          "wall_s": [s.wall for s in r.samples], "peak_rss": [s.maxrss for s in r.samples],
                          "peak_rss_anon": [s.anon for s in r.samples]}
                      for t, r in mr.results.items()}} for mr in results], indent=2))
    if "kiln" not in tools:
        return 0
    bad = floors(results)
    if args.quick:
        bad = [b for b in bad if "faster" not in b and "RSS" not in b]
    if bad:
        print("\nFAILED: " + "; ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
