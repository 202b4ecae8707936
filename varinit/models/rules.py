"""The rule language of whole-model init, the same in every framework.

A rule maps a *target* to a *scheme*. Targets:

- a role: ``"weight"``, ``"bias"``, ``"embedding"``, ``"norm_scale"``, ``"norm_bias"``,
  ``"residual_out"``, ``"residual_norm"``, ``"dense"``, ``"conv"`` (or ``"role:<name>"``);
- a glob on the qualified parameter name: ``"encoder.*.weight"`` (``"name:<glob>"`` forces
  a glob where the text is also a role name);
- a layer type: a class (``torch.nn.Linear``) or ``"type:<ClassName>"``; it means the
  layer's weight, unless a parameter is named: ``(torch.nn.Conv2d, "bias")`` or
  ``"type:Conv2d.bias"``;
- a callable ``predicate(param) -> bool``.

A scheme is a name, a ``varinit.Scheme``, ``(name, {overrides})``, ``None`` (leave the
parameter alone), or a callable ``f(param) -> scheme`` (the way to write depth-aware rules).
An override written as a string starting with ``=`` is an expression in ``layer``,
``depth``, ``fan_in``, ``fan_out``, ``numel``, ``shape[i]``, ``module.<attr>`` (a number
attribute of the owning layer) and ``sqrt``: ``{"std": "= 0.02 / sqrt(2 * depth)"}``. The
override ``slices`` writes constants over parts of the parameter after it is drawn (see
``varinit.models.expr``).

Precedence: when several rules match a parameter, the one whose matches (on this model)
are a strict subset of every other's wins; two rules that match exactly the same
parameters, or overlap with neither containing the other, are an error that names both.

>>> from varinit.models.rules import Param, resolve
>>> ps = [Param("fc.weight", (4, 3), local="weight", types=("Linear",)),
...       Param("fc.bias", (4,), local="bias", types=("Linear",))]
>>> [a.scheme for a in resolve(ps, {"weight": "he_normal", "*": "zeros"}) if a]
['he_normal', 'zeros']
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..core.request import Spec
from ..core.table import Scheme
from .expr import ConstSlice, check_slices, const_slices, evaluate
from .expr import is_expr as _is_expr
from .params import (
    RESIDUAL_OUT_NAMES,
    ROLES,
    Param,
    RuleError,
    RuleTypeError,
    fans_of,
    kind_of,
    roles_of,
    structure,
)

__all__ = [  # Param and its helpers live in varinit.models.params; importable here too
    "RESIDUAL_OUT_NAMES",
    "ROLES",
    "Assignment",
    "ConstSlice",
    "Param",
    "RuleError",
    "RuleTypeError",
    "evaluate",
    "fans_of",
    "kind_of",
    "parse_rules",
    "resolve",
    "roles_of",
    "structure",
]


#: every role a target may name
@dataclass(frozen=True)
class Rule:
    """A parsed rule: its target, its scheme and a label for messages and the report."""

    target: Any
    scheme: Any  # str | Scheme | None | callable
    overrides: Mapping[str, Any]
    label: str
    order: int
    optional: bool = False  # a preset's rule may match nothing in a given model

    def matches(self, p: Param) -> bool:
        t = self.target
        if isinstance(t, _Role):
            return t.name in p.roles
        if isinstance(t, _Glob):
            return fnmatch.fnmatchcase(p.name, t.pattern)
        if isinstance(t, _Type):
            if not _type_match(t.cls, p):
                return False
            if t.param is None:
                return "weight" in p.roles
            return fnmatch.fnmatchcase(p.local, t.param)
        return bool(t(p))


@dataclass(frozen=True)
class Assignment:
    """What one parameter gets: the rule's label, the scheme name and the validated Spec.

    ``why``, ``lr_mult``, ``out_mult``: report data a rule may give alongside its scheme
    (overrides under these names are not passed to the scheme): an automatic rule's reason,
    and the learning-rate and output multipliers a parametrization such as μP prescribes.
    ``slices``: constants every front door writes over parts of the drawn values (the
    override ``slices``), in order.
    """

    rule: str
    scheme: str
    spec: Spec
    why: str = ""
    lr_mult: float | None = None
    out_mult: float | None = None
    slices: tuple[ConstSlice, ...] = ()


@dataclass(frozen=True)
class _Role:
    name: str


@dataclass(frozen=True)
class _Glob:
    pattern: str


@dataclass(frozen=True)
class _Type:
    cls: type | str
    param: str | None


def _type_match(cls: type | str, p: Param) -> bool:
    if isinstance(cls, str):
        want = cls.lower()
        return any(t.lower() == want for t in p.types)
    return p.module is not None and isinstance(p.module, cls)


def _target(raw: Any, base: type | None = None) -> tuple[Any, str]:
    """A raw target -> (parsed target, label); class targets must subclass ``base``."""
    cls0 = raw if isinstance(raw, type) else raw[0] if isinstance(raw, tuple) and raw else None
    if base is not None and isinstance(cls0, type) and not issubclass(cls0, base):
        raise RuleTypeError(
            f"rule target {raw!r} is not allowed: a layer type must be a subclass of "
            f"{base.__module__}.{base.__qualname__}"
        )
    if isinstance(raw, str):
        if raw.startswith("role:"):
            name = raw[5:]
            if name not in ROLES:
                raise RuleError(f"rule target {raw!r}: unknown role {name!r}; roles: {', '.join(ROLES)}")
            return _Role(name), repr(raw)
        if raw.startswith("name:"):
            return _Glob(raw[5:]), repr(raw)
        if raw.startswith("type:"):
            cls, _, param = raw[5:].partition(".")
            if not cls:
                raise RuleError(f"rule target {raw!r}: write type:<ClassName> or type:<ClassName>.<param>")
            return _Type(cls, param or None), repr(raw)
        if raw in ROLES:
            return _Role(raw), repr(raw)
        if not raw:
            raise RuleError("rule target '' is not allowed: use '*' for every parameter")
        return _Glob(raw), repr(raw)
    if isinstance(raw, type):
        return _Type(raw, None), raw.__name__
    if (
        isinstance(raw, tuple)
        and len(raw) == 2
        and isinstance(raw[0], type | str)
        and isinstance(raw[1], str)
    ):
        kls: type | str = raw[0]
        name = kls if isinstance(kls, str) else kls.__name__
        parsed = _Type(kls.removeprefix("type:") if isinstance(kls, str) else kls, raw[1])
        return parsed, f"({name}, {raw[1]!r})"
    if callable(raw):
        return raw, getattr(raw, "__name__", repr(raw))
    raise RuleTypeError(
        f"rule target {raw!r} is not allowed: use a role ('weight', 'bias', 'embedding', ...), a name "
        "glob such as '*.bias', a layer type (a class or 'type:Linear'), a pair (type, parameter "
        "glob), or a callable param -> bool"
    )


def _scheme(label: str, raw: Any) -> tuple[Any, dict[str, Any]]:
    if raw is None or (callable(raw) and not isinstance(raw, Scheme)):
        return raw, {}
    if isinstance(raw, tuple):
        if len(raw) != 2 or not isinstance(raw[1], Mapping):
            raise RuleTypeError(
                f"rule {label} -> {raw!r} is not allowed: a rule's scheme is a name, a varinit.Scheme, "
                "a pair (name, {overrides}) such as ('normal', {'std': 0.02}), None, or a callable"
            )
        sch, kw = raw[0], dict(raw[1])
    else:
        sch, kw = raw, {}
    if not isinstance(sch, str | Scheme):
        raise RuleTypeError(f"rule {label} -> {raw!r}: the scheme must be a name or a varinit.Scheme")
    return sch, kw


def parse_rules(rules: Any, *, base: type | None = None) -> list[Rule]:
    """Parse ``rules`` and validate every scheme, before any parameter is looked at.

    ``rules``: a preset name, a dict ``{target: scheme}``, a list of ``(target, scheme)``
    pairs, or a list of those layered in order (``["gpt2", {"lm_head.weight": "zeros"}]``):
    a later rule with the same target replaces an earlier one. A preset's rules may match
    nothing in a given model.

    >>> [r.label for r in parse_rules({"*.bias": "zeros", "weight": ("normal", {"std": 0.02})})]
    ["'*.bias'", "'weight'"]
    """
    layers: list[tuple[list[tuple[Any, Any]], bool]] = []
    if isinstance(rules, str | Mapping):
        rules = [rules]
    if not isinstance(rules, Iterable):
        raise RuleTypeError(
            f"rules={rules!r} is not allowed: pass a preset name (varinit.models.presets()), a dict "
            "{target: scheme}, or a list of (target, scheme) pairs"
        )
    pairs: list[tuple[Any, Any]] = []
    for it in list(rules):
        if isinstance(it, str):
            from .presets import preset

            if pairs:
                layers.append((pairs, False))
                pairs = []
            if it == "mup":  # μP's rules are computed from shapes, not a table: varinit.models.mup
                from .mup import mup

                layers.append((list(mup().items()), True))
            else:
                layers.append((list(preset(it).rules), True))
        elif isinstance(it, Mapping):
            if pairs:
                layers.append((pairs, False))
                pairs = []
            layers.append((list(it.items()), False))
        elif isinstance(it, tuple) and len(it) == 2:
            pairs.append(it)
        else:
            raise RuleTypeError(
                f"rules entry {it!r} is not allowed: a (target, scheme) pair, a dict, or a preset name"
            )
    if pairs:
        layers.append((pairs, False))
    out: dict[str, Rule] = {}
    for items, optional in layers:
        for raw_t, raw_s in items:
            target, label = _target(raw_t, base)
            sch, kw = _scheme(label, raw_s)
            if isinstance(sch, str | Scheme):
                static = {k: v for k, v in kw.items() if not _is_expr(v) and k not in _RESERVED}
                try:
                    if "slices" in kw:
                        check_slices(kw["slices"])
                    Spec.of(sch, **static)  # the scheme and its plain overrides, now
                except (ValueError, TypeError) as e:
                    name = sch if isinstance(sch, str) else sch.name
                    raise RuleError(f"rule {label} -> {name!r}: {e}") from e
            out.pop(label, None)  # a later layer's rule for the same target replaces the earlier one
            out[label] = Rule(target, sch, kw, label, len(out), optional)
    return list(out.values())


def resolve(
    params: Sequence[Param], rules: Any, *, strict: bool = True, base: type | None = None
) -> list[Assignment | None]:
    """The assignment of every parameter (``None``: left alone), all validated first.

    Raises ``RuleError`` naming the parameter, its shape and the rule on the first bad
    pair, before anything is written; ``strict``: a rule that matches nothing is an error.
    """
    parsed = [_bound(r, params) for r in parse_rules(rules, base=base)]
    hits = [[r.matches(p) for r in parsed] for p in params]
    sets = [frozenset(i for i, h in enumerate(hits) if h[j]) for j in range(len(parsed))]
    if strict:
        for r, s in zip(parsed, sets, strict=True):
            if not s and not r.optional:
                names = [p.name for p in params]
                raise RuleError(
                    f"rule {r.label} matches no parameter (parameters: {', '.join(names[:12])}"
                    f"{', ...' if len(names) > 12 else ''}); fix the target, or pass strict=False "
                    "to allow rules that match nothing"
                )
    out: list[Assignment | None] = []
    # a plain rule (a scheme with constant overrides) assigns the same at the same shape,
    # layout and fans: built once per such key, not once per parameter
    plain = [
        not (callable(r.scheme) and not isinstance(r.scheme, Scheme))
        and not any(_is_expr(v) for v in r.overrides.values())
        and "slices" not in r.overrides
        for r in parsed
    ]
    done: dict[tuple[Any, ...], Assignment | None] = {}
    for i, p in enumerate(params):
        cands = [j for j, h in enumerate(hits[i]) if h]
        if not cands:
            out.append(None)
            continue
        win = _winner(p, cands, parsed, sets) if len(cands) > 1 else cands[0]
        key = _plain_key(win, p) if plain[win] else None
        if key is None:
            out.append(_assign(p, parsed[win]))
        elif key in done:
            out.append(done[key])
        else:
            out.append(done.setdefault(key, _assign(p, parsed[win])))
    return out


def _plain_key(rule: int, p: Param) -> tuple[Any, ...] | None:
    """What a plain rule's assignment depends on (``None``: fans that cannot be a key)."""
    try:
        return (rule, p.shape, p.layout, frozenset(p.fans.items()))
    except TypeError:  # an unhashable fan value
        return None


