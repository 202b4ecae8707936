"""``import varinit`` loads no framework; detection reads sys.modules only."""

from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "keras", "flax", "scipy", "matplotlib")


def test_import_loads_no_framework() -> None:
    code = (
        "import sys, varinit\n"
        "varinit.init('he_normal', (8, 8), seed=0); varinit.std('glorot_uniform', (4, 4))\n"
        "varinit.schemes(); varinit.get('msra'); varinit.installed_backends_ok = True\n"
        f"bad = [m for m in {FRAMEWORKS!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "", f"import varinit loaded: {out}"


def test_cli_list_loads_no_framework() -> None:
    code = (
        "import sys, io, contextlib\nfrom varinit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['list'])\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == ""
