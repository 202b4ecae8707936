"""From a scheme, a shape and a layout to plain numbers: what to draw, and its std."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._errors import SchemeError
from ._fans import fans
from ._gains import gain as table_gain
from ._ndtri import ndtr
from ._table import Scheme

__all__ = ["Plan", "resolve", "truncated_std"]

FAN_KEYS = ("in_axis", "out_axis", "batch_axis", "groups", "fan_in", "fan_out")


def truncated_std(lo: float, hi: float) -> float:
    """Std of N(0, 1) restricted to [lo, hi] (lo < hi, sigma units), from the exact moments."""
    z = _mass(lo, hi)
    m1 = (_phi(lo) - _phi(hi)) / z
    lo_t = lo * _phi(lo) if math.isfinite(lo) else 0.0
    hi_t = hi * _phi(hi) if math.isfinite(hi) else 0.0
    var = 1.0 + (lo_t - hi_t) / z - m1 * m1
    return math.sqrt(max(var, 0.0))


def truncated_mean(lo: float, hi: float) -> float:
    """Mean of N(0, 1) restricted to [lo, hi]."""
    return (_phi(lo) - _phi(hi)) / _mass(lo, hi)


def _phi(x: float) -> float:
    """The standard normal density (0 at infinity)."""
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def _mass(lo: float, hi: float) -> float:
    # probability of [lo, hi], computed on the side where it is not a difference of ~1s
    if lo >= 0:
        return ndtr(-lo) - ndtr(-hi)
    return ndtr(hi) - ndtr(lo)


@dataclass(frozen=True)
class Plan:
    """Resolved sampling recipe: ``kind`` plus the numbers it needs.

    kinds: "uniform" (low, high), "normal" (mean, std), "truncnorm" (mean, std, lo, hi in
    sigma units), "constant" (value), and the structured "orthogonal", "identity",
    "dirac", "delta_orthogonal", "sparse".
    """

    kind: str
    a: float = 0.0
    b: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf
    groups: int = 1
    layout: str = "in_out"

    @property
    def elementwise(self) -> bool:
        return self.kind in ("uniform", "normal", "truncnorm", "constant")

    def sample_std(self, shape: tuple[int, ...]) -> float:
        """The standard deviation of the values this plan produces for ``shape``."""
        k = self.kind
        if k == "uniform":
            return (self.b - self.a) / math.sqrt(12.0)
        if k == "normal":
            return self.std
        if k == "truncnorm":
            return self.std * truncated_std(self.lo, self.hi)
        if k == "constant":
            return 0.0
        n = math.prod(shape)
        if k == "sparse":
            rows = shape[0] if self.layout == "out_in" else shape[1]
            zeros = math.ceil(self.a * rows)
            return self.std * math.sqrt((rows - zeros) / rows)
        # structured: root-mean-square minus mean^2 of the deterministic structure
        if k == "orthogonal":
            out = shape[0] if self.layout == "out_in" else shape[-1]
            ms = self.b**2 * min(out, n // out) / n
            return math.sqrt(ms)
        if k in ("identity", "dirac", "delta_orthogonal"):
            ones = _structure_count(self, shape)
            g2 = self.b**2
            mean = self.b * ones / n if k != "delta_orthogonal" else 0.0
            return math.sqrt(max(g2 * ones / n - mean * mean, 0.0))
        raise AssertionError(k)  # pragma: no cover


def _structure_count(plan: Plan, shape: tuple[int, ...]) -> int:
    if plan.kind == "identity":
        return min(shape[0], shape[1])
    if plan.kind == "delta_orthogonal":
        cin, cout = (shape[1], shape[0]) if plan.layout == "out_in" else (shape[-2], shape[-1])
        return min(cin, cout)
    out, cin = (shape[0], shape[1]) if plan.layout == "out_in" else (shape[-1], shape[-2])
    return plan.groups * min(out // plan.groups, cin)


def resolve(scheme: Scheme, shape: tuple[int, ...], layout: str, fan_kw: dict[str, Any]) -> Plan:
    """The plan for ``scheme`` at ``shape``; fans are computed only if the family needs them."""
    p = scheme.params
    fam = scheme.family
    if fam in ("variance_scaling", "tf1_variance_scaling"):
        fi, fo = fans(shape, layout, **fan_kw)
        mode = str(p["mode"])
        n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2, "fan_geo_avg": math.sqrt(fi * fo)}[mode]
        if n == 0:
            raise SchemeError(f"{mode} is 0 for shape {shape}: the variance factor / {mode} is undefined")
        if fam == "tf1_variance_scaling":
            if p["uniform"]:
                lim = math.sqrt(3.0 * float(p["factor"]) / n)  # type: ignore[arg-type]
                return Plan("uniform", a=-lim, b=lim)
            sigma = math.sqrt(1.3 * float(p["factor"]) / n)  # type: ignore[arg-type]
            return Plan("truncnorm", std=sigma, lo=-2.0, hi=2.0)
        g = float(p["gain"])  # type: ignore[arg-type]
        if p["nonlinearity"] is not None:
            g *= table_gain(str(p["nonlinearity"]), float(p["a"]))  # type: ignore[arg-type]
        var = float(p["factor"]) * g * g / n  # type: ignore[arg-type]
        dist = p["distribution"]
        if dist == "uniform":
            lim = math.sqrt(3.0 * var)
            return Plan("uniform", a=-lim, b=lim)
        if dist == "normal":
            return Plan("normal", std=math.sqrt(var))
        t = float(p["truncation"])  # type: ignore[arg-type]
        sigma = math.sqrt(var)
        if p["corrected"]:
            sigma /= truncated_std(-t, t)
        return Plan("truncnorm", std=sigma, lo=-t, hi=t)
    if fam == "uniform":
        return Plan("uniform", a=float(p["low"]), b=float(p["high"]))  # type: ignore[arg-type]
    if fam == "normal":
        return Plan("normal", mean=float(p["mean"]), std=float(p["std"]))  # type: ignore[arg-type]
    if fam == "truncated_normal":
        t = float(p["truncation"])  # type: ignore[arg-type]
        return Plan("truncnorm", mean=float(p["mean"]), std=float(p["std"]), lo=-t, hi=t)  # type: ignore[arg-type]
    if fam == "trunc_normal":
        mean, std = float(p["mean"]), float(p["std"])  # type: ignore[arg-type]
        lo, hi = (float(p["a"]) - mean) / std, (float(p["b"]) - mean) / std  # type: ignore[arg-type]
        if _mass(lo, hi) <= 0.0:
            raise SchemeError(
                f"a={p['a']}, b={p['b']} lie {min(abs(lo), abs(hi)):.1f} std from mean={mean}: "
                "the interval has no probability mass in double precision; move the bounds closer"
            )
        return Plan("truncnorm", mean=mean, std=std, lo=lo, hi=hi)
    if fam == "constant":
        return Plan("constant", mean=float(p["value"]))  # type: ignore[arg-type]
    return _structured(scheme, shape, layout)


def _structured(scheme: Scheme, shape: tuple[int, ...], layout: str) -> Plan:
    fam, p, nd = scheme.family, scheme.params, len(shape)
    if fam == "orthogonal":
        if nd < 2:
            raise ValueError(f"orthogonal needs a shape with at least 2 dimensions, got {shape}")
        return Plan("orthogonal", b=float(p["gain"]), layout=layout)  # type: ignore[arg-type]
    if fam == "identity":
        if nd != 2:
            raise ValueError(f"identity needs a 2-D shape (a matrix), got {shape}")
        return Plan("identity", b=float(p["gain"]), layout=layout)  # type: ignore[arg-type]
    if fam in ("dirac", "delta_orthogonal"):
        if not 3 <= nd <= 5:
            raise ValueError(f"{fam} needs a 3-D to 5-D convolution kernel, got shape {shape}")
        if fam == "dirac":
            groups = int(p["groups"])  # type: ignore[arg-type]
            out = shape[0] if layout == "out_in" else shape[-1]
            if out % groups:
                raise ValueError(
                    f"groups={groups} does not divide the {out} output channels of shape {shape}"
                )
            return Plan("dirac", groups=groups, layout=layout, b=1.0)
        cin, cout = (shape[1], shape[0]) if layout == "out_in" else (shape[-2], shape[-1])
        if cin > cout:
            raise ValueError(
                f"delta_orthogonal needs in_channels <= out_channels, got {cin} > {cout} "
                f"for shape {shape} (layout {layout!r})"
            )
        return Plan("delta_orthogonal", b=float(p["gain"]), layout=layout)  # type: ignore[arg-type]
    if fam == "sparse":
        if nd != 2:
            raise ValueError(f"sparse needs a 2-D shape (a matrix), got {shape}")
        return Plan("sparse", a=float(p["sparsity"]), std=float(p["std"]), layout=layout)  # type: ignore[arg-type]
    raise AssertionError(fam)  # pragma: no cover
