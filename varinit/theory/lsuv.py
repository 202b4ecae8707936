"""LSUV: layer-sequential unit-variance initialization (Mishkin & Matas 2015).

Every dense or convolution layer first gets an orthogonal matrix (drawn by
:func:`varinit.init` with the portable stream, so the same seed gives the same weights in
every framework) and a zero bias. Then, in forward order, its weights are divided by the
standard deviation of its output on the batch until that output's variance is 1 within
``tol`` or ``max_iter`` rescalings have been made. A layer whose output has variance 0
on the batch (a dead layer) raises :class:`DeadLayerError`.

Frameworks are imported inside the functions only: ``import varinit.lsuv`` loads none.

>>> import torch
>>> from varinit.lsuv import lsuv_torch
>>> net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
>>> report = lsuv_torch(net, torch.randn(256, 32), seed=0)
>>> [round(v, 1) for v in report.variances]
[1.0, 1.0]
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DeadLayerError",
    "LSUVReport",
    "LayerResult",
    "lsuv",
    "lsuv_flax",
    "lsuv_jax",
    "lsuv_keras",
    "lsuv_torch",
]

#: Show a progress line by default for models with at least this many layers (on a TTY).
PROGRESS_MIN_LAYERS = 8


class DeadLayerError(ValueError):
    """A layer's output has variance 0 (or is not finite) on the batch: nothing to rescale."""


@dataclass(frozen=True)
class LayerResult:
    """One layer: its name, final output variance, rescalings made, and whether it converged."""

    name: str
    variance: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class LSUVReport:
    """What LSUV did, layer by layer, in forward order."""

    layers: tuple[LayerResult, ...]

    @property
    def variances(self) -> list[float]:
        return [r.variance for r in self.layers]

    @property
    def converged(self) -> bool:
        return all(r.converged for r in self.layers)

    def __str__(self) -> str:
        w = max([5, *(len(r.name) for r in self.layers)])
        rows = [f"{'layer':<{w}}  {'variance':>10}  iters  ok"]
        rows += [
            f"{r.name:<{w}}  {r.variance:>10.5g}  {r.iterations:>5}  {'yes' if r.converged else 'NO'}"
            for r in self.layers
        ]
        return "\n".join(rows)


class _Progress:
    def __init__(self, total: int, enabled: bool | None) -> None:
        self.total = total
        self.on = (sys.stderr.isatty() and total >= PROGRESS_MIN_LAYERS) if enabled is None else enabled

    def update(self, i: int, name: str, var: float) -> None:
        if self.on:
            sys.stderr.write(f"\rLSUV {i}/{self.total} layers  {name}: variance {var:.4g}\033[K")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _check_args(tol: float, max_iter: int) -> None:
    if not (isinstance(tol, int | float) and 0 < tol < 1):
        raise ValueError(f"tol={tol!r} is not allowed: tol must be a number in (0, 1)")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter={max_iter!r} is not allowed: max_iter must be an integer >= 0")


def _orthogonal(name: str, shape: tuple[int, ...], layout: str, seed: int) -> np.ndarray:
    from ..core.api import init, stream_id

    return np.asarray(
        init(
            "orthogonal",
            shape,
            backend="numpy",
            seed=seed,
            layout=layout,
            stream=stream_id(f"lsuv/{name}"),
            dtype="float64",
        )
    )


def _run(
    names: Sequence[str],
    measure: Callable[[int], float],
    scale: Callable[[int, float], None],
    tol: float,
    max_iter: int,
    progress: bool | None,
) -> LSUVReport:
    """The algorithm, framework-free: ``measure(i)`` runs the batch, ``scale(i, s)`` rescales."""
    bar = _Progress(len(names), progress)
    out = []
    try:
        for i, name in enumerate(names):
            it = 0
            while True:
                var = measure(i)
                if not (math.isfinite(var) and var > 0):
                    raise DeadLayerError(
                        f"layer {name!r} has output variance {var!r} on this batch (a dead layer: "
                        "constant output, e.g. ReLUs that never fire or an all-zero input); LSUV "
                        "cannot rescale it to variance 1"
                    )
                ok = abs(var - 1.0) < tol
                if ok or it >= max_iter:
                    break
                scale(i, 1.0 / math.sqrt(var))
                it += 1
            out.append(LayerResult(name, var, it, ok))
            bar.update(i + 1, name, var)
    finally:
        bar.close()
    report = LSUVReport(tuple(out))
    bad = [r.name for r in out if not r.converged]
    if bad:
        warnings.warn(
            f"LSUV did not reach variance 1 +- {tol} in {max_iter} iterations for {', '.join(bad)}",
            RuntimeWarning,
            stacklevel=3,
        )
    return report


