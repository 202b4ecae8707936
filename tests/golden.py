"""Golden values of the portable stream: a hash of the exact bytes of every front door's draw.

The hashes in ``tests/data/golden.json`` were recorded before the architecture refactor
and must never change by accident. Record anew (only for a deliberate, documented change)
with ``python tests/golden.py --record``; the test ``tests/test_golden.py`` compares.

A case is ``door|backend|scheme|shape|dtype|seed|stream|index``; its value is the first 16
hex digits of the SHA-256 of the array's dtype, shape and bytes (C order).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).parent / "data" / "golden.json"

SHAPES: tuple[tuple[int, ...], ...] = ((64, 48), (3, 3, 8, 16))
LARGE = (520, 512)  # past every backend's chunk size and TF's compile threshold
DTYPES = ("float32", "float64", "float16", "bfloat16")
SEEDS = (0, 2**32 + 5, 2**64 - 1)
STREAMS = (1, 0x5EED_0000_0000_0001, 2**64 - 1)
BLOCK_SCHEMES = ("he_normal", "glorot_uniform", "trunc_normal", "normal", "kaiming_normal", "uniform")
INDEXES: tuple[Any, ...] = (
    (slice(8, 40),),
    (slice(None), slice(5, 30)),
    (slice(3, 60, 7), slice(2, 40, 5)),
    (5,),
    (slice(10, 20), 7),
    (-3, slice(None)),
)
HUGE = (2**20, 2**13)  # 2**33 elements: blocks whose words lie past 2**32
HUGE_INDEXES: tuple[Any, ...] = ((slice(2**19 - 1, 2**19 + 1), slice(8000, 8192)), (2**20 - 1, slice(0, 64)))


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def digest(x: Any) -> str:
    """Hash of dtype name, shape and raw bytes of any backend's array."""
    a = to_numpy(x)
    h = hashlib.sha256(f"{a.dtype.name}|{a.shape}|".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def to_numpy(x: Any) -> np.ndarray:
    mod = type(x).__module__
    if mod.startswith("torch"):
        import torch

        t = x.detach().cpu()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy().view(np.uint16).view(_bf16())
        return t.numpy()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        return np.asarray(x.numpy())
    return np.asarray(x)


def _bf16() -> Any:
    import ml_dtypes

    return ml_dtypes.bfloat16


def key(
    door: str, backend: str, scheme: str, shape: Any, dtype: str, seed: int, stream: int, index: Any
) -> str:
    return f"{door}|{backend}|{scheme}|{shape}|{dtype}|{seed}|{stream}|{index}"


def _dtypes(backend: str) -> tuple[str, ...]:
    return DTYPES if backend != "numpy" else DTYPES[:3]


def _init_cases(backend: str) -> Iterator[tuple[str, Callable[[], Any]]]:
    import varinit

    def call(**kw: Any) -> Callable[[], Any]:
        kw.setdefault("layout", "in_out")  # the default reading, said (no LayoutWarning)
        return lambda: varinit.init(backend=backend, **kw)

    for scheme in varinit.schemes():
        for shape in SHAPES:
            for dt in _dtypes(backend):
                yield (
                    key("init", backend, scheme, shape, dt, 0, 0, None),
                    call(scheme=scheme, shape=shape, seed=0, dtype=dt),
                )
        for dt in ("float32", "float64"):
            yield (
                key("init", backend, scheme, LARGE, dt, 0, 0, None),
                call(scheme=scheme, shape=LARGE, seed=0, dtype=dt),
            )
        for seed in SEEDS[1:]:
            yield (
                key("init", backend, scheme, SHAPES[0], "float32", seed, 0, None),
                call(scheme=scheme, shape=SHAPES[0], seed=seed),
            )
        for stream in STREAMS:
            yield (
                key("init", backend, scheme, SHAPES[0], "float32", 0, stream, None),
                call(scheme=scheme, shape=SHAPES[0], seed=0, stream=stream),
            )
        yield (
            key("init", backend, scheme, SHAPES[0], "float32", 0, 0, "out_in"),
            call(scheme=scheme, shape=SHAPES[0], seed=0, layout="out_in"),
        )
    for scheme in BLOCK_SCHEMES:
        for index in INDEXES:
            for dt in ("float32", "float64"):
                yield (
                    key("init", backend, scheme, SHAPES[0], dt, 7, 3, index),
                    call(scheme=scheme, shape=SHAPES[0], seed=7, stream=3, dtype=dt, index=index),
                )
        for index in HUGE_INDEXES:
            for dt in ("float32", "float64"):
                yield (
                    key("init", backend, scheme, HUGE, dt, 7, 0, index),
                    call(scheme=scheme, shape=HUGE, seed=7, dtype=dt, index=index),
                )


def _torch_cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    import torch
    from varinit.adapters import torch as vt

    import varinit

    dts = {
        "float32": torch.float32,
        "float64": torch.float64,
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
    }
    for scheme in varinit.schemes():
        for shape in ((48, 64), (16, 8, 3, 3)):
            for dt, tdt in dts.items():
                yield (
                    key("init_", "torch", scheme, shape, dt, 0, 0, None),
                    (lambda s=scheme, sh=shape, d=tdt: vt.init_(torch.empty(sh, dtype=d), s, seed=0)),
                )

    def module() -> Any:
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3),
            torch.nn.Conv2d(8, 8, 3, groups=4),
            torch.nn.Flatten(),
            torch.nn.Linear(32, 16),
            torch.nn.LayerNorm(16),
        )
        vt.init_module(
            net,
            {
                (torch.nn.Conv2d, "weight"): ("kaiming_normal", {"nonlinearity": "relu"}),
                "3.weight": "glorot_uniform",
                "*.bias": ("trunc_normal", {"std": 0.02}),
                "4.weight": "ones",
            },
            seed=11,
        )
        return torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    yield key("init_module", "torch", "rules", "net", "float32", 11, -1, None), module
    drop = {
        "xavier_uniform_": lambda t: vt.xavier_uniform_(t, gain=1.5, seed=3),
        "xavier_normal_": lambda t: vt.xavier_normal_(t, seed=3),
        "kaiming_uniform_": lambda t: vt.kaiming_uniform_(t, a=5**0.5, seed=3),
        "kaiming_normal_": lambda t: vt.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", seed=3),
        "trunc_normal_": lambda t: vt.trunc_normal_(t, std=0.02, seed=3),
        "orthogonal_": lambda t: vt.orthogonal_(t, seed=3),
        "sparse_": lambda t: vt.sparse_(t, 0.25, seed=3),
        "lecun_normal_": lambda t: vt.lecun_normal_(t, seed=3),
    }
    for name, fn in drop.items():
        yield (
            key("dropin", "torch", name, (40, 24), "float32", 3, 0, None),
            (lambda f=fn: f(torch.empty(40, 24))),
        )


