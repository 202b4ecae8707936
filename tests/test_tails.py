"""Far tails and narrow truncations of the truncated normal (``varinit.rng.ndtri.truncation``).

- Statistics: N(0, 1) on [a, b] drawn with ``seed=``, 2**18 values per case, every seed
  fixed: all values inside the bounds, sample mean and variance within 5 standard errors of
  the exact truncated moments (mpmath at 1000 digits: the closed forms do not cancel there),
  and a KS test against scipy's ``truncnorm`` at alpha = 1e-6. A correct sampler fails one
  of these checks with probability below 1e-6.
- The moments themselves (``truncated_std``, ``truncated_mean``, ``log_mass``, ``log_ndtr``)
  against mpmath, to 1e-13.
- The regimes trigger only where the linear map was wrong: every other interval gives the
  bits of the old formula.
- Every backend gives the NumPy reference's bits in the new regimes (float32 and float64).
"""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import array_api_compat.numpy as anp
import mpmath
import numpy as np
import pytest
from conftest import marks_for
from scipy import stats

import varinit
from varinit.core.errors import SchemeError
from varinit.core.executor import reference
from varinit.core.plans import TruncNormal
from varinit.core.request import request
from varinit.rng.ndtri import (
    TAIL_LIMIT,
    log_mass,
    log_ndtr,
    ndtr,
    ndtri,
    truncated_mean,
    truncated_std,
    truncation,
)

INF = math.inf
#: far tails (both sides), narrow intervals, the subnormal edge of float32, one-sided
INTERVALS = [
    (15.0, 16.0),
    (-16.0, -15.0),
    (20.0, 21.0),
    (-21.0, -20.0),
    (37.0, 38.0),
    (-38.0, -37.0),
    (-40.0, -39.0),
    (39.0, 40.0),
    (39.0, 1e300),  # one-sided in practice (a, b must be finite)
    (13.0, 14.0),
    (-13.0, -11.4),
    (-1e-7, 1e-7),
    (-1e-6, 1e-6),
    (-1e-3, 1e-3),
    (0.0, 1e-6),
    (2.0, 2.001),
    (-2.001, -2.0),
    (0.3, 0.3005),
    (-1e-12, 1e-12),
]
IDS = [f"{a:g},{b:g}" for a, b in INTERVALS]


@cache
def exact(a: float, b: float) -> tuple[float, float, float, float]:
    """(log mass, mean, variance, 4th central moment) of N(0, 1) on [a, b], from the raw-moment
    recursion m_k = (k - 1) m_(k-2) + (a^(k-1) phi(a) - b^(k-1) phi(b)) / Z at 1000 digits."""
    with mpmath.workdps(1000):
        lo, hi = mpmath.mpf(a), mpmath.mpf(b)
        z = mpmath.ncdf(hi) - mpmath.ncdf(lo)
        m = [mpmath.mpf(1)]
        for k in range(1, 5):
            edge = lambda x: x ** (k - 1) * mpmath.npdf(x) if mpmath.isfinite(x) else 0  # noqa: B023, E731
            m.append((k - 1) * (m[k - 2] if k >= 2 else 0) + (edge(lo) - edge(hi)) / z)
        mu, var = m[1], m[2] - m[1] ** 2
        mu4 = m[4] - 4 * m[3] * mu + 6 * m[2] * mu**2 - 3 * mu**4
        return float(mpmath.log(z)), float(mu), float(var), float(mu4)


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a,b", INTERVALS, ids=IDS)
def test_inside_the_bounds_with_the_exact_mean_and_variance(a: float, b: float, dtype: str) -> None:
    n = 1 << 18
    x = varinit.init("trunc_normal", (n,), seed=101, dtype=dtype, a=a, b=b, fan_in=1, fan_out=1)
    assert x.dtype == np.dtype(dtype)
    bound = np.float32 if dtype == "float32" else float
    assert float(x.min()) >= bound(a) and float(x.max()) <= (bound(b) if b < 1e38 else b)
    _, mean, var, mu4 = exact(a, b)
    v = x.astype(np.float64)
    if np.dtype(dtype) == np.float32 and (b - a) / max(abs(a), abs(b)) < 2.0**-10:
        # the float32 grid itself has few points in a narrow interval off 0 ([2, 2.001]: 4194):
        # rounding to it adds ulp**2/12 to the variance, at most this much
        var += float(np.spacing(np.float32(max(abs(a), abs(b))))) ** 2 / 12
    m, s2 = float(v.mean()), float(((v - v.mean()) ** 2).mean())
    se_mean, se_var = math.sqrt(var / n), math.sqrt((mu4 - var * var) / n)
    assert abs(m - mean) < 5 * se_mean, (m, mean, (m - mean) / se_mean)
    assert abs(s2 - var) < 5 * se_var, (s2, var, (s2 - var) / se_var)
    with warnings.catch_warnings():  # scipy's truncnorm warns on its way to the right answer
        warnings.simplefilter("ignore")
        assert stats.kstest(v, stats.truncnorm(a, b).cdf).pvalue > 1e-6


