"""Assertions for people who write an adapter or a scheme (needs ``scipy``).

The public face of :mod:`varinit.conformance`: the statistics, the cross-stream check and the
conformance matrix, for your own adapter or scheme.

>>> import varinit
>>> from varinit.testing import assert_distribution
>>> w = varinit.init("he_normal", (512, 256), layout="in_out", seed=0)
>>> report = assert_distribution(w, "he_normal", (512, 256))   # raises if it does not fit
>>> report.ok
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .conformance.stats import (
    ALPHA,
    MOMENT_Z,
    DistributionReport,
    assert_distribution,
    assert_same_stream,
    cdf,
    distribution_report,
)
from .core.arrays import to_numpy

__all__ = [
    "ALPHA",
    "MOMENT_Z",
    "DistributionReport",
    "assert_distribution",
    "assert_same_stream",
    "cdf",
    "check_backend",
    "distribution_report",
    "to_numpy",
]


def check_backend(
    backend: Any, *, schemes: Sequence[str] | None = None, raise_on_failure: bool = True
) -> Any:
    """Run the conformance matrix (``varinit check``) on one backend.

    ``backend`` is a backend name ("torch"), a :class:`varinit.Backend` instance (your own
    adapter), or an Array API namespace (a generic backend with the portable stream only).
    Returns the ``CheckResult``; raises ``AssertionError`` listing the failures unless
    ``raise_on_failure=False``.

    >>> import array_api_strict as xp
    >>> from varinit.testing import check_backend
    >>> check_backend(xp, schemes=["he_normal", "uniform"]).ok
    True
    """
    from .conformance import check
    from .core.backend import get_backend
    from .core.table import schemes as all_schemes

    be = backend if isinstance(backend, str) else get_backend(backend)
    names = list(schemes) if schemes is not None else all_schemes()
    result = check.run(names, [be], anchors=False)
    if raise_on_failure and not result.ok:
        bad = [f"{c.scheme}: {c.detail}" for c in result.cells.values() if not c.ok]
        raise AssertionError(f"backend {result.backends[0]!r} fails {len(bad)} cell(s):\n" + "\n".join(bad))
    return result
