"""``varinit.adapters.jax`` as ``jax.nn.initializers``: names, signatures, laws, dtypes, complex,
axes, 0-d array parameters, rank promotion, key types, Flax, and the guide's import swap.

The statistical checks use fixed keys and seeds, so they are deterministic; each would fail by
chance with probability ``ALPHA`` (one-sample KS against the exact law, or two-sample KS
against JAX's own draws) if varinit draws the stated law.
"""

from __future__ import annotations

import doctest
import inspect
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import jax.numpy as jnp  # noqa: E402
import varinit.adapters.jax as vj  # noqa: E402
from jax._src.nn.initializers import _compute_fans  # noqa: E402  (JAX's fan rule: the anchor)
from scipy import stats  # noqa: E402

import varinit  # noqa: E402

jinit = jax.nn.initializers
ALPHA = 1e-3
KEY = 20251125
TRUNC_STD = 0.87962566103423978  # std of N(0, 1) truncated to (-2, 2), as JAX writes it
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide-jax.md"

#: the names of jax.nn.initializers (Initializer is JAX's Protocol: varinit's class keeps the name)
JAX_NAMES = sorted(n for n in dir(jinit) if not n.startswith("_") and n != "Initializer")
FACTORIES = [n for n in JAX_NAMES if n not in ("zeros", "ones")]
KEYS = {"key": lambda: jax.random.key(KEY), "PRNGKey": lambda: jax.random.PRNGKey(KEY), "seed": lambda: KEY}


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x).astype(np.float64).reshape(-1)


def _ks(sample: Any, cdf: Any) -> float:
    return float(stats.kstest(_f64(sample), cdf).pvalue)


# --------------------------------------------------------------------------- names and signatures


def _make(module: Any, name: str) -> Any:
    """An initializer from ``module``'s factory ``name`` with its defaults."""
    factory = getattr(module, name)
    if name == "constant":
        return factory(0.5)
    return factory(1.0, "fan_in", "normal") if name == "variance_scaling" else factory()


def test_every_jax_name_is_here_and_an_initializer() -> None:
    assert len(JAX_NAMES) >= 19
    assert [n for n in JAX_NAMES if not hasattr(vj, n)] == []
    for name in FACTORIES:
        assert isinstance(_make(vj, name), jinit.Initializer), name  # JAX's runtime-checkable Protocol
    assert vj.kaiming_normal is vj.he_normal and vj.xavier_uniform is vj.glorot_uniform


def test_every_flax_name_is_here() -> None:
    nnx = pytest.importorskip("flax.nnx")
    names = {n for n in dir(nnx.initializers) if not n.startswith("_")} - {
        "Initializer",
        "DtypeLikeInexact",
        "tp",
    }
    assert sorted(n for n in names if not hasattr(vj, n)) == []
    assert vj.zeros_init() is vj.zeros and vj.ones_init() is vj.ones


def _params(f: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]


@pytest.mark.parametrize("name", JAX_NAMES)
def test_signature_is_jax(name: str) -> None:
    assert _params(getattr(vj, name)) == _params(getattr(jinit, name))
    if name in FACTORIES:
        assert [p[0] for p in _params(_make(vj, name))] == [p[0] for p in _params(_make(jinit, name))]


# --------------------------------------------------------------------------- real laws


def _vs_law(scale: float, mode: str, distribution: str, shape: tuple[int, ...], **axes: Any) -> Any:
    """The exact law of ``jax.nn.initializers.variance_scaling`` at ``shape`` (scipy)."""
    fi, fo = _compute_fans(shape, **axes)
    n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2, "fan_geo_avg": math.sqrt(fi * fo)}[mode]
    sd = math.sqrt(scale / n)
    if distribution == "uniform":
        return stats.uniform(loc=-math.sqrt(3) * sd, scale=2 * math.sqrt(3) * sd)
    if distribution == "normal":
        return stats.norm(scale=sd)
    return stats.truncnorm(-2, 2, scale=sd / TRUNC_STD)