@pytest.mark.parametrize("truncation_", [1e-3, 1e-6, 1e-7])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_narrow_truncations_have_the_std_varinit_promises(truncation_: float, dtype: str) -> None:
    """he_normal with a narrow truncation: sigma is corrected by truncated_std(-t, t), which
    must be exact (1e-7 raised ZeroDivisionError; at 1e-6 the sample std was 0.013, not 0.0707)."""
    shape = (400, 700)
    promise = varinit.std("he_normal", shape, truncation=truncation_)
    assert promise == pytest.approx(math.sqrt(2 / 400), rel=1e-12)
    x = varinit.init("he_normal", shape, layout="in_out", seed=7, dtype=dtype, truncation=truncation_).astype(
        np.float64
    )
    n = x.size
    se = promise * math.sqrt(0.8 / (4 * n))  # std of the sample std: kurtosis of a uniform is 1.8
    assert abs(float(x.std()) - promise) < 5 * se
    assert float(abs(x).max()) <= promise * truncation_ / truncated_std(-truncation_, truncation_) * 1.000001


def test_the_narrow_grid_is_fine() -> None:
    """float32 on [-1e-6, 1e-6]: the linear map's p = 1/2 +- 4e-7 took ~40 values; q takes
    one per uniform here."""
    u = ((np.arange(1 << 16) + 0.5) / (1 << 16)).astype(np.float32)
    x = TruncNormal(0.0, 1.0, -1e-6, 1e-6).transform(anp, u)
    assert np.unique(x).size == u.size


# --------------------------------------------------------------------------- the moments


@pytest.mark.parametrize("a,b", [*INTERVALS, (-2.0, 2.0), (-INF, -40.0), (3.0, INF), (-INF, INF)])
def test_moments_are_exact(a: float, b: float) -> None:
    lz, mean, var, _ = exact(a, b)
    assert log_mass(a, b) == pytest.approx(lz, rel=1e-15, abs=1e-15)
    assert truncated_mean(a, b) == pytest.approx(mean, abs=1e-13 * max(abs(mean), math.sqrt(var)))
    assert truncated_std(a, b) == pytest.approx(math.sqrt(var), rel=1e-13)
    plan = TruncNormal(0.5, 2.0, a, b)
    assert plan.sample_std(()) == pytest.approx(2.0 * math.sqrt(var), rel=1e-13)


def test_moments_on_random_intervals() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        hi = float(rng.uniform(-40, 8))
        lo = hi - float(np.exp(rng.uniform(np.log(1e-9), np.log(30))))
        lz, mean, var, _ = exact(lo, hi)
        assert log_mass(lo, hi) == pytest.approx(lz, rel=1e-14, abs=1e-14), (lo, hi)
        assert abs(truncated_mean(lo, hi) - mean) <= 2.0**-43 * max(abs(mean), math.sqrt(var)), (lo, hi)
        assert truncated_std(lo, hi) == pytest.approx(math.sqrt(var), rel=2.0**-43), (lo, hi)


def test_symmetric_corrections_keep_their_bits() -> None:
    """sigma /= truncated_std(-t, t): the closed form's value wherever it was accurate."""
    for t in [0.14, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 50.0]:
        lo, hi = -t, t
        z = ndtr(hi) - ndtr(lo)
        d = math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
        old = math.sqrt(max(1.0 + (lo * d - hi * d) / z - 0.0, 0.0))
        assert truncated_std(-t, t) == old, t
    assert truncated_std(-2.0, 2.0) == 0.8796256610342398


@pytest.mark.parametrize("x", [5.0, 0.0, -1.0, -10.0, -36.9, -37.0, -37.5, -40.0, -100.0, -1e4, -1e150])
def test_log_ndtr(x: float) -> None:
    with mpmath.workdps(60):
        ref = float(mpmath.log(mpmath.ncdf(x)))
    assert log_ndtr(x) == pytest.approx(ref, rel=1e-15)
    assert log_ndtr(-INF) == -INF


# --------------------------------------------------------------------------- where the regimes apply

#: intervals whose values must not change: every shipped truncation, the far tails float32
#: handled exactly, central and mirrored intervals
LINEAR = [
    (-2.0, 2.0),
    (-3.0, 3.0),
    (-100.0, 100.0),  # torch's trunc_normal_(std=0.02): a, b = -2, 2
    (-0.5, 0.7),
    (4.0, 6.0),
    (-8.0, -7.0),
    (8.0, 9.0),
    (-14.0, -3.0),  # Phi(-14) is float32-subnormal, but lost in every sum
    (1.0, INF),
    (-INF, 0.5),
    (-0.14, 0.14),
    (2.0, 2.001),
    (0.1, 0.2),
]


