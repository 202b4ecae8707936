"""One request: every front door's call, validated once and frozen.

A front door (``varinit.init``, torch ``init_``, the JAX and Keras initializers, the CLI...)
turns its native arguments into a :class:`Spec` (the scheme with its overrides, the fan
keywords, the layout: known before any shape) and then a :class:`Request` (plus the shape,
the plan, the source, the dtypes, the device and the block). The executor draws a request;
nothing else does. Every path therefore raises the same error for the same mistake.

>>> from varinit.core.request import Spec
>>> spec = Spec.of("he_normal", mode="fan_out")
>>> req = spec.request((64, 32), backend="numpy", seed=0, index=(slice(0, 8),))
>>> req.block.shape, req.plan.kind, req.source
((8, 32), 'truncnorm', Portable(seed=0, stream=0))
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from ..rng.philox import split_key
from .backend import Backend, get_backend
from .families import FAMILIES, FAN_KEYS
from .fans import LAYOUTS, normalize_shape
from .plans import Constant, Plan
from .table import Scheme, get

__all__ = [
    "Block",
    "Index",
    "Native",
    "Portable",
    "Request",
    "Source",
    "Spec",
    "block_of",
    "request",
    "source",
]

Index = tuple[slice | int, ...]


@dataclass(frozen=True)
class Portable:
    """The portable Philox stream: an integer seed and a 64-bit stream id."""

    seed: int
    stream: int = 0


@dataclass(frozen=True)
class Native:
    """A framework's own generator."""

    generator: Any


