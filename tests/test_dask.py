"""The Dask front door: lazy chunked arrays, each chunk equal to the same slice of NumPy's whole.

``varinit.init(..., backend="dask", chunks=...)`` builds a data-free graph; every chunk is
drawn on its own from the portable stream (structured schemes: one task draws the whole
tensor and the chunks slice it). Checked on the synchronous and threaded schedulers and on a
two-process ``dask.distributed`` LocalCluster over 127.0.0.1.
"""

from __future__ import annotations

import doctest
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytestmark = pytest.mark.dask

import varinit.adapters.dask as vd  # noqa: E402
from varinit.adapters.dask import lazy  # noqa: E402

import varinit  # noqa: E402

SEED = 20240611
#: (scheme, shape, overrides): elementwise schemes and one structured scheme
CASES: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
    ("he_normal", (70, 45), {}),
    ("glorot_uniform", (70, 45), {}),
    ("trunc_normal", (70, 45), {"std": 0.5, "a": -1.0, "b": 1.0}),
    ("normal", (70, 45), {"std": 0.1}),
    ("uniform", (70, 45), {"a": -0.5, "b": 0.25}),
    ("orthogonal", (70, 45), {}),
]
UNEVEN = ((20, 33, 17), (10, 35))


def _assert_chunks_equal(x: Any, whole: np.ndarray[Any, Any]) -> None:
    """Every chunk of the dask array ``x``, computed alone, equals the same slice of ``whole``."""
    assert x.shape == whole.shape and x.dtype == whole.dtype
    starts = [np.cumsum((0, *c)) for c in x.chunks]
    for block in np.ndindex(*x.numblocks):
        index = tuple(slice(int(s[i]), int(s[i + 1])) for s, i in zip(starts, block, strict=True))
        chunk = x.blocks[block].compute(scheduler="sync")
        assert isinstance(chunk, np.ndarray) and chunk.dtype == whole.dtype
        assert np.array_equal(chunk, whole[index]), f"chunk {block} differs from the slice {index}"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("scheme", "shape", "overrides"), CASES, ids=[c[0] for c in CASES])
def test_every_chunk_equals_numpy_slice(
    scheme: str, shape: tuple[int, ...], overrides: dict[str, Any], dtype: str
) -> None:
    x = varinit.init(
        scheme, shape, layout="in_out", backend="dask", seed=SEED, dtype=dtype, chunks=UNEVEN, **overrides
    )
    whole = varinit.init(scheme, shape, layout="in_out", seed=SEED, dtype=dtype, **overrides)
    assert x.chunks == UNEVEN
    _assert_chunks_equal(x, whole)
    assert np.array_equal(x.compute(scheduler="sync"), whole)


def test_float16_and_default_dtype() -> None:
    x = varinit.init("glorot_normal", (40, 30), backend="dask", seed=1, dtype=np.float16, chunks=(16, 7))
    _assert_chunks_equal(x, varinit.init("glorot_normal", (40, 30), seed=1, dtype=np.float16))
    assert varinit.init("he_uniform", (8, 4), layout="in_out", backend="dask", seed=1).dtype == np.float32


def test_layout_out_in_conv_kernel() -> None:
    shape = (16, 6, 3, 3)  # torch's (out, in, kh, kw)
    x = varinit.init("he_normal", shape, backend="dask", seed=3, layout="out_in", chunks=(5, 4, 2, 3))
    whole = varinit.init("he_normal", shape, seed=3, layout="out_in")
    assert not np.array_equal(whole, varinit.init("he_normal", shape, seed=3))  # the layout matters
    _assert_chunks_equal(x, whole)


def test_stream_id() -> None:
    stream = varinit.stream_id("encoder.layers.0.weight")
    x = varinit.init(
        "lecun_normal", (50, 20), layout="in_out", backend="dask", seed=5, stream=stream, chunks=(13, 20)
    )
    whole = varinit.init("lecun_normal", (50, 20), layout="in_out", seed=5, stream=stream)
    assert not np.array_equal(whole, varinit.init("lecun_normal", (50, 20), layout="in_out", seed=5))
    _assert_chunks_equal(x, whole)


