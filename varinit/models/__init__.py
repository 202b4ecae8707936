"""Whole-model init: one rule language, presets as data, and one report, for every framework.

The framework front doors (``varinit.adapters.torch.init_module``,
``varinit.adapters.keras.init_model``, ``varinit.adapters.jax.init_tree``,
``varinit.adapters.flax.init_module``) describe each parameter as a ``Param``, let
``resolve`` pick every parameter's scheme before anything is drawn, and return a ``Report``.

>>> from varinit.models import Param, resolve
>>> got = resolve([Param("w", (3, 2)), Param("b", (2,))], {"w": "glorot_uniform"})
>>> [a.scheme if a else None for a in got]
['glorot_uniform', None]
"""

from __future__ import annotations

from .presets import Preset, preset, presets
from .report import Report, Row
from .rules import (
    ROLES,
    Assignment,
    Param,
    RuleError,
    RuleTypeError,
    fans_of,
    kind_of,
    parse_rules,
    resolve,
    roles_of,
    structure,
)

__all__ = [
    "ROLES",
    "Assignment",
    "Param",
    "Preset",
    "Report",
    "Row",
    "RuleError",
    "RuleTypeError",
    "fans_of",
    "kind_of",
    "parse_rules",
    "preset",
    "presets",
    "resolve",
    "roles_of",
    "structure",
]
