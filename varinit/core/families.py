"""Families: how a scheme is parametrized and what it draws. One class a family.

A family owns its parameters (validators, defaults, key aliases), the checks between them,
and the plan it resolves to at a shape. Adding a family is one class here plus table rows.

>>> from varinit.core.families import FAMILIES
>>> fam = FAMILIES["uniform"]
>>> fam.plan({"low": -1.0, "high": 1.0}, (4, 4), "in_out", {})
Uniform(low=-1.0, high=1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from ..rng.ndtri import TAIL_LIMIT, truncated_std
from .errors import SchemeError
from .fans import as_int, fans
from .gains import GAIN_TABLE, table_gain
from .plans import (
    Constant,
    DeltaOrthogonal,
    Dirac,
    Identity,
    Normal,
    Orthogonal,
    Plan,
    Sparse,
    TruncNormal,
    Uniform,
)

__all__ = ["FAMILIES", "FAN_KEYS", "Family", "ParamValue"]

#: keywords that fix the fans rather than a scheme parameter (``groups`` may be both)
FAN_KEYS = ("in_axis", "out_axis", "batch_axis", "groups", "fan_in", "fan_out")

ParamValue = float | int | bool | str | None

MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
_DISTRIBUTION_ALIASES = {"untruncated_normal": "normal", "gaussian": "normal"}


# --------------------------------------------------------------------------- validators
# A validator takes (param name, value) and returns the normalized value or raises
# SchemeError naming the parameter, the value and what is allowed.


def _bad(param: str, value: object, allowed: str) -> SchemeError:
    text = repr(value)
    if len(text) > 80:  # a 400-digit number: name it without printing it all
        text = f"{text[:24]}...{text[-8:]} ({len(text)} characters)"
    return SchemeError(f"{param}={text} is not allowed: {param} must be {allowed}")


def _real(*, positive: bool = False, nonneg: bool = False) -> Callable[[str, Any], float]:
    allowed = "a finite number" + (" > 0" if positive else " >= 0" if nonneg else "")

    def check(param: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                import numpy as np

                if isinstance(value, np.floating | np.integer) and not isinstance(value, np.bool_):
                    value = float(value)
                else:
                    raise _bad(param, value, allowed)
            except ImportError:  # pragma: no cover - numpy is a dependency
                raise _bad(param, value, allowed) from None
        try:
            v = float(value)
        except OverflowError:  # an int beyond the float range (10**400)
            raise _bad(param, value, allowed) from None
        if not math.isfinite(v) or (positive and v <= 0) or (nonneg and v < 0):
            raise _bad(param, value, allowed)
        return v

    return check


def _fraction(param: str, value: Any) -> float:
    v = _real(nonneg=True)(param, value)
    if not v <= 1:
        raise _bad(param, value, "a number in [0, 1]")
    return v


def _pos_int(param: str, value: Any) -> int:
    v = as_int(value)
    if v is None or v < 1:
        raise _bad(param, value, "an integer >= 1")
    return v


def _flag(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(param, value, "true or false")
    return value


def _choice(options: Iterable[str], aliases: Mapping[str, str] | None = None) -> Callable[..., str]:
    opts = tuple(options)
    amap = dict(aliases or {})

    def check(param: str, value: Any) -> str:
        if isinstance(value, str):
            v = value.strip().lower().replace("-", "_")
            v = amap.get(v, v)
            if v in opts:
                return v
        raise _bad(param, value, "one of " + ", ".join(repr(o) for o in opts))

    return check


def _slope(param: str, value: Any) -> float | None:
    """The negative slope ``a``; None is torch's ``calculate_gain`` default (0.01 for leaky_relu)."""
    return None if value is None else _real()(param, value)


def _nonlinearity(param: str, value: Any) -> str | None:
    if value is None:
        return None
    return _choice(GAIN_TABLE)(param, value)


_TF1_MODES = ("fan_in", "fan_out", "fan_avg")


Validator = Callable[[str, Any], Any]
_gain = _real(nonneg=True)  # gain 0 gives zeros, as in torch


_FAMILIES: dict[str, Family] = {}


