"""Issue 15: thread safety as a tested property.

Eight threads draw on every installed backend while another thread registers and replaces
schemes; every result equals the sequential one and no thread raises.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from conftest import INSTALLED, marks_for

import varinit

#: (scheme, shape, overrides): elementwise plans (the kernel and the compiled routes), a
#: structured one, a block, and a user scheme that the writer thread keeps replacing
_JOBS: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
    ("he_normal", (64, 48), {"layout": "in_out"}),
    ("glorot_uniform", (3, 3, 8, 16), {}),
    ("trunc_normal", (200,), {"std": 0.02, "fan_in": 4}),
    ("orthogonal", (16, 8), {}),
    ("lecun_normal", (96, 40), {"index": (slice(8, 40, 3),), "layout": "in_out"}),
    ("thread_user", (32, 32), {}),
]


def _host(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _draw(backend: str, k: int) -> np.ndarray:
    scheme, shape, kw = _JOBS[k % len(_JOBS)]
    return _host(varinit.init(scheme, shape, backend=backend, seed=k, **kw))


def _writer(stop: threading.Event, errors: list[BaseException]) -> None:
    """Registers fresh schemes and replaces ``thread_user`` (same params) until told to stop."""
    i = 0
    try:
        while not stop.is_set():
            varinit.register("thread_user", "normal", params={"std": 0.1}, aliases=["tu"], replace=True)
            varinit.register(
                f"thread_tmp_{i % 50}", "uniform", params={"low": -1.0, "high": 1.0}, replace=True
            )
            i += 1
    except BaseException as e:  # reported to the main thread
        errors.append(e)


@pytest.mark.parametrize("backend", [pytest.param(b, marks=marks_for(b)) for b in INSTALLED])
def test_eight_threads_equal_sequential_while_schemes_change(backend: str) -> None:
    varinit.register("thread_user", "normal", params={"std": 0.1}, aliases=["tu"], replace=True)
    n = 48
    expected = [_draw(backend, k) for k in range(n)]
    stop = threading.Event()
    errors: list[BaseException] = []
    writer = threading.Thread(target=_writer, args=(stop, errors))
    writer.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            got = list(pool.map(lambda k: _draw(backend, k), range(n)))
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
    for k, (e, g) in enumerate(zip(expected, got, strict=True)):
        np.testing.assert_array_equal(g, e, err_msg=f"job {k}: {_JOBS[k % len(_JOBS)][0]}")


def test_registry_replace_never_hides_a_name() -> None:
    """``get`` of an existing name never fails while another thread replaces it."""
    varinit.register("thread_user", "normal", params={"std": 0.1}, aliases=["tu", "tu2"], replace=True)
    stop = threading.Event()
    errors: list[BaseException] = []
    writer = threading.Thread(target=_writer, args=(stop, errors))
    writer.start()
    misses = 0
    try:
        for _ in range(20_000):
            for name in ("thread_user", "tu", "he_normal"):
                try:
                    varinit.get(name)
                except KeyError:
                    misses += 1
    finally:
        stop.set()
        writer.join()
    assert not errors and misses == 0


@pytest.mark.tensorflow
def test_tf_compiled_cache_under_eviction() -> None:
    """Eight threads asking for more keys than the cache holds: no KeyError, every entry is
    the one made for its key, and the cache stays bounded."""
    pytest.importorskip("tensorflow")
    from varinit.adapters import tensorflow as vtf

    old = vtf._COMPILED.copy()
    vtf._COMPILED.clear()

    def ask(t: int) -> int:
        bad = 0
        for i in range(4000):
            key = ("test", (i * 7 + t * 13) % 200)
            fn = vtf._cached(key, lambda key=key: lambda *a: key)
            bad += fn() != key
        return bad

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert sum(pool.map(ask, range(8))) == 0
        assert len(vtf._COMPILED) <= 64
    finally:
        vtf._COMPILED.clear()
        vtf._COMPILED.update(old)
