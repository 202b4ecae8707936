"""Timings for the activation-aware features (printed, not asserted).

    python benchmarks/bench_activation.py

Targets: ``propagate`` at depth 50, width 1024 on NumPy under 5 s; a quadrature gain
(``method="moment"``) under 10 ms.
"""

from __future__ import annotations

from _common import best

import varinit


def main() -> None:
    varinit.propagate("he_normal", "relu", depth=2, width=64)  # warm up imports
    for scheme, act in (("he_normal", "relu"), ("glorot_normal", "tanh")):
        t = best(lambda s=scheme, a=act: varinit.propagate(s, a, depth=50, width=1024), 2, warmup=False)
        print(f"propagate({scheme!r}, {act!r}, depth=50, width=1024, batch=128): {t:.2f} s (target < 5 s)")
    for act in ("relu", "elu", "gelu", "tanh"):
        varinit.gain(act, method="moment")  # nodes are cached after the first call
        t = best(lambda a=act: varinit.gain(a, method="moment"), 20, warmup=False)
        print(f"gain({act!r}, method='moment'): {t * 1e3:.2f} ms (target < 10 ms)")
    t = best(lambda: varinit.gain(lambda z: z * (z > 0), method="moment"), 20, warmup=False)
    print(f"gain(callable relu, method='moment'): {t * 1e3:.2f} ms")
    from varinit.theory import gains as _gains

    _gains._nodes.cache_clear()
    t = best(lambda: (_gains._nodes.cache_clear(), varinit.gain("tanh", method="moment")), 5, warmup=False)
    print(f"gain('tanh', method='moment') with cold quadrature nodes: {t * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
