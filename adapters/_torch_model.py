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
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from varinit.core.api import stream_id
from varinit.core.executor import execute_many
from varinit.core.request import Request, Spec
from varinit.models.report import Report, Row
from varinit.models.rules import ConstSlice, Param, fans_of, resolve

from . import _torch_fill as _tf
from ._torch_params import params_of

__all__ = ["init_module", "params_of"]

_T = TypeVar("_T")


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
            _named(p, a, _tf._check_tensor, tensor)
    if device is not None or any(_on_meta(t) for _, t in pairs):
        prepare(module, device=device, only_missing=only_missing)  # meta without device: raises
        live = dict(module.named_parameters())
        chosen = [(p, live[p.name]) for p, _ in chosen]
    gen = seed if isinstance(seed, torch.Generator) else None
    portable = seed is not None and gen is None
    report = Report()
    rows: list[tuple[Any, ...]] = []  # each row's fields but the measured std
    fans_seen: dict[tuple[Any, ...], tuple[float | None, float | None]] = {}
    templates: dict[Any, tuple[Request, float]] = {}
    plan: list[tuple[torch.Tensor, Request | None, Spec, int]] = []
    sliced: list[tuple[torch.Tensor, tuple[ConstSlice, ...]]] = []
    for (p, tensor), a in zip(chosen, assigned, strict=True):
        if a is None:
            report.untouched.append(p.name)
            continue
        if a.slices:
            if _tf._is_dtensor(tensor):
                raise ValueError(
                    f"parameter {p.name!r} (shape {p.shape}), rule {a.rule}: its slices "
                    f"{[(s.start, s.stop, s.value) for s in a.slices]} cannot be written into a DTensor; "
                    "initialize the module before sharding it, or give this parameter a rule without slices"
                )
            sliced.append((tensor, a.slices))
        stream = stream_id(p.name) if portable else 0
        req, std = None, math.nan
        if math.prod(p.shape) and not _tf._is_dtensor(tensor):
            req, std = _named(
                p, a, _tf._module_request, templates, (id(a.spec), p.shape), a.spec, tensor, seed, gen, stream
            )
        else:
            std = _tf._std_or_nan(a.spec, p.shape)
        plan.append((tensor, req, a.spec, stream))
        fk = (p.shape, p.layout, tuple(p.fans.items()))
        fi, fo = fans_seen[fk] if fk in fans_seen else fans_seen.setdefault(fk, fans_of(p))
        sid = stream if portable else None
        rows.append((p.name, p.shape, a.rule, a.scheme, fi, fo, std, sid, a.why, a.lr_mult, a.out_mult))
    report.untouched.extend(skipped)
    with torch.no_grad():
        execute_many((req, tensor) for tensor, req, _, _ in plan if req is not None)
    for tensor, req, spec, stream in plan:
        if req is None:  # zero-size (torch's warning) and DTensor parameters
            _tf._fill(tensor, spec, None if gen is not None else seed, gen, stream)
    with torch.no_grad():
        for tensor, slices in sliced:  # a rule's constant slices (varinit.models.expr)
            for s in slices:
                tensor[s.index] = s.value
    measured = _measured([tensor for tensor, _, _, _ in plan]) if measure else [math.nan] * len(plan)
    for (name, shape, rule, scheme, fi, fo, std, sid, why, lr, out), m in zip(rows, measured, strict=True):
        report.rows.append(Row(name, shape, rule, scheme, fi, fo, std, m, sid, why, lr, out))
    return report


def _named(p: Param, a: Any, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``, its ValueError/TypeError naming the parameter and its rule."""
    try:
        return fn(*args)
    except (ValueError, TypeError) as e:  # nothing was drawn yet
        raise type(e)(f"parameter {p.name!r} (shape {p.shape}), rule {a.rule} -> {a.scheme!r}: {e}") from e


#: the report's measured std reads at most this many evenly spaced elements of a parameter
MEASURE_MOST = 1 << 20


#: parameters up to this many elements are measured together, one stacked std per group
_BATCH_MOST = 1 << 16


def _measured(tensors: list[torch.Tensor]) -> list[float]:
    """Each tensor's std (NaN where there is none): small ones of one size, dtype and device
    in one stacked reduction (a model of many small layers pays one op, not one per layer),
    larger ones from at most ``MEASURE_MOST`` evenly spaced elements each."""
    out = [math.nan] * len(tensors)
    groups: dict[tuple[int, torch.dtype, torch.device], list[int]] = {}
    with torch.no_grad():
        for i, t in enumerate(tensors):
            if _tf._is_dtensor(t) or t.numel() < 2 or t.is_complex() or not t.is_floating_point():
                continue
            if t.numel() <= _BATCH_MOST:
                groups.setdefault((t.numel(), t.dtype, t.device), []).append(i)
                continue
            flat = t.detach().reshape(-1)
            step = -(-flat.numel() // MEASURE_MOST)
            out[i] = float(flat[::step].to(torch.float64).std())
        for idx in groups.values():
            stacked = torch.stack([tensors[i].detach().reshape(-1) for i in idx])
            if stacked.dtype not in (torch.float32, torch.float64):
                stacked = stacked.float()
            # two passes in the tensors' precision (a constant measures exactly 0): about 1e-7
            # relative in float32, and an order of magnitude faster than torch's std
            centered = stacked - stacked.mean(dim=1, keepdim=True)
            var = torch.linalg.vecdot(centered, centered) / (stacked.shape[1] - 1)
            for i, m in zip(idx, var.sqrt().tolist(), strict=True):
                out[i] = m
    return out
