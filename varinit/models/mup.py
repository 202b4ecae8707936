"""μP (the Maximal Update Parametrization) as rules: init std, and lr/output multipliers as data.

``mup(base)`` returns rules usable wherever rules are accepted (``init_module``,
``init_model``, ``init_tree``; ``rules="mup"`` is ``mup()``). Each parameter's shape is
compared with its shape in the *base* model (the same architecture at the width where the
hyperparameters were tuned): a dimension that differs is *infinite* (it scales with width),
and the width multiplier of an axis is its size over the base size. The role follows from
which fans are infinite:

============  ===================  ===========  =========  ===========  ==========
role          infinite fans        init std     out_mult   Adam lr      SGD lr
============  ===================  ===========  =========  ===========  ==========
input         fan_out only         σ            --         ×1           ×m_out
hidden        fan_in and fan_out   σ/√m_in      --         ×1/m_in      ×m_out/m_in
readout       fan_in only          0 (or σ)     1/m_in     ×1           ×m_in
finite        none                 σ            --         ×1           ×1
============  ===================  ===========  =========  ===========  ==========

This is Table 8 of Tensor Programs V (Yang et al. 2022, "Tuning Large Neural Networks via
Zero-Shot Hyperparameter Transfer"), the output-multiplier form that microsoft/mup uses,
written relative to the base model: ``m_in``/``m_out`` are the fan-in/fan-out width
multipliers, and σ is ``base_std`` or, by default, ``1/√fan_in`` of the base shape (1 for an
embedding, whose input is one-hot). With σ by default, a hidden weight's std is exactly
``1/√fan_in`` (Table 3's ``Var = 1/fan_in``). Biases and norm biases are zeros, norm
scales ones; a 1-D parameter is *input*-like when its size scales (Table 8's "input
weights and all biases" column), else *finite*. An embedding ``(vocab, dim)`` reads the
vocabulary as its fan-in in every framework.

The readout is found by shape when a base is given (its fan-in scales, its fan-out does
not). When no parameter's shape differs from the base (no ``base``: the model is its own
base and every multiplier is 1, as in microsoft/mup), the readout is the dense weight of a
top-level layer named ``lm_head``, ``head``, ``output``, ``classifier`` or ``fc`` (not in
a numbered block), else the last dense weight of the model that is not a residual branch's
output; ``readout=`` (a name glob) says it explicitly. A tied embedding/readout has no
readout of its own: give it ``readout=`` or accept the input rule.

varinit ships no optimizer: the report carries ``lr_mult`` (multiply the tuned learning
rate) and ``out_mult`` (multiply the readout's output in the forward pass) per parameter;
``report.multipliers()`` exports them as ``{name: {"lr": x, "output": y}}``.
``variant="u-mup"``: u-μP's unit init and absolute multipliers (docs/mup.md).

>>> import torch
>>> from varinit.adapters.torch import init_module
>>> from varinit.models.mup import base_shapes, mup
>>> def mlp(w: int) -> torch.nn.Sequential:
...     return torch.nn.Sequential(torch.nn.Linear(8, w), torch.nn.ReLU(), torch.nn.Linear(w, w),
...                                torch.nn.ReLU(), torch.nn.Linear(w, 3))
>>> report = init_module(mlp(256), mup(base_shapes(mlp(64))), seed=0)
>>> report.multipliers()["2.weight"], report.multipliers()["4.weight"]
({'lr': 0.25}, {'lr': 1.0, 'output': 0.25})
>>> round(report["2.weight"].std * 256**0.5, 6), report["4.weight"].scheme
(1.0, 'zeros')
"""

from __future__ import annotations

import fnmatch
import importlib
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .params import Param, RuleError

__all__ = ["READOUT_NAMES", "base_shapes", "mup"]

#: top-level layer names taken as the readout when shapes do not tell (no base)
READOUT_NAMES = ("lm_head", "head", "output", "classifier", "fc")

_OPTIMIZERS = {"adam": "adam", "adamw": "adam", "sgd": "sgd"}
_VARIANTS = {"standard": "standard", "u-mup": "u-mup", "umup": "u-mup", "u_mup": "u-mup"}


