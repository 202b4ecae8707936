"""The cross-backend conformance matrix: every scheme x every installed backend x dtype.

1. Samples against the exact distribution (``assert_distribution``: KS alpha = 1e-3 and
   moments within 5 standard errors, n = 120,000, fixed seeds), portable and native streams.
2. Portable stream: identical 32-bit words on every backend; float32 values within 2 ulp of
   NumPy's with >= 99 % bit-identical; the same for ``index=`` blocks.
3. Native streams: a two-sample KS test (alpha = 1e-3) between every pair of backends.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import INSTALLED, marks_for
from scipy import stats

import varinit
from varinit.conformance.check import shape_for
from varinit.core.backend import get_backend
from varinit.rng.philox import words
from varinit.testing import assert_distribution, assert_same_stream, to_numpy

ALL = varinit.schemes()
ELEMENTWISE = [
    s
    for s in ALL
    if varinit.get(s).family
    in ("variance_scaling", "tf1_variance_scaling", "uniform", "normal", "truncated_normal", "trunc_normal")
]


def _dtypes(backend: str) -> list[str]:
    if backend == "numpy":
        return ["float32", "float64", "float16"]
    if backend == "jax":
        import jax

        return ["float32", "float16", "bfloat16"] + (["float64"] if jax.config.jax_enable_x64 else [])
    return ["float32", "float64", "float16", "bfloat16"]


MATRIX = [
    pytest.param(b, s, d, id=f"{b}-{s}-{d}", marks=marks_for(b))
    for b in INSTALLED
    for d in _dtypes(b)
    for s in ALL
]


@pytest.mark.parametrize("backend,scheme,dtype", MATRIX)
def test_matrix_exact_distribution(backend: str, scheme: str, dtype: str) -> None:
    shape = shape_for(scheme)
    be = get_backend(backend)
    x = varinit.init(scheme, shape, layout="in_out", backend=backend, seed=31, dtype=dtype)
    assert dtype in str(x.dtype)
    assert_distribution(x, scheme, shape)
    try:
        gen = be.make_generator(32)
    except NotImplementedError:
        pytest.fail(f"backend {backend} has no seeded native generator")
    assert_distribution(
        varinit.init(scheme, shape, layout="in_out", backend=backend, seed=gen, dtype=dtype), scheme, shape
    )


OTHERS = [pytest.param(b, id=b, marks=marks_for(b)) for b in INSTALLED if b != "numpy"]


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("start,length", [(0, 1000), (3, 17), (2**33 + 1, 64), (4 * 2**32 - 5, 9)])
def test_words_identical_across_backends(backend: str, start: int, length: int) -> None:
    import array_api_compat.numpy as xnp

    be = get_backend(backend)
    ref = np.asarray(words(xnp, 123456789, 42, [start], length, wide=True))
    got = to_numpy(be.philox_words(123456789, 42, [start], length, None)).astype(np.uint64)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("scheme", ELEMENTWISE)
def test_portable_values_match_numpy(backend: str, scheme: str) -> None:
    shape = shape_for(scheme)
    ref = varinit.init(scheme, shape, layout="in_out", seed=77)
    same = assert_same_stream(varinit.init(scheme, shape, layout="in_out", backend=backend, seed=77), ref)
    assert same >= 0.99


OTHER_DTYPES = [
    pytest.param(b, d, id=f"{b}-{d}", marks=marks_for(b))
    for b in INSTALLED
    if b != "numpy"
    for d in _dtypes(b)
    if d != "float32"
]


@pytest.mark.parametrize("backend,dtype", OTHER_DTYPES)
def test_portable_other_dtypes_match_numpy(backend: str, dtype: str) -> None:
    shape = (300, 200)
    ref32 = varinit.init(
        "he_normal", shape, layout="in_out", seed=5, dtype="float64" if dtype == "float64" else "float32"
    )
    got = to_numpy(varinit.init("he_normal", shape, layout="in_out", backend=backend, seed=5, dtype=dtype))
    if dtype == "float64":
        assert_same_stream(got, ref32)
    else:  # half precisions are float32 draws, cast: equal to NumPy's float32 cast the same way
        import ml_dtypes

        half = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
        assert np.mean(ref32.astype(half).astype(np.float64) == got) >= 0.99


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize(
    "index",
    [
        (slice(100, 164),),
        (slice(None), slice(50, 75)),
        (slice(7, 9), slice(3, 280, 7)),
        (5,),
    ],
)
def test_portable_blocks_match_numpy(backend: str, index: tuple[object, ...]) -> None:
    shape = (400, 300)
    whole = varinit.init("lecun_normal", shape, layout="in_out", seed=9)
    block = varinit.init("lecun_normal", shape, layout="in_out", backend=backend, seed=9, index=index)
    assert_same_stream(block, whole[index])


PAIRS = [
    pytest.param(a, b, id=f"{a}-{b}", marks=marks_for(a, b)) for a, b in itertools.combinations(INSTALLED, 2)
]


@pytest.mark.parametrize("a,b", PAIRS)
@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform", "xavier_normal", "orthogonal"])
def test_native_streams_agree_in_distribution(a: str, b: str, scheme: str) -> None:
    shape = (400, 300) if scheme != "orthogonal" else (256, 192)
    xa = to_numpy(
        varinit.init(scheme, shape, layout="in_out", backend=a, seed=get_backend(a).make_generator(1))
    )
    xb = to_numpy(
        varinit.init(scheme, shape, layout="in_out", backend=b, seed=get_backend(b).make_generator(2))
    )
    assert stats.ks_2samp(xa.reshape(-1), xb.reshape(-1)).pvalue >= 1e-3
