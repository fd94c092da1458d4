"""`kiln optimize` must never change a result, must write valid models, and must
leave no more nodes than onnxsim and onnxslim.

Models: every fixture in Fixtures/optimize (Scripts/make_optimize_fixtures.py), every
Fixtures/*.onnx that onnxruntime runs (MANIFEST.json), and every 10th case of the
ONNX backend node suite (NODE_SUITE; NODE_SAMPLE=N changes the stride).

For each model and level (1 and 3):
  - the optimizer exits 0 and the input files are unchanged (hashes before/after);
  - onnx.checker (full check) accepts the output whenever it accepts the input;
  - onnxruntime gives the same outputs for the original and the optimized model
    (rtol 1e-3, atol 1e-4) on the same random inputs, at two sizes of every dynamic
    dim (the fixture's `kiln.optimize.dims` metadata, else 2 and 3; integer inputs
    drawn from `kiln.optimize.ranges`); node-suite models use their own test data;
  - optimizing twice gives byte-identical files;
  - at level 3, no more nodes (subgraphs included) than onnxsim's and onnxslim's
    output on the same model. Peers run in process, in one worker per peer; a peer
    that crashes, fails or times out is recorded and left out of the comparison.
A table of node counts (original, kiln, onnxsim, onnxslim, onnxoptimizer) is printed
in the terminal summary.

Kiln-only CLI tests: `--verify 2` succeeds on every fixture; with
KILN_OPTIMIZE_INJECT_FAULT=1 the optimizer corrupts its result on purpose (the first
graph output must then differ from the original's) and `--verify 2` must catch it
(exit 1, nothing written); bad input (missing file, not ONNX, unwritable -o) exits 2
naming the file and writes nothing.

Environment:
  KILN_OPTIMIZE_CMD  run another optimizer instead of `kiln optimize`, to validate this
                     harness before Kiln has one: a template with {in}, {out}, and
                     optionally {level} and {python} (this interpreter), e.g.
                     KILN_OPTIMIZE_CMD='{python} -m onnxsim {in} {out}'.
                     Kiln-only CLI tests are skipped then; without it they fail if
                     `kiln optimize` does not exist.
  NODE_SAMPLE        stride of the node-suite sample (default 10; 0 leaves it out).
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest

import kilnlib as kl
from conftest import node_suite_dir

OPT_FIXTURES = kl.FIXTURES / "optimize"
RTOL, ATOL = 1e-3, 1e-4
DEFAULT_SIZES = (2, 3)
PEERS = ("onnxsim", "onnxslim", "onnxoptimizer")
COMPARED_PEERS = ("onnxsim", "onnxslim")  # Kiln must not leave more nodes than these
PEER_TIMEOUT = 300.0
CMD_TEMPLATE = os.environ.get("KILN_OPTIMIZE_CMD", "").strip()
LEVELS = ("1", "3") if not CMD_TEMPLATE or "{level}" in CMD_TEMPLATE else ("default",)
NODE_SAMPLE = int(os.environ.get("NODE_SAMPLE", "10"))
kiln_only = pytest.mark.skipif(bool(CMD_TEMPLATE), reason="KILN_OPTIMIZE_CMD replaces kiln optimize")


# ----------------------------------------------------------------------------
# the models under test: id -> path


def _models() -> dict[str, Path]:
    out = {f"optimize/{p.stem}": p for p in sorted(OPT_FIXTURES.glob("*.onnx"))}
    for name, info in sorted(kl.manifest().items()):
        if info["onnxruntime"]:
            out[f"fixtures/{name.removesuffix('.onnx')}"] = kl.FIXTURES / name
    suite = node_suite_dir()
    if NODE_SAMPLE > 0 and suite.is_dir():
        cases = sorted(p.name for p in suite.iterdir() if (p / "model.onnx").is_file())
        for case in cases[::NODE_SAMPLE]:
            out[f"node/{case}"] = suite / case / "model.onnx"
    return out


MODELS = _models()
OPT_IDS = [k for k in MODELS if k.startswith("optimize/")]


# ----------------------------------------------------------------------------
# running the optimizer


def optimizer_argv(src: Path, dst: Path, level: str, *extra: str) -> list[str]:
    if CMD_TEMPLATE:
        return [a.format(**{"in": str(src), "out": str(dst), "level": level, "python": sys.executable})
                for a in shlex.split(CMD_TEMPLATE)] + list(extra)
    argv = [kl.kiln_binary(), "optimize", str(src), "-o", str(dst)]
    if level != "default":
        argv += ["--level", level]
    return argv + list(extra)


def run_optimizer(src: Path, dst: Path, level: str, *extra: str, env: dict | None = None) -> kl.Run:
    argv = optimizer_argv(src, dst, level, *extra)
    try:
        p = subprocess.run(argv, capture_output=True, timeout=600, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return kl.Run(argv, -999, "", "timed out after 600 s", 600.0)
    return kl.Run(argv, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), 0.0)


class Optimized:
    """One optimizer run per (model, level) per session, kept for every test that needs it."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[tuple[str, str], tuple[kl.Run, Path, dict, dict]] = {}

    def get(self, model_id: str, level: str):
        key = (model_id, level)
        if key not in self.cache:
            src = MODELS[model_id]
            out_dir = self.root / model_id.replace("/", "__") / f"level{level}"
            out_dir.mkdir(parents=True)
            before = kl.tree_snapshot(src.parent)
            run = run_optimizer(src, out_dir / "out.onnx", level)
            self.cache[key] = (run, out_dir / "out.onnx", before, kl.tree_snapshot(src.parent))
        return self.cache[key]