def mup(
    base: Any = None,
    *,
    variant: str = "standard",
    optimizer: str = "adam",
    base_std: float | None = None,
    readout_zero: bool | None = None,
    readout: str | None = None,
    zeros: Sequence[str] = (),
) -> dict[Any, Any]:
    """μP rules: per parameter, the init std from its role and width multiplier, and its
    ``lr_mult``/``out_mult`` as report data (the table is in this module's docstring).
    One rule, as a dict: ``[mup(base), {"*.bias": ...}]`` layers rules of yours on top.

    ``base``: ``{name: base shape}`` (``base_shapes(model_at_base_width)`` builds it from a
    torch module, a Keras model, a Flax NNX module or a JAX pytree; names are the front
    door's), the base model itself, or ``None`` (the model is its own base: every
    multiplier is 1). ``optimizer``: ``"adam"`` (also AdamW) or ``"sgd"``, the column of
    learning-rate multipliers. ``base_std``: σ, every weight's std in the base model
    (default: ``1/√fan_in`` of the base shape; 1 for embeddings). ``readout_zero``: zeros
    for the readout (default for ``"standard"``: Tensor Programs V's recommendation), else σ.
    ``variant="u-mup"``: u-μP's init and multipliers (Adam only; see docs/mup.md). ``readout``: a name glob
    for the readout: with a base, the weights it names are the ones drawn as zeros (every
    weight whose fan-in alone scales keeps the readout's multipliers); without, it is the
    readout instead of the one found by name. ``zeros``: name globs of weights drawn as zeros
    that keep their μP multipliers (Tensor Programs V's zero query projection:
    ``zeros=["*.q_proj.weight"]``); a rule of yours layered on top carries none.

    >>> [target.__name__ for target in mup({"fc.weight": (10, 64)})]
    ['mup']
    """
    var = _VARIANTS.get(variant.replace("μ", "m").lower()) if isinstance(variant, str) else None
    if var is None:
        raise ValueError(f"mup(variant={variant!r}) is not known; variants: 'standard', 'u-mup'")
    opt = _OPTIMIZERS.get(optimizer.lower()) if isinstance(optimizer, str) else None
    if opt is None:
        raise ValueError(f"mup(optimizer={optimizer!r}) is not known; pass one of {', '.join(_OPTIMIZERS)}")
    if var == "u-mup" and opt != "adam":
        raise ValueError(
            f"mup(variant='u-mup', optimizer={optimizer!r}): only Adam; u-μP's SGD rule assumes its "
            "unit-scaled backward pass, which plain autograd does not give: use optimizer='adam'"
        )
    if base_std is not None and not (isinstance(base_std, int | float) and base_std > 0):
        raise ValueError(f"mup(base_std={base_std!r}): pass a positive float, or None for 1/sqrt(fan_in)")
    if isinstance(zeros, str) or not all(isinstance(z, str) for z in zeros):
        raise TypeError(f"mup(zeros={zeros!r}): pass a list of name globs, e.g. ['*.q_proj.weight']")
    shapes = None if base is None else base_shapes(base)
    std = None if base_std is None else float(base_std)
    zero = var == "standard" if readout_zero is None else bool(readout_zero)
    scheme = _Mup(shapes, opt, std, zero, readout, tuple(zeros), var)
    return {_every: scheme}


def _every(p: Param) -> bool:
    """Every parameter (the μP rule's target; its report label is ``mup``)."""
    return True


_every.__name__ = "mup"


def base_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of every parameter, named as the framework's front door names them.

    ``model``: a mapping of shapes (returned as is, validated), a torch module, a built
    Keras model, a Flax NNX module, or a JAX pytree. For torch this is
    ``{n: tuple(p.shape) for n, p in model.named_parameters()}``.

    >>> import torch
    >>> base_shapes(torch.nn.Linear(4, 2))
    {'weight': (2, 4), 'bias': (2,)}
    """
    if isinstance(model, Mapping) and all(_is_shape(v) for v in model.values()):
        return {str(k): tuple(int(d) for d in v) for k, v in model.items()}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        listed = _adapter("_torch_model").params_of(model)
        return {p.name: p.shape for p, _ in listed}
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.layers.Layer):
        listed = _adapter("_keras_model").params_of(model)
        return {p.name: p.shape for p, _ in listed}
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        leaves = _adapter("flax").params_of(model)[0]
        return {lf.param.name: lf.param.shape for lf in leaves if lf.param is not None}
    if "jax" in sys.modules:
        leaves = _adapter("_jax_tree").params_of_tree(model)[0]
        if leaves:
            return {lf.param.name: lf.param.shape for lf in leaves if lf.param is not None}
    raise TypeError(
        f"mup(base=...) got a {type(model).__name__}: pass {{name: shape}} (e.g. "
        "{n: tuple(p.shape) for n, p in base_model.named_parameters()}), or a torch module, "
        "Keras model, Flax NNX module or JAX pytree of the base width"
    )


def _adapter(name: str) -> Any:
    """A front door's module (imported when its framework is, so the core imports none)."""
    return importlib.import_module(f"varinit.adapters.{name}")


