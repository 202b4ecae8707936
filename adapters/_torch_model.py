"""torch whole-model init: ``init_module`` (rules, presets, deferred init, report).

>>> import torch
>>> from varinit.adapters.torch import init_module
>>> net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 4))
>>> report = init_module(net, "keras", seed=0)
>>> report["1.weight"].scheme, report["0.weight"].scheme
('ones', 'glorot_uniform')
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from varinit.core.api import stream_id
from varinit.core.executor import execute_many
from varinit.core.request import Request, Spec
from varinit.models.report import Report, Row
from varinit.models.rules import RESIDUAL_OUT_NAMES, Param, fans_of, kind_of, resolve, roles_of, structure

__all__ = ["init_module", "params_of"]

_T = TypeVar("_T")

_BRANCH = re.compile(r"attention|attn|mlp|feedforward|feed_forward|ffn", re.IGNORECASE)
_BLOCK = re.compile(r"block|bottleneck|residual", re.IGNORECASE)


def _types(m: torch.nn.Module) -> tuple[str, ...]:
    return tuple(c.__name__ for c in type(m).__mro__ if c is not object)


def _kind(m: torch.nn.Module) -> str | None:
    name = type(m).__name__
    if name == "Conv1D" and hasattr(m, "nf"):  # transformers' Conv1D is a dense layer, (in, out)
        return "dense"
    return kind_of(_types(m))


def _children_of_kind(m: torch.nn.Module, kinds: tuple[str, ...]) -> list[str]:
    return [n for n, c in m.named_children() if _kind(c) in kinds]


def params_of(module: torch.nn.Module) -> Iterator[tuple[Param, torch.Tensor]]:
    """Every parameter of ``module`` (tied ones once) as a rule ``Param``, with its tensor.

    >>> import torch
    >>> [p.roles for p, _ in params_of(torch.nn.LayerNorm(4))][0] == {"weight", "norm_scale"}
    True
    """
    from . import torch as vt  # (a cycle at import time: torch.py re-exports init_module)

    owners = dict(module.named_modules())
    named = list(module.named_parameters())
    where = structure([n for n, _ in named])
    for qual, tensor in named:
        owner_name, _, local = qual.rpartition(".")
        owner = owners[owner_name]
        parent_name, _, child = owner_name.rpartition(".")
        parent = owners.get(parent_name) if owner_name else None
        kind = _kind(owner)
        layer, depth = where.get(qual, (None, None))
        res_out = res_norm = False
        if parent is not None and kind in ("dense", "conv"):
            branch = _BRANCH.search(type(parent).__name__) is not None
            siblings = _children_of_kind(parent, ("dense", "conv"))
            # a branch whose output projection has a known name: that one, not its last layer
            # (torchtitan's FeedForward defines w1, w2, w3, and w2 is the output)
            outs = [c for c in siblings if c in RESIDUAL_OUT_NAMES]
            last = not outs and siblings[-1:] == [child]
            named_out = child in RESIDUAL_OUT_NAMES and layer is not None
            res_out = (branch and last and layer is not None) or named_out
        if parent is not None and kind == "norm":
            convs = _children_of_kind(parent, ("conv",))
            norms = _children_of_kind(parent, ("norm",))
            res_norm = (
                bool(convs) and norms[-1:] == [child] and _BLOCK.search(type(parent).__name__) is not None
            )
        shape = tuple(int(d) for d in tensor.shape)
        layout = "in_out" if type(owner).__name__ == "Conv1D" and hasattr(owner, "nf") else "out_in"
        fans = vt._fan_overrides(owner, local, shape)
        if layout == "in_out" and len(shape) < 2 and local == "bias":
            w = getattr(owner, "weight", None)
            if isinstance(w, torch.Tensor) and w.dim() == 2:
                fans = {"fan_in": int(w.shape[0]), "fan_out": int(w.shape[1])}
        p = Param(
            qual,
            shape,
            local=local,
            types=_types(owner),
            kind=kind,
            roles=roles_of(local, len(shape), kind, residual_out=res_out, residual_norm=res_norm),
            layer=layer,
            depth=depth,
            fans=fans,
            layout=layout,
            module=owner,
        )
        yield p, tensor


def init_module(
    module: torch.nn.Module,
    rules: Any,
    *,
    seed: Any = None,
    strict: bool = True,
    device: Any = None,
    only_missing: bool = False,
    measure: bool = True,
) -> Report:
    """Initialize ``module``'s parameters by ``rules``; return the report (``print`` it).

    ``rules``: a preset name (``"torch"``, ``"keras"``, ``"gpt2"``, ``"llama"``, ``"vit"``,
    ``"resnet"``), a dict ``{target: scheme}``, or a list layering them; see
    ``varinit.models.rules`` for targets, schemes and precedence (the most specific rule
    wins; ties are an error). Every (parameter, rule) pair is validated before anything is
    written: on error the module is unchanged and the message names the parameter.

    ``seed=int``: parameter ``name`` draws from the portable stream ``stream_id(name)``, so
    its values never depend on construction order; a ``torch.Generator`` or ``None``:
    torch's stream, in parameter order. ``device``: first materialize meta parameters there
    (see ``skip_init``); ``only_missing``: initialize only parameters that are still on
    meta or were created under ``skip_init`` and never written (a loaded checkpoint
    counts as written). ``strict``: a rule of yours that matches nothing is an error.
    ``measure``: fill the report's measured std (from at most ``MEASURE_MOST`` evenly
    spaced elements of each parameter).

    >>> import torch
    >>> from varinit.adapters.torch import init_module
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=8))
    >>> r = init_module(net, {"conv": ("kaiming_normal", {"nonlinearity": "relu"}), "bias": "zeros"}, seed=0)
    >>> [row.name for row in r.rows]
    ['0.weight', '0.bias', '1.weight', '1.bias']
    """
    from varinit.models.auto import expand, wants_auto

    from . import torch as vt
    from ._torch_deferred import _on_meta, is_unwritten, prepare

    if wants_auto(rules):  # "auto": one exact-name rule per parameter, from the traced graph
        from ._torch_auto import auto_rules

        rules = expand(rules, auto_rules(module))
    pairs = list(params_of(module))
    # what prepare will answer for only_missing: on meta, or made by skip_init and unwritten
    chosen = [(p, t) for p, t in pairs if not only_missing or _on_meta(t) or is_unwritten(t)]
    skipped = [p.name for p, t in pairs if only_missing and not (_on_meta(t) or is_unwritten(t))]
    # every rule at every parameter first (meta shapes suffice): on error nothing has changed
    assigned = resolve([p for p, _ in chosen], rules, strict=strict, base=torch.nn.Module)
    for (p, tensor), a in zip(chosen, assigned, strict=True):
        if a is not None and not _on_meta(tensor):
            _named(p, a, vt._check_tensor, tensor)
    if device is not None or any(_on_meta(t) for _, t in pairs):
        prepare(module, device=device, only_missing=only_missing)  # meta without device: raises
        live = dict(module.named_parameters())
        chosen = [(p, live[p.name]) for p, _ in chosen]
    gen = seed if isinstance(seed, torch.Generator) else None
    portable = seed is not None and gen is None
    report = Report()
    templates: dict[Any, tuple[Request, float]] = {}
    plan: list[tuple[torch.Tensor, Request | None, Spec, int]] = []
    for (p, tensor), a in zip(chosen, assigned, strict=True):
        if a is None:
            report.untouched.append(p.name)
            continue
        stream = stream_id(p.name) if portable else 0
        req, std = None, math.nan
        if math.prod(p.shape) and not vt._is_dtensor(tensor):
            req, std = _named(
                p, a, vt._module_request, templates, (id(a.spec), p.shape), a.spec, tensor, seed, gen, stream
            )
        else:
            std = vt._std_or_nan(a.spec, p.shape)
        plan.append((tensor, req, a.spec, stream))
        fi, fo = fans_of(p)
        sid = stream if portable else None
        row = Row(p.name, p.shape, a.rule, a.scheme, fi, fo, std, math.nan, sid, a.why, a.lr_mult, a.out_mult)
        report.rows.append(row)
    report.untouched.extend(skipped)
    with torch.no_grad():
        execute_many((req, tensor) for tensor, req, _, _ in plan if req is not None)
    for tensor, req, spec, stream in plan:
        if req is None:  # zero-size (torch's warning) and DTensor parameters
            vt._fill(tensor, spec, None if gen is not None else seed, gen, stream)
    if measure:
        for i, (row, (tensor, _, _, _)) in enumerate(zip(report.rows, plan, strict=True)):
            report.rows[i] = _measured(row, tensor)
    return report


def _named(p: Param, a: Any, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``, its ValueError/TypeError naming the parameter and its rule."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as e:  # nothing was drawn yet
        raise type(e)(f"parameter {p.name!r} (shape {p.shape}), rule {a.rule} -> {a.scheme!r}: {e}") from e


#: the report's measured std reads at most this many evenly spaced elements of a parameter
MEASURE_MOST = 1 << 20


def _measured(row: Row, tensor: torch.Tensor) -> Row:
    from dataclasses import replace

    from . import torch as vt

    if vt._is_dtensor(tensor) or tensor.numel() < 2 or tensor.is_complex() or not tensor.is_floating_point():
        return row
    with torch.no_grad():
        flat = tensor.detach().reshape(-1)
        step = -(-flat.numel() // MEASURE_MOST)
        m = float(flat[::step].to(torch.float64).std())
    return replace(row, measured=m)
