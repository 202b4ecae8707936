"""The JAX adapter: distributions, anchors in jax.nn.initializers, portable bits, jit/vmap, Flax."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import jax.numpy as jnp  # noqa: E402
import varinit.adapters.jax as vj  # noqa: E402
from scipy import stats  # noqa: E402

import varinit  # noqa: E402
from varinit.rng.philox import words  # noqa: E402
from varinit.testing import assert_distribution, assert_same_stream  # noqa: E402

jinit = jax.nn.initializers
ALPHA = 1e-3  # two-sample KS significance
STD_RTOL = 0.01  # std ratio varinit / jax within 1%
KEY = 20240611

#: a shape per scheme: >= 1e5 elements for continuous schemes
SHAPES: dict[str, tuple[int, ...]] = {
    "orthogonal": (96, 64),
    "identity": (6, 9),
    "dirac": (3, 3, 4, 8),
    "delta_orthogonal": (3, 3, 8, 16),
    "sparse": (200, 60),
    "constant": (7, 5),
    "zeros": (7, 5),
    "ones": (7, 5),
}
DEFAULT_SHAPE = (400, 250)


def draw(scheme: str, shape: tuple[int, ...], key: Any, **kw: Any) -> Any:
    init = vj.initializer(scheme, **kw)
    return jax.jit(init, static_argnums=(1, 2))(key, shape, None)


@pytest.mark.parametrize("scheme", varinit.schemes())
def test_every_scheme_native_key_fits_its_distribution(scheme: str) -> None:
    shape = SHAPES.get(scheme, DEFAULT_SHAPE)
    x = draw(scheme, shape, jax.random.key(KEY))
    assert x.dtype == jnp.float32 and x.shape == shape
    assert_distribution(x, scheme, shape)


@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform", "trunc_normal", "orthogonal"])
def test_portable_stream_fits_its_distribution(scheme: str) -> None:
    shape = SHAPES.get(scheme, DEFAULT_SHAPE)
    assert_distribution(draw(scheme, shape, 3), scheme, shape)


# --------------------------------------------------------------------------- anchors

CONV = (3, 3, 48, 96)  # 124_416 elements
ANCHORS: list[tuple[str, dict[str, Any], Any, tuple[int, ...]]] = [
    ("variance_scaling", {}, jinit.variance_scaling(1.0, "fan_in", "truncated_normal"), CONV),
    (
        "variance_scaling",
        {"mode": "fan_geo_avg"},
        jinit.variance_scaling(1.0, "fan_geo_avg", "truncated_normal"),
        (256, 512),
    ),
    (
        "variance_scaling",
        {"mode": "fan_geo_avg", "distribution": "uniform", "factor": 3.0},
        jinit.variance_scaling(3.0, "fan_geo_avg", "uniform"),
        (512, 256),
    ),
    (
        "variance_scaling",
        {"mode": "fan_out", "distribution": "normal", "in_axis": 1, "out_axis": 0},
        jinit.variance_scaling(1.0, "fan_out", "normal", in_axis=1, out_axis=0),
        (64, 2048),
    ),
    (
        "variance_scaling",
        {"mode": "fan_avg", "in_axis": (0, 1), "out_axis": -1, "batch_axis": 2},
        jinit.variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis=(0, 1), out_axis=-1, batch_axis=2),
        (16, 8, 4, 256),
    ),
    ("glorot_uniform", {}, jinit.glorot_uniform(), (400, 300)),
    ("glorot_normal", {}, jinit.glorot_normal(), CONV),
    ("glorot_normal", {"batch_axis": 0}, jinit.glorot_normal(batch_axis=0), (8, 128, 160)),
    ("he_uniform", {}, jinit.he_uniform(), CONV),
    ("he_normal", {}, jinit.he_normal(), (400, 300)),
    ("he_normal", {"in_axis": -1, "out_axis": -2}, jinit.he_normal(in_axis=-1, out_axis=-2), (100, 1200)),
    ("lecun_uniform", {}, jinit.lecun_uniform(), (400, 300)),
    ("lecun_normal", {}, jinit.lecun_normal(), CONV),
    ("uniform", {"low": 0.0, "high": 0.05}, jinit.uniform(0.05), (400, 300)),
    ("normal", {"std": 0.02}, jinit.normal(0.02), (400, 300)),
    ("truncated_normal", {"std": 0.02}, jinit.truncated_normal(0.02), (400, 300)),
    ("orthogonal", {}, jinit.orthogonal(), (512, 256)),
    ("orthogonal", {"gain": 2.0}, jinit.orthogonal(2.0), (3, 100, 400)),
    ("delta_orthogonal", {}, jinit.delta_orthogonal(), (3, 3, 128, 256)),
]


def _jax_anchors() -> set[str]:
    return {
        s
        for s in varinit.schemes()
        if any(c.startswith("jax.nn.initializers.") for c in varinit.get(s).compat)
    }


def test_every_jax_anchored_row_is_compared() -> None:
    covered = {a[0] for a in ANCHORS} | {"constant", "zeros", "ones"}
    assert _jax_anchors() <= covered, _jax_anchors() - covered


def _sample_values(scheme: str, x: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if scheme == "delta_orthogonal":  # only the spatial centre holds the matrix
        a = a[tuple(s // 2 for s in shape[:-2])]
    return a.reshape(-1)


@pytest.mark.parametrize(
    ("scheme", "kw", "anchor", "shape"), ANCHORS, ids=[f"{a[0]}-{i}" for i, a in enumerate(ANCHORS)]
)
def test_matches_jax_nn_initializers(
    scheme: str, kw: dict[str, Any], anchor: Any, shape: tuple[int, ...]
) -> None:
    ours = _sample_values(scheme, draw(scheme, shape, jax.random.key(KEY), **kw), shape)
    theirs = _sample_values(
        scheme, jax.jit(anchor, static_argnums=(1, 2))(jax.random.key(KEY + 1), shape, jnp.float32), shape
    )
    assert stats.ks_2samp(ours, theirs).pvalue >= ALPHA
    ratio = ours.std() / theirs.std()
    assert abs(ratio - 1.0) <= STD_RTOL, ratio
    assert abs(ours.mean() - theirs.mean()) <= 5 * theirs.std() * math.sqrt(2 / ours.size)
    if scheme in ("he_normal", "glorot_normal", "lecun_normal", "truncated_normal"):
        assert np.abs(ours).max() <= np.abs(theirs).max() * 1.001  # same +-2 sigma bound


@pytest.mark.parametrize(
    ("scheme", "anchor"), [("zeros", jinit.zeros), ("ones", jinit.ones), ("constant", jinit.constant(0.0))]
)
def test_constants_equal_jax(scheme: str, anchor: Any) -> None:
    shape = (3, 4)
    np.testing.assert_array_equal(
        draw(scheme, shape, jax.random.key(0)), anchor(jax.random.key(0), shape, jnp.float32)
    )


# --------------------------------------------------------------------------- portable bits


@pytest.mark.parametrize(
    ("seed", "stream", "starts", "length"),
    [
        (0, 0, [0], 1000),
        (5, 0, [3, 101, 2**32 - 2], 9),
        (2**40 + 3, 2**63 + 5, [7, 2**33 + 1], 11),
        (2**64 - 1, 1, [2**64 - 64], 17),
    ],
)
def test_philox_words_equal_numpy_eager_and_jit(
    seed: int, stream: int, starts: list[int], length: int
) -> None:
    import array_api_compat.numpy as anp

    expect = np.asarray(words(anp, seed, stream, starts, length, wide=True))
    lo, hi = vj._split_starts(starts)
    np.testing.assert_array_equal(vj.stream_words(seed, stream, lo, hi, length), expect)
    jitted = jax.jit(lambda lo, hi: vj.stream_words(seed, stream, lo, hi, length))(lo, hi)
    np.testing.assert_array_equal(jitted, expect)


@pytest.mark.parametrize("scheme", ["glorot_uniform", "he_normal", "normal", "trunc_normal"])
def test_portable_values_equal_numpy(scheme: str) -> None:
    shape = (300, 200)
    ref = varinit.init(scheme, shape, layout="in_out", seed=42)
    eager = varinit.init(scheme, shape, layout="in_out", seed=42, backend="jax")
    assert_same_stream(eager, ref)
    np.testing.assert_array_equal(np.asarray(eager).view(np.uint32), np.asarray(ref).view(np.uint32))
    # jitted: XLA contracts a*b+c into fused multiply-adds; the backend's fence keeps every
    # product rounded, so the compiled values are NumPy's bit for bit
    jitted = np.asarray(draw(scheme, shape, 42))
    np.testing.assert_array_equal(jitted.view(np.uint32), np.asarray(ref).view(np.uint32))
    u_np = varinit.init("uniform", shape, seed=42, low=0.0, high=1.0)
    u_jit = np.asarray(draw("uniform", shape, 42, low=0.0, high=1.0))
    np.testing.assert_array_equal(u_jit, u_np)  # the uniforms themselves: bit for bit


def test_portable_index_block_equals_slice() -> None:
    shape = (37, 53)
    full = varinit.init("he_normal", shape, layout="in_out", seed=9, backend="jax")
    block = varinit.init("he_normal", shape, layout="in_out", seed=9, backend="jax", index=(slice(3, 20), 7))
    np.testing.assert_array_equal(block, full[3:20, 7])


def test_float64_and_half_dtypes() -> None:
    init = vj.initializer("he_normal")
    for dt in (jnp.bfloat16, jnp.float16):
        y = init(1, (300, 400), dt)
        assert y.dtype == dt
        np.testing.assert_array_equal(y, init(1, (300, 400)).astype(dt))  # float32, then cast
        assert_distribution(init(jax.random.key(1), (300, 400), dt), "he_normal", (300, 400))
    with pytest.warns(UserWarning, match="jax_enable_x64"):
        z = vj.initializer("he_normal")(1, (4, 4), jnp.float64)
    assert z.dtype == jnp.float32


# --------------------------------------------------------------------------- jit, vmap, API


def test_jit_vmap_and_determinism() -> None:
    init = vj.initializer("he_normal")
    key = jax.random.key(0)
    a = jax.jit(init, static_argnums=(1, 2))(key, (16, 8), None)
    np.testing.assert_array_equal(a, jax.jit(init, static_argnums=(1, 2))(key, (16, 8), None))
    raw = init(jax.random.PRNGKey(0), (16, 8))
    np.testing.assert_array_equal(raw, init(jax.random.PRNGKey(0), (16, 8)))
    keys = jax.random.split(key, 3)
    batch = jax.vmap(lambda k: init(k, (16, 8)))(keys)
    assert batch.shape == (3, 16, 8)
    np.testing.assert_array_equal(batch[1], init(keys[1], (16, 8)))
    assert not np.array_equal(batch[0], batch[1])
    # traced int seeds (vmap over seeds): the portable stream of each seed
    seeds = jnp.arange(3, dtype=jnp.uint32)
    by_seed = jax.vmap(lambda s: vj.initializer("glorot_uniform")(s, (16, 8)))(seeds)
    for s in range(3):
        np.testing.assert_array_equal(by_seed[s], varinit.init("glorot_uniform", (16, 8), seed=s))


def test_generic_init_with_backend_jax() -> None:
    cpu = jax.devices("cpu")[0]
    x = varinit.init(
        "he_normal",
        (64, 32),
        layout="in_out",
        backend="jax",
        seed=jax.random.key(1),
        dtype=jnp.bfloat16,
        device=cpu,
    )
    assert isinstance(x, jax.Array) and x.dtype == jnp.bfloat16 and x.devices() == {cpu}
    y = jax.jit(lambda k: varinit.init("glorot_uniform", (8, 4), backend="jax", seed=k))(jax.random.key(2))
    assert y.shape == (8, 4)
    assert varinit.init("he_normal", (8, 4), layout="in_out", backend="jax", seed=1, device="cpu").shape == (
        8,
        4,
    )


def test_flax_dense_and_conv() -> None:
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):  # type: ignore[misc]
        @nn.compact
        def __call__(self, x: Any) -> Any:
            x = nn.Conv(
                64, (3, 3), kernel_init=vj.initializer("he_normal"), bias_init=vj.initializer("zeros")
            )(x)
            x = nn.relu(x).reshape((x.shape[0], -1))
            return nn.Dense(10, kernel_init=vj.initializer("glorot_uniform", in_axis=-2))(x)

    x = jnp.ones((2, 8, 8, 32))
    params = jax.jit(Net().init)(jax.random.key(0), x)["params"]
    kernel = np.asarray(params["Conv_0"]["kernel"])
    assert kernel.shape == (3, 3, 32, 64)
    assert_distribution(kernel, "he_normal", kernel.shape)
    np.testing.assert_array_equal(params["Conv_0"]["bias"], np.zeros(64))
    dense = np.asarray(params["Dense_0"]["kernel"])
    assert dense.shape == (8 * 8 * 64, 10)
    assert_distribution(dense, "glorot_uniform", dense.shape)
    again = jax.jit(Net().init)(jax.random.key(0), x)["params"]
    np.testing.assert_array_equal(again["Conv_0"]["kernel"], kernel)
    assert Net().apply({"params": params}, x).shape == (2, 10)


def test_bad_input_errors() -> None:
    init = vj.initializer("he_normal")
    with pytest.raises(TypeError, match="PRNG key"):
        init(None, (4, 4))
    with pytest.raises(TypeError, match="PRNG key"):
        varinit.init("he_normal", (4, 4), backend="jax", seed=None)
    with pytest.raises(TypeError, match="PRNG key"):
        init("0", (4, 4))
    with pytest.raises(TypeError, match="integer or bool"):
        init(0, (4, 4), jnp.int32)
    with pytest.raises(ValueError, match="in_axis"):
        vj.initializer("he_normal", in_axis=5)(0, (4, 4))
    with pytest.raises(ValueError, match=r"2 dimension|fan_in"):
        init(0, (4,))
    with pytest.raises(ValueError):
        init(-1, (4, 4))
    with pytest.raises(varinit.UnknownSchemeError):
        vj.initializer("he_normall")
    with pytest.raises(varinit.SchemeError, match="not_a_param"):
        vj.initializer("he_normal", not_a_param=1.0)
