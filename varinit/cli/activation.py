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
            kw[key.strip()] = parse_value(value.strip())
        Spec.of(name, **kw)  # unknown names and bad overrides raise ValueError here, as in `show --set`
        out.append((name, kw))
    if not out:
        raise ValueError(f"--schemes {text!r} names no scheme; e.g. --schemes he_normal,glorot_normal")
    return out


def cmd_propagate(args: argparse.Namespace) -> int:
    """Propagate through a deep MLP for each scheme; print a table, optionally plot."""
    from ..theory.activations import activation
    from ..theory.propagate import comparison_table, propagate

    activation(args.activation)  # unknown activation -> ValueError before any work
    for label in ("depth", "width", "batch"):
        if getattr(args, label) < 1:
            raise ValueError(f"--{label} {getattr(args, label)} is not allowed: it must be >= 1")
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
        for s, kw in _schemes(args.schemes)
    ]
    print(comparison_table(results))
    if args.plot:
        path = plot(results, args.plot)
        print(f"wrote {path}")
    return 0


def plot(results: Any, path: str) -> str:
    """Activation std and gradient std against depth, log scale, one line per scheme."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'varinit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    first = results[0]
    styles = ("-", "--", ":", "-.")  # schemes with equal variance draw the same curve
    for k, r in enumerate(results):
        layers = range(1, r.depth + 1)
        style = {"label": r.scheme, "linewidth": 2.2, "linestyle": styles[k % len(styles)]}
        axes[0].plot(layers, r.act_std, **style)
        axes[1].plot(layers, r.grad_std, **style)
    for ax, title in zip(axes, ("activation std (forward)", "gradient std (backward)"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(
        f"{first.activation}: depth {first.depth}, width {first.width}, "
        f"batch {first.batch}, seed {first.seed}"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def add_subcommands(subparsers: Any) -> None:
    """Register ``recommend`` and ``propagate`` on an argparse subparsers object."""
    sp = subparsers.add_parser("recommend", help="the scheme for an activation, with the reason")
    sp.add_argument("activation", help="e.g. relu, tanh, sigmoid, selu, gelu")
    sp.set_defaults(func=cmd_recommend)

    sp = subparsers.add_parser(
        "propagate", help="activation and gradient std through a deep random MLP, per scheme"
    )
    sp.add_argument("--activation", default="relu")
    sp.add_argument(
        "--schemes",
        default="he_normal,glorot_normal,lecun_normal",
        help="comma-separated scheme names, each with optional overrides "
        "NAME:key=value[:key=value], e.g. glorot_normal,normal:std=1",
    )
    sp.add_argument("--depth", type=int, default=50)
    sp.add_argument("--width", type=int, default=512)
    sp.add_argument("--batch", type=int, default=128)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--backend", default="numpy", help="who draws the weights (portable stream)")
    sp.add_argument("--plot", metavar="PNG", help="also save a plot (needs matplotlib)")
    sp.set_defaults(func=cmd_propagate)
