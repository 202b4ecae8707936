"""The portable stream's speed targets, as same-run ratios against each framework's own sampler.

Every row is best of N, varinit and the anchor timed alternately in the same run; nothing is
asserted. The ratio is varinit's time over the anchor's (below 1: varinit is faster).

- torch ``init_(w, ..., seed=0)`` vs ``torch.nn.init`` (kaiming_normal_, xavier_uniform_,
  trunc_normal_), 4096x4096: <= 1.0x
- NumPy ``he_normal`` with seed=0 vs ``rng.standard_normal(dtype=float32)``, 4096x4096: <= 0.6x
- ``init_module(seed=0)`` on 8 x Linear(4096) vs the ``torch.nn.init`` loop: <= 1.2x
- ``init_module(seed=0)`` on 500 x Linear(64) vs the loop: <= 2x
- eager JAX initializer (a key, as Flax calls it; an int seed) on 10 new shapes vs ``jax.nn``: <= 1.5x
- the portable path with a second busy process vs its quiet time: <= 2x

    python benchmarks/bench_targets.py [--repeat 7] [--isa baseline|avx2|avx512f] [--only torch,numpy,...]

``--isa`` caps the compiled kernel's variant (``VARINIT_KERNEL_ISA``), so one machine reports
its baseline and AVX2 (and AVX-512, where the CPU has it) figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import best_pair, cpuinfo, simd, timings

SHAPE = (4096, 4096)
GROUPS = ("torch", "numpy", "module", "jax", "busy")


def row(label: str, ours: float, theirs: float, target: str) -> None:
    print(
        f"  {label:<58}{ours * 1e3:9.2f} ms {theirs * 1e3:9.2f} ms {ours / theirs:7.2f}x  (target {target})"
    )


def cpu() -> str:
    info = cpuinfo()
    name = (info or {}).get("model name", "").strip()
    return f"{name or 'unknown CPU'} ({', '.join(simd(info)) or 'no AVX2'})"


def bench_torch(n: int) -> None:
    import torch
    from varinit.adapters.torch import init_

    w = torch.empty(SHAPE)
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {SHAPE} float32 "
        "(ours | torch.nn.init)"
    )
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "init_(w, 'kaiming_normal', seed=0) | kaiming_normal_",
            lambda: init_(w, "kaiming_normal", seed=0),
            lambda: torch.nn.init.kaiming_normal_(w),
        ),
        (
            "init_(w, 'xavier_uniform', seed=0) | xavier_uniform_",
            lambda: init_(w, "xavier_uniform", seed=0),
            lambda: torch.nn.init.xavier_uniform_(w),
        ),
        (
            "init_(w, 'trunc_normal', std=0.02, seed=0) | trunc_normal_",
            lambda: init_(w, "trunc_normal", std=0.02, seed=0),
            lambda: torch.nn.init.trunc_normal_(w, std=0.02),
        ),
    ]
    for label, ours, theirs in cases:
        row(label, *best_pair(ours, theirs, n), "<= 1.0x")


def bench_numpy(n: int) -> None:
    import numpy as np

    import varinit

    rng = np.random.default_rng(0)
    print(f"\nNumPy {np.__version__}, {SHAPE} (ours | rng.standard_normal(dtype=float32))")
    ours, theirs = best_pair(
        lambda: varinit.init("he_normal", SHAPE, seed=0),
        lambda: rng.standard_normal(SHAPE, dtype=np.float32),
        n,
    )
    row("varinit.init('he_normal', seed=0) | standard_normal", ours, theirs, "<= 0.6x")


def bench_module(n: int) -> None:
    import torch
    from varinit.adapters.torch import init_module

    rules = {"*.weight": "kaiming_uniform", "*.bias": "zeros"}
    print("\ninit_module(seed=0) vs a torch.nn.init loop (kaiming_uniform_ weights, zeros_ biases)")
    for count, width, target in ((8, 4096, "<= 1.2x"), (500, 64, "<= 2x")):
        net = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(count)])

        def loop(net: torch.nn.Module = net) -> None:
            for m in net.modules():
                if isinstance(m, torch.nn.Linear):
                    torch.nn.init.kaiming_uniform_(m.weight)
                    torch.nn.init.zeros_(m.bias)

        ours, theirs = best_pair(lambda net=net: init_module(net, rules, seed=0), loop, n)
        row(f"{count} x Linear({width})", ours, theirs, target)


def bench_jax(n: int) -> None:
    import jax
    import jax.numpy as jnp
    from varinit.adapters.jax import initializer

    ours, theirs = initializer("he_normal"), jax.nn.initializers.he_normal()
    key = jax.random.key(0)
    print(
        f"\njax {jax.__version__}: eager initializer on 10 new shapes each "
        "(ours | jax.nn.initializers.he_normal)"
    )
    trial = [0]

    def shapes() -> list[tuple[int, int]]:  # new shapes on every call: nothing compiled is reused
        trial[0] += 1
        return [(64 + 8 * i + 97 * trial[0], 48 + 4 * i) for i in range(10)]

    def run(f: Callable[[Any, tuple[int, int]], Any], arg: Any) -> Callable[[], None]:
        def go() -> None:
            for s in shapes():
                jax.block_until_ready(f(arg, s))

        return go

    try:
        import flax.linen as nn

        def mlp(init: Any) -> Callable[[], None]:
            widths = [48 + 16 * i for i in range(20)]  # 20 layers, each of a new shape

            class MLP(nn.Module):
                @nn.compact
                def __call__(self, x: Any) -> Any:
                    for w in widths:
                        x = nn.relu(nn.Dense(w + 4 * trial[0], kernel_init=init)(x))
                    return x

            def go() -> None:
                trial[0] += 1  # new widths every call: nothing compiled is reused
                jax.block_until_ready(MLP().init(key, jnp.ones((2, 32))))

            return go

        row(
            "un-jitted Flax init, 20 Dense layers",
            *best_pair(mlp(ours), mlp(theirs), max(3, n // 2)),
            "<= 1.5x",
        )
    except ImportError:
        pass
    anchor = run(lambda k, s: theirs(k, s, jnp.float32), key)
    row(
        "a key (Flax's call)",
        *best_pair(run(lambda k, s: ours(k, s), key), anchor, max(3, n // 2)),
        "<= 1.5x",
    )
    row(
        "an int seed (portable)",
        *best_pair(run(lambda k, s: ours(0, s), 0), anchor, max(3, n // 2)),
        "<= 1.5x",
    )


def bench_busy(n: int) -> None:
    import numpy as np

    import varinit

    print("\nthe portable path with a second busy process (busy | quiet; same call)")
    calls: list[tuple[str, Callable[[], object]]] = [
        ("NumPy he_normal seed=0", lambda: varinit.init("he_normal", SHAPE, seed=0))
    ]
    try:
        import torch
        from varinit.adapters.torch import init_

        w = torch.empty(SHAPE)
        calls.append(("torch init_ kaiming_normal seed=0", lambda: init_(w, "kaiming_normal", seed=0)))
        calls.append(
            ("(for comparison) torch.nn.init.kaiming_normal_", lambda: torch.nn.init.kaiming_normal_(w))
        )
    except ImportError:
        pass
    for label, f in calls:
        f()
        quiet = min(timings(f, n))
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.3)
            busy = min(timings(f, n))
        finally:
            hog.kill()
            hog.wait()
        row(label, busy, quiet, "<= 2x")
    print(f"  ({np.__name__} / torch threads share {os.cpu_count()} CPUs with the busy process)")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--isa", choices=("baseline", "avx2", "avx512f"), default=None)
    ap.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}")
    args = ap.parse_args()
    if args.isa:
        os.environ["VARINIT_KERNEL_ISA"] = args.isa  # read when the kernel loads, below
    from varinit.rng import kernel

    route = (
        f"compiled kernel, {kernel.isa()}"
        if kernel.available()
        else f"no kernel: {kernel.unavailable_reason()}"
    )
    print(f"CPU: {cpu()}; {os.cpu_count()} CPUs; portable route: {route}; best of {args.repeat}")
    print(f"  {'call (ours | anchor)':<58}{'ours':>12} {'anchor':>12} {'ratio':>8}")
    todo = [g.strip() for g in args.only.split(",") if g.strip()]
    for g in todo:
        if g not in GROUPS:
            raise SystemExit(f"--only {g!r}: choose from {', '.join(GROUPS)}")
        try:
            {
                "torch": bench_torch,
                "numpy": bench_numpy,
                "module": bench_module,
                "jax": bench_jax,
                "busy": bench_busy,
            }[g](args.repeat)
        except ImportError as e:
            print(f"\n{g}: skipped ({e.name} is not installed)")


if __name__ == "__main__":
    main()
