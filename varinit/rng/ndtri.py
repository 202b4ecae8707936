"""The inverse of the standard normal CDF, in Array API operations only.

Wichura's AS 241 (Applied Statistics 37(3), 1988): rational approximations in
``q = p - 1/2`` near the centre and in ``r = sqrt(-log(min(p, 1-p)))`` in the tails.
PPND7 (relative error about 1e-7) serves float32 and narrower; PPND16 (about 1e-16)
serves float64. The tails are computed from ``min(p, 1 - p)``, so a probability as small
as the dtype allows maps to its exact quantile: nothing is lost past a few sigma, unlike
an ``erfinv(2p - 1)`` formulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

Fence = Callable[[Any], Any] | None
#: False: pure array expressions; True: boolean-mask updates; "index": integer-index updates
Eager = bool | Literal["index"]

__all__ = ["log", "mass", "ndtr", "ndtri", "truncated_mean", "truncated_std"]

_SPLIT1, _SPLIT2, _CONST1, _CONST2 = 0.425, 5.0, 0.180625, 1.6

# (numerator, denominator) coefficients, lowest degree first; denominators start at 1.
_PPND7 = (
    (
        (3.3871327179, 50.434271938, 159.29113202, 59.109374720),
        (1.0, 17.895169469, 78.757757664, 67.187563600),
    ),
    ((1.4234372777, 2.7568153900, 1.3067284816, 0.17023821103), (1.0, 0.73700164250, 0.12021132975)),
    ((6.6579051150, 3.0812263860, 0.42868294337, 0.017337203997), (1.0, 0.24197894225, 0.012258202635)),
)
_PPND16 = (
    (
        (
            3.3871328727963666080,
            133.14166789178437745,
            1971.5909503065514427,
            13731.693765509461125,
            45921.953931549871457,
            67265.770927008700853,
            33430.575583588128105,
            2509.0809287301226727,
        ),
        (
            1.0,
            42.313330701600911252,
            687.18700749205790830,
            5394.1960214247511077,
            21213.794301586595867,
            39307.895800092710610,
            28729.085735721942674,
            5226.4952788528545610,
        ),
    ),
    (
        (
            1.42343711074968357734,
            4.63033784615654529590,
            5.76949722146069140550,
            3.64784832476320460504,
            1.27045825245236838258,
            0.241780725177450611770,
            0.0227238449892691845833,
            7.74545014278341407640e-4,
        ),
        (
            1.0,
            2.05319162663775882187,
            1.67638483018380384940,
            0.689767334985100004550,
            0.148103976427480074590,
            0.0151986665636164571966,
            5.47593808499534494600e-4,
            1.05075007164441684324e-9,
        ),
    ),
    (
        (
            6.65790464350110377720,
            5.46378491116411436990,
            1.78482653991729133580,
            0.296560571828504891230,
            0.0265321895265761230930,
            0.00124266094738807843860,
            2.71155556874348757815e-5,
            2.01033439929228813265e-7,
        ),
        (
            1.0,
            0.599832206555887937690,
            0.136929880922735805310,
            0.0148753612908506148525,
            7.86869131145613259100e-4,
            1.84631831751005468180e-5,
            1.42151175831644588870e-7,
            2.04426310338993978564e-15,
        ),
    ),
)


def _same(x: Any) -> Any:
    return x


def _horner(x: Any, coef: tuple[float, ...], f: Callable[[Any], Any] = _same) -> Any:
    acc = f(x * coef[-1]) + coef[-2]
    for c in reversed(coef[:-2]):
        acc = f(acc * x) + c
    return acc


def _ratio(x: Any, pair: tuple[tuple[float, ...], tuple[float, ...]], f: Callable[[Any], Any] = _same) -> Any:
    return _horner(x, pair[0], f) / _horner(x, pair[1], f)


def log(xp: Any, x: Any, xmin: float, fence: Fence = None) -> Any:
    """Natural log of ``x`` in (0, 1], ``x >= xmin``, from exactly rounded operations only.

    Frameworks' own ``log`` kernels differ in the last bit (NumPy, XLA and TensorFlow
    disagree on about 4 % of float32 inputs), which would make the portable stream's tails
    backend-dependent. Here ``x = m * 2**e`` is split by exact scalings by powers of two,
    ``m`` is brought into [1/sqrt(2), sqrt(2)), and ``log(m) = 2 atanh((m - 1) / (m + 1))``
    is summed as a short series; every step is an IEEE add, multiply, divide or select, so
    every backend computes the same bits. Accuracy: about 1 ulp. ``fence`` (see
    :func:`ndtri`) keeps a compiler from fusing a product into the following sum.
    """
    f = fence or _same
    f64 = x.dtype == xp.float64
    frexp = getattr(xp, "frexp", None)  # not in the standard; exact where a namespace has it
    if frexp is not None:
        m, ei = frexp(x)  # m in [0.5, 1): the same (m, e) the exact scalings below reach
        e = xp.astype(ei, x.dtype)
    else:
        m, e = x, xp.zeros_like(x)
        top = 512 if f64 else 64  # the largest power the dtype holds; twice covers subnormals
        for i, k in enumerate([top] + [top >> j for j in range(top.bit_length())]):
            need = xmin < 2.0**-k if i == 0 else 2.0**-k >= xmin / 2
            if need or k == 1:  # a step that no element can need is skipped
                small = m < 2.0**-k
                m = xp.where(small, m * 2.0**k, m)
                e = xp.where(small, e - k, e)
    # now m in [0.5, 1]; one more halving of the interval around 1
    low = m < 0.7071067811865476
    m = xp.where(low, m * 2.0, m)
    e = xp.where(low, e - 1.0, e)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    terms = 12 if f64 else 5
    poly = 1.0 / (2 * terms - 1)
    for j in range(terms - 2, -1, -1):
        poly = f(poly * z) + 1.0 / (2 * j + 1)
    # ln 2 = hi + lo, hi with few enough bits that e * hi is exact
    hi, lo = (
        (6.93147180369123816490e-01, 1.90821492927058770002e-10)
        if f64
        else (0.693145751953125, 1.428606765330187e-06)
    )
    return e * hi + (f(e * lo) + f(2.0 * s * poly))


def _tail(xp: Any, p: Any, coefs: Any, far: bool, pmin: float, fence: Fence) -> Any:
    f = fence or _same
    r = xp.sqrt(-log(xp, xp.minimum(p, 1.0 - p), pmin, fence))
    tail = _ratio(r - _CONST2, coefs[1], f)
    if far:
        tail = xp.where(r <= _SPLIT2, tail, _ratio(r - _SPLIT2, coefs[2], f))
    return xp.where(p < 0.5, -tail, tail)  # p < 1/2 exactly when q = p - 1/2 < 0


def ndtri(
    xp: Any,
    p: Any,
    *,
    pmin: float = 0.0,
    pmax: float = 1.0,
    eager: Eager = False,
    fence: Fence = None,
) -> Any:
    """Quantile of N(0, 1) at probabilities ``p`` (a real floating array in (0, 1)).

    ``pmin``/``pmax`` bound ``p`` when the caller knows them, so branches that no
    element can reach are not evaluated. ``eager=True`` (mutable arrays, data-dependent
    shapes allowed) evaluates the tail formula only where it applies, updating through a
    boolean mask (the standard) or, with ``eager="index"``, through integer indices (NumPy,
    torch: half the cost, as the mask is scanned once). ``fence`` is applied
    to every product that feeds a sum; a backend whose compiler would fuse ``a * b + c``
    into one fused multiply-add (XLA) passes an identity it cannot see through, so every
    backend rounds the same way.

    >>> import numpy as np
    >>> from varinit.rng.ndtri import ndtri
    >>> [round(float(v), 6) for v in ndtri(np, np.asarray([0.025, 0.5, 0.975]))]
    [-1.959964, 0.0, 1.959964]
    """
    coefs = _PPND16 if p.dtype == xp.float64 else _PPND7
    q = p - 0.5
    f = fence or _same
    central = q * _ratio(_CONST1 - f(q * q), coefs[0], f)
    tail_lo = min(pmin, 1.0 - pmax)
    if tail_lo >= 0.5 - _SPLIT1:  # every p is in the central region
        return central
    far = tail_lo <= 0.0 or math.sqrt(-math.log(tail_lo)) > _SPLIT2
    in_tail = xp.abs(q) > _SPLIT1
    if eager:  # arrays are mutable and shapes may depend on data: evaluate tails only there
        if eager == "index":
            at = xp.nonzero(in_tail)
            if at[0].shape[0]:
                central[at] = _tail(xp, p[at], coefs, far, tail_lo, fence)
        elif xp.any(in_tail):
            central[in_tail] = _tail(xp, p[in_tail], coefs, far, tail_lo, fence)
        return central
    return xp.where(in_tail, _tail(xp, p, coefs, far, tail_lo, fence), central)


def ndtr(x: float) -> float:
    """The standard normal CDF of a Python float, accurate in both tails.

    >>> from varinit.rng.ndtri import ndtr
    >>> round(ndtr(-2.0), 8)
    0.02275013
    """
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _phi(x: float) -> float:
    """The standard normal density (0 at infinity)."""
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def mass(lo: float, hi: float) -> float:
    """Probability of [lo, hi] under N(0, 1), on the side where it is not a difference of ~1s."""
    if lo >= 0:
        return ndtr(-lo) - ndtr(-hi)
    return ndtr(hi) - ndtr(lo)


def truncated_std(lo: float, hi: float) -> float:
    """Std of N(0, 1) restricted to [lo, hi] (lo < hi, sigma units), from the exact moments.

    >>> round(truncated_std(-2.0, 2.0), 8)
    0.87962566
    """
    z = mass(lo, hi)
    m1 = (_phi(lo) - _phi(hi)) / z
    lo_t = lo * _phi(lo) if math.isfinite(lo) else 0.0
    hi_t = hi * _phi(hi) if math.isfinite(hi) else 0.0
    var = 1.0 + (lo_t - hi_t) / z - m1 * m1
    return math.sqrt(max(var, 0.0))


def truncated_mean(lo: float, hi: float) -> float:
    """Mean of N(0, 1) restricted to [lo, hi]."""
    return (_phi(lo) - _phi(hi)) / mass(lo, hi)
