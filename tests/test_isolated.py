"""The modules in ``conftest.ISOLATED`` run here, in a pytest process of their own.

They load a second LLVM (Triton's, directly or through TorchDynamo); in a process that has
loaded TensorFlow's, that aborts the process, and with it the whole suite. A failure in the
child fails this test, with the child's report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHILD_ENV, ISOLATED

HERE = Path(__file__).parent


def _path() -> str:
    """The child's import path: Triton from ``.triton/`` (``scripts/setup.sh`` installs it there,
    outside the venv), then whatever the parent had."""
    parts = [str(HERE.parent / ".triton"), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


@pytest.mark.torch
def test_modules_with_their_own_llvm_pass_in_a_process_of_their_own() -> None:
    pytest.importorskip("torch")
    modules = [str(HERE / m) for m in ISOLATED if (HERE / m).exists()]
    assert modules, f"none of {ISOLATED} exists"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *modules],
        env={**os.environ, CHILD_ENV: "1", "PYTHONPATH": _path()},
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    report = run.stdout[-6000:] + run.stderr[-3000:]
    print(report)
    assert run.returncode == 0, report