Source = Portable | Native


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Block:
    """Part of the global tensor: its shape, the flat C-order start of each of its rows (of
    ``length`` contiguous elements), and the normalized index (non-negative ints, slices
    with explicit bounds) that cuts it from the whole.

    >>> b = block_of((4, 5), (slice(1, 3), slice(0, 5, 2)))
    >>> b.shape, b.starts, b.length
    ((2, 3), (5, 7, 9, 10, 12, 14), 1)
    """

    shape: tuple[int, ...]
    #: the flat start of row 0, and ``(count, step)`` per leading axis: row ``(i_0, i_1, ...)``
    #: (C order) starts at ``first + sum(i_k * step_k)``; rows are never stored one by one
    first: int
    grid: tuple[tuple[int, int], ...]
    length: int
    index: Index

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def rows(self) -> int:
        """How many rows of ``length`` elements the block has."""
        return math.prod(c for c, _ in self.grid) if self.size else 0

    @property
    def starts(self) -> tuple[int, ...]:
        """Every row's flat start (built on each call: large blocks use :meth:`row_starts`)."""
        return tuple(int(v) for v in self.row_starts(0, self.rows))

    def row_starts(self, a: int, b: int) -> np.ndarray:
        """The flat starts of rows ``[a, b)``, as int64."""
        r = np.arange(a, b, dtype=np.int64)
        out = np.full(r.shape, self.first, dtype=np.int64)
        for count, step in reversed(self.grid):
            r, i = np.divmod(r, count)
            if step:
                out += i * step
        return out

    def pieces(self, most: int) -> list[tuple[int, int]]:
        """Row ranges ``[a, b)`` of at most ``most`` elements each (at least one row)."""
        per = max(1, most // max(self.length, 1))
        return [(a, min(a + per, self.rows)) for a in range(0, self.rows, per)]


def _bound(v: Any, dim: int, ax: int, ix: slice, what: str) -> int:
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(
            f"index={ix!r}: the {what} of a slice must be an integer or None, got {v!r}"
        ) from None
    n = i + dim if i < 0 else i
    if not 0 <= n <= dim:
        raise IndexError(
            f"index={ix!r} is out of range for axis {ax} of size {dim}: its {what} {i} lies outside "
            "the global tensor (a block must be part of it; a short block is a sharding bug)"
        )
    return n


def _range(ix: slice, dim: int, ax: int) -> range:
    step = 1 if ix.step is None else operator.index(ix.step)
    if step == 0:
        raise ValueError(f"index={ix!r} on axis {ax}: a slice step cannot be zero")
    for v, what in ((ix.start, "start"), (ix.stop, "stop")):
        if v is not None:
            n = _bound(v, dim, ax, ix, what)
            if what == "start" and step < 0 and n == dim and dim > 0:
                raise IndexError(
                    f"index={ix!r} is out of range for axis {ax} of size {dim}: a negative-step slice "
                    f"starts at most at {dim - 1}"
                )
    return range(*ix.indices(dim))


def block_of(shape: tuple[int, ...], index: Any) -> Block:
    """The block of the global ``shape`` that ``index`` selects: ints and slices (any step,
    negative indices), one per leading axis; anything outside the shape raises ``IndexError``
    naming the axis, the index and the size."""
    if not isinstance(index, tuple):
        index = (index,)
    if len(index) > len(shape):
        raise IndexError(
            f"index={index!r} has {len(index)} entries but the shape {shape} has {len(shape)} axes"
        )
    full = index + (slice(None),) * (len(shape) - len(index))
    ranges: list[range] = []
    keep: list[bool] = []
    norm: list[slice | int] = []
    for ax, (ix, dim) in enumerate(zip(full, shape, strict=True)):
        if isinstance(ix, slice):
            r = _range(ix, dim, ax)
            keep.append(True)
            norm.append(slice(r.start, r.stop if r.stop >= 0 else None, r.step))
        elif isinstance(ix, bool | np.bool_):
            raise TypeError(f"index={index!r}: entries are ints or slices, got the bool {ix!r} on axis {ax}")
        else:
            try:
                i = operator.index(ix)
            except TypeError:
                raise TypeError(
                    f"index={index!r}: entries are ints or slices, got {ix!r} on axis {ax}"
                ) from None
            if not -dim <= i < dim:
                raise IndexError(f"index {i} is out of range for axis {ax} of size {dim}")
            r = range(i % dim, i % dim + 1)
            keep.append(False)
            norm.append(i % dim)
        ranges.append(r)
    block_shape = tuple(len(r) for r, k in zip(ranges, keep, strict=True) if k)
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    contiguous_last = len(shape) > 0 and ranges[-1].step == 1
    lead = ranges[:-1] if contiguous_last else ranges
    first = sum(r.start * s for r, s in zip(lead, strides, strict=False))
    grid = tuple((len(r), r.step * s) for r, s in zip(lead, strides, strict=False))
    if contiguous_last:
        first += ranges[-1].start
        length = len(ranges[-1])
    else:
        length = 1
    return Block(block_shape, first, grid, length, tuple(norm))


def whole(shape: tuple[int, ...]) -> Block:
    """The block that is the whole tensor."""
    return Block(shape, 0, (), math.prod(shape), ())


# --------------------------------------------------------------------------- sources


def source(be: Backend, seed: Any, stream: int = 0) -> Source:
    """Portable for an int seed, native for the framework's generator or ``None``."""
    split_key(stream, "stream")  # checked whatever the seed: a bad stream is never ignored
    if seed is None:
        return Native(be.native_state(be.default_generator()))
    if be.is_generator(seed):
        return Native(be.native_state(seed))
    if isinstance(seed, bool | np.bool_):
        raise TypeError(f"seed={seed!r} is not allowed: pass an int, a generator, or None")
    split_key(stream, "stream")
    try:
        value = operator.index(seed)
    except TypeError:
        if be.traced_seed(seed):
            return Portable(seed, operator.index(stream))
        raise TypeError(
            f"seed={seed!r} is not allowed for backend {be.name!r}: pass an int in [0, 2**64) "
            f"(portable stream), {be.generator_hint} (native stream), or None"
        ) from None
    split_key(value)
    return Portable(value, operator.index(stream))


# --------------------------------------------------------------------------- spec and request


@dataclass(frozen=True)
class Spec:
    """A scheme with validated overrides, fan keywords and layout: everything but the shape.

    Front doors that are built before they are called (the JAX, TF and Keras initializers,
    ``init_module`` rules) make a Spec once and a Request per call.
    """

    scheme: Scheme
    fan_kw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    layout: str | None = None

    @classmethod
    def of(cls, scheme: str | Scheme | Spec, *, layout: str | None = None, **overrides: Any) -> Spec:
        """Validate ``scheme`` and ``overrides`` (fan keywords are split off) now."""
        if isinstance(scheme, Spec):
            base = scheme
            scheme = base.scheme
            overrides = {**base.fan_kw, **overrides}
            layout = layout if layout is not None else base.layout
        sch = get(scheme)
        try:
            key = tuple(sorted(overrides.items()))
            return _spec_of(sch, layout, key)  # pure: cached per (scheme row, layout, overrides)
        except TypeError:  # an unhashable override (a list of axes): validated uncached
            return _spec_uncached(sch, layout, overrides)

    def plan(self, shape: int | Sequence[int], layout: str | None = None) -> Plan:
        """The plan at ``shape`` (a zero-size shape draws nothing: a constant 0)."""
        dims = normalize_shape(shape)
        if math.prod(dims) == 0:
            return Constant(0.0)
        return _plan(self.scheme, dims, self.layout or layout or "in_out", self.fan_kw)

    def std(self, shape: int | Sequence[int], layout: str | None = None) -> float:
        """The std the samples will have at ``shape``."""
        dims = normalize_shape(shape)
        return _plan(self.scheme, dims, self.layout or layout or "in_out", self.fan_kw).sample_std(dims)

    def request(
        self,
        shape: int | Sequence[int],
        *,
        backend: Any = "numpy",
        seed: Any = None,
        stream: int = 0,
        dtype: Any = None,
        device: Any = None,
        index: Any = None,
        default_layout: str = "in_out",
    ) -> Request:
        """The frozen request for one draw at ``shape`` on ``backend``."""
        be = get_backend(backend)
        dims = normalize_shape(shape)
        layout = self.layout or default_layout
        plan = self.plan(dims, layout)
        work, out = be.resolve_dtype(dtype)
        _check_range(self.scheme, plan, work, out)
        src = source(be, seed, stream)
        block = None if index is None else block_of(dims, index)
        return Request(be, self.scheme, dims, layout, plan, src, work, out, device, block)


#: the largest finite value of each floating dtype, by name
_DTYPE_MAX = {
    "float16": 65504.0,
    "bfloat16": 3.3895313892515355e38,
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
}


def _dtype_name(dtype: Any) -> str | None:
    # cached by text: dtype objects of different libraries must never be compared
    return _float_name(str(getattr(dtype, "name", dtype)))


@functools.lru_cache(maxsize=64)
def _float_name(text: str) -> str | None:
    found = re.findall(r"b?float(?:16|32|64)", text)
    return found[-1] if found else None


def _check_range(sch: Scheme, plan: Plan, work: Any, out: Any) -> None:
    """Refuse a plan whose values overflow the work or output dtype (never return inf)."""
    for dt in (work, out):
        name = _dtype_name(dt)
        if name is None:
            continue
        reach = plan.reach(wide=name == "float64")
        if not reach <= _DTYPE_MAX[name]:
            params = ", ".join(f"{k}={v!r}" for k, v in sch.params.items() if isinstance(v, float))
            raise ValueError(
                f"scheme {sch.name!r} with {params} draws values up to {reach:.4g} in magnitude "
                f"({plan.describe()}), beyond the largest {name} ({_DTYPE_MAX[name]:.6g}): the "
                "result would hold inf; use smaller parameters or a wider dtype"
            )


def _spec_uncached(sch: Scheme, layout: str | None, overrides: Mapping[str, Any]) -> Spec:
    own = FAMILIES[sch.family].params
    fan_kw = {k: overrides[k] for k in FAN_KEYS if k in overrides}
    params = {k: v for k, v in overrides.items() if k not in fan_kw or k in own}
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not allowed: layout must be one of {LAYOUTS}")
    return Spec(sch.with_overrides(**params), MappingProxyType(fan_kw), layout)


@functools.lru_cache(maxsize=1024)
def _spec_of(sch: Scheme, layout: str | None, overrides: tuple[tuple[str, Any], ...]) -> Spec:
    return _spec_uncached(sch, layout, dict(overrides))


def _plan(sch: Scheme, dims: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]) -> Plan:
    try:
        return _plan_cached(sch, dims, layout, tuple(sorted(fan_kw.items())))
    except TypeError:  # unhashable fan keywords (lists of axes)
        return sch.plan(dims, layout, fan_kw)


