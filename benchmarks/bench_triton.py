"""The Triton route on a GPU: issue 16's speed targets as same-run ratios (needs CUDA).

Prints, for each draw, the best of N against torch's own in the same run; nothing is
asserted. Targets: portable ``init_`` (an int seed) on 4096² and 16384² float32 tensors
<= 2x ``torch.nn.init.kaiming_normal_``; ``init_module(seed=0)`` of a stack of Linear layers
(``--params``, default 10**9) <= 2x the ``torch.nn.init`` loop. Also prints the eager
fallback (``VARINIT_TRITON=0`` semantics, forced here) for comparison, and the device.

    python benchmarks/bench_triton.py [--repeat 5] [--params 1e9]
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import torch
from varinit.adapters import torch as vt

from varinit.rng import triton_kernel


def best(f: Callable[[], object], repeat: int) -> float:
    def run() -> None:
        f()
        torch.cuda.synchronize()

    run()  # compile, warm the caches
    return min(timeit.repeat(run, number=1, repeat=repeat))


def eager(f: Callable[[], object]) -> Callable[[], object]:
    """``f`` with the Triton route declined (the eager torch path draws)."""

    def g() -> object:
        state = dict(triton_kernel._state)
        triton_kernel._state.update(impl=None, reason="forced off for the benchmark")
        try:
            return f()
        finally:
            triton_kernel._state.clear()
            triton_kernel._state.update(state)

    return g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--params", type=float, default=1e9)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_triton.py needs a CUDA device")
    print(f"device: {torch.cuda.get_device_name()}; triton route ready: {triton_kernel.ready('cuda')}")
    for n in (4096, 16384):
        w = torch.empty(n, n, device="cuda")
        g = torch.Generator(device="cuda").manual_seed(0)
        base = best(lambda w=w, g=g: torch.nn.init.kaiming_normal_(w, generator=g), args.repeat)
        fused = best(lambda w=w: vt.init_(w, "kaiming_normal", seed=0), args.repeat)
        slow = best(eager(lambda w=w: vt.init_(w, "kaiming_normal", seed=0)), max(1, args.repeat // 2))
        print(
            f"{n}x{n} kaiming_normal: torch {base * 1e3:.2f} ms; varinit Triton {fused / base:.2f}x "
            f"(target <= 2x); eager fallback {slow / base:.1f}x"
        )
    width = 8192
    layers = max(1, round(args.params / (width * width + width)))
    net = torch.nn.Sequential(*[torch.nn.Linear(width, width, device="cuda") for _ in range(layers)])

    def torch_loop() -> None:
        for m in net:
            torch.nn.init.kaiming_normal_(m.weight)
            torch.nn.init.zeros_(m.bias)

    rules = {"*.weight": "kaiming_normal", "*.bias": "zeros"}
    base = best(torch_loop, args.repeat)
    fused = best(lambda: vt.init_module(net, rules, seed=0), args.repeat)
    print(
        f"init_module, {layers} Linear({width}, {width}) ({layers * (width * width + width) / 1e9:.2f}e9 "
        f"parameters): torch loop {base * 1e3:.1f} ms; varinit Triton {fused / base:.2f}x (target <= 2x)"
    )


if __name__ == "__main__":
    main()
