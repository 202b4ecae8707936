"""``jax.nn.initializers`` as drop-ins: JAX's names, signatures and laws, drawn by varinit.

Import them from :mod:`varinit.adapters.jax` (they live here to keep that module small).
Every factory takes JAX's parameters (``in_axis``/``out_axis``/``batch_axis`` with JAX's
fan rule, a factory-level ``dtype``, ``column_axis``, ``lower``/``upper``, 0-d array
arguments) and returns ``init(key, shape, dtype=<factory dtype>, out_sharding=None)``.
A PRNG key (typed or raw, any implementation) selects JAX's stream; an int seed selects
varinit's portable stream. Complex dtypes follow JAX's complex laws; with an int seed
element ``i`` takes the stream's uniforms ``2i`` and ``2i + 1`` (real, imaginary part).

>>> import jax, jax.numpy as jnp
>>> from varinit.adapters import jax as initializers  # was: from jax.nn import initializers
>>> init = initializers.he_normal(in_axis=0, out_axis=1)
>>> init(jax.random.key(0), (64, 32)).shape
(64, 32)
>>> initializers.normal(0.02)(7, (3,), jnp.complex64).dtype
dtype('complex64')
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from varinit.core.backend import get_backend
from varinit.core.executor import execute
from varinit.core.fans import normalize_shape
from varinit.core.request import Spec

__all__ = [
    "JaxInitializer",
    "constant",
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "ones_init",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
    "zeros_init",
]

Axes = int | Sequence[int]
P = ParamSpec("P")
R = TypeVar("R")
Draw = Callable[[Any, tuple[int, ...], Any], Any]

#: JAX's std of the complex normal with E|z|^2 = 1 truncated at |z| <= 2 (the partial moment
#: 1 - 5 e^-4 under the root, not divided by the mass 1 - e^-4: samples come out 0.93% wider
#: than sqrt(scale / n); kept, so the drop-in draws JAX's law)
_COMPLEX_TRUNC_STD = 0.95311164380491208
_UNIT_UNIFORM = Spec.of("uniform", low=0.0, high=1.0)
_UNIT_NORMAL = Spec.of("normal", std=1.0)
_HALF_NORMAL = Spec.of("normal", std=math.sqrt(0.5))  # each part of a complex N(0, 1)
_UNIT_ORTHOGONAL = Spec.of("orthogonal", gain=1.0)


def own_rules() -> Any:
    """The context varinit's own array code runs in: implicit rank promotion allowed there.

    A user's ``jax_numpy_rank_promotion="raise"`` governs the user's code; the sampler's
    internals (a QR's sign fix broadcasts a row) must not depend on it. Values the user
    passes (``scale`` arrays) are applied outside this context, under the user's rules.
    """
    return jax.numpy_rank_promotion("allow")


def under_own_rules(f: Callable[P, R]) -> Callable[P, R]:
    """``f`` run under :func:`own_rules` (for front doors that call the executor directly)."""

    @functools.wraps(f)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        with own_rules():
            return f(*args, **kwargs)

    return wrapped


def _draw(spec: Spec, shape: tuple[int, ...], key: Any, dtype: Any) -> Any:
    with own_rules():
        return execute(spec.request(shape, backend="jax", seed=key, dtype=dtype))


class _FactoryDtype:
    def __repr__(self) -> str:
        return "<the factory's dtype>"


_FACTORY_DTYPE: Any = _FactoryDtype()


class JaxInitializer:
    """What the factories return: ``init(key, shape, dtype=<factory dtype>, out_sharding=None)``.

    As in JAX, an explicit ``dtype=None`` means the default float dtype, not the factory's.

    >>> import jax
    >>> from varinit.adapters.jax import glorot_uniform
    >>> glorot_uniform(dtype=jax.numpy.bfloat16)(jax.random.key(0), (4, 5)).dtype
    dtype(bfloat16)
    """

    __slots__ = ("__weakref__", "_draw", "_text", "dtype")

    def __init__(self, text: str, dtype: Any, draw: Draw) -> None:
        self._text, self.dtype, self._draw = text, dtype, draw

    def __call__(
        self, key: Any, shape: int | Sequence[int], dtype: Any = _FACTORY_DTYPE, out_sharding: Any = None
    ) -> Any:
        dims = normalize_shape(shape)
        x = self._draw(key, dims, self.dtype if dtype is _FACTORY_DTYPE else dtype)
        return _place(x, out_sharding)

    def __repr__(self) -> str:
        return self._text


def _place(x: Any, out_sharding: Any) -> Any:
    if out_sharding is None:
        return x
    if isinstance(out_sharding, jax.sharding.PartitionSpec):
        return jax.sharding.reshard(x, out_sharding)  # type: ignore[no-untyped-call]
    return jax.device_put(x, out_sharding)


def _call_text(name: str, **kw: Any) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kw.items())})"


# --------------------------------------------------------------------------- dtypes and values


def _x64() -> bool:
    return bool(jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


def _dtypes(dtype: Any, real_only: str | None = None) -> tuple[Any, Any, bool]:
    """(real dtype the values are drawn in, dtype returned, whether it is complex)."""
    if dtype is not None:
        try:
            dt = jnp.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype={dtype!r} is not a JAX dtype") from None
        if jnp.issubdtype(dt, jnp.complexfloating):
            if real_only is not None:  # JAX's words and exception
                raise ValueError(f"dtype argument to `{real_only}` must be a float dtype, got {dt}")
            if dt == np.complex128 and not _x64():
                warnings.warn(
                    "dtype=complex128 needs jax_enable_x64; drawing complex64 instead (as JAX does)",
                    UserWarning,
                    stacklevel=5,
                )
                dt = np.dtype(np.complex64)
            return (np.dtype(np.float64) if dt == np.complex128 else np.dtype(np.float32)), dt, True
    work, out = get_backend("jax").resolve_dtype(dtype)
    return work, out, False


def _concrete(value: Any, name: str) -> float | None:
    """``value`` as a float (numbers, NumPy scalars, concrete 0-d arrays); None for a traced
    value or an array of values (those are applied by multiplying, as in JAX)."""
    if np.ndim(value) != 0:
        return None
    try:
        return float(value)
    except jax.errors.ConcretizationTypeError:
        return None
    except TypeError:
        raise TypeError(f"{name}={value!r} is not a real number") from None


def _times(x: Any, factor: Any) -> Any:
    """``x * factor`` with ``factor`` in ``x``'s dtype (a 0-d array does not upcast)."""
    return x * jnp.asarray(factor, dtype=x.dtype)


def _complex(parts: Any) -> Any:
    """Complex values from a real array whose last axis holds (real, imaginary)."""
    return lax.complex(parts[..., 0], parts[..., 1])


# --------------------------------------------------------------------------- fans


def _axes(value: Axes) -> tuple[int, ...]:
    return (value,) if isinstance(value, int | np.integer) else tuple(value)


def _fan_keywords(dims: tuple[int, ...], in_axis: Axes, out_axis: Axes, batch_axis: Axes) -> dict[str, Any]:
    """The core's fan keywords for JAX's ``_compute_fans`` at ``dims``.

    Where the core's rule applies (2-D and up, each axis in one role) the axes pass through
    and the request computes the fans. JAX also defines fans for 0-D and 1-D shapes with
    explicit axes and for axes in several roles; those follow JAX's formula
    (``fan_in = prod(shape) / (out * batch)``), handed over as explicit whole fans.
    """
    nd = len(dims)
    if isinstance(in_axis, int) and in_axis == -2 and nd <= 1:
        raise ValueError(
            f"Can't compute input and output sizes of a {nd}-dimensional weights tensor with "
            "default in_axis. Must be at least 2D or specify in_axis explicitly."
        )
    roles = {"in_axis": _axes(in_axis), "out_axis": _axes(out_axis), "batch_axis": _axes(batch_axis)}
    flat = [a for axes in roles.values() for a in axes]
    for name, axes in roles.items():
        if any(not -nd <= a < nd for a in axes):
            raise ValueError(f"{name}={axes!r} is not an axis of the {nd}-D shape {dims}")
    if nd >= 2 and len({a % nd for a in flat}) == len(flat):
        return roles
    if math.prod(dims) == 0:
        return {}  # nothing is drawn
    size = {k: math.prod(dims[a] for a in axes) for k, axes in roles.items()}
    receptive = Fraction(math.prod(dims), size["in_axis"] * size["out_axis"] * size["batch_axis"])
    fan_in, fan_out = size["in_axis"] * receptive, size["out_axis"] * receptive
    if fan_in.denominator != 1 or fan_out.denominator != 1:
        raise ValueError(
            f"in_axis={in_axis!r}, out_axis={out_axis!r}, batch_axis={batch_axis!r} give fractional "
            f"fans ({float(fan_in):g}, {float(fan_out):g}) for shape {dims}: name each axis once"
        )
    return {"fan_in": int(fan_in), "fan_out": int(fan_out)}


# --------------------------------------------------------------------------- variance scaling


def _variance_scaling(
    scale: Any,
    mode: str,
    distribution: str,
    in_axis: Axes,
    out_axis: Axes,
    batch_axis: Axes,
    dtype: Any,
    text: str,
) -> JaxInitializer:
    s = _concrete(scale, "scale")
    unit = s is None or s == 0.0  # traced, an array or zero: drawn at scale 1, then multiplied
    base = Spec.of("variance_scaling", mode=mode, distribution=distribution, scale=1.0 if unit else s)
    law = str(base.scheme.params["distribution"])

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        work, out, cplx = _dtypes(dtype)
        spec = Spec.of(base, **_fan_keywords(dims, in_axis, out_axis, batch_axis))
        if math.prod(dims) == 0:
            return jnp.zeros(dims, out)
        x = _complex_variance_scaling(spec, law, key, dims, work) if cplx else _draw(spec, dims, key, work)
        if unit:
            x = _times(x, jnp.sqrt(jnp.asarray(scale, dtype=work)))
        return x.astype(out)

    return JaxInitializer(text, dtype, draw)


def _complex_variance_scaling(spec: Spec, law: str, key: Any, dims: tuple[int, ...], work: Any) -> Any:
    """JAX's complex laws: a complex normal, a uniform disk, a normal truncated in modulus."""
    sd = spec.std(dims)  # sqrt(scale / n)
    if law == "normal":
        return _times(_complex(_draw(_HALF_NORMAL, (*dims, 2), key, work)), sd)
    u = _draw(_UNIT_UNIFORM, (*dims, 2), key, work)
    if law == "uniform":  # |z|^2 = 2 u: uniform on the disk of radius sqrt(2), E|z|^2 = 1
        r = jnp.sqrt(2.0 * u[..., 0]) * jnp.asarray(sd, dtype=work)
    else:  # |z|^2 ~ Exp(1) truncated at 4
        t = (1.0 - math.exp(-4.0)) * u[..., 0]
        r = jnp.sqrt(-jnp.log1p(-t)) * jnp.asarray(sd / _COMPLEX_TRUNC_STD, dtype=work)
    theta = (2.0 * math.pi) * u[..., 1]
    return lax.complex(r * jnp.cos(theta), r * jnp.sin(theta))


def variance_scaling(
    scale: Any,
    mode: str,
    distribution: str,
    in_axis: Axes = -2,
    out_axis: Axes = -1,
    batch_axis: Axes = (),
    dtype: Any = None,
) -> JaxInitializer:
    """``jax.nn.initializers.variance_scaling``: std ``sqrt(scale / n)``, n from ``mode``.

    ``distribution``: ``"truncated_normal"`` (cut at 2 sigma, sigma corrected),
    ``"normal"`` or ``"uniform"``; complex dtypes draw JAX's complex laws.

    >>> import jax
    >>> from varinit.adapters.jax import variance_scaling
    >>> init = variance_scaling(1.0, "fan_avg", "uniform", in_axis=(0, 1), batch_axis=2)
    >>> init(jax.random.key(0), (3, 3, 4, 16)).shape
    (3, 3, 4, 16)
    """
    text = _call_text(
        "variance_scaling",
        scale=scale,
        mode=mode,
        distribution=distribution,
        in_axis=in_axis,
        out_axis=out_axis,
        batch_axis=batch_axis,
        dtype=dtype,
    )
    return _variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype, text)