REAL_LAWS: list[tuple[str, Any, tuple[int, ...], Any]] = [
    (
        "vs-fan_in-truncated",
        vj.variance_scaling(1.5, "fan_in", "truncated_normal"),
        (300, 400),
        _vs_law(1.5, "fan_in", "truncated_normal", (300, 400)),
    ),
    (
        "vs-fan_out-normal-axes",
        vj.variance_scaling(1.0, "fan_out", "normal", in_axis=1, out_axis=0),
        (64, 2000),
        _vs_law(1.0, "fan_out", "normal", (64, 2000), in_axis=1, out_axis=0),
    ),
    (
        "vs-fan_avg-uniform-batch",
        vj.variance_scaling(3.0, "fan_avg", "uniform", in_axis=(0, 1), out_axis=-1, batch_axis=2),
        (8, 4, 30, 128),
        _vs_law(3.0, "fan_avg", "uniform", (8, 4, 30, 128), in_axis=(0, 1), out_axis=-1, batch_axis=2),
    ),
    (
        "vs-fan_geo_avg-normal",
        vj.variance_scaling(1.0, "fan_geo_avg", "normal"),
        (3, 3, 96, 128),
        _vs_law(1.0, "fan_geo_avg", "normal", (3, 3, 96, 128)),
    ),
    (
        "he_normal",
        vj.he_normal(),
        (3, 3, 96, 128),
        _vs_law(2.0, "fan_in", "truncated_normal", (3, 3, 96, 128)),
    ),
    (
        "kaiming_normal",
        vj.kaiming_normal(),
        (400, 300),
        _vs_law(2.0, "fan_in", "truncated_normal", (400, 300)),
    ),
    ("he_uniform", vj.he_uniform(), (400, 300), _vs_law(2.0, "fan_in", "uniform", (400, 300))),
    (
        "glorot_normal",
        vj.glorot_normal(),
        (400, 300),
        _vs_law(1.0, "fan_avg", "truncated_normal", (400, 300)),
    ),
    ("xavier_uniform", vj.xavier_uniform(), (400, 300), _vs_law(1.0, "fan_avg", "uniform", (400, 300))),
    ("lecun_normal", vj.lecun_normal(), (400, 300), _vs_law(1.0, "fan_in", "truncated_normal", (400, 300))),
    ("lecun_uniform", vj.lecun_uniform(), (400, 300), _vs_law(1.0, "fan_in", "uniform", (400, 300))),
    ("uniform", vj.uniform(0.3), (400, 300), stats.uniform(scale=0.3)),
    ("normal", vj.normal(0.02), (400, 300), stats.norm(scale=0.02)),
    (
        "truncated_normal",
        vj.truncated_normal(0.5, lower=-1.0, upper=3.0),
        (400, 300),
        stats.truncnorm(-1, 3, scale=0.5),
    ),
]


@pytest.mark.parametrize("key_kind", sorted(KEYS))
@pytest.mark.parametrize(("init", "shape", "law"), [r[1:] for r in REAL_LAWS], ids=[r[0] for r in REAL_LAWS])
def test_real_draws_follow_jax_law(init: Any, shape: tuple[int, ...], law: Any, key_kind: str) -> None:
    x = init(KEYS[key_kind](), shape)
    assert x.shape == shape and x.dtype == jnp.float32
    assert _ks(x, law.cdf) >= ALPHA
    lo, hi = law.support()
    assert lo - 1e-6 <= float(x.min()) and float(x.max()) <= hi + 1e-6


