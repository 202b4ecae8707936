"""JAX whole-model init: ``init_tree(params, rules, seed=0)`` vs Flax linen's ``model.init``.

Two Flax linen models: a ResNet-18-like convnet (basic blocks [2, 2, 2, 2], widths 32-256,
BatchNorm, one 32x32 RGB image) and a 12-layer pre-norm transformer (width 256, 4 heads,
MLP 1024, vocabulary 4096, 64 tokens; attention from ``nn.Dense``). Flax's own init is
``model.init(key, x)`` (its initializers, and the forward pass that creates them); varinit's
is ``init_tree`` on the same params with the rules that reproduce Flax's defaults
(LeCun-normal kernels, zero biases, unit scales, embeddings N(0, 1/features)), an int seed
(one portable stream per leaf), with and without the report's measured std. Eager and under
``jax.jit`` (compiled once before timing), best of N in the same run, Flax's and varinit's
runs alternating (a slow spell of a shared machine slows both); the ratios are
printed, nothing is asserted.

    python benchmarks/bench_models_jax.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from _common import best, best_pair, cpu_flags
from varinit.adapters.jax import init_tree

FLAX_DEFAULTS = {
    "weight": "lecun_normal",
    "bias": "zeros",
    "embedding": ("normal", {"std": "= 1 / sqrt(fan_out)"}),
    "norm_scale": "ones",
    "norm_bias": "zeros",
}


# --------------------------------------------------------------------------- models


class BasicBlock(nn.Module):
    width: int
    stride: int

    @nn.compact
    def __call__(self, x: Any) -> Any:
        s = (self.stride, self.stride)
        h = nn.relu(nn.BatchNorm(use_running_average=True)(nn.Conv(self.width, (3, 3), s, use_bias=False)(x)))
        h = nn.BatchNorm(use_running_average=True)(nn.Conv(self.width, (3, 3), use_bias=False)(h))
        if self.stride != 1 or x.shape[-1] != self.width:
            x = nn.Conv(self.width, (1, 1), s, use_bias=False)(x)
            x = nn.BatchNorm(use_running_average=True)(x)
        return nn.relu(x + h)


class ResNet18(nn.Module):
    widths: tuple[int, ...] = (32, 64, 128, 256)
    classes: int = 1000

    @nn.compact
    def __call__(self, x: Any) -> Any:
        x = nn.Conv(self.widths[0], (7, 7), (2, 2), use_bias=False)(x)
        x = nn.relu(nn.BatchNorm(use_running_average=True)(x))
        for s, w in enumerate(self.widths):
            for b in range(2):
                x = BasicBlock(w, 2 if s > 0 and b == 0 else 1)(x)
        return nn.Dense(self.classes)(x.mean(axis=(1, 2)))


class Block(nn.Module):
    d: int
    heads: int

    @nn.compact
    def __call__(self, x: Any) -> Any:
        h = nn.LayerNorm()(x)
        q, k, v = (nn.Dense(self.d)(h) for _ in range(3))
        split = lambda t: t.reshape(*t.shape[:-1], self.heads, -1)  # noqa: E731
        att = nn.dot_product_attention(split(q), split(k), split(v))
        x = x + nn.Dense(self.d)(att.reshape(x.shape))
        h = nn.gelu(nn.Dense(4 * self.d)(nn.LayerNorm()(x)))
        return x + nn.Dense(self.d)(h)


class Transformer(nn.Module):
    n_layer: int = 12
    d: int = 256
    heads: int = 4
    vocab: int = 4096

    @nn.compact
    def __call__(self, ids: Any) -> Any:
        x = nn.Embed(self.vocab, self.d)(ids)
        for _ in range(self.n_layer):
            x = Block(self.d, self.heads)(x)
        return nn.Dense(self.vocab, use_bias=False)(nn.LayerNorm()(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(
        f"JAX {jax.__version__}, Flax {flax.__version__}, {jax.devices()[0].platform}; {platform.machine()} "
        f"({cpu_flags()}), {os.cpu_count()} cores; best of {args.repeat}"
    )
    head = ("model", "leaves", "params", "mode", "flax", "varinit", "ratio", "+measure", "ratio")
    print(f"{head[0]:<12}{head[1]:>7}{head[2]:>12}  {head[3]:<6}" + "".join(f"{h:>10}" for h in head[4:]))
    key = jax.random.key(0)
    models = (
        ("resnet18", ResNet18(), jnp.zeros((1, 32, 32, 3))),
        ("transformer", Transformer(), jnp.zeros((1, 64), jnp.int32)),
    )
    for name, model, x in models:
        params = model.init(key, x)
        leaves = jax.tree_util.tree_leaves(params["params"])
        n = sum(math.prod(v.shape) for v in leaves)
        ours_jit = jax.jit(lambda t: init_tree(t, FLAX_DEFAULTS, seed=0, strict=False))
        theirs_jit = jax.jit(model.init)
        runs: dict[str, tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any] | None]] = {
            "eager": (
                lambda m=model, x=x: m.init(key, x),
                lambda p=params: init_tree(p, FLAX_DEFAULTS, seed=0, strict=False),
                lambda p=params: init_tree(p, FLAX_DEFAULTS, seed=0, strict=False, measure=True),
            ),
            "jit": (
                lambda f=theirs_jit, x=x: f(key, x),
                lambda f=ours_jit, p=params: f(p),
                None,
            ),
        }
        for mode, (theirs, ours, measured) in runs.items():
            t_flax, t_ours = best_pair(theirs, ours, args.repeat, sync=jax.block_until_ready)
            line = (
                f"{name:<12}{len(leaves):>7}{n:>12,}  {mode:<6}{t_flax * 1e3:>8.1f}ms"
                f"{t_ours * 1e3:>8.1f}ms{t_ours / t_flax:>9.2f}x"
            )
            if measured is not None:
                t_meas = best(measured, args.repeat, sync=jax.block_until_ready)
                line += f"{t_meas * 1e3:>8.1f}ms{t_meas / t_flax:>9.2f}x"
            print(line)


if __name__ == "__main__":
    main()
