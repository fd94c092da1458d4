"""The README's first command, `make demo`, runs kiln commands from the Makefile's `demo` recipe.
CI runs `make test`, not the demo (it would need a release build), so this test runs the same
recipe lines with the binary under test: each must exit 0 (a `kiln diff` without `--fail-on`
exits 1 on any structural change, which once broke the demo unnoticed)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from kilnlib import REPO, kiln_binary


def demo_commands() -> list[str]:
    text = (REPO / "Makefile").read_text()
    variables = dict(re.findall(r"^([A-Z_]+)\s*:=\s*(.+)$", text, flags=re.M))
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert recipe, "no demo recipe in the Makefile"
    lines = [line.strip().lstrip("@") for line in recipe.group(1).splitlines()]
    commands = [line for line in lines if "$(KILN_RELEASE)" in line]
    assert commands, "the demo recipe runs no kiln command"
    out = []
    for line in commands:
        line = line.replace("$(KILN_RELEASE)", kiln_binary())
        for name, value in variables.items():
            line = line.replace(f"$({name})", value.strip())
        assert "$(" not in line, f"unexpanded variable in demo line: {line}"
        out.append(line)
    return out


def test_demo_recipe_runs(tmp_path: Path) -> None:
    for command in demo_commands():
        # The recipe writes to out/; here that is a temporary folder.
        command = command.replace(" out/", f" {tmp_path}/")
        r = subprocess.run(["bash", "-c", command], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"`{command}` exited {r.returncode}:\n{r.stderr[-2000:]}"
    html = tmp_path / "transformer-diff.html"
    assert html.is_file() and html.stat().st_size > 1000 and "<html" in html.read_text()[:2000].lower()