def _is_shape(v: Any) -> bool:
    return isinstance(v, tuple | list) and all(isinstance(d, int) and not isinstance(d, bool) for d in v)


@dataclass(frozen=True)
class _Dims:
    """One parameter against its base: the role, the fan multipliers and σ's fan-in."""

    role: str
    m_in: float
    m_out: float
    base_fan_in: float | None


@dataclass(frozen=True)
class _Mup:
    """The μP scheme callable; ``bind`` sees the whole model first (``resolve`` calls it)."""

    shapes: Mapping[str, tuple[int, ...]] | None
    optimizer: str
    base_std: float | None
    readout_zero: bool
    readout: str | None
    zeros: tuple[str, ...] = ()
    variant: str = "standard"
    roles: Mapping[str, _Dims] | None = None

    def bind(self, params: Sequence[Param]) -> _Mup:
        """This rule set with every parameter's role decided (errors name the parameter)."""
        dims = {p.name: _dims(p, self._base_of(p)) for p in params}
        readout: set[str] = set()
        if self.readout is not None:
            readout = {p.name for p in params if _is_weight(p) and fnmatch.fnmatchcase(p.name, self.readout)}
            if not readout:
                raise RuleError(
                    f"mup(readout={self.readout!r}) matches no weight; pass the readout weight's name "
                    f"(parameters: {', '.join(p.name for p in params[:12])})"
                )
        elif all(d.role == "finite" for d in dims.values()):  # shapes do not tell: by name
            readout = _readout_by_name(params)
        for name in readout:
            d = dims[name]
            dims[name] = _Dims("readout", d.m_in, d.m_out, d.base_fan_in)
        for z in self.zeros:
            if not any(fnmatch.fnmatchcase(p.name, z) for p in params):
                raise RuleError(f"mup(zeros=[{z!r}]) matches no parameter; fix the glob")
        return replace(self, roles=dims)

    def _base_of(self, p: Param) -> tuple[int, ...]:
        if self.shapes is None:
            return p.shape
        if p.name not in self.shapes:
            near = [n for n in self.shapes if n.rpartition(".")[2] == p.local][:3]
            hint = f" (base names like it: {', '.join(near)})" if near else ""
            if re.search(r"_\d+\.", p.name):
                hint += "; Keras numbers unnamed layers per session: give the layers names"
            raise RuleError(
                f"mup: parameter {p.name!r} (shape {p.shape}) has no base shape{hint}; pass base "
                "shapes of the same architecture at the base width, named as the front door names "
                "them: base_shapes(base_model)"
            )
        b = self.shapes[p.name]
        if len(b) != len(p.shape):
            raise RuleError(
                f"mup: parameter {p.name!r} has shape {p.shape} but base shape {b} (rank "
                f"{len(b)} vs {len(p.shape)}); the base must be the same architecture, only narrower "
                "or wider: rebuild it with the model's constructor at the base width"
            )
        if 0 in b and 0 not in p.shape:
            raise RuleError(
                f"mup: parameter {p.name!r} (shape {p.shape}) has base shape {b}, with a zero "
                "dimension: build the base at a width of at least 1"
            )
        return b

    def __call__(self, p: Param) -> tuple[str, dict[str, Any]]:
        d = (self.roles or {}).get(p.name) or _dims(p, self._base_of(p))
        if self.variant == "u-mup":
            return self._unit(p, d)
        kw: dict[str, Any] = {"lr_mult": self._lr(d)}
        if d.role == "readout":
            kw["out_mult"] = 1.0 / d.m_in
        mult = f"fan_in x{d.m_in:g}, fan_out x{d.m_out:g}"
        if not _is_weight(p):
            name = "ones" if "norm_scale" in p.roles else "zeros"
            return name, {**kw, "why": f"mup {d.role}, vector-like (size x{d.m_out:g}): {name}"}
        sigma = self._sigma(p, d)
        if d.role == "readout" and self._zeroed(p):
            return "zeros", {**kw, "why": f"mup readout ({mult}): zeros, output x{1 / d.m_in:g}"}
        if any(fnmatch.fnmatchcase(p.name, z) for z in self.zeros):
            return "zeros", {**kw, "why": f"mup {d.role} ({mult}): zeros (zeros=)"}
        std = sigma / math.sqrt(d.m_in) if d.role == "hidden" else sigma
        how = f"{sigma:.4g}/sqrt({d.m_in:g})" if d.role == "hidden" else f"{sigma:.4g}"
        return "normal", {**kw, "std": std, "why": f"mup {d.role} ({mult}): std {how}"}

    def _zeroed(self, p: Param) -> bool:
        """A readout drawn as zeros: every one, or with ``readout=``, the ones it names."""
        named = self.readout is None or fnmatch.fnmatchcase(p.name, self.readout)
        return self.readout_zero and named

    def _unit(self, p: Param, d: _Dims) -> tuple[str, dict[str, Any]]:
        """u-μP (Blake et al. 2024): unit init; the forward multiplier and the Adam learning
        rate are absolute powers of the parameter's own fans, not relative to a base."""
        if not _is_weight(p):
            name = "ones" if "norm_scale" in p.roles else "zeros"
            return name, {"lr_mult": 1.0, "why": f"u-mup vector-like: {name}"}
        fi, fo = _fans(p, p.shape)
        if d.role == "readout":
            kw = {"lr_mult": 1.0, "out_mult": 1.0 / fi, "why": f"u-mup readout: output x1/{fi:g}"}
        elif "embedding" in p.roles:
            kw = {"lr_mult": fo**-0.5, "out_mult": 1.0, "why": f"u-mup embedding: lr x1/sqrt({fo:g})"}
        else:
            why = f"u-mup weight: output and lr x1/sqrt({fi:g})"
            kw = {"lr_mult": fi**-0.5, "out_mult": fi**-0.5, "why": why}
        if d.role == "readout" and self._zeroed(p):
            return "zeros", kw
        if any(fnmatch.fnmatchcase(p.name, z) for z in self.zeros):
            return "zeros", kw
        return "normal", {**kw, "std": 1.0 if self.base_std is None else self.base_std}

    def _sigma(self, p: Param, d: _Dims) -> float:
        if self.base_std is not None:
            return self.base_std
        if "embedding" in p.roles or d.base_fan_in is None:
            return 1.0
        return 1.0 / math.sqrt(d.base_fan_in)

    def _lr(self, d: _Dims) -> float:
        if self.optimizer == "adam":
            return 1.0 / d.m_in if d.role == "hidden" else 1.0
        return {"input": d.m_out, "hidden": d.m_out / d.m_in, "readout": d.m_in}.get(d.role, 1.0)


