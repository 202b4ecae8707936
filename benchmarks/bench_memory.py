"""Peak extra memory of a portable draw, as a multiple of the block it returns (target <= 1.2x).

Each case runs in a fresh process: it imports, draws a small block of the same kind once
(compiled functions and caches are made then), reads the peak resident set, draws the real
block, and reads the peak again. Extra = (peak growth - the block's bytes) / the block's bytes.
Nothing is asserted.

    python benchmarks/bench_memory.py [--mib 64] [--only numpy,torch,jax,jax-key,tensorflow]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

#: (name, backend, global shape, index or None); the block is about --mib MiB of float32
CASES = [
    ("whole tensor", None),
    ("rows of a wider tensor (a DTensor Shard(0))", "rows"),
    ("columns of a taller tensor (Shard(1))", "cols"),
    ("one column of a huge tensor (tall, thin)", "column"),
]

CHILD = r"""
import json, resource, sys
backend, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np
import varinit

def case(side):
    if kind == "whole":
        return (side, side), None
    if kind == "rows":
        return (4 * side, side), (slice(side, 2 * side),)
    if kind == "cols":
        return (side, 4 * side), (slice(None), slice(side, 2 * side))
    return (side * side, 1 << 20), (slice(None), 7)

def draw(side):
    shape, index = case(side)
    if backend == "torch":
        import torch
        from varinit.adapters.torch import init_
        if index is None:
            return init_(torch.empty(shape), "he_normal", seed=0)
    if backend == "jax-key":  # what Flax runs: the initializer with a key, whole tensors only
        import jax
        from varinit.adapters.jax import initializer
        x = initializer("he_normal")(jax.random.key(0), shape) if index is None else None
        if x is None:
            raise SystemExit("blocks take int seeds")
        return x.block_until_ready()
    x = varinit.init("he_normal", shape, seed=0, backend=backend, index=index)
    if backend == "jax":
        x.block_until_ready()
    return x

side = int((n // 4) ** 0.5)
draw(max(8, side // 64))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
x = draw(side)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
nbytes = int(np.prod(x.shape)) * 4
print(json.dumps({"extra": (after - before - nbytes) / nbytes, "block": list(x.shape)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--only", default="numpy,torch,jax,jax-key,tensorflow")
    args = ap.parse_args()
    n = args.mib << 20
    print(f"peak extra memory / block, he_normal float32, seed=0, blocks of about {args.mib} MiB")
    for backend in args.only.split(","):
        for label, kind in CASES[:1] if backend == "jax-key" else CASES:
            r = subprocess.run(
                [sys.executable, "-c", CHILD, backend, kind or "whole", str(n)],
                capture_output=True,
                text=True,
            )
            if r.returncode:
                tail = (r.stderr.strip().splitlines() or ["?"])[-1]
                print(f"  {backend:<11}{label:<46} failed: {tail}")
                continue
            got = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"  {backend:<11}{label:<46}{got['extra']:6.2f}x  block {tuple(got['block'])}")


if __name__ == "__main__":
    main()