def _jax_cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P
    from varinit.adapters import jax as vj

    import varinit

    for scheme in varinit.schemes():
        for shape in SHAPES:
            for dt in ("float32", "bfloat16", "float16"):
                init = vj.initializer(scheme)
                yield (
                    key("initializer", "jax", scheme, shape, dt, 5, 0, None),
                    (lambda i=init, sh=shape, d=dt: i(5, sh, jnp.dtype(d))),
                )
                yield (
                    key("initializer-jit", "jax", scheme, shape, dt, 5, 0, None),
                    (lambda i=init, sh=shape, d=dt: jax.jit(i, static_argnums=(1, 2))(5, sh, jnp.dtype(d))),
                )
    mesh = Mesh(np.array(jax.devices()), ("x",))
    for scheme in BLOCK_SCHEMES:
        for shape in ((64, 48), LARGE):
            yield (
                key("init_sharded", "jax", scheme, shape, "float32", 9, 2, None),
                (
                    lambda s=scheme, sh=shape: vj.init_sharded(
                        s, sh, NamedSharding(mesh, P("x")), seed=9, stream=2
                    )
                ),
            )


def _tf_cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    from varinit.adapters import tensorflow as vtf

    import varinit

    for scheme in varinit.schemes():
        for shape in (*SHAPES, LARGE):
            for dt in ("float32", "float64", "bfloat16"):
                init = vtf.initializer(scheme, seed=4)
                yield (
                    key("tf.initializer", "tensorflow", scheme, shape, dt, 4, 0, None),
                    (lambda i=init, sh=shape, d=dt: i(sh, d)),
                )


def _keras_cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    from varinit.adapters import keras as vk

    import varinit

    for scheme in varinit.schemes():
        for shape in SHAPES:
            init = vk.Initializer(scheme, seed=6, stream=8)
            yield (
                key("keras.Initializer", "keras", scheme, shape, "float32", 6, 8, None),
                (lambda i=init, sh=shape: i(sh)),
            )


#: group name -> (module it needs, case generator)
GROUPS: dict[str, tuple[str, Callable[[], Iterator[tuple[str, Callable[[], Any]]]]]] = {
    "init-numpy": ("numpy", lambda: _init_cases("numpy")),
    "init-torch": ("torch", lambda: _init_cases("torch")),
    "init-jax": ("jax", lambda: _init_cases("jax")),
    "init-tensorflow": ("tensorflow", lambda: _init_cases("tensorflow")),
    "torch": ("torch", _torch_cases),
    "jax": ("jax", _jax_cases),
    "tensorflow": ("tensorflow", _tf_cases),
    "keras": ("keras", _keras_cases),
}


def compute(group: str) -> dict[str, str]:
    """Every case of ``group``: key -> digest (cases that raise are not part of the stream)."""
    _, cases = GROUPS[group]
    out = {}
    for k, fn in cases():
        try:
            x = fn()
        except (ValueError, TypeError, IndexError, ArithmeticError) as e:
            out[k] = f"raises {type(e).__name__}"
            continue
        out[k] = digest(x)
    return out


def load() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(PATH.read_text())
    return data


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    if sys.argv[1:] != ["--record"]:
        raise SystemExit("usage: python tests/golden.py --record   (only for a deliberate change)")
    recorded = {g: compute(g) for g, (mod, _) in GROUPS.items() if have(mod)}
    PATH.write_text(json.dumps(recorded, indent=0, sort_keys=True) + "\n")
    print({g: len(v) for g, v in recorded.items()})
