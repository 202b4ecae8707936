"""Keras variables as the rules see them (``params_of``): names, kinds, roles, fans.

>>> import keras
>>> from varinit.adapters._keras_params import params_of
>>> layer = keras.layers.Dense(3)
>>> layer.build((None, 2))
>>> [p.local for p, _ in params_of(layer)]
['kernel', 'bias']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import keras

from varinit.models.rules import RESIDUAL_OUT_NAMES, Param, fans_of, kind_of, roles_of, structure

_BRANCH = re.compile(r"attention|attn|mlp|feedforward|feed_forward|ffn", re.IGNORECASE)
#: a residual block (its last norm, after a conv, is the one ResNet zero-initializes)
_BLOCK = re.compile(r"block|bottleneck|residual", re.IGNORECASE)
_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _types(layer: Any) -> tuple[str, ...]:
    return tuple(c.__name__ for c in type(layer).__mro__ if c is not object)


def _kind(layer: Any) -> str | None:
    return kind_of(_types(layer))


def _children(layer: Any) -> list[Any]:
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _walk(root: Any) -> list[Any]:
    """``root`` and its sublayers, each once, depth first in the order they were set."""
    out: list[Any] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(reversed(_children(layer)))
    return out


def _own(layer: Any) -> list[Any]:
    """The variables ``layer`` itself made trainable (a frozen layer's too, not its
    sublayers'; BatchNorm's moving statistics and seed-generator states are not here)."""
    return list(getattr(layer, "_trainable_variables", ()))


def _snake(name: str) -> str:
    """Keras' ``to_snake_case``: the prefix of a layer's automatic name."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _auto_named(layer: Any) -> bool:
    """A name of the form Keras gives an unnamed layer (``dense``, ``dense_3``): its number
    counts the layers made before it in the process, not a block's index."""
    return re.fullmatch(rf"{re.escape(_snake(type(layer).__name__))}(_\d+)?", layer.name) is not None


def _not_built(layer: Any, root: Any) -> str | None:
    if layer is root:
        return None if root.built else f"model {root.name!r} ({type(root).__name__}) is not built"
    if layer.built or getattr(type(layer).build, "_is_default", False):
        return None  # a layer without a build() of its own makes no variables
    return f"layer {layer.name!r} ({type(layer).__name__}) of model {root.name!r} is not built"


def _einsum_fans(layer: Any, shape: tuple[int, ...]) -> dict[str, int]:
    """An ``EinsumDense`` kernel's fans, from its equation as Keras reads it: output axes
    are the kernel's letters in the output, input axes the others found in the input."""
    eq = str(layer.equation).replace("...", "")
    lhs, out = eq.split("->")
    inp, w = lhs.split(",")
    out_axes = [i for i, c in enumerate(w) if c in out]
    in_axes = [i for i, c in enumerate(w) if c not in out and c in inp]
    return {
        "fan_in": max(1, math.prod(shape[a] for a in in_axes)),
        "fan_out": max(1, math.prod(shape[a] for a in out_axes)),
    }


def _kernel_fans(layer: Any) -> dict[str, Any]:
    """Fans of ``layer``'s kernel (its variable ``kernel``, else its first of rank >= 2)
    where Keras' ``in_out`` layout does not show them (``EinsumDense``), else from it."""
    own = _own(layer)
    kernels = [v for v in own if _local(v) == "kernel"] or [v for v in own if len(v.shape) >= 2]
    if not kernels:
        return {}
    shape = tuple(int(d) for d in kernels[0].shape)
    if hasattr(layer, "equation") and "EinsumDense" in _types(layer):
        return _einsum_fans(layer, shape)
    fi, fo = fans_of(Param("kernel", shape))
    return {} if fi is None or fo is None else {"fan_in": int(fi), "fan_out": int(fo)}


def _local(v: Any) -> str:
    return str(v.path).rpartition("/")[2]


