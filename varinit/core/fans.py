"""Fan-in and fan-out of a weight shape, for every layout convention."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Literal

__all__ = ["LAYOUTS", "MAX_ELEMENTS", "as_int", "fans", "normalize_shape"]

Layout = Literal["in_out", "out_in"]
LAYOUTS: tuple[str, ...] = ("in_out", "out_in")
Axes = int | Sequence[int]


#: the most elements a tensor may have: flat offsets are 64-bit signed on every backend
MAX_ELEMENTS = 2**63 - 1


def as_int(value: object) -> int | None:
    """``value`` as a Python int if it is an integer (NumPy's included), never a bool."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def normalize_shape(shape: int | Sequence[int], param: str = "shape") -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative Python ints, or a clear ``ValueError``."""
    one = as_int(shape)
    seq: Sequence[int] = (one,) if one is not None else shape  # type: ignore[assignment]
    try:
        dims = tuple(operator.index(d) for d in seq)
    except TypeError:
        raise TypeError(f"{param}={shape!r} is not a shape: pass a tuple of integers") from None
    if any(as_int(d) is None for d in seq):
        raise TypeError(f"{param}={shape!r} is not a shape: a dimension is a bool; pass integers")
    if any(d < 0 for d in dims):
        raise ValueError(f"{param}={shape!r} has a negative dimension")
    if math.prod(max(d, 1) for d in dims) > MAX_ELEMENTS:
        raise ValueError(
            f"{param}={dims} has more than 2**63 - 1 elements (the flat offset of an element "
            "is a signed 64-bit integer on every backend); split the tensor into smaller ones"
        )
    return dims


def _axes(value: Axes, ndim: int, param: str) -> tuple[int, ...]:
    one = as_int(value)
    try:
        items = (one,) if one is not None else tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(
            f"{param}={value!r} is not an axis: pass an integer or a sequence of integers"
        ) from None
    out = []
    for item in items:
        a = as_int(item)
        if a is None or not -ndim <= a < ndim:
            raise ValueError(
                f"{param}={value!r} is not an axis of a {ndim}-D shape "
                f"(allowed: integers in [{-ndim}, {ndim - 1}])"
            )
        out.append(a % ndim)
    return tuple(out)


def fans(
    shape: int | Sequence[int],
    layout: str = "in_out",
    *,
    in_axis: Axes | None = None,
    out_axis: Axes | None = None,
    batch_axis: Axes = (),
    groups: int = 1,
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape.

    Layouts: ``"in_out"`` is dense ``(in, out)`` and conv ``(*kernel, in, out)``
    (Keras, JAX, TensorFlow); ``"out_in"`` is dense ``(out, in)`` and conv
    ``(out, in/groups, *kernel)`` (PyTorch). ``in_axis``/``out_axis``/``batch_axis``
    override the layout exactly as in ``jax.nn.initializers.variance_scaling``; every
    other axis is a receptive-field axis. ``groups`` divides fan_out, so grouped and
    depthwise convolutions get their true fans. ``fan_in=``/``fan_out=`` win over all.

    >>> import varinit
    >>> varinit.fans((3, 3, 16, 32))               # conv kernel, (kh, kw, in, out)
    (144, 288)
    >>> varinit.fans((32, 1, 3, 3), "out_in", groups=32)   # depthwise, torch layout
    (9, 9)
    """
    dims = normalize_shape(shape)
    for name, v in (("fan_in", fan_in), ("fan_out", fan_out)):
        n = None if v is None else as_int(v)
        if v is not None and (n is None or not 1 <= n <= MAX_ELEMENTS):
            text = repr(v) if len(repr(v)) <= 40 else f"{repr(v)[:20]}... ({len(repr(v))} digits)"
            raise ValueError(f"{name}={text} is not allowed: {name} must be an integer in [1, 2**63 - 1]")
    fan_in = None if fan_in is None else as_int(fan_in)
    fan_out = None if fan_out is None else as_int(fan_out)
    if fan_in is not None and fan_out is not None:
        return fan_in, fan_out
    g = as_int(groups)
    if g is None or g < 1:
        raise ValueError(f"groups={groups!r} is not allowed: groups must be an integer >= 1")
    groups = g
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not allowed: layout must be one of {LAYOUTS}")
    nd = len(dims)
    if nd < 2:
        raise ValueError(
            f"shape={dims} has {nd} dimension(s), so fan_in and fan_out are undefined; "
            "pass them explicitly, e.g. fan_in=<inputs of the layer>, fan_out=<outputs> "
            "(for a bias, the fans of its layer's weight)"
        )
    in_ax: tuple[int, ...]
    out_ax: tuple[int, ...]
    if in_axis is None and out_axis is None:
        in_ax, out_ax = ((nd - 2,), (nd - 1,)) if layout == "in_out" else ((1,), (0,))
    else:
        default_in, default_out = (-2, -1) if layout == "in_out" else (1, 0)
        in_ax = _axes(default_in if in_axis is None else in_axis, nd, "in_axis")
        out_ax = _axes(default_out if out_axis is None else out_axis, nd, "out_axis")
    b_ax = _axes(batch_axis, nd, "batch_axis")
    used = in_ax + out_ax + b_ax
    if len(set(used)) != len(used):
        raise ValueError(
            f"in_axis={in_axis!r}, out_axis={out_axis!r}, batch_axis={batch_axis!r} overlap "
            f"for shape {dims}: each axis may play one role"
        )
    receptive = math.prod(d for i, d in enumerate(dims) if i not in used)
    f_in = math.prod(dims[i] for i in in_ax) * receptive
    f_out_total = math.prod(dims[i] for i in out_ax) * receptive
    if f_out_total % groups:
        raise ValueError(
            f"groups={groups} does not divide the output channels of shape {dims} "
            f"(fan_out before grouping is {f_out_total})"
        )
    return (f_in if fan_in is None else fan_in, f_out_total // groups if fan_out is None else fan_out)
