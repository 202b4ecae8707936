"""Plans: what to draw, as typed values. A family resolves a scheme at a shape to one of these.

Elementwise plans (:class:`Uniform`, :class:`Normal`, :class:`TruncNormal`, :class:`Constant`)
map open-interval uniforms to values one element at a time, so any block of a tensor can be
drawn on its own. Structured plans (:class:`Orthogonal`, :class:`Identity`, :class:`Dirac`,
:class:`DeltaOrthogonal`, :class:`Sparse`) need the whole tensor.

>>> from varinit.core.plans import Uniform
>>> p = Uniform(-1.0, 1.0)
>>> round(p.sample_std((10, 10)), 6), p.elementwise
(0.57735, True)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar, Protocol

import numpy as np

from ..rng.ndtri import (
    Eager,
    Fence,
    _same,
    log,
    ndtri,
    ndtri_central,
    ndtri_log,
    truncated_mean,
    truncated_std,
    truncation,
)

__all__ = [
    "Constant",
    "DeltaOrthogonal",
    "Dirac",
    "Elementwise",
    "Identity",
    "Normal",
    "Orthogonal",
    "Plan",
    "Sparse",
    "Structured",
    "TruncNormal",
    "Uniform",
    "standard_normal",
]


class Plan:
    """A resolved sampling recipe: plain numbers, hashable, independent of any backend."""

    #: a short name for reports and JSON (never used for dispatch)
    kind: ClassVar[str] = ""
    #: each element depends on its own uniform only (so blocks can be drawn alone)
    elementwise: ClassVar[bool] = False

    def sample_std(self, shape: tuple[int, ...]) -> float:
        """The standard deviation of the values this plan produces for ``shape``."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for people, e.g. ``N(0, 0.0625^2) truncated to [-2, 2] sigma``."""
        raise NotImplementedError

    def reach(self, wide: bool) -> float:
        """The largest magnitude a value can take (computed in float64 when ``wide``, else in
        float32): the request refuses a plan whose values would overflow the dtype."""
        return 0.0


class Elementwise(Plan):
    """A plan whose values are a transform of one uniform each."""

    elementwise = True

    def transform(self, xp: Any, u: Any, *, eager: Eager = False, fence: Fence = None) -> Any:
        """Map open-interval uniforms ``u`` to values (``eager``/``fence``: see ``ndtri``)."""
        raise NotImplementedError

    #: False for a plan with no randomness (drawn as a fill, without uniforms)
    random: ClassVar[bool] = True

    def expectation(self) -> float:
        """The mean of the values."""
        raise NotImplementedError

    def kernel_args(self) -> tuple[str, tuple[float, ...]] | None:
        """``(kind, params)`` for the compiled kernel (``varinit.rng.kernel``), or None."""
        return None


@functools.cache
def _zmax(wide: bool) -> float:
    """The largest |z| the portable normal reaches: the quantile of the smallest uniform."""
    return -NormalDist().inv_cdf(2.0**-54 if wide else 2.0**-25)


def standard_normal(xp: Any, u: Any, eager: Eager = False, fence: Fence = None) -> Any:
    """N(0, 1) quantiles of open-interval uniforms (bounded by the dtype's grid)."""
    tiny = 2.0**-54 if u.dtype == xp.float64 else 2.0**-25
    return ndtri(xp, u, pmin=tiny, pmax=1.0 - tiny, eager=eager, fence=fence)


def _shift(x: Any, mean: float) -> Any:
    """``x + mean``, skipped for a zero mean (a full pass over the data for nothing)."""
    return x + mean if mean != 0.0 else x


