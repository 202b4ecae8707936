"""The report every whole-model front door returns: one row per parameter.

>>> from varinit.models.report import Report, Row
>>> r = Report([Row("fc.weight", (4, 3), "weight", "he_normal", 3.0, 4.0, 0.816, 0.8, 12)], ["fc.bias"])
>>> r.to_dict()["untouched"]
['fc.bias']
>>> print(r)  # doctest: +NORMALIZE_WHITESPACE
parameter  shape   rule    scheme     fan_in  fan_out  std      measured  stream
fc.weight  (4, 3)  weight  he_normal  3       4        0.816    0.8       000000000000000c
1 initialized, 1 left alone: fc.bias
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Report", "Row"]


@dataclass(frozen=True)
class Row:
    """One initialized parameter.

    ``std``: what the scheme promises at this shape (nan where it is not defined, e.g. for
    a constant); ``measured``: the std of the values drawn (nan when not measured);
    ``stream``: the portable stream id (``varinit.stream_id(name)``), or ``None`` for a
    framework generator. ``why``: how an automatic rule chose the scheme (``rules="auto"``);
    ``lr_mult``/``out_mult``: the learning-rate and output multipliers a rule set such as
    μP prescribes for the user's optimizer and forward pass (``None``: not prescribed).
    """

    name: str
    shape: tuple[int, ...]
    rule: str
    scheme: str
    fan_in: float | None
    fan_out: float | None
    std: float
    measured: float
    stream: int | None
    why: str = ""
    lr_mult: float | None = None
    out_mult: float | None = None


@dataclass
class Report:
    """What a whole-model init did. ``print`` it, or export with ``to_dict``/``to_json``."""

    rows: list[Row] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    health: Any = field(default=None, repr=False, compare=False)  # set by verify()

    # the report used to be called a summary, with rows named ``touched``
    @property
    def touched(self) -> list[Row]:
        return self.rows

    def __getitem__(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"{name!r} was not initialized (left alone: {name in self.untouched})")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, str, float, int, None); NaN becomes None."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, tuple):
                return list(v)
            return v

        return {
            "rows": [{k: clean(v) for k, v in asdict(r).items()} for r in self.rows],
            "untouched": list(self.untouched),
        }

    def multipliers(self) -> dict[str, dict[str, float]]:
        """``{name: {"lr": x, "output": y}}`` for the rows that prescribe multipliers."""
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            m = {k: v for k, v in (("lr", r.lr_mult), ("output", r.out_mult)) if v is not None}
            if m:
                out[r.name] = m
        return out

    @property
    def unresolved(self) -> list[str]:
        """The parameters ``rules="auto"`` could not resolve (each row's ``why`` says which default)."""
        return [r.name for r in self.rows if r.why.startswith("could not be resolved")]

    def verify(self, model: Any, example_input: Any) -> Any:
        """Run ``model`` once; per layer, the predicted and measured std (``varinit.models.health``)."""
        from .health import verify

        self.health = verify(self, model, example_input)
        return self.health

    def assert_healthy(self, tolerance: float = 2.0) -> None:
        """Raise ``HealthError`` naming the layers ``verify`` found off by more than ``tolerance``x."""
        if self.health is None:
            raise ValueError(
                "assert_healthy() needs a forward pass first: call report.verify(model, example_input)"
            )
        self.health.check(tolerance)

    def to_json(self, **kw: Any) -> str:
        """``to_dict()`` as JSON (keywords go to ``json.dumps``)."""
        return json.dumps(self.to_dict(), **kw)

    def __str__(self) -> str:
        head: tuple[str, ...] = (
            "parameter",
            "shape",
            "rule",
            "scheme",
            "fan_in",
            "fan_out",
            "std",
            "measured",
            "stream",
        )
        body: list[tuple[str, ...]] = [
            (
                r.name,
                str(r.shape),
                r.rule,
                r.scheme,
                _num(r.fan_in),
                _num(r.fan_out),
                _num(r.std),
                _num(r.measured),
                "-" if r.stream is None else f"{r.stream:016x}",
            )
            for r in self.rows
        ]
        mults = any(r.lr_mult is not None or r.out_mult is not None for r in self.rows)
        if mults:
            head += ("lr_mult", "out_mult")
            body = [(*b, _num(r.lr_mult), _num(r.out_mult)) for b, r in zip(body, self.rows, strict=True)]
        widths = [max([len(h)] + [len(b[i]) for b in body]) for i, h in enumerate(head)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [head, *body]
        ]
        left = f": {', '.join(self.untouched)}" if self.untouched else ""
        lines += [f"{r.name}: {r.why}" for r in self.rows if r.why]
        lines.append(f"{len(self.rows)} initialized, {len(self.untouched)} left alone{left}")
        return "\n".join(lines)


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4g}"
