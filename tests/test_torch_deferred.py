"""Deferred init (``skip_init``, ``prepare``, ``init_module(device=, only_missing=)``).

"No init kernel ran" is checked on torch's default generator: every random init of
``torch.nn`` draws from it, a meta tensor's does not, so its state is unchanged exactly
when no kernel ran on a real tensor (the control builds the same model without
``skip_init`` and sees the state move).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from varinit.adapters import _torch_deferred as td  # noqa: E402
from varinit.adapters._torch_deferred import is_unwritten, mark_written, prepare, skip_init  # noqa: E402

import varinit  # noqa: E402

ORIGINAL_REGISTER = torch.nn.Module.register_parameter
ORIGINAL_INIT = {n: getattr(torch.nn.init, n) for n in ("normal_", "kaiming_uniform_", "trunc_normal_")}


class Tied(torch.nn.Module):
    """An embedding, a block, a norm and a head tied to the embedding (GPT-2's layout)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(50, 16)
        self.fc = torch.nn.Linear(16, 32)
        self.norm = torch.nn.LayerNorm(32)
        self.bn = torch.nn.BatchNorm1d(32)
        self.frozen = torch.nn.Linear(32, 16)
        self.frozen.weight.requires_grad_(False)
        self.head = torch.nn.Linear(16, 50, bias=False)
        self.head.weight = self.emb.weight


def _rng() -> torch.Tensor:
    return torch.random.get_rng_state()


def test_skip_init_meta_runs_no_init_kernel_and_keeps_buffers() -> None:
    torch.manual_seed(0)
    before = _rng()
    with skip_init():
        m = Tied()
        mha = torch.nn.MultiheadAttention(16, 2)
        conv = torch.nn.Conv2d(3, 8, 3)
    assert torch.equal(_rng(), before)
    for mod in (m, mha, conv):
        for name, p in mod.named_parameters():
            assert p.is_meta and type(p) is torch.nn.Parameter, name
    assert not m.frozen.weight.requires_grad and m.frozen.bias.requires_grad
    assert m.head.weight is m.emb.weight
    # buffers are built by torch, with torch's values
    assert m.bn.running_var.device.type == "cpu" and torch.equal(m.bn.running_var, torch.ones(32))
    assert torch.equal(m.bn.running_mean, torch.zeros(32))
    assert torch.nn.Module.register_parameter is ORIGINAL_REGISTER
    # the control: the same build outside moves torch's generator
    Tied()
    assert not torch.equal(_rng(), before)


def test_skip_init_cpu_leaves_parameters_unwritten_and_tied() -> None:
    torch.manual_seed(0)
    before = _rng()
    with skip_init("cpu"):
        m = Tied()
        held = m.fc.weight  # a reference taken inside the block
        assert held.is_meta  # real only once the block exits
    assert torch.equal(_rng(), before)
    assert held is m.fc.weight and held.device.type == "cpu"
    assert m.head.weight is m.emb.weight
    assert not m.frozen.weight.requires_grad
    for name, p in m.named_parameters():
        assert p.device.type == "cpu" and type(p) is torch.nn.Parameter, name
        assert is_unwritten(p), name
    assert not is_unwritten(torch.nn.Linear(2, 2).weight)  # built outside: not tracked


def test_every_kind_of_write_counts_as_written() -> None:
    with skip_init("cpu"):
        m = torch.nn.Sequential(*(torch.nn.Linear(4, 4) for _ in range(5)))
    ckpt = torch.nn.Linear(4, 4).state_dict()
    with torch.no_grad():
        m[0].weight.copy_(torch.ones(4, 4))
    m[1].load_state_dict(ckpt)
    torch.nn.init.normal_(m[2].weight)
    m[3].weight.grad = torch.ones(4, 4)
    torch.optim.SGD([m[3].weight], lr=0.1).step()
    m[4].weight.grad = torch.ones(4, 4)
    torch.optim.AdamW([m[4].weight], lr=0.1, foreach=True).step()
    written = {"0.weight", "1.weight", "1.bias", "2.weight", "3.weight", "4.weight"}
    assert {n for n, p in m.named_parameters() if not is_unwritten(p)} == written
    should = prepare(m, only_missing=True)
    assert {n for n, p in m.named_parameters() if should(n, p)} == {"0.bias", "2.bias", "3.bias", "4.bias"}
    assert torch.equal(m[1].weight, ckpt["weight"])


def test_nested_skip_init_and_cleanup_on_error() -> None:
    with skip_init("cpu"):
        outer = torch.nn.Linear(3, 3)
        with skip_init():
            inner = torch.nn.Linear(3, 3)
        assert inner.weight.is_meta and outer.weight.is_meta
    assert outer.weight.device.type == "cpu" and inner.weight.is_meta
    assert is_unwritten(outer.weight)

    class Boom(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(3, 3)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), skip_init("cpu"):
        Boom()
    assert torch.nn.Module.register_parameter is ORIGINAL_REGISTER
    assert all(getattr(torch.nn.init, n) is f for n, f in ORIGINAL_INIT.items())
    assert td._LOCAL.frames == [] and td._ACTIVE == 0
    after = torch.nn.Linear(3, 3)
    assert not after.weight.is_meta and not is_unwritten(after.weight)


def test_another_thread_builds_normally_meanwhile() -> None:
    inside, done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def holder() -> None:
        with skip_init():
            seen["a"] = torch.nn.Linear(8, 8)
            inside.set()
            done.wait(10)
            seen["c"] = torch.nn.Linear(8, 8)

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(10)
    b = torch.nn.Linear(256, 256)  # this thread, while the other is inside skip_init
    done.set()
    t.join(10)
    assert seen["a"].weight.is_meta and seen["c"].weight.is_meta
    # b got torch's kaiming_uniform_(a=sqrt(5)): U(-1/16, 1/16), std 1/16/sqrt(3)
    w = b.weight.detach()
    assert w.device.type == "cpu" and float(w.abs().max()) <= 1 / 16
    assert abs(float(w.std()) * 16 * 3**0.5 - 1) < 0.02
    assert torch.nn.Module.register_parameter is ORIGINAL_REGISTER
    assert all(getattr(torch.nn.init, n) is f for n, f in ORIGINAL_INIT.items())


def test_prepare_materialises_meta_in_place() -> None:
    with torch.device("meta"):
        m = Tied()
    ids = {n: id(p) for n, p in m.named_parameters()}
    with pytest.warns(UserWarning, match=r"bn\.running_mean, bn\.running_var, bn\.num_batches_tracked"):
        should = prepare(m, device="cpu", only_missing=True)
    assert {n: id(p) for n, p in m.named_parameters()} == ids  # the same objects
    assert m.head.weight is m.emb.weight
    assert not m.frozen.weight.requires_grad and m.frozen.bias.requires_grad
    names = [n for n, _ in m.named_parameters()]
    assert should.materialized == tuple(names)  # the tied head is materialised once, as emb
    assert "head.weight" not in names
    for n, p in m.named_parameters():
        assert p.device.type == "cpu" and type(p) is torch.nn.Parameter and should(n, p), n
    assert m.bn.running_var.device.type == "cpu"
    assert should.buffers == ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked")


def test_prepare_only_missing_after_a_partial_checkpoint() -> None:
    ckpt = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Linear(6, 2)).state_dict()
    with skip_init():
        m = torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Linear(6, 2))
    part = {k: v for k, v in ckpt.items() if k.startswith("1.")}
    m.load_state_dict(part, strict=False, assign=True)
    should = prepare(m, device="cpu", only_missing=True)
    assert [n for n, p in m.named_parameters() if should(n, p)] == ["0.weight", "0.bias"]
    assert should.materialized == ("0.weight", "0.bias")
    everything = prepare(m, device="cpu", only_missing=False)
    assert all(everything(n, p) for n, p in m.named_parameters())
    assert everything.materialized == ()  # nothing was on meta any more


