"""Option types and help shared by every subcommand of the ``varinit`` command line."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["BackendType", "HelpFormatter", "backend_type", "shape_type", "table_parent"]

SHAPE_HELP = "the weight's shape: sizes joined by ',' or 'x', e.g. 256,128 or 3x3x16x32"


def shape_type(text: str) -> tuple[int, ...]:
    """``"3x3x16x32"`` or ``"256,128"`` -> a tuple of sizes (argparse ``type=``).

    >>> shape_type("3x3x16x32"), shape_type("256, 128")
    ((3, 3, 16, 32), (256, 128))
    """
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape; write it as 256,128 or 3x3x16x32"
        ) from None
    if not dims or any(d < 0 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape of non-negative sizes")
    return dims


class BackendType:
    """argparse ``type=`` for a backend: a name or an alias from ``varinit.core.names``.

    >>> BackendType()("PyTorch")
    'torch'
    """

    __name__ = "backend"

    def __call__(self, text: str) -> str:
        from ..core.backend import BACKENDS
        from ..core.names import BACKEND_ALIASES, backend_name

        name = backend_name(text)
        if name not in BACKENDS:
            aliases = ", ".join(f"{a}={b}" for a, b in BACKEND_ALIASES.items())
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a backend; pass one of {', '.join(BACKENDS)} (aliases: {aliases})"
            )
        return name


backend_type = BackendType()


class HelpFormatter(argparse.HelpFormatter):
    """Help with a little more room for the option column."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        kwargs.setdefault("max_help_position", 30)
        super().__init__(prog, **kwargs)


def table_parent() -> argparse.ArgumentParser:
    """A parent parser giving a subcommand ``--table FILE`` (repeatable)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--table",
        dest="sub_tables",
        action="append",
        default=[],
        metavar="FILE",
        help="load the schemes of a TOML table first (repeatable); a file that is not a regular "
        "UTF-8 file of at most 1 MiB, or not a valid table, is refused and nothing is loaded",
    )
    return p
