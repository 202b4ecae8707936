"""The ``varinit`` command line: list, show, sample, check (the main job) and more.

>>> from varinit.cli import main
>>> main(["show", "he_normal", "--shape", "512,256"])  # doctest: +ELLIPSIS
he_normal ...
0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from ..conformance import check as _check
from ..core.api import plan as _plan
from ..core.api import std as _std
from ..core.backend import BACKENDS, installed_backends
from ..core.errors import SchemeError, UnknownSchemeError
from ..core.families import FAN_KEYS as _FAN_KEYS
from ..core.table import get, schemes
from .values import parse_value

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"varinit: error: {message} (see `varinit {self._sub()} --help`)\n")

    def _sub(self) -> str:
        parts = self.prog.split()
        return " ".join(parts[1:]) if len(parts) > 1 else ""


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape; write it as 256,128 or 3x3x16x32"
        ) from None
    if not dims or any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape of non-negative sizes")
    return dims


def _overrides(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SchemeError(f"--set {item!r} is not KEY=VALUE (e.g. --set mode=fan_out)")
        out[key.strip()] = parse_value(value.strip())
    return out


def _cmd_list(args: argparse.Namespace) -> int:
    rows = [get(n) for n in schemes()]
    width = max(len(r.name) for r in rows)
    for r in rows:
        alias = f" [{', '.join(r.aliases)}]" if r.aliases else ""
        print(f"{r.name:<{width}}  {r.family:<20}  {r.description}{alias}")
    return 0


def _fan_axes(shape: tuple[int, ...], layout: str, fan_kw: dict[str, Any]) -> str:
    """Which axes made fan_in and fan_out, e.g. ``fan_in = axis 0 (512); fan_out = axis 1 (256)``."""
    if "fan_in" in fan_kw and "fan_out" in fan_kw:
        return "fan_in and fan_out given explicitly"
    nd = len(shape)

    def axes(key: str, default: int) -> list[int]:
        value = fan_kw.get(key, default)
        return [a % nd for a in ((value,) if isinstance(value, int) else value)]

    ins = axes("in_axis", nd - 2 if layout == "in_out" else 1)
    outs = axes("out_axis", nd - 1 if layout == "in_out" else 0)
    batch = axes("batch_axis", 0) if fan_kw.get("batch_axis") not in (None, ()) else []
    field = [i for i in range(nd) if i not in (*ins, *outs, *batch)]

    def part(name: str, picked: list[int]) -> str:
        text = " x ".join(f"axis {i} ({shape[i]})" for i in picked)
        if field:
            text += " x receptive field " + " x ".join(f"axis {i} ({shape[i]})" for i in field)
        return f"{name} = {text}"

    given = " (fan_in given)" if "fan_in" in fan_kw else " (fan_out given)" if "fan_out" in fan_kw else ""
    return f"{part('fan_in', ins)}; {part('fan_out', outs)}{given}"


_LAYOUT_WORDS = {"in_out": "(in, out) / (*kernel, in, out)", "out_in": "(out, in) / (out, in, *kernel)"}


def _layout_lines(name: str, shape: tuple[int, ...], layout: str | None, over: dict[str, Any]) -> list[str]:
    """The fan axes taken for ``shape``, and the other reading when the layout was not given."""
    from ..core.fans import fans

    fan_kw = {k: v for k, v in over.items() if k in _FAN_KEYS}
    used = layout or "in_out"
    how = "--layout" if layout else "default --layout"
    try:
        fans(shape, used, **fan_kw)
    except ValueError:
        return []
    lines = [f"  fan axes:    {_fan_axes(shape, used, fan_kw)}  [{how} {used}: {_LAYOUT_WORDS[used]}]"]
    if layout is None and len(shape) == 2 and not fan_kw:
        here = _std(name, shape, layout="in_out", **over)
        other = _std(name, shape, layout="out_in", **over)
        if not math.isclose(here, other, rel_tol=1e-12):
            fi, _ = fans(shape, "out_in")
            lines.append(
                f"  note:        read as (out, in), the NumPy/torch form, fan_in would be {fi} and "
                f"std {other:.6g}: pass --layout out_in for such a weight"
            )
    return lines


def _cmd_show(args: argparse.Namespace) -> int:
    over = _overrides(args.set)
    s = get(args.name, **{k: v for k, v in over.items() if k not in _FAN_KEYS})
    print(f"{s.name}  ({s.family})  {s.description}")
    if s.aliases:
        print(f"  aliases:     {', '.join(s.aliases)}")
    print("  params:      " + ", ".join(f"{k}={v!r}" for k, v in s.params.items()))
    print(f"  activations: {', '.join(s.activations) or '-'}")
    print(f"  compat:      {', '.join(s.compat) or '-'}")
    print(f"  reference:   {s.reference or '-'}")
    if args.shape is not None:
        from ..core.fans import fans

        layout = args.layout or "in_out"
        _, p = _plan(s, args.shape, layout=layout, **{k: v for k, v in over.items() if k in _FAN_KEYS})
        try:
            fi, fo = fans(args.shape, layout, **{k: v for k, v in over.items() if k in _FAN_KEYS})
            print(f"  shape:       {args.shape} ({layout}): fan_in={fi}, fan_out={fo}")
        except ValueError:
            print(f"  shape:       {args.shape} ({layout})")
        for line in _layout_lines(args.name, args.shape, args.layout, over):
            print(line)
        print(f"  draws:       {p.describe()}")
        print(f"  std:         {p.sample_std(args.shape):.6g}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from ..core import api as _api
    from ..core.arrays import to_numpy

    over = _overrides(args.set)
    seed = args.seed
    t = time.perf_counter()
    layout = args.layout or "in_out"
    x = _api.init(
        args.name, args.shape, backend=args.backend, seed=seed, dtype=args.dtype, layout=layout, **over
    )
    dt = time.perf_counter() - t
    a = to_numpy(x)
    expected = _std(args.name, args.shape, layout=layout, **over)
    print(f"{get(args.name).name} {args.shape} on {args.backend} ({x.dtype}), seed={seed}, {dt * 1e3:.1f} ms")
    for line in _layout_lines(args.name, args.shape, args.layout, over):
        print(line)
    if a.size:
        print(
            f"  mean {a.mean():+.6g}   std {a.std():.6g} (expected {expected:.6g}, "
            f"ratio {a.std() / expected if expected else math.nan:.4f})"
        )
        print(f"  min  {a.min():+.6g}   max {a.max():+.6g}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    names = [get(n).name for n in args.schemes.split(",")] if args.schemes else schemes()
    if args.backends:
        wanted = [b.strip() for b in args.backends.split(",")]
        for b in wanted:
            if b not in BACKENDS:
                raise SchemeError(f"--backends {b!r} is not a backend; known: {', '.join(BACKENDS)}")
        backends = wanted
    else:
        backends = installed_backends()
    result = _check.run(
        names, backends, progress=not args.json and sys.stderr.isatty(), anchors=not args.no_anchors
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.render())
    return 0 if result.ok else 1


def _cmd_docs(args: argparse.Namespace) -> int:
    from .docs import render_schemes

    text = render_schemes()
    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.write}")
    else:
        print(text, end="")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="varinit",
        description="One table of weight initializations for every "
        "framework. `varinit check` is the main job.",
    )
    p.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="PATH",
        help="load a TOML table of schemes first (repeatable; before the command: "
        "varinit --table my.toml show my_scheme); a file that is not a regular UTF-8 file of at "
        "most 1 MiB, or not a valid table, is refused without changing anything",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sp = sub.add_parser("list", help="print the scheme table")
    sp.set_defaults(func=_cmd_list)

    sp = sub.add_parser("show", help="formula, std for a shape, anchors and reference")
    sp.add_argument("name")
    sp.add_argument("--shape", type=_shape)
    sp.add_argument("--layout", default=None, choices=("in_out", "out_in"), help="default: in_out")
    sp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a parameter, e.g. --set mode=fan_out",
    )
    sp.set_defaults(func=_cmd_show)

    sp = sub.add_parser("sample", help="draw once and print mean, std (vs expected), min, max")
    sp.add_argument("name")
    sp.add_argument("--shape", type=_shape, required=True)
    sp.add_argument("--backend", default="numpy", choices=tuple(BACKENDS))
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--dtype", default=None)
    sp.add_argument("--layout", default=None, choices=("in_out", "out_in"), help="default: in_out")
    sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    sp.set_defaults(func=_cmd_sample)

    sp = sub.add_parser(
        "check", help="the main job: every scheme on every installed backend against its exact distribution"
    )
    sp.add_argument("--backends", help="comma-separated, e.g. numpy,torch (default: installed)")
    sp.add_argument("--schemes", help="comma-separated scheme names (default: all)")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument(
        "--no-anchors",
        action="store_true",
        help="skip the comparisons with each framework's own initializers",
    )
    sp.set_defaults(func=_cmd_check)

    sp = sub.add_parser("docs", help="render the scheme reference (docs/schemes.md)")
    sp.add_argument("--write", metavar="PATH", help="write to PATH instead of printing")
    sp.set_defaults(func=_cmd_docs)

    try:
        from .activation import add_subcommands  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - shipped together
        pass
    else:
        add_subcommands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        for path in args.table:
            from ..core.table import load_table

            load_table(path)
        return int(args.func(args))
    except (UnknownSchemeError, SchemeError, ValueError, TypeError, ImportError, OSError) as e:
        print(f"varinit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
