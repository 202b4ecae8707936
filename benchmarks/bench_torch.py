"""PyTorch benchmark: varinit's torch adapter vs torch.nn.init on a 4096 x 4096 float32 tensor.

Prints ratios measured in the same run (best of N); nothing is asserted. Targets: native
path (a torch.Generator) <= 1.2x torch.nn.init for the same distribution; portable path
(an int seed, Philox in int64 torch ops + the Array-API transform) <= 3x. The portable
path is timed for several chunk sizes, the fastest is marked; CUDA rows are added when a
GPU is present.

    python benchmarks/bench_torch.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import timeit
from collections.abc import Callable

import torch
from varinit.adapters import torch as vt

SHAPE = (4096, 4096)
CHUNKS = ((1 << 16, 1 << 16), (1 << 18, 1 << 18), (1 << 19, 1 << 19), (1 << 20, 1 << 20))


def best(f: Callable[[], object], repeat: int, sync: Callable[[], None]) -> float:
    def run() -> None:
        f()
        sync()

    run()
    return min(timeit.repeat(run, number=1, repeat=repeat))


def bench(device: str, repeat: int) -> None:
    sync: Callable[[], None] = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    w = torch.empty(SHAPE, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    default = (type(vt.BACKEND).chunk, type(vt.BACKEND).transform_chunk)
    rows: list[tuple[str, Callable[[], object], Callable[[], object], str]] = [
        (
            "xavier_uniform",
            lambda: torch.nn.init.xavier_uniform_(w, generator=g),
            lambda: vt.xavier_uniform_(w, generator=g),
            "glorot_uniform",
        ),
        (
            "kaiming_normal",
            lambda: torch.nn.init.kaiming_normal_(w, generator=g),
            lambda: vt.kaiming_normal_(w, generator=g),
            "kaiming_normal",
        ),
        (
            "trunc_normal",
            lambda: torch.nn.init.trunc_normal_(w, std=0.02, generator=g),
            lambda: vt.trunc_normal_(w, std=0.02, generator=g),
            "trunc_normal",
        ),
    ]
    print(
        f"\n4096x4096 float32 on {device}, best of {repeat} (torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads)"
    )
    print(
        f"  {'torch.nn.init':<16}{'torch ms':>9}{'native ms':>10}{'ratio':>7}"
        f"{'portable ms':>13}{'ratio':>7}  (chunk)"
    )
    for name, theirs, native, scheme in rows:
        t_ref = best(theirs, repeat, sync)
        t_nat = best(native, repeat, sync)
        kw = {"std": 0.02} if scheme == "trunc_normal" else {}
        portable: list[tuple[float, int]] = []
        for chunk, tchunk in CHUNKS:
            type(vt.BACKEND).chunk, type(vt.BACKEND).transform_chunk = chunk, tchunk
            t = best(lambda s=scheme, k=kw: vt.init_(w, s, seed=0, **k), repeat, sync)
            portable.append((t, chunk))
        t_por, chunk = min(portable)
        print(
            f"  {name:<16}{t_ref * 1e3:9.1f}{t_nat * 1e3:10.1f}{t_nat / t_ref:6.2f}x"
            f"{t_por * 1e3:13.1f}{t_por / t_ref:6.2f}x  (2**{int(math.log2(chunk))})"
        )
        print(
            "    portable by chunk: "
            + ", ".join(f"2**{int(math.log2(c))}: {t * 1e3:.0f} ms" for t, c in portable)
        )
    type(vt.BACKEND).chunk, type(vt.BACKEND).transform_chunk = default


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    n = ap.parse_args().repeat
    bench("cpu", n)
    if torch.cuda.is_available():
        bench("cuda", n)


if __name__ == "__main__":
    main()
