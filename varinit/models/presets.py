"""Whole-model presets: rules as data, read from ``spec/presets.toml``.

>>> from varinit.models import preset, presets
>>> "gpt2" in presets()
True
>>> dict(preset("gpt2").rules)["residual_out"]
('normal', {'std': '= 0.02 / sqrt(2 * depth)'})
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..core.errors import TableError

__all__ = ["Preset", "preset", "presets"]


@dataclass(frozen=True)
class Preset:
    """A named rule set: ``rules`` are ``(target, scheme | (scheme, overrides) | None)`` pairs."""

    name: str
    description: str
    reference: str
    rules: tuple[tuple[str, Any], ...]


@functools.cache
def _load() -> dict[str, Preset]:
    text = resources.files("varinit.spec").joinpath("presets.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    out: dict[str, Preset] = {}
    for name, body in data.items():
        where = f"presets.toml [{name}]"
        if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
            raise TableError(f"{where}: a preset is a table with a 'rules' array")
        rules: list[tuple[str, Any]] = []
        for i, r in enumerate(body["rules"]):
            if (
                not isinstance(r, dict)
                or not isinstance(r.get("target"), str)
                or not isinstance(r.get("scheme"), str)
            ):
                raise TableError(f"{where} rule {i}: needs string keys 'target' and 'scheme', got {r!r}")
            kw = {k: v for k, v in r.items() if k not in ("target", "scheme")}
            sch = None if r["scheme"] == "skip" else r["scheme"]
            rules.append((r["target"], (sch, kw) if kw and sch else sch))
        out[name] = Preset(
            name, str(body.get("description", "")), str(body.get("reference", "")), tuple(rules)
        )
    return out


def presets() -> list[str]:
    """The preset names, in file order."""
    return list(_load())


def preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name lists the known ones."""
    table = _load()
    if name not in table:
        import difflib

        close = difflib.get_close_matches(name, table, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown rules preset {name!r}{hint} (presets: {', '.join(table)})")
    return table[name]