def test_drop_in_names_draw_jaxs_law_not_the_table_rows() -> None:
    """kaiming_normal/xavier_normal here are JAX's (truncated); the table's rows are torch's."""
    shape = (1000, 500)
    ours = np.asarray(vj.kaiming_normal()(7, shape))
    bound = 2 * math.sqrt(2 / 1000) / TRUNC_STD
    assert np.abs(ours).max() <= bound * (1 + 1e-6)
    table = varinit.init("kaiming_normal", shape, seed=7, layout="in_out")  # torch: untruncated
    assert np.abs(table).max() > 1.5 * math.sqrt(2 / 1000) * 2
    assert (
        np.abs(np.asarray(vj.xavier_normal()(7, shape))).max()
        <= 2 * math.sqrt(2 / 1500) / TRUNC_STD * 1.000001
    )


@pytest.mark.parametrize("name", ["he_normal", "glorot_uniform", "lecun_normal", "he_uniform"])
def test_portable_values_are_the_tables(name: str) -> None:
    shape = (64, 48)
    np.testing.assert_array_equal(getattr(vj, name)()(11, shape), vj.initializer(name)(11, shape))


def test_portable_fixed_laws_are_unit_draws_times_the_parameter() -> None:
    shape = (50, 40)
    u = varinit.init("uniform", shape, seed=5, low=0.0, high=1.0)  # NumPy, bit for bit the stream
    np.testing.assert_allclose(vj.uniform(2.5)(5, shape), 2.5 * u, rtol=1e-6)
    z = varinit.init("normal", shape, seed=5, std=1.0)
    np.testing.assert_allclose(vj.normal(0.1)(5, shape), 0.1 * z, rtol=1e-6)


# --------------------------------------------------------------------------- complex


def _complex_parts(x: Any) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x).astype(np.complex128).reshape(-1)
    return np.abs(a) ** 2, (np.angle(a) / (2 * math.pi)) % 1.0


@pytest.mark.parametrize("key_kind", ["key", "seed"])
@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
def test_complex_variance_scaling_is_jaxs_law(distribution: str, key_kind: str) -> None:
    shape = (300, 400)
    sd = math.sqrt(2.0 / 300)
    x = vj.variance_scaling(2.0, "fan_in", distribution)(KEYS[key_kind](), shape, jnp.complex64)
    assert x.dtype == jnp.complex64 and x.shape == shape
    r2, turns = _complex_parts(x)
    assert _ks(turns, stats.uniform.cdf) >= ALPHA
    if distribution == "normal":  # real and imaginary parts N(0, sd^2 / 2), uncorrelated
        a = np.asarray(x).reshape(-1)
        for part in (a.real, a.imag):
            assert _ks(part, stats.norm(scale=sd / math.sqrt(2)).cdf) >= ALPHA
        assert abs(np.corrcoef(a.real, a.imag)[0, 1]) < 4 / math.sqrt(a.size)
    elif distribution == "uniform":  # the disk of radius sqrt(2) sd: |z|^2 / (2 sd^2) ~ U(0, 1)
        assert _ks(r2 / (2 * sd * sd), stats.uniform.cdf) >= ALPHA
    else:  # |z|^2 / s^2 ~ Exp(1) truncated at 4, s = sd / 0.9531...
        s = sd / 0.95311164380491208
        assert _ks(r2 / (s * s), stats.truncexpon(4.0).cdf) >= ALPHA
    theirs = jinit.variance_scaling(2.0, "fan_in", distribution)(
        jax.random.key(KEY + 1), shape, jnp.complex64
    )
    assert stats.ks_2samp(r2, _complex_parts(theirs)[0]).pvalue >= ALPHA


def test_jaxs_complex_truncation_constant_is_the_partial_moment() -> None:
    """JAX divides by sqrt(1 - 5 e^-4), not by the truncated std: kept, and documented."""
    assert abs(0.95311164380491208**2 - (1 - 5 * math.exp(-4))) < 1e-12
    std = math.sqrt(stats.truncexpon(4.0).mean())  # what the truncated complex normal has
    assert 1.009 < std / 0.95311164380491208 < 1.0095


