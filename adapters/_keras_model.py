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
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from varinit.core.api import stream_id
from varinit.core.backend import get_backend
from varinit.core.executor import execute, execute_many
from varinit.core.request import Portable, Request, Spec
from varinit.models.report import Report, Row
from varinit.models.rules import ConstSlice, fans_of, resolve
from varinit.rng.philox import split_key

from ._keras_params import _FLOATS, params_of
from ._keras_seed import _backend, _fresh_seed, _key

__all__ = ["init_model", "params_of"]


#: a residual branch (its last dense/conv layer is the branch's output projection)
def _seed_of(seed: Any) -> int:
    """``init_model``'s seed -> the int key of the portable streams."""
    if seed is None:
        return _fresh_seed()
    if isinstance(seed, keras.random.SeedGenerator):
        key, counter = _key(seed)
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
    be = _backend()
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
    sliced: dict[int, tuple[ConstSlice, ...]] = {}  # by position in plan
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
                be = _backend() if dtype == "bfloat16" and host.name == "numpy" else host
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
        if a.slices:
            sliced[len(plan)] = a.slices
        plan.append((v, req, p.shape))
        fi, fo = fans_of(p)
        extra = {k: getattr(a, k) for k in ("why", "lr_mult", "out_mult") if hasattr(a, k)}
        report.rows.append(Row(p.name, p.shape, a.rule, a.scheme, fi, fo, std, math.nan, stream, **extra))
    values = _draw_all([(req, shape) for _, req, shape in plan])
    for i, slices in sliced.items():  # a rule's constant slices (varinit.models.expr)
        if values[i] is not None:  # None: a zero-size variable, nothing to write
            values[i] = _with_slices(values[i], slices)
    for (v, req, _), x in zip(plan, values, strict=True):
        if req is not None:
            v.assign(x)
    if measure:
        for i, (row, (v, _, _), x) in enumerate(zip(report.rows, plan, values, strict=True)):
            report.rows[i] = _measured(row, x if isinstance(x, np.ndarray) else v)
    return report


def _with_slices(x: Any, slices: tuple[ConstSlice, ...]) -> np.ndarray:
    """``x`` (drawn values of any backend) as a host copy with ``slices`` written over it."""
    y = np.array(keras.ops.convert_to_numpy(x))
    for s in slices:
        y[s.index] = s.value
    return y


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
