"""The README's tour runs as written and its assertions hold (in a fresh interpreter)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MARKER, _have, marks_for

ROOT = Path(__file__).resolve().parents[1]


def _tour() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no python block"
    return "\n".join(blocks)


def _needs(code: str) -> list[str]:
    """The framework modules that ``code``'s import lines name (``from varinit.adapters import torch``
    counts), in the order they appear."""
    imports = "\n".join(line for line in code.splitlines() if line.lstrip().startswith(("import ", "from ")))
    return list(dict.fromkeys(re.findall(rf"\b({'|'.join(MARKER)})\b", imports)))


def _without_frameworks(code: str) -> str:
    """The tour less each statement that imports a framework or uses a name such a statement bound
    (transitively): the part that runs with NumPy alone."""
    tainted: set[str] = set()
    kept = []
    for stmt in ast.parse(code).body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if _needs(ast.unparse(stmt)):
                tainted |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
                continue
        else:
            names = [n for n in ast.walk(stmt) if isinstance(n, ast.Name)]
            if {n.id for n in names} & tainted:
                tainted |= {n.id for n in names if isinstance(n.ctx, ast.Store)}
                continue
        kept.append(ast.get_source_segment(code, stmt))
    return "\n".join(k for k in kept if k)


def _parts() -> list[object]:
    needs = _needs(_tour())
    return [
        pytest.param([], id="numpy-part"),
        pytest.param(needs, id="whole", marks=marks_for(*needs)),
    ]


@pytest.mark.parametrize("needs", _parts())
def test_readme_tour_runs(needs: list[str]) -> None:
    missing = [m for m in needs if not _have(m)]  # checked, not imported: the tour runs in a child
    if missing:
        pytest.skip(f"the tour's framework part needs {', '.join(missing)}: not installed")
    code = _tour() if needs else _without_frameworks(_tour())
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_readme_names_the_two_commands_ci_runs() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    test_cmd = "bash scripts/setup.sh && .venv/bin/python -m pytest"
    assert test_cmd in text and test_cmd in ci
    assert "bash scripts/setup.sh && .venv/bin/varinit check" in text