def test_complex_normal_and_its_portable_layout() -> None:
    shape = (200, 300)
    z = vj.normal(0.2)(jax.random.key(KEY), shape, jnp.complex64)
    for part in (np.asarray(z).real, np.asarray(z).imag):
        assert _ks(part, stats.norm(scale=0.2 / math.sqrt(2)).cdf) >= ALPHA
    # an int seed: element i takes the stream's values 2i (real part) and 2i + 1 (imaginary part)
    p = np.asarray(vj.normal(1.0)(3, (4, 5), jnp.complex64))
    parts = np.asarray(varinit.init("normal", (4, 5, 2), seed=3, std=math.sqrt(0.5), backend="jax"))
    np.testing.assert_array_equal(p.real, parts[..., 0])
    np.testing.assert_array_equal(p.imag, parts[..., 1])


def test_complex128_without_x64_warns_like_float64() -> None:
    with pytest.warns(UserWarning, match="complex128 needs jax_enable_x64"):
        x = vj.normal()(0, (3,), jnp.complex128)
    assert x.dtype == jnp.complex64


# --------------------------------------------------------------------------- orthogonal


def _orthonormal(q: Any, column_axis: int, scale: float) -> None:
    a = np.moveaxis(np.asarray(q).astype(np.complex128), column_axis, -1)
    m = a.reshape(-1, a.shape[-1]) / scale
    g = m.conj().T @ m if m.shape[0] >= m.shape[1] else m @ m.conj().T
    np.testing.assert_allclose(g, np.eye(g.shape[0]), atol=2e-5)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64])
@pytest.mark.parametrize(
    ("shape", "column_axis", "key_kind"),
    [((4, 6), -1, "key"), ((6, 4), -1, "seed"), ((4, 6), 0, "seed"), ((3, 4, 6), 1, "key")],
)
def test_orthogonal_column_axis_and_complex(
    shape: tuple[int, ...], column_axis: int, key_kind: str, dtype: Any
) -> None:
    q = vj.orthogonal(scale=2.0, column_axis=column_axis)(KEYS[key_kind](), shape, dtype)
    assert q.shape == shape and q.dtype == dtype
    _orthonormal(q, column_axis, 2.0)


def test_orthogonal_entries_match_jaxs_haar_law() -> None:
    ours = np.concatenate([_f64(vj.orthogonal()(jax.random.key(i), (48, 48))) for i in range(8)])
    theirs = np.concatenate([_f64(jinit.orthogonal()(jax.random.key(100 + i), (48, 48))) for i in range(8)])
    assert stats.ks_2samp(ours, theirs).pvalue >= ALPHA


@pytest.mark.parametrize("shape", [(3, 4, 6), (4, 3, 4, 6), (2, 3, 4, 4, 6)])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64])
def test_delta_orthogonal_centre_is_jaxs(shape: tuple[int, ...], dtype: Any) -> None:
    ours = np.asarray(vj.delta_orthogonal(scale=1.5)(jax.random.key(0), shape, dtype))
    theirs = np.asarray(jinit.delta_orthogonal(scale=1.5)(jax.random.key(0), shape, dtype))
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours != 0, theirs != 0)  # the centre tap (k - 1) // 2, even k too
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    _orthonormal(ours[centre], -1, 1.5)


# --------------------------------------------------------------------------- shapes and dtypes

RANDOM = {
    "uniform": (1, False),
    "normal": (1, True),
    "truncated_normal": (1, False),
    "variance_scaling": (2, True),
    "he_normal": (2, True),
    "glorot_uniform": (2, True),
    "lecun_normal": (2, True),
    "orthogonal": (2, True),
    "delta_orthogonal": (3, True),
}


def _factory(name: str, **kw: Any) -> Any:
    if name == "variance_scaling":
        return vj.variance_scaling(1.0, "fan_avg", "truncated_normal", **kw)
    return getattr(vj, name)(**kw)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64])
