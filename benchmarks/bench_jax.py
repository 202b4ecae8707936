"""JAX: varinit vs jax.nn.initializers, 4096x4096 float32, jitted, best of N (same run).

    python benchmarks/bench_jax.py [--repeat 10]

Prints milliseconds and the ratio to the JAX anchor for the native-key path (JAX's
threefry bits through varinit's transform) and the portable path (Philox4x32-10 built
from jnp integer ops, one fused elementwise kernel).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import _common
import jax
import jax.numpy as jnp
from varinit.adapters.jax import initializer

SHAPE = (4096, 4096)


def best(fn: Callable[[Any], Any], arg: Any, repeat: int) -> float:
    """Best of ``repeat`` calls of ``fn(arg)`` after one that compiles, each waited for."""
    return _common.best(lambda: fn(arg), repeat, sync=jax.block_until_ready)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    key = jax.random.key(0)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {SHAPE} float32, best of {args.repeat}")
    rows = [
        ("he_normal", jax.nn.initializers.he_normal()),
        ("glorot_uniform", jax.nn.initializers.glorot_uniform()),
    ]
    for name, anchor in rows:
        ref = jax.jit(lambda k, a=anchor: a(k, SHAPE, jnp.float32))
        ours = initializer(name)
        native = jax.jit(lambda k, f=ours: f(k, SHAPE))
        portable = jax.jit(lambda s, f=ours: f(0, SHAPE))  # int seed: static, portable
        # interleave the three so load on a shared machine hits them alike
        t_ref, t_nat, t_port = [], [], []
        for _ in range(3):
            t_ref.append(best(ref, key, args.repeat))
            t_nat.append(best(native, key, args.repeat))
            t_port.append(best(portable, 0, args.repeat))
        r, n, p = min(t_ref), min(t_nat), min(t_port)
        print(
            f"{name:15s} jax.nn {r * 1e3:7.1f} ms | native key {n * 1e3:7.1f} ms "
            f"({n / r:.2f}x, target <= 1.2x) | portable seed {p * 1e3:7.1f} ms "
            f"({p / r:.2f}x, target <= 1.5x)"
        )
    # the Philox multiply: 32x32->64 products (default) vs 16-bit limbs in uint32 only
    from varinit.adapters import _jax_philox as ops  # where the multiply lives

    words = {}
    for label, x64 in (("64-bit products", ops._X64), ("16-bit limbs", None)):
        saved, ops._X64 = ops._X64, x64
        try:
            fn = jax.jit(lambda s: initializer("uniform", low=0.0, high=1.0)(0, SHAPE))
            words[label] = best(fn, 0, args.repeat)
        finally:
            ops._X64 = saved
    print("portable uniform(0, 1): " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in words.items()))


if __name__ == "__main__":
    main()
