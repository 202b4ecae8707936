"""Keras whole-model init: ``init_model`` (rules, presets, report), on every Keras backend.

A parameter's qualified name is its Keras variable path (``variable.path``) with ``/``
written ``.`` and the model's own name, where the path starts with it, left off:
``sequential/dense_1/kernel`` is ``dense_1.kernel``; inside a subclassed model,
``block_0/attn/attention_output/kernel`` is ``block_0.attn.attention_output.kernel``. Globs
match that name, and an int seed draws it from ``varinit.stream_id(name)``.

>>> import keras
>>> from varinit.adapters.keras import init_model
>>> model = keras.Sequential(
...     [keras.Input((8,)), keras.layers.Dense(16, name="fc"), keras.layers.LayerNormalization(name="ln")]
... )
>>> report = init_model(model, "keras", seed=0)
>>> [(row.name, row.scheme) for row in report.rows]
[('fc.kernel', 'glorot_uniform'), ('fc.bias', 'zeros'), ('ln.gamma', 'ones'), ('ln.beta', 'zeros')]
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from varinit.core.api import stream_id
from varinit.core.backend import get_backend
from varinit.core.executor import execute, execute_many
from varinit.core.request import Portable, Request, Spec
from varinit.models.report import Report, Row
from varinit.models.rules import RESIDUAL_OUT_NAMES, Param, fans_of, kind_of, resolve, roles_of, structure
from varinit.rng.philox import split_key

__all__ = ["init_model", "params_of"]

#: a residual branch (its last dense/conv layer is the branch's output projection)
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


def _seed_of(seed: Any) -> int:
    """``init_model``'s seed -> the int key of the portable streams."""
    from . import keras as vk

    if seed is None:
        return vk._fresh_seed()
    if isinstance(seed, keras.random.SeedGenerator):
        key, counter = vk._key(seed)
        return (key << 32) | (counter & 0xFFFFFFFF)
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        value = operator.index(seed)
        split_key(value)  # [0, 2**64), else a ValueError naming the seed
        return value
    raise TypeError(
        f"seed={seed!r} is not allowed: pass an int in [0, 2**64), a keras.random.SeedGenerator, "
        "or None (a fresh seed from Keras' global seed generator)"
    )


def _draw_backend() -> Any:
    """The varinit backend of the Keras backend; for TensorFlow and JAX on the CPU, NumPy's:
    the same portable stream, drawn by the compiled kernel into host memory (JAX's route
    compiles an XLA function for every parameter shape, TensorFlow's runs zeros and ones
    as graph ops)."""
    from . import keras as vk

    be = vk._backend()
    if be.name == "jax":
        import jax

        if jax.default_backend() == "cpu":
            return get_backend("numpy")
    if be.name == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_logical_devices("GPU"):
            return get_backend("numpy")
    return be


def _device(be: Any, v: Any) -> Any:
    """Where to draw ``v``'s values: its device for torch on an accelerator, else the default."""
    if be.name != "torch":
        return None
    dev = getattr(v.value, "device", None)
    return None if dev is None or dev.type == "cpu" else dev


def _std_or_nan(spec: Spec, shape: tuple[int, ...]) -> float:
    try:
        return spec.std(shape)
    except (ValueError, ArithmeticError):
        return math.nan