def _bound(r: Rule, params: Sequence[Param]) -> Rule:
    """A scheme callable with ``bind(params)`` (a rule set decided on the whole model, such as
    ``varinit.models.mup``) sees every parameter before any is assigned."""
    bind = getattr(r.scheme, "bind", None)
    if callable(bind) and not isinstance(r.scheme, Scheme):
        return replace(r, scheme=bind(params))
    return r


def _rank(r: Rule) -> tuple[int, int]:
    """How specific a target is, for rules that overlap without one containing the other."""
    t = r.target
    if isinstance(t, _Glob):
        literal = len(re.sub(r"\[[^\]]*\]|[*?]", "", t.pattern))
        if not any(c in t.pattern for c in "*?["):
            return (6, literal)  # an exact name
        return (4, literal) if literal else (0, 0)
    if isinstance(t, _Type):
        return (5, 0) if t.param is not None else (2, 0)
    if isinstance(t, _Role):
        return (1, 0 if t.name in ("weight", "bias") else 1)
    return (3, 0)


def _winner(p: Param, cands: list[int], parsed: list[Rule], sets: list[frozenset[int]]) -> int:
    best = [j for j in cands if all(j == k or sets[j] < sets[k] for k in cands)]
    if len(best) == 1:
        return best[0]
    # no single narrowest rule: the narrowest ones that no other contains, by target kind
    minimal = [j for j in cands if not any(sets[k] < sets[j] for k in cands)]
    ranks = sorted(((_rank(parsed[j]), j) for j in minimal), reverse=True)
    if len(ranks) == 1 or ranks[0][0] > ranks[1][0]:
        return ranks[0][1]
    a, b = parsed[ranks[0][1]], parsed[ranks[1][1]]
    why = (
        "match exactly the same parameters"
        if sets[ranks[0][1]] == sets[ranks[1][1]]
        else "overlap, neither contains the other, and their targets are equally specific"
    )
    raise RuleError(
        f"parameter {p.name!r} (shape {p.shape}): rules {a.label} and {b.label} both match and {why}; "
        f"add a rule for it by name (e.g. {p.name!r}: <scheme>), or narrow one target"
    )


