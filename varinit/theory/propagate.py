"""Signal propagation through a random deep MLP: the picture of vanishing and exploding.

A batch goes forward through ``depth`` square dense layers without biases
(``z_l = h_{l-1} W_l``, ``h_l = phi(z_l)``) and a unit-variance gradient comes back from
the top; the statistics of every layer are recorded. The weights come from
:func:`varinit.init` on the chosen backend with the portable stream (layer ``l`` uses
stream ``l``), so a seed gives the same network on every backend; the arithmetic runs in
NumPy (float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Propagation", "comparison_table", "propagate", "shown_layers"]


@dataclass(frozen=True)
class Propagation:
    """Per-layer statistics of one run; index ``i`` is layer ``i + 1``.

    ``pre_std``: std of the pre-activations ``z``; ``act_std``/``act_mean``: of the
    activations ``h = phi(z)``; ``grad_std``: std of the gradient ``dL/dh`` at each layer's
    output, for a unit-variance gradient injected at the top (so ``grad_std[-1]`` is about
    1). A value that overflowed is ``inf``; the layers after it are ``nan``.
    """

    scheme: str
    activation: str
    depth: int
    width: int
    batch: int
    seed: int
    pre_std: tuple[float, ...]
    act_std: tuple[float, ...]
    act_mean: tuple[float, ...]
    grad_std: tuple[float, ...]

    def table(self, layers: Sequence[int] | None = None) -> str:
        """A fixed-width table of the chosen layers (default: about ten of them)."""
        rows = list(layers) if layers is not None else shown_layers(self.depth)
        head = f"{'layer':>5}  {'pre std':>10}  {'act mean':>10}  {'act std':>10}  {'grad std':>10}"
        out = [
            f"{self.scheme} + {self.activation}: depth {self.depth}, width {self.width}, "
            f"batch {self.batch}, seed {self.seed}",
            head,
        ]
        for layer in rows:
            i = layer - 1
            out.append(
                f"{layer:>5}  {_fmt(self.pre_std[i])}  {_fmt(self.act_mean[i])}  "
                f"{_fmt(self.act_std[i])}  {_fmt(self.grad_std[i])}"
            )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def _fmt(v: float) -> str:
    return f"{v:>10.4g}"


def shown_layers(depth: int) -> list[int]:
    """Layer 1 and about ten evenly spaced layers up to ``depth``."""
    step = max(1, depth // 10)
    return sorted({1, *range(step, depth + 1, step), depth})


def comparison_table(results: Sequence[Propagation], layers: Sequence[int] | None = None) -> str:
    """Activation std and gradient std of several runs side by side."""
    if not results:
        return ""
    depth = min(r.depth for r in results)
    rows = list(layers) if layers is not None else shown_layers(depth)
    w = max(12, *(len(r.scheme) for r in results))
    first = results[0]
    out = [
        f"activation {first.activation}: depth {depth}, width {first.width}, batch {first.batch}, "
        f"seed {first.seed}",
        f"{'':>5}  "
        + "  ".join(f"{r.scheme:>{w}}" for r in results)
        + "  |  "
        + "  ".join(f"{r.scheme:>{w}}" for r in results),
        f"{'layer':>5}  "
        + "  ".join(f"{'act std':>{w}}" for _ in results)
        + "  |  "
        + "  ".join(f"{'grad std':>{w}}" for _ in results),
    ]
    for layer in rows:
        i = layer - 1
        out.append(
            f"{layer:>5}  "
            + "  ".join(f"{r.act_std[i]:>{w}.4g}" for r in results)
            + "  |  "
            + "  ".join(f"{r.grad_std[i]:>{w}.4g}" for r in results)
        )
    return "\n".join(out)


def _std(a: Any) -> float:
    return float(np.std(a, dtype=np.float64))


def _weights(scheme: Any, width: int, backend: str, seed: int, stream: int, overrides: dict[str, Any]) -> Any:
    from ..core.api import init

    w = init(scheme, (width, width), backend=backend, seed=seed, stream=stream, dtype="float32", **overrides)
    if not isinstance(w, np.ndarray):
        from ..core.arrays import to_numpy

        w = to_numpy(w)
    return np.ascontiguousarray(w, dtype=np.float32)


def propagate(
    scheme: Any,
    activation: str | Callable[[Any], Any],
    *,
    depth: int = 50,
    width: int = 512,
    backend: str = "numpy",
    seed: int = 0,
    batch: int = 128,
    param: float | None = None,
    inputs: Any = None,
    **overrides: Any,
) -> Propagation:
    """Push a batch forward and a gradient backward through a random deep MLP.

    ``scheme`` and ``overrides`` go to :func:`varinit.init` (e.g. ``std=1.0`` with
    ``"normal"``); ``activation`` is a name (``param``: leaky_relu's slope, elu's alpha)
    or an elementwise NumPy callable. ``inputs`` (``(batch, width)``) replaces the default
    N(0, 1) batch.

    >>> import varinit
    >>> r = varinit.propagate("he_normal", "relu", depth=20, width=256)
    >>> 0.5 < r.act_std[-1] / r.act_std[0] < 2
    True
    """
    from ..core.api import init, stream_id
    from ..core.table import get
    from .activations import activation as named
    from .activations import from_callable

    for label, v in (("depth", depth), ("width", width), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label}={v!r} is not allowed: {label} must be an integer >= 1")
    if isinstance(activation, str):
        act = named(activation, param)
    elif callable(activation):
        act = from_callable(activation)
    else:
        raise TypeError(f"activation must be a name (str) or a callable, got {activation!r}")
    name = get(scheme, **overrides).name  # fail early on an unknown scheme or override
    if overrides:
        name += "(" + ", ".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    if inputs is None:
        h = init(
            "normal", (batch, width), seed=seed, stream=stream_id("propagate/input"), dtype="float32", std=1.0
        )
    else:
        h = np.asarray(inputs, dtype=np.float32)
        if h.ndim != 2 or h.shape[1] != width:
            raise ValueError(f"inputs has shape {h.shape}; it must be (batch, width={width})")
        batch = h.shape[0]
    pre: list[float] = []
    mean: list[float] = []
    std: list[float] = []
    weights: list[Any] = []
    slopes: list[Any] = []
    nan = math.nan
    with np.errstate(all="ignore"):
        for layer in range(1, depth + 1):
            w = _weights(scheme, width, backend, seed, layer, overrides)
            z = h @ w
            h = np.asarray(act(z), dtype=np.float32)
            pre.append(_std(z))
            mean.append(float(np.mean(h, dtype=np.float64)))
            std.append(_std(h))
            weights.append(w)
            slopes.append(np.asarray(act.grad(z), dtype=np.float32))
            if not (math.isfinite(pre[-1]) and math.isfinite(std[-1])):
                break
        good = len(weights)
        g = init(
            "normal",
            (h.shape[0], width),
            seed=seed,
            stream=stream_id("propagate/grad"),
            dtype="float32",
            std=1.0,
        )
        back = [nan] * good
        for i in range(good - 1, -1, -1):
            back[i] = _std(g)
            g = (g * slopes[i]) @ weights[i].T
    pad = [nan] * (depth - good)
    return Propagation(
        name,
        act.name,
        depth,
        width,
        batch,
        seed,
        tuple(pre + pad),
        tuple(std + pad),
        tuple(mean + pad),
        tuple(back + pad),
    )
