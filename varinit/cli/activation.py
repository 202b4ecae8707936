"""The ``recommend`` and ``propagate`` subcommands of the ``varinit`` command line.

A bad argument raises ``ValueError``; ``varinit.cli.main`` prints it as one
``varinit: error: ...`` line and exits 2.

>>> import argparse
>>> from varinit.cli.activation import add_subcommands
>>> parser = argparse.ArgumentParser(prog="varinit")
>>> add_subcommands(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["recommend", "selu"])
>>> args.func(args)  # doctest: +ELLIPSIS
selu: lecun_normal
...
0
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_subcommands", "cmd_propagate", "cmd_recommend"]


def cmd_recommend(args: argparse.Namespace) -> int:
    """Print the advice for one activation."""
    from ..theory.advice import recommend

    print(recommend(args.activation))
    return 0


def _schemes(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``he_normal,normal:std=1`` -> [("he_normal", {}), ("normal", {"std": 1})]."""
    from ..core.request import Spec
    from .values import parse_value

    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, *pairs = item.split(":")
        kw: dict[str, Any] = {}
        for pair in pairs:
            key, eq, value = pair.partition("=")
            if not eq or not key.strip():
                raise ValueError(
                    f"--schemes entry {item!r}: {pair!r} is not key=value; write overrides as "
                    "NAME:key=value, e.g. normal:std=1 or variance_scaling:factor=2:mode=fan_out"
                )
            try:
                kw[key.strip()] = parse_value(value.strip())
            except ValueError as e:
                raise ValueError(f"--schemes entry {item!r}: {e}") from None
        Spec.of(name, **kw)  # unknown names and bad overrides raise ValueError here, as in `show --set`
        out.append((name, kw))
    if not out:
        raise ValueError(f"--schemes {text!r} names no scheme; e.g. --schemes he_normal,glorot_normal")
    return out


def _activation(name: str) -> None:
    """Refuse an unknown activation with a did-you-mean, as ``recommend`` does."""
    import difflib

    from ..theory.activations import activation, known, normalize

    try:
        activation(name)
    except ValueError:
        close = difflib.get_close_matches(normalize(name), known(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"--activation {name!r}: unknown activation{hint} (known: {', '.join(known())})"
        ) from None


def cmd_propagate(args: argparse.Namespace) -> int:
    """Propagate through a deep MLP for each scheme; print a table, optionally plot."""
    from ..theory.propagate import comparison_table, propagate
    from .plots import check_path

    _activation(args.activation)  # unknown activation -> ValueError before any work
    for label in ("depth", "width", "batch"):
        if getattr(args, label) < 1:
            raise ValueError(f"--{label} {getattr(args, label)} is not allowed: it must be >= 1")
    if args.plot:
        check_path(args.plot)  # a path that cannot be written fails now, not after the run
    specs = _schemes(args.schemes)
    results = [
        propagate(
            s,
            args.activation,
            depth=args.depth,
            width=args.width,
            batch=args.batch,
            seed=args.seed,
            backend=args.backend,
            **kw,
        )
        for s, kw in specs
    ]
    print(comparison_table(results))
    if args.plot:
        path = plot(results, args.plot, specs)
        print(f"wrote {path}")
    return 0


def plot(results: Any, path: str, specs: Any = None) -> str:
    """Activation std and gradient std against depth, log scale, one line per scheme
    (and its mean-field expectation when ``specs`` gives each scheme's name and overrides)."""
    from .plots import plot as _plot

    return _plot(results, path, specs)


def add_subcommands(subparsers: Any, parents: Any = ()) -> None:
    """Register ``recommend`` and ``propagate`` on an argparse subparsers object."""
    from .options import backend_type

    parents = list(parents)
    sp = subparsers.add_parser(
        "recommend",
        parents=parents,
        help="the scheme for an activation, with the rule and copy-paste calls",
        description="The scheme for an activation: the rule it follows, why, the alternatives and "
        "one copy-paste call each for NumPy, torch, Keras and JAX.",
    )
    sp.add_argument("activation", help="an activation name, e.g. relu, tanh, sigmoid, selu, gelu")
    sp.set_defaults(func=cmd_recommend)

    sp = subparsers.add_parser(
        "propagate",
        parents=parents,
        help="activation and gradient std through a deep random MLP, per scheme",
        description="Push a N(0, 1) batch forward and a unit-variance gradient backward through "
        "a deep square MLP without biases, and print the std per layer for each scheme.",
    )
    sp.add_argument("--activation", default="relu", help="e.g. relu, tanh, sigmoid, selu (default: relu)")
    sp.add_argument(
        "--schemes",
        default="he_normal,glorot_normal,lecun_normal",
        help="comma-separated scheme names, each with optional overrides "
        "NAME:key=value[:key=value], e.g. glorot_normal,normal:std=1 "
        "(default: he_normal,glorot_normal,lecun_normal)",
    )
    sp.add_argument("--depth", type=int, default=50, metavar="N", help="number of layers (default: 50)")
    sp.add_argument("--width", type=int, default=512, metavar="N", help="units per layer (default: 512)")
    sp.add_argument("--batch", type=int, default=128, metavar="N", help="rows in the batch (default: 128)")
    sp.add_argument("--seed", type=int, default=0, help="portable-stream seed (default: 0)")
    sp.add_argument(
        "--backend",
        default="numpy",
        type=backend_type,
        help="who draws the weights with the portable stream: numpy, torch, jax or tensorflow, "
        "or an alias such as pytorch, tf (default: numpy)",
    )
    sp.add_argument(
        "--plot",
        metavar="FILE",
        help="also save a plot to FILE (.png, .pdf or .svg; needs matplotlib): measured and "
        "expected std per layer",
    )
    sp.set_defaults(func=cmd_propagate)
