"""Dask: a lazy, chunked array whose every chunk is drawn on its own from the portable stream.

>>> import numpy as np, varinit
>>> x = varinit.init("he_normal", (1000, 600), layout="in_out", backend="dask", seed=0, chunks=(300, 250))
>>> x.shape, x.dtype, x.numblocks
((1000, 600), dtype('float32'), (4, 3))
>>> w = varinit.init("he_normal", (1000, 600), layout="in_out", seed=0)  # NumPy, the whole tensor
>>> bool(np.array_equal(x.blocks[1, 2].compute(), w[300:600, 500:600]))
True
>>> bool(np.array_equal(x.compute(), w))
True

Each chunk is ``varinit.init(scheme, shape, backend="numpy", seed=seed, index=<its slices>)``
of the *global* shape, so it equals the same slice of NumPy's whole tensor bit for bit,
whatever the chunking, the scheduler (threads, processes, ``dask.distributed``) or the
order chunks are computed in. The graph holds no data: one small task per chunk (a
``Blockwise`` layer, built lazily), so a 100_000 x 100_000 float32 array (40 GB) is created
instantly and any single chunk computes alone.

Everything is validated when the array is created (scheme, overrides, shape, dtype, seed,
layout, stream), so a mistake raises varinit's own error at once, never at compute time.

- ``seed``: an int (the portable stream; ``stream=`` picks a 64-bit stream id). ``None``
  draws a fresh 64-bit seed now, so the array is still the same tensor however it is
  chunked or recomputed. A generator is refused: a native stream cannot be cut into chunks.
- ``chunks``: anything :func:`dask.array.core.normalize_chunks` accepts (``"auto"`` when
  ``None``); ``dtype``: a NumPy floating dtype (float32 by default, float64, float16).
- Structured schemes (``orthogonal``, ``identity``, ``dirac``, ``delta_orthogonal``,
  ``sparse``: a plan that is not elementwise) cannot draw a chunk alone: one task draws the
  whole tensor with NumPy and every chunk task slices it (the whole tensor must fit in one
  worker's memory; the values are still NumPy's, bit for bit).
- Schemes registered with :func:`varinit.register` exist in the registering process only:
  on a ``dask.distributed`` cluster of other processes, register them on the workers too
  (``client.run``), or pass the :class:`varinit.Scheme` object (``varinit.get(name)``).
"""

from __future__ import annotations

import importlib
import operator
import secrets
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import dask.array as da
import dask.array.core
import dask.blockwise
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph, MaterializedLayer
from dask.layers import ArraySliceDep

import varinit
from varinit.core.request import Spec
from varinit.core.table import Scheme

__all__ = ["lazy"]

Chunks = tuple[tuple[int, ...], ...]

# dask's own functions are untyped: typed names for them here
_normalize_chunks: Callable[..., Chunks] = dask.array.core.normalize_chunks
_blockwise: Callable[..., Any] = dask.blockwise.blockwise
_Array: Callable[..., da.Array] = da.Array


def _task_spec() -> tuple[Any, Any]:
    """(Task, TaskRef) on dask >= 2024.12; (None, None) before, when tasks were tuples and a
    key argument was the key itself."""
    try:
        mod = importlib.import_module("dask.task_spec")
    except ImportError:  # pragma: no cover - older dask
        return None, None
    return mod.Task, mod.TaskRef


def _draw(
    scheme: str | Scheme,
    shape: tuple[int, ...],
    index: tuple[slice, ...] | None,
    *,
    seed: int,
    stream: int,
    dtype: Any,
    layout: str | None,
    overrides: Mapping[str, Any],
) -> Any:
    """One task: the block ``index`` of the global tensor (``None``: the whole tensor)."""
    return varinit.init(
        scheme,
        shape,
        backend="numpy",
        seed=seed,
        stream=stream,
        dtype=dtype,
        layout=layout,
        index=index,
        **overrides,
    )


def _slice(whole: Any, index: tuple[slice, ...]) -> Any:
    """One task of a structured scheme: a chunk cut from the whole tensor (a copy, so a
    chunk never pins the whole tensor in memory)."""
    return np.array(whole[index], copy=True)


