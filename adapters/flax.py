"""Flax NNX whole-model init: ``init_module`` initializes a module's parameters in place.

>>> from flax import nnx
>>> from varinit.adapters.flax import init_module
>>> net = nnx.Sequential(nnx.Linear(8, 16, rngs=nnx.Rngs(0)), nnx.LayerNorm(16, rngs=nnx.Rngs(0)))
>>> report = init_module(net, "keras", seed=0)
>>> report["layers.0.kernel"].scheme, report["layers.1.scale"].scheme
('glorot_uniform', 'ones')
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from varinit.models.report import Report

from ._jax_tree import Leaf, describe, draw_params

__all__ = ["init_module", "params_of"]


def _node(obj: Any, key: Any) -> Any:
    if isinstance(key, int):
        return obj[key]
    try:
        return getattr(obj, str(key))
    except AttributeError:
        return obj[key]


def params_of(module: nnx.Module) -> tuple[list[Leaf], list[tuple[tuple[Any, ...], Any]]]:
    """Every ``nnx.Param`` of ``module`` as a ``Leaf`` (name: its state path joined by dots),
    and the flat state the leaves came from; then every other array variable (batch
    statistics, RNG keys) as a ``Leaf`` without a rule ``Param``: left alone.

    >>> from flax import nnx
    >>> leaves, _ = params_of(nnx.Linear(3, 4, rngs=nnx.Rngs(0)))
    >>> [(lf.name, lf.param.layout, sorted(lf.param.roles)) for lf in leaves]
    [('bias', 'in_out', ['bias']), ('kernel', 'in_out', ['dense', 'weight'])]
    """
    flat = list(nnx.to_flat_state(nnx.state(module, nnx.Param)))
    raw: list[tuple[tuple[str, ...], Any, list[Any]]] = []
    for path, var in flat:
        nodes = [module]
        for k in path[:-1]:
            nodes.append(_node(nodes[-1], k))
        raw.append((tuple(str(k) for k in path), var.get_value(), nodes))
    leaves = describe(raw)
    n = len(raw)
    for i, (path, var) in enumerate(nnx.to_flat_state(nnx.state(module, nnx.Not(nnx.Param)))):
        value = var.get_value() if hasattr(var, "get_value") else var
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            leaves.append(Leaf(".".join(str(k) for k in path), value, None, n + i))
    return leaves, flat


def init_module(
    module: nnx.Module, rules: Any, *, seed: Any, strict: bool = True, measure: bool = True
) -> Report:
    """Initialize ``module``'s ``nnx.Param`` variables by ``rules``, in place; return the report.

    Names are state paths joined by dots (``layers.0.kernel``); layer types are the owning
    module's class and its bases (``nnx.Linear``, ``nnx.Conv``, ``nnx.Embed``,
    ``nnx.LayerNorm``, ``nnx.BatchNorm``, ...; class targets must be ``nnx.Module``
    subclasses). Kernels are ``in_out`` (``(in, out)``, conv ``(*k, in/groups, out)``);
    ``LinearGeneral`` kernels take fans from their ``in_features``/``out_features``, biases
    their layer's. Batch statistics and RNG state are left alone and listed. ``seed``, the
    rules and the errors are those of ``varinit.adapters.jax.init_tree``: an int draws
    parameter ``name`` from the portable stream ``stream_id(name)``; everything is validated
    before any variable is written, and on error the module is unchanged.

    >>> from flax import nnx
    >>> from varinit.adapters.flax import init_module
    >>> conv = nnx.Conv(3, 8, (3, 3), rngs=nnx.Rngs(0))
    >>> r = init_module(conv, {"conv": ("he_normal", {}), "bias": "zeros"}, seed=0)
    >>> r["kernel"].fan_in, float(conv.bias.get_value().sum())
    (27.0, 0.0)
    """
    leaves, flat = params_of(module)
    new, report = draw_params(leaves, rules, seed=seed, strict=strict, measure=measure, base=nnx.Module)
    values = {lf.index: v for lf, v in zip(leaves, new, strict=True)}
    updated = [(path, var.replace(values.get(i, var.get_value()))) for i, (path, var) in enumerate(flat)]
    nnx.update(module, nnx.from_flat_state(updated))
    return report
