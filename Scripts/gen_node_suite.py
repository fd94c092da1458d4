#!/usr/bin/env python3
"""Generate the ONNX backend *node* test suite from the installed onnx wheel.

The onnx wheel ships the Python code that defines the backend node tests
(``onnx.backend.test.case.node``) but not the generated ``data/node`` folder.
This script runs that code and writes every case in the standard layout that
``onnx/backend/test/cmd_tools.py generate-data`` uses::

    OUT/<case>/model.onnx
    OUT/<case>/test_data_set_0/input_0.pb ... output_0.pb ...

Importing the case modules calls every ``export_*`` method once, with
``np.random.seed(0)`` before each (see ``onnx/backend/test/case/base.py``), so
the output is deterministic for a given onnx version. The suite is written to a
temporary sibling folder and renamed into place, so an interrupted run never
leaves a half-written suite behind.

Usage: gen_node_suite.py --out DIR [--op OP_TYPE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings


def _serialize_value(value, value_info, name: str) -> bytes:
    """Serialize one test input/output the same way onnx's cmd_tools does."""
    from onnx import TensorProto, numpy_helper

    t = value_info.type
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if not t.HasField("tensor_type"):
        raise ValueError(f"unsupported value type for {name!r}: {t}")
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def collect_cases(op_type: str | None = None):
    # The case modules emit DeprecationWarnings/RuntimeWarnings (e.g. divide by
    # zero in expected outputs); they are irrelevant here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import onnx.backend.test.case.node as node_cases

        return list(node_cases.collect_testcases(op_type))


def write_case(case, root: str) -> None:
    case_dir = os.path.join(root, case.name)
    os.makedirs(case_dir)
    model = case.model
    with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for i, (inputs, outputs) in enumerate(case.data_sets):
        ds = os.path.join(case_dir, f"test_data_set_{i}")
        os.makedirs(ds)
        for j, value in enumerate(inputs):
            vi = model.graph.input[j]
            with open(os.path.join(ds, f"input_{j}.pb"), "wb") as f:
                f.write(_serialize_value(value, vi, vi.name))
        for j, value in enumerate(outputs):
            vi = model.graph.output[j]
            with open(os.path.join(ds, f"output_{j}.pb"), "wb") as f:
                f.write(_serialize_value(value, vi, vi.name))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (replaced)")
    ap.add_argument("--op", default=None, help="only this op_type (debugging)")
    args = ap.parse_args(argv)

    import onnx

    t0 = time.monotonic()
    cases = collect_cases(args.op)
    names = [c.name for c in cases]
    if len(names) != len(set(names)):
        dup = sorted({n for n in names if names.count(n) > 1})
        print(f"gen_node_suite: duplicate case names: {dup[:10]}", file=sys.stderr)
        return 1

    out = os.path.abspath(args.out)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for case in sorted(cases, key=lambda c: c.name):
        if case.model is None or not case.data_sets:
            print(f"gen_node_suite: case {case.name} has no model/data", file=sys.stderr)
            return 1
        write_case(case, tmp)
    with open(os.path.join(tmp, "VERSION"), "w") as f:
        f.write(f"onnx {onnx.__version__}\ncases {len(cases)}\n")
        if args.op:
            f.write(f"op {args.op}\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    print(
        f"gen_node_suite: wrote {len(cases)} node test cases (onnx {onnx.__version__}) "
        f"to {out} in {time.monotonic() - t0:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
