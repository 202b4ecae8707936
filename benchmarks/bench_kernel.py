"""Compiled-kernel benchmark: 4096 x 4096 float32, the portable stream through the C kernel.

For each plan kind (normal, truncated normal at +-2 sigma, uniform) it times
``varinit.rng.kernel.fill`` (every ISA variant this CPU runs, one thread and the automatic
thread count, into an existing buffer and into a fresh ``np.empty``) against the current NumPy
path (``varinit.init(..., seed=0)``), NumPy's own ``standard_normal(dtype=float32)`` and, when
torch is installed, ``torch.empty(...).normal_()``. Best of N, ratios from the same run;
nothing is asserted (the bits are checked once against ``varinit.init`` before timing).

    python benchmarks/bench_kernel.py [--repeat 7] [--threads N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import timeit
from collections.abc import Callable

import numpy as np
from _common import cpuinfo

import varinit
from varinit.core.request import request
from varinit.rng import kernel

SHAPE = (4096, 4096)
#: plan kind -> the scheme whose plan it is at SHAPE
SCHEMES = {"normal": "xavier_normal", "truncnorm": "he_normal", "uniform": "glorot_uniform"}


def best(f: Callable[[], object], repeat: int) -> float:
    f()
    return min(timeit.repeat(f, number=1, repeat=repeat))


def cpu_name() -> str:
    name = (cpuinfo() or {}).get("model name")
    if name is not None:
        return name.strip()
    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None, help="threads for the multi-threaded rows")
    args = ap.parse_args()
    n = args.repeat
    if not kernel.available():
        raise SystemExit(f"the compiled kernel is not available: {kernel.unavailable_reason()}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"4096x4096 float32, best of {n}; CPU: {cpu_name()}, {cpus} CPUs for this process")
    print(f"kernel: active ISA {kernel.isa()}; variants here: {', '.join(kernel.isas())}")

    rng = np.random.default_rng(0)
    np_normal = best(lambda: rng.standard_normal(SHAPE, dtype=np.float32), n)
    refs = [("numpy standard_normal(float32)", np_normal)]
    if importlib.util.find_spec("torch") is not None:
        import torch

        threads = torch.get_num_threads()
        t = torch.empty(SHAPE)
        torch.set_num_threads(1)
        refs.append(("torch normal_ into existing, 1 thread", best(lambda: t.normal_(), n)))
        torch.set_num_threads(threads)
        refs.append((f"torch normal_ into existing, {threads} threads", best(lambda: t.normal_(), n)))
        refs.append(
            (f"torch.empty().normal_(), {threads} threads", best(lambda: torch.empty(SHAPE).normal_(), n))
        )
    for name, t in refs:
        print(f"  {name:<44}{t * 1e3:8.1f} ms")

    out = np.empty(SHAPE, np.float32)
    for kind, scheme in SCHEMES.items():
        req = request(scheme, SHAPE, seed=0)
        plan_args = kernel.plan_args(req.plan)
        assert plan_args is not None
        _, params = plan_args
        numpy_path = best(lambda s=scheme: varinit.init(s, SHAPE, seed=0), max(2, n // 2))
        kernel.fill(out, kind, params, 0, 0, [0], out.size)
        assert np.array_equal(out.view(np.uint32), varinit.init(scheme, SHAPE, seed=0).view(np.uint32))
        print(f"\n{kind} ({scheme}: {req.plan.describe()})")
        print(f"  {'varinit.init(seed=0), NumPy path':<44}{numpy_path * 1e3:8.1f} ms")
        print(f"  {'route':<44}{'ms':>8}  {'vs NumPy path':>13}  {'vs numpy normal':>15}", end="")
        print("".join(f"  vs {name.split(',')[0].split(' into')[0]:>12}" for name, _ in refs[1:2]))
        for isa in kernel.isas():

            def run(buf: np.ndarray | None, threads: int | None, isa: str = isa) -> None:
                o = np.empty(SHAPE, np.float32) if buf is None else buf
                kernel.fill(o, kind, params, 0, 0, [0], o.size, threads, isa=isa)  # noqa: B023

            rows: list[tuple[str, Callable[[], object]]] = [
                (f"kernel {isa}, 1 thread", lambda r=run: r(out, 1)),
                (f"kernel {isa}, threads={args.threads or 'auto'}", lambda r=run: r(out, args.threads)),
                (
                    f"kernel {isa}, into np.empty, threads={args.threads or 'auto'}",
                    lambda r=run: r(None, args.threads),
                ),
            ]
            for label, f in rows:
                t = best(f, n)
                line = f"  {label:<44}{t * 1e3:8.1f}  {t / numpy_path:12.3f}x  {t / np_normal:14.3f}x"
                if len(refs) > 1:
                    line += f"  {t / refs[1][1]:14.3f}x"
                print(line)


if __name__ == "__main__":
    main()
