"""Every route for blocks and keys gives the reference's bits, with memory bounded by the block.

Blocks (``index=``, DTensor shards) are drawn a group of rows at a time on the kernel and
reference routes; TensorFlow draws blocks through the kernel (eager, on the host) or one
compiled pass; a JAX key goes through one jitted kernel. Each is compared with the whole
tensor drawn on NumPy, then sliced.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import varinit
from varinit.core import executor
from varinit.core.request import block_of
from varinit.rng import kernel

needs_kernel = pytest.mark.skipif(
    not kernel.available() and os.environ.get("VARINIT_REQUIRE_KERNEL") != "1",
    reason="the compiled kernel is not built here",
)

SHAPE = (37, 23, 11)
INDICES: list[Any] = [
    (slice(None), slice(5, 6)),  # tall and thin: many rows of one element... of 11
    (slice(3, 30, 4), slice(None, None, -3), slice(2, 9)),
    (5, slice(20, 1, -2)),
    (slice(None), 7, slice(None, None, 2)),
    (slice(1, 36), slice(0, 23), slice(0, 11)),
]
SCHEMES = [("he_normal", {}), ("glorot_uniform", {}), ("trunc_normal", {"std": 0.02, "mean": 0.1})]


def test_block_starts_are_not_stored_row_by_row() -> None:
    b = block_of((100_000, 100_000), (slice(None), slice(5, 6)))
    assert b.grid == ((100_000, 100_000),) and b.first == 5 and b.length == 1 and b.rows == 100_000
    assert b.row_starts(99_998, 100_000).tolist() == [99_998 * 100_000 + 5, 99_999 * 100_000 + 5]
    assert b.pieces(40_000) == [(0, 40_000), (40_000, 80_000), (80_000, 100_000)]


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize(("scheme", "kw"), SCHEMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reference_blocks_in_groups_of_rows(
    monkeypatch: pytest.MonkeyPatch, index: Any, scheme: str, kw: dict[str, Any], dtype: str
) -> None:
    """The Array-API route, a few rows at a time (a tiny chunk), equals the whole tensor's slice."""
    from varinit.adapters.numpy import NumpyBackend

    whole = varinit.init(scheme, SHAPE, seed=3, stream=4, dtype=dtype, **kw)
    monkeypatch.setattr(executor, "kernel_available", lambda: False)
    monkeypatch.setattr(NumpyBackend, "chunk", 16)
    got = varinit.init(scheme, SHAPE, seed=3, stream=4, dtype=dtype, index=index, **kw)
    assert np.array_equal(got, whole[index])


@needs_kernel
@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_blocks_in_groups_of_rows(monkeypatch: pytest.MonkeyPatch, index: Any, dtype: str) -> None:
    whole = varinit.init("he_normal", SHAPE, seed=3, stream=4, dtype=dtype)
    monkeypatch.setattr(executor, "_ROWS_AT_ONCE", 7)
    got = varinit.init("he_normal", SHAPE, seed=3, stream=4, dtype=dtype, index=index)
    assert np.array_equal(got, whole[index])


@needs_kernel
def test_tall_thin_block_of_a_huge_tensor() -> None:
    """A column of a 10^10-element tensor: 100,000 rows of one element, checked against the
    plain-Python reference at both ends."""
    from varinit.rng.philox import reference_uniforms

    col = varinit.init("uniform", (100_000, 100_000), seed=9, index=(slice(None), 5), low=0.0, high=1.0)
    assert col.shape == (100_000,)
    for r in (0, 1, 65_535, 65_536, 99_999):
        assert col[r] == np.float32(reference_uniforms(9, 0, r * 100_000 + 5, 1, "float32")[0])


@pytest.mark.jax
@pytest.mark.parametrize(("scheme", "kw"), [*SCHEMES, ("uniform", {"low": -3.0, "high": 1.0})])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_jax_key_kernel_equals_the_eager_reference(scheme: str, kw: dict[str, Any], dtype: str) -> None:
    """A key's draw runs as one jitted kernel; its bits are the op-by-op reference's."""
    import jax
    from varinit.adapters.jax import BACKEND

    from varinit.core.request import request

    key = jax.random.key(3)
    for shape in [(17, 33), (40, 300)]:
        ref = executor.reference(request(scheme, shape, backend=BACKEND, seed=key, dtype=dtype, **kw))
        got = executor.execute(request(scheme, shape, backend=BACKEND, seed=key, dtype=dtype, **kw))
        assert np.array_equal(np.asarray(got).view(np.uint8), np.asarray(ref).view(np.uint8))


@pytest.mark.tensorflow
@pytest.mark.parametrize("route", ["kernel", "compiled", "eager"])
@pytest.mark.parametrize("index", INDICES)
def test_tensorflow_blocks_on_every_route(monkeypatch: pytest.MonkeyPatch, route: str, index: Any) -> None:
    from varinit.adapters import tensorflow as vtf

    if route == "kernel" and not kernel.available():
        pytest.skip("the compiled kernel is not built here")
    whole = varinit.init("he_normal", SHAPE, seed=3, stream=4, layout="out_in")
    if route != "kernel":
        monkeypatch.setattr(executor, "kernel_available", lambda: False)
    monkeypatch.setattr(vtf.TensorflowBackend, "compile_min", 1 if route == "compiled" else 1 << 40)
    monkeypatch.setattr(vtf, "_ROWS_BY_KERNEL", 2)  # the host words for rows far apart, too
    got = varinit.init(
        "he_normal", SHAPE, seed=3, stream=4, layout="out_in", backend="tensorflow", index=index
    )
    assert np.array_equal(got.numpy(), whole[index])
