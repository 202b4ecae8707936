"""NumPy benchmark: varinit vs numpy.random.Generator on a 4096 x 4096 float32 tensor.

Prints ratios measured in the same run (best of N); nothing is asserted. Targets:
native path <= 1.1x NumPy's sampler for the same distribution, portable path <= 2.0x
NumPy's normal, peak extra memory <= 1.5x the output, `import varinit` <= 50 ms more than
`import numpy`.

    python benchmarks/bench_numpy.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import timeit
import tracemalloc
from collections.abc import Callable

import numpy as np

import varinit

SHAPE = (4096, 4096)


def best(f: Callable[[], object], repeat: int) -> float:
    f()
    return min(timeit.repeat(f, number=1, repeat=repeat))


def peak_extra(f: Callable[[], np.ndarray]) -> float:
    """Peak traced allocation during ``f`` divided by the size of its result."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    out = f()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - out.nbytes) / out.nbytes


def import_time(stmt: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        times.append(float(out))
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    n = ap.parse_args().repeat
    rng = np.random.default_rng(0)
    f32 = np.float32
    np_normal = best(lambda: rng.standard_normal(SHAPE, dtype=f32), n)
    np_uniform = best(lambda: rng.uniform(-1.0, 1.0, SHAPE).astype(f32), n)
    np_random = best(lambda: rng.random(SHAPE, dtype=f32), n)
    print(f"4096x4096 float32, best of {n}  (numpy {np.__version__})")
    print(f"  numpy standard_normal(float32) {np_normal * 1e3:8.1f} ms")
    print(f"  numpy uniform(...).astype      {np_uniform * 1e3:8.1f} ms")
    print(f"  numpy random(float32)          {np_random * 1e3:8.1f} ms")
    rows = [
        ("xavier_normal", "normal", np_normal),
        ("glorot_uniform", "uniform", np_uniform),
        ("he_normal", "normal (NumPy has no truncated normal)", np_normal),
    ]
    print(f"\n  {'scheme':<16}{'path':<10}{'ms':>8}  ratio")
    for scheme, label, ref in rows:
        nat = best(lambda s=scheme: varinit.init(s, SHAPE, seed=rng), n)
        por = best(lambda s=scheme: varinit.init(s, SHAPE, seed=0), n)
        print(f"  {scheme:<16}{'native':<10}{nat * 1e3:8.1f}  {nat / ref:.2f}x numpy {label}")
        print(f"  {scheme:<16}{'portable':<10}{por * 1e3:8.1f}  {por / np_normal:.2f}x numpy normal")
    print("\n  peak extra memory / output size")
    for scheme in ("he_normal", "glorot_uniform"):
        print(f"  {scheme:<16}portable  {peak_extra(lambda s=scheme: varinit.init(s, SHAPE, seed=0)):.2f}x")
        print(f"  {scheme:<16}native    {peak_extra(lambda s=scheme: varinit.init(s, SHAPE, seed=rng)):.2f}x")
    t_np = import_time("import numpy")
    t_vi = import_time("import varinit")
    print(
        f"\n  import numpy {t_np * 1e3:.1f} ms, import varinit {t_vi * 1e3:.1f} ms "
        f"(+{(t_vi - t_np) * 1e3:.1f} ms)"
    )


if __name__ == "__main__":
    main()
