"""Build and initialise a ~1e9-parameter transformer: eager vs deferred (``skip_init``).

(a) eager: torch builds the model with its own init kernels, then ``init_module`` fills it
    again with the portable stream (the values a user wants);
(b) deferred: ``with skip_init(): model = ...`` builds it on meta (no kernels, no memory),
    then ``init_module(..., device="cpu")`` materialises and fills it in one pass.

Both end with the same float32 values (checked on a few parameters). Best of ``--repeat``
wall times each, and the ratio, are printed; the model is dropped between runs. Float32
needs 4 bytes a parameter (about 4 GB at the default size). Nothing is asserted.

    python benchmarks/bench_deferred.py [--layers 19] [--width 2048] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch
from _common import cpuinfo, simd
from varinit.adapters.torch import init_module, skip_init

RULES: dict[Any, Any] = {
    "*.weight": ("normal", {"std": 0.02}),
    "*.bias": "zeros",
    "*ln*.weight": "ones",
}


class Block(torch.nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.fc = torch.nn.Linear(d, 4 * d)
        self.fc2 = torch.nn.Linear(4 * d, d)


class GPT(torch.nn.Module):
    """A GPT-like stack (embedding tied to the head); its parameters, not its forward."""

    def __init__(self, layers: int, d: int, vocab: int) -> None:
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, d)
        self.blocks = torch.nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight


def _isa() -> str:
    try:
        import varinit.rng.kernel as k

        return str(k.isa())
    except Exception as e:  # the compiled kernel is optional
        return f"no compiled kernel ({type(e).__name__})"


def _flags() -> str:
    info = cpuinfo()
    if info is None:
        return "unknown"
    return ", ".join(simd(info)) or "none of avx2/avx512f"


def _timed(build: Callable[[], torch.nn.Module]) -> tuple[float, torch.nn.Module]:
    gc.collect()
    t0 = time.perf_counter()
    model = build()
    return time.perf_counter() - t0, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=19)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-measure", action="store_true", help="skip the report's measured std")
    args = ap.parse_args()
    kw: dict[str, Any] = {"measure": False} if args.no_measure else {}

    def eager() -> torch.nn.Module:
        m = GPT(args.layers, args.width, args.vocab)
        init_module(m, RULES, seed=0, **kw)
        return m

    def deferred() -> torch.nn.Module:
        with skip_init():
            m = GPT(args.layers, args.width, args.vocab)
        init_module(m, RULES, seed=0, device="cpu", **kw)
        return m

    with skip_init():
        n = sum(p.numel() for p in GPT(args.layers, args.width, args.vocab).parameters())
    print(f"model: {args.layers} blocks, width {args.width}, vocab {args.vocab}: {n / 1e9:.3f}e9 parameters")
    print(f"({n * 4 / 2**30:.1f} GiB float32); torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; flags: {_flags()}")
    print(f"varinit kernel ISA: {_isa()}; report's measured std: {'off' if args.no_measure else 'on'}")
    best: dict[str, float] = {}
    check: dict[str, list[torch.Tensor]] = {}
    names = ("wte.weight", "blocks.0.fc.weight", f"blocks.{args.layers - 1}.fc2.bias", "ln_f.weight")
    for i in range(args.repeat):
        for label, fn in (("eager", eager), ("deferred", deferred)):
            dt, model = _timed(fn)
            best[label] = min(best.get(label, float("inf")), dt)
            print(f"  run {i + 1} {label:<8} {dt:7.2f} s", flush=True)
            if i == 0:
                check[label] = [model.get_parameter(k).detach()[:4].clone() for k in names]
            del model
    same = all(torch.equal(a, b) for a, b in zip(check["eager"], check["deferred"], strict=True))
    print(f"same values: {same}")
    print(
        f"best of {args.repeat}: eager {best['eager']:.2f} s, deferred {best['deferred']:.2f} s, "
        f"eager / deferred = {best['eager'] / best['deferred']:.2f}x"
    )


if __name__ == "__main__":
    main()
