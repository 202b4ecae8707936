# PYTHON_ARGCOMPLETE_OK
"""The ``varinit`` command line: list, show, sample, check (the main job) and more.

Every command that reads the scheme table takes ``--table FILE``; scheme names may be spelled as
torch, Keras or JAX spell them; ``varinit completion bash`` prints the shell-completion script.

>>> from varinit.cli import main
>>> main(["show", "he_normal", "--shape", "512,256"])  # doctest: +ELLIPSIS
he_normal ...
0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__
from ..conformance import check as _check
from ..core import backend as _backend
from ..core.api import plan as _plan
from ..core.api import std as _std
from ..core.backend import Backend, installed_backends
from ..core.errors import SchemeError, UnknownSchemeError
from ..core.families import FAN_KEYS as _FAN_KEYS
from ..core.table import get, schemes
from .options import SHAPE_HELP, HelpFormatter, backend_type, shape_type, table_parent
from .values import parse_value

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"varinit: error: {message} (see `{self.prog} --help`)\n")


def _overrides(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SchemeError(f"--set {item!r} is not KEY=VALUE (e.g. --set mode=fan_out)")
        try:
            out[key.strip()] = parse_value(value.strip())
        except ValueError as e:
            raise SchemeError(f"--set {item.strip()}: {e}") from None
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
    fan_kw = {k: v for k, v in over.items() if k in _FAN_KEYS}
    s = get(args.name, **{k: v for k, v in over.items() if k not in _FAN_KEYS})
    lines = [f"{s.name}  ({s.family})  {s.description}"]
    if s.aliases:
        lines.append(f"  aliases:     {', '.join(s.aliases)}")
    lines.append("  params:      " + ", ".join(f"{k}={v!r}" for k, v in s.params.items()))
    lines.append(f"  activations: {', '.join(s.activations) or '-'}")
    lines.append(f"  compat:      {', '.join(s.compat) or '-'}")
    lines.append(f"  reference:   {s.reference or '-'}")
    if args.shape is not None:  # everything is computed before anything is printed
        from ..core.fans import fans

        layout = args.layout or "in_out"
        _, p = _plan_for_cli(s, args.shape, layout, fan_kw)
        try:
            fi, fo = fans(args.shape, layout, **fan_kw)
            lines.append(f"  shape:       {args.shape} ({layout}): fan_in={fi}, fan_out={fo}")
        except ValueError:
            lines.append(f"  shape:       {args.shape} ({layout})")
        lines.extend(_layout_lines(s.name, args.shape, args.layout, over))
        lines.append(f"  draws:       {p.describe()}")
        lines.append(f"  std:         {p.sample_std(args.shape):.6g}")
    print("\n".join(lines))
    return 0


def _plan_for_cli(s: Any, shape: tuple[int, ...], layout: str, fan_kw: dict[str, Any]) -> Any:
    """``plan``, with the command line's spelling of the fix when the fans are undefined."""
    try:
        return _plan(s, shape, layout=layout, **fan_kw)
    except ValueError as e:
        if "fan_in" in str(e) and not fan_kw:
            raise ValueError(f"{e}; on the command line: --set fan_in=N --set fan_out=M") from None
        raise