def _is_weight(p: Param) -> bool:
    return p.ndim >= 2 and "weight" in p.roles and "norm_scale" not in p.roles


def _fans(p: Param, shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) of ``p`` at ``shape``, by its layout (an embedding: vocab in, dim out)."""
    from ..core.fans import fans

    if "embedding" in p.roles:
        return float(shape[0]), float(math.prod(shape[1:]))
    axes = {k: v for k, v in p.fans.items() if k in ("in_axis", "out_axis", "batch_axis")}
    fi, fo = fans(shape, p.layout, **axes)
    return float(fi), float(fo)


def _dims(p: Param, base: tuple[int, ...]) -> _Dims:
    """Role and multipliers from ``p.shape`` against ``base`` (equal shapes: finite)."""
    if not _is_weight(p):  # biases, norm scales, scalars: vector-like when their size scales
        size, bsize = math.prod(p.shape), math.prod(base)
        m = size / bsize if bsize else 1.0
        return _Dims("input" if m != 1 else "finite", 1.0, m, None)
    try:
        fi, fo = _fans(p, p.shape)
        bfi, bfo = _fans(p, base)
    except (ValueError, TypeError) as e:
        raise RuleError(f"mup: parameter {p.name!r} (shape {p.shape}, base {base}): {e}") from e
    m_in, m_out = (fi / bfi if bfi else 1.0), (fo / bfo if bfo else 1.0)
    role = {
        (True, True): "hidden",
        (False, True): "input",
        (True, False): "readout",
        (False, False): "finite",
    }[(m_in != 1, m_out != 1)]
    return _Dims(role, m_in, m_out, bfi)


def _readout_by_name(params: Sequence[Param]) -> set[str]:
    """The readout when shapes do not tell: a top-level head by name, else the last dense weight."""
    dense = [p for p in params if _is_weight(p) and p.kind in ("dense", None) and "embedding" not in p.roles]
    named = [
        p for p in dense if p.name.rpartition(".")[0].rpartition(".")[2] in READOUT_NAMES and p.layer is None
    ]
    if named:
        return {named[-1].name}
    last = [p for p in dense if "residual_out" not in p.roles][-1:]
    return {p.name for p in last}
