"""Render ``docs/schemes.md`` from the table (``varinit docs --write docs/schemes.md``)."""

from __future__ import annotations

from ..conformance.check import shape_for
from ..core.api import plan
from ..core.table import get, schemes

__all__ = ["render_schemes"]

_HEADER = """\
# Scheme reference

<!-- Generated from spec/schemes.toml by `varinit docs --write docs/schemes.md`.
     Do not edit by hand: tests/test_docs.py fails when this file and the table drift. -->

Every row of `spec/schemes.toml`, in table order. `params` are the defaults a call may
override (`varinit.init(name, shape, **overrides)`); the std column is what
`varinit.std(name, shape)` returns for the example shape in the `in_out` layout.

| scheme | aliases | family | params | example shape | std | compat |
|---|---|---|---|---|---|---|
"""


def _fmt(v: object) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def render_schemes() -> str:
    """The Markdown reference of every scheme in the table.

    >>> from varinit.cli.docs import render_schemes
    >>> render_schemes().startswith("# Scheme reference")
    True
    """
    rows = [_HEADER]
    details = ["\n## Details\n"]
    for name in schemes():
        s = get(name)
        shape = shape_for(name)
        _, p = plan(s, shape)
        params = ", ".join(f"`{k}={_fmt(v)}`" for k, v in s.params.items())
        rows.append(
            f"| `{s.name}` | {', '.join(f'`{a}`' for a in s.aliases) or '-'} | {s.family} | "
            f"{params} | {shape} | {p.sample_std(shape):.6g} | "
            f"{'<br>'.join(f'`{c}`' for c in s.compat) or '-'} |\n"
        )
        details.append(
            f"\n### `{s.name}`\n\n{s.description}\n\n"
            f"- recommended for: {', '.join(s.activations) or '-'}\n"
            f"- reference: {s.reference or '-'}\n"
        )
    return "".join(rows) + "".join(details)