def _cmd_sample(args: argparse.Namespace) -> int:
    from ..core import api as _api
    from ..core.arrays import to_numpy

    over = _overrides(args.set)
    seed = args.seed
    layout = args.layout or "in_out"
    name = get(args.name, **{k: v for k, v in over.items() if k not in _FAN_KEYS}).name
    _plan_for_cli(name, args.shape, layout, {k: v for k, v in over.items() if k in _FAN_KEYS})
    t = time.perf_counter()
    backend = _backend.get_backend(args.backend)  # importing the framework is not the draw
    loaded = time.perf_counter() - t

    def draw() -> tuple[Any, float]:
        t = time.perf_counter()
        x = _api.init(
            args.name, args.shape, backend=backend, seed=seed, dtype=args.dtype, layout=layout, **over
        )
        return x, time.perf_counter() - t

    x, first = draw()
    # the first call also pays for one-time set-up (a compiled kernel's load, a JIT): time a second
    # one, unless the first was already long (a large shape)
    again = draw()[1] if first < 1.0 else first
    a = to_numpy(x)
    expected = _std(args.name, args.shape, layout=layout, **over)
    print(
        f"{name} {args.shape} on {args.backend} ({x.dtype}), seed={seed}: draw {again * 1e3:.1f} ms "
        f"(first call {first * 1e3:.1f} ms; importing {args.backend} {loaded * 1e3:.1f} ms, not counted)"
    )
    for line in _layout_lines(name, args.shape, args.layout, over):
        print(line)
    if a.size:
        print(
            f"  mean {a.mean():+.6g}   std {a.std():.6g} (expected {expected:.6g}, "
            f"ratio {a.std() / expected if expected else math.nan:.4f})"
        )
        print(f"  min  {a.min():+.6g}   max {a.max():+.6g}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .progress import Bar

    names = [get(n).name for n in args.schemes.split(",")] if args.schemes else schemes()
    if args.backends:
        try:
            backends: list[str | Backend] = [backend_type(b) for b in args.backends.split(",") if b.strip()]
        except argparse.ArgumentTypeError as e:
            raise SchemeError(f"--backends {args.backends!r}: {e}") from None
    else:
        backends = list(installed_backends())
    # the bar goes to stderr, and only on a terminal: stdout stays the table or the JSON alone
    progress = Bar(sys.stderr) if sys.stderr.isatty() and not args.no_progress else False
    result = _check.run(names, backends, progress=progress, anchors=not args.no_anchors)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(result.render())
    return 0 if result.ok else 1


def _cmd_completion(args: argparse.Namespace) -> int:
    try:
        from argcomplete.shell_integration import shellcode
    except ImportError:
        raise ImportError("shell completion needs argcomplete: pip install 'varinit[completion]'") from None
    print(shellcode(["varinit"], shell=args.shell), end="")
    return 0


def _scheme_names(**_: Any) -> list[str]:
    """Every name and alias, for shell completion."""
    return [n for name in schemes() for n in (name, *get(name).aliases)]


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
        description="One table of weight initializations for every framework. "
        "`varinit check` is the main job. Scheme names may be written as torch, Keras or JAX "
        "write them: kaiming_normal_, HeNormal, he_normal.",
        epilog='Shell completion: eval "$(varinit completion bash)" (or zsh, fish).',
    )
    p.add_argument("--version", action="version", version=f"varinit {__version__}")
    p.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="FILE",
        help="load the schemes of a TOML table first (repeatable; also accepted after the command); "
        "a file that is not a regular UTF-8 file of at most 1 MiB, or not a valid table, is refused "
        "and nothing is loaded",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    tables: list[Any] = [table_parent()]

    def name_arg(sp: argparse.ArgumentParser) -> None:
        action = sp.add_argument(
            "name", help="a scheme name or alias (`varinit list`), e.g. he_normal, kaiming_normal_, HeNormal"
        )
        action.completer = _scheme_names  # type: ignore[attr-defined]

    def set_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a parameter (repeatable), e.g. --set mode=fan_out --set factor=1; "
            "fans too: --set fan_in=64 --set fan_out=32",
        )

    def layout_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--layout",
            default=None,
            choices=("in_out", "out_in"),
            help="how the shape is read: in_out = (in, out) / (*kernel, in, out), the Keras/JAX form; "
            "out_in = (out, in) / (out, in, *kernel), the torch form (default: in_out)",
        )

    sp = sub.add_parser("list", parents=tables, help="print the scheme table")
    sp.set_defaults(func=_cmd_list)

    sp = sub.add_parser("show", parents=tables, help="formula, std for a shape, anchors and reference")
    name_arg(sp)
    sp.add_argument("--shape", type=shape_type, help=SHAPE_HELP + " (default: none, no std shown)")
    layout_arg(sp)
    set_arg(sp)
    sp.set_defaults(func=_cmd_show)

    sp = sub.add_parser(
        "sample", parents=tables, help="draw once and print mean, std (vs expected), min, max"
    )
    name_arg(sp)
    sp.add_argument("--shape", type=shape_type, required=True, help=SHAPE_HELP + " (required)")
    sp.add_argument(
        "--backend",
        default="numpy",
        type=backend_type,
        help="numpy, torch, jax or tensorflow, or an alias such as pytorch, np, tf (default: numpy)",
    )
    sp.add_argument(
        "--seed", type=int, default=0, help="portable-stream seed, 0 <= seed < 2**64 (default: 0)"
    )
    sp.add_argument(
        "--dtype", default=None, help="e.g. float32, float64, bfloat16 (default: the backend's default float)"
    )
    layout_arg(sp)
    set_arg(sp)
    sp.set_defaults(func=_cmd_sample)

    sp = sub.add_parser(
        "check",
        parents=tables,
        help="the main job: every scheme on every installed backend against its exact distribution",
    )
    sp.add_argument(
        "--backends", metavar="LIST", help="comma-separated, e.g. numpy,torch (default: every installed one)"
    )
    sp.add_argument(
        "--schemes",
        metavar="LIST",
        help="comma-separated scheme names, e.g. he_normal,orthogonal (default: all)",
    )
    sp.add_argument(
        "--json", action="store_true", help="print JSON on stdout (the progress bar, if any, stays on stderr)"
    )
    sp.add_argument(
        "--no-anchors",
        action="store_true",
        help="skip the comparisons with each framework's own initializers",
    )
    sp.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (default: one on stderr when it is a terminal)",
    )
    sp.set_defaults(func=_cmd_check)

    sp = sub.add_parser("docs", parents=tables, help="render the scheme reference (docs/schemes.md)")
    sp.add_argument("--write", metavar="FILE", help="write to FILE instead of printing (default: print)")
    sp.set_defaults(func=_cmd_docs)

    sp = sub.add_parser(
        "completion",
        help='print the shell-completion script: eval "$(varinit completion bash)"',
        description="Print the script that makes your shell complete varinit's commands, options "
        'and scheme names (needs argcomplete). bash: eval "$(varinit completion bash)" in ~/.bashrc; '
        "zsh: the same in ~/.zshrc; fish: varinit completion fish | source.",
    )
    sp.add_argument("shell", choices=("bash", "zsh", "fish", "tcsh", "powershell"), help="your shell")
    sp.set_defaults(func=_cmd_completion)

    from .activation import add_subcommands

    add_subcommands(sub, parents=tables)
    return p


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request from the shell script of ``varinit completion`` (then exit)."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:  # pragma: no cover - the script is only installed with argcomplete
        return
    argcomplete.autocomplete(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from ..core.table import load_table

    parser = _parser()
    _complete(parser)
    args = parser.parse_args(argv)
    try:
        for path in [*args.table, *getattr(args, "sub_tables", [])]:
            load_table(path)
        return int(args.func(args))
    except BrokenPipeError:  # `varinit list | head`: the reader left, which is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (UnknownSchemeError, SchemeError, ValueError, TypeError, ImportError, OSError) as e:
        print(f"varinit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