class Family:
    """One sampler recipe: parameters, defaults, checks, and the plan at a shape.

    Defining a subclass with a ``name`` registers it: a new family is this one class plus
    rows in the table that name it.
    """

    name: ClassVar[str]
    #: parameter -> validator (returns the normalized value or raises SchemeError)
    params: ClassVar[Mapping[str, Validator]]
    defaults: ClassVar[Mapping[str, ParamValue]]
    #: other spellings of parameter names (Keras' ``stddev``, torch's ``val``, ...)
    aliases: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def check(self, p: Mapping[str, Any]) -> None:
        """Constraints between parameters of one row (raise SchemeError)."""

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        """The plan of parameters ``p`` at ``shape`` (fans from ``layout`` and ``fan_kw``)."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if set(cls.defaults) != set(cls.params):
                raise TypeError(f"family {cls.name!r}: defaults and params must name the same keys")
            _FAMILIES[cls.name] = cls()

    def __repr__(self) -> str:
        return f"Family({self.name!r})"


def _fan(p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]) -> float:
    mode = str(p["mode"])
    if mode in ("fan_in", "fan_out") and fan_kw.get(mode) is not None and len(shape) < 2:
        # the one fan this mode needs is given: a 1-D (bias) or 0-D shape needs nothing else
        given = fans((1, 1), layout, fan_in=fan_kw.get("fan_in") or 1, fan_out=fan_kw.get("fan_out") or 1)
        return given[0] if mode == "fan_in" else given[1]
    fi, fo = fans(shape, layout, **fan_kw)
    n = {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2, "fan_geo_avg": math.sqrt(fi * fo)}[mode]
    if n == 0:
        raise SchemeError(f"{mode} is 0 for shape {shape}: the variance factor / {mode} is undefined")
    return n


class VarianceScaling(Family):
    """Var = factor * gain^2 / fan, drawn uniform, normal or truncated normal."""

    name = "variance_scaling"
    aliases = MappingProxyType({"scale": "factor", "negative_slope": "a"})
    params = MappingProxyType(
        {
            "factor": _real(positive=True),
            "gain": _gain,
            "nonlinearity": _nonlinearity,
            "a": _slope,
            "mode": _choice(MODES),
            "distribution": _choice(DISTRIBUTIONS, _DISTRIBUTION_ALIASES),
            "truncation": _real(positive=True),
            "corrected": _flag,
        }
    )
    defaults = MappingProxyType(
        {
            "factor": 1.0,
            "gain": 1.0,
            "nonlinearity": None,
            "a": 0.0,
            "mode": "fan_in",
            "distribution": "truncated_normal",
            "truncation": 2.0,
            "corrected": True,
        }
    )

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        n = _fan(p, shape, layout, fan_kw)
        g = float(p["gain"])
        if p["nonlinearity"] is not None:
            g *= table_gain(str(p["nonlinearity"]), None if p["a"] is None else float(p["a"]))
        var = float(p["factor"]) * g * g / n
        if p["distribution"] == "uniform":
            lim = math.sqrt(3.0 * var)
            return Uniform(-lim, lim)
        if p["distribution"] == "normal":
            return Normal(0.0, math.sqrt(var))
        t = float(p["truncation"])
        sigma = math.sqrt(var)
        if p["corrected"]:
            sigma /= truncated_std(-t, t)
        return TruncNormal(0.0, sigma, -t, t)


class TF1VarianceScaling(Family):
    """TF1's ``variance_scaling_initializer``: uniform limit sqrt(3 factor / n), or a normal
    truncated at 2 sigma with sigma = sqrt(1.3 factor / n)."""

    name = "tf1_variance_scaling"
    aliases = MappingProxyType({"scale": "factor"})
    params = MappingProxyType({"factor": _real(positive=True), "mode": _choice(_TF1_MODES), "uniform": _flag})
    defaults = MappingProxyType({"factor": 2.0, "mode": "fan_in", "uniform": False})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        n = _fan(p, shape, layout, fan_kw)
        if p["uniform"]:
            lim = math.sqrt(3.0 * float(p["factor"]) / n)
            return Uniform(-lim, lim)
        return TruncNormal(0.0, math.sqrt(1.3 * float(p["factor"]) / n), -2.0, 2.0)


class UniformFamily(Family):
    """U(low, high)."""

    name = "uniform"
    aliases = MappingProxyType({"minval": "low", "maxval": "high", "a": "low", "b": "high"})
    params = MappingProxyType({"low": _real(), "high": _real()})
    defaults = MappingProxyType({"low": -0.05, "high": 0.05})

    def check(self, p: Mapping[str, Any]) -> None:
        if not p["low"] <= p["high"]:
            raise SchemeError(f"low={p['low']!r}, high={p['high']!r} is not allowed: low must be <= high")

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        return Uniform(float(p["low"]), float(p["high"]))


class NormalFamily(Family):
    """N(mean, std^2)."""

    name = "normal"
    aliases = MappingProxyType({"stddev": "std"})
    params = MappingProxyType({"mean": _real(), "std": _real(nonneg=True)})
    defaults = MappingProxyType({"mean": 0.0, "std": 0.05})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        return Normal(float(p["mean"]), float(p["std"]))


class TruncatedNormal(Family):
    """Keras' ``TruncatedNormal``: N(mean, std^2) cut at +-truncation sigma (uncorrected)."""

    name = "truncated_normal"
    aliases = MappingProxyType({"stddev": "std"})
    params = MappingProxyType(
        {"mean": _real(), "std": _real(nonneg=True), "truncation": _real(positive=True)}
    )
    defaults = MappingProxyType({"mean": 0.0, "std": 0.05, "truncation": 2.0})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        t = float(p["truncation"])
        return TruncNormal(float(p["mean"]), float(p["std"]), -t, t)


