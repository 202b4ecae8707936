"""The one-call API: ``init``, ``std`` and ``stream_id``."""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Sequence
from typing import Any

from ._backend import Backend, get_backend
from ._fans import LAYOUTS, normalize_shape
from ._philox import split_key
from ._plan import FAN_KEYS, Plan, resolve
from ._sampler import Index, Native, Portable, Source
from ._table import FAMILIES, Scheme, get

__all__ = ["init", "plan", "source", "std", "stream_id"]


def _split(scheme: str | Scheme, overrides: dict[str, Any]) -> tuple[Scheme, dict[str, Any]]:
    """The validated scheme and the keyword arguments meant for :func:`varinit.fans`.

    ``groups`` serves both: it fixes the fans, and it is also ``dirac``'s own parameter.
    """
    base = get(scheme)
    own = FAMILIES[base.family].params
    fan_kw = {k: overrides[k] for k in FAN_KEYS if k in overrides}
    params = {k: v for k, v in overrides.items() if k not in fan_kw or k in own}
    return base.with_overrides(**params), fan_kw


def _layout(layout: str | None, default: str) -> str:
    if layout is None:
        return default
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not allowed: layout must be one of {LAYOUTS}")
    return layout


def plan(
    scheme: str | Scheme, shape: int | Sequence[int], *, layout: str = "in_out", **overrides: Any
) -> tuple[Scheme, Plan]:
    """Resolve a scheme with overrides at ``shape``: the validated row and its numbers."""
    sch, fan_kw = _split(scheme, overrides)
    return sch, resolve(sch, normalize_shape(shape), _layout(layout, "in_out"), fan_kw)


def std(
    scheme: str | Scheme, shape: int | Sequence[int], *, layout: str = "in_out", **overrides: Any
) -> float:
    """The standard deviation the samples of ``init(scheme, shape, ...)`` will have.

    >>> import varinit
    >>> round(varinit.std("he_normal", (512, 256)), 6)      # sqrt(2 / 512)
    0.0625
    >>> round(varinit.std("glorot_uniform", (300, 100)), 6)  # sqrt(2 / 400)
    0.070711
    """
    dims = normalize_shape(shape)
    _, p = plan(scheme, dims, layout=layout, **overrides)
    return p.sample_std(dims)


def stream_id(name: str) -> int:
    """The 64-bit stream id of a parameter name (first 8 bytes of BLAKE2b, little-endian).

    Whole-model init gives every parameter its own stream, so its values depend on the
    seed and its qualified name only, never on construction order.

    >>> import varinit
    >>> varinit.stream_id("encoder.layers.0.weight") == varinit.stream_id("encoder.layers.0.weight")
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} is not allowed: a stream is named by a str")
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def source(be: Backend, seed: Any, stream: int = 0) -> Source:
    """Portable for an int seed, native for the framework's generator or ``None``."""
    if seed is None:
        return Native(be.default_generator())
    if be.is_generator(seed):
        return Native(seed)
    if isinstance(seed, bool):
        raise TypeError(f"seed={seed!r} is not allowed: pass an int, a generator, or None")
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(
            f"seed={seed!r} is not allowed for backend {be.name!r}: pass an int in [0, 2**64) "
            f"(portable stream), the framework's own generator (native stream), or None"
        ) from None
    split_key(value)
    split_key(stream, "stream")
    return Portable(value, stream)


def init(
    scheme: str | Scheme,
    shape: int | Sequence[int],
    *,
    backend: str | Backend = "numpy",
    seed: Any = None,
    dtype: Any = None,
    device: Any = None,
    layout: str | None = None,
    index: Index | slice | None = None,
    stream: int = 0,
    **overrides: Any,
) -> Any:
    """A new array of ``shape`` drawn from ``scheme`` on ``backend``.

    ``seed``: an int selects the portable Philox stream (the same numbers on every
    backend); the framework's generator selects its native stream; ``None`` means the
    framework's default (fresh entropy for NumPy). ``index`` (a tuple of slices) returns
    only that block of the global tensor, equal to the same slice of the whole. Layout is
    ``"in_out"`` unless given; ``in_axis``/``out_axis``/``batch_axis``/``groups``/
    ``fan_in``/``fan_out`` go to :func:`varinit.fans`, everything else overrides the scheme.

    >>> import varinit
    >>> w = varinit.init("glorot_uniform", (64, 32), seed=7)
    >>> w.shape, bool(abs(w).max() <= (6 / 96) ** 0.5)
    ((64, 32), True)
    >>> block = varinit.init("glorot_uniform", (64, 32), seed=7, index=(slice(0, 8),))
    >>> bool((block == w[:8]).all())
    True
    """
    be = get_backend(backend)
    dims = normalize_shape(shape)
    sch, fan_kw = _split(scheme, overrides)
    work, out = be.resolve_dtype(dtype)
    p = resolve(sch, dims, _layout(layout, "in_out"), fan_kw) if math.prod(dims) else Plan("constant")
    src = source(be, seed, stream)
    if isinstance(index, slice):
        index = (index,)
    return be.draw(p, dims, src, work, out, index=index, device=device)