@pytest.mark.parametrize("name", sorted(RANDOM))
def test_shapes_and_dtypes_call_and_factory_level(name: str, dtype: Any) -> None:
    min_dims, complex_ok = RANDOM[name]
    key = jax.random.key(1)
    shapes = [{1: (2,), 2: (4, 6), 3: (3, 4, 6)}[min_dims], (3, 3, 4, 6)]
    if jnp.issubdtype(dtype, jnp.complexfloating) and not complex_ok:
        with pytest.raises(ValueError, match=f"dtype argument to `{name}` must be a float dtype"):
            _factory(name)(key, shapes[0], dtype)
        return
    for shape in shapes:
        for x in (_factory(name)(key, shape, dtype), _factory(name, dtype=dtype)(key, shape)):
            assert x.shape == shape and x.dtype == dtype
    assert _factory(name, dtype=dtype)(key, shapes[0], None).dtype == jnp.float32  # as JAX: None is float


def test_float64_without_x64_warns_and_integer_dtypes_raise() -> None:
    with pytest.warns(UserWarning, match="jax_enable_x64"):
        assert vj.he_normal()(0, (4, 4), jnp.float64).dtype == jnp.float32
    with pytest.raises(TypeError, match="integer or bool"):
        vj.normal()(0, (4, 4), jnp.int32)


def test_constants_take_any_dtype_and_ignore_the_key() -> None:
    for key in (None, 0, jax.random.key(0), jax.random.PRNGKey(0)):
        for dtype in (None, jnp.float32, jnp.bfloat16, jnp.int32, jnp.bool_, jnp.complex64):
            for ours, theirs in ((vj.zeros, jinit.zeros), (vj.ones, jinit.ones)):
                a, b = ours(key, (2, 3), dtype), theirs(key, (2, 3), dtype)
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
    for value in (-7, 0.5, jnp.asarray(3.0), jnp.asarray([1.0, 2.0, 3.0]), 1 + 2j, float("inf")):
        for dtype in (None, jnp.float32, jnp.int32, jnp.complex64):
            if isinstance(value, complex) and dtype in (None, jnp.float32, jnp.int32):
                continue
            if dtype is jnp.int32 and isinstance(value, float) and math.isinf(value):
                continue
            a, b = vj.constant(value, dtype)(None, (2, 3)), jinit.constant(value, dtype)(None, (2, 3))
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def test_zero_size_shapes() -> None:
    for init in (vj.he_normal(), vj.normal(), vj.orthogonal(), vj.variance_scaling(1.0, "fan_in", "uniform")):
        for dtype in (jnp.float32, jnp.complex64):
            x = init(jax.random.key(0), (0, 3), dtype)
            assert x.shape == (0, 3) and x.dtype == dtype


# --------------------------------------------------------------------------- axes

AXES: list[tuple[tuple[int, ...], dict[str, Any]]] = [
    ((5,), {"in_axis": 0}),  # 1-D: in and out are the same axis (JAX: fans 1, 1)
    ((5,), {"in_axis": 0, "out_axis": 0}),
    ((7,), {"in_axis": (), "out_axis": 0}),
    ((), {"in_axis": (), "out_axis": ()}),  # 0-D: empty axes, fans 1, 1
    ((4, 6), {"in_axis": 0, "out_axis": 0}),  # one axis in two roles
    ((4, 6), {"in_axis": (), "out_axis": -1}),
    ((2, 3, 4, 5), {"in_axis": (0, 1), "out_axis": (-2, -1)}),
    ((2, 3, 4, 5), {"in_axis": 0, "out_axis": (2, 3), "batch_axis": 1}),
    ((3, 3, 16, 32), {}),
    ((8, 16, 32), {"batch_axis": 0}),
    ((16, 8, 4, 64), {"in_axis": [0, 1], "batch_axis": [2]}),
]


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize(("shape", "axes"), AXES, ids=[f"{s}-{a}" for s, a in AXES])
def test_fans_are_jaxs(shape: tuple[int, ...], axes: dict[str, Any], mode: str) -> None:
    """normal draws with an int seed are sqrt(scale / n) times the stream's N(0, 1) values."""
    x = np.asarray(vj.variance_scaling(2.0, mode, "normal", **axes)(9, shape)).astype(np.float64)
    z = np.asarray(vj.normal(1.0)(9, shape)).astype(np.float64)
    fi, fo = _compute_fans(shape, **{k: tuple(v) if isinstance(v, list) else v for k, v in axes.items()})
    n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2, "fan_geo_avg": math.sqrt(fi * fo)}[mode]
    assert x.shape == shape
    np.testing.assert_allclose(x, math.sqrt(2.0 / n) * z, rtol=1e-6)


