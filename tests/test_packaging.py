"""The wheel ships adapters and the table; installs work from anywhere (wheel and editable)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.find_spec("build")
    if spec is None or spec.origin is None:  # None: only setuptools' build/ directory, a namespace
        pytest.skip("build is not installed: pip install -e '.[test]'")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (whl,) = out.glob("varinit-*.whl")
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    adapters = {p.name for p in (ROOT / "adapters").glob("*.py")}
    assert {f"varinit/adapters/{a}" for a in adapters} <= names
    assert {
        "varinit/spec/schemes.toml",
        "varinit/spec/__init__.py",
        "varinit/py.typed",
        "varinit/__init__.py",
        "varinit/cli/__init__.py",
        "varinit/core/request.py",
        "varinit/core/executor.py",
        "varinit/rng/philox.py",
        "varinit/theory/gains.py",
        "varinit/conformance/check.py",
    } <= names
    assert not any(n.startswith(("tests/", "adapters/", "spec/")) for n in names)


def test_wheel_installs_into_a_fresh_environment(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=120)
    py = env / "bin" / "python"
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            str(wheel),
        ],
        check=True,
        timeout=600,
        capture_output=True,
    )
    code = (
        "import varinit, varinit.adapters.numpy as a, pathlib\n"
        "w = varinit.init('he_normal', (64, 32), seed=0)\n"
        "assert w.shape == (64, 32) and len(varinit.schemes()) >= 25\n"
        "print(pathlib.Path(varinit.__file__).parent, pathlib.Path(a.__file__).parent)\n"
    )
    out = subprocess.run(
        [str(py), "-c", code], cwd=tmp_path, check=True, text=True, capture_output=True, timeout=120
    ).stdout.split()
    assert all(str(env) in p for p in out), out
    cli = subprocess.run(
        [str(env / "bin" / "varinit"), "show", "msra"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and cli.stdout.startswith("he_normal")


@pytest.mark.parametrize("where", ["root", "elsewhere"])
def test_editable_install_resolves_to_the_checkout(where: str, tmp_path: Path) -> None:
    cwd = ROOT if where == "root" else tmp_path
    code = (
        "import varinit, varinit.adapters.numpy as a, varinit.spec as s\n"
        "print(varinit.__file__); print(a.__file__); print(s.__file__)\n"
        "print(len(varinit.schemes()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, check=True, text=True, capture_output=True, timeout=120
    ).stdout.split()
    assert Path(out[0]) == ROOT / "varinit" / "__init__.py"
    assert Path(out[1]) == ROOT / "adapters" / "numpy.py"
    assert Path(out[2]) == ROOT / "spec" / "__init__.py"
    shipped = tomllib.loads((ROOT / "spec" / "schemes.toml").read_text("utf-8"))["scheme"]
    assert int(out[3]) == len(shipped)