def test_prepare_errors_name_the_parameter_and_the_fix() -> None:
    with skip_init():
        m = torch.nn.Sequential(torch.nn.Linear(4, 3))
    with pytest.raises(
        ValueError, match=r"parameter '0\.weight' \(shape \(3, 4\)\) \(and 1 more\) is on the meta"
    ) as e:
        prepare(m, only_missing=True)
    assert "device='cpu'" in str(e.value) and "assign=True" in str(e.value)
    with pytest.raises(ValueError, match="device='meta' cannot hold values"):
        prepare(m, device="meta")
    assert m[0].weight.is_meta  # nothing changed


def _expected(name: str, p: torch.Tensor) -> torch.Tensor:
    scheme, kw = ("he_normal", {}) if name.endswith("weight") else ("normal", {"std": 0.1})
    a = varinit.init(scheme, tuple(p.shape), seed=0, layout="out_in", stream=varinit.stream_id(name), **kw)
    return torch.from_numpy(a)


RULES = {"*.weight": "he_normal", "*.bias": ("normal", {"std": 0.1})}


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(12, 24), torch.nn.ReLU(), torch.nn.Linear(24, 5))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_init_module_materialises_and_fills_in_one_pass(device: str) -> None:
    from varinit.adapters.torch import init_module

    with skip_init(device):
        m = _net()
    init_module(m, RULES, seed=0, device="cpu")
    for n, p in m.named_parameters():
        assert p.device.type == "cpu"
        assert torch.equal(p.detach(), _expected(n, p)), n


