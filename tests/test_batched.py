"""Batched draws: many small tensors in one kernel call, a whole module planned before drawing.

``kernel.fill_many`` and ``executor.execute_many`` must give exactly the bits of one
``kernel.fill`` / ``execute`` per tensor; ``init_module`` must give exactly the bits of
``init_`` per parameter on its own stream, and touch nothing when any rule fails.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from varinit.core.executor import execute, execute_many
from varinit.core.request import request
from varinit.rng import kernel

needs_kernel = pytest.mark.skipif(
    not kernel.available() and os.environ.get("VARINIT_REQUIRE_KERNEL") != "1",
    reason="the compiled kernel is not built here",
)

#: (kind, params, dtype, size, seed, stream): sizes on both sides of MANY_MAX, extreme keys
JOBS: list[tuple[str, tuple[float, ...], Any, int, int, int]] = [
    ("uniform", (-0.5, 0.25), np.float32, 1, 0, 0),
    ("normal", (0.0, 0.02), np.float32, 4096, 7, 1),
    ("truncnorm", (0.1, 0.5, -2.0, 2.0), np.float64, 33, 2**64 - 1, 2**64 - 1),
    ("truncnorm", (0.0, 1.0, 0.5, 3.0), np.float32, 1000, 3, 2**63),
    ("normal", (1.0, 3.0), np.float64, 4097, 2**32, 5),
    ("uniform", (0.0, 1.0), np.float32, kernel.MANY_MAX + 5, 11, 12),
    ("normal", (0.0, 1.0), np.float32, 0, 1, 1),
]


@needs_kernel
def test_fill_many_equals_one_fill_each() -> None:
    outs = [np.full(n, np.nan, dt) for _, _, dt, n, _, _ in JOBS]
    kernel.fill_many([(o, k, p, s, st) for o, (k, p, _, _, s, st) in zip(outs, JOBS, strict=True)])
    for o, (k, p, dt, n, s, st) in zip(outs, JOBS, strict=True):
        ref = np.empty(n, dt)
        if n:
            kernel.fill(ref, k, p, s, st, [0], n, threads=1)
        assert np.array_equal(o.view(np.uint8), ref.view(np.uint8)), (k, p, dt, n)


@needs_kernel
def test_fill_many_equals_the_numpy_reference() -> None:
    """Independent of the kernel's own fill: the Array-API reference route via ``init``."""
    w = np.empty((64, 48), np.float32)
    b = np.empty(64, np.float64)
    rw = request("he_normal", (64, 48), seed=5, stream=9)
    rb = request("uniform", (64,), seed=5, stream=10, dtype="float64", low=-1.0, high=2.0)
    args_w, args_b = kernel.plan_args(rw.plan), kernel.plan_args(rb.plan)
    assert args_w is not None and args_b is not None
    kernel.fill_many([(w, *args_w, 5, 9), (b, *args_b, 5, 10)])
    from varinit.core.executor import reference

    assert np.array_equal(w, np.asarray(reference(rw)))
    assert np.array_equal(b, np.asarray(reference(rb)))