def _portable_seed(seed: Any) -> int:
    if seed is None:
        return secrets.randbits(64)
    if not isinstance(seed, bool | np.bool_):
        try:
            return operator.index(seed)
        except TypeError:
            pass
    raise TypeError(
        f"seed={seed!r} is not allowed for backend 'dask': dask arrays draw every chunk from "
        "the portable stream: pass seed=<int> (or None for a fresh one)"
    )


def _collection(graph: HighLevelGraph, name: str, chunks: Chunks, meta: np.ndarray[Any, Any]) -> da.Array:
    """A dask array from ``graph``, legacy or array-expression (``array.query-planning``)."""
    enabled = getattr(da, "_array_expr_enabled", None)
    if enabled is not None and enabled():  # opt-in dask mode
        from_graph: Callable[..., da.Array] = importlib.import_module(
            "dask.array._array_expr._collection"
        ).from_graph
        return from_graph(graph, meta, chunks, set(graph.layers[name].get_output_keys()), name)
    return _Array(graph, name, chunks, meta=meta)


def lazy(
    scheme: str | Scheme,
    shape: int | Sequence[int],
    *,
    seed: Any = None,
    dtype: Any = None,
    layout: str | None = None,
    stream: int = 0,
    chunks: Any = None,
    **overrides: Any,
) -> da.Array:
    """A lazy ``dask.array.Array`` of ``shape`` drawn from ``scheme``, cut into ``chunks``.

    Use it through ``varinit.init(scheme, shape, backend="dask", seed=..., chunks=...)``.
    Each chunk equals the same slice of ``varinit.init(scheme, shape, seed=seed)``.

    >>> import varinit
    >>> x = varinit.init("glorot_uniform", (64, 32), backend="dask", seed=7, chunks=16)
    >>> x.chunks
    ((16, 16, 16, 16), (16, 16))
    """
    # everything is validated now, by varinit itself, so mistakes never wait for compute
    seed = _portable_seed(seed)
    spec = Spec.of(scheme, layout=layout, **overrides)
    whole_req = spec.request(shape, backend="numpy", seed=seed, stream=stream, dtype=dtype)
    dims, out_dtype = whole_req.shape, np.dtype(whole_req.out_dtype)
    norm = _normalize_chunks("auto" if chunks is None else chunks, dims, dtype=out_dtype)
    first = tuple(slice(0, c[0]) for c in norm)
    req = spec.request(dims, backend="numpy", seed=seed, stream=stream, dtype=dtype, index=first)

    kw: dict[str, Any] = {
        "seed": seed,
        "stream": stream,
        "dtype": dtype,
        "layout": spec.layout or "in_out",  # resolved: the caller's init has warned, if at all
        "overrides": dict(overrides),
    }
    token = tokenize(
        scheme if isinstance(scheme, str) else repr(scheme),
        dims,
        norm,
        seed,
        stream,
        str(out_dtype),
        layout,
        sorted((k, repr(v)) for k, v in overrides.items()),
    )
    name = f"varinit-{spec.scheme.name}-{token}"
    out_ind = tuple(range(len(dims)))
    meta = np.empty((0,) * len(dims), dtype=out_dtype)

    if req.plan.elementwise:
        layer = _blockwise(
            partial(_draw, scheme, dims, **kw), name, out_ind, ArraySliceDep(norm), out_ind, numblocks={}
        )
        graph = HighLevelGraph.from_collections(name, layer, dependencies=())
    else:
        # one task draws the whole tensor, each chunk task slices it
        whole = f"whole-{name}"
        draw_all = partial(_draw, scheme, dims, None, **kw)
        task_cls, ref_cls = _task_spec()
        task = (draw_all,) if task_cls is None else task_cls(whole, draw_all)
        ref = whole if ref_cls is None else ref_cls(whole)
        layer = _blockwise(_slice, name, out_ind, ref, None, ArraySliceDep(norm), out_ind, numblocks={})
        graph = HighLevelGraph(
            {whole: MaterializedLayer({whole: task}), name: layer}, {whole: set(), name: {whole}}
        )
    return _collection(graph, name, norm, meta)