def _named(name: str, scale: float, mode: str, distribution: str) -> Callable[..., JaxInitializer]:
    def factory(
        in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (), dtype: Any = None
    ) -> JaxInitializer:
        text = _call_text(name, in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis, dtype=dtype)
        return _variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype, text)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = (
        f"``jax.nn.initializers.{name}``: ``variance_scaling({scale}, {mode!r}, {distribution!r})``.\n\n"
        f"    >>> import jax\n"
        f"    >>> from varinit.adapters.jax import {name}\n"
        f"    >>> {name}()(jax.random.key(0), (3, 3, 8, 16)).shape\n"
        f"    (3, 3, 8, 16)\n"
    )
    return factory


glorot_uniform = _named("glorot_uniform", 1.0, "fan_avg", "uniform")
glorot_normal = _named("glorot_normal", 1.0, "fan_avg", "truncated_normal")
lecun_uniform = _named("lecun_uniform", 1.0, "fan_in", "uniform")
lecun_normal = _named("lecun_normal", 1.0, "fan_in", "truncated_normal")
he_uniform = _named("he_uniform", 2.0, "fan_in", "uniform")
he_normal = _named("he_normal", 2.0, "fan_in", "truncated_normal")
xavier_uniform = glorot_uniform  # JAX's aliases: the same functions (truncated, as JAX)
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal


