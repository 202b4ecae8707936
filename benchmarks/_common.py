"""What the benchmarks share: best-of-N wall times and the CPU they ran on.

The benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on
``sys.path`` and they import this module as ``_common``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: the SIMD extensions that matter to the compiled kernels, in the order they are printed
SIMD = ("avx2", "fma", "avx512f")


# --------------------------------------------------------------------------- timing


def timings(f: Callable[[], object], n: int) -> list[float]:
    """The wall time of each of ``n`` calls of ``f``, in seconds."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return out


def best(
    f: Callable[[], Any], repeat: int, *, warmup: bool = True, sync: Callable[[Any], object] | None = None
) -> float:
    """The fastest of ``repeat`` calls of ``f``, in seconds, after one untimed call (compiles,
    caches) unless ``warmup=False``. ``sync`` (``jax.block_until_ready``) is applied to each
    result inside the timed call, so asynchronous work is counted."""
    run = f if sync is None else lambda: sync(f())
    if warmup:
        run()
    return min(timings(run, repeat))


def best_pair(
    a: Callable[[], object],
    b: Callable[[], object],
    repeat: int,
    *,
    sync: Callable[[Any], object] | None = None,
) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of each, after a warm-up; the two alternate, so a slow
    spell of a shared machine slows both. ``sync``: as for :func:`best`."""
    if sync is not None:
        a, b = _synced(a, sync), _synced(b, sync)
    a()
    b()
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeat):
        for f, times in ((a, ta), (b, tb)):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
    return min(ta), min(tb)


def _synced(f: Callable[[], object], sync: Callable[[Any], object]) -> Callable[[], object]:
    return lambda: sync(f())


# --------------------------------------------------------------------------- the CPU


def cpuinfo() -> dict[str, str] | None:
    """The first value of each field of ``/proc/cpuinfo`` (Linux), unstripped; None where it
    cannot be read."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value)
    except OSError:
        return None
    return fields


def simd(info: dict[str, str] | None) -> list[str]:
    """Those of ``SIMD`` the CPU reports, in that order."""
    flags = (info or {}).get("flags", "").split()
    return [f for f in SIMD if f in flags]


def cpu_flags() -> str:
    """The SIMD extensions the CPU reports (Linux), of those that matter to the kernels."""
    info = cpuinfo()
    if info is None:
        return "unknown"
    have = simd(info)
    return ", ".join(have) + ("" if "avx512f" in have else "; no AVX-512")