@pytest.fixture(scope="session")
def optimized(tmp_path_factory) -> Optimized:
    return Optimized(tmp_path_factory.mktemp("optimize_out"))


def _require_ok(model_id: str, level: str, optimized: Optimized) -> Path:
    run, out, _, _ = optimized.get(model_id, level)
    assert run.rc == 0, f"{model_id}: {run.describe()}"
    assert out.is_file(), f"{model_id}: the optimizer exited 0 but wrote no {out.name}"
    return out


# ----------------------------------------------------------------------------
# inputs and onnxruntime


def _meta(model: onnx.ModelProto, key: str) -> dict:
    for p in model.metadata_props:
        if p.key == key:
            return json.loads(p.value)
    return {}


def dynamic_dims(model: onnx.ModelProto) -> list[str]:
    """Names of the dynamic dims of the graph inputs (unnamed ones get '?input:axis')."""
    inits = {t.name for t in model.graph.initializer}
    names: list[str] = []
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        for i, d in enumerate(inp.type.tensor_type.shape.dim):
            if not d.HasField("dim_value"):
                n = d.dim_param or f"?{inp.name}:{i}"
                if n not in names:
                    names.append(n)
    return names


def make_feeds(model: onnx.ModelProto, variant: int, seed: int) -> dict[str, np.ndarray]:
    """Random inputs (kilnlib.random_feeds) with each dynamic dim at the `variant`-th of
    its two sizes, and integer inputs redrawn inside their `kiln.optimize.ranges`."""
    sizes = {**{n: DEFAULT_SIZES for n in dynamic_dims(model)}, **_meta(model, "kiln.optimize.dims")}
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for inp in fixed.graph.input:
        for i, d in enumerate(inp.type.tensor_type.shape.dim if inp.type.HasField("tensor_type") else []):
            if not d.HasField("dim_value"):
                d.dim_value = sizes[d.dim_param or f"?{inp.name}:{i}"][variant]
    feeds = kl.random_feeds(fixed, seed)
    if feeds is None:
        pytest.skip("an input is not a plain tensor")
    rng = np.random.default_rng(seed + 1000)
    for name, (lo, hi) in _meta(model, "kiln.optimize.ranges").items():
        if name in feeds:
            feeds[name] = rng.integers(lo, hi, size=feeds[name].shape).astype(feeds[name].dtype)
    return feeds


