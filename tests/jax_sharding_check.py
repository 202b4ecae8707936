"""Sharded init on 8 fake CPU devices; run by tests/test_jax_sharding.py in a subprocess.

Prints one JSON object and exits non-zero if a check fails. Needs
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before JAX is imported.
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import varinit.adapters.jax as vj
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import varinit

SEED = 11
CASES = [  # (mesh shape, axis names, spec, global shape, scheme)
    ((1,), ("x",), P("x"), (64, 96), "he_normal"),
    ((2,), ("x",), P("x"), (64, 96), "he_normal"),
    ((2,), ("x",), P(None, "x"), (64, 96), "he_normal"),
    ((4,), ("x",), P("x"), (64, 96), "glorot_uniform"),
    ((4,), ("x",), P(None, "x"), (64, 96), "he_normal"),
    ((8,), ("x",), P("x"), (64, 96), "he_normal"),
    ((8,), ("x",), P(None, "x"), (64, 96), "lecun_normal"),
    ((2, 4), ("x", "y"), P("x", "y"), (64, 96), "he_normal"),
    ((4, 2), ("x", "y"), P("y", "x"), (64, 96), "he_normal"),
    ((2, 4), ("x", "y"), P("x"), (64, 96), "he_normal"),  # replicated over y
    ((2, 4), ("x", "y"), P(None, None, None, "y"), (3, 3, 16, 32), "he_normal"),  # conv
]


def main() -> int:
    devices = np.array(jax.devices())
    assert devices.size == 8, f"expected 8 devices, got {devices.size}"
    blocks: list[tuple[int, ...]] = []  # shape of every block a device computed
    kernels: set[int] = set()  # the compiled kernels used: one per distinct block shape
    make_kernel = vj._block_kernel

    def spy(p, stream, block, length, work, out):  # type: ignore[no-untyped-def]
        kernel = make_kernel(p, stream, block, length, work, out)
        kernels.add(id(kernel))

        def run(k0, k1, lo, hi):  # type: ignore[no-untyped-def]
            y = kernel(k0, k1, lo, hi)
            blocks.append(tuple(y.shape))
            return y

        return run

    vj._block_kernel = spy
    key = jax.random.key(3)
    results, ok = [], True
    for mesh_shape, names, spec, shape, scheme in CASES:
        n = int(np.prod(mesh_shape))
        sharding = NamedSharding(Mesh(devices[:n].reshape(mesh_shape), names), spec)
        init = vj.initializer(scheme)
        whole = np.asarray(jax.jit(lambda: init(SEED, shape))())  # noqa: B023
        via_jit = jax.jit(lambda: init(SEED, shape), out_shardings=sharding)()  # noqa: B023
        blocks.clear()
        kernels.clear()
        a = vj.init_sharded(scheme, shape, sharding, seed=SEED)
        shard_shape = sharding.shard_shape(shape)
        own_blocks = all(s.data.shape == shard_shape for s in a.addressable_shards)
        generated_only_blocks = bool(blocks) and all(b == shard_shape for b in blocks)
        rnd = lambda k: jax.random.normal(k, shape)  # noqa: B023, E731
        r_whole = np.asarray(jax.jit(rnd)(key))
        r_sharded = np.asarray(jax.jit(rnd, out_shardings=sharding)(key))
        numpy_ref = varinit.init(scheme, shape, layout="in_out", seed=SEED)
        row = {
            "mesh": list(mesh_shape),
            "spec": str(spec),
            "shape": list(shape),
            "shard_shape": list(shard_shape),
            "kernels_compiled": len(kernels),
            "blocks_computed": len(blocks),
            "equal_unsharded": bool(np.array_equal(np.asarray(a), whole)),
            "jit_out_shardings_equal": bool(np.array_equal(np.asarray(via_jit), whole)),
            "own_blocks_only": own_blocks and generated_only_blocks,
            "max_abs_diff_vs_numpy": float(np.max(np.abs(np.asarray(a) - numpy_ref))),
            "jax_random_equal_unsharded": bool(np.array_equal(r_sharded, r_whole)),
        }
        ok &= row["equal_unsharded"] and row["jit_out_shardings_equal"] and row["own_blocks_only"]
        ok &= row["max_abs_diff_vs_numpy"] == 0.0
        ok &= len(blocks) == n and len(kernels) == 1  # one block per device, one compile
        ok &= shard_shape == shape or all(b != shape for b in blocks)
        results.append(row)
    # a block drawn on its own (what a per-device generator does): compare with the slice
    big = jax.random.normal(key, (64, 96))
    rows, cols = jax.random.normal(key, (8, 96)), jax.random.normal(key, (64, 12))
    full = varinit.init("he_normal", (64, 96), layout="in_out", seed=SEED, backend="jax")
    block_r = varinit.init(
        "he_normal", (64, 96), layout="in_out", seed=SEED, backend="jax", index=(slice(0, 8),)
    )
    block_c = varinit.init(
        "he_normal", (64, 96), layout="in_out", seed=SEED, backend="jax", index=(slice(None), slice(0, 12))
    )
    summary = {
        "devices": int(devices.size),
        "jax": jax.__version__,
        "threefry_partitionable": bool(jax.config.jax_threefry_partitionable),
        "cases": results,
        "varinit_row_block_equals_slice": bool(jnp.array_equal(block_r, full[:8])),
        "varinit_col_block_equals_slice": bool(jnp.array_equal(block_c, full[:, :12])),
        "jax_random_row_block_equals_slice": bool(jnp.array_equal(rows, big[:8])),
        "jax_random_col_block_equals_slice": bool(jnp.array_equal(cols, big[:, :12])),
        "ok": bool(ok),
    }
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
