"""torch's ``calculate_gain`` table: the gains the variance-scaling family can apply.

>>> from varinit.core.gains import table_gain
>>> round(table_gain("leaky_relu", 0.2), 6)
1.38675
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["GAIN_TABLE", "table_gain"]

#: Activations with a tabulated gain. ``leaky_relu`` takes its negative slope as ``param``.
GAIN_TABLE: tuple[str, ...] = (
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
)


def table_gain(nonlinearity: Any, param: float | None) -> float:
    """torch's ``calculate_gain(nonlinearity, param)``."""
    if not isinstance(nonlinearity, str):
        if callable(nonlinearity):
            raise ValueError("a callable has no tabulated gain: pass method='moment' or method='kumar'")
        raise TypeError(f"nonlinearity must be a name (str), got {nonlinearity!r}")
    name = nonlinearity.strip().lower().replace("-", "_")
    if name in GAIN_TABLE and (name in ("linear", "identity", "sigmoid") or name.startswith("conv")):
        return 1.0
    if name == "tanh":
        return 5.0 / 3.0
    if name == "relu":
        return math.sqrt(2.0)
    if name == "selu":
        return 3.0 / 4.0
    if name == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, int | float):
            raise ValueError(
                f"param={param!r} is not allowed: the negative slope of leaky_relu must be a number"
            )
        else:
            slope = float(param)
        try:
            return math.sqrt(2.0 / (1.0 + slope**2))  # torch's formula, to the bit
        except OverflowError:  # |slope| > 1e154: the same value, without squaring
            return math.sqrt(2.0) / math.hypot(1.0, slope)
    raise ValueError(f"nonlinearity={nonlinearity!r} has no tabulated gain; known: {', '.join(GAIN_TABLE)}")