def params_of(model: Any) -> Iterator[tuple[Param, Any]]:
    """Every trainable variable of a built Keras ``model`` (or layer) as a rule ``Param``.

    Non-trainable variables (BatchNormalization's moving mean and variance, seed-generator
    states) are not parameters and are not listed; a frozen layer's (``trainable=False``)
    are. Raises ``ValueError`` for an unbuilt model or layer, and for two variables that
    would share a name.

    >>> import keras
    >>> bn = keras.layers.BatchNormalization(name="bn")
    >>> bn.build((None, 4))
    >>> [(p.name, sorted(p.roles)) for p, _ in params_of(bn)]
    [('gamma', ['norm_scale', 'weight']), ('beta', ['bias', 'norm_bias'])]
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"init_model takes a Keras model or layer, got {type(model).__name__}")
    layers = _walk(model)
    for layer in layers:
        why = _not_built(layer, model)
        if why is not None:
            raise ValueError(
                f"{why}: it has no variables yet. Build it first: model.build(input_shape), or call "
                "the model once on a batch (model(x)); a sublayer the model's call() never reaches "
                "needs layer.build(input_shape)"
            )
    kinds = {id(layer): _kind(layer) for layer in layers}
    kids = {id(layer): _children(layer) for layer in layers}
    parents: dict[int, Any] = {}
    for layer in layers:
        for child in kids[id(layer)]:
            parents.setdefault(id(child), layer)
    last: dict[tuple[int, str], Any] = {}  # (parent, kind) -> its last child of that kind
    for layer in layers:
        for child in kids[id(layer)]:
            k = kinds[id(child)]
            if k is not None:
                last[id(layer), "proj" if k in ("dense", "conv") else k] = child
    owned: list[tuple[str, Any, Any]] = []
    seen: dict[int, str] = {}
    names: dict[str, str] = {}
    prefix = f"{model.name}/"
    for layer in layers:
        for v in _own(layer):
            if id(v) in seen:
                continue
            path = str(v.path)
            name = (path.removeprefix(prefix) if path.startswith(prefix) else path).replace("/", ".")
            if name in names:
                raise ValueError(
                    f"variables {names[name]!r} and {path!r} would both be named {name!r} (their "
                    f"layers share the name {layer.name!r}); give the layers distinct names "
                    "(name=...), so that each parameter has its own name and stream"
                )
            seen[id(v)] = names[name] = path
            owned.append((name, layer, v))
    # numbered blocks (block_3, h_0) give layer and depth; Keras' automatic names do not
    auto = {layer.name for layer in layers if layer is not model and _auto_named(layer)}
    shaped = [
        ".".join(c.replace("_", "#") if c in auto else c for c in name.split(".")) for name, _, _ in owned
    ]
    found = structure(shaped)
    where = {n: found[s] for (n, _, _), s in zip(owned, shaped, strict=True) if s in found}
    fans_cache: dict[int, dict[str, Any]] = {}
    for name, owner, v in owned:
        local = _local(v)
        shape = tuple(int(d) for d in v.shape)
        kind = kinds[id(owner)]
        layer_i, depth = where.get(name, (None, None))
        parent = parents.get(id(owner))
        res_out = res_norm = False
        if parent is not None and kind in ("dense", "conv") and layer_i is not None:
            branch = _BRANCH.search(type(parent).__name__) is not None and last[id(parent), "proj"] is owner
            attn_out = getattr(parent, "_output_dense", None) is owner  # MultiHeadAttention's
            res_out = branch or attn_out or owner.name in RESIDUAL_OUT_NAMES
        if parent is not None and kind == "norm":
            res_norm = (
                last[id(parent), "norm"] is owner
                and any(kinds[id(c)] == "conv" for c in kids[id(parent)])
                and _BLOCK.search(type(parent).__name__) is not None
            )
        if id(owner) not in fans_cache:
            fans_cache[id(owner)] = _kernel_fans(owner)
        kfans = fans_cache[id(owner)]
        roles = roles_of(local, len(shape), kind, residual_out=res_out, residual_norm=res_norm)
        if "bias" in roles:  # a bias (MultiHeadAttention's are 2-D): its layer's kernel fans
            fans = kfans if kind != "norm" else {}
        else:  # the kernel: fans only where the layout does not give them
            fans = kfans if "EinsumDense" in _types(owner) and local == "kernel" else {}
        p = Param(
            name,
            shape,
            local=local,
            types=_types(owner),
            kind=kind,
            roles=roles,
            layer=layer_i,
            depth=depth,
            fans=fans,
            layout="in_out",
            module=owner,
        )
        yield p, v
