"""Activations as NumPy functions with their derivatives (for gains and propagation).

Every entry is elementwise, numerically stable (no overflow warnings for any finite
input) and carries its derivative, so :func:`varinit.propagate` can backpropagate
without a framework.

>>> import numpy as np
>>> from varinit.theory.activations import activation
>>> relu = activation("relu")
>>> relu(np.array([-1.0, 2.0])).tolist(), relu.grad(np.array([-1.0, 2.0])).tolist()
([0.0, 2.0], [0.0, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ACTIVATIONS", "Activation", "activation", "from_callable", "normalize"]

Array = Any  # a NumPy array
Fn = Callable[[Array, float], Array]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(z: Array) -> Array:
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z: Array) -> Array:
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _expm1_neg(z: Array) -> Array:
    """expm1(min(z, 0)): the negative branch of ELU-like units, finite everywhere."""
    return np.expm1(np.minimum(z, 0))


def _phi_cdf(z: Array) -> Array:
    return (0.5 * (1.0 + _erf(np.asarray(z, dtype=np.float64) / math.sqrt(2.0)))).astype(
        np.result_type(z, np.float32)
    )


def _phi_pdf(z: Array) -> Array:
    return np.exp(-0.5 * np.minimum(z * z, 1e4)) / _SQRT_2PI


def _relu2(z: Array) -> Array:
    r = np.maximum(z, 0)
    with np.errstate(over="ignore"):  # inf past sqrt(float max), as z**2 is
        return r * r


def _mish(z: Array) -> Array:
    return z * np.tanh(_softplus(z))


def _mish_grad(z: Array) -> Array:
    t = np.tanh(_softplus(z))
    return t + z * (1 - t * t) * _sigmoid(z)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation: value, derivative, default parameter, kink at 0."""

    name: str
    fn: Fn
    dfn: Fn
    default: float | None = None  # the parameter (leaky_relu slope, elu alpha), if any
    kink: bool = False  # not differentiable at 0 (for the default parameter)
    param: float | None = None

    def __call__(self, z: Array) -> Array:
        return self.fn(z, self._p())

    def grad(self, z: Array) -> Array:
        """The derivative at ``z`` (the right derivative at a kink)."""
        return self.dfn(z, self._p())

    def _p(self) -> float:
        p = self.param if self.param is not None else self.default
        return 0.0 if p is None else float(p)

    def with_param(self, param: float | None) -> Activation:
        """A copy with its parameter set (``None`` keeps the default)."""
        if param is None:
            return self
        if self.default is None:
            raise ValueError(f"param={param!r} is not allowed: activation {self.name!r} takes none")
        if isinstance(param, bool) or not isinstance(param, int | float) or not math.isfinite(param):
            raise ValueError(f"param={param!r} is not allowed: {self.name}'s parameter must be a number")
        kink = self.kink
        if self.name in ("leaky_relu", "elu"):  # slope on the left: param (times e^0 for elu)
            kink = float(param) != 1.0
        return Activation(self.name, self.fn, self.dfn, self.default, kink, float(param))


def _entries() -> dict[str, Activation]:
    a = [
        Activation("linear", lambda z, p: z, lambda z, p: np.ones_like(z)),
        Activation("relu", lambda z, p: np.maximum(z, 0), lambda z, p: (z > 0).astype(z.dtype), kink=True),
        Activation(
            "leaky_relu",
            lambda z, p: np.where(z > 0, z, p * z),
            lambda z, p: np.where(z > 0, 1.0, p).astype(z.dtype),
            default=0.01,
            kink=True,
        ),
        Activation(
            "elu",
            lambda z, p: np.where(z > 0, z, p * _expm1_neg(z)),
            lambda z, p: np.where(z > 0, 1.0, p * np.exp(np.minimum(z, 0))).astype(z.dtype),
            default=1.0,
        ),
        Activation(
            "selu",
            lambda z, p: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * _expm1_neg(z)),
            lambda z, p: (
                _SELU_SCALE * np.where(z > 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(z, 0))).astype(z.dtype)
            ),
            kink=True,
        ),
        Activation("gelu", lambda z, p: z * _phi_cdf(z), lambda z, p: _phi_cdf(z) + z * _phi_pdf(z)),
        Activation(
            "silu", lambda z, p: z * _sigmoid(z), lambda z, p: _sigmoid(z) * (1 + z * (1 - _sigmoid(z)))
        ),
        Activation("mish", lambda z, p: _mish(z), lambda z, p: _mish_grad(z)),
        Activation("relu2", lambda z, p: _relu2(z), lambda z, p: 2 * np.maximum(z, 0)),
        Activation("tanh", lambda z, p: np.tanh(z), lambda z, p: 1 - np.tanh(z) ** 2),
        Activation("sigmoid", lambda z, p: _sigmoid(z), lambda z, p: _sigmoid(z) * (1 - _sigmoid(z))),
        Activation("softplus", lambda z, p: _softplus(z), lambda z, p: _sigmoid(z)),
        Activation("softsign", lambda z, p: z / (1 + np.abs(z)), lambda z, p: 1 / (1 + np.abs(z)) ** 2),
    ]
    return {x.name: x for x in a}


#: The named activations, by canonical name.
ACTIVATIONS: dict[str, Activation] = _entries()
_ALIASES = {
    "identity": "linear",
    "swish": "silu",
    "logistic": "sigmoid",
    "squared_relu": "relu2",
    "relu_squared": "relu2",
}


def normalize(name: str) -> str:
    """Canonical spelling: lower case, ``-`` and spaces read as ``_``, aliases resolved."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(key, key)


def known() -> list[str]:
    """Every name :func:`activation` accepts (canonical names and aliases)."""
    return sorted({*ACTIVATIONS, *_ALIASES})


def activation(name: str, param: float | None = None) -> Activation:
    """The named activation with its parameter; unknown names list the known ones."""
    key = normalize(name)
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(known())}")
    return ACTIVATIONS[key].with_param(param)


def numeric_derivative(f: Callable[[Array], Array], z: Array, h: float = 1e-4) -> Array:
    """Five-point central difference of an elementwise ``f`` (error O(h^4))."""
    z = np.asarray(z, dtype=np.float64)
    return (-f(z + 2 * h) + 8 * f(z + h) - 8 * f(z - h) + f(z - 2 * h)) / (12 * h)


def from_callable(f: Callable[[Array], Array]) -> Activation:
    """Wrap an elementwise NumPy callable; its derivative is taken numerically."""
    name = getattr(f, "__name__", type(f).__name__)

    def fn(z: Array, p: float) -> Array:
        out = np.asarray(f(z))
        if out.shape != np.shape(z):
            raise ValueError(
                f"activation {name!r} is not elementwise: input shape {np.shape(z)} gave {out.shape}"
            )
        return out

    def dfn(z: Array, p: float) -> Array:
        return numeric_derivative(lambda t: fn(t, p), z).astype(np.result_type(z, np.float32))

    return Activation(name, fn, dfn)