# --------------------------------------------------------------------------- fixed laws


def uniform(scale: Any = 1e-2, dtype: Any = None) -> JaxInitializer:
    """``jax.nn.initializers.uniform``: ``U[0, scale)`` (real dtypes).

    >>> import jax
    >>> from varinit.adapters.jax import uniform
    >>> x = uniform(10.0)(jax.random.key(0), (1000,))
    >>> bool((x >= 0).all() and (x < 10).all())
    True
    """

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        work, out, _ = _dtypes(dtype, real_only="uniform")
        return _times(_draw(_UNIT_UNIFORM, dims, key, work), scale).astype(out)

    return JaxInitializer(_call_text("uniform", scale=scale, dtype=dtype), dtype, draw)


def normal(stddev: Any = 1e-2, dtype: Any = None) -> JaxInitializer:
    """``jax.nn.initializers.normal``: ``N(0, stddev^2)``; complex: each part ``N(0, stddev^2/2)``.

    >>> import jax
    >>> from varinit.adapters.jax import normal
    >>> normal(0.02)(jax.random.key(0), (256, 64)).shape
    (256, 64)
    """

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        work, out, cplx = _dtypes(dtype)
        if cplx:
            z = _complex(_draw(_HALF_NORMAL, (*dims, 2), key, work))
        else:
            z = _draw(_UNIT_NORMAL, dims, key, work)
        return _times(z, stddev).astype(out)

    return JaxInitializer(_call_text("normal", stddev=stddev, dtype=dtype), dtype, draw)