@dataclass(frozen=True)
class Uniform(Elementwise):
    """U(low, high)."""

    low: float
    high: float
    kind: ClassVar[str] = "uniform"

    def transform(self, xp: Any, u: Any, *, eager: Eager = False, fence: Fence = None) -> Any:
        return (fence or _same)((self.high - self.low) * u) + self.low

    def kernel_args(self) -> tuple[str, tuple[float, ...]] | None:
        return self.kind, (self.low, self.high)

    def sample_std(self, shape: tuple[int, ...]) -> float:
        return (self.high - self.low) / math.sqrt(12.0)

    def expectation(self) -> float:
        return (self.low + self.high) / 2

    def describe(self) -> str:
        return f"U({self.low:.6g}, {self.high:.6g})"

    def reach(self, wide: bool) -> float:
        return max(abs(self.low), abs(self.high), abs(self.high - self.low))


@dataclass(frozen=True)
class Normal(Elementwise):
    """N(mean, std^2)."""

    mean: float = 0.0
    std: float = 1.0
    kind: ClassVar[str] = "normal"

    def transform(self, xp: Any, u: Any, *, eager: Eager = False, fence: Fence = None) -> Any:
        f = fence or _same
        return _shift(f(self.std * standard_normal(xp, u, eager, fence)), self.mean)

    def kernel_args(self) -> tuple[str, tuple[float, ...]] | None:
        return self.kind, (self.mean, self.std)

    def sample_std(self, shape: tuple[int, ...]) -> float:
        return self.std

    def expectation(self) -> float:
        return self.mean

    def describe(self) -> str:
        return f"N({self.mean:.6g}, {self.std:.6g}^2)"

    def reach(self, wide: bool) -> float:
        return abs(self.mean) + self.std * _zmax(wide)


@dataclass(frozen=True)
class TruncNormal(Elementwise):
    """N(mean, std^2) restricted to [mean + lo * std, mean + hi * std] (lo, hi in sigma units).

    Drawn by the inverse CDF, in log space in the far tails and around 1/2 for narrow
    central intervals (``varinit.rng.ndtri.truncation``; docs/randomness.md).
    """

    mean: float = 0.0
    std: float = 1.0
    lo: float = -2.0
    hi: float = 2.0
    kind: ClassVar[str] = "truncnorm"

    def transform(self, xp: Any, u: Any, *, eager: Eager = False, fence: Fence = None) -> Any:
        f = fence or _same
        wide = u.dtype == xp.float64
        # on the side whose tail probabilities are small; the regime (linear p, narrow
        # q = p - 1/2, or log p) is chosen so that no float meets a subnormal or a coarse grid
        t = truncation(self.lo, self.hi, wide)
        x = f(f(t.a * u) + t.b)  # fenced twice: the sum must not be re-associated
        if t.regime == "log":
            tiny = 2.0**-54 if wide else 2.0**-25  # x >= u
            z = ndtri_log(xp, f(t.lb + f(log(xp, x, tiny, fence))), fence=fence)
        elif t.regime == "narrow":
            z = ndtri_central(xp, x, fence=fence)
        else:
            z = ndtri(xp, x, pmin=t.b, pmax=t.pmax, eager=eager, fence=fence)
        z = xp.clip(z, t.lo, t.hi)
        if t.flip:
            z = -z
        return _shift(f(self.std * z), self.mean)

    def kernel_args(self) -> tuple[str, tuple[float, ...]] | None:
        return self.kind, (self.mean, self.std, self.lo, self.hi)

    def sample_std(self, shape: tuple[int, ...]) -> float:
        return self.std * truncated_std(self.lo, self.hi)

    def expectation(self) -> float:
        return self.mean + self.std * truncated_mean(self.lo, self.hi)

    def describe(self) -> str:
        lo, hi = self.mean + self.lo * self.std, self.mean + self.hi * self.std
        return f"N({self.mean:.6g}, {self.std:.6g}^2) truncated to [{lo:.6g}, {hi:.6g}]"

    def reach(self, wide: bool) -> float:
        return abs(self.mean) + self.std * min(max(abs(self.lo), abs(self.hi)), _zmax(wide))


