"""The executor: the only code that draws. A request in, the backend's array out.

It picks the fastest route the backend offers, each bit-identical to the reference:

1. ``backend.fill(request, out)``: write straight into a caller's array (torch's native
   in-place kernels; portable draws into CUDA tensors through the Triton kernel,
   :mod:`varinit.rng.triton_kernel`);
2. the compiled kernel (:mod:`varinit.rng.kernel`, C) for portable uniform, normal and
   truncated-normal draws into host memory the backend exposes (``backend.host_view``:
   NumPy arrays, contiguous CPU torch tensors), straight into the output;
3. ``backend.fused(request)``: the whole request in one compiled function (XLA on JAX/TF);
4. :func:`reference`: the Array-API sampler, on any namespace (always available).

>>> from varinit.core.request import request
>>> from varinit.core.executor import execute
>>> w = execute(request("glorot_uniform", (64, 32), seed=7))
>>> w.shape, bool(abs(w).max() <= (6 / 96) ** 0.5)
((64, 32), True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..rng.ndtri import Eager, _same, ndtr
from ..rng.philox import uniform_from_words
from .backend import Backend
from .plans import Elementwise, Normal, Plan, Structured, TruncNormal, Uniform
from .request import Native, Portable, Request

__all__ = ["execute", "execute_many", "redraw_outside", "redraw_pays", "reference", "values_from_words"]


def execute(req: Request, out: Any = None) -> Any:
    """Draw ``req``; with ``out`` (an array of the request's shape), write the values into it."""
    be = req.backend
    if out is not None and (be.fill(req, out) or _compiled_into(req, out)):
        return out
    x = _compiled_new(req)
    if x is None:
        x = be.fused(req)
    if x is None:
        x = reference(req)
    if out is not None:
        be.copy_into(out, x)
        return out
    return x


def execute_many(jobs: Iterable[tuple[Request, Any]]) -> None:
    """Draw every request into its ``out`` array, each exactly as :func:`execute` would.

    Whole-tensor portable draws the compiled kernel takes go to it together, in one call
    for all the small ones (a model's biases and narrow layers): the fixed cost is paid
    once, not per tensor. Their order does not matter, as each reads its own stream; all
    other draws (native generators, structured plans) run one by one, in order.
    """
    batch: list[tuple[Any, str, tuple[float, ...], int, int]] = []
    for req, out in jobs:
        be = req.backend
        if be.fill(req, out):
            continue
        job = _kernel_job(req) if req.block is None else None
        view = be.host_view(out) if job is not None and _same_dtype(req) else None
        if job is None or view is None:
            execute(req, out)
            continue
        kind, params, src = job
        batch.append((view, kind, params, src.seed, src.stream))
    if batch:
        from ..rng import kernel

        kernel.fill_many(batch)


def _same_dtype(req: Request) -> bool:
    return req.out_dtype is req.dtype or _dtype_name(req.out_dtype) == _dtype_name(req.dtype)


# --------------------------------------------------------------------------- the compiled kernel


_KERNEL_DTYPES = ("float32", "float64")


def _kernel_job(req: Request) -> tuple[str, tuple[float, ...], Portable] | None:
    """What the compiled kernel would draw for ``req``, or None where it does not apply."""
    src, plan = req.source, req.plan
    if not isinstance(src, Portable) or not isinstance(plan, Elementwise) or req.size == 0:
        return None
    if type(src.seed) is not int or _dtype_name(req.dtype) not in _KERNEL_DTYPES:
        return None
    args = plan.kernel_args()
    cls: Any = type(req.backend)
    if args is None or not _words_unchanged(cls) or not kernel_available():
        return None
    return args[0], args[1], src


def _dtype_name(dtype: Any) -> str:
    """``"float32"`` for np.float32 (a type), np.dtype("float32"), torch.float32, ..."""
    for attr in ("name", "__name__"):
        name = getattr(dtype, attr, None)
        if isinstance(name, str):
            return name
    return str(dtype).rsplit(".", 1)[-1]


def kernel_available() -> bool:
    """Whether the compiled kernel is built and passed its load-time self-test."""
    from ..rng import kernel

    return kernel.available()


def route() -> str:
    """Which route portable draws take on this machine, in words (``varinit check`` prints it).

    >>> route().startswith(("compiled kernel", "Array-API reference"))
    True
    """
    from ..rng import kernel

    if kernel.available():
        cpu = (
            f"compiled kernel ({kernel.isa()}) for NumPy, CPU torch tensors and eager TensorFlow on "
            "the CPU; XLA for JAX and TensorFlow in tf.function; the Array-API reference for other "
            "libraries"
        )
    else:
        why = kernel.unavailable_reason()
        cpu = (
            f"Array-API reference for NumPy and torch (compiled kernel unavailable: {why}); "
            "XLA for JAX and TF"
        )
    return f"{cpu}; {_triton_route()}"


def _triton_route() -> str:
    """The CUDA torch route, in words (without importing Triton: see ``triton_kernel.installed``)."""
    from ..rng import triton_kernel

    return triton_kernel.describe()


def _compiled_fill(req: Request, view: Any, job: tuple[str, tuple[float, ...], Portable]) -> None:
    from ..rng import kernel

    rows = req.rows()
    kind, params, src = job
    if rows.grid == ():  # one row: the whole tensor, or a contiguous run of it
        kernel.fill(view, kind, params, src.seed, src.stream, [rows.first], rows.length)
        return
    flat = view.reshape(-1)
    for a, b in rows.pieces(_ROWS_AT_ONCE * rows.length if rows.length < 64 else 4 * kernel.THREAD_MIN):
        # many rows: their starts are made a group at a time, so memory stays near the block
        part = flat[a * rows.length : b * rows.length]
        kernel.fill(part, kind, params, src.seed, src.stream, rows.row_starts(a, b), rows.length)


#: row starts made at once for a block of short rows (8 bytes each)
_ROWS_AT_ONCE = 1 << 16


@functools.cache
def _words_unchanged(cls: Any) -> bool:
    """Whether ``cls`` draws the words its ``host_view`` was declared with: a subclass that
    overrides ``philox_words`` below the class that offers ``host_view`` (an experiment, a
    deliberately broken adapter in a test) keeps its own words, so the kernel stays out."""
    for klass in cls.__mro__:
        if "host_view" in vars(klass):
            return True
        if "philox_words" in vars(klass) or "finalize" in vars(klass):
            return False
    return True


def _compiled_into(req: Request, out: Any) -> bool:
    """The kernel straight into the caller's array, where its memory is exposed as is."""
    if not _same_dtype(req):
        return False
    job = _kernel_job(req)
    view = req.backend.host_view(out) if job is not None else None
    if job is None or view is None:
        return False
    _compiled_fill(req, view, job)
    return True


def _compiled_new(req: Request) -> Any | None:
    """A new array filled by the kernel (half precisions: drawn in float32, then cast)."""
    job = _kernel_job(req) if req.block is not None or req.backend.kernel_whole else None
    if job is None or req.device not in (None, "cpu"):
        return None
    be = req.backend
    buf = be.empty(req.size, req.dtype, req.device)
    view = be.host_view(buf)
    if view is None:
        return None
    _compiled_fill(req, view, job)
    return be.finalize(be.xp.reshape(buf, req.out_shape), req.out_dtype, req.device)


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
        q = q * xp.reshape(xp.where(d < 0, -ones, ones), (1, -1))  # no implicit rank promotion
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
    if req.block is not None and be.mutable and n > be.chunk and isinstance(src, Portable):
        # a large block, a group of rows at a time: peak memory stays near the block
        out = be.empty(n, out_dtype, device)
        length = rows.length
        for a, b in rows.pieces(be.chunk):
            starts = [int(v) for v in rows.row_starts(a, b)]
            u = xp.reshape(portable_uniform(be, src, starts, length, dtype, device), ((b - a) * length,))
            x = plan.transform(xp, u, eager=eager, fence=be.fence)
            out[a * length : b * length] = xp.astype(x, out_dtype, copy=False)
        return xp.reshape(out, block)
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
