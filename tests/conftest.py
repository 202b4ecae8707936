"""Shared test fixtures: every installed backend is its own test id."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: backends whose framework is importable here; tests parametrize over these ids
INSTALLED = [
    b
    for b, m in (("numpy", "numpy"), ("torch", "torch"), ("jax", "jax"), ("tensorflow", "tensorflow"))
    if _have(m)
]


#: the pyproject.toml marker of each framework module (Keras and Flax ride on TF and JAX)
MARKER = {"torch": "torch", "jax": "jax", "flax": "jax", "tensorflow": "tensorflow", "keras": "tensorflow"}


def marks_for(*modules: str) -> list[pytest.MarkDecorator]:
    """The markers a test needing ``modules`` carries (none for NumPy and other non-frameworks)."""
    names = dict.fromkeys(MARKER[m] for m in modules if m in MARKER)
    return [getattr(pytest.mark, n) for n in names]


@pytest.fixture(params=[pytest.param(b, marks=marks_for(b)) for b in INSTALLED], ids=INSTALLED)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _restore_scheme_registry() -> object:
    """Schemes a test registers do not leak into the next test."""
    from varinit.core.table import _registry

    reg = _registry()
    rows, index = dict(reg.rows), dict(reg.index)
    yield
    reg.rows, reg.index = rows, index


#: modules that load Triton's LLVM (directly, or through TorchDynamo, which transformers
#: imports where Triton is on the path): a process that has loaded TensorFlow's LLVM aborts when
#: a second one registers, so the whole suite's process never imports them;
#: tests/test_isolated.py runs them in a pytest process of their own
ISOLATED = ("test_triton.py", "test_presets.py")
CHILD_ENV = "VARINIT_ISOLATED_CHILD"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name not in ISOLATED or os.environ.get(CHILD_ENV):
        return None
    named = {Path(str(a).split("::")[0]).resolve() for a in config.args}
    return collection_path.resolve() not in named  # a module named on the command line runs here
