"""The XLA route on every JAX platform here: portable draws compiled for the device equal the CPU
reference bit for bit.

Each test runs once per platform: ``cpu`` always (so CI runs every test body), ``gpu`` where JAX
has one (skipped otherwise: ``pip install "jax[cuda12]"`` on a machine with a GPU). XLA contracts
``a * b + c`` into fused multiply-adds on both; the backend's ``fence`` keeps every product rounded,
so the compiled transform must give the NumPy reference's (and the C kernel's) bits:

- all 2**24 float32 uniforms of the stream's grid through each kind of plan (uniform, normal,
  the truncated normal's linear, narrow and log regimes, far tails down to [-40, -39]);
- float64 uniforms (with ``jax.enable_x64``): the lowest, the highest and a stride through the rest;
- whole draws under ``jax.jit`` on the device, blocks with row starts past 2**32, ``init_tree``,
  and ``init_sharded`` over all of the platform's devices.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytestmark = pytest.mark.jax

import jax.numpy as jnp  # noqa: E402
from _plans import PLANS, float32_grid  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402
from varinit.adapters.jax import JaxBackend, init_sharded, init_tree, initializer  # noqa: E402

import varinit  # noqa: E402
from varinit.rng import kernel  # noqa: E402

SCHEMES = ["he_normal", "glorot_uniform", "trunc_normal", "lecun_normal", "normal", "kaiming_uniform"]


@pytest.fixture(params=["cpu", "gpu"], scope="module")
def device(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The platform's first device, made JAX's default for the test."""
    try:
        dev = jax.devices(request.param)[0]
    except RuntimeError:
        pytest.skip(f"JAX has no {request.param} device here")
    with jax.default_device(dev):
        yield dev


def _bits(a: Any) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def _differ(got: Any, want: Any) -> int:
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
    return int((_bits(g) != _bits(w)).sum())


def _on(x: Any, dev: Any) -> None:
    assert x.devices() == {dev}, (x.devices(), dev)


def _reference(plan: Any, u: np.ndarray) -> np.ndarray:
    """The CPU reference: the compiled C kernel where it is built, else the NumPy definition."""
    args = plan.kernel_args()
    if kernel.available() and args is not None:
        return kernel.transform(u, *args)
    return np.asarray(plan.transform(np, u))


def _transform_on(dev: Any, plan: Any, u: np.ndarray) -> Any:
    x = jax.jit(lambda v: plan.transform(jnp, v, fence=JaxBackend.fence))(jax.device_put(u, dev))
    _on(x, dev)
    return x


@pytest.mark.parametrize("name", list(PLANS))
def test_every_float32_uniform_through_each_plan(device: Any, name: str) -> None:
    u = float32_grid()
    got = _transform_on(device, PLANS[name], u)
    assert _differ(got, _reference(PLANS[name], u)) == 0


@pytest.mark.parametrize("name", list(PLANS))
def test_float64_uniforms_through_each_plan(device: Any, name: str) -> None:
    """The float64 transform: the 2**16 lowest and highest uniforms and a stride through the rest."""
    step = 2.0**-53
    k = np.concatenate(
        [np.arange(1 << 16), (1 << 53) - 1 - np.arange(1 << 16), np.arange(1 << 16) * 1_000_003_001_337]
    ).astype(np.uint64)
    u = np.minimum(k.astype(np.float64) * step + step / 2, 1.0 - step)
    with jax.enable_x64(True):
        got = _transform_on(device, PLANS[name], u)
        assert got.dtype == jnp.float64
        assert _differ(got, _reference(PLANS[name], u)) == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_jitted_draw_on_the_device_equals_numpy(device: Any, scheme: str) -> None:
    shape = (1024, 777)
    got = jax.jit(lambda: initializer(scheme)(20261125, shape))()
    _on(got, device)
    want = varinit.init(scheme, shape, seed=20261125, layout="in_out", backend="numpy")
    assert _differ(got, want) == 0


def test_eager_draw_with_a_stream_on_the_device_equals_numpy(device: Any) -> None:
    kw: dict[str, Any] = {"seed": 2**64 - 1, "stream": 2**63 + 5, "layout": "in_out"}
    got = varinit.init("he_normal", (512, 300), backend="jax", **kw)
    _on(got, device)
    assert _differ(got, varinit.init("he_normal", (512, 300), **kw)) == 0


@pytest.mark.parametrize("scheme", ["glorot_normal", "trunc_normal", "uniform"])
def test_block_past_element_2_32_equals_numpy(device: Any, scheme: str) -> None:
    """Rows of a (2**20, 2**13) tensor near its end: counters past 2**32, the whole never drawn."""
    shape, index = (1 << 20, 1 << 13), (slice((1 << 20) - 40, (1 << 20) - 3, 3), slice(100, 1900))
    kw: dict[str, Any] = {"seed": 5, "layout": "in_out", "index": index}
    got = varinit.init(scheme, shape, backend="jax", **kw)
    _on(got, device)
    assert _differ(got, varinit.init(scheme, shape, **kw)) == 0


def test_init_tree_on_the_device_equals_numpy_per_leaf(device: Any) -> None:
    tree = {"dense": {"kernel": np.zeros((96, 64), np.float32), "bias": np.zeros(64, np.float32)}}
    rules = {"dense.kernel": "trunc_normal", "dense.bias": ("uniform", {"low": -0.1, "high": 0.1})}
    new = jax.jit(lambda t: init_tree(t, rules, seed=3))(tree)
    _on(new["dense"]["kernel"], device)
    kernel_want = varinit.init(
        "trunc_normal", (96, 64), seed=3, stream=varinit.stream_id("dense.kernel"), layout="in_out"
    )
    bias_want = varinit.init(
        "uniform", (64,), seed=3, stream=varinit.stream_id("dense.bias"), low=-0.1, high=0.1
    )
    assert _differ(new["dense"]["kernel"], kernel_want) == 0
    assert _differ(new["dense"]["bias"], bias_want) == 0


def test_sharded_over_the_platforms_devices_equals_numpy(device: Any) -> None:
    devices = jax.devices(device.platform)
    mesh = Mesh(np.array(devices), ("x",))
    shape = (64 * len(devices), 333)
    w = init_sharded("he_normal", shape, NamedSharding(mesh, P("x")), seed=11)
    assert {s.device for s in w.addressable_shards} == set(devices)
    assert _differ(w, varinit.init("he_normal", shape, seed=11, layout="in_out")) == 0
