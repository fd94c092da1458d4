#!/usr/bin/env python3
"""`kiln inspect` and `kiln diff` vs the peers on the same models, in one run.

  KILN=.build/release/kiln .venv/bin/python Benchmarks/bench_report.py [--runs N] [--quick]

Models (generated into Benchmarks/.data, git-ignored): a BERT-base-shaped encoder
(Benchmarks/models.py) and the 50,000-node model of Benchmarks/bench.py. For each:

- inspect: `kiln inspect MODEL` (summary + symbolic MACs/FLOPs, which runs shape inference)
  vs `polygraphy inspect model MODEL --show layers` (its per-layer listing);
- diff: `kiln diff MODEL SIMPLIFIED --fail-on numeric` (structural diff with alignment and
  rewrite grouping; SIMPLIFIED is onnxsim's output, made once) vs `onnxsim MODEL OUT --graph-diff`
  (onnxsim's only diff: it simplifies, then diffs the model with its own simplified copy, matched by
  tensor name).

Each command runs in a fresh process, alternating Kiln and peer; the first round is a warm-up;
medians of wall time and peak RSS, ratio kiln/peer (< 1: Kiln faster or smaller). A peer that fails
is reported as such.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (shared measuring helpers and the 50k-node generator)

DATA = bench.DATA
PY = sys.executable


def _bert(path: Path, layers: int) -> bool:
    params = {"layers": layers}
    if path.exists() and bench._stamp_ok(path, params):
        return True
    try:
        from models import bert_base
    except ImportError as e:
        print(f"  bert: Benchmarks/models.py not importable ({e}); skipping")
        return False
    print(f"  generating {path.name}")
    bert_base(str(path), layers=layers)
    bench._write_stamp(path, params)
    return True


def _simplified(src: Path) -> Path | None:
    out = src.with_name(src.stem + ".onnxsim.onnx")
    if out.exists() and out.stat().st_mtime >= src.stat().st_mtime:
        return out
    p = subprocess.run([PY, "-m", "onnxsim", str(src), str(out)], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  onnxsim failed on {src.name}: {p.stderr[-300:]}")
        return None
    return out


def _try(argv):
    try:
        return bench.measure(argv)
    except Exception as e:  # a peer that fails is a result, not a crash of the bench
        return str(e).splitlines()[0][:120] if str(e) else type(e).__name__


def _row(name, kiln_argv, peer_argv, runs):
    ks, ps = [], []
    for r in range(runs + 1):
        k = _try(kiln_argv)
        p = _try(peer_argv)
        if isinstance(k, str):
            raise SystemExit(f"kiln failed: {k}")
        if r == 0:
            continue  # warm-up
        ks.append(k)
        ps.append(p)
    kw = bench.med([s.wall for s in ks])
    km = bench.med([s.maxrss for s in ks])
    good = [s for s in ps if not isinstance(s, str)]
    if not good:
        return (name, kw, km, None, None, ps[0])
    return (name, kw, km, bench.med([s.wall for s in good]), bench.med([s.maxrss for s in good]), "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="2-layer BERT and 5,000 nodes")
    args = ap.parse_args(argv)
    kiln = os.environ.get("KILN") or str(bench.REPO / ".build" / "release" / "kiln")
    DATA.mkdir(parents=True, exist_ok=True)
    polygraphy = shutil.which("polygraphy", path=str(Path(PY).parent)) or shutil.which("polygraphy")
    models = []
    bert = DATA / ("bert_report_quick.onnx" if args.quick else "bert_report.onnx")
    if _bert(bert, 2 if args.quick else 12):
        models.append(("bert", bert))
    many = DATA / ("many_quick.onnx" if args.quick else "many.onnx")
    count = 5_000 if args.quick else 50_000
    if not (many.exists() and bench._stamp_ok(many, {"count": count})):
        bench.gen_many_nodes(many, count)
        bench._write_stamp(many, {"count": count})
    models.append(("50k-nodes" if not args.quick else "5k-nodes", many))
    rows = []
    for label, path in models:
        if polygraphy:
            rows.append(_row(f"inspect {label}", [kiln, "inspect", str(path)],
                             [polygraphy, "inspect", "model", str(path), "--show", "layers"], args.runs))
        simplified = _simplified(path)
        if simplified:
            rows.append(_row(f"diff {label}", [kiln, "diff", str(path), str(simplified), "--fail-on", "numeric"],
                             [PY, "-m", "onnxsim", str(path), str(DATA / "graphdiff.onnx"), "--graph-diff"], args.runs))
    print(f"\nkiln inspect / diff vs polygraphy inspect / onnxsim --graph-diff (median of {args.runs}, 1 warm-up)")
    print(f"{'case':22} {'kiln s':>9} {'peer s':>9} {'ratio':>7} {'kiln RSS':>10} {'peer RSS':>10} {'ratio':>7}")
    for name, kw, km, pw, pm, note in rows:
        if pw is None:
            print(f"{name:22} {bench.fmt_s(kw):>9} {'failed':>9} {'':>7} {bench.fmt_b(km):>10}   peer: {note}")
            continue
        print(f"{name:22} {bench.fmt_s(kw):>9} {bench.fmt_s(pw):>9} {bench.ratio(kw, pw):>7} "
              f"{bench.fmt_b(km):>10} {bench.fmt_b(pm):>10} {bench.ratio(km, pm):>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