@dataclass(frozen=True)
class Constant(Elementwise):
    """Every element equal to ``value`` (no randomness)."""

    value: float = 0.0
    kind: ClassVar[str] = "constant"
    random: ClassVar[bool] = False

    def transform(self, xp: Any, u: Any, *, eager: Eager = False, fence: Fence = None) -> Any:
        return xp.zeros_like(u) + self.value

    def sample_std(self, shape: tuple[int, ...]) -> float:
        return 0.0

    def expectation(self) -> float:
        return self.value

    def describe(self) -> str:
        return f"constant {self.value:.6g}"

    def reach(self, wide: bool) -> float:
        return abs(self.value)


class Builder(Protocol):
    """What a structured plan needs from the executor to build its tensor."""

    xp: Any

    def orthogonal(self, rows: int, cols: int) -> Any: ...
    def uniforms(self, shape: tuple[int, ...]) -> Any: ...
    def constant(self, a: np.ndarray) -> Any: ...
    def fence(self, x: Any) -> Any: ...


class Structured(Plan):
    """A plan whose tensor is built whole (a QR, a ranking, a fixed pattern)."""

    def build(self, b: Builder, shape: tuple[int, ...]) -> Any:
        """The whole tensor of ``shape``."""
        raise NotImplementedError

    def reach(self, wide: bool) -> float:
        # entries of an orthogonal matrix or a pattern are at most 1 in magnitude, times gain
        gain: float | None = getattr(self, "gain", None)
        std: float | None = getattr(self, "std", None)
        if gain is not None:
            return abs(gain)
        return std * _zmax(wide) if std is not None else 1.0


def _out_in(layout: str) -> bool:
    return layout == "out_in"


