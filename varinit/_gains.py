"""Gains: torch's ``calculate_gain`` table."""

from __future__ import annotations

import math

__all__ = ["GAIN_TABLE", "gain"]

#: Activations with a tabulated gain. ``leaky_relu`` takes its negative slope as ``param``.
GAIN_TABLE: tuple[str, ...] = (
    "linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
)


def gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for an activation (torch's ``calculate_gain`` table).

    ``leaky_relu`` takes its negative slope as ``param`` (default 0.01):
    ``sqrt(2 / (1 + param**2))``. ``tanh`` is 5/3 and ``selu`` 3/4 by torch's convention.

    >>> import varinit
    >>> round(varinit.gain("relu"), 6), round(varinit.gain("leaky_relu", 0.2), 6)
    (1.414214, 1.38675)
    """
    if not isinstance(nonlinearity, str):
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
        return math.sqrt(2.0 / (1.0 + slope**2))
    raise ValueError(
        f"nonlinearity={nonlinearity!r} has no tabulated gain; known: {', '.join(GAIN_TABLE)}"
    )