# --------------------------------------------------------------------------- torch


def lsuv_torch(
    module: Any,
    batch: Any,
    *,
    tol: float = 0.05,
    max_iter: int = 10,
    seed: int = 0,
    orthogonal: bool = True,
    progress: bool | None = None,
) -> LSUVReport:
    """LSUV for a ``torch.nn.Module``: its ``Linear`` and ``Conv*`` layers, in place.

    ``batch`` is fed to ``module(batch)``; the layers are visited in the order their
    forward hooks first fire.
    """
    import torch

    _check_args(tol, max_iter)
    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    found = [(n, m) for n, m in module.named_modules() if isinstance(m, kinds)]
    order: list[str] = []
    stats: dict[str, float] = {}

    def hook(name: str) -> Callable[..., None]:
        def fn(mod: Any, inp: Any, out: Any) -> None:
            if name not in order:
                order.append(name)
            stats[name] = float(out.detach().double().var(unbiased=False))

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in found]
    try:
        mods = dict(found)
        with torch.no_grad():
            if orthogonal:
                for n, m in found:
                    w = _orthogonal(n, tuple(m.weight.shape), "out_in", seed)
                    m.weight.copy_(torch.from_numpy(w).to(m.weight.dtype))
                    if m.bias is not None:
                        m.bias.zero_()
            module(batch)  # learn the forward order
            names = list(order)

            def measure(i: int) -> float:
                stats.clear()
                module(batch)
                return stats[names[i]]

            def scale(i: int, s: float) -> None:
                mods[names[i]].weight.mul_(s)

            return _run(names, measure, scale, tol, max_iter, progress)
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------------- keras


def lsuv_keras(
    model: Any,
    batch: Any,
    *,
    tol: float = 0.05,
    max_iter: int = 10,
    seed: int = 0,
    orthogonal: bool = True,
    progress: bool | None = None,
) -> LSUVReport:
    """LSUV for a built Keras 3 functional or Sequential model (layers with a ``kernel``).

    The variance is that of each layer's output before its fused activation, if any
    (``Dense(64, activation="relu")`` is measured as the dense map alone).
    """
    import keras

    _check_args(tol, max_iter)
    layers = [ly for ly in model.layers if getattr(ly, "kernel", None) is not None]
    if not layers:
        raise ValueError("the model has no layer with a kernel (Dense, Conv*) to initialize")
    if orthogonal:
        for ly in layers:
            shape = tuple(int(d) for d in ly.kernel.shape)
            ly.kernel.assign(_orthogonal(ly.name, shape, "in_out", seed).astype(ly.kernel.dtype))
            if getattr(ly, "bias", None) is not None:
                ly.bias.assign(np.zeros(tuple(ly.bias.shape), dtype=ly.bias.dtype))
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [ly.output for ly in layers])

    def measure(i: int) -> float:
        # the variance of the layer's own output, before a fused activation (Dense(activation=))
        act = getattr(layers[i], "activation", None)
        if act is not None:
            layers[i].activation = keras.activations.linear
        try:
            outs = probe(batch, training=False)
        finally:
            if act is not None:
                layers[i].activation = act
        outs = outs if isinstance(outs, list | tuple) else [outs]
        return float(np.var(keras.ops.convert_to_numpy(outs[i]).astype(np.float64)))

    def scale(i: int, s: float) -> None:
        k = layers[i].kernel
        k.assign(keras.ops.multiply(k.value, keras.ops.cast(s, k.dtype)))

    return _run([ly.name for ly in layers], measure, scale, tol, max_iter, progress)


# --------------------------------------------------------------------------- JAX / Flax

Params = Mapping[str, Any]