@needs_kernel
def test_fill_many_refuses_bad_outputs() -> None:
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel.fill_many([(np.empty((4, 4), np.float32)[:, ::2], "uniform", (0.0, 1.0), 0, 0)])
    ro = np.empty(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        kernel.fill_many([(ro, "uniform", (0.0, 1.0), 0, 0)])
    with pytest.raises(TypeError, match="float32 or float64"):
        kernel.fill_many([(np.empty(4, np.float16), "uniform", (0.0, 1.0), 0, 0)])
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        kernel.fill_many([([0.0, 1.0], "uniform", (0.0, 1.0), 0, 0)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="stream"):
        kernel.fill_many([(np.empty(4, np.float32), "uniform", (0.0, 1.0), 0, 2**64)])
    with pytest.raises(ValueError, match="kind"):
        kernel.fill_many([(np.empty(4, np.float32), "gamma", (1.0, 1.0), 0, 0)])


def test_execute_many_equals_execute_on_every_route() -> None:
    """Portable (kernel or reference), native generator, structured and constant draws,
    in one batch: each equals its own ``execute``, and native draws keep their order."""
    gen_a, gen_b = np.random.default_rng(3), np.random.default_rng(3)
    specs: list[tuple[str, tuple[int, ...], dict[str, Any]]] = [
        ("he_normal", (32, 16), {"seed": 1, "stream": 4}),
        ("orthogonal", (8, 8), {"seed": 1}),
        ("glorot_uniform", (16, 16), {"seed": gen_a}),
        ("zeros", (16,), {"seed": 1}),
        ("trunc_normal", (5, 7), {"seed": 2**64 - 1, "stream": 3, "std": 0.02}),
        ("glorot_uniform", (16, 16), {"seed": gen_a}),
        ("normal", (3,), {"seed": 0, "dtype": "float64"}),
    ]
    reqs = [request(s, shape, **kw) for s, shape, kw in specs]
    outs = [np.full(r.shape, np.nan, r.dtype) for r in reqs]
    execute_many(zip(reqs, outs, strict=True))
    for (s, shape, kw), got in zip(specs, outs, strict=True):
        if kw.get("seed") is gen_a:
            kw = {**kw, "seed": gen_b}  # the same generator state, in the same order
        want = execute(request(s, shape, **kw))
        assert np.array_equal(got, want), s


@pytest.mark.torch
def test_init_module_equals_init_per_parameter() -> None:
    import torch
    from varinit.adapters.torch import init_, init_module

    from varinit import stream_id

    net = torch.nn.Sequential(*[torch.nn.Linear(24, 24) for _ in range(40)], torch.nn.Linear(24, 3))
    net.append(torch.nn.Conv2d(3, 6, 3, groups=3))
    init_module(net, {"*.weight": "kaiming_uniform", "*.bias": ("normal", {"std": 0.1})}, seed=5)
    for name, p in net.named_parameters():
        ref = torch.empty_like(p)
        mod = net.get_submodule(name.rpartition(".")[0])
        kw: dict[str, Any] = {}
        if isinstance(mod, torch.nn.Conv2d):
            kw = {"fan_in": 9, "fan_out": 18} | ({"groups": 3} if name.endswith("weight") else {})
        elif name.endswith("bias"):
            kw = {"fan_in": mod.weight.shape[1], "fan_out": mod.weight.shape[0]}
        scheme = "kaiming_uniform" if name.endswith("weight") else "normal"
        extra = {"std": 0.1} if scheme == "normal" else {}
        init_(ref, scheme, seed=5, stream=stream_id(name), **kw, **extra)
        assert torch.equal(p.detach(), ref), name


@pytest.mark.torch
def test_init_module_is_atomic_and_names_the_parameter() -> None:
    import torch
    from varinit.adapters.torch import init_module

    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 8))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    with pytest.raises(ValueError, match=r"parameter '1\.weight' \(shape \(8,\)\).*'\*'.*he_uniform"):
        init_module(net, {"*": "he_uniform"}, seed=0)
    for n, p in net.named_parameters():
        assert torch.equal(p.detach(), before[n]), f"{n} was overwritten before the error"


@pytest.mark.torch
def test_init_module_native_generator_keeps_torch_order() -> None:
    """A generator is consumed parameter by parameter, in module order, as before batching."""
    import torch
    from varinit.adapters.torch import init_, init_module

    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 4))
    init_module(net, {"*.weight": "xavier_normal", "*.bias": "zeros"}, seed=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(9)
    for layer in net:
        ref = torch.empty_like(layer.weight)
        init_(ref, "xavier_normal", generator=g)
        assert torch.equal(layer.weight.detach(), ref)
        assert not layer.bias.detach().any()
