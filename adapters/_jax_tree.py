"""JAX whole-model init: ``init_tree`` on any pytree (Flax linen params, Equinox modules).

Names: a leaf's qualified name is its key path joined by dots: dict keys and attribute
names as they are, sequence indices as numbers (``params.Dense_0.kernel``,
``layers.0.weight``). Its stream is ``varinit.stream_id(name)``.

>>> import jax, flax.linen as nn
>>> from varinit.adapters.jax import init_tree
>>> params = jax.eval_shape(nn.Dense(8).init, jax.random.key(0), jax.numpy.ones((1, 4)))
>>> new, report = init_tree(params, "keras", seed=0, report=True)
>>> new["params"]["kernel"].shape, report["params.kernel"].scheme
((4, 8), 'glorot_uniform')
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp
import numpy as np

from varinit.core.api import stream_id
from varinit.core.backend import get_backend
from varinit.core.executor import execute
from varinit.core.fans import fans
from varinit.core.plans import Elementwise
from varinit.core.request import Portable, Request, Spec
from varinit.models.report import Report, Row
from varinit.models.rules import (
    RESIDUAL_OUT_NAMES,
    Assignment,
    ConstSlice,
    Param,
    fans_of,
    kind_of,
    resolve,
    roles_of,
    structure,
)
from varinit.rng.philox import split_key, uniform_from_words

from ._jax_philox import _add64, _mulhilo, _seed_words, philox


def _backend() -> Any:
    """The JAX backend (``varinit.adapters.jax.BACKEND``), through the core's registry."""
    return get_backend("jax")


__all__ = ["Leaf", "describe", "draw_params", "init_tree", "layer_kind", "params_of_tree"]

_AUTO_NAME = re.compile(r"^(?P<cls>[A-Z][A-Za-z0-9]*)_(?P<i>\d+)$")  # linen's Dense_0, Conv_1, ...
_BRANCH = re.compile(r"attention|attn|mlp|feedforward|feed_forward|ffn", re.IGNORECASE)
_BLOCK = re.compile(r"block|bottleneck|residual", re.IGNORECASE)
_MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Leaf:
    """One array leaf: its rule ``Param`` (``None``: not a floating array, left alone) and value."""

    name: str
    value: Any
    param: Param | None
    index: int = 0  #: the leaf's position among the tree's leaves