def test_chunks_spellings() -> None:
    whole = varinit.init("he_normal", (64, 32), layout="in_out", seed=0)
    for chunks in (16, (16, 8), ((60, 4), (32,)), "auto", -1, {0: 10}):
        x = varinit.init("he_normal", (64, 32), layout="in_out", backend="dask", seed=0, chunks=chunks)
        assert np.array_equal(x.compute(scheduler="sync"), whole), chunks
    assert varinit.init("he_normal", (64, 32), layout="in_out", backend="dask", seed=0, chunks=16).chunks == (
        (16,) * 4,
        (16,) * 2,
    )


def test_one_dimensional_and_empty() -> None:
    x = varinit.init("normal", 100, backend="dask", seed=2, chunks=30)
    _assert_chunks_equal(x, varinit.init("normal", 100, seed=2))
    empty = varinit.init("he_normal", (0, 5), backend="dask", seed=2)
    assert empty.shape == (0, 5) and empty.compute().shape == (0, 5)


def test_seed_none_is_one_fresh_portable_seed() -> None:
    x = varinit.init("he_normal", (30, 20), layout="in_out", backend="dask", chunks=(7, 9))
    a, b = x.compute(scheduler="sync"), x.compute(scheduler="threads")
    assert np.array_equal(a, b)  # one seed for the whole array, not one per compute
    assert np.array_equal(x.blocks[1, 1].compute(), a[7:14, 9:18])
    y = varinit.init("he_normal", (30, 20), layout="in_out", backend="dask", chunks=(7, 9))
    assert x.name != y.name and not np.array_equal(a, y.compute())


def test_numpy_integer_seed_and_deterministic_name() -> None:
    x = varinit.init("he_normal", (30, 20), layout="in_out", backend="dask", seed=np.int64(9), chunks=10)
    y = varinit.init("he_normal", (30, 20), layout="in_out", backend="dask", seed=9, chunks=10)
    assert x.name == y.name
    assert np.array_equal(x.compute(), varinit.init("he_normal", (30, 20), layout="in_out", seed=9))
    z = varinit.init(
        "he_normal", (30, 20), layout="in_out", backend="dask", seed=9, chunks=10, mode="fan_out"
    )
    assert z.name != x.name


# --------------------------------------------------------------------------- laziness


def test_40_gigabytes_are_created_instantly_and_one_chunk_computes_alone() -> None:
    shape = (100_000, 100_000)
    t0 = time.perf_counter()
    x = varinit.init("he_normal", shape, backend="dask", seed=0, chunks=(10_000, 10_000))
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"creating the lazy array took {elapsed:.2f} s"
    assert x.shape == shape and x.dtype == np.float32 and x.numblocks == (10, 10)
    assert x.nbytes == 40_000_000_000
    graph = pickle.dumps(x.__dask_graph__())
    tasks = pickle.dumps(dict(x.__dask_graph__()))  # materialized: one small task per chunk
    assert len(graph) < 1_000_000 and len(tasks) < 1_000_000, (len(graph), len(tasks))
    chunk = x.blocks[3, 7].compute(scheduler="sync")
    expected = varinit.init("he_normal", shape, seed=0, index=(slice(30000, 40000), slice(70000, 80000)))
    assert chunk.shape == (10_000, 10_000) and np.array_equal(chunk, expected)


def test_structured_scheme_draws_the_whole_once() -> None:
    x = varinit.init("orthogonal", (60, 40), backend="dask", seed=4, chunks=(20, 20))
    graph = dict(x.__dask_graph__())
    assert len(graph) == x.npartitions + 1  # one whole-tensor task + one slice per chunk
    _assert_chunks_equal(x, varinit.init("orthogonal", (60, 40), seed=4))


def test_threaded_scheduler() -> None:
    for scheme in ("he_normal", "orthogonal"):
        x = varinit.init(scheme, (300, 200), layout="in_out", backend="dask", seed=11, chunks=(64, 48))
        assert np.array_equal(
            x.compute(scheduler="threads"), varinit.init(scheme, (300, 200), layout="in_out", seed=11)
        )