def test_init_module_only_missing_keeps_the_checkpoint() -> None:
    from varinit.adapters.torch import init_module

    ckpt = {k: torch.full_like(v, 7.0) for k, v in _net().state_dict().items() if k.startswith("2.")}
    with skip_init("cpu"):
        m = _net()
    m.load_state_dict(ckpt, strict=False)
    report = init_module(m, RULES, seed=0, only_missing=True)
    assert torch.equal(m[2].weight, ckpt["2.weight"]) and torch.equal(m[2].bias, ckpt["2.bias"])
    for n in ("0.weight", "0.bias"):
        p = m.get_parameter(n)
        assert torch.equal(p.detach(), _expected(n, p)), n
    assert set(report.untouched) == {"2.weight", "2.bias"}


def test_prepare_replaces_a_parameter_it_cannot_swap_everywhere_it_is_tied() -> None:
    with skip_init():
        m = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    m[1].weight = m[0].weight
    old = m[0].weight
    view = old.view(-1)  # holds the parameter: swap_tensors refuses it
    should = prepare(m, device="cpu", only_missing=True)
    assert m[0].weight is not old and view.is_meta
    assert m[0].weight.device.type == "cpu" and m[1].weight is m[0].weight
    assert type(m[0].weight) is torch.nn.Parameter and m[0].weight.requires_grad
    assert should.materialized == ("0.weight", "0.bias", "1.bias")
    assert [n for n, p in m.named_parameters() if should(n, p)] == ["0.weight", "0.bias", "1.bias"]
    assert not should("0.weight", old)


DYNAMO_CHECK = """
import sys, torch
from varinit.adapters.torch import skip_init
build = lambda: torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
if sys.argv[1] == "skip_init":
    with skip_init():
        build()
else:
    with torch.device("meta"):
        build()
print("torch._dynamo" in sys.modules)
"""


@pytest.mark.parametrize(("how", "imported"), [("skip_init", "False"), ("torch.device", "True")])
def test_skip_init_does_not_import_torchdynamo(how: str, imported: str) -> None:
    # a fresh process: this one may have imported Dynamo already. torch's own meta normal_
    # (Embedding's init) imports it, which loads Triton's LLVM where Triton is installed
    r = subprocess.run(
        [sys.executable, "-c", DYNAMO_CHECK, how], capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == imported


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(td, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 15 and result.failed == 0


def test_materialised_stays_missing_until_written() -> None:
    with skip_init():
        m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    prepare(m, device="cpu", only_missing=True)  # as a failed init_module would leave it
    again = prepare(m, only_missing=True)  # the retry: nothing on meta any more
    assert again.materialized == ()
    assert [n for n, p in m.named_parameters() if again(n, p)] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with torch.no_grad():
        m[0].weight.zero_()
    mark_written(m[1].weight)  # a write torch did not see (the compiled kernel's)
    assert [n for n, p in m.named_parameters() if again(n, p)] == ["0.bias", "1.bias"]


def test_init_module_bad_rule_leaves_a_deferred_model_untouched() -> None:
    from varinit.adapters.torch import init_module

    with skip_init():
        net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.LayerNorm(8))
    with pytest.raises(ValueError, match=r"parameter '1\.weight' \(shape \(8,\)\), rule '\*' -> 'he_normal'"):
        init_module(net, {"*": "he_normal"}, seed=0, device="cpu")
    assert all(p.is_meta for p in net.parameters())  # nothing was materialised either
    with pytest.raises(ValueError, match=r"parameter '0\.weight'.*meta device.*device='cpu'"):
        init_module(net, "torch", seed=0)  # meta and no device: the deferred flow's message


def test_what_init_module_filled_counts_as_written() -> None:
    from varinit.adapters.torch import init_, init_module

    with skip_init("cpu"):
        net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 8))
    assert all(is_unwritten(p) for p in net.parameters())
    init_module(net, {"0.weight": "he_normal"}, seed=0)  # the compiled kernel's write is seen
    assert not is_unwritten(net[0].weight) and is_unwritten(net[0].bias)
    init_(net[1].weight, "glorot_uniform", seed=0)
    r = init_module(net, "torch", seed=0, only_missing=True)
    assert [row.name for row in r.rows] == ["0.bias", "1.bias"]
    assert r.untouched == ["0.weight", "1.weight"]
