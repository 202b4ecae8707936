"""Gains: torch's ``calculate_gain`` table, the second-moment gain and Kumar's rule."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .activations import Activation

from ..core.gains import GAIN_TABLE, table_gain

__all__ = ["GAIN_METHODS", "GAIN_TABLE", "gain", "second_moment"]

#: The ways :func:`gain` can compute a gain.
GAIN_METHODS: tuple[str, ...] = ("table", "moment", "kumar")

#: Gauss-Hermite nodes used by ``method="moment"`` (see :func:`second_moment`).
QUADRATURE_NODES = 128


def gain(
    activation: str | Callable[[Any], Any], param: float | None = None, *, method: str = "table"
) -> float:
    """The gain for an activation: ``Var(w) = gain**2 / fan``.

    ``method="table"`` (default) is torch's ``calculate_gain``: ``leaky_relu`` takes its
    negative slope as ``param`` (default 0.01), ``tanh`` is 5/3 and ``selu`` 3/4 by torch's
    convention. ``method="moment"`` keeps the second moment through a layer,
    ``gain**2 = 1 / E[phi(z)**2]`` for ``z ~ N(0, 1)`` (Gauss-Hermite quadrature).
    ``method="kumar"`` is Kumar's rule ``gain**2 = 1 / (g'(0)**2 (1 + g(0)**2))``, for
    activations differentiable at 0. The last two accept any elementwise NumPy callable.

    >>> import varinit
    >>> round(varinit.gain("relu"), 6), round(varinit.gain("leaky_relu", 0.2), 6)
    (1.414214, 1.38675)
    >>> round(varinit.gain("relu", method="moment"), 12), round(varinit.gain("sigmoid", method="kumar"), 4)
    (1.414213562373, 3.5777)
    """
    if method == "table":
        return table_gain(activation, param)
    if method not in GAIN_METHODS:
        raise ValueError(f"method={method!r} is not allowed: method must be one of {GAIN_METHODS}")
    act = _resolve(activation, param)
    if method == "moment":
        m2 = second_moment(act)
        if not m2 > 0 or not math.isfinite(m2):
            raise ValueError(
                f"activation {act.name!r} has E[phi(z)^2] = {m2!r} for z ~ N(0, 1); no finite gain"
            )
        return 1.0 / math.sqrt(m2)
    g0, d0 = _value_and_slope_at_zero(act)
    if d0 == 0.0:
        raise ValueError(f"Kumar's rule needs g'(0) != 0; activation {act.name!r} has g'(0) = 0")
    return 1.0 / (abs(d0) * math.sqrt(1.0 + g0 * g0))


def _resolve(activation: Any, param: float | None) -> Activation:
    from .activations import Activation, from_callable
    from .activations import activation as named

    if isinstance(activation, str):
        return named(activation, param)
    if isinstance(activation, Activation) and param is None:
        return activation
    if callable(activation):
        if param is not None:
            raise ValueError("param is only for named activations; bind it into the callable instead")
        return from_callable(activation)
    raise TypeError(f"activation must be a name (str) or a callable, got {activation!r}")


@lru_cache(maxsize=8)
def _nodes(n: int) -> tuple[Any, Any]:
    from numpy.polynomial.hermite_e import hermegauss

    x, w = hermegauss(n)
    half = x > 0  # nodes are symmetric and n is even: keep the positive half, weights doubled
    return x[half], 2.0 * w[half] / math.sqrt(2.0 * math.pi)


def second_moment(act: Activation | Callable[[Any], Any], n: int = QUADRATURE_NODES) -> float:
    """``E[phi(z)**2]`` for ``z ~ N(0, 1)`` by Gauss-Hermite quadrature, split at 0.

    The two halves of the integral are folded onto ``z > 0``:
    ``E[phi(z)**2] = E[(phi(z)**2 + phi(-z)**2) / 2]``. The folded integrand is even, so a
    kink ``c * |z|`` (ReLU, leaky ReLU) cancels and the rule is exact for them. An
    ELU-like kink leaves an ``|z|**3`` term whose error falls exactly like ``n**-2``, so
    the rules with ``n`` and ``2 n`` nodes are combined (Richardson extrapolation): the
    error is below 1e-6 for every built-in activation at the default ``n`` (2e-8 for
    SELU), and smooth activations are exact to rounding.

    >>> from varinit.theory.gains import second_moment
    >>> round(second_moment(lambda z: z * (z > 0)), 15)
    0.5
    """
    if n < 2 or n % 2:
        raise ValueError(f"n={n!r} is not allowed: the number of nodes must be even and >= 2")
    coarse, fine = _folded(act, n), _folded(act, 2 * n)
    return (4.0 * fine - coarse) / 3.0


def _folded(act: Activation | Callable[[Any], Any], n: int) -> float:
    import numpy as np

    x, w = _nodes(n)
    with np.errstate(over="ignore", invalid="ignore"):
        fp = np.asarray(act(x), dtype=np.float64)
        fm = np.asarray(act(-x), dtype=np.float64)
        folded = 0.5 * (fp * fp + fm * fm)
    return float(np.sum(w * folded))


def _value_and_slope_at_zero(act: Activation) -> tuple[float, float]:
    """``g(0)`` and ``g'(0)``; raises for a kink at 0 (one-sided slopes differ)."""
    import numpy as np

    from .activations import ACTIVATIONS, numeric_derivative

    zero = np.zeros(1)
    g0 = float(np.asarray(act(zero), dtype=np.float64)[0])
    if act.name in ACTIVATIONS and act.fn is ACTIVATIONS[act.name].fn:
        if act.kink:
            raise ValueError(
                f"Kumar's rule needs an activation differentiable at 0; {act.name!r} is not "
                "(its left and right slopes differ there): use method='moment'"
            )
        return g0, float(np.asarray(act.grad(zero), dtype=np.float64)[0])
    h = 1e-6
    right = (float(act(np.array([h]))[0]) - g0) / h
    left = (g0 - float(act(np.array([-h]))[0])) / h
    if not abs(right - left) <= 1e-3 * max(1.0, abs(right), abs(left)):
        raise ValueError(
            f"Kumar's rule needs an activation differentiable at 0; {act.name!r} is not "
            f"(slope {left:.6g} on the left, {right:.6g} on the right): use method='moment'"
        )
    slope = float(numeric_derivative(act, zero)[0])
    # the five-point rule's error is O(h) = 1e-4 at a kink of the second derivative (ReLU^2):
    # a slope that small is zero as far as the rule can tell
    return g0, 0.0 if abs(slope) < 1e-3 else slope