def _kernels(params: Params, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of the subtrees that hold a ``kernel`` of rank >= 2, in insertion order."""
    out = []
    for k, v in params.items():
        if isinstance(v, Mapping):
            kern = v.get("kernel")
            if kern is not None and not isinstance(kern, Mapping) and np.ndim(kern) >= 2:
                out.append((*prefix, k))
            out += _kernels(v, (*prefix, k))
    return out


def _replace(params: Params, path: tuple[str, ...], key: str, value: Any) -> dict[str, Any]:
    new = dict(params)
    if len(path) == 0:
        new[key] = value
    else:
        new[path[0]] = _replace(params[path[0]], path[1:], key, value)
    return new


def _leaf(params: Params, path: tuple[str, ...], key: str) -> Any:
    node: Any = params
    for p in path:
        node = node[p]
    return node[key]


def lsuv_jax(
    params: Params,
    batch: Any,
    outputs: Callable[[Any, Any], Mapping[str, Any]],
    *,
    tol: float = 0.05,
    max_iter: int = 10,
    seed: int = 0,
    orthogonal: bool = True,
    progress: bool | None = None,
) -> tuple[dict[str, Any], LSUVReport]:
    """LSUV for a JAX params tree; returns ``(new_params, report)``.

    A layer is a subtree with a ``kernel`` (``(in, out)`` or ``(*kernel, in, out)``) and an
    optional ``bias``. ``outputs(params, batch)`` must return each layer's output keyed by
    its path joined with ``/`` (e.g. ``"Dense_0"``); :func:`lsuv_flax` builds it for you.
    """
    import jax.numpy as jnp

    _check_args(tol, max_iter)
    paths = _kernels(params)
    if not paths:
        raise ValueError("the params tree has no 'kernel' of rank >= 2 to initialize")
    tree: dict[str, Any] = dict(params)
    if orthogonal:
        for path in paths:
            kern = _leaf(tree, path, "kernel")
            w = _orthogonal("/".join(path), tuple(kern.shape), "in_out", seed)
            tree = _replace(tree, path, "kernel", jnp.asarray(w, dtype=kern.dtype))
            node = _leaf(tree, path[:-1], path[-1])
            if "bias" in node:
                tree = _replace(tree, path, "bias", jnp.zeros_like(node["bias"]))
    names = ["/".join(p) for p in paths]
    state = {"tree": tree}

    def measure(i: int) -> float:
        outs = outputs(state["tree"], batch)
        if names[i] not in outs:
            raise KeyError(f"outputs() returned no entry {names[i]!r}; it has {sorted(outs)}")
        return float(np.var(np.asarray(outs[names[i]], dtype=np.float64)))

    def scale(i: int, s: float) -> None:
        kern = _leaf(state["tree"], paths[i], "kernel")
        state["tree"] = _replace(state["tree"], paths[i], "kernel", kern * jnp.asarray(s, kern.dtype))

    report = _run(names, measure, scale, tol, max_iter, progress)
    return state["tree"], report


def lsuv_flax(module: Any, params: Params, batch: Any, **kwargs: Any) -> tuple[dict[str, Any], LSUVReport]:
    """LSUV for a Flax linen module's variables; returns ``(new_variables, report)``.

    ``params`` is what ``module.init`` returned (``{"params": ...}``, other collections
    kept) or the bare params tree; the result has the same form. Layer outputs are read
    with ``capture_intermediates``.
    """
    wrapped = isinstance(params, Mapping) and "params" in params
    extra = {k: v for k, v in params.items() if k != "params"} if wrapped else {}

    def outputs(p: Any, x: Any) -> dict[str, Any]:
        _, state = module.apply(
            {**extra, "params": p}, x, capture_intermediates=True, mutable=["intermediates"]
        )
        flat: dict[str, Any] = {}

        def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
            for k, v in node.items():
                if k == "__call__":
                    flat["/".join(prefix)] = v[0]
                elif isinstance(v, Mapping):
                    walk(v, (*prefix, k))

        walk(state["intermediates"], ())
        return flat

    inner = params["params"] if wrapped else params
    new, report = lsuv_jax(inner, batch, outputs, **kwargs)
    return ({**extra, "params": new} if wrapped else new), report


def lsuv(model: Any, batch: Any, **kwargs: Any) -> Any:
    """Dispatch on the model: a torch module or a Keras model (see the specific functions).

    For JAX/Flax call :func:`lsuv_flax` or :func:`lsuv_jax`, which return new params.
    """
    mod = type(model).__module__.split(".")[0]
    if mod == "torch" or ("torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module)):
        return lsuv_torch(model, batch, **kwargs)
    if mod == "keras" or ("keras" in sys.modules and isinstance(model, sys.modules["keras"].Model)):
        return lsuv_keras(model, batch, **kwargs)
    raise TypeError(
        f"lsuv() takes a torch.nn.Module or a keras.Model, got {type(model).__name__}; for a "
        "JAX/Flax params tree call varinit.lsuv.lsuv_flax(module, params, batch) or lsuv_jax"
    )