def node_suite_feeds(model_path: Path, model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The case's own test_data_set_0 inputs (they respect the op's value constraints)."""
    data = model_path.parent / "test_data_set_0"
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for i, inp in enumerate(i for i in model.graph.input if i.name not in inits):
        f = data / f"input_{i}.pb"
        if not f.is_file() or not inp.type.HasField("tensor_type"):
            pytest.skip(f"input {inp.name} is not a plain tensor with test data")
        t = onnx.TensorProto()
        t.ParseFromString(f.read_bytes())
        feeds[inp.name] = onnx.numpy_helper.to_array(t)
    return feeds


def feed_sets(model_id: str) -> list[tuple[str, dict[str, np.ndarray]]]:
    path = MODELS[model_id]
    model = kl.load(path, external=False)
    if model_id.startswith("node/"):
        return [("test_data_set_0", node_suite_feeds(path, model))]
    dims = dynamic_dims(model)
    if not dims:
        return [("static", make_feeds(model, 0, seed=1))]
    out = []
    for variant in (0, 1):
        feeds = make_feeds(model, variant, seed=1 + variant)
        label = ", ".join(f"{k}={v.shape}" for k, v in feeds.items())
        out.append((label, feeds))
    return out


def ort_outputs(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {k: v for k, v in feeds.items() if k in wanted})))


def mismatches(want: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> list[str]:
    problems = []
    if list(want) != list(got):
        problems.append(f"graph outputs changed: {list(want)} -> {list(got)}")
    for name, a in want.items():
        if name not in got:
            continue
        b = np.asarray(got[name])
        a = np.asarray(a)
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{name}: {a.dtype}{list(a.shape)} -> {b.dtype}{list(b.shape)}")
        elif a.dtype.kind in "fc":
            bad = ~np.isclose(b, a, rtol=RTOL, atol=ATOL, equal_nan=True)
            if bad.any():
                i = np.unravel_index(np.argmax(np.where(bad, np.abs(b - a), -1)), a.shape) if a.ndim else ()
                problems.append(f"{name}: {int(bad.sum())}/{a.size} elements differ, e.g. at {[int(j) for j in i]} "
                                f"{a[i]!r} -> {b[i]!r}")
        elif not np.array_equal(a, b):
            problems.append(f"{name}: {int((a != b).sum())}/{a.size} elements differ")
    return problems


# ----------------------------------------------------------------------------
# node counts and peers


def count_nodes(graph: onnx.GraphProto) -> int:
    n = len(graph.node)
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                n += count_nodes(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                n += sum(count_nodes(g) for g in a.graphs)
    return n


def model_nodes(path: Path) -> int:
    return count_nodes(kl.load(path, external=False).graph)


# One worker process per peer runs a list of models in process. It prints
# "START i" before and "END i <json>" after each model, so a crash or hang is
# pinned to one model; the parent then restarts the worker after it.
PEER_WORKER = r"""
import json, os, sys, traceback
peer, jobs = sys.argv[1], json.load(open(sys.argv[2]))
import onnx
for i, (src, dst) in enumerate(jobs):
    if i < int(sys.argv[3]):
        continue
    print(f"START {i}", flush=True)
    try:
        m = onnx.load(src)
        if peer == "onnxsim":
            import onnxsim
            m, ok = onnxsim.simplify(m)
            if not ok:
                raise RuntimeError("onnxsim's own check failed")
        elif peer == "onnxslim":
            import onnxslim
            m = onnxslim.slim(m)
        else:
            import onnxoptimizer
            m = onnxoptimizer.optimize(m)
        onnx.save(m, dst)
        res = {"ok": True}
    except BaseException as e:
        res = {"ok": False, "error": (type(e).__name__ + ": " + str(e)).strip().splitlines()[0][:300]}
    print(f"END {i} " + json.dumps(res), flush=True)
