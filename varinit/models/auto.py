"""``rules="auto"``: the scheme for each weight from the activation its output flows into.

Framework-neutral: the torch and Keras front doors find, for every weight, the activation
that consumes its output (``"linear"`` when the output only flows into other weights, a
residual stream, attention or the model's output) and ask :func:`choose` for the scheme.

- ReLU: He (Var(w) = 2 / fan_in); tanh: Glorot; SELU: LeCun; the sigmoid: Kumar's rule
  (the textbook pairings of :func:`varinit.recommend`);
- linear (attention, residual streams, readouts): LeCun, Var(w) = 1 / fan_in, which keeps
  the forward second moment exactly (Glorot's average of fan_in and fan_out would shrink
  the signal of every expanding layer, 4x in a transformer MLP, and grow it after the
  matching contraction);
- any other activation (GELU, SiLU, Mish, ELU, leaky ReLU, softplus, ...): the second-moment
  gain, Var(w) = gain**2 / fan_in with ``gain = varinit.gain(act, method="moment")``.

>>> from varinit.models.auto import choose
>>> choose("relu")[0], choose("tanh")[0], choose("selu")[0], choose("sigmoid")[0]
('he_normal', 'glorot_normal', 'lecun_normal', 'kumar_sigmoid')
>>> name, over = choose("gelu")
>>> name, round(over["factor"], 4)
('variance_scaling', 2.3517)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = [
    "DEFAULT",
    "NAMED",
    "bias_rule",
    "choose",
    "embedding_rule",
    "expand",
    "free_rule",
    "norm_rule",
    "unresolved",
    "wants_auto",
    "weight_key",
]

#: the activations with a textbook rule (the rest get the second-moment gain)
NAMED: dict[str, str] = {
    "relu": "he_normal",
    "tanh": "glorot_normal",
    "selu": "lecun_normal",
    "sigmoid": "kumar_sigmoid",
    "linear": "lecun_normal",
}

#: the scheme a weight gets when its activation could not be found
DEFAULT = "lecun_normal"

_WHY_NAMED = {
    "relu": "flows into ReLU: He et al. 2015, Var(w) = 2 / fan_in (ReLU passes half the second moment)",
    "tanh": "flows into tanh: Glorot & Bengio 2010, Var(w) = 2 / (fan_in + fan_out) (tanh is linear near 0)",
    "selu": "flows into SELU: LeCun, Var(w) = 1 / fan_in, the self-normalizing fixed point "
    "(Klambauer et al. 2017)",
    "sigmoid": "flows into the sigmoid: Kumar 2017, Var(w) = 12.8 / fan_in (slope 1/4 and offset 1/2 at 0)",
}


def _norm(name: str) -> str:
    from ..theory.activations import normalize

    return normalize(name)


def choose(activation: str, via: str = "", param: float | None = None) -> tuple[str, dict[str, Any]]:
    """``(scheme, overrides)`` for a weight whose output flows into ``activation``.

    ``via`` says how the activation was reached (``"through BatchNorm2d, add"``); it goes into
    the ``why`` override, the sentence the report prints. ``"linear"`` (or ``"attention"``)
    means no nonlinearity follows. ``param``: the activation's parameter (leaky ReLU's slope,
    ELU's alpha), which the second-moment gain takes into account.

    >>> choose("attention")[1]["why"].split(":")[0]
    'linear consumer (attention)'
    """
    key = _norm(activation)
    tail = f" ({via})" if via else ""
    if key in ("linear", "attention"):
        what = "attention" if key == "attention" else via or "other weights, a residual stream or the output"
        why = (
            f"linear consumer ({what}): LeCun, Var(w) = 1 / fan_in keeps the forward second moment "
            "exactly (Glorot would rescale it by 2 fan_in / (fan_in + fan_out))"
        )
        return NAMED["linear"], {"why": why}
    if key in NAMED and param is None:
        return NAMED[key], {"why": _WHY_NAMED[key] + tail}
    g, warning = _moment(key, param)
    label = key if param is None else f"{key}({param:g})"
    pstr = "" if param is None else f", {param:g}"
    why = (
        f"flows into {label}{tail}: second-moment gain {g:.4g} "
        f"(varinit.gain({key!r}{pstr}, method='moment')), "
        f"Var(w) = {g * g:.4g} / fan_in keeps E[z^2] = 1"
    )
    if warning:
        why += (
            f"; warning: no variance is stable for {key} in a deep plain stack (varinit.recommend({key!r}))"
        )
    return "variance_scaling", {"factor": g * g, "mode": "fan_in", "distribution": "normal", "why": why}


@lru_cache(maxsize=64)
def _moment(key: str, param: float | None) -> tuple[float, str]:
    """The second-moment gain and the instability warning (``""``: stable) of an activation."""
    from ..theory.activations import activation
    from ..theory.advice import _instability
    from ..theory.gains import gain

    return gain(key, param, method="moment"), _instability(key, activation(key, param))


def unresolved(reason: str) -> tuple[str, dict[str, Any]]:
    """The stated default for a weight whose activation could not be found.

    >>> unresolved("two activations: relu, tanh")[1]["why"].startswith("could not be resolved")
    True
    """
    return DEFAULT, {"why": f"could not be resolved ({reason}); default {DEFAULT}, Var(w) = 1 / fan_in"}


def recurrent_rule(local: str, hidden: int, *, forget: bool) -> tuple[str, dict[str, Any]]:
    """A recurrent layer's parameter (torch ``weight_ih``/``weight_hh``/``weight_hr``/biases,
    Keras ``kernel``/``recurrent_kernel``/``bias``): the recurrent init Keras makes its
    default. Input weights Glorot uniform over the stacked gates, recurrent weights
    orthogonal (Saxe et al. 2014: the hidden state keeps its norm through time), biases zero
    with an LSTM's forget gate at 1 (``forget``; Jozefowicz et al. 2015), the gates stacked
    input, forget, cell, output in both frameworks. A gated cell mixes sigmoid and tanh, so
    no single activation's gain applies.

    >>> recurrent_rule("weight_hh_l0", 64, forget=True)[0]
    'orthogonal'
    >>> recurrent_rule("bias_ih_l0", 64, forget=True)[1]["slices"]
    [{'start': 64, 'stop': 128, 'value': 1.0}]
    """
    cell = "its gates mix sigmoid and tanh, so no single activation's gain applies"
    if local.startswith(("weight_hh", "recurrent_kernel")):
        why = f"recurrent weights: orthogonal (Saxe et al. 2014), Keras' default; {cell}"
        return "orthogonal", {"why": why}
    if local.startswith("weight_hr"):
        return "glorot_uniform", {"why": "LSTM projection: Glorot uniform (a linear map of the hidden state)"}
    if local.startswith(("weight_ih", "kernel")):
        return "glorot_uniform", {"why": f"recurrent input weights: Glorot uniform, Keras' default; {cell}"}
    if forget and local.startswith(("bias_ih", "bias")) and not local.startswith("bias_hh"):
        why = "LSTM bias: zeros, the forget gate's 1 (Jozefowicz et al. 2015; Keras' unit_forget_bias)"
        return "zeros", {"slices": [{"start": hidden, "stop": 2 * hidden, "value": 1.0}], "why": why}
    return "zeros", {"why": "recurrent bias: zeros"}


def bias_rule() -> tuple[str, dict[str, Any]]:
    """Biases start at zero: they add no variance, so the weight's rule holds as derived."""
    return "zeros", {"why": "bias: zeros (adds no variance; the weight rules assume none)"}


