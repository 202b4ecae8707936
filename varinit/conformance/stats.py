"""The statistics behind ``varinit.testing``: exact CDFs, KS tests, structure checks (needs scipy).

>>> import varinit
>>> from varinit.testing import assert_distribution
>>> w = varinit.init("he_normal", (512, 256), layout="in_out", seed=0)
>>> report = assert_distribution(w, "he_normal", (512, 256))   # raises if it does not fit
>>> report.ok
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.api import plan as _plan
from ..core.arrays import raw_numpy, to_numpy
from ..core.fans import normalize_shape
from ..core.plans import (
    Constant,
    DeltaOrthogonal,
    Dirac,
    Elementwise,
    Identity,
    Normal,
    Orthogonal,
    Plan,
    Sparse,
    TruncNormal,
    Uniform,
)
from ..core.table import Scheme

__all__ = [
    "DistributionReport",
    "assert_distribution",
    "assert_same_stream",
    "cdf",
    "distribution_report",
    "to_numpy",
]

ALPHA = 1e-3  # per-test significance of the KS test
MOMENT_Z = 5.0  # moments must lie within this many standard errors


def _eps(sample: Any) -> float:
    """Machine epsilon of a sample's own dtype (any backend); float32's if unknown."""
    name = str(getattr(sample, "dtype", "float32"))
    for key, eps in (("bfloat16", 2.0**-7), ("float16", 2.0**-10), ("float64", 2.0**-52)):
        if key in name:
            return eps
    return 2.0**-23


def cdf(p: Plan) -> Callable[[np.ndarray], np.ndarray]:
    """The exact CDF of an elementwise plan, vectorized (scipy.special.ndtr)."""
    from scipy.special import ndtr

    if isinstance(p, Uniform):
        return lambda x: np.clip((x - p.low) / (p.high - p.low), 0.0, 1.0)
    if isinstance(p, Normal):
        return lambda x: ndtr((x - p.mean) / p.std)
    if isinstance(p, TruncNormal):
        # in log space on the side where the interval's tail probabilities are small, so far
        # tails (Phi(-39) underflows) and narrow intervals keep their precision
        from scipy.special import log_ndtr

        mirrored = p.lo > -p.hi
        a, b = (-p.hi, -p.lo) if mirrored else (p.lo, p.hi)
        la, lb = float(log_ndtr(a)), float(log_ndtr(b))
        denom = -np.expm1(la - lb)  # (Phi(b) - Phi(a)) / Phi(b)

        def below(z: np.ndarray) -> np.ndarray:  # P(a <= Z <= z) / P(a <= Z <= b)
            z = np.clip(z, a, b)
            got: np.ndarray = (np.expm1(log_ndtr(z) - lb) - np.expm1(la - lb)) / denom
            return got

        if mirrored:
            return lambda x: np.clip(1.0 - below(-(np.asarray(x, np.float64) - p.mean) / p.std), 0.0, 1.0)
        return lambda x: np.clip(below((np.asarray(x, np.float64) - p.mean) / p.std), 0.0, 1.0)
    raise ValueError(f"plan kind {p.kind!r} has no continuous distribution")


@dataclass(frozen=True)
class DistributionReport:
    """What :func:`distribution_report` measured."""

    n: int
    ks_statistic: float
    ks_pvalue: float
    mean: float
    expected_mean: float
    std: float
    expected_std: float
    mean_z: float
    var_z: float
    inside_bounds: bool

    @property
    def ok(self) -> bool:
        return (
            self.ks_pvalue >= ALPHA
            and abs(self.mean_z) <= MOMENT_Z
            and abs(self.var_z) <= MOMENT_Z
            and self.inside_bounds
        )


def distribution_report(
    sample: Any, scheme: str | Scheme, shape: int | Sequence[int], **overrides: Any
) -> DistributionReport:
    """KS test against the exact CDF plus mean/variance z-scores, for elementwise schemes."""
    from scipy import stats

    dims = normalize_shape(shape)
    layout = overrides.pop("layout", "in_out")
    _, p = _plan(scheme, dims, layout=layout, **overrides)
    x = to_numpy(sample).reshape(-1)
    n = x.size
    if not isinstance(p, Elementwise):
        raise ValueError(f"plan {p.kind!r} has no continuous distribution: use assert_distribution")
    if isinstance(p, Constant):
        ok = bool(np.all(x == p.value))
        return DistributionReport(
            n,
            0.0 if ok else 1.0,
            1.0 if ok else 0.0,
            float(x.mean()),
            p.value,
            float(x.std()),
            0.0,
            0.0,
            0.0,
            ok,
        )
    ks = stats.kstest(x, cdf(p))
    mu, sd = p.expectation(), p.sample_std(dims)
    m, v = float(x.mean()), float(x.var())
    m4 = float(np.mean((x - m) ** 4))
    mean_z = (m - mu) / (sd / math.sqrt(n))
    var_z = (v - sd * sd) / math.sqrt(max(m4 - v * v, 1e-300) / n)
    if isinstance(p, Uniform):
        tol = 2 * _eps(sample) * max(abs(p.low), abs(p.high))  # one rounding of the output dtype
        inside = bool(x.min() >= p.low - tol and x.max() <= p.high + tol)
    elif isinstance(p, TruncNormal):
        lo, hi = p.mean + p.lo * p.std, p.mean + p.hi * p.std
        tol = 2 * _eps(sample) * max(abs(lo), abs(hi))  # one rounding of the output dtype
        inside = bool(x.min() >= lo - tol and x.max() <= hi + tol)
    else:
        inside = bool(np.all(np.isfinite(x)))
    return DistributionReport(
        n, float(ks.statistic), float(ks.pvalue), m, mu, math.sqrt(v), sd, mean_z, var_z, inside
    )


def assert_distribution(
    sample: Any, scheme: str | Scheme, shape: int | Sequence[int], **overrides: Any
) -> DistributionReport:
    """Fail unless ``sample`` fits ``scheme`` at ``shape``.

    Elementwise schemes: a one-sample KS test against the exact CDF at significance
    ``ALPHA`` (1e-3), mean and variance within ``MOMENT_Z`` (5) standard errors, and every
    value inside the support. Structured schemes are checked exactly (orthogonality,
    identity/dirac structure, sparsity counts). ``layout=`` and fan overrides are accepted.
    """
    dims = normalize_shape(shape)
    x = to_numpy(sample)
    if x.shape != dims:
        raise AssertionError(f"sample has shape {x.shape}, expected {dims}")
    layout = overrides.get("layout", "in_out")
    _, p = _plan(scheme, dims, **overrides)
    if not isinstance(p, Elementwise):
        _assert_structure(x, p, dims, layout, max(1e-4, 4 * _eps(sample)))
        return distribution_report(np.zeros(1), "zeros", (1, 1))
    r = distribution_report(sample, scheme, dims, **overrides)
    if not r.ok:
        raise AssertionError(
            f"sample does not fit {scheme!r} at {dims}: KS p={r.ks_pvalue:.2e} (alpha {ALPHA}), "
            f"mean {r.mean:.5g} vs {r.expected_mean:.5g} (z={r.mean_z:.1f}), "
            f"std {r.std:.5g} vs {r.expected_std:.5g} (z={r.var_z:.1f}), "
            f"inside support: {r.inside_bounds}"
        )
    return r


def _assert_structure(x: np.ndarray, p: Plan, dims: tuple[int, ...], layout: str, rel: float = 1e-4) -> None:
    gain = p.gain if isinstance(p, Orthogonal | DeltaOrthogonal | Identity) else 1.0
    tol = rel * max(1.0, abs(gain))
    if isinstance(p, Orthogonal | DeltaOrthogonal):
        if isinstance(p, DeltaOrthogonal):
            spatial = dims[2:] if layout == "out_in" else dims[:-2]
            c = tuple(s // 2 for s in spatial)
            centre: tuple[Any, ...] = (slice(None), slice(None), *c) if layout == "out_in" else c
            m = x[centre].T if layout == "out_in" else x[centre]
            rest = np.abs(x).sum() - np.abs(m).sum()
            if rest > tol:
                raise AssertionError("delta_orthogonal has non-zeros off the spatial centre")
        else:
            out = dims[0] if layout == "out_in" else dims[-1]
            m = x.reshape(out, -1).T if layout == "out_in" else x.reshape(-1, out)
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        if not np.allclose(gram, gain**2 * np.eye(gram.shape[0]), atol=tol * 10):
            raise AssertionError(f"{p.kind}: the matrix is not gain * orthonormal")
        return
    if isinstance(p, Identity):
        if not np.array_equal(x, gain * np.eye(dims[0], dims[1])):
            raise AssertionError("identity: not gain times the identity matrix")
        return
    if isinstance(p, Dirac):
        if not np.array_equal(x, p.pattern(dims)):
            raise AssertionError("dirac: not the dirac kernel")
        return
    if isinstance(p, Sparse):
        from scipy import stats

        axis = 0 if layout == "out_in" else 1
        zeros = math.ceil(p.sparsity * dims[axis])
        counts = (x == 0).sum(axis=axis)
        if not np.all(counts == zeros):
            raise AssertionError(f"sparse: expected {zeros} zeros per column, got {counts}")
        nz = x[x != 0]
        if nz.size > 50 and stats.kstest(nz / p.std, "norm").pvalue < ALPHA:
            raise AssertionError("sparse: the non-zeros are not N(0, std^2)")
        return
    raise AssertionError(p.kind)  # pragma: no cover


def assert_same_stream(a: Any, b: Any, *, max_ulp: int = 2, min_identical: float = 0.99) -> float:
    """Fail unless two portable samples agree: every element within ``max_ulp`` ulps (of
    the narrower dtype) and at least ``min_identical`` of them bit-identical. Returns the
    identical fraction.

    >>> import varinit
    >>> a = varinit.init("he_normal", (64, 64), seed=1)
    >>> assert_same_stream(a, varinit.init("he_normal", (64, 64), seed=1))
    1.0
    """
    xa, xb = raw_numpy(a), raw_numpy(b)
    if xa.shape != xb.shape:
        raise AssertionError(f"shapes differ: {xa.shape} vs {xb.shape}")
    dt = np.result_type(xa.dtype, xb.dtype) if xa.dtype != xb.dtype else xa.dtype
    if dt.itemsize > min(xa.dtype.itemsize, xb.dtype.itemsize):
        dt = xa.dtype if xa.dtype.itemsize < xb.dtype.itemsize else xb.dtype
    ya, yb = xa.astype(dt), xb.astype(dt)
    same = float(np.mean(ya == yb)) if ya.size else 1.0
    ulp = np.spacing(np.maximum(np.abs(ya), np.abs(yb)).astype(dt))
    diff = np.abs(ya.astype(np.float64) - yb.astype(np.float64))
    worst = float(np.max(diff / ulp)) if ya.size else 0.0
    if worst > max_ulp or same < min_identical:
        raise AssertionError(
            f"portable streams differ: {same:.2%} bit-identical (need {min_identical:.0%}), "
            f"worst difference {worst:.1f} ulp (allowed {max_ulp})"
        )
    return same