"""


def run_peer(peer: str, jobs: list[tuple[str, str]], tmp: Path) -> list[dict]:
    """Run `peer` on every (src, dst) job; one result dict per job ({'ok', 'error'})."""
    job_file = tmp / f"{peer}_jobs.json"
    job_file.write_text(json.dumps(jobs))
    results: list[dict | None] = [None] * len(jobs)
    start = 0
    while start < len(jobs):
        p = subprocess.Popen([sys.executable, "-c", PEER_WORKER, peer, str(job_file), str(start)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in p.stdout] + [lines.put(None)], daemon=True).start()
        threading.Thread(target=p.stderr.read, daemon=True).start()  # keep the pipe drained
        current = None
        while True:
            try:
                line = lines.get(timeout=PEER_TIMEOUT)
            except queue.Empty:
                p.kill()
                results[current if current is not None else start] = {
                    "ok": False, "error": f"timed out after {PEER_TIMEOUT:.0f} s"}
                break
            if line is None:
                break
            if line.startswith("START "):
                current = int(line.split()[1])
            elif line.startswith("END "):
                _, i, payload = line.split(" ", 2)
                results[int(i)] = json.loads(payload)
                current = None
        rc = p.wait()
        if current is not None and results[current] is None:
            results[current] = {"ok": False, "error": f"crashed (exit status {rc})"}
        done = [i for i, r in enumerate(results) if r is not None]
        start = (max(done) + 1) if done else len(jobs)
    return [r or {"ok": False, "error": "not run"} for r in results]


class PeerCounts:
    """Node counts after each peer, computed once per session for the models the
    selected tests need; crashes and failures are kept as results."""

    def __init__(self, tmp: Path, model_ids: list[str]):
        self.counts: dict[str, dict[str, int | str]] = {}
        jobs = {peer: [(str(MODELS[m]), str(tmp / f"{peer}__{m.replace('/', '__')}.onnx")) for m in model_ids]
                for peer in PEERS}
        with_threads: dict[str, list[dict]] = {}

        def work(peer):
            with_threads[peer] = run_peer(peer, jobs[peer], tmp)

        threads = [threading.Thread(target=work, args=(peer,)) for peer in PEERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, m in enumerate(model_ids):
            row: dict[str, int | str] = {}
            for peer in PEERS:
                res = with_threads[peer][i]
                if res["ok"]:
                    try:
                        row[peer] = model_nodes(Path(jobs[peer][i][1]))
                    except Exception as e:  # noqa: BLE001 - an unreadable peer output is a peer failure
                        row[peer] = f"unreadable output: {e}"
                else:
                    row[peer] = res["error"]
            self.counts[m] = row


class NodeTable:
    """Rows for the terminal summary: model -> {original, kiln, peers...}."""

    def __init__(self):
        self.rows: dict[str, dict] = {}

    def pytest_terminal_summary(self, terminalreporter):
        if not self.rows:
            return
        tr = terminalreporter
        tr.section("kiln optimize: nodes after each optimizer (subgraphs included)")
        cols = ("original", "kiln", *PEERS)
        tr.write_line(f"{'model':40s}" + "".join(f"{c:>14s}" for c in cols))
        notes = []
        for m in sorted(self.rows):
            r = self.rows[m]
            cells = []
            for c in cols:
                v = r.get(c, "-")
                if isinstance(v, str) and v != "-":
                    notes.append(f"  {m}: {c}: {v}")
                    v = "failed"
                cells.append(f"{v!s:>14s}")
            tr.write_line(f"{m:40s}" + "".join(cells))
        for line in notes:
            tr.write_line(line)


@pytest.fixture(scope="session")
def node_table(request) -> NodeTable:
    table = NodeTable()
    request.config.pluginmanager.register(table, "kiln-optimize-node-table")
    return table


@pytest.fixture(scope="session")
def peer_counts(request, tmp_path_factory) -> PeerCounts:
    missing = [p for p in PEERS if subprocess.run([sys.executable, "-c", f"import {p}"], capture_output=True).returncode]
    if missing:
        pytest.fail(f"peer optimizers not installed: {missing}; "
                    "pip install onnxsim==0.8.1 onnxslim==0.1.98 onnxoptimizer==0.4.2")
    needed = sorted({item.callspec.params["model_id"] for item in request.session.items
                     if item.originalname == "test_not_more_nodes_than_peers"})
    return PeerCounts(tmp_path_factory.mktemp("peers"), needed)


# ----------------------------------------------------------------------------
# tests: every model, every level


@kiln_only
def test_kiln_has_optimize():
    run = kl.run_kiln("optimize", "--help")
    assert run.rc == 0, f"`kiln optimize` is missing or broken: {run.describe()}"


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("model_id", list(MODELS))
def test_output_is_valid(model_id, level, optimized):
    out = _require_ok(model_id, level, optimized)
    _, _, before, after = optimized.get(model_id, level)
    assert before == after, f"{model_id}: optimizing changed files next to the input"
    src = MODELS[model_id]
    err = kl.checker_error(out)
    if err is not None and kl.checker_error(src) is None:
        pytest.fail(f"{model_id}: onnx.checker accepts the input but rejects the output: {err}")


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("model_id", list(MODELS))
def test_same_outputs_in_onnxruntime(model_id, level, optimized):
    out = _require_ok(model_id, level, optimized)
    src = MODELS[model_id]
    problems = []
    for label, feeds in feed_sets(model_id):
        try:
            want = ort_outputs(src, feeds)
        except Exception as e:  # noqa: BLE001 - the comparison needs a runnable original
            if model_id.startswith("optimize/"):
                pytest.fail(f"{model_id}: onnxruntime cannot run the fixture ({label}): {e}")
            pytest.skip(f"onnxruntime cannot run the original ({label}): {str(e).splitlines()[0][:200]}")
        try:
            got = ort_outputs(out, feeds)
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{model_id}: onnxruntime runs the original but not the optimized model ({label}): {e}")
        problems += [f"[{label}] {p}" for p in mismatches(want, got)]
    assert not problems, f"{model_id} (level {level}): outputs differ:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("model_id", list(MODELS))
def test_deterministic(model_id, level, optimized, tmp_path):
    first = _require_ok(model_id, level, optimized)
    run = run_optimizer(MODELS[model_id], tmp_path / "out.onnx", level)
    assert run.rc == 0, run.describe()
    a, b = kl.tree_snapshot(first.parent), kl.tree_snapshot(tmp_path)
    assert a == b, f"{model_id} (level {level}): two runs wrote different files: {a} vs {b}"


@pytest.mark.parametrize("model_id", list(MODELS))
def test_not_more_nodes_than_peers(model_id, optimized, peer_counts, node_table):
    level = LEVELS[-1]
    out = _require_ok(model_id, level, optimized)
    kiln_nodes = model_nodes(out)
    peers = peer_counts.counts[model_id]
    node_table.rows[model_id] = {"original": model_nodes(MODELS[model_id]), "kiln": kiln_nodes, **peers}
    compared = {p: peers[p] for p in COMPARED_PEERS if isinstance(peers[p], int)}
    if not compared:
        pytest.skip(f"no peer produced a model: {peers}")
    worse = {p: n for p, n in compared.items() if kiln_nodes > n}
    assert not worse, f"{model_id}: kiln leaves {kiln_nodes} nodes, more than {worse}"


# ----------------------------------------------------------------------------
# kiln-only CLI behaviour


@kiln_only
@pytest.mark.parametrize("model_id", OPT_IDS)
def test_verify_passes(model_id, tmp_path):
    out = tmp_path / "out.onnx"
    run = run_optimizer(MODELS[model_id], out, "3", "--verify", "2")
    assert run.rc == 0, run.describe()
    assert out.is_file()


@kiln_only
@pytest.mark.parametrize("model_id", OPT_IDS)
def test_verify_catches_a_fault(model_id, tmp_path):
    """KILN_OPTIMIZE_INJECT_FAULT=1 makes the optimizer corrupt its result (contract:
    the first graph output no longer matches the original). Without --verify the
    corrupted model is written, and onnxruntime must see the difference (so the fault
    is real); with --verify 2 kiln must exit 1 and write nothing."""
    fault = {"KILN_OPTIMIZE_INJECT_FAULT": "1"}
    src = MODELS[model_id]
    bad = tmp_path / "faulty.onnx"
    run = run_optimizer(src, bad, "3", env=fault)
    assert run.rc == 0 and bad.is_file(), f"fault injection without --verify: {run.describe()}"
    label, feeds = feed_sets(model_id)[0]
    assert mismatches(ort_outputs(src, feeds), ort_outputs(bad, feeds)), \
        f"{model_id}: KILN_OPTIMIZE_INJECT_FAULT=1 did not change any output ({label}); the fault hook is inert"
    out_dir = tmp_path / "verified"
    out_dir.mkdir()
    run = run_optimizer(src, out_dir / "out.onnx", "3", "--verify", "2", env=fault)
    assert run.rc == 1, f"--verify did not catch the injected fault: {run.describe()}"
    assert not list(out_dir.iterdir()), f"a failed verification wrote {sorted(os.listdir(out_dir))}"
    assert run.stderr.strip(), "a failed verification must say why on stderr"


@kiln_only
@pytest.mark.parametrize("case", ["missing", "not-onnx", "unwritable-output"])
def test_bad_input_exits_2(case, tmp_path):
    src, out = OPT_FIXTURES / "resnet_block.onnx", tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    if case == "missing":
        src = tmp_path / "no_such_model.onnx"
        named = src.name
    elif case == "not-onnx":
        src = tmp_path / "garbage.onnx"
        src.write_bytes(b"\xff\xff\xff\xff this is not a protobuf \x00\x01")
        named = src.name
    else:
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder")
        out = blocker / "model.onnx"
        named = str(blocker)
    snapshot = kl.tree_snapshot(tmp_path)
    run = run_optimizer(src, out, "3")
    assert run.rc == 2, run.describe()
    assert named in run.stderr, f"the error does not name {named}: {run.stderr!r}"
    assert not out.exists(), f"{out} was written"
    assert kl.tree_snapshot(tmp_path) == snapshot, "a failed run left files behind"