def test_fan_errors() -> None:
    for shape in [(5,), ()]:
        with pytest.raises(
            ValueError, match=f"of a {len(shape)}-dimensional weights tensor with default in_axis"
        ):
            vj.he_normal()(0, shape)
    with pytest.raises(ValueError, match="in_axis"):
        vj.he_normal(in_axis=5)(0, (4, 4))
    with pytest.raises(ValueError, match="fractional"):
        vj.he_normal(in_axis=(0, 0))(0, (2, 3))
    with pytest.raises(ValueError, match="mode"):
        vj.variance_scaling(1.0, "fan_sideways", "normal")
    with pytest.raises(ValueError, match="scale"):
        vj.variance_scaling(-1.0, "fan_in", "normal")


def test_structural_errors_are_jaxs() -> None:
    with pytest.raises(ValueError, match="orthogonal initializer requires at least a 2D shape"):
        vj.orthogonal()(0, (4,))
    with pytest.raises(ValueError, match="requires a 3D, 4D or 5D shape"):
        vj.delta_orthogonal()(0, (4, 4))
    with pytest.raises(ValueError, match="`fan_in` must be less or equal than `fan_out`"):
        vj.delta_orthogonal()(0, (3, 3, 8, 4))
    with pytest.raises(TypeError, match="concrete"):
        jax.jit(lambda b: vj.truncated_normal(1.0, upper=b)(0, (3,)))(1.0)


# --------------------------------------------------------------------------- parameters as arrays


def test_zero_d_array_parameters_equal_floats_and_do_not_upcast() -> None:
    key, shape = jax.random.key(3), (6, 5)
    a = jnp.asarray
    pairs = [
        (vj.variance_scaling(a(2.0), "fan_in", "uniform"), vj.variance_scaling(2.0, "fan_in", "uniform")),
        (vj.uniform(a(0.5)), vj.uniform(0.5)),
        (vj.normal(a(0.5)), vj.normal(0.5)),
        (
            vj.truncated_normal(a(0.5), lower=a(-1.0), upper=a(1.5)),
            vj.truncated_normal(0.5, lower=-1.0, upper=1.5),
        ),
        (vj.orthogonal(a(2.0)), vj.orthogonal(2.0)),
        (vj.delta_orthogonal(a(2.0)), vj.delta_orthogonal(2.0)),
        (vj.constant(a(3.0)), vj.constant(3.0)),
    ]
    for arr, flt in pairs:
        s = (3, 3, 4, 6) if "delta" in repr(arr) else shape
        np.testing.assert_array_equal(arr(key, s), flt(key, s))
    f32 = jnp.asarray(1.0, dtype=jnp.float32)  # JAX's accidental-upcasting check
    for init in (
        vj.uniform(f32, jnp.bfloat16),
        vj.normal(f32, jnp.bfloat16),
        vj.truncated_normal(f32, jnp.bfloat16),
    ):
        assert init(key, (4, 4)).dtype == jnp.bfloat16


