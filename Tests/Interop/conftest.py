"""Interop suite configuration.

Environment:
  KILN        path to the kiln binary (default: .build/debug/kiln)
  NODE_SUITE  folder made by Scripts/gen_node_suite.py (default: Tests/Interop/.generated/node)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import kilnlib  # noqa: E402

BYTE_IDENTITY: dict[str, bool] = {}


def node_suite_dir() -> Path:
    return Path(os.environ.get("NODE_SUITE") or kilnlib.REPO / "Tests" / "Interop" / ".generated" / "node")


def pytest_configure(config):
    kiln = kilnlib.kiln_binary()
    if not (os.path.isfile(kiln) and os.access(kiln, os.X_OK)):
        raise pytest.UsageError(
            f"kiln binary not found or not executable at {kiln}; run `make build` or set KILN=/path/to/kiln")


@pytest.fixture(scope="session")
def node_suite() -> Path:
    d = node_suite_dir()
    if not d.is_dir():
        pytest.fail(f"node suite not found at {d}; run `make node-suite` or set NODE_SUITE")
    return d


def pytest_terminal_summary(terminalreporter):
    if not BYTE_IDENTITY:
        return
    same = sorted(k for k, v in BYTE_IDENTITY.items() if v)
    diff = sorted(k for k, v in BYTE_IDENTITY.items() if not v)
    terminalreporter.section("kiln convert byte identity (fixtures, default mode)")
    terminalreporter.write_line(f"byte-identical: {len(same)}/{len(BYTE_IDENTITY)}")
    for k in diff:
        terminalreporter.write_line(f"  not byte-identical: {k}")
