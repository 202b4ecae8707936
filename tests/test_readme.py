"""The README's tour runs as written and its assertions hold (in a fresh interpreter)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tour_runs() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python block"
    code = "\n".join(blocks)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_readme_names_the_two_commands_ci_runs() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    test_cmd = "bash scripts/setup.sh && .venv/bin/python -m pytest"
    assert test_cmd in text and test_cmd in ci
    assert "bash scripts/setup.sh && .venv/bin/varinit check" in text