def init_model(
    model: Any,
    rules: Any,
    *,
    seed: Any = None,
    strict: bool = True,
    measure: bool = True,
) -> Report:
    """Initialize a built Keras ``model``'s parameters by ``rules``; return the report.

    Works on Sequential, functional and subclassed models (and single layers) on every
    Keras backend; an unbuilt model or layer is an error that says how to build it.
    ``rules``: a preset name (``"keras"`` reproduces Keras' layer defaults; ``"torch"``,
    ``"gpt2"``, ``"llama"``, ``"vit"``, ``"resnet"``), a dict ``{target: scheme}``, or a list
    layering them; see ``varinit.models.rules``. Type targets take Keras classes
    (``keras.layers.Dense``) or ``"type:Dense"``. Every (parameter, rule) pair is validated
    before anything is written: on error the model is unchanged and the message names the
    parameter, its shape and the rule.

    Parameters are the trainable variables (non-trainable ones, such as BatchNormalization's
    moving statistics, are left alone and not listed), named by their variable path (see
    the module docstring: ``dense_1.kernel``), in Keras' layout ``in_out``; an
    ``EinsumDense`` kernel (``MultiHeadAttention``'s query, key, value and output) takes the
    fans Keras' ``VarianceScaling`` gives it (its equation's input and output axes), and a
    bias its layer's kernel fans. ``MultiHeadAttention``'s output projection, and the last
    dense layer of an attention or MLP sublayer, is ``residual_out`` inside a numbered block
    (a layer named ``<base>_<i>``; Keras' automatic names such as ``dense_3`` are not
    blocks), as is a layer named like ``c_proj``/``out_proj``.

    ``seed=int``: parameter ``name`` draws from the portable stream ``stream_id(name)``, so
    its values depend on the seed and the name only, the same on every backend; ``None``:
    one fresh seed from Keras' global seed generator per call (as ``Initializer(seed=None)``
    does; ``keras.utils.set_random_seed`` makes it reproducible), then the same named
    streams; a ``keras.random.SeedGenerator``: one state drawn from it per call, as the seed.
    Values are drawn with the varinit backend of the Keras backend (on the CPU, TensorFlow's
    and JAX's through NumPy's: the same stream) into new arrays, then ``variable.assign``-ed
    (so for a moment the model's parameters exist twice).
    ``strict``: a rule of yours that matches nothing is an error. ``measure``: fill the
    report's measured std (of the values drawn, which the variables now hold).

    >>> import keras
    >>> from varinit.adapters.keras import init_model
    >>> model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(8, 3, name="conv")])
    >>> r = init_model(model, {keras.layers.Conv2D: ("he_normal", {}), "bias": "zeros"}, seed=0)
    >>> r["conv.kernel"].fan_in, r["conv.kernel"].rule
    (27.0, 'Conv2D')
    """
    from varinit.models.auto import expand, wants_auto

    from . import keras as vk

    if wants_auto(rules):  # "auto": one exact-name rule per parameter, from the functional graph
        from ._keras_auto import auto_rules

        rules = expand(rules, auto_rules(model))
    pairs = list(params_of(model))
    assigned = resolve([p for p, _ in pairs], rules, strict=strict, base=keras.layers.Layer)
    key = _seed_of(seed)
    host = _draw_backend()
    report = Report()
    templates: dict[Any, tuple[Request, float]] = {}
    plan: list[tuple[Any, Request | None, tuple[int, ...]]] = []
    for (p, v), a in zip(pairs, assigned, strict=True):
        if a is None:
            report.untouched.append(p.name)
            continue
        stream = stream_id(p.name)
        dtype = keras.backend.standardize_dtype(v.dtype)
        try:
            if dtype not in _FLOATS:
                raise TypeError(
                    f"the variable has dtype {dtype}: init_model fills floating variables (float16, "
                    "bfloat16, float32, float64); leave it out with a rule -> None"
                )
            req, std = None, math.nan
            if math.prod(p.shape):
                be = vk._backend() if dtype == "bfloat16" and host.name == "numpy" else host
                dev = _device(be, v)
                tkey = (id(a.spec), p.shape, dtype, dev)
                hit = templates.get(tkey)
                if hit is None:
                    req = a.spec.request(
                        p.shape, backend=be, seed=key, stream=stream, dtype=dtype, device=dev
                    )
                    std = _std_or_nan(a.spec, p.shape)
                    templates[tkey] = (req, std)
                else:
                    req, std = hit
                    src = req.source
                    if isinstance(src, Portable) and getattr(req.plan, "random", True):
                        req = req.with_(source=Portable(key, stream))
        except (ValueError, TypeError) as e:  # nothing was drawn yet: name the parameter
            raise type(e)(
                f"parameter {p.name!r} (shape {p.shape}), rule {a.rule} -> {a.scheme!r}: {e}"
            ) from e
        plan.append((v, req, p.shape))
        fi, fo = fans_of(p)
        extra = {k: getattr(a, k) for k in ("why", "lr_mult", "out_mult") if hasattr(a, k)}
        report.rows.append(Row(p.name, p.shape, a.rule, a.scheme, fi, fo, std, math.nan, stream, **extra))
    values = _draw_all([(req, shape) for _, req, shape in plan])
    for (v, req, _), x in zip(plan, values, strict=True):
        if req is not None:
            v.assign(x)
    if measure:
        for i, (row, (v, _, _), x) in enumerate(zip(report.rows, plan, values, strict=True)):
            report.rows[i] = _measured(row, x if isinstance(x, np.ndarray) else v)
    return report


def _draw_all(jobs: list[tuple[Request | None, tuple[int, ...]]]) -> list[Any]:
    """Every request's values, as new arrays of its backend: into host buffers the compiled
    kernel fills in one batch where the backend has them (NumPy, torch on the CPU), one by
    one otherwise (accelerators, half precisions)."""
    out: list[Any] = [None] * len(jobs)
    batch: list[tuple[Request, Any]] = []
    rest: list[int] = []
    for i, (req, shape) in enumerate(jobs):
        if req is None:
            continue
        buf, be = None, req.backend
        if req.dtype is req.out_dtype or str(req.dtype) == str(req.out_dtype):
            buf = be.empty(req.size, req.dtype, req.device)
        if buf is not None and be.host_view(buf) is not None:
            out[i] = buf.reshape(shape)  # a NumPy array or a CPU torch tensor
            batch.append((req, out[i]))
        else:
            rest.append(i)
    execute_many(batch)
    for i in rest:
        req = jobs[i][0]
        assert req is not None
        out[i] = execute(req)
    return out


def _measured(row: Row, x: Any) -> Row:
    """The sample std of the values assigned (``x``: the host array drawn, which the variable
    now holds, or the variable): in float64 up to 2**22 values, in their dtype above."""
    if math.prod(row.shape) < 2:
        return row
    if not isinstance(x, np.ndarray):
        x = np.asarray(keras.ops.convert_to_numpy(x.value))
    wide = x.size <= 1 << 22 or x.dtype not in (np.float32, np.float64)
    return replace(row, measured=float(np.std(x, dtype=np.float64 if wide else None, ddof=1)))