def test_traced_and_array_parameters_multiply_as_in_jax() -> None:
    key, shape = jax.random.key(4), (8, 6)
    traced = jax.jit(lambda s: vj.uniform(s)(key, shape))(0.5)
    np.testing.assert_array_equal(traced, vj.uniform(0.5)(key, shape))
    traced = jax.jit(lambda s: vj.variance_scaling(s, "fan_in", "normal")(key, shape))(2.0)
    np.testing.assert_allclose(traced, vj.variance_scaling(2.0, "fan_in", "normal")(key, shape), rtol=1e-6)
    np.testing.assert_array_equal(vj.variance_scaling(0.0, "fan_in", "normal")(key, shape), np.zeros(shape))
    cols = jnp.arange(1.0, 7.0)
    with jax.numpy_rank_promotion("allow"):  # a per-column scale broadcasts, as in JAX
        x = vj.normal(jnp.reshape(cols, (1, 6)))(key, shape)
    np.testing.assert_allclose(x, vj.normal(1.0)(key, shape) * np.arange(1.0, 7.0), rtol=1e-6)


# --------------------------------------------------------------------------- rank promotion


@pytest.mark.parametrize("key_kind", ["key", "seed"])
def test_everything_runs_with_rank_promotion_raise(key_kind: str) -> None:
    key, conv = KEYS[key_kind](), (3, 3, 4, 6)
    inits = [
        (_factory(n), conv, dt)
        for n in sorted(RANDOM)
        for dt in ((jnp.float32, jnp.complex64) if RANDOM[n][1] else (jnp.float32,))
    ]
    inits += [(vj.orthogonal(column_axis=0), conv, jnp.float32), (vj.constant(2.0), conv, jnp.float32)]
    two_d = ("identity", "sparse")
    schemes = [(vj.initializer(s), conv, None) for s in varinit.schemes() if s not in two_d]
    schemes += [(vj.initializer(s), (4, 6), None) for s in two_d]
    with jax.numpy_rank_promotion("raise"):
        for init, shape, dt in inits + schemes:
            assert init(key, shape, dt).shape == shape
        for init in (vj.orthogonal(), vj.delta_orthogonal(), vj.initializer("orthogonal")):
            assert jax.jit(init, static_argnums=(1, 2))(key, conv, None).shape == conv
        mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
        assert vj.init_sharded("orthogonal", (8, 4), sharding, seed=0).shape == (8, 4)


def test_a_users_broadcast_still_follows_the_users_rule() -> None:
    with jax.numpy_rank_promotion("raise"), pytest.raises(ValueError, match="rank_promotion"):
        vj.uniform(jnp.ones(3))(jax.random.key(0), (2, 3))


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg", "unsafe_rbg"])
def test_keys_of_every_prng_implementation(impl: str) -> None:
    shape = (8, 6)
    typed, raw = jax.random.key(5, impl=impl), jax.random.PRNGKey(5, impl=impl)
    for init in (vj.he_normal(), vj.orthogonal(), vj.variance_scaling(1.0, "fan_in", "uniform")):
        for key in (typed, raw):
            a = init(key, shape)
            np.testing.assert_array_equal(a, init(key, shape))
            assert a.shape == shape and not np.array_equal(a, init(jax.random.key(6, impl=impl), shape))
        assert init(raw, shape, jnp.complex64).dtype == jnp.complex64
        if impl != "unsafe_rbg":  # a raw key carries no implementation: 4 words read as rbg
            np.testing.assert_array_equal(
                init(raw, shape), init(jax.random.wrap_key_data(raw, impl=impl), shape)
            )
    with jax.default_prng_impl(impl):  # raw keys of the default implementation, also under vmap
        raws = jax.random.split(jax.random.PRNGKey(1), 3)
        batch = jax.vmap(lambda k: vj.he_normal()(k, shape))(raws)
        assert batch.shape == (3, *shape) and not np.array_equal(batch[0], batch[1])
        if impl == "threefry2x32":  # rbg bits under vmap differ from unbatched ones in JAX too
            np.testing.assert_array_equal(batch[2], vj.he_normal()(raws[2], shape))


