"""Deferred init under FSDP2 and DTensor on a real 2-process ``gloo`` group (127.0.0.1).

One spawn runs every distributed case (spawning costs seconds; the group is set up once):
a model built under ``skip_init()``, sharded with ``fully_shard`` and initialised with
``init_module(..., device="cpu")``; the same under tensor parallelism (``parallelize_module``
on a 1 x 2 ("dp", "tp") mesh), where FSDP2 gives ``_StridedShard`` placements; and meta
DTensors with ``Shard``, ``Replicate`` and ``_StridedShard`` placements built directly,
including strided shards whose rows are separate pieces of the global tensor. Every
gathered parameter is compared, bit for bit, with NumPy's single-process
``varinit.init(scheme, shape, seed=0, layout="out_in", stream=varinit.stream_id(name))``.
Workers are joined with a timeout (``TIMEOUT``); a hung worker is killed and fails the test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.distributed]

from _gloo import WORLD, run  # noqa: E402

import varinit  # noqa: E402

PORTS = range(29600, 29700)
TIMEOUT = 120.0  # a bound for a loaded 2-core machine; the run takes about 30 s
RULES: dict[Any, Any] = {"*.weight": "he_normal", "*.bias": ("normal", {"std": 0.1})}
# (name, placements, mesh shape); 10 rows: uneven pieces for the strided shards
DIRECT: list[tuple[str, str, tuple[int, ...]]] = [
    ("shard0", "S0", (2,)),
    ("shard1", "S1", (2,)),
    ("replicate", "R", (2,)),
    ("strided", "SS0", (2,)),  # rank 0: rows 0-2 and 5-7; rank 1: rows 3-4 and 8-9
    ("strided_2d", "SS0,S0", (2, 1)),
    ("fsdp_tp_like", "SS0,S0", (1, 2)),
]
SHAPE = (10, 6)


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = torch.nn.Linear(6, 10)
        self.down = torch.nn.Linear(10, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(torch.relu(self.up(x)))


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block()])
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)  # type: ignore[no-any-return]


def _placements(text: str) -> list[Any]:
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard

    made = {"S0": Shard(0), "S1": Shard(1), "R": Replicate(), "SS0": _StridedShard(0, split_factor=2)}
    return [made[t] for t in text.split(",")]


def _job(rank: int) -> dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor, distribute_tensor
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module
    from varinit.adapters._torch_deferred import dtensor_pieces, fill_dtensor, prepare, skip_init
    from varinit.adapters.torch import init_, init_module

    got: dict[str, Any] = {}
    # FSDP2 over a model built under skip_init()
    dp = init_device_mesh("cpu", (WORLD,))
    with skip_init():
        model = Net()
    for block in model.blocks:
        fully_shard(block, mesh=dp)
    fully_shard(model, mesh=dp)
    assert all(isinstance(p, DTensor) and p._local_tensor.is_meta for p in model.parameters())
    init_module(model, RULES, seed=0, device="cpu")
    for n, p in model.named_parameters():
        got[f"fsdp/{n}"] = p.full_tensor().detach().clone()
        got[f"fsdp/{n}/local"] = p.to_local().detach().clone()
    model(torch.ones(4, 6)).sum().backward()  # FSDP2 runs on the materialised shards

    # FSDP2 over tensor parallelism: _StridedShard placements
    mesh = init_device_mesh("cpu", (1, WORLD), mesh_dim_names=("dp", "tp"))
    with skip_init():
        tp = Net()
    plan = {
        f"blocks.{i}.{k}": v
        for i in range(2)
        for k, v in (("up", ColwiseParallel()), ("down", RowwiseParallel()))
    }
    parallelize_module(tp, mesh["tp"], plan)
    for block in tp.blocks:
        fully_shard(block, mesh=mesh["dp"])
    fully_shard(tp, mesh=mesh["dp"])
    kinds = {n: [type(pl).__name__ for pl in p.placements] for n, p in tp.named_parameters()}
    got["tp/placements"] = np.array([str(kinds[n]) for n in sorted(kinds)])
    init_module(tp, RULES, seed=0, device="cpu")
    for n, p in tp.named_parameters():
        got[f"tp/{n}"] = p.full_tensor().detach().clone()

    # meta DTensors built directly, materialised by prepare
    for name, text, shape in DIRECT:
        mesh = init_device_mesh("cpu", shape)
        holder = torch.nn.Module()
        meta = distribute_tensor(
            torch.empty(SHAPE, device="meta"), mesh, _placements(text), src_data_rank=None
        )
        holder.weight = torch.nn.Parameter(meta)
        should = prepare(holder, device="cpu", only_missing=True)
        w = holder.weight
        assert should("weight", w) and not w._local_tensor.is_meta
        _, pieces = dtensor_pieces(w)
        got[f"{name}/pieces"] = len(pieces)
        fill_dtensor(w, "he_normal", seed=0, stream=varinit.stream_id(name))
        got[f"{name}"] = w.full_tensor().detach().clone()
        try:  # init_ (and so init_module) fills every shard, one block or several pieces
            init_(w, "glorot_uniform", seed=0, stream=varinit.stream_id(name))
            got[f"{name}/init_"] = w.full_tensor().detach().clone()
        except ValueError as e:
            got[f"{name}/init_"] = str(e)
    return got


@pytest.fixture(scope="module")
def results() -> dict[int, Any]:
    return run(_job, ports=PORTS, timeout=TIMEOUT)


def _expected(name: str, shape: tuple[int, ...], scheme: str | None = None) -> np.ndarray:
    if scheme is None:
        scheme = "he_normal" if name.endswith("weight") else "normal"
    kw = {"std": 0.1} if scheme == "normal" else {}
    out: np.ndarray = varinit.init(
        scheme, shape, seed=0, layout="out_in", stream=varinit.stream_id(name), **kw
    )
    return out


def test_fully_shard_on_skip_init_model_equals_single_process(results: dict[int, Any]) -> None:
    names = [n for n, _ in Net().named_parameters()]
    shapes = {n: tuple(p.shape) for n, p in Net().named_parameters()}
    for rank in range(WORLD):
        for n in names:
            got = results[rank][f"fsdp/{n}"]
            assert got.dtype == np.float32 and got.shape == shapes[n]
            assert np.array_equal(got, _expected(n, shapes[n])), (n, rank)
    # every rank held its own half (dim-0 shards: 10 rows -> 5 + 5)
    up = "blocks.0.up.weight"
    assert np.array_equal(results[1][f"fsdp/{up}/local"], _expected(up, (10, 6))[5:])


def test_fsdp_over_tensor_parallel_strided_shards_equal_single_process(results: dict[int, Any]) -> None:
    placements = results[0]["tp/placements"].tolist()
    assert placements.count("['_StridedShard', 'Shard']") == 4  # up.weight, up.bias, down.weight (x2 blocks)
    for rank in range(WORLD):
        for n, p in Net().named_parameters():
            assert np.array_equal(results[rank][f"tp/{n}"], _expected(n, tuple(p.shape))), (n, rank)


@pytest.mark.parametrize(
    ("name", "pieces"),
    [("shard0", 1), ("shard1", 1), ("replicate", 1), ("strided", 2), ("strided_2d", 2), ("fsdp_tp_like", 1)],
)
def test_direct_dtensor_placements_equal_single_process(
    results: dict[int, Any], name: str, pieces: int
) -> None:
    he = _expected(name, SHAPE, "he_normal")
    glorot = _expected(name, SHAPE, "glorot_uniform")
    for rank in range(WORLD):
        assert results[rank][f"{name}/pieces"] == pieces
        assert np.array_equal(results[rank][name], he), (name, rank)
        via_init = results[rank][f"{name}/init_"]
        assert not isinstance(via_init, str), via_init
        assert np.array_equal(via_init, glorot), (name, rank)