def _old_transform(lo: float, hi: float, u: np.ndarray) -> np.ndarray:
    """TruncNormal.transform before the log and narrow regimes (mean 0, std 1)."""
    flip = lo > -hi
    if flip:
        lo, hi = -hi, -lo
    pa, pb = ndtr(lo), ndtr(hi)
    z = anp.clip(ndtri(anp, (pb - pa) * u + pa, pmin=pa, pmax=pb), lo, hi)
    return np.asarray(-z if flip else z)


@pytest.mark.parametrize("a,b", LINEAR, ids=[f"{a:g},{b:g}" for a, b in LINEAR])
def test_every_other_interval_keeps_its_bits(a: float, b: float) -> None:
    for dtype, bits in ((np.float32, np.uint32), (np.float64, np.uint64)):
        assert truncation(a, b, dtype == np.float64).regime == "linear"
        u = np.concatenate([(np.arange(1 << 16) + 0.5) / (1 << 16), [2.0**-54, 2.0**-25, 1 - 2.0**-24]])
        u = u.astype(dtype)
        new = np.asarray(TruncNormal(0.0, 1.0, a, b).transform(anp, u))
        assert np.array_equal(new.view(bits), _old_transform(a, b, u).view(bits))


@pytest.mark.parametrize(
    "a,b,f32,f64",
    [
        (15.0, 16.0, "log", "linear"),
        (13.0, 14.0, "log", "linear"),  # Phi(-14), Phi(-13) are float32-subnormal
        (-13.0, -11.4, "log", "linear"),  # a subnormal Phi(-13) not lost in the sum: XLA differed
        (-INF, -11.6, "log", "linear"),
        (-INF, -11.5, "linear", "linear"),
        (37.0, 38.0, "log", "log"),
        (-36.0, -35.0, "log", "linear"),
        (-1e-3, 1e-3, "narrow", "linear"),
        (0.0, 1e-6, "narrow", "linear"),
        (-1e-12, 1e-12, "narrow", "narrow"),
        (0.6, 0.6001, "narrow", "linear"),  # Phi(-0.6) = 0.27: q's grid is finer than p's
        (1.2, 1.2001, "linear", "linear"),  # Phi(-1.2) = 0.12: p's grid is finer than q's
    ],
)
def test_regimes(a: float, b: float, f32: str, f64: str) -> None:
    assert (truncation(a, b, False).regime, truncation(a, b, True).regime) == (f32, f64)


@pytest.mark.parametrize("a,b", [(15.0, 16.0), (-40.0, -39.0), (39.0, INF), (-13.0, -11.4)])
def test_the_log_regime_meets_no_subnormal(a: float, b: float) -> None:
    for dtype in (np.float32, np.float64):
        t = truncation(a, b, dtype == np.float64)
        if t.regime != "log":
            continue
        fi = np.finfo(dtype)
        u = np.asarray([2.0**-54 if dtype == np.float64 else 2.0**-25, 0.5, 1 - fi.epsneg], dtype)
        x = dtype(t.a) * u + dtype(t.b)
        assert x.min() >= u.min() and dtype(t.lb) < -25
        assert np.all(np.abs(dtype(t.lb) + np.log(x)) >= fi.tiny)


# --------------------------------------------------------------------------- trunc_normal accepts them


def test_trunc_normal_accepts_40_sigma_and_refuses_beyond() -> None:
    for a, b in [(-40.0, -39.0), (39.0, 40.0), (-41.0, -40.0), (39.0, 1e300)]:
        plan = request("trunc_normal", (3, 3), seed=0, a=a, b=b).plan
        assert isinstance(plan, TruncNormal)
        assert varinit.std("trunc_normal", (3, 3), a=a, b=b) == pytest.approx(
            math.sqrt(exact(a, b)[2]), rel=1e-13
        )
    with pytest.raises(SchemeError, match=f"within {TAIL_LIMIT:g} std of the mean"):
        varinit.init("trunc_normal", (3, 3), seed=0, a=40.5, b=41.0)
    with pytest.raises(SchemeError, match=r"41\.7 std"):
        varinit.init("trunc_normal", (3, 3), seed=0, a=0.0, b=2.0, mean=-1.0, std=0.024)
    with pytest.raises(SchemeError, match="same point"):
        varinit.init("trunc_normal", (3, 3), seed=0, a=1e-300, b=2e-300, std=1e300)


# --------------------------------------------------------------------------- every backend, the same bits

CROSS = [(15.0, 16.0), (13.0, 14.0), (-13.0, -11.4), (-40.0, -39.0), (37.0, 38.0), (39.0, 1e300)]
CROSS += [(0.0, 1e-6), (-1e-7, 1e-7), (-1e-3, 1e-3), (-1e-12, 1e-12)]