@dataclass(frozen=True)
class Orthogonal(Structured):
    """gain times a (semi-)orthogonal matrix over (out, everything else)."""

    gain: float = 1.0
    layout: str = "in_out"
    kind: ClassVar[str] = "orthogonal"

    def _rows_cols(self, shape: tuple[int, ...]) -> tuple[int, int]:
        n = math.prod(shape)
        out = shape[0] if _out_in(self.layout) else shape[-1]
        return (out, n // out) if _out_in(self.layout) else (n // out, out)

    def build(self, b: Builder, shape: tuple[int, ...]) -> Any:
        if math.prod(shape) == 0:
            return b.constant(np.zeros(shape))
        rows, cols = self._rows_cols(shape)
        return b.xp.reshape(self.gain * b.orthogonal(rows, cols), shape)

    def sample_std(self, shape: tuple[int, ...]) -> float:
        n = math.prod(shape)
        rows, cols = self._rows_cols(shape)
        return math.sqrt(self.gain**2 * min(rows, cols) / n)

    def describe(self) -> str:
        return f"{self.gain:.6g} x (semi-)orthogonal"


@dataclass(frozen=True)
class Identity(Structured):
    """gain times the (rectangular) identity matrix."""

    gain: float = 1.0
    layout: str = "in_out"
    kind: ClassVar[str] = "identity"

    def build(self, b: Builder, shape: tuple[int, ...]) -> Any:
        return b.constant(self.gain * np.eye(shape[0], shape[1]))

    def sample_std(self, shape: tuple[int, ...]) -> float:
        return _pattern_std(self.gain, min(shape[0], shape[1]), math.prod(shape), centred=True)

    def describe(self) -> str:
        return f"{self.gain:.6g} x identity"


@dataclass(frozen=True)
class Dirac(Structured):
    """The identity convolution kernel, per group."""

    groups: int = 1
    layout: str = "in_out"
    kind: ClassVar[str] = "dirac"

    def pattern(self, shape: tuple[int, ...]) -> np.ndarray:
        """The kernel as a NumPy array (ones at each group's centre taps)."""
        out_in = _out_in(self.layout)
        w = np.zeros(shape)
        out, cin = (shape[0], shape[1]) if out_in else (shape[-1], shape[-2])
        spatial = shape[2:] if out_in else shape[:-2]
        centre = tuple(s // 2 for s in spatial)
        per = out // self.groups
        for g in range(self.groups):
            for d in range(min(per, cin)):
                idx = (g * per + d, d, *centre) if out_in else (*centre, d, g * per + d)
                w[idx] = 1.0
        return w

    def build(self, b: Builder, shape: tuple[int, ...]) -> Any:
        return b.constant(self.pattern(shape))

    def sample_std(self, shape: tuple[int, ...]) -> float:
        out, cin = (shape[0], shape[1]) if _out_in(self.layout) else (shape[-1], shape[-2])
        ones = self.groups * min(out // self.groups, cin)
        return _pattern_std(1.0, ones, math.prod(shape), centred=True)

    def describe(self) -> str:
        return f"dirac (identity kernel), groups={self.groups}"


@dataclass(frozen=True)
class DeltaOrthogonal(Structured):
    """gain times an orthogonal (in, out) matrix at the kernel's centre tap, zeros elsewhere."""

    gain: float = 1.0
    layout: str = "in_out"
    kind: ClassVar[str] = "delta_orthogonal"

    def _channels(self, shape: tuple[int, ...]) -> tuple[int, int]:
        return (shape[1], shape[0]) if _out_in(self.layout) else (shape[-2], shape[-1])

    def build(self, b: Builder, shape: tuple[int, ...]) -> Any:
        xp = b.xp
        cin, cout = self._channels(shape)
        q = self.gain * b.orthogonal(cin, cout)  # (in, out)
        spatial = shape[2:] if _out_in(self.layout) else shape[:-2]
        centre = np.zeros(spatial)
        centre[tuple((s - 1) // 2 for s in spatial)] = 1.0  # JAX's centre, for even sizes too
        q = xp.reshape(q, (1,) * len(spatial) + (cin, cout))  # ranks equal: no implicit promotion
        w = b.constant(centre.reshape((*spatial, 1, 1))) * q  # (*k, in, out)
        if _out_in(self.layout):
            nk = len(spatial)
            w = xp.permute_dims(w, (nk + 1, nk, *range(nk)))
        return w

    def sample_std(self, shape: tuple[int, ...]) -> float:
        return _pattern_std(self.gain, min(self._channels(shape)), math.prod(shape), centred=False)

    def describe(self) -> str:
        return f"{self.gain:.6g} x orthogonal at the centre tap"


@dataclass(frozen=True)
class Sparse(Structured):
    """N(0, std^2) with ``ceil(sparsity * rows)`` zeros per column."""

    sparsity: float = 0.1
    std: float = 0.01
    layout: str = "in_out"
    kind: ClassVar[str] = "sparse"

    def _rows_axis(self) -> int:
        return 0 if _out_in(self.layout) else 1

    def build(self, b: Builder, shape: tuple[int, ...]) -> Any:
        xp = b.xp
        axis = self._rows_axis()
        # one draw of 2 x shape uniforms: the first half gives the values, the second the
        # positions of the zeros (two draws from a JAX key would repeat the same bits)
        u = b.uniforms((2, *shape))
        values, ranks_u = standard_normal(xp, u[0, ...], fence=b.fence), u[1, ...]
        zeros = math.ceil(self.sparsity * shape[axis])
        rank = xp.argsort(xp.argsort(ranks_u, axis=axis), axis=axis)
        return xp.where(rank < zeros, xp.zeros_like(values), self.std * values)

    def sample_std(self, shape: tuple[int, ...]) -> float:
        rows = shape[self._rows_axis()]
        zeros = math.ceil(self.sparsity * rows)
        return self.std * math.sqrt((rows - zeros) / rows)

    def describe(self) -> str:
        return f"N(0, {self.std:.6g}^2), sparsity {self.sparsity:.6g} per column"


def _pattern_std(gain: float, ones: int, n: int, *, centred: bool) -> float:
    """Std of a tensor of ``n`` entries holding ``ones`` entries of size ``gain`` (others 0)."""
    mean = gain * ones / n if centred else 0.0
    return math.sqrt(max(gain**2 * ones / n - mean * mean, 0.0))