class TruncNormalFamily(Family):
    """torch's ``trunc_normal_``: N(mean, std^2) restricted to absolute bounds [a, b]."""

    name = "trunc_normal"
    aliases = MappingProxyType({"stddev": "std"})
    params = MappingProxyType({"mean": _real(), "std": _real(positive=True), "a": _real(), "b": _real()})
    defaults = MappingProxyType({"mean": 0.0, "std": 1.0, "a": -2.0, "b": 2.0})

    def check(self, p: Mapping[str, Any]) -> None:
        if not p["a"] < p["b"]:
            raise SchemeError(f"a={p['a']!r}, b={p['b']!r} is not allowed: a must be < b")

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        mean, std = float(p["mean"]), float(p["std"])
        lo, hi = (float(p["a"]) - mean) / std, (float(p["b"]) - mean) / std
        near = 0.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))  # distance from the mean
        if not near <= TAIL_LIMIT:
            raise SchemeError(
                f"a={p['a']}, b={p['b']} lie {near:.1f} std from mean={mean}: a truncated normal is "
                f"drawn only where the interval comes within {TAIL_LIMIT:g} std of the mean "
                "(probability above Phi(-40) ~ 3.7e-350); move the bounds closer"
            )
        if not lo < hi:
            raise SchemeError(f"a={p['a']}, b={p['b']} are the same point at std={std}: widen [a, b]")
        return TruncNormal(mean, std, lo, hi)


class ConstantFamily(Family):
    """Every element equal to ``value``."""

    name = "constant"
    aliases = MappingProxyType({"val": "value", "fill_value": "value"})
    params = MappingProxyType({"value": _real()})
    defaults = MappingProxyType({"value": 0.0})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        return Constant(float(p["value"]))


def _need(ok: bool, name: str, what: str, shape: tuple[int, ...]) -> None:
    if not ok:
        raise ValueError(f"{name} needs {what}, got shape {shape}")


class OrthogonalFamily(Family):
    """gain times a (semi-)orthogonal matrix (Saxe et al. 2014)."""

    name = "orthogonal"
    aliases = MappingProxyType({"scale": "gain"})
    params = MappingProxyType({"gain": _real()})
    defaults = MappingProxyType({"gain": 1.0})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        _need(len(shape) >= 2, "orthogonal", "a shape with at least 2 dimensions", shape)
        return Orthogonal(float(p["gain"]), layout)


class IdentityFamily(Family):
    """gain times the identity matrix."""

    name = "identity"
    aliases = MappingProxyType({"scale": "gain"})
    params = MappingProxyType({"gain": _real()})
    defaults = MappingProxyType({"gain": 1.0})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        _need(len(shape) == 2, "identity", "a 2-D shape (a matrix)", shape)
        return Identity(float(p["gain"]), layout)


class DiracFamily(Family):
    """The identity convolution kernel (torch's ``dirac_``)."""

    name = "dirac"
    params = MappingProxyType({"groups": _pos_int})
    defaults = MappingProxyType({"groups": 1})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        _need(3 <= len(shape) <= 5, "dirac", "a 3-D to 5-D convolution kernel", shape)
        groups = int(p["groups"])
        out = shape[0] if layout == "out_in" else shape[-1]
        if out % groups:
            raise ValueError(f"groups={groups} does not divide the {out} output channels of shape {shape}")
        return Dirac(groups, layout)


class DeltaOrthogonalFamily(Family):
    """Orthogonal at the centre tap of a convolution kernel (Xiao et al. 2018)."""

    name = "delta_orthogonal"
    aliases = MappingProxyType({"scale": "gain"})
    params = MappingProxyType({"gain": _real()})
    defaults = MappingProxyType({"gain": 1.0})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        _need(3 <= len(shape) <= 5, "delta_orthogonal", "a 3-D to 5-D convolution kernel", shape)
        cin, cout = (shape[1], shape[0]) if layout == "out_in" else (shape[-2], shape[-1])
        if cin > cout:
            raise ValueError(
                f"delta_orthogonal needs in_channels <= out_channels, got {cin} > {cout} "
                f"for shape {shape} (layout {layout!r})"
            )
        return DeltaOrthogonal(float(p["gain"]), layout)


class SparseFamily(Family):
    """N(0, std^2) with a fraction ``sparsity`` of each column zero (Martens 2010)."""

    name = "sparse"
    aliases = MappingProxyType({"stddev": "std"})
    params = MappingProxyType({"sparsity": _fraction, "std": _real(nonneg=True)})
    defaults = MappingProxyType({"sparsity": 0.1, "std": 0.01})

    def plan(
        self, p: Mapping[str, Any], shape: tuple[int, ...], layout: str, fan_kw: Mapping[str, Any]
    ) -> Plan:
        _need(len(shape) == 2, "sparse", "a 2-D shape (a matrix)", shape)
        return Sparse(float(p["sparsity"]), float(p["std"]), layout)


#: every family by name, in definition order (a live view: subclasses register themselves)
FAMILIES: Mapping[str, Family] = MappingProxyType(_FAMILIES)
