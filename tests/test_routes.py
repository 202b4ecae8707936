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


@pytest.mark.tensorflow
@needs_kernel
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_tensorflow_eager_draws_take_the_kernel_without_a_copy(dtype: str) -> None:
    """Eager on the host: the kernel's buffer becomes the tensor (no XLA compile, no copy);
    the tensor keeps its values after every other reference to the buffer is gone."""
    import gc

    import tensorflow as tf
    from varinit.adapters import tensorflow as vtf

    vtf._COMPILED.clear()
    shape = (600, 520)  # above compile_min: the XLA route would compile
    got = varinit.init("he_normal", shape, layout="in_out", seed=8, dtype=dtype, backend="tensorflow")
    assert len(vtf._COMPILED) == 0
    gc.collect()
    want = varinit.init(
        "he_normal", shape, layout="in_out", seed=8, dtype="float32" if dtype == "bfloat16" else dtype
    )
    ref = tf.cast(tf.constant(want), dtype).numpy() if dtype == "bfloat16" else want
    assert got.dtype.name == dtype and np.array_equal(got.numpy(), ref)
    inside = tf.function(
        lambda: varinit.init("he_normal", shape, layout="in_out", seed=8, dtype=dtype, backend="tensorflow")
    )
    assert np.array_equal(inside().numpy(), got.numpy())  # graph mode: the XLA route, same bits


@pytest.mark.jax
@pytest.mark.parametrize("index", [*INDICES, (slice(None, None, -1), slice(22, 3, -5), slice(10, 0, -3))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jax_blocks_of_many_rows_make_their_starts_in_the_kernel(
    monkeypatch: pytest.MonkeyPatch, index: Any, dtype: str
) -> None:
    import jax
    from varinit.adapters import jax as vj

    monkeypatch.setattr(vj, "_GRID_ROWS", 1)
    was = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", dtype == "float64" or was)  # JAX draws float64 only with x64
    try:
        whole = varinit.init("he_normal", SHAPE, seed=2**64 - 1, stream=4, dtype=dtype)
        kw: dict[str, Any] = {"seed": 2**64 - 1, "stream": 4, "dtype": dtype, "index": index}
        got = np.asarray(varinit.init("he_normal", SHAPE, backend="jax", **kw))
        assert got.dtype == np.dtype(dtype) and np.array_equal(got, whole[index])
    finally:
        jax.config.update("jax_enable_x64", was)


@pytest.mark.jax
def test_jax_grid_starts_past_element_2_32() -> None:
    """Rows of a 2**34-element tensor, starts beyond 2**32: the in-kernel 64-bit sums."""
    from varinit.rng.philox import reference_uniforms

    shape = (1 << 17, 1 << 17)
    got = np.asarray(
        varinit.init("uniform", shape, seed=5, backend="jax", index=(slice(None), 3), low=0.0, high=1.0)
    )
    for r in (0, 1, 40_000, (1 << 17) - 1):
        assert got[r] == np.float32(reference_uniforms(5, 0, r * (1 << 17) + 3, 1, "float32")[0])


@pytest.mark.jax
@pytest.mark.parametrize(
    ("scheme", "shape"),
    [
        ("orthogonal", (8, 6)),
        ("orthogonal", (6, 8)),
        ("delta_orthogonal", (3, 3, 4, 5)),
        ("delta_orthogonal", (3, 4, 4)),
    ],
)
def test_structured_draws_need_no_rank_promotion(scheme: str, shape: tuple[int, ...]) -> None:
    """Code under ``jax_numpy_rank_promotion="raise"`` can call the core directly."""
    import jax

    with jax.numpy_rank_promotion("raise"):
        got = np.asarray(varinit.init(scheme, shape, layout="in_out", seed=3, backend="jax"))
    np.testing.assert_allclose(got, varinit.init(scheme, shape, layout="in_out", seed=3), atol=1e-5)