# --------------------------------------------------------------------------- Flax


def test_flax_linen() -> None:
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):  # type: ignore[misc]
        @nn.compact
        def __call__(self, x: Any) -> Any:
            x = nn.Conv(32, (3, 3), kernel_init=vj.he_normal(), bias_init=vj.zeros)(x)
            x = nn.relu(x).reshape((x.shape[0], -1))
            return nn.Dense(10, kernel_init=vj.orthogonal(), param_dtype=jnp.bfloat16)(x)

    params = jax.jit(Net().init)(jax.random.key(0), jnp.ones((2, 8, 8, 16)))["params"]
    kernel = np.asarray(params["Conv_0"]["kernel"])
    assert kernel.shape == (3, 3, 16, 32)
    assert _ks(kernel, _vs_law(2.0, "fan_in", "truncated_normal", kernel.shape).cdf) >= ALPHA
    assert params["Dense_0"]["kernel"].dtype == jnp.bfloat16


def test_flax_nnx() -> None:
    nnx = pytest.importorskip("flax.nnx")
    layer = nnx.Linear(
        256,
        128,
        kernel_init=vj.lecun_normal(),
        bias_init=vj.zeros_init(),
        param_dtype=jnp.bfloat16,
        rngs=nnx.Rngs(0),
    )
    assert layer.kernel[...].shape == (256, 128) and layer.kernel[...].dtype == jnp.bfloat16
    assert _ks(layer.kernel[...], _vs_law(1.0, "fan_in", "truncated_normal", (256, 128)).cdf) >= ALPHA
    np.testing.assert_array_equal(layer.bias[...], np.zeros(128))
    conv = nnx.Conv(4, 8, (3, 3), kernel_init=vj.delta_orthogonal(), rngs=nnx.Rngs(1))
    assert conv.kernel[...].shape == (3, 3, 4, 8)


def test_out_sharding() -> None:
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    x = vj.glorot_uniform()(jax.random.key(0), (8, 4), out_sharding=sharding)
    assert x.sharding == sharding


# --------------------------------------------------------------------------- docs


def _guide_blocks(tag: str) -> list[str]:
    text = GUIDE.read_text("utf-8")
    return re.findall(rf"^<!-- tested: {tag} -->\n```python\n(.*?)^```", text, flags=re.S | re.M)


def test_guide_change_this_import_example_runs() -> None:
    (block,) = _guide_blocks("change-import")
    assert "from jax.nn import initializers" in block and "from varinit.adapters import jax" in block
    exec(compile(block, str(GUIDE), "exec"), {})


def test_module_docstring_examples_run() -> None:
    import varinit.adapters._jax_nn as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 10 and result.failed == 0


@pytest.mark.parametrize("shape", [(4, 6, 8), (4, 2, 6, 8), (2, 3, 4, 6, 8)])
@pytest.mark.parametrize("layout", ["in_out", "out_in"])
def test_generic_delta_orthogonal_centre_is_jaxs_for_even_sizes(shape: tuple[int, ...], layout: str) -> None:
    """``varinit.init("delta_orthogonal", ...)`` on every backend puts the matrix where JAX does."""
    dims = shape if layout == "in_out" else (shape[-1], shape[-2], *shape[:-2])
    w = np.asarray(varinit.init("delta_orthogonal", dims, layout=layout, seed=0))
    taps = w if layout == "in_out" else np.moveaxis(w, (0, 1), (-1, -2))
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    nonzero = np.argwhere(np.abs(taps).sum(axis=(-2, -1)) > 0)
    assert [tuple(int(i) for i in t) for t in nonzero] == [centre]
    _orthonormal(taps[centre], -1, 1.0)
    theirs = np.asarray(jinit.delta_orthogonal()(jax.random.key(0), shape))
    np.testing.assert_array_equal(taps != 0, theirs != 0)