def norm_rule(is_bias: bool) -> tuple[str, dict[str, Any]]:
    """A norm's scale is 1 and its shift 0: the norm starts as pure normalization."""
    if is_bias:
        return "zeros", {"why": "norm shift: zeros (the norm starts as pure normalization)"}
    return "ones", {"why": "norm scale: ones (the norm starts as pure normalization)"}


def embedding_rule(tied_to: str | None, dim: int) -> tuple[str, dict[str, Any]]:
    """An embedding table: std 1 (a lookup copies rows, so its output's variance is Var(w)).

    Tied to an output head, the table is also a linear readout of width ``dim``; then
    Var(w) = 1 / dim (LeCun) keeps the logits at unit variance, and the lookup's output has
    std 1 / sqrt(dim), which the norm that usually follows the lookup restores.

    >>> round(embedding_rule("head", 64)[1]["std"], 4)
    0.125
    """
    if tied_to is None:
        return "normal", {
            "std": 1.0,
            "why": "embedding: std 1, a lookup's output has Var(w), the unit signal",
        }
    return "normal", {
        "std": dim**-0.5,
        "why": f"embedding tied to the output head {tied_to}: Var(w) = 1 / {dim} (LeCun for the "
        "readout, unit-variance logits); the lookup's output then has std 1/sqrt(dim)",
    }


def free_rule(name: str) -> tuple[str, dict[str, Any]]:
    """A parameter no layer owns (a position embedding, a class token): std 0.02, stated.

    >>> free_rule("pos_embed")[1]["std"]
    0.02
    """
    return "normal", {
        "std": 0.02,
        "why": f"could not be resolved ({name} is used directly, not by a layer); default normal "
        "std 0.02 (BERT/ViT), small next to the signal it is added to",
    }


def weight_key(name: str) -> Any:
    """The rule target for parameter ``name``: its exact name (a later exact-name rule replaces it).

    >>> weight_key("fc.weight"), weight_key("weight")
    ('fc.weight', 'name:weight')
    """
    from .rules import ROLES

    if name in ROLES or name.startswith(("role:", "name:", "type:")):
        return f"name:{name}"
    return name


def expand(rules: Any, auto: Mapping[str, Any]) -> Any:
    """``rules`` with ``"auto"`` replaced by the per-parameter rules ``auto``.

    >>> expand("auto", {"w": "zeros"}), expand(["auto", {"b": "ones"}], {"w": "zeros"})
    ({'w': 'zeros'}, [{'w': 'zeros'}, {'b': 'ones'}])
    """
    if isinstance(rules, str):
        return dict(auto) if rules == "auto" else rules
    return [dict(auto) if isinstance(r, str) and r == "auto" else r for r in rules]


def wants_auto(rules: Any) -> bool:
    """Whether ``rules`` is ``"auto"`` or a list containing it.

    >>> wants_auto("auto"), wants_auto(["torch", "auto"]), wants_auto({"auto": "zeros"})
    (True, True, False)
    """
    if isinstance(rules, str):
        return rules == "auto"
    return isinstance(rules, list | tuple) and any(isinstance(r, str) and r == "auto" for r in rules)
