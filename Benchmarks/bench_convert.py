#!/usr/bin/env python3
"""`kiln convert --opset N` vs `onnx.version_converter` on the same models and targets.

  KILN=.build/release/kiln .venv/bin/python Benchmarks/bench_convert.py [--quick] [--node-stride N]
      [--json FILE]

Models: every Fixtures/*.onnx onnxruntime runs (MANIFEST.json), Fixtures/optimize/*.onnx,
torch-export-shaped ResNet-50 and BERT from Benchmarks/models.py (opset 17; generated once into
Benchmarks/.data; --quick uses a 2-layer BERT), and every --node-stride-th case of the ONNX
backend node suite (NODE_SUITE, default Tests/Interop/.generated/node; stride 20).
Targets: opsets 11, 13, 17, 21 and the highest onnx knows.

A conversion succeeds when the tool returns a model that imports the target opset and passes
onnx.checker.check_model(full_check=True) -- or, when the original itself fails the full check
(an onnx bug on some node-suite models), the plain check. Kiln runs as a subprocess per
conversion (its wall time includes reading and writing the file); onnx's converter runs in this
process on the loaded model plus onnx.save (also read and write). The table lists, per target,
the successes of each tool, the cases only one of them converts, and the summed wall times.

Exit status 1 when onnx's converter succeeds on a (model, target) where Kiln does not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnx import version_converter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Benchmarks"))
import models  # noqa: E402

HIGHEST = onnx.defs.onnx_opset_version()
TARGETS = (11, 13, 17, 21, HIGHEST)
DATA = REPO / "Benchmarks" / ".data"


def kiln_binary() -> str:
    return os.environ.get("KILN") or str(REPO / ".build" / "release" / "kiln")


def model_set(quick: bool, stride: int) -> dict[str, Path]:
    out: dict[str, Path] = {}
    manifest = json.loads((REPO / "Fixtures" / "MANIFEST.json").read_text())
    manifest = manifest.get("files", manifest)
    for name, info in sorted(manifest.items()):
        if isinstance(info, dict) and info.get("onnxruntime") and (REPO / "Fixtures" / name).is_file():
            out[f"fixtures/{Path(name).stem}"] = REPO / "Fixtures" / name
    for p in sorted((REPO / "Fixtures" / "optimize").glob("*.onnx")):
        out[f"optimize/{p.stem}"] = p
    DATA.mkdir(exist_ok=True)
    resnet = DATA / "convert_resnet50.onnx"
    if not resnet.exists():
        models.resnet50(str(resnet))
    bert = DATA / ("convert_bert2.onnx" if quick else "convert_bert.onnx")
    if not bert.exists():
        models.bert_base(str(bert), layers=2 if quick else 12)
    out["torch/resnet50"] = resnet
    out["torch/bert" + ("-2layers" if quick else "")] = bert
    suite = Path(os.environ.get("NODE_SUITE") or REPO / "Tests" / "Interop" / ".generated" / "node")
    if suite.is_dir() and stride > 0:
        cases = sorted(p.name for p in suite.iterdir() if (p / "model.onnx").is_file())
        for case in cases[::stride]:
            out[f"node/{case}"] = suite / case / "model.onnx"
    return out


def valid(path: Path, target: int, strict: bool) -> bool:
    try:
        m = onnx.load(str(path))
        if {o.domain or "": o.version for o in m.opset_import}.get("") != target:
            return False
        onnx.checker.check_model(m, full_check=strict)
        return True
    except Exception:  # noqa: BLE001
        return False


def original_strict(path: Path) -> bool:
    try:
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        return True
    except Exception:  # noqa: BLE001
        return False


def run_kiln(src: Path, dst: Path, target: int) -> tuple[bool, float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([kiln_binary(), "convert", str(src), "-o", str(dst), "--opset", str(target)],
                       capture_output=True, text=True, timeout=600)
    return p.returncode == 0, time.perf_counter() - t0, p.stderr.strip()[:200]


def run_onnx(src: Path, dst: Path, target: int) -> tuple[bool, float, str]:
    t0 = time.perf_counter()
    try:
        converted = version_converter.convert_version(onnx.load(str(src)), target)
        onnx.save(converted, str(dst))
        return True, time.perf_counter() - t0, ""
    except Exception as e:  # noqa: BLE001
        return False, time.perf_counter() - t0, str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--node-stride", type=int, default=20)
    ap.add_argument("--json")
    args = ap.parse_args()
    chosen = model_set(args.quick, args.node_stride)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model_id, path in chosen.items():
            strict = original_strict(path)
            for target in TARGETS:
                k_out, o_out = Path(tmp) / "k.onnx", Path(tmp) / "o.onnx"
                for f in (k_out, o_out):
                    f.unlink(missing_ok=True)
                k_ok, k_s, k_err = run_kiln(path, k_out, target)
                o_ok, o_s, o_err = run_onnx(path, o_out, target)
                k_ok = k_ok and valid(k_out, target, strict)
                o_ok = o_ok and valid(o_out, target, strict)
                rows.append(dict(model=model_id, target=target, kiln=k_ok, onnx=o_ok, kiln_s=k_s, onnx_s=o_s,
                                 kiln_error=k_err, onnx_error=o_err))
    print(f"kiln convert --opset vs onnx.version_converter {onnx.__version__}: {len(chosen)} models x {len(TARGETS)} targets")
    print(f"{'target':>6} {'kiln ok':>8} {'onnx ok':>8} {'both':>6} {'kiln only':>10} {'onnx only':>10} {'kiln s':>8} {'onnx s':>8} {'ratio':>6}")
    for target in TARGETS + ("all",):
        sel = [r for r in rows if target == "all" or r["target"] == target]
        k = sum(r["kiln"] for r in sel)
        o = sum(r["onnx"] for r in sel)
        both = sum(r["kiln"] and r["onnx"] for r in sel)
        ks = sum(r["kiln_s"] for r in sel)
        os_ = sum(r["onnx_s"] for r in sel)
        print(f"{target!s:>6} {k:>8} {o:>8} {both:>6} {k - both:>10} {o - both:>10} {ks:>8.1f} {os_:>8.1f} {ks / max(os_, 1e-9):>6.2f}")
    torch = [r for r in rows if r["model"].startswith(("torch/", "optimize/"))]
    print("\ntorch-shaped and transformer fixtures (kiln / onnx):")
    for r in torch:
        print(f"  {r['model']:<36} -> {r['target']:>2}: {'ok ' if r['kiln'] else 'NO '} / {'ok' if r['onnx'] else 'NO'}"
              + ("" if r["onnx"] else f"   onnx: {r['onnx_error'][:90]}"))
    onnx_only = [r for r in rows if r["onnx"] and not r["kiln"]]
    for r in onnx_only:
        print(f"ONNX ONLY: {r['model']} -> {r['target']}: kiln: {r['kiln_error']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if onnx_only else 0


if __name__ == "__main__":
    sys.exit(main())