def _assign(p: Param, r: Rule) -> Assignment | None:
    sch, kw = r.scheme, dict(r.overrides)
    try:
        if callable(sch) and not isinstance(sch, Scheme):
            got = sch(p)
            sch, kw = _scheme(r.label, got)
            if callable(sch) and not isinstance(sch, Scheme):
                raise RuleError(f"rule {r.label}: its callable returned another callable")
        if sch is None:
            return None
        fan_in, fan_out = fans_of(p)
        env = {
            "layer": p.layer,
            "depth": p.depth,
            "fan_in": fan_in,
            "fan_out": fan_out,
            "numel": math.prod(p.shape),
            "shape": p.shape,
            "module": p.module,
        }
        raw_slices = kw.pop("slices", None)
        kw = {k: evaluate(v, env) if _is_expr(v) else v for k, v in kw.items()}
        slices = () if raw_slices is None else const_slices(raw_slices, env, p.shape)
        why = str(kw.pop("why", "")) or "; ".join(
            f"then [{s.start}:{s.stop}] of axis {s.axis} = {s.value:g}" for s in slices
        )
        lr, out = kw.pop("lr_mult", None), kw.pop("out_mult", None)
        fan_kw = {} if _FAN_KEYS & kw.keys() else dict(p.fans)
        spec = Spec.of(sch, layout=p.layout, **(fan_kw | kw))
        spec.plan(p.shape)  # the scheme at this shape: fans, ranks, bounds
        return Assignment(
            r.label,
            sch if isinstance(sch, str) else sch.name,
            spec,
            why,
            None if lr is None else float(lr),
            None if out is None else float(out),
            slices,
        )
    except (ValueError, TypeError) as e:
        name = sch if isinstance(sch, str) else getattr(sch, "name", sch)
        raise RuleError(f"parameter {p.name!r} (shape {p.shape}), rule {r.label} -> {name!r}: {e}") from e


_FAN_KEYS = frozenset({"fan_in", "fan_out", "in_axis", "out_axis", "batch_axis", "groups"})
_REPORT_KEYS = frozenset({"why", "lr_mult", "out_mult"})
_RESERVED = _REPORT_KEYS | {"slices"}