def truncated_normal(
    stddev: Any = 1e-2, dtype: Any = None, lower: Any = -2.0, upper: Any = 2.0
) -> JaxInitializer:
    """``jax.nn.initializers.truncated_normal``: ``stddev * Z``, Z standard normal on ``(lower, upper)``.

    No variance correction (as JAX); ``lower``/``upper`` are in units of ``stddev``.

    >>> import jax
    >>> from varinit.adapters.jax import truncated_normal
    >>> x = truncated_normal(1.0, lower=0.0, upper=1.0)(jax.random.key(0), (1000,))
    >>> bool((x >= 0).all() and (x <= 1).all())
    True
    """
    lo, hi = _concrete(lower, "lower"), _concrete(upper, "upper")
    if lo is None or hi is None:
        raise TypeError(
            f"lower={lower!r}, upper={upper!r}: the bounds must be concrete scalars (they fix the law)"
        )
    unit = Spec.of("trunc_normal", mean=0.0, std=1.0, a=lo, b=hi)

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        work, out, _ = _dtypes(dtype, real_only="truncated_normal")
        return _times(_draw(unit, dims, key, work), stddev).astype(out)

    text = _call_text("truncated_normal", stddev=stddev, dtype=dtype, lower=lower, upper=upper)
    return JaxInitializer(text, dtype, draw)


# --------------------------------------------------------------------------- orthogonal


def _unit_orthogonal(key: Any, dims: tuple[int, ...], column_axis: int, work: Any, cplx: bool) -> Any:
    """A (semi-)orthogonal (unitary) tensor: orthonormal along ``column_axis``, as JAX lays it out."""
    nd = len(dims)
    if not -nd <= column_axis < nd:
        raise ValueError(f"column_axis={column_axis} is not an axis of the {nd}-D shape {dims}")
    ax = column_axis % nd
    moved = (*dims[:ax], *dims[ax + 1 :], dims[ax])  # columns last: the core's in_out layout
    q = _complex_orthogonal(key, moved, work) if cplx else _draw(_UNIT_ORTHOGONAL, moved, key, work)
    return jnp.moveaxis(q, -1, ax)


def _complex_orthogonal(key: Any, moved: tuple[int, ...], work: Any) -> Any:
    """Haar unitary columns (rows if wide): QR of a complex normal matrix, phases fixed."""
    cols = moved[-1]
    rows = math.prod(moved) // cols
    tall = (max(rows, cols), min(rows, cols))
    z = _complex(_draw(_HALF_NORMAL, (*tall, 2), key, work))
    q, r = jnp.linalg.qr(z)
    d = jnp.diagonal(r)
    q = q * jnp.expand_dims(d / jnp.abs(d), 0)
    return jnp.reshape(q if rows >= cols else q.T, moved)


