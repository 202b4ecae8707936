"""What a rule computes per parameter: override expressions and constant slices.

An override written ``"= <expression>"`` is arithmetic (numbers, ``+ - * / **``, ``sqrt``)
over the parameter's context: ``layer``, ``depth``, ``fan_in``, ``fan_out``, ``numel``,
``shape[i]`` (a dimension; negative ``i`` counts from the end) and ``module.<attr>`` (a
public number attribute of the layer that owns the parameter, as the front door sees it:
torch's ``module.hidden_size``, Keras' ``module.units``; a bool counts as 0 or 1).

``slices``, a reserved override, writes constants over parts of a parameter after its
scheme is drawn: a list of ``{start, stop, value, axis = -1}`` whose entries may be
expressions. The ``keras`` preset's LSTM bias is ``zeros`` with
``slices = [{start = "= module.units", stop = "= 2 * module.units", value =
"= module.unit_forget_bias"}]``: the forget gate's slice one where the cell sets
``unit_forget_bias``.

>>> evaluate("= 1 / sqrt(shape[-1])", {"shape": (3, 4)})
0.5
>>> [s.index for s in const_slices([{"start": 2, "stop": "= 2 * 2", "value": 1}], {}, (8,))]
[(slice(2, 4, None),)]
"""

from __future__ import annotations

import ast
import math
import numbers
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .params import RuleError

__all__ = ["SLICE_KEYS", "ConstSlice", "check_slices", "const_slices", "evaluate", "is_expr"]

_OPS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def is_expr(v: Any) -> bool:
    """Whether an override value is an expression (a string starting with ``=``)."""
    return isinstance(v, str) and v.startswith("=")


def _number(v: Any) -> float | None:
    """``v`` as a float where it is a real number (a bool counts as 0 or 1), else None."""
    return float(v) if isinstance(v, numbers.Real) else None


def _attribute(text: str, module: Any, attr: str) -> float:
    """``module.<attr>`` in an expression: a public number attribute of the parameter's layer."""
    if module is None:
        raise RuleError(
            f"override expression {text!r} uses module.{attr}, but this parameter has no layer object "
            "(the front door gives none); write the number itself, or use shape[i]"
        )
    if attr.startswith("_"):
        raise RuleError(f"override expression {text!r}: module.{attr} is private; only public attributes")
    kind = type(module).__name__
    if not hasattr(module, attr):
        raise RuleError(
            f"override expression {text!r}: the parameter's layer ({kind}) has no attribute {attr!r}; "
            "target the rule at layers that have it (type:<ClassName>), or write the number itself"
        )
    got = _number(getattr(module, attr))
    if got is None:
        raise RuleError(
            f"override expression {text!r}: module.{attr} of the parameter's layer ({kind}) is "
            f"{getattr(module, attr)!r}, not a number"
        )
    return got


def evaluate(text: str, env: Mapping[str, Any]) -> float:
    """An override expression (arithmetic, ``sqrt``, names in ``env``) -> float.

    ``env`` maps names to numbers (``None``: not known for this parameter); ``shape`` to a
    tuple and ``module`` to the layer object, read as ``shape[i]`` and ``module.<attr>``.

    >>> evaluate("= 0.02 / sqrt(2 * depth)", {"depth": 2})
    0.01
    """
    src = text.removeprefix("=").strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        raise RuleError(f"override expression {text!r} is not arithmetic: {e.msg}") from e
    names = ", ".join(k if k != "shape" else "shape[i]" for k in env if k != "module")
    names += ", module.<attr>" if "module" in env else ""

    def ev(n: ast.AST) -> float:
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int | float) and not isinstance(n.value, bool):
            return float(n.value)
        if isinstance(n, ast.BinOp) and type(n.op) in _OPS:
            return float(_OPS[type(n.op)](ev(n.left), ev(n.right)))
        if isinstance(n, ast.UnaryOp) and type(n.op) in _OPS:
            return float(_OPS[type(n.op)](ev(n.operand)))
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id == "sqrt"
            and len(n.args) == 1
        ):
            return math.sqrt(ev(n.args[0]))
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "module":
            return _attribute(text, env.get("module"), n.attr)
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "shape":
            shape = tuple(env.get("shape") or ())
            i = ev(n.slice)
            if i != int(i) or not -len(shape) <= i < len(shape):
                raise RuleError(
                    f"override expression {text!r}: shape[{i:g}] is out of range for a parameter of "
                    f"shape {shape}"
                )
            return float(shape[int(i)])
        if isinstance(n, ast.Name) and n.id not in ("module", "shape"):
            if n.id not in env:
                raise RuleError(f"override expression {text!r}: unknown name {n.id!r}; names: {names}, sqrt")
            v = env[n.id]
            if v is None:
                raise RuleError(
                    f"override expression {text!r} uses {n.id!r}, which is not known for this parameter "
                    "(layer and depth come from a numbered block in its name, such as 'h.3.')"
                )
            return float(v)
        raise RuleError(
            f"override expression {text!r}: only numbers, + - * / **, sqrt(), names, shape[i] and "
            "module.<attr> are allowed"
        )

    return ev(tree)


