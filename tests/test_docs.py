"""Docs stay true: the generated reference matches the table, and docstring examples run."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from varinit.cli.docs import render_schemes

ROOT = Path(__file__).resolve().parents[1]

CORE_MODULES = [
    "varinit",
    "varinit.core.api",
    "varinit.core.arrays",
    "varinit.core.backend",
    "varinit.core.errors",
    "varinit.core.executor",
    "varinit.core.families",
    "varinit.core.fans",
    "varinit.core.gains",
    "varinit.core.plans",
    "varinit.core.request",
    "varinit.core.table",
    "varinit.rng.ndtri",
    "varinit.rng.philox",
    "varinit.theory.gains",
    "varinit.cli.docs",
    "varinit.testing",
    "varinit.cli",
    "varinit.cli.options",
    "varinit.cli.plots",
    "varinit.cli.progress",
    "varinit.core.names",
    "varinit.adapters.numpy",
]


def test_schemes_md_is_generated_from_the_table() -> None:
    on_disk = (ROOT / "docs" / "schemes.md").read_text("utf-8")
    assert on_disk == render_schemes(), "docs/schemes.md is stale: run `varinit docs --write docs/schemes.md`"


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