def _key_text(k: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _child(obj: Any, k: Any) -> Any:
    if isinstance(k, jax.tree_util.GetAttrKey):
        return getattr(obj, k.name, None)
    if isinstance(k, jax.tree_util.DictKey):
        return obj[k.key] if isinstance(obj, Mapping) else None
    if isinstance(k, jax.tree_util.SequenceKey):
        return obj[k.idx] if isinstance(obj, Sequence) else None
    return None


def _child_names(obj: Any) -> list[str]:
    """A node's children in its own order (a dict's insertion order, a dataclass's fields)."""
    if isinstance(obj, Mapping):
        return [str(k) for k in obj]
    if isinstance(obj, list | tuple):
        return [str(i) for i in range(len(obj))]
    if dataclasses.is_dataclass(obj):
        return [f.name for f in dataclasses.fields(obj)]
    return [str(k) for k in getattr(obj, "__dict__", {})]


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not callable(x)


def _is_float(x: Any) -> bool:
    try:
        return bool(jnp.issubdtype(x.dtype, jnp.floating))
    except TypeError:  # PRNG key dtypes and other extended dtypes
        return False


def _is_equinox(obj: Any) -> bool:
    eqx = sys.modules.get("equinox")
    return eqx is not None and isinstance(obj, eqx.Module)


def layer_kind(types: Sequence[str]) -> str | None:
    """``kind_of``, with Flax's general dense layers (``DenseGeneral``, NNX ``LinearGeneral``)."""
    if any(t in ("DenseGeneral", "LinearGeneral") for t in types[:1]):
        return "dense"
    return kind_of(types)


def _types(owner: Any, owner_name: str) -> tuple[str, ...]:
    if isinstance(owner, Mapping):  # linen: the class from the auto name, Dense_0 -> Dense
        m = _AUTO_NAME.match(owner_name)
        return (m.group("cls"),) if m else ()
    if owner is None or isinstance(owner, list | tuple):
        return ()
    return tuple(c.__name__ for c in type(owner).__mro__ if c is not object)


def _sibling_weight(owner: Any) -> Any:
    for name in ("kernel", "weight"):
        w: Any = owner.get(name) if isinstance(owner, Mapping) else getattr(owner, name, None)
        w = w.get_value() if hasattr(w, "get_value") else w  # a Flax NNX variable
        if _is_array(w) and len(w.shape) >= 2:
            return w
    return None


def _groups(owner: Any) -> int:
    """An Equinox conv's ``groups``, a Flax conv's ``feature_group_count`` (else 1)."""
    g = getattr(owner, "groups", 1) if _is_equinox(owner) else getattr(owner, "feature_group_count", 1)
    return g if isinstance(g, int) and g > 1 else 1


def _fans(owner: Any, shape: tuple[int, ...], layout: str, bias: bool) -> dict[str, Any]:
    """Fans the leaf's shape does not show: grouped convs, general dense layers (NNX
    ``LinearGeneral``: its ``in_features``/``out_features``), and biases (their layer's)."""
    fin, fout = getattr(owner, "in_features", None), getattr(owner, "out_features", None)
    if isinstance(fin, tuple) and isinstance(fout, tuple) and not isinstance(owner, Mapping):
        return {"fan_in": math.prod(fin), "fan_out": math.prod(fout)}
    groups = _groups(owner)
    if not bias:
        if groups > 1 and len(shape) >= 3:
            fi, fo = fans(shape, layout, groups=groups)
            return {"fan_in": fi, "fan_out": fo, "groups": groups}
        return {}
    w = _sibling_weight(owner)
    if w is None:
        return {}
    fi, fo = fans(tuple(int(d) for d in w.shape), layout, groups=groups)
    return {"fan_in": fi, "fan_out": fo}


#: linen attention layers, and how many trailing kernel axes are features in each projection
_ATTENTION = ("MultiHeadDotProductAttention", "MultiHeadAttention", "SelfAttention")
_PROJECTIONS = {"query": 2, "key": 2, "value": 2, "out": 1}


def _general_fans(owner: Mapping[str, Any], features: int) -> dict[str, Any]:
    """A general dense layer's fans (its kernel and its bias): the flattened kernel's."""
    shape = tuple(int(d) for d in owner["kernel"].shape)
    return {"fan_in": math.prod(shape[:-features]), "fan_out": math.prod(shape[-features:])}


def _linen_features(parts: tuple[str, ...], nodes: list[Any]) -> int | None:
    """How many trailing axes of a linen layer's kernel of rank >= 3 are its features, where the
    layer is a general dense one (``DenseGeneral``: kernel ``(*inputs, *features)``, fans of
    the flattened ``(prod(inputs), prod(features))``); ``None`` for convs and the rest.

    Read from the bias (its shape is the features; a conv's bias is a vector), else from
    the attention projections' names (``query``/``key``/``value``: 2, ``out``: 1), else
    Flax's default ``axis=-1`` (every axis but the first is a feature).
    """
    owner = nodes[-1]
    if not isinstance(owner, Mapping) or len(parts) < 2:
        return None
    k: Any = owner.get("kernel")
    if not _is_array(k) or len(k.shape) < 3:
        return None
    types = _types(owner, parts[-2])
    if types and types[0] != "DenseGeneral":
        return None  # a conv, an einsum: fans from the shape
    parent = nodes[-2] if len(nodes) > 1 and len(parts) > 2 else None
    projection = parts[-2] in _PROJECTIONS and (
        any(t in _ATTENTION for t in _types(parent, parts[-3]))
        or set(_PROJECTIONS) <= set(_child_names(parent))
    )
    b: Any = owner.get("bias")
    if _is_array(b) and 2 <= len(b.shape) < len(k.shape) and tuple(k.shape[-len(b.shape) :]) == b.shape:
        return len(b.shape)
    if projection:
        return _PROJECTIONS[parts[-2]]
    if not types:
        return None  # a user-named layer with a vector bias or none: read as a conv
    return 1 if _is_array(b) and len(b.shape) == 1 else len(k.shape) - 1


def params_of_tree(tree: Any) -> tuple[list[Leaf], Any]:
    """Every leaf of ``tree`` with its ``Param`` (``None`` for a non-float array leaf, and for
    every leaf outside ``"params"`` in a linen variables dict), and the tree's structure.
    Non-array leaves (an Equinox MLP's activation) are left out of the list.

    >>> import numpy as np
    >>> leaves, _ = params_of_tree({"params": {"Dense_0": {"kernel": np.zeros((3, 4), np.float32)}}})
    >>> p = leaves[0].param
    >>> p.name, p.types, sorted(p.roles), p.layout
    ('params.Dense_0.kernel', ('Dense',), ['dense', 'weight'], 'in_out')
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    raw: list[tuple[tuple[str, ...], Any, list[Any]]] = []
    for path, value in flat:
        nodes = [tree]
        for k in path[:-1]:
            nodes.append(_child(nodes[-1], k))
        raw.append((tuple(_key_text(k) for k in path), value, nodes))
    return describe(raw, linen_vars=isinstance(tree, Mapping) and "params" in tree), treedef


def describe(
    raw: Sequence[tuple[tuple[str, ...], Any, list[Any]]], *, linen_vars: bool = False
) -> list[Leaf]:
    """``Leaf`` of every array in ``raw``: (path parts, value, the nodes from the root to the owner)."""
    names = [".".join(parts) for parts, _, _ in raw]
    where = structure(names)
    # each owner's kind, for the structural roles (last dense of a branch, last norm of a block)
    kinds: dict[tuple[str, ...], str | None] = {}
    general: dict[tuple[str, ...], int] = {}  # linen general dense layers: their feature axes
    for parts, _, nodes in raw:
        kinds[parts[:-1]] = layer_kind(_types(nodes[-1], parts[-2] if len(parts) > 1 else ""))
        if parts[:-1] not in general and (feat := _linen_features(parts, nodes)) is not None:
            general[parts[:-1]] = feat
            kinds[parts[:-1]] = "dense"
    out: list[Leaf] = []
    for i, ((parts, value, nodes), name) in enumerate(zip(raw, names, strict=True)):
        if not _is_array(value):
            continue
        if not _is_float(value) or (linen_vars and parts[0] != "params"):
            out.append(Leaf(name, value, None, i))
            continue
        owner, local = nodes[-1], parts[-1]
        owner_name = parts[-2] if len(parts) > 1 else ""
        types = _types(owner, owner_name)
        kind = kinds[parts[:-1]]
        layout = "out_in" if _is_equinox(owner) else "in_out"
        shape = tuple(int(d) for d in value.shape)
        layer, depth = where.get(name, (None, None))
        roles = roles_of(local, len(shape), kind)
        res_out = res_norm = False
        if len(parts) > 2 and "weight" in roles:
            parent = nodes[-2]
            text = " ".join((parts[-3], *_types(parent, parts[-3])))
            siblings = [(c, kinds.get((*parts[:-2], c))) for c in _child_names(parent)]
            dense = [c for c, k in siblings if k in ("dense", "conv")]
            norms = [c for c, k in siblings if k == "norm"]
            if kind in ("dense", "conv", None) and layer is not None:
                res_out = owner_name in RESIDUAL_OUT_NAMES or (
                    _BRANCH.search(text) is not None and dense[-1:] == [owner_name] and kind is not None
                )
            if kind == "norm":
                conv = any(k == "conv" for _, k in siblings)
                res_norm = conv and norms[-1:] == [owner_name] and _BLOCK.search(text) is not None
        roles = roles_of(local, len(shape), kind, residual_norm=res_norm) | (
            {"residual_out"} if res_out else set()
        )
        p = Param(
            name,
            shape,
            local=local,
            types=types,
            kind=kind,
            roles=frozenset(roles),
            layer=layer,
            depth=depth,
            fans=_general_fans(owner, general[parts[:-1]])
            if parts[:-1] in general
            else _fans(owner, shape, layout, "bias" in roles),
            layout=layout,
            module=None if isinstance(owner, Mapping | list | tuple) else owner,
        )
        out.append(Leaf(name, value, p, i))
    return out


# --------------------------------------------------------------------------- drawing


def _tracing() -> bool:
    """Whether we are inside a JAX transformation (jit, vmap, ...)."""
    return isinstance(jnp.zeros(()), jax.core.Tracer)


def _std(spec: Spec, shape: tuple[int, ...]) -> float:
    if not math.prod(shape):
        return math.nan
    try:
        return spec.std(shape)
    except (ValueError, ArithmeticError):
        return math.nan


def _leaf_key(key: Any, sid: int) -> Any:
    """The key a leaf draws from: ``fold_in(fold_in(key, sid & 0xFFFFFFFF), sid >> 32)``."""
    return jax.random.fold_in(
        jax.random.fold_in(key, np.uint32(sid & _MASK32)), np.uint32((sid >> 32) & _MASK32)
    )


def _sharding(value: Any) -> Any:
    s = getattr(value, "sharding", None)
    return s if isinstance(s, jax.sharding.Sharding) else None


def _draw_one(spec: Spec, req: Request, shape: tuple[int, ...], value: Any, seed: Any, stream: int) -> Any:
    """One leaf, eagerly: on its device(s), a sharded leaf by blocks, each device its own."""
    sharding = _sharding(value)
    if sharding is None or len(sharding.device_set) == 1:
        dev = next(iter(sharding.device_set)) if sharding is not None else None
        if dev is None or dev == jax.devices()[0]:
            return execute(req)
        with jax.default_device(dev):
            return jax.device_put(execute(req), dev)
    dtype = value.dtype
    if _backend().is_generator(seed):  # JAX's stream: XLA partitions the draw over the devices
        return jax.jit(
            lambda k: execute(spec.request(shape, backend=_backend(), seed=k, dtype=dtype)),
            out_shardings=sharding,
        )(seed)
    if not isinstance(req.plan, Elementwise) or not req.plan.random:  # needs the whole matrix
        return jax.device_put(execute(req), sharding)
    blocks = []
    for dev, index in sharding.addressable_devices_indices_map(shape).items():
        idx = tuple(index) if index is not None else ()
        block = spec.request(shape, backend=_backend(), seed=seed, stream=stream, dtype=dtype, index=idx)
        with jax.default_device(dev):
            blocks.append(jax.device_put(execute(block), dev))
    return jax.make_array_from_single_device_arrays(shape, sharding, blocks)


def _traced(req: Request) -> Any:
    """``execute(req)`` inside a transformation, for a whole-tensor portable elementwise draw
    written over the tensor's own axes: element ``(i_0, ..., i_n)`` reads word
    ``sum(i_k * stride_k)`` of the stream. With no reshape between the words and the tensor,
    XLA's partitioner gives every device only its own block, whichever axes are sharded
    (the flat kernel of ``execute`` only partitions the leading axis). Same bits as ``execute``."""
    src, plan, shape = req.source, req.plan, req.shape
    if (
        not isinstance(src, Portable)
        or not isinstance(plan, Elementwise)
        or not plan.random
        or req.dtype != np.float32
        or not math.prod(shape)
    ):
        return execute(req)
    k0, k1 = _seed_words(src.seed)
    s0, s1 = split_key(src.stream, "stream")
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    iotas = [jax.lax.broadcasted_iota(jnp.uint32, shape, k) for k in range(len(shape))]
    b0: Any
    b1: Any
    if math.prod(shape) <= 1 << 32:  # word indices fit 32 bits: the stream's high block word is 0
        lo = sum((i * np.uint32(st) for i, st in zip(iotas, strides, strict=True) if st), jnp.uint32(0))
        b0, b1 = lo >> 2, np.uint32(0)
    else:
        hi = jnp.zeros(shape, jnp.uint32)
        lo = jnp.zeros(shape, jnp.uint32)
        for i, st in zip(iotas, strides, strict=True):
            h, low = _mulhilo(st & _MASK32, i)
            hi, lo = _add64((hi, lo), (h + i * np.uint32(st >> 32), low))
        b0, b1 = (lo >> 2) | (hi << 30), hi >> 2
    x0, x1, x2, x3 = philox((b0, b1, np.uint32(s0), np.uint32(s1)), (k0, k1))
    lane = lo & np.uint32(3)
    w = jnp.where(lane < 2, jnp.where(lane == 0, x0, x1), jnp.where(lane == 2, x2, x3))
    u = uniform_from_words(jnp, w, req.dtype)
    return plan.transform(jnp, u, fence=_backend().fence).astype(req.out_dtype)


def draw_params(
    leaves: Sequence[Leaf], rules: Any, *, seed: Any, strict: bool, measure: bool, base: type | None = None
) -> tuple[list[Any], Report]:
    """New values for ``leaves`` (a leaf left alone keeps its value) and the report.

    Every (leaf, rule) pair and every request is validated before anything is drawn.
    """
    if seed is None or isinstance(seed, bool | np.bool_):
        raise TypeError(
            f"seed={seed!r} is not allowed: pass an int (the portable stream, each leaf its own "
            "stream_id(name)) or a JAX key (jax.random.key(0): JAX's stream, the stream id folded in)"
        )
    traced = _tracing() or isinstance(seed, jax.core.Tracer)
    if measure and traced:
        raise TypeError(
            "measure=True needs concrete values: call init_tree outside jit/vmap, or pass measure=False"
        )
    native = _backend().is_generator(seed)
    chosen = [lf for lf in leaves if lf.param is not None]
    assigned = resolve([lf.param for lf in chosen if lf.param is not None], rules, strict=strict, base=base)
    report = Report()
    jobs: dict[int, tuple[Spec, Request, tuple[int, ...], Any, Any, int]] = {}  # by position
    sliced: dict[int, tuple[ConstSlice, ...]] = {}  # a rule's constant slices, by position
    for lf, a in zip(chosen, assigned, strict=True):
        p = lf.param
        assert p is not None
        if a is None:
            report.untouched.append(p.name)
            continue
        sid = stream_id(p.name)
        try:
            leaf_seed, stream = (_leaf_key(seed, sid), 0) if native else (seed, sid)
            req = a.spec.request(
                p.shape, backend=_backend(), seed=leaf_seed, stream=stream, dtype=lf.value.dtype
            )
        except (ValueError, TypeError) as e:  # nothing was drawn yet: name the leaf
            raise type(e)(f"leaf {p.name!r} (shape {p.shape}), rule {a.rule} -> {a.scheme!r}: {e}") from e
        jobs[lf.index] = (a.spec, req, p.shape, lf.value, leaf_seed, stream)
        if a.slices:
            sliced[lf.index] = a.slices
        report.rows.append(_row(p, a, sid if not native else None))
    report.untouched.extend(lf.name for lf in leaves if lf.param is None)
    new: list[Any] = []
    for lf in leaves:
        job = jobs.get(lf.index)
        if job is None:
            new.append(lf.value)
        elif traced:
            new.append(_traced(job[1]))
        else:
            new.append(_draw_one(*job))
        for c in sliced.get(lf.index, ()):  # varinit.models.expr
            x = jnp.asarray(new[-1])
            new[-1] = x.at[c.index].set(c.value)
    if measure:
        drawn = [v for lf, v in zip(leaves, new, strict=True) if lf.index in jobs]
        report.rows = [_measured(r, v) for r, v in zip(report.rows, drawn, strict=True)]
    return new, report


def _row(p: Param, a: Assignment, stream: int | None) -> Row:
    fi, fo = fans_of(p)
    std = _std(a.spec, p.shape)
    return Row(p.name, p.shape, a.rule, a.scheme, fi, fo, std, math.nan, stream, a.why, a.lr_mult, a.out_mult)


def _measured(row: Row, x: Any) -> Row:
    if math.prod(row.shape) < 2:
        return row
    return replace(row, measured=float(np.asarray(x, dtype=np.float64).std()))


@overload
def init_tree(
    tree: Any,
    rules: Any,
    *,
    seed: Any,
    strict: bool = ...,
    measure: bool = ...,
    report: Literal[False] = ...,
) -> Any: ...


@overload
def init_tree(
    tree: Any, rules: Any, *, seed: Any, strict: bool = ..., measure: bool = ..., report: Literal[True]
) -> tuple[Any, Report]: ...


def init_tree(
    tree: Any, rules: Any, *, seed: Any, strict: bool = True, measure: bool = False, report: bool = False
) -> Any:
    """A new ``tree`` with every floating leaf drawn by ``rules``; ``report=True``: ``(tree, Report)``.

    ``tree``: any pytree of arrays: a Flax linen params dict (or its ``jax.eval_shape``, which
    draws without running Flax's initializers), an Equinox module, nested dicts and lists.
    Drawn leaves are ``jax.Array``; leaves no rule matches keep their values.
    Names are key paths joined by dots (``params.Dense_0.kernel``, ``layers.0.weight``).
    Layer types: a linen auto-named module gives its class (``Dense_0`` -> ``Dense``; a
    user-named one gives none: target it by name); an Equinox layer its class's MRO.
    Layouts: Flax/JAX kernels are ``in_out`` (``(in, out)``, conv ``(*k, in, out)``; a
    linen ``DenseGeneral`` or attention projection ``(*inputs, *features)`` takes the
    flattened matrix's fans, as Flax does, its features read from the bias's shape or the
    projection's name, else Flax's default ``axis=-1``); Equinox leaves ``out_in``
    (``(out, in)``, conv ``(out, in/groups, *k)``); a bias takes its layer's weight fans.
    Leaves that are not floating arrays (ints, PRNG keys), and in a linen variables dict
    every collection but ``"params"`` (``batch_stats``), are left alone and listed in the
    report.

    ``seed=int``: leaf ``name`` draws from the portable stream ``stream_id(name)``, bit for
    bit ``varinit.init(scheme, shape, seed=seed, stream=stream_id(name), layout=...,
    backend="jax")``; under ``jax.jit`` it may be static (a Python int) or traced (equal for
    seeds in [0, 2**31); 2**63 with x64). A JAX key: JAX's stream, leaf ``name`` from
    ``fold_in(fold_in(key, sid & 0xFFFFFFFF), sid >> 32)`` with ``sid = stream_id(name)``.
    Eagerly, every leaf keeps its sharding and each device draws only its own shard; under
    ``jax.jit`` give ``out_shardings`` (the leaves' shardings) and XLA does the same. All
    (leaf, rule) pairs are validated first: an error names the leaf, its shape and the rule.
    ``measure``: fill the report's measured std (eager only).

    >>> import jax, numpy as np
    >>> from varinit.adapters.jax import init_tree
    >>> tree = {"w": np.zeros((64, 32), np.float32), "b": np.zeros(32, np.float32)}
    >>> new = jax.jit(lambda t: init_tree(t, {"w": "he_normal", "b": "zeros"}, seed=0))(tree)
    >>> float(new["b"].sum()), new["w"].shape
    (0.0, (64, 32))
    """
    leaves, treedef = params_of_tree(tree)
    new, rep = draw_params(leaves, rules, seed=seed, strict=strict, measure=measure)
    flat = jax.tree_util.tree_leaves(tree)
    for lf, v in zip(leaves, new, strict=True):
        flat[lf.index] = v
    out = jax.tree_util.tree_unflatten(treedef, flat)
    return (out, rep) if report else out
