"""HTML reports in a real browser: `kiln inspect --format html` and `kiln diff --format html`
opened in headless Chromium (Debian `chromium`, installed by `make system-deps`), which must
render the graph: the DOM after scripts ran holds the model's node labels, and a screenshot is
not blank and, for a diff, shows the removed (red) and changed (amber) highlights."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from PIL import Image

import kilnlib as kl
from test_diff import CNN, _bn_folded

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium not installed (make system-deps installs it)")


def _chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is required in CI: make system-deps installs it"
    return subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1400,900", *args], capture_output=True, timeout=timeout, text=True)


def _render(html_path, tmp_path):
    png = tmp_path / (html_path.stem + ".png")
    shot = _chromium(f"--screenshot={png}", html_path.as_uri())
    assert png.exists(), shot.stderr[-2000:]
    dom = _chromium("--dump-dom", html_path.as_uri()).stdout
    return np.asarray(Image.open(png).convert("RGB")).astype(int), dom


def _count(img, rgb, tol=24):
    return int((np.abs(img - np.array(rgb)).sum(axis=2) <= tol).sum())


def test_inspect_html_renders_the_graph(tmp_path):
    run = kl.run_kiln("inspect", CNN, "--format", "html")
    assert run.rc == 0, run.describe()
    page = tmp_path / "cnn.html"
    page.write_text(run.stdout)
    assert "http://" not in run.stdout and "https://" not in run.stdout  # self-contained
    img, dom = _render(page, tmp_path)
    for n in onnx.load(CNN).graph.node:
        assert n.name in dom, n.name
    assert img.std() > 5  # not blank
    assert _count(img, (0xee, 0xf3, 0xfb)) > 2000  # node boxes drawn


def test_diff_html_highlights_changes(tmp_path):
    run = kl.run_kiln("diff", CNN, _bn_folded(tmp_path), "--format", "html")
    assert run.rc == 1, run.describe()
    page = tmp_path / "diff.html"
    page.write_text(run.stdout)
    img, dom = _render(page, tmp_path)
    assert "Conv + BatchNormalization -&gt; Conv (x2)" in dom or "Conv + BatchNormalization -> Conv (x2)" in dom
    assert dom.count('class="box node removed"') == 2
    assert _count(img, (0xfd, 0xe2, 0xe2)) > 500   # removed BatchNormalization boxes (red fill)
    assert _count(img, (0xff, 0xf3, 0xd6)) > 500   # changed Conv boxes (amber fill)
