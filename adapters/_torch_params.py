"""torch parameters as the rules see them (``params_of``): kinds, roles, numbered blocks, fans.

>>> import torch
>>> from varinit.adapters._torch_params import params_of
>>> [p.name for p, _ in params_of(torch.nn.Linear(2, 3))]
['weight', 'bias']
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from typing import Any

import torch

from varinit.models.rules import RESIDUAL_OUT_NAMES, Param, kind_of, roles_of, structure

from . import _torch_fill as _tf

_BRANCH = re.compile(r"attention|attn|mlp|feedforward|feed_forward|ffn", re.IGNORECASE)
_BLOCK = re.compile(r"block|bottleneck|residual", re.IGNORECASE)


#: each layer class's names (its MRO) and kind, read once per class
_CLASSES: weakref.WeakKeyDictionary[type, tuple[tuple[str, ...], str | None]] = weakref.WeakKeyDictionary()


def _class(cls: type) -> tuple[tuple[str, ...], str | None]:
    hit = _CLASSES.get(cls)
    if hit is None:
        names = tuple(c.__name__ for c in cls.__mro__ if c is not object)
        _CLASSES[cls] = hit = (names, kind_of(names))
    return hit


def _types(m: torch.nn.Module) -> tuple[str, ...]:
    return _class(type(m))[0]


def _kind(m: torch.nn.Module) -> str | None:
    name = type(m).__name__
    if name == "Conv1D" and hasattr(m, "nf"):  # transformers' Conv1D is a dense layer, (in, out)
        return "dense"
    return _class(type(m))[1]


def _children_of_kind(m: torch.nn.Module, kinds: tuple[str, ...]) -> list[str]:
    return [n for n, c in m.named_children() if _kind(c) in kinds]


def params_of(module: torch.nn.Module) -> Iterator[tuple[Param, torch.Tensor]]:
    """Every parameter of ``module`` (tied ones once) as a rule ``Param``, with its tensor.

    >>> import torch
    >>> [p.roles for p, _ in params_of(torch.nn.LayerNorm(4))][0] == {"weight", "norm_scale"}
    True
    """

    owners = dict(module.named_modules())
    named = list(module.named_parameters())
    where = structure([n for n, _ in named])
    seen: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    named_outs: dict[int, list[str]] = {}
    role_sets: dict[tuple[str, int, str | None, bool, bool], frozenset[str]] = {}

    def children(m: torch.nn.Module, kinds: tuple[str, ...]) -> list[str]:
        # once per (module, kinds): a flat Sequential's siblings would be re-read per parameter
        key = (id(m), kinds)
        if key not in seen:
            seen[key] = _children_of_kind(m, kinds)
        return seen[key]

    def outs_of(m: torch.nn.Module) -> list[str]:
        # the dense/conv children with a known output name, also once per module
        if id(m) not in named_outs:
            named_outs[id(m)] = [c for c in children(m, ("dense", "conv")) if c in RESIDUAL_OUT_NAMES]
        return named_outs[id(m)]

    layers: dict[str, tuple[torch.nn.Module, str | None, tuple[str, ...], bool, bool, str]] = {}

    def layer_of(owner_name: str, layer: int | None) -> tuple[Any, ...]:
        # what every parameter of one layer shares, read once per layer
        hit = layers.get(owner_name)
        if hit is not None:
            return hit
        owner = owners[owner_name]
        parent_name, _, child = owner_name.rpartition(".")
        parent = owners.get(parent_name) if owner_name else None
        kind = _kind(owner)
        res_out = res_norm = False
        if parent is not None and kind in ("dense", "conv"):
            branch = _BRANCH.search(type(parent).__name__) is not None
            siblings = children(parent, ("dense", "conv"))
            # a branch whose output projection has a known name: that one, not its last layer
            # (torchtitan's FeedForward defines w1, w2, w3, and w2 is the output)
            last = not outs_of(parent) and siblings[-1:] == [child]
            named_out = child in RESIDUAL_OUT_NAMES and layer is not None
            res_out = (branch and last and layer is not None) or named_out
        if parent is not None and kind == "norm":
            convs = children(parent, ("conv",))
            norms = children(parent, ("norm",))
            res_norm = (
                bool(convs) and norms[-1:] == [child] and _BLOCK.search(type(parent).__name__) is not None
            )
        layout = "in_out" if type(owner).__name__ == "Conv1D" and hasattr(owner, "nf") else "out_in"
        layers[owner_name] = hit = (owner, kind, _types(owner), res_out, res_norm, layout)
        return hit

    for qual, tensor in named:
        owner_name, _, local = qual.rpartition(".")
        layer, depth = where.get(qual, (None, None))
        owner, kind, types, res_out, res_norm, layout = layer_of(owner_name, layer)
        shape = tuple(tensor.shape)
        fans = _tf._fan_overrides(owner, local, shape)
        if layout == "in_out" and len(shape) < 2 and local == "bias":
            w = getattr(owner, "weight", None)
            if isinstance(w, torch.Tensor) and w.dim() == 2:
                fans = {"fan_in": int(w.shape[0]), "fan_out": int(w.shape[1])}
        rk = (local, len(shape), kind, res_out, res_norm)
        roles = role_sets.get(rk)
        if roles is None:
            roles = role_sets[rk] = frozenset(
                roles_of(local, len(shape), kind, residual_out=res_out, residual_norm=res_norm)
            )
        p = Param(
            qual,
            shape,
            local=local,
            types=types,
            kind=kind,
            roles=roles,
            layer=layer,
            depth=depth,
            fans=fans,
            layout=layout,
            module=owner,
        )
        yield p, tensor
