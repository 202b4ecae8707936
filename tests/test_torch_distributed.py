"""Sharded init on a real 2-process ``gloo`` group (127.0.0.1, a free port in 29500-29599).

Each test spawns two workers with ``torch.multiprocessing`` and joins them with a timeout
(``TIMEOUT`` seconds); a worker that fails reports its traceback through a queue, and a hung
worker is killed and fails the test. Nothing is skipped.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.distributed]

from _gloo import WORLD, run  # noqa: E402
from varinit.adapters.torch import init_, init_module  # noqa: E402

import varinit  # noqa: E402

PORTS = range(29500, 29600)
TIMEOUT = 45.0
SHAPE = (10, 7)  # uneven shards on both axes: 5 + 5 rows, 4 + 3 columns
RULES: dict[Any, Any] = {
    (torch.nn.Linear, "weight"): "he_normal",
    (torch.nn.Conv2d, "weight"): ("kaiming_normal", {"nonlinearity": "relu"}),
    "*.bias": ("normal", {"std": 0.1}),
}


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(4, 8, 3, groups=2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 16),
        torch.nn.Linear(16, 10),
    )


def _dtensor_job(rank: int) -> dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (WORLD,))
    gathered = {}
    for name, placement in (("shard0", Shard(0)), ("shard1", Shard(1)), ("replicate", Replicate())):
        for scheme, kw in (("he_normal", {}), ("glorot_uniform", {}), ("orthogonal", {})):
            d = distribute_tensor(torch.zeros(SHAPE), mesh, [placement])
            init_(d, scheme, seed=1234, **kw)
            gathered[f"{name}-{scheme}"] = d.full_tensor()
            gathered[f"{name}-{scheme}-local"] = d.to_local().clone()
    return gathered


def test_dtensor_shards_equal_single_process_init() -> None:
    results = run(_dtensor_job, ports=PORTS, timeout=TIMEOUT)
    for scheme in ("he_normal", "glorot_uniform", "orthogonal"):
        whole = init_(torch.empty(SHAPE), scheme, seed=1234)
        ref = varinit.init(scheme, SHAPE, seed=1234, layout="out_in")
        if scheme != "orthogonal":  # elementwise: NumPy's bits too
            assert torch.equal(whole, torch.from_numpy(ref))
        for name in ("shard0", "shard1", "replicate"):
            for rank in range(WORLD):
                got = torch.from_numpy(results[rank][f"{name}-{scheme}"])
                assert torch.equal(got, whole), (name, scheme, rank)
        # every rank really held a different slice (the shards are not the whole tensor)
        assert results[0][f"shard0-{scheme}-local"].shape == (5, 7)
        assert torch.equal(torch.from_numpy(results[1][f"shard1-{scheme}-local"]), whole[:, 4:])


def _fsdp_job(rank: int) -> dict[str, torch.Tensor]:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    mesh = init_device_mesh("cpu", (WORLD,))
    with torch.device("meta"):
        model = _model()
    for layer in model:
        if any(True for _ in layer.parameters()):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    assert all(isinstance(p, DTensor) for p in model.parameters())
    summary = init_module(model, RULES, seed=99)
    assert len(summary.touched) == 6
    return {n: p.full_tensor().detach() for n, p in model.named_parameters()}


def test_meta_model_sharded_with_fully_shard_equals_unsharded_build() -> None:
    results = run(_fsdp_job, ports=PORTS, timeout=TIMEOUT)
    torch.manual_seed(0)
    plain = _model()
    init_module(plain, RULES, seed=99)
    for name, p in plain.named_parameters():
        for rank in range(WORLD):
            assert torch.equal(torch.from_numpy(results[rank][name]), p.detach()), (name, rank)


def _no_seed_job(rank: int) -> str:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    d = distribute_tensor(torch.zeros(SHAPE), init_device_mesh("cpu", (WORLD,)), [Shard(0)])
    try:
        init_(d, "he_normal")
    except ValueError as e:
        return str(e)
    return "no error"


def test_dtensor_needs_an_int_seed() -> None:
    for message in run(_no_seed_job, ports=PORTS, timeout=TIMEOUT).values():
        assert "seed=<int>" in message
