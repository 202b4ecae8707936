"""init_tree on sharded leaves, 8 fake CPU devices; run by tests/test_jax_tree.py in a subprocess.

Prints one JSON object (one entry per leaf and mode) and exits 0; the test asserts on it.
Needs ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before JAX is imported.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import jax
import numpy as np
import varinit.adapters.jax as vj
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import varinit

SEED = 5
RULES = {"*.kernel": "he_normal", "*.bias": ("uniform", {"low": -0.5, "high": 0.5}), "*.q": "orthogonal"}
SCHEMES = {
    "kernel": ("he_normal", {}),
    "bias": ("uniform", {"low": -0.5, "high": 0.5}),
    "q": ("orthogonal", {}),
}


def leaves_spec(devices: np.ndarray) -> dict[str, tuple[tuple[int, ...], NamedSharding]]:
    m8 = Mesh(devices.reshape(8), ("x",))
    m24 = Mesh(devices.reshape(2, 4), ("x", "y"))
    return {
        "params.Dense_0.kernel": ((64, 96), NamedSharding(m8, P("x"))),
        "params.Dense_0.bias": ((96,), NamedSharding(m8, P("x"))),
        "params.Conv_0.kernel": ((3, 3, 16, 32), NamedSharding(m24, P(None, None, None, "y"))),
        "params.Dense_1.kernel": ((64, 96), NamedSharding(m24, P(None, "y"))),  # columns, over y
        "params.Dense_1.q": ((32, 32), NamedSharding(m8, P("x"))),  # structured: whole, then placed
    }


def build(spec: dict[str, tuple[tuple[int, ...], NamedSharding]], sharded: bool) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, (shape, sharding) in spec.items():
        _, layer, local = name.split(".")
        x = np.zeros(shape, np.float32)
        tree.setdefault("params", {}).setdefault(layer, {})[local] = (
            jax.device_put(x, sharding) if sharded else x
        )
    return tree


def leaf(tree: dict[str, Any], name: str) -> Any:
    _, layer, local = name.split(".")
    return tree["params"][layer][local]


def main() -> int:
    devices = np.array(jax.devices())
    spec = leaves_spec(devices)
    sharded, plain = build(spec, True), build(spec, False)
    drawn: list[tuple[str, tuple[int, ...]]] = []  # (device that computed it, block shape)
    make_kernel = vj._block_kernel

    def spy(*args: Any) -> Any:
        kernel = make_kernel(*args)

        def run(*a: Any) -> Any:
            y = kernel(*a)
            if not isinstance(y, jax.core.Tracer):
                drawn.append((str(next(iter(y.devices()))), tuple(y.shape)))
            return y

        return run

    vj._block_kernel = spy
    eager = vj.init_tree(sharded, RULES, seed=SEED)
    vj._block_kernel = make_kernel
    shardings = jax.tree_util.tree_map(lambda x: x.sharding, sharded)
    compiled = (
        jax.jit(lambda t: vj.init_tree(t, RULES, seed=SEED), out_shardings=shardings).lower(sharded).compile()
    )
    via_jit, text = compiled(sharded), compiled.as_text()
    traced = jax.jit(lambda t, s: vj.init_tree(t, RULES, seed=s), out_shardings=shardings)(sharded, SEED)
    key = jax.random.key(9)
    by_key = vj.init_tree(sharded, RULES, seed=key)
    by_key_plain = vj.init_tree(plain, RULES, seed=key)
    cases = []
    for name, (shape, sharding) in spec.items():
        scheme, kw = SCHEMES[name.rpartition(".")[2]]
        layout = {"layout": "in_out"} if len(shape) > 1 else {"fan_in": 64, "fan_out": 96}
        ref = varinit.init(
            scheme, shape, seed=SEED, stream=varinit.stream_id(name), backend="jax", **layout, **kw
        )
        new = leaf(eager, name)
        shard_shape = sharding.shard_shape(shape)
        shards = new.addressable_shards
        cases.append(
            {
                "name": name,
                "shape": list(shape),
                "shard_shape": list(shard_shape),
                "devices": len(sharding.device_set),
                "sharding_kept": bool(new.sharding.is_equivalent_to(sharding, len(shape))),
                "shards_own_shape": all(tuple(s.data.shape) == shard_shape for s in shards),
                "shards_on_their_device": all(s.data.devices() == {s.device} for s in shards),
                "equal_unsharded_init": bool(np.array_equal(np.asarray(new), np.asarray(ref))),
                "jit_equal": bool(np.array_equal(np.asarray(leaf(via_jit, name)), np.asarray(ref))),
                "jit_sharding_kept": bool(
                    leaf(via_jit, name).sharding.is_equivalent_to(sharding, len(shape))
                ),
                "traced_seed_equal": bool(np.array_equal(np.asarray(leaf(traced, name)), np.asarray(ref))),
                "key_sharding_kept": bool(leaf(by_key, name).sharding.is_equivalent_to(sharding, len(shape))),
                "key_equal_unsharded": bool(
                    np.array_equal(np.asarray(leaf(by_key, name)), np.asarray(leaf(by_key_plain, name)))
                ),
            }
        )
    # shapes in the partitioned program: per-device blocks only, never a drawn global array
    shapes = set(re.findall(r"f32\[([\d,]+)\]", text))
    summary = {
        "devices": int(devices.size),
        "cases": cases,
        "blocks": [list(b) for b in sorted(set(drawn))],
        "block_count": len(drawn),
        "hlo_f32_shapes": sorted(shapes),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
