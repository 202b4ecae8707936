"""``varinit propagate --plot``: measured std per layer, the mean-field expectation, print-safe styles.

Each scheme gets one colour from the Okabe-Ito palette (distinct for colour-blind readers), a
line style and a marker of its own, so the lines stay apart in greyscale print too. The
expectation is the mean-field recursion for an infinitely wide network with the scheme's
weight variance: ``q_l = width * Var(w) * E[phi(z_{l-1})^2]`` forward, and the gradient's
variance multiplied by ``width * Var(w) * E[phi'(z_l)^2]`` per layer backward.

>>> import varinit
>>> from varinit.cli.plots import expected
>>> act, grad = expected("he_normal", {}, "relu", depth=3, width=512)
>>> [round(a, 3) for a in act]  # ReLU with He: the second moment stays at 1
[0.826, 0.826, 0.826]
>>> [round(g, 2) for g in grad]  # and so does the gradient's
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["COLOURS", "check_path", "expected", "figure", "plot"]

#: Okabe & Ito (2008), in an order whose grey levels differ from one line to the next
COLOURS = ("#000000", "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def check_path(path: str) -> None:
    """Refuse a plot path that cannot be written, before any work is done.

    >>> check_path("/nonexistent-dir/x.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --plot '/nonexistent-dir/x.png': the directory '/nonexistent-dir' does not exist; ...
    """
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(
            f"--plot {path!r} is a directory; give a file name such as {path.rstrip('/')}/plot.png"
        )
    if not os.path.isdir(folder):
        raise ValueError(
            f"--plot {path!r}: the directory {folder!r} does not exist; create it or pick another path"
        )
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--plot {path!r}: the directory {folder!r} is not writable; pick another path")
    suffix = os.path.splitext(path)[1].lower().lstrip(".")
    known = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")
    if suffix not in known:
        raise ValueError(
            f"--plot {path!r}: unknown image type {suffix!r}; end the name with .png, .pdf or .svg"
        )


def _moments(act: Any, q: float, points: int = 8001) -> tuple[float, float, float]:
    """``E[phi(z)]``, ``E[phi(z)^2]`` and ``E[phi'(z)^2]`` for ``z ~ N(0, q)``: Simpson's rule on
    [-12, 12] standard deviations, with a node at 0 (where ReLU-like activations have their kink)."""
    x = np.linspace(-12.0, 12.0, points)
    w = np.full(points, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    w *= (x[1] - x[0]) / 3.0 * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    z = math.sqrt(max(q, 0.0)) * x
    with np.errstate(all="ignore"):
        h = np.asarray(act(z), dtype=np.float64)
        d = np.asarray(act.grad(z), dtype=np.float64)
    return float(w @ h), float(w @ (h * h)), float(w @ (d * d))


def expected(
    scheme: str, overrides: dict[str, Any], activation: str, *, depth: int, width: int
) -> tuple[list[float], list[float]]:
    """Mean-field activation std and gradient std per layer (unit-variance input and top gradient)."""
    from ..core.api import std
    from ..theory.activations import activation as named

    act = named(activation)
    var_w = std(scheme, (width, width), layout="in_out", **overrides) ** 2
    second, q = 1.0, 0.0  # the input batch is N(0, 1)
    act_std: list[float] = []
    slopes: list[float] = []
    for _ in range(depth):
        q = width * var_w * second
        if not math.isfinite(q) or q > 1e300:
            break
        mean, second, slope = _moments(act, q)
        act_std.append(math.sqrt(max(second - mean * mean, 0.0)))
        slopes.append(width * var_w * slope)
    grad = [math.nan] * len(slopes)
    g = 1.0
    for i in range(len(slopes) - 1, -1, -1):
        grad[i] = math.sqrt(g)
        g *= slopes[i]
    pad = [math.nan] * (depth - len(act_std))
    return act_std + pad, grad + pad


def figure(results: Sequence[Any], specs: Sequence[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """The figure for ``results`` (one ``varinit.propagate`` result per scheme); with ``specs``
    (``(scheme, overrides)`` per result) each scheme also gets its expected line, thin and grey-edged."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'varinit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    first = results[0]
    for k, r in enumerate(results):
        layers = np.arange(1, r.depth + 1)
        style = {
            "color": COLOURS[k % len(COLOURS)],
            "linestyle": _STYLES[k % len(_STYLES)],
            "marker": _MARKERS[k % len(_MARKERS)],
            "markevery": max(1, r.depth // 10),
            "markersize": 5,
            "linewidth": 2.0,
        }
        axes[0].plot(layers, r.act_std, label=r.scheme, **style)
        axes[1].plot(layers, r.grad_std, label=r.scheme, **style)
        if specs is not None:
            name, over = specs[k]
            act_e, grad_e = expected(name, over, r.activation, depth=r.depth, width=r.width)
            thin = {"color": COLOURS[k % len(COLOURS)], "linestyle": (0, (1, 1.5)), "linewidth": 1.2}
            axes[0].plot(layers, act_e, label=f"{r.scheme}, expected", **thin)
            axes[1].plot(layers, grad_e, label=f"{r.scheme}, expected", **thin)
    axes[0].set_title("forward: activation std per layer")
    axes[0].set_ylabel("std of h = phi(z)  (input batch: N(0, 1))")
    axes[1].set_title("backward: gradient std per layer")
    axes[1].set_ylabel(f"std of dL/dh, normalised to 1 at the output (layer {first.depth})")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("layer (1 = first hidden layer)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, first.depth + 0.5)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    title = f"{first.activation}: depth {first.depth}, width {first.width}, batch {first.batch}"
    title += f", seed {first.seed}" + ("; thin dotted lines: mean-field expectation" if specs else "")
    fig.suptitle(title)
    return fig


def plot(results: Sequence[Any], path: str, specs: Sequence[tuple[str, dict[str, Any]]] | None = None) -> str:
    """Save :func:`figure` to ``path``; returns the path."""
    fig = figure(results, specs)
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise OSError(f"--plot {path!r}: cannot write the image: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return path