def test_lazy_directly() -> None:
    x = lazy("he_normal", (12, 8), seed=0, dtype=None, layout=None, stream=0, chunks=4)
    assert isinstance(x, da.Array)
    assert np.array_equal(x.compute(), varinit.init("he_normal", (12, 8), layout="in_out", seed=0))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(vd, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_array_expression_mode() -> None:
    """dask's opt-in query planning for arrays (decided once, at import: a subprocess)."""
    code = (
        "import numpy as np, dask.array as da, varinit\n"
        "assert da._array_expr_enabled()\n"
        "for s in ('he_normal', 'orthogonal'):\n"
        "    x = varinit.init(s, (50, 30), backend='dask', seed=1, chunks=(20, 7), layout='in_out')\n"
        "    w = varinit.init(s, (50, 30), seed=1, layout='in_out')\n"
        "    assert np.array_equal(x.compute(), w)\n"
        "    assert np.array_equal(x[20:40, 7:14].compute(), w[20:40, 7:14])\n"
    )
    env = {**os.environ, "DASK_ARRAY__QUERY_PLANNING": "True"}
    r = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------- dask.distributed


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    c = distributed.Client(cluster, timeout=60)
    try:
        c.wait_for_workers(2, timeout=60)
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)


@pytest.mark.distributed
@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform", "trunc_normal"])
def test_distributed_local_cluster(client: Any, scheme: str) -> None:
    shape = (300, 200)
    x = varinit.init(
        scheme, shape, layout="in_out", backend="dask", seed=SEED, dtype="float64", chunks=(70, 90)
    )
    whole = varinit.init(scheme, shape, layout="in_out", seed=SEED, dtype="float64")
    assert np.array_equal(client.compute(x).result(timeout=60), whole)
    chunk = client.compute(x.blocks[2, 1]).result(timeout=60)
    assert np.array_equal(chunk, whole[140:210, 90:180])
    # the chunks really ran on more than one worker process
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2


@pytest.mark.distributed
def test_distributed_structured_scheme(client: Any) -> None:
    """Orthogonal goes through LAPACK's QR, whose last bits depend on the BLAS thread count
    (a worker with threads_per_worker=1 runs OpenBLAS single-threaded): exact against
    NumPy's whole tensor drawn on a worker, and equal to this process's to rounding."""
    shape = (300, 200)
    x = varinit.init("orthogonal", shape, backend="dask", seed=SEED, dtype="float64", chunks=(70, 90))
    on_worker = client.submit(varinit.init, "orthogonal", shape, seed=SEED, dtype="float64", pure=False)
    expected = on_worker.result(timeout=60)
    assert np.array_equal(client.compute(x).result(timeout=60), expected)
    assert np.array_equal(client.compute(x.blocks[2, 1]).result(timeout=60), expected[140:210, 90:180])
    local = varinit.init("orthogonal", shape, seed=SEED, dtype="float64")
    np.testing.assert_allclose(expected, local, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- errors


def test_generator_seed_is_refused() -> None:
    with pytest.raises(TypeError, match=r"portable stream: pass seed=<int>"):
        varinit.init("he_normal", (8, 4), layout="in_out", backend="dask", seed=np.random.default_rng(0))
    for bad in (True, 1.5, "7", object()):
        with pytest.raises(TypeError, match=r"pass seed=<int>"):
            varinit.init("he_normal", (8, 4), layout="in_out", backend="dask", seed=bad)


def test_errors_are_raised_at_creation() -> None:
    with pytest.raises(varinit.UnknownSchemeError):
        varinit.init("he_normall", (8, 4), backend="dask", seed=0)
    with pytest.raises(varinit.SchemeError):
        varinit.init("he_normal", (8, 4), backend="dask", seed=0, bogus=1)
    with pytest.raises(TypeError, match="dtype"):
        varinit.init("he_normal", (8, 4), layout="in_out", backend="dask", seed=0, dtype="int32")
    with pytest.raises(TypeError, match="shape"):
        varinit.init("he_normal", (8.5, 4), backend="dask", seed=0)
    with pytest.raises(ValueError, match="negative"):
        varinit.init("he_normal", (-1, 4), backend="dask", seed=0)
    with pytest.raises(ValueError, match="layout"):
        varinit.init("he_normal", (8, 4), backend="dask", seed=0, layout="sideways")
    with pytest.raises((ValueError, OverflowError)):
        varinit.init("he_normal", (8, 4), layout="in_out", backend="dask", seed=-1)
    with pytest.raises((ValueError, OverflowError)):
        varinit.init("he_normal", (8, 4), layout="in_out", backend="dask", seed=0, stream=2**64)


def test_chunks_need_backend_dask() -> None:
    with pytest.raises(ValueError, match="chunks"):
        varinit.init("he_normal", (8, 4), layout="in_out", seed=0, chunks=(4, 4))