@functools.lru_cache(maxsize=4096)
def _plan_cached(
    sch: Scheme, dims: tuple[int, ...], layout: str, fan_kw: tuple[tuple[str, Any], ...]
) -> Plan:
    return sch.plan(dims, layout, dict(fan_kw))


@dataclass(frozen=True)
class Request:
    """One validated draw: the executor's only input."""

    backend: Backend
    scheme: Scheme
    shape: tuple[int, ...]
    layout: str
    plan: Plan
    source: Source
    dtype: Any  # the dtype values are computed in
    out_dtype: Any  # the dtype returned
    device: Any = None
    block: Block | None = None  # None: the whole tensor

    @property
    def size(self) -> int:
        """Elements the request returns (the block's, or the whole tensor's)."""
        return self.block.size if self.block is not None else math.prod(self.shape)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.block.shape if self.block is not None else self.shape

    def rows(self) -> Block:
        """The block to draw (the whole tensor when there is no ``index``)."""
        return self.block if self.block is not None else whole(self.shape)

    def with_(self, **changes: Any) -> Request:
        """A copy with some fields replaced (the executor's sub-draws, a model's parameters
        that differ only in their stream): a field copy, without re-running ``__init__``."""
        unknown = changes.keys() - self.__dataclass_fields__.keys()
        if unknown:
            return replace(self, **changes)  # its TypeError names the field
        new = object.__new__(Request)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


def request(
    scheme: str | Scheme | Spec,
    shape: int | Sequence[int],
    *,
    backend: Any = "numpy",
    seed: Any = None,
    stream: int = 0,
    dtype: Any = None,
    device: Any = None,
    layout: str | None = None,
    index: Any = None,
    like: Any = None,
    default_layout: str = "in_out",
    **overrides: Any,
) -> Request:
    """Build the request for one call (``varinit.init``'s arguments; ``like=x`` takes the
    namespace, dtype and device of the array ``x``)."""
    if like is not None:
        from array_api_compat import array_namespace
        from array_api_compat import device as device_of

        try:
            backend = array_namespace(like)
        except TypeError:
            raise TypeError(f"like={like!r} is not an array of an Array API library") from None
        dtype = like.dtype if dtype is None else dtype
        device = device_of(like) if device is None else device
    return Spec.of(scheme, layout=layout, **overrides).request(
        shape,
        backend=backend,
        seed=seed,
        stream=stream,
        dtype=dtype,
        device=device,
        index=index,
        default_layout=default_layout,
    )
