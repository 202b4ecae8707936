"""The Triton route on a real GPU (skipped without CUDA): what the interpreter cannot show.

Run where a GPU is available: ``VARINIT_REQUIRE_TRITON=1 pytest tests/test_triton_cuda.py``.
The compiled kernels (not the interpreter: ``TRITON_INTERPRET`` must be unset) against the CPU:
all 2**24 float32 uniforms through every plan kind, whole fills and blocks, and the torch
front doors on CUDA tensors.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():  # before importing triton: it loads its own LLVM
    pytest.skip("needs a CUDA device", allow_module_level=True)
if os.environ.get("VARINIT_REQUIRE_TRITON") == "1":
    import triton  # noqa: F401
else:
    pytest.importorskip("triton")

from _plans import PLANS, float32_grid  # noqa: E402

import varinit  # noqa: E402
from varinit.rng import kernel, triton_kernel  # noqa: E402

pytestmark = [
    pytest.mark.triton,
    pytest.mark.torch,
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="runs the compiled kernels"),
]


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def _args(plan: Any) -> tuple[str, tuple[float, ...]]:
    args = plan.kernel_args()
    assert args is not None
    return args  # type: ignore[no-any-return]


def test_device_passes_the_self_test() -> None:
    assert triton_kernel.ready(torch.device("cuda")), triton_kernel.unavailable_reason()


@pytest.mark.parametrize("name", list(PLANS))
def test_every_float32_uniform_through_each_plan(name: str) -> None:
    """All 2**24 float32 uniforms of the stream's grid, against the CPU reference."""
    u = float32_grid()
    plan = PLANS[name]
    want = kernel.transform(u, *_args(plan)) if kernel.available() else plan.transform(np, u)
    got = triton_kernel.transform(torch.from_numpy(u).cuda(), *_args(plan)).cpu().numpy()
    assert int((_bits(got) != _bits(np.asarray(want))).sum()) == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(PLANS))
def test_fill_equals_numpy(name: str, dtype: str) -> None:
    plan, n = PLANS[name], 1 << 22
    out = torch.empty(n, dtype=getattr(torch, dtype), device="cuda")
    triton_kernel.fill(out, *_args(plan), 2**40 + 3, 2**33 + 5, [2**32 - 5], n)
    want = np.empty(n, dtype)
    if kernel.available():
        kernel.fill(want, *_args(plan), 2**40 + 3, 2**33 + 5, [2**32 - 5], n)
    else:
        pytest.skip("the compiled CPU kernel is not built")
    assert int((_bits(out.cpu().numpy()) != _bits(want)).sum()) == 0


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_init_on_cuda_equals_numpy(dtype: str) -> None:
    from varinit.adapters.torch import init_

    shape = (1024, 768)
    w = init_(torch.empty(shape, dtype=getattr(torch, dtype), device="cuda"), "he_normal", seed=3)
    wide = "float64" if dtype == "float64" else "float32"
    want = torch.from_numpy(np.asarray(varinit.init("he_normal", shape, seed=3, dtype=wide, layout="out_in")))
    assert torch.equal(w.cpu(), want.to(getattr(torch, dtype)))


def test_init_module_on_cuda_equals_cpu() -> None:
    from varinit.adapters.torch import init_module

    def net() -> Any:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(300, 500), torch.nn.ReLU(), torch.nn.Linear(500, 10))

    rules = {"*.weight": "trunc_normal", "*.bias": "uniform"}
    gpu, cpu = net().cuda(), net()
    init_module(gpu, rules, seed=9)
    init_module(cpu, rules, seed=9)
    for (name, a), (_, b) in zip(gpu.named_parameters(), cpu.named_parameters(), strict=True):
        assert torch.equal(a.detach().cpu(), b.detach()), name


def test_block_on_cuda_equals_the_slice() -> None:
    from varinit.adapters.torch import BACKEND

    from varinit.core.executor import execute
    from varinit.core.request import request

    shape, index = (4096, 1000), (slice(7, 4000, 3), slice(100, 900))
    whole = np.asarray(varinit.init("glorot_normal", shape, seed=1, layout="out_in"))
    req = request(
        "glorot_normal", shape, backend=BACKEND, seed=1, dtype=torch.float32, layout="out_in", index=index
    )
    out = torch.empty(req.out_shape, device="cuda")
    execute(req, out=out)
    assert np.array_equal(out.cpu().numpy(), whole[index])


# --------------------------------------------------------------------------- a DTensor on one GPU

DEVICE, PG_BACKEND = "cuda", "nccl"


@pytest.fixture(scope="module")
def one_gpu_mesh(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A one-process group (world size 1) and a device mesh of the one GPU."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    store = tmp_path_factory.mktemp("pg") / "store"
    dist.init_process_group(PG_BACKEND, init_method=f"file://{store}", rank=0, world_size=1)
    try:
        yield init_device_mesh(DEVICE, (1,))
    finally:
        dist.destroy_process_group()


@pytest.fixture
def triton_fills(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the Triton kernel's fills (the route taken, not only the values)."""
    calls: list[int] = []
    fill = triton_kernel.fill

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return fill(*args, **kwargs)

    monkeypatch.setattr(triton_kernel, "fill", counted)
    return calls


@pytest.mark.parametrize("placement", ["shard0", "shard1", "replicate"])
def test_dtensor_on_one_gpu_equals_numpy(one_gpu_mesh: Any, triton_fills: list[int], placement: str) -> None:
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor
    from varinit.adapters.torch import init_

    place = {"shard0": Shard(0), "shard1": Shard(1), "replicate": Replicate()}[placement]
    shape = (1000, 777)
    d = distribute_tensor(torch.zeros(shape, device=DEVICE), one_gpu_mesh, [place])
    init_(d, "trunc_normal", seed=1234)
    assert d.to_local().device.type == DEVICE
    want = np.asarray(varinit.init("trunc_normal", shape, seed=1234, layout="out_in"))
    assert np.array_equal(d.full_tensor().cpu().numpy(), want)
    assert DEVICE != "cuda" or triton_fills, "the DTensor's shard was not drawn by the Triton kernel"


def test_fully_sharded_model_on_one_gpu_equals_cpu(one_gpu_mesh: Any, triton_fills: list[int]) -> None:
    """FSDP2 ``fully_shard`` on the one-GPU mesh, then ``init_module``: the CPU model's bits."""
    from torch.distributed.fsdp import fully_shard
    from varinit.adapters.torch import init_module

    def net() -> Any:
        return torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 64))

    rules = {"*.weight": "he_normal", "*.bias": ("normal", {"std": 0.02})}
    sharded = net().to(DEVICE)
    fully_shard(sharded, mesh=one_gpu_mesh)
    init_module(sharded, rules, seed=7)
    plain = net()
    init_module(plain, rules, seed=7)
    for (name, a), (_, b) in zip(sharded.named_parameters(), plain.named_parameters(), strict=True):
        assert torch.equal(a.full_tensor().cpu(), b.detach()), name
    assert DEVICE != "cuda" or triton_fills, "the sharded parameters were not drawn by the Triton kernel"
