"""A parameter as the rules see it: ``Param``, its roles and kind, the numbered blocks in
qualified names, and the errors rules raise (``varinit.models.rules`` matches rules to these).

>>> from varinit.models.params import Param
>>> sorted(Param("ln.weight", (8,), types=("LayerNorm",)).roles)
['norm_scale', 'weight']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RESIDUAL_OUT_NAMES",
    "ROLES",
    "Param",
    "RuleError",
    "RuleTypeError",
    "fans_of",
    "kind_of",
    "roles_of",
    "structure",
]

ROLES = (
    "weight",
    "bias",
    "embedding",
    "norm_scale",
    "norm_bias",
    "residual_out",
    "residual_norm",
    "dense",
    "conv",
)

#: output projections of residual branches, by the names model codebases give them
RESIDUAL_OUT_NAMES = (
    "c_proj",
    "out_proj",
    "o_proj",
    "wo",
    "w2",
    "down_proj",
    "fc2",
    "proj",
    "linear2",
    "dense_4h_to_h",
    "output_dense",
)


class RuleError(ValueError):
    """A rule that cannot be applied: names the rule, the parameter and the fix."""


class RuleTypeError(RuleError, TypeError):
    """A rule target or scheme of the wrong type (both a ``ValueError`` and a ``TypeError``)."""


@dataclass(frozen=True)
class Param:
    """One parameter as the rules see it (front doors build these).

    ``types``: the owning layer's class names, most derived first (its MRO); ``kind``:
    ``"dense"``, ``"conv"``, ``"embedding"``, ``"norm"`` or ``None`` (default: from
    ``types``); ``roles``: default from ``local``, the rank and ``kind``; ``layer``/``depth``:
    the index of the repeated block the parameter is in and how many there are, where
    known; ``fans``: fan keywords the framework's layout does not show (grouped convs,
    biases); ``module``: the framework's layer object, for type rules and callables.

    >>> p = Param("h.0.attn.c_proj.weight", (8, 8), types=("Conv1D",))
    >>> p.local, p.kind, sorted(p.roles)
    ('weight', 'conv', ['conv', 'weight'])
    """

    name: str
    shape: tuple[int, ...]
    local: str = ""
    types: tuple[str, ...] = ()
    kind: str | None = None
    roles: frozenset[str] = frozenset()
    layer: int | None = None
    depth: int | None = None
    fans: Mapping[str, Any] = field(default_factory=dict)
    layout: str = "in_out"
    module: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.local:
            object.__setattr__(self, "local", self.name.rpartition(".")[2])
        if self.kind is None and self.types:
            object.__setattr__(self, "kind", kind_of(self.types))
        if not self.roles:
            object.__setattr__(self, "roles", roles_of(self.local, len(self.shape), self.kind))

    @property
    def ndim(self) -> int:
        return len(self.shape)


def fans_of(p: Param) -> tuple[float | None, float | None]:
    """``(fan_in, fan_out)`` of a parameter (its ``fans``, else from its shape and layout).

    >>> fans_of(Param("w", (3, 5)))
    (3.0, 5.0)
    """
    from ..core.fans import fans

    if "fan_in" in p.fans and "fan_out" in p.fans:
        return float(p.fans["fan_in"]), float(p.fans["fan_out"])
    if p.ndim < 2:
        return None, None
    try:
        fi, fo = fans(p.shape, p.layout)
    except (ValueError, TypeError):
        return None, None
    return float(fi), float(fo)


# --------------------------------------------------------------------------- roles and structure

_NORM = re.compile(r"norm", re.IGNORECASE)
_EMBED = re.compile(r"embed", re.IGNORECASE)
_BIAS_LOCAL = ("bias", "beta")
_SCALE_LOCAL = ("weight", "scale", "gamma")


def roles_of(
    local: str,
    ndim: int,
    kind: str | None,
    *,
    residual_out: bool = False,
    residual_norm: bool = False,
) -> frozenset[str]:
    """The roles of a parameter named ``local`` in a layer of ``kind``.

    >>> sorted(roles_of("weight", 1, "norm"))
    ['norm_scale', 'weight']
    """
    is_bias = local in _BIAS_LOCAL or local.endswith("_bias") or local.startswith("bias_")  # bias_ih_l0
    roles = {"bias"} if is_bias else {"weight"}
    if kind == "norm":
        roles.add("norm_bias" if is_bias else "norm_scale")
        if residual_norm and not is_bias:
            roles.add("residual_norm")
    elif not is_bias:
        if kind == "embedding" or (kind is None and _EMBED.search(local) and ndim >= 2):
            roles.add("embedding")
        elif kind in ("dense", "conv"):
            roles.add(kind)
            if residual_out:
                roles.add("residual_out")
    return frozenset(roles)


def kind_of(types: Sequence[str]) -> str | None:
    """A layer's kind from its class names (most derived first).

    >>> kind_of(("Conv2d", "_ConvNd", "Module")), kind_of(("LayerNormalization",))
    ('conv', 'norm')
    """
    for t in types:
        low = t.lower().lstrip("_")
        if _NORM.search(low):
            return "norm"
        if _EMBED.search(low):
            return "embedding"
        if low in ("linear", "dense", "einsumdense", "lazylinear", "nonDynamicallyQuantizableLinear".lower()):
            return "dense"
        if re.match(r"(depthwise|separable)?conv", low) or low.endswith("convnd") or low == "baseconv":
            return "conv"
    return None


_BLOCK = re.compile(r"^(?:(?P<base>.+)_)?(?P<i>\d+)$")


def structure(names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """``name -> (layer, depth)`` from the numbered blocks in qualified names.

    The first path component that is a number (``h.3.attn``) or ends in ``_<number>``
    (``layers_3``) is the layer index; depth is one more than the largest sibling index.

    >>> structure(["h.0.w", "h.1.w", "h.2.w", "ln.w"])["h.1.w"]
    (1, 3)
    """
    found: dict[str, tuple[str, int]] = {}
    groups: dict[str, set[int]] = {}
    for n in names:
        parts = n.split(".")
        for k, part in enumerate(parts[:-1]):
            m = _BLOCK.match(part)
            if m is None:
                continue
            prefix = ".".join(parts[:k]) + "/" + (m.group("base") or "")
            idx = int(m.group("i"))
            found[n] = (prefix, idx)
            groups.setdefault(prefix, set()).add(idx)
            break
    # a bare number is a container's index (torch's ModuleList); 'Dense_0' needs a sibling
    depth = {pre: max(idx) + 1 for pre, idx in groups.items() if len(idx) > 1 or pre.endswith("/")}
    return {n: (i, depth[pre]) for n, (pre, i) in found.items() if pre in depth}
