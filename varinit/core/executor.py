"""The executor: the only code that draws. A request in, the backend's array out.

It picks the fastest route the backend offers, each bit-identical to the reference:

1. ``backend.fill(request, out)``: write straight into a caller's array (native in-place
   kernels, compiled fills);
2. ``backend.fused(request)``: the whole request in one compiled function (XLA on JAX/TF);
3. :func:`reference`: the Array-API sampler, on any namespace (always available).

>>> from varinit.core.request import request
>>> from varinit.core.executor import execute
>>> w = execute(request("glorot_uniform", (64, 32), seed=7))
>>> w.shape, bool(abs(w).max() <= (6 / 96) ** 0.5)
((64, 32), True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..rng.ndtri import Eager, _same, ndtr
from ..rng.philox import uniform_from_words
from .backend import Backend
from .plans import Elementwise, Normal, Plan, Structured, TruncNormal, Uniform
from .request import Native, Portable, Request

__all__ = ["execute", "redraw_outside", "redraw_pays", "reference", "values_from_words"]


def execute(req: Request, out: Any = None) -> Any:
    """Draw ``req``; with ``out`` (an array of the request's shape), write the values into it."""
    be = req.backend
    if out is not None and be.fill(req, out):
        return out
    x = be.fused(req)
    if x is None:
        x = reference(req)
    if out is not None:
        be.copy_into(out, x)
        return out
    return x


# --------------------------------------------------------------------------- words to values


def _per(be: Backend, dtype: Any) -> int:
    return 2 if dtype == be.xp.float64 else 1


def portable_uniform(be: Backend, src: Portable, starts: Any, length: int, dtype: Any, device: Any) -> Any:
    """Open-interval uniforms of elements ``[s, s + length)`` for every row start ``s``."""
    per = _per(be, dtype)
    w = be.philox_words(src.seed, src.stream, [s * per for s in starts], length * per, device)
    return uniform_from_words(be.xp, w, dtype)


def values_from_words(
    be: Backend, plan: Elementwise, words: Any, shape: tuple[int, ...], dtype: Any, out: Any
) -> Any:
    """The plan's values of ``shape`` from the stream's uint32 words (rows, length): the
    "words in, values out" route a backend compiles around its own word kernel."""
    xp = be.xp
    x = plan.transform(xp, uniform_from_words(xp, words, dtype), fence=be.fence)
    return be.finalize(xp.reshape(x, shape), out, None)


def _eager(be: Backend) -> Eager:
    return ("index" if be.index_setitem else True) if be.mutable else False


# --------------------------------------------------------------------------- the reference


def take(be: Backend, x: Any, index: tuple[slice | int, ...]) -> Any:
    """``x[index]`` for a normalized block index, also where the backend's slicing takes no
    negative steps (torch): those axes are sliced forwards, then flipped."""
    if be.negative_steps or all(not isinstance(i, slice) or i.step > 0 for i in index):
        return x[index]
    forward: list[slice | int] = []
    flips: list[int] = []
    kept = 0
    for i in index:
        if isinstance(i, slice):
            r = range(i.start, -1 if i.stop is None else i.stop, i.step)
            if i.step < 0:
                flips.append(kept)
                i = slice(r[-1], r[0] + 1, -i.step) if len(r) else slice(0, 0)
            kept += 1
        forward.append(i)
    y = x[tuple(forward)]
    return be.xp.flip(y, axis=tuple(flips)) if flips else y


class _Builder:
    """What structured plans draw with: normals and uniforms from the request's source."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.xp = req.backend.xp

    def fence(self, x: Any) -> Any:
        f = self.req.backend.fence
        return f(x) if f is not None else x

    def _draw(self, plan: Plan, shape: tuple[int, ...]) -> Any:
        r = self.req
        return reference(r.with_(plan=plan, shape=shape, block=None, out_dtype=r.dtype))

    def uniforms(self, shape: tuple[int, ...]) -> Any:
        return self._draw(Uniform(0.0, 1.0), shape)

    def orthogonal(self, rows: int, cols: int) -> Any:
        """A (rows, cols) matrix with orthonormal rows or columns (whichever fits)."""
        xp = self.xp
        tall = (rows, cols) if rows >= cols else (cols, rows)
        a = self._draw(Normal(0.0, 1.0), tall)  # portable: the stream's first words
        q, r = xp.linalg.qr(a)
        d = xp.linalg.diagonal(r) if hasattr(xp.linalg, "diagonal") else xp.diagonal(r)
        ones = xp.ones_like(d)
        q = q * xp.where(d < 0, -ones, ones)
        return q if rows >= cols else xp.matrix_transpose(q)

    def constant(self, a: np.ndarray) -> Any:
        r = self.req
        return r.backend.from_numpy(a, r.dtype, r.device)


def reference(req: Request) -> Any:
    """The Array-API sampler: any request, on any backend."""
    be, plan, src, xp = req.backend, req.plan, req.source, req.backend.xp
    dtype, out_dtype, device = req.dtype, req.out_dtype, req.device
    if isinstance(plan, Structured):
        full = plan.build(_Builder(req), req.shape)
        if req.block is not None:
            full = take(be, full, req.block.index)
        return be.finalize(full, out_dtype, device)
    assert isinstance(plan, Elementwise)
    if isinstance(src, Native) and req.block is not None:
        # a native generator has no random access: draw the whole tensor, return the block
        return take(be, reference(req.with_(block=None)), req.block.index)
    rows = req.rows()
    block, n = rows.shape, rows.size
    if not plan.random or n == 0:
        value = plan.expectation() if n else 0.0
        kw = {} if device is None else {"device": device}
        return be.finalize(xp.full(block, value, dtype=dtype, **kw), out_dtype, device)
    eager = _eager(be)
    if isinstance(src, Native) and isinstance(plan, Normal | TruncNormal):
        if isinstance(plan, Normal):
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
    if req.block is None and be.mutable and n > be.chunk:
        # chunk by chunk: temporaries stay in cache and peak memory stays near the output
        out = be.empty(n, out_dtype, device)
        for a in range(0, n, be.chunk):
            b = min(n, a + be.chunk)
            if isinstance(src, Native):
                u = be.native_uniform(src.generator, (b - a,), dtype)
            else:
                u = xp.reshape(portable_uniform(be, src, [a], b - a, dtype, device), (b - a,))
            step = be.transform_chunk
            for c in range(0, b - a, step):
                d = min(b - a, c + step)
                x = plan.transform(xp, u[c:d], eager=eager, fence=be.fence)
                out[a + c : a + d] = xp.astype(x, out_dtype, copy=False)
        return xp.reshape(out, block)
    if isinstance(src, Native):
        u = be.native_uniform(src.generator, block, dtype)
        x = plan.transform(xp, u, eager=eager, fence=be.fence)
        return be.finalize(x, out_dtype, device)
    u = portable_uniform(be, src, rows.starts, rows.length, dtype, device)
    x = plan.transform(xp, u, eager=eager, fence=be.fence)
    return be.finalize(xp.reshape(x, block), out_dtype, device)


# --------------------------------------------------------------------------- native truncation


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