# --------------------------------------------------------------------------- constant slices

#: the keys of one entry of ``slices``
SLICE_KEYS = frozenset({"start", "stop", "value", "axis"})


@dataclass(frozen=True)
class ConstSlice:
    """``value`` written over ``start:stop`` of axis ``axis`` (>= 0), after the scheme is drawn.

    >>> ConstSlice(1, 4, 8, 1.0).index
    (slice(None, None, None), slice(4, 8, None))
    """

    axis: int
    start: int
    stop: int
    value: float

    @property
    def index(self) -> tuple[slice, ...]:
        """The slice as an index: ``x[s.index] = s.value``."""
        return (slice(None),) * self.axis + (slice(self.start, self.stop),)


def check_slices(raw: Any) -> None:
    """Validate the form of a ``slices`` override (before any parameter is seen)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise RuleError(
            f"slices={raw!r}: write a non-empty list of {{start, stop, value, axis}} tables, e.g. "
            "[{'start': 8, 'stop': 16, 'value': 1.0}]"
        )
    for s in raw:
        if not isinstance(s, Mapping) or not {"start", "stop", "value"} <= s.keys() or s.keys() - SLICE_KEYS:
            raise RuleError(
                f"slices entry {s!r}: needs the keys start, stop and value (and optionally axis, "
                "default -1), each a number or an '= expression'"
            )
        for k, v in s.items():
            if not is_expr(v) and _number(v) is None:
                raise RuleError(f"slices entry {s!r}: {k}={v!r} is neither a number nor an '= expression'")


def const_slices(
    raw: Sequence[Mapping[str, Any]], env: Mapping[str, Any], shape: tuple[int, ...]
) -> tuple[ConstSlice, ...]:
    """The ``slices`` of one parameter of ``shape``, evaluated and bounds-checked.

    >>> const_slices([{"start": 0, "stop": 2, "value": "= -1"}], {}, (3, 4))
    (ConstSlice(axis=1, start=0, stop=2, value=-1.0),)
    """
    check_slices(raw)
    out = []
    for s in raw:
        got = {k: evaluate(v, env) if is_expr(v) else float(v) for k, v in s.items()}
        axis = got.get("axis", -1.0)
        start, stop = got["start"], got["stop"]
        if not all(v.is_integer() for v in (axis, start, stop)):
            raise RuleError(f"slices entry {s!r}: axis, start and stop must be whole numbers, got {got}")
        ax = int(axis) + len(shape) if axis < 0 else int(axis)
        if not 0 <= ax < len(shape):
            raise RuleError(
                f"slices entry {s!r}: axis {int(axis)} does not exist in a parameter of shape {shape}; "
                "target the rule at parameters of the rank it was written for"
            )
        if not 0 <= start <= stop <= shape[ax]:
            raise RuleError(
                f"slices entry {s!r}: {int(start)}:{int(stop)} is not inside axis {ax} of length "
                f"{shape[ax]} (shape {shape}); target the rule at parameters laid out as it expects"
            )
        out.append(ConstSlice(ax, int(start), int(stop), got["value"]))
    return tuple(out)