def orthogonal(scale: Any = 1.0, column_axis: int = -1, dtype: Any = None) -> JaxInitializer:
    """``jax.nn.initializers.orthogonal``: ``scale`` times a uniformly random (semi-)orthogonal
    matrix over (all other axes, ``column_axis``); unitary for complex dtypes.

    >>> import jax, numpy as np
    >>> from varinit.adapters.jax import orthogonal
    >>> q = np.asarray(orthogonal(column_axis=0)(jax.random.key(0), (4, 6)))
    >>> np.allclose(q @ q.T, np.eye(4), atol=1e-5)  # orthonormal along axis 0
    True
    """

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        work, out, cplx = _dtypes(dtype)
        if len(dims) < 2:
            raise ValueError("orthogonal initializer requires at least a 2D shape")
        if math.prod(dims) == 0:
            return jnp.zeros(dims, out)
        return _times(_unit_orthogonal(key, dims, column_axis, work, cplx), scale).astype(out)

    text = _call_text("orthogonal", scale=scale, column_axis=column_axis, dtype=dtype)
    return JaxInitializer(text, dtype, draw)


def delta_orthogonal(scale: Any = 1.0, column_axis: int = -1, dtype: Any = None) -> JaxInitializer:
    """``jax.nn.initializers.delta_orthogonal``: zeros, with an orthogonal (in, out) matrix at
    the centre tap ``(k - 1) // 2`` of each spatial axis; shapes 3-D to 5-D, in <= out.

    >>> import jax
    >>> from varinit.adapters.jax import delta_orthogonal
    >>> w = delta_orthogonal()(jax.random.key(0), (3, 3, 4, 8))
    >>> bool((w[0] == 0).all()), w[1, 1].shape
    (True, (4, 8))
    """

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        work, out, cplx = _dtypes(dtype)
        if len(dims) not in (3, 4, 5):
            raise ValueError("Delta orthogonal initializer requires a 3D, 4D or 5D shape.")
        if dims[-1] < dims[-2]:
            raise ValueError("`fan_in` must be less or equal than `fan_out`. ")
        if math.prod(dims) == 0:
            return jnp.zeros(dims, out)
        q = _times(_unit_orthogonal(key, dims[-2:], column_axis, work, cplx), scale).astype(out)
        centre = tuple((k - 1) // 2 for k in dims[:-2])
        return jnp.zeros(dims, out).at[centre].set(q)

    text = _call_text("delta_orthogonal", scale=scale, column_axis=column_axis, dtype=dtype)
    return JaxInitializer(text, dtype, draw)


# --------------------------------------------------------------------------- constants


def constant(value: Any, dtype: Any = None) -> JaxInitializer:
    """``jax.nn.initializers.constant``: every element ``value`` (the key is ignored).

    Any dtype, and array values broadcast to the shape, as ``jnp.full``.

    >>> import jax.numpy as jnp
    >>> from varinit.adapters.jax import constant
    >>> constant(-7)(None, (2, 3), jnp.int32).tolist()
    [[-7, -7, -7], [-7, -7, -7]]
    """
    # a finite real scalar in a real float dtype is the table's constant; the rest a plain fill
    v = None if np.iscomplexobj(value) else _concrete(value, "value")
    spec = Spec.of("constant", value=v) if v is not None and math.isfinite(v) else None

    def draw(key: Any, dims: tuple[int, ...], dtype: Any) -> Any:
        dt = get_backend("jax").default_dtype() if dtype is None else jnp.dtype(dtype)
        if spec is not None and jnp.issubdtype(dt, jnp.floating):
            return _draw(spec, dims, 0, dt)  # no randomness: any source will do
        return jnp.full(dims, value, dtype=dt)

    return JaxInitializer(_call_text("constant", value=value, dtype=dtype), dtype, draw)


_ZEROS, _ONES = constant(0.0), constant(1.0)


def zeros(key: Any, shape: int | Sequence[int], dtype: Any = None, out_sharding: Any = None) -> Any:
    """``jax.nn.initializers.zeros``: an initializer itself (the key is ignored).

    >>> from varinit.adapters.jax import zeros
    >>> zeros(None, (2,)).tolist()
    [0.0, 0.0]
    """
    return _ZEROS(key, shape, dtype, out_sharding)


def ones(key: Any, shape: int | Sequence[int], dtype: Any = None, out_sharding: Any = None) -> Any:
    """``jax.nn.initializers.ones``: an initializer itself (the key is ignored).

    >>> from varinit.adapters.jax import ones
    >>> ones(None, (2,)).tolist()
    [1.0, 1.0]
    """
    return _ONES(key, shape, dtype, out_sharding)


def zeros_init() -> Callable[..., Any]:
    """Flax's ``zeros_init()``: returns :func:`zeros`."""
    return zeros


def ones_init() -> Callable[..., Any]:
    """Flax's ``ones_init()``: returns :func:`ones`."""
    return ones
