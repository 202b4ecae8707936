"""The one sampler: uniform variates in, any scheme's values out, Array API ops only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import Backend
from ._ndtri import Eager, Fence, _same, ndtr, ndtri
from ._plan import Plan

__all__ = ["Native", "Portable", "sample", "transform", "uniform_from_words"]

_F32_TOP = 1.0 - 2.0**-24
_F64_TOP = 1.0 - 2.0**-53


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
Index = tuple[slice | int, ...]


# --------------------------------------------------------------------------- uniforms


def uniform_from_words(xp: Any, w: Any, dtype: Any) -> Any:
    """Open-interval uniforms from uint32 words (last axis; float64 uses word pairs).

    float32: ``u = (w >> 8) * 2**-24 + 2**-25`` (rounded to float32, at most 1 - 2**-24);
    float64: ``u = (((w[2i] << 32) | w[2i+1]) >> 11) * 2**-53 + 2**-54`` (at most 1 - 2**-53).
    """
    if dtype == xp.float64:
        hi = xp.astype(w[..., 0::2], xp.float64)
        lo = xp.astype(xp.bitwise_right_shift(w[..., 1::2], 11), xp.float64)
        u = (hi * 2.0**21 + lo) * 2.0**-53 + 2.0**-54
        return xp.minimum(u, _F64_TOP)
    u = xp.astype(xp.bitwise_right_shift(w, 8), xp.float32) * 2.0**-24 + 2.0**-25
    return xp.minimum(u, _F32_TOP)


def _rows(shape: tuple[int, ...], index: Index | None) -> tuple[tuple[int, ...], list[int], int]:
    """(block shape, flat start of every row of the block, row length) in C order."""
    if index is None:
        n = math.prod(shape)
        return shape, [0], n
    if not isinstance(index, tuple):
        index = (index,)
    if len(index) > len(shape):
        raise IndexError(f"index={index!r} has more entries than shape {shape} has axes")
    index = index + (slice(None),) * (len(shape) - len(index))
    ranges, block, keep = [], [], []
    for ax, (ix, dim) in enumerate(zip(index, shape, strict=True)):
        if isinstance(ix, slice):
            r = range(*ix.indices(dim))
            block.append(len(r))
            keep.append(True)
        elif isinstance(ix, int | np.integer) and not isinstance(ix, bool):
            i = int(ix)
            if not -dim <= i < dim:
                raise IndexError(f"index {ix} is out of range for axis {ax} of size {dim}")
            r = range(i % dim, i % dim + 1)
            keep.append(False)
        else:
            raise TypeError(f"index entries must be slices or integers, got {ix!r}")
        ranges.append(r)
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    contiguous_last = len(shape) > 0 and ranges[-1].step == 1
    lead = ranges[:-1] if contiguous_last else ranges
    starts = np.zeros((1,), dtype=np.int64)
    for r, s in zip(lead, strides, strict=False):
        starts = (starts[:, None] + np.asarray(r, dtype=np.int64)[None, :] * s).reshape(-1)
    if contiguous_last:
        starts = starts + ranges[-1].start
        length = len(ranges[-1])
    else:
        length = 1
    block_shape = tuple(len(r) for r, k in zip(ranges, keep, strict=True) if k)
    return block_shape, [int(s) for s in starts], length


def _portable_uniform(
    be: Backend, src: Portable, starts: Sequence[int], length: int, dtype: Any, device: Any
) -> Any:
    xp = be.xp
    per = 2 if dtype == xp.float64 else 1
    w = be.philox_words(src.seed, src.stream, [s * per for s in starts], length * per, device)
    return uniform_from_words(xp, w, dtype)


# --------------------------------------------------------------------------- transforms


def transform(xp: Any, plan: Plan, u: Any, *, eager: Eager = False, fence: Fence = None) -> Any:
    """Map open-interval uniforms ``u`` to the plan's distribution (elementwise plans).

    ``eager`` lets ``ndtri`` update the tails in place (mutable, eager arrays only);
    ``fence`` guards products against fused multiply-adds (see ``ndtri``).
    """
    f = fence or _same
    k = plan.kind
    if k == "uniform":
        return f((plan.b - plan.a) * u) + plan.a
    if k == "normal":
        return _shift(f(plan.std * _standard_normal(xp, u, eager, fence)), plan.mean)
    if k == "truncnorm":
        lo, hi = plan.lo, plan.hi
        flip = lo > -hi  # sample on the side whose tail probabilities are small
        if flip:
            lo, hi = -hi, -lo
        pa, pb = ndtr(lo), ndtr(hi)
        p = f(f((pb - pa) * u) + pa)  # fenced twice: the sum must not be re-associated
        z = ndtri(xp, p, pmin=pa, pmax=pb, eager=eager, fence=fence)
        z = xp.clip(z, lo, hi)
        if flip:
            z = -z
        return _shift(f(plan.std * z), plan.mean)
    raise AssertionError(k)  # pragma: no cover


def _shift(x: Any, mean: float) -> Any:
    """``x + mean``, skipped for a zero mean (a full pass over the data for nothing)."""
    return x + mean if mean != 0.0 else x


def _standard_normal(xp: Any, u: Any, eager: Eager = False, fence: Fence = None) -> Any:
    tiny = 2.0**-54 if u.dtype == xp.float64 else 2.0**-25
    return ndtri(xp, u, pmin=tiny, pmax=1.0 - tiny, eager=eager, fence=fence)


# --------------------------------------------------------------------------- drivers


def _rejected_normal(be: Backend, gen: Any, shape: tuple[int, ...], dtype: Any, lo: float, hi: float) -> Any:
    """N(0, 1) restricted to [lo, hi] by redrawing what falls outside, or None.

    Exact, and faster than the inverse CDF where most draws land inside: used on backends
    with integer-index updates and a native normal kernel when [lo, hi] holds at least half
    the mass (about 95 % at the usual +-2 sigma, so each pass redraws ~4.6 % of the last).
    """
    if not be.index_setitem or not redraw_pays(lo, hi):
        return None
    z = be.native_normal(gen, (math.prod(shape),), dtype)
    if z is None:
        return None
    return be.xp.reshape(redraw_outside(be, gen, z, lo, hi), shape)


def redraw_pays(lo: float, hi: float) -> bool:
    """Whether redrawing beats the inverse CDF for N(0, 1) on [lo, hi]: half the mass inside."""
    return ndtr(hi) - ndtr(lo) >= 0.5


def redraw_outside(be: Backend, gen: Any, z: Any, lo: float, hi: float) -> Any:
    """Redraw, in place, the entries of the 1-D standard normal ``z`` outside [lo, hi]."""
    xp = be.xp

    def outside(x: Any) -> Any:
        return xp.abs(x) > hi if lo == -hi else (x < lo) | (x > hi)

    (at,) = xp.nonzero(outside(z))
    while at.shape[0]:
        fresh = be.native_normal(gen, (at.shape[0],), z.dtype)
        z[at] = fresh
        at = at[xp.nonzero(outside(fresh))[0]]
    return z


def sample(
    be: Backend,
    plan: Plan,
    shape: tuple[int, ...],
    src: Source,
    dtype: Any,
    out_dtype: Any,
    *,
    index: Index | None = None,
    device: Any = None,
) -> Any:
    """Draw the plan for the global ``shape`` (or its ``index`` block) on backend ``be``."""
    xp = be.xp
    if not plan.elementwise:
        full = _structured(be, plan, shape, src, dtype, device)
        if index is not None:
            full = full[index if isinstance(index, tuple) else (index,)]
        return be.finalize(full, out_dtype, device)
    if isinstance(src, Native) and index is not None:
        # a native generator has no random access: draw the whole tensor, return the block
        full = sample(be, plan, shape, src, dtype, out_dtype, device=device)
        return full[index if isinstance(index, tuple) else (index,)]
    block, starts, length = _rows(shape, index)
    n = math.prod(block)
    eager: Eager = ("index" if be.index_setitem else True) if be.mutable else False
    if plan.kind == "constant" or n == 0:
        kw = {} if device is None else {"device": device}
        return be.finalize(xp.full(block, plan.mean, dtype=dtype, **kw), out_dtype, device)
    if isinstance(src, Native) and plan.kind in ("normal", "truncnorm"):
        if plan.kind == "normal":
            z = be.native_normal(src.generator, block, dtype)
        else:
            z = _rejected_normal(be, src.generator, block, dtype, plan.lo, plan.hi)
        if z is not None:
            if be.mutable and be.fence is None:
                z *= plan.std
                if plan.mean != 0.0:
                    z += plan.mean
                return be.finalize(z, out_dtype, device)
            f = be.fence or _same
            return be.finalize(f(plan.std * z) + plan.mean, out_dtype, device)
    if index is None and be.mutable and n > be.chunk:
        # chunk by chunk: temporaries stay in cache and peak memory stays near the output
        out = be.empty(n, out_dtype, device)
        for a in range(0, n, be.chunk):
            b = min(n, a + be.chunk)
            if isinstance(src, Native):
                u = be.native_uniform(src.generator, (b - a,), dtype)
            else:
                u = xp.reshape(_portable_uniform(be, src, [a], b - a, dtype, device), (b - a,))
            step = be.transform_chunk
            for c in range(0, b - a, step):
                d = min(b - a, c + step)
                x = transform(xp, plan, u[c:d], eager=eager, fence=be.fence)
                out[a + c : a + d] = xp.astype(x, out_dtype, copy=False)
        return xp.reshape(out, block)
    if isinstance(src, Native):
        u = be.native_uniform(src.generator, block, dtype)
        x = transform(xp, plan, u, eager=eager, fence=be.fence)
        return be.finalize(x, out_dtype, device)
    u = _portable_uniform(be, src, starts, length, dtype, device)
    x = transform(xp, plan, u, eager=eager, fence=be.fence)
    return be.finalize(xp.reshape(x, block), out_dtype, device)


def _normal_matrix(be: Backend, src: Source, shape: tuple[int, ...], dtype: Any, device: Any) -> Any:
    """Standard normals of ``shape`` from the source (portable: the stream's first words)."""
    std = Plan("normal", std=1.0)
    return sample(be, std, shape, src, dtype, dtype, device=device)


def _orthogonal(be: Backend, src: Source, rows: int, cols: int, dtype: Any, device: Any) -> Any:
    """A (rows, cols) matrix with orthonormal rows or columns (whichever fits)."""
    xp = be.xp
    tall = (rows, cols) if rows >= cols else (cols, rows)
    a = _normal_matrix(be, src, tall, dtype, device)
    q, r = xp.linalg.qr(a)
    d = xp.linalg.diagonal(r) if hasattr(xp.linalg, "diagonal") else xp.diagonal(r)
    ones = xp.ones_like(d)
    q = q * xp.where(d < 0, -ones, ones)
    return q if rows >= cols else xp.matrix_transpose(q)


def _structured(be: Backend, plan: Plan, shape: tuple[int, ...], src: Source, dtype: Any, device: Any) -> Any:
    xp = be.xp
    n = math.prod(shape)
    out_in = plan.layout == "out_in"
    if plan.kind == "orthogonal":
        if n == 0:
            return be.from_numpy(np.zeros(shape), dtype, device)
        out = shape[0] if out_in else shape[-1]
        rows, cols = (out, n // out) if out_in else (n // out, out)
        return xp.reshape(plan.b * _orthogonal(be, src, rows, cols, dtype, device), shape)
    if plan.kind == "identity":
        return be.from_numpy(plan.b * np.eye(shape[0], shape[1]), dtype, device)
    if plan.kind == "dirac":
        return be.from_numpy(_dirac(shape, plan.groups, out_in), dtype, device)
    if plan.kind == "delta_orthogonal":
        cin, cout = (shape[1], shape[0]) if out_in else (shape[-2], shape[-1])
        q = plan.b * _orthogonal(be, src, cin, cout, dtype, device)  # (in, out)
        spatial = shape[2:] if out_in else shape[:-2]
        centre = np.zeros(spatial)
        centre[tuple(s // 2 for s in spatial)] = 1.0
        mask = be.from_numpy(centre.reshape((*spatial, 1, 1)), dtype, device)
        w = mask * q  # (*k, in, out)
        if out_in:
            nk = len(spatial)
            w = xp.permute_dims(w, (nk + 1, nk, *range(nk)))
        return w
    if plan.kind == "sparse":
        rows_axis = 0 if out_in else 1
        # one draw of 2 x shape uniforms: the first half gives the values, the second the
        # positions of the zeros (two draws from a JAX key would repeat the same bits)
        u = sample(be, Plan("uniform", a=0.0, b=1.0), (2, *shape), src, dtype, dtype, device=device)
        values, ranks_u = _standard_normal(xp, u[0, ...], fence=be.fence), u[1, ...]
        zeros = math.ceil(plan.a * shape[rows_axis])
        rank = xp.argsort(xp.argsort(ranks_u, axis=rows_axis), axis=rows_axis)
        return xp.where(rank < zeros, xp.zeros_like(values), plan.std * values)
    raise AssertionError(plan.kind)  # pragma: no cover


def _dirac(shape: tuple[int, ...], groups: int, out_in: bool) -> Any:
    w = np.zeros(shape)
    out, cin = (shape[0], shape[1]) if out_in else (shape[-1], shape[-2])
    spatial = shape[2:] if out_in else shape[:-2]
    centre = tuple(s // 2 for s in spatial)
    per = out // groups
    for g in range(groups):
        for d in range(min(per, cin)):
            idx = (g * per + d, d, *centre) if out_in else (*centre, d, g * per + d)
            w[idx] = 1.0
    return w
