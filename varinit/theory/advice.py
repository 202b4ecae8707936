"""Which scheme suits an activation: the textbook pairings, then the table's ``activations`` column.

The textbook pairings (:data:`PAIRINGS`: Glorot for linear, tanh, logistic and softmax; He
for ReLU and its variants; LeCun for SELU; Kumar's rule for the sigmoid) decide first, and
the advice cites the rule. Any other activation gets the rows that list it, ranked by a
rule, not by a second table: shape-agnostic variance-scaling rows first, then the row
derived for the fewest activations (a rule made for this activation beats a general one),
then the Keras/JAX truncated normal before the plain normal and the uniform, then table
order. Activations that no row lists but that varinit can evaluate (or any callable)
get advice computed from their second moment (:func:`varinit.gain`, ``method="moment"``).
Every piece of advice carries a copy-paste call for NumPy, torch, Keras and JAX.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..core.table import Scheme, get, schemes

__all__ = ["PAIRINGS", "Advice", "Pairing", "calls", "pairing", "recommend", "slope"]


@dataclass(frozen=True)
class Pairing:
    """One textbook pairing: the rule for these activations, the row that implements it."""

    rule: str
    activations: tuple[str, ...]
    scheme: str
    citation: str


# The textbook pairing table. Names are matched as written (after case/"-"/" " folding), so
# "logistic" keeps Glorot & Bengio's pairing while "sigmoid" gets Kumar's; the note on both
# says where the two disagree.
PAIRINGS: tuple[Pairing, ...] = (
    Pairing(
        "Glorot",
        ("linear", "tanh", "logistic", "softmax"),
        "glorot_normal",
        "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural "
        "networks: Var(w) = 2 / (fan_in + fan_out) for units that are linear near 0",
    ),
    Pairing(
        "He",
        ("relu", "leaky_relu", "elu", "gelu", "silu", "swish", "mish"),
        "he_normal",
        "He et al. 2015, Delving Deep into Rectifiers: Var(w) = 2 / fan_in for ReLU and its variants",
    ),
    Pairing(
        "LeCun",
        ("selu",),
        "lecun_normal",
        "LeCun et al. 1998, Efficient BackProp; Klambauer et al. 2017, Self-Normalizing Neural "
        "Networks: Var(w) = 1 / fan_in",
    ),
    Pairing(
        "Kumar",
        ("sigmoid",),
        "kumar_sigmoid",
        "Kumar 2017, On weight initialization in deep neural networks: "
        "Var(w) = 1 / (fan_in g'(0)^2 (1 + g(0)^2)) = 12.8 / fan_in for the sigmoid",
    ),
)


def pairing(activation: str) -> Pairing | None:
    """The textbook pairing for an activation name, or ``None``.

    >>> from varinit.theory.advice import pairing
    >>> pairing("ReLU").rule, pairing("logistic").rule, pairing("sigmoid").rule
    ('He', 'Glorot', 'Kumar')
    """
    key = activation.strip().lower().replace("-", "_").replace(" ", "_")
    key = {"identity": "linear"}.get(key, key)
    return next((p for p in PAIRINGS if key in p.activations), None)


def _call_args(scheme: str, overrides: Mapping[str, float]) -> str:
    return "".join([f'"{scheme}"', *(f", {k}={v!r}" for k, v in overrides.items())])


def calls(scheme: str, overrides: Mapping[str, float] | None = None) -> dict[str, str]:
    """Copy-paste calls for ``scheme`` in NumPy, torch, Keras and JAX (each imports what it uses).

    >>> from varinit.theory.advice import calls
    >>> print(calls("he_normal")["torch"])
    import varinit.adapters.torch; varinit.adapters.torch.init_(layer.weight, "he_normal")
    """
    args = _call_args(scheme, overrides or {})
    return {
        "numpy": f'import varinit; w = varinit.init({args}, (fan_in, fan_out), layout="in_out", seed=0)'
        '  # an (n_out, n_in) weight: (fan_out, fan_in), layout="out_in"',
        "torch": f"import varinit.adapters.torch; varinit.adapters.torch.init_(layer.weight, {args})",
        "keras": "import keras, varinit.adapters.keras; layer = keras.layers.Dense(units, "
        f"kernel_initializer=varinit.adapters.keras.Initializer({args}))",
        "jax": "import jax, varinit.adapters.jax; w = varinit.adapters.jax.initializer("
        f"{args})(jax.random.key(0), (fan_in, fan_out))",
    }


# Why a scheme suits what it is listed for, keyed by the start of the scheme's name.
_REASONS: dict[str, str] = {
    "he_": "ReLU-like units such as {act} pass about half of the second moment of their input "
    "(ReLU exactly half), so Var(w) = 2 / fan_in doubles the variance to keep the "
    "pre-activation scale constant with depth (He et al. 2015){moment}",
    "kaiming_": "torch's spelling of He et al. 2015: Var(w) = gain^2 / fan_in with gain sqrt(2) "
    "for ReLU{moment}",
    "glorot_": "to first order {act} is linear near 0, where Var(w) = 2 / (fan_in + fan_out) "
    "balances the forward activations against the backward gradients "
    "(Glorot & Bengio 2010){moment}",
    "xavier_": "torch's untruncated Glorot & Bengio 2010: Var(w) = 2 / (fan_in + fan_out){moment}",
    "lecun_": "Var(w) = 1 / fan_in keeps the variance of a layer's output equal to the second "
    "moment of its input (LeCun et al. 1998){selu}{moment}",
    "kumar_": "Kumar 2017 linearizes the activation at 0: Var(w) = 1 / (fan_in g'(0)^2 (1 + g(0)^2)), "
    "12.8 / fan_in for the sigmoid (g(0) = 1/2, g'(0) = 1/4)",
    "tf1_": "TensorFlow 1's variance_scaling_initializer, a truncated normal with factor 2 for ReLU",
    "orthogonal": "an orthogonal matrix preserves norms exactly (Saxe et al. 2013); scale it by the "
    "activation's gain",
    "identity": "starts each layer as a pass-through (Le et al. 2015); square 2-D weights only",
    "dirac": "a convolution that passes its input through (Zagoruyko & Komodakis 2017)",
    "delta_orthogonal": "orthogonal at the kernel centre: dynamical isometry for deep tanh CNNs "
    "(Xiao et al. 2018)",
}

# What the table cannot say in a row: where sources disagree.
_NOTES: dict[str, str] = {
    "sigmoid": "The sources disagree. Glorot & Bengio (2010) derived Var(w) = 2 / (fan_in + fan_out) "
    "for activations that behave like the identity near 0; the sigmoid does not "
    "(g(0) = 1/2, g'(0) = 1/4), and Kumar (2017) gets Var(w) = 12.8 / fan_in from its "
    "slope at 0, 12.8 times Glorot's for square layers. Propagated exactly through a "
    "deep sigmoid MLP neither keeps the pre-activation variance at 1: Glorot settles "
    "near 0.27, Kumar near 4.4 (still in the sigmoid's responsive range); the exact "
    "second-moment rule, varinit.gain('sigmoid', method='moment')**2 = 3.41, holds it "
    "at 1. torch's gain table says 1 for the sigmoid.",
    "linear": "Without a nonlinearity every rule that preserves variance works: lecun_* keeps the "
    "forward signal exactly (Var(w) = 1 / fan_in), glorot_* compromises between the "
    "forward and backward passes when fan_in != fan_out.",
    "selu": "SELU's self-normalization (mean 0, variance 1 as a fixed point) holds only with "
    "Var(w) = 1 / fan_in; torch's gain table uses 3/4 instead, a choice made for its "
    "self-normalizing networks to keep gradients stable, which breaks the fixed point.",
    "tanh": "Glorot's variance is right for tanh's linear regime only: through many layers the "
    "signal decays slowly (like 1 / sqrt(depth)). torch's gain table multiplies the std "
    "by 5/3, which gives the deep network a stable nonzero variance instead.",
}


_LOGISTIC = (
    "the classical pairing: Glorot & Bengio (2010) trained logistic-sigmoid networks with "
    "Var(w) = 2 / (fan_in + fan_out), a rule derived for units that are linear near 0; the "
    "logistic sigmoid is only up to its offset g(0) = 1/2 and slope g'(0) = 1/4, which is why "
    "Kumar's rule (varinit.recommend('sigmoid')) differs"
)


@dataclass(frozen=True)
class Advice:
    """A recommendation: ``varinit.init(advice.scheme, shape, **advice.overrides)``.

    >>> import varinit
    >>> a = varinit.recommend("relu")
    >>> a.scheme, "he_uniform" in a.alternatives
    ('he_normal', True)
    """

    activation: str
    scheme: str
    reason: str
    alternatives: tuple[str, ...] = ()
    note: str = ""
    overrides: Mapping[str, float] = field(default_factory=dict)
    computed: bool = False  # True when no table row lists the activation
    rule: str = ""  # the textbook pairing this follows, with its citation ("" if none)
    stable: bool = True  # False: no weight variance keeps the signal's scale stable with depth
    warning: str = ""  # why, when not stable

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    @property
    def calls(self) -> dict[str, str]:
        """Copy-paste calls for NumPy, torch, Keras and JAX, keyed by framework."""
        return calls(self.scheme, self.overrides)

    def __str__(self) -> str:
        over = ", ".join(f"{k}={v:.6g}" for k, v in self.overrides.items())
        lines = [
            f"{self.activation}: {self.scheme}" + (f" ({over})" if over else ""),
            f"  why: {self.reason}",
        ]
        if self.alternatives:
            lines.append(f"  alternatives: {', '.join(self.alternatives)}")
        if self.note:
            lines.append(f"  note: {self.note}")
        if self.warning:
            lines.append(f"  warning: {self.warning}")
        if self.rule:
            lines.insert(1, f"  rule: {self.rule}")
        lines.append("  copy-paste:")
        lines.extend(f"    {fw:<6} {code}" for fw, code in self.calls.items())
        return "\n".join(lines)


def _table_activations() -> dict[str, list[Scheme]]:
    out: dict[str, list[Scheme]] = {}
    for name in schemes():
        s = get(name)
        for act in s.activations:
            if act != "any":
                out.setdefault(act, []).append(s)
    return out


_DIST_RANK = {"truncated_normal": 0, "normal": 1, "uniform": 2}


def _rank(order: list[str]) -> Callable[[Scheme], tuple[int, int, int, int]]:
    def key(s: Scheme) -> tuple[int, int, int, int]:
        dist = str(s.params.get("distribution", ""))
        return (
            s.family != "variance_scaling",
            len(s.activations),
            _DIST_RANK.get(dist, 3),
            order.index(s.name),
        )

    return key


def _reason(scheme: str, act: str) -> str:
    template = next((v for k, v in _REASONS.items() if scheme.startswith(k)), "listed for {act}")
    moment = ""
    try:
        from .gains import gain

        g = gain(act, method="moment")
        moment = f"; the exact second-moment rule gives Var(w) = {g * g:.3g} / fan_in for {act}"
    except ValueError:
        pass
    selu = (
        ("; for SELU it makes mean 0, variance 1 an attracting fixed point (Klambauer et al. 2017)")
        if act == "selu"
        else ""
    )
    return template.format(act=act, moment=moment if not scheme.startswith("kumar_") else "", selu=selu)


def slope(fn: Any) -> float:
    """The slope of the second-moment map at its fixed point: ``d log E[phi(sqrt(q) z)^2] / d log q`` at 1.

    With ``Var(w) = gain**2 / fan_in`` (the moment gain) the pre-activation second moment
    follows ``q -> E[phi(sqrt(q) z)^2] / E[phi(z)^2]``, whose fixed point is ``q = 1``. It is
    stable when this slope is at most 1 (ReLU and every unit homogeneous of degree 1: exactly
    1); above 1 a deviation grows by about that factor per layer (ReLU^2: 2, it explodes or
    vanishes doubly exponentially).

    >>> import numpy as np
    >>> from varinit.theory.advice import slope
    >>> round(slope(lambda z: np.maximum(z, 0)), 6), round(slope(lambda z: np.maximum(z, 0) ** 2), 6)
    (1.0, 2.0)
    """
    import math

    from .gains import second_moment

    h = 1e-3
    up = second_moment(lambda z: fn(math.sqrt(1 + h) * z))
    down = second_moment(lambda z: fn(math.sqrt(1 - h) * z))
    return (math.log(up) - math.log(down)) / (math.log1p(h) - math.log1p(-h))


def _instability(label: str, fn: Any) -> str:
    """A warning when no weight variance is stable for ``fn`` ("" when one is)."""
    try:
        s = slope(fn)
    except (ValueError, ZeroDivisionError, OverflowError):
        return ""
    if not s > 1.0 + 1e-3:  # nan (no finite moment) is reported by the gain itself
        return ""
    if s >= 1.5:
        return (
            f"no weight variance is stable for {label}: its second moment scales like q^{s:.3g} "
            f"(not homogeneous of degree 1), so the variance that holds E[z^2] = 1 is a repelling "
            f"fixed point and any deviation grows about {s:.3g}x per layer (the signal explodes or "
            "vanishes with depth); put a normalization after each such layer"
        )
    return (
        f"no weight variance is exactly stable for {label}: E[phi(sqrt(q) z)^2] / q grows with q, so "
        f"the fixed point E[z^2] = 1 that the moment gain sets repels (slope {s:.3g} > 1): a deviation "
        f"grows about {s:.3g}x per layer, slowly at first, and a smaller variance (He's) decays "
        "with depth; in a deep plain stack residual connections or normalization keep it in check"
    )


def _computed(label: str, fn: Any) -> Advice:
    from .gains import gain

    g = gain(fn, method="moment")
    factor = g * g
    if abs(factor - 2.0) <= 0.1 * 2.0:
        scheme, over = "he_normal", dict[str, float]()
    elif abs(factor - 1.0) <= 0.1:
        scheme, over = "lecun_normal", {}
    else:
        scheme, over = "variance_scaling", {"factor": factor}
    reason = (
        f"computed for {label}: E[phi(z)^2] = {1 / factor:.4g} for z ~ N(0, 1), so "
        f"Var(w) = {factor:.4g} / fan_in keeps the second moment of the pre-activations at 1 "
        f"(varinit.gain(..., method='moment') = {g:.4g})"
    )
    try:
        k = gain(fn, method="kumar")
        note = f"Kumar's rule (linearization at 0) gives Var(w) = {k * k:.4g} / fan_in instead."
    except ValueError as e:
        note = f"Kumar's rule does not apply here ({str(e).split(':')[0]})."
    warn = _instability(label, fn)
    return Advice(label, scheme, reason, (), note, over, computed=True, stable=not warn, warning=warn)


def recommend(activation: str | Callable[[Any], Any]) -> Advice:
    """The scheme for an activation, with the reason and the alternatives.

    Names come from the table's ``activations`` column; a callable (or a name varinit
    can evaluate but no row lists, such as ``softplus``) gets advice computed from
    ``E[phi(z)^2]``. An unknown name raises ``ValueError`` listing the known ones.

    >>> import varinit
    >>> varinit.recommend("tanh").scheme, varinit.recommend("selu").scheme
    ('glorot_normal', 'lecun_normal')
    >>> a = varinit.recommend(lambda z: z * (z > 0))      # a ReLU written by hand
    >>> a.scheme, a.computed
    ('he_normal', True)
    """
    from .activations import ACTIVATIONS, known, normalize
    from .activations import activation as named

    if callable(activation) and not isinstance(activation, str):
        label = getattr(activation, "__name__", "callable")
        return _computed(f"the callable {label}", activation)
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name (str) or a callable, got {activation!r}")
    table = _table_activations()
    paired = pairing(activation)
    key = normalize(activation)
    if key not in table:
        # aliases of the evaluator ("swish") may be what the table lists
        raw = activation.strip().lower().replace("-", "_").replace(" ", "_")
        key = raw if raw in table else key
    if key not in table:
        if key in ACTIVATIONS:
            return _computed(key, named(key))  # evaluable, but no table row lists it
        names = sorted(set(table) | set(known()))
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown activation {activation!r}{hint}; known: {', '.join(names)}")
    order = schemes()
    ranked = [s.name for s in sorted(table[key], key=_rank(order))]
    if paired is None:
        best, rule, label = ranked[0], "", key
    else:
        best, rule = paired.scheme, f"{paired.rule} ({paired.citation})"
        label = activation.strip().lower().replace("-", "_").replace(" ", "_")
        label = label if label in paired.activations else key
    alternatives = tuple(n for n in ranked if n != best)
    reason = _LOGISTIC if label == "logistic" else _reason(best, key)
    warn = _instability(label, named(key)) if key in ACTIVATIONS else ""
    return Advice(
        label, best, reason, alternatives, _NOTES.get(key, ""), rule=rule, stable=not warn, warning=warn
    )


def known_activations() -> list[str]:
    """Every activation name :func:`recommend` accepts."""
    from .activations import known

    return sorted(set(_table_activations()) | set(known()))
