"""``varinit check``: every scheme on every installed backend against its exact distribution."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.api import init, plan
from ..core.arrays import raw_numpy, to_numpy
from ..core.backend import Backend, get_backend
from ..core.executor import route
from ..core.plans import Elementwise
from ..core.table import get
from .stats import assert_distribution

__all__ = ["SEED", "SHAPES", "Cell", "CheckResult", "run", "shape_for"]

SEED = 20261124  # the portable seed every cell uses; native generators use SEED + 1

#: shapes per family: elementwise schemes draw 400 x 300 = 120,000 values (n >= 1e5)
SHAPES: dict[str, tuple[int, ...]] = {
    "orthogonal": (64, 48),
    "identity": (32, 48),
    "dirac": (3, 3, 8, 16),
    "delta_orthogonal": (3, 3, 8, 16),
    "sparse": (300, 200),
}
DEFAULT_SHAPE = (400, 300)


def shape_for(scheme: str) -> tuple[int, ...]:
    return SHAPES.get(get(scheme).family, DEFAULT_SHAPE)


@dataclass
class Cell:
    """One scheme on one backend: both streams checked."""

    scheme: str
    backend: str
    ok: bool
    std: float = math.nan
    expected_std: float = math.nan
    detail: str = ""
    streams: list[str] = field(default_factory=list)

    def render(self) -> str:
        mark = "✓" if self.ok else "✗"
        if math.isnan(self.std):
            return f"{mark} {self.detail}"[:24]
        return f"{mark} {self.std:.4g}/{self.expected_std:.4g}"


@dataclass
class CheckResult:
    """The matrix of cells, plus notes (one line each) and timing."""

    schemes: list[str]
    backends: list[str]
    cells: dict[tuple[str, str], Cell]
    notes: list[str]
    seconds: float
    identity: list[Identity] = field(default_factory=list)
    anchors: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            all(c.ok for c in self.cells.values())
            and all(i.ok for i in self.identity)
            and all(a.ok for a in self.anchors)
        )

    def render(self) -> str:
        w0 = max(len(s) for s in self.schemes) + 2
        w = 22
        lines = ["scheme".ljust(w0) + "".join(b.ljust(w) for b in self.backends)]
        lines.append("-" * (w0 + w * len(self.backends)))
        for s in self.schemes:
            row = s.ljust(w0)
            for b in self.backends:
                row += self.cells[s, b].render().ljust(w)
            lines.append(row)
        lines.append("")
        lines.append(
            "cells: std of the native stream's sample / expected std; ✓ = KS p >= 1e-3 "
            "and mean, variance within 5 standard errors, for the portable and the "
            "native stream"
        )
        lines.extend(self.notes)
        bad = [c for c in self.cells.values() if not c.ok]
        for c in bad:
            lines.append(f"✗ {c.scheme} on {c.backend}: {c.detail}")
        if self.identity:
            lines.append("")
            lines.append("portable stream (int seed): the same numbers on every backend")
            lines.extend("  " + i.line() for i in self.identity)
        if self.anchors:
            lines.append("")
            lines.append(
                "anchor conformance: varinit vs each framework's own function "
                "(two-sample KS p >= 1e-3, std ratio within 1 %; exact for constants)"
            )
            lines.extend("  " + a.line() for a in self.anchors)
        lines.append("")
        lines.append(f"portable route: {route()}")
        n = len(self.cells)
        n_anchor_ok = sum(a.ok for a in self.anchors)
        n_id_ok = sum(i.ok for i in self.identity)
        lines.append("")
        lines.append(
            f"summary: {'PASS' if self.ok else 'FAIL'}: {n - len(bad)}/{n} cells, "
            f"{n_id_ok}/{len(self.identity)} portable-identity, "
            f"{n_anchor_ok}/{len(self.anchors)} anchor comparisons pass "
            f"({len(self.schemes)} schemes x {len(self.backends)} backends, {self.seconds:.1f} s)"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "route": route(),
            "backends": self.backends,
            "schemes": self.schemes,
            "cells": [
                {
                    "scheme": c.scheme,
                    "backend": c.backend,
                    "ok": c.ok,
                    "std": None if math.isnan(c.std) else c.std,
                    "expected_std": None if math.isnan(c.expected_std) else c.expected_std,
                    "streams": c.streams,
                    "detail": c.detail,
                }
                for c in self.cells.values()
            ],
            "notes": self.notes,
            "portable_identity": [
                {
                    "backend": i.backend,
                    "identical": i.identical,
                    "worst_ulp": i.worst_ulp,
                    "n": i.n,
                    "ok": i.ok,
                    "error": i.error,
                }
                for i in self.identity
            ],
            "anchors": [
                {
                    "anchor": a.anchor,
                    "scheme": a.scheme,
                    "shape": list(a.shape),
                    "ok": a.ok,
                    "ks_pvalue": a.ks_pvalue,
                    "std_ratio": None if math.isnan(a.std_ratio) else a.std_ratio,
                    "detail": a.detail,
                }
                for a in self.anchors
            ],
        }


def check_cell(scheme: str, backend: str | Backend) -> Cell:
    """Draw ``scheme`` on ``backend`` from both streams and test them."""

    shape = shape_for(scheme)
    be = get_backend(backend)
    label = be.name
    _, p = plan(scheme, shape)
    expected = p.sample_std(shape)
    sources: list[tuple[str, Any]] = [("portable", SEED)]
    with contextlib.suppress(NotImplementedError):  # adapters without a seeded generator
        sources.append(("native", be.make_generator(SEED + 1)))
    std = math.nan
    for stream, seed in sources:
        try:
            x = init(scheme, shape, backend=be, seed=seed, layout="in_out")
            assert_distribution(x, scheme, shape)
        except AssertionError as e:
            return Cell(scheme, label, False, std, expected, f"{stream}: {e}")
        except Exception as e:  # a crash is a failure of the cell, reported with its type
            return Cell(scheme, label, False, std, expected, f"{stream}: {type(e).__name__}: {e}")
        std = float(to_numpy(x).std())  # the native stream's, where there is one
    return Cell(scheme, label, True, std, expected, streams=[s for s, _ in sources])


def run(
    schemes: list[str],
    backends: list[str | Backend],
    *,
    progress: bool | Callable[[str, int, int, str], None] = False,
    anchors: bool = True,
) -> CheckResult:
    """Check every (scheme, backend) pair; never raises for a failing cell.

    ``progress``: True prints a counter on stderr; a callable is called as
    ``progress(stage, done, total, item)`` before each step and with ``done == total`` at the end.
    """
    t0 = time.perf_counter()
    report = progress if callable(progress) else _print_progress if progress else None
    cells: dict[tuple[str, str], Cell] = {}
    notes: list[str] = []
    labels: list[str] = []
    objs: list[Backend] = []
    for b in backends:
        label = b.name if isinstance(b, Backend) else b
        labels.append(label)
        try:
            be = get_backend(b)
        except Exception as e:  # an adapter that cannot load fails its whole column
            for s in schemes:
                cells[s, label] = Cell(s, label, False, detail=f"{type(e).__name__}: {e}")
            continue
        objs.append(be)
        for i, s in enumerate(schemes):
            if report:
                report(label, i, len(schemes), s)
            cells[s, label] = check_cell(s, be)
        if report:
            report(label, len(schemes), len(schemes), "")
    result = CheckResult(schemes, labels, cells, notes, time.perf_counter() - t0)
    if anchors:
        result.identity = _portable_identity(schemes, objs)
        result.anchors = _anchor_results(schemes, [be.name for be in objs], report)
    result.seconds = time.perf_counter() - t0
    return result


#: schemes whose portable values are compared bit for bit across backends
_IDENTITY_SCHEMES = ("he_normal", "glorot_uniform", "xavier_normal", "trunc_normal", "lecun_normal")


def _random_elementwise(p: Any) -> bool:
    return isinstance(p, Elementwise) and p.random


def _portable_identity(schemes: list[str], backends: list[Backend]) -> list[Identity]:
    """Every backend's portable float32 draws against NumPy's: identical fraction, worst ulp."""

    picked = [s for s in schemes if _random_elementwise(plan(s, shape_for(s))[1])]
    picked = [s for s in _IDENTITY_SCHEMES if s in picked] or picked[:5]
    out = []
    for be in backends:
        if be.name == "numpy":
            continue
        same = total = 0
        worst = 0.0
        error = ""
        for s in picked:
            shape = shape_for(s)
            ref = init(s, shape, seed=SEED, layout="in_out")
            try:
                got = raw_numpy(init(s, shape, backend=be, seed=SEED, layout="in_out")).astype(np.float32)
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                break
            same += int(np.sum(got == ref))
            total += ref.size
            ulp = np.spacing(np.abs(ref)).astype(np.float64)
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - ref) / ulp)))
        out.append(Identity(be.name, same / total if total else 0.0, worst, total, error))
    return out


def _print_progress(stage: str, done: int, total: int, item: str) -> None:
    """The plain counter ``run(progress=True)`` prints on stderr (cleared at the end)."""
    text = f"{stage}: {done + 1}/{total} {item[:40]:<40}" if done < total else " " * 60
    print("\r" + text, end="\r" if done >= total else "", file=sys.stderr, flush=True)


def _anchor_results(
    schemes: list[str], backends: list[str], report: Callable[[str, int, int, str], None] | None
) -> list[Any]:
    from .anchors import ANCHORS, compare

    # numpy: the literal recipes (Caffe, TF1 contrib, the NumPy form) in conformance/recipes.py
    framework_of = {"torch": "torch", "jax": "jax", "keras": "tensorflow", "numpy": "numpy"}
    out = []
    todo = [
        a
        for a in ANCHORS
        if a.scheme in schemes and a.available and framework_of.get(a.framework) in backends
    ]
    for i, a in enumerate(todo):
        if report:
            report("anchors", i, len(todo), a.name)
        for shape in a.shapes:
            out.append(compare(a, shape, seed=SEED))
    if report:
        report("anchors", len(todo), len(todo), "")
    return out


@dataclass
class Identity:
    """Portable float32 draws of one backend against NumPy's."""

    backend: str
    identical: float
    worst_ulp: float
    n: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.identical >= 0.99 and self.worst_ulp <= 2

    def line(self) -> str:
        if self.error:
            return f"✗ {self.backend}: {self.error}"
        return (
            f"{'✓' if self.ok else '✗'} {self.backend} vs numpy: {self.identical:.4%} "
            f"bit-identical, worst {self.worst_ulp:.0f} ulp ({self.n:,} float32 values)"
        )