def _numpy_reference(a: float, b: float, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The Array-API reference on NumPy (not the compiled kernel)."""
    req = request("trunc_normal", shape, seed=5, stream=9, dtype=dtype, a=a, b=b, mean=0.25, std=2.0)
    return np.asarray(reference(req))


def _same_bits(x: Any, ref: np.ndarray) -> None:
    got = np.asarray(x)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    bits = np.uint64 if ref.dtype == np.float64 else np.uint32
    assert int(np.count_nonzero(got.view(bits) != ref.view(bits))) == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("a,b", CROSS, ids=[f"{a:g},{b:g}" for a, b in CROSS])
@pytest.mark.parametrize(
    "backend", [pytest.param(b, marks=marks_for(b)) for b in ("numpy", "torch", "jax", "tensorflow")]
)
def test_every_backend_gives_the_reference_bits(backend: str, a: float, b: float, dtype: str) -> None:
    pytest.importorskip(backend)
    kw: dict[str, Any] = {"seed": 5, "stream": 9, "dtype": dtype, "a": a, "b": b, "mean": 0.25, "std": 2.0}
    shapes = [(300, 200)] + ([(1024, 520)] if backend == "tensorflow" else [])  # eager and XLA
    for shape in shapes:
        ref = _numpy_reference(a, b, shape, dtype)
        if backend == "jax":
            import jax

            with jax.enable_x64(dtype == "float64"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x = np.asarray(varinit.init("trunc_normal", shape, backend="jax", **kw))
        elif backend == "tensorflow":
            x = varinit.init("trunc_normal", shape, backend="tensorflow", **kw).numpy()
        elif backend == "torch":
            x = varinit.init("trunc_normal", shape, backend="torch", **kw).numpy()
        else:
            x = varinit.init("trunc_normal", shape, **kw)  # the compiled kernel where built
        _same_bits(x, ref)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_array_api_reference_gives_the_numpy_bits_in_the_narrow_regime(dtype: str) -> None:
    """The transform on torch tensors (the route without a compiled kernel). Only the narrow
    regime: torch's eager CPU ``sqrt`` is not correctly rounded (about 3 % of float32 inputs
    differ), so every tail value, old regimes included, can differ there."""
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as atorch

    u = ((np.arange(1 << 16) + 0.5) / (1 << 16)).astype(dtype)
    for a, b in [(0.0, 1e-6), (-1e-7, 1e-7), (-1e-3, 1e-3), (-1e-12, 1e-12)]:
        plan = TruncNormal(0.25, 2.0, a, b)
        if truncation(a, b, dtype == "float64").regime != "narrow":
            continue
        ref = np.asarray(plan.transform(anp, u))
        for eager in (False, "index"):
            got = plan.transform(atorch, torch.from_numpy(u.copy()), eager=eager)
            _same_bits(got.numpy(), ref)


@pytest.mark.parametrize("mutable", [True, False], ids=["chunked", "whole"])
def test_array_api_strict_gives_the_reference_bits(mutable: bool) -> None:
    """The standard alone (no ``frexp``: the log's exact scalings) gives the same bits."""
    import array_api_strict as xps
    from strict_backend import StrictBackend

    be = StrictBackend(mutable=mutable, wide=True)
    for dtype, xdt in (("float32", xps.float32), ("float64", xps.float64)):
        for a, b in [(15.0, 16.0), (-40.0, -39.0), (-13.0, -11.4), (0.0, 1e-6), (-1e-12, 1e-12)]:
            kw: dict[str, Any] = {"seed": 5, "stream": 9, "a": a, "b": b, "mean": 0.25, "std": 2.0}
            x = varinit.init("trunc_normal", (120, 100), backend=be, dtype=xdt, **kw)
            _same_bits(np.from_dlpack(x), _numpy_reference(a, b, (120, 100), dtype))


@pytest.mark.parametrize(("a", "b"), [(-40.0, -39.0), (37.0, 38.0), (15.0, 16.0), (-1e-6, 1e-6)])
def test_assert_distribution_handles_far_and_narrow_intervals(a: float, b: float) -> None:
    """varinit.testing's exact CDF works in log space: it accepts the right law and rejects a
    sample moved by a tenth of the interval (the KS test would miss nothing at this size)."""
    from varinit.testing import assert_distribution

    kw = {"a": a, "b": b, "std": 1.0, "mean": 0.0}
    x = varinit.init("trunc_normal", (256, 256), seed=4, **kw)
    assert_distribution(x, "trunc_normal", (256, 256), **kw)
    moved = np.clip(x + (b - a) / 10, a, b).astype(x.dtype)
    with pytest.raises(AssertionError):
        assert_distribution(moved, "trunc_normal", (256, 256), **kw)
