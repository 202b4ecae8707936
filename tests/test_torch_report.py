"""torch ``init_module``'s report: the measured std of every size and dtype, and rules assigned
once per shape where that is exact (plain rules), per parameter where it is not (expressions,
fans the shape does not show)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from varinit.adapters.torch import init_module  # noqa: E402


def test_measured_std_of_small_large_half_and_constant_parameters() -> None:
    net = torch.nn.Sequential(
        *[torch.nn.Linear(64, 64) for _ in range(3)],  # measured together, one stacked pass
        torch.nn.Linear(300, 300),  # 90,000 elements: measured on its own
        torch.nn.LayerNorm(300),  # ones and zeros: exactly 0
        torch.nn.Linear(300, 16).half(),
    )
    rules = {"weight": "he_normal", "bias": ("uniform", {"low": -0.1, "high": 0.1}), "norm_bias": "zeros"}
    report = init_module(net, {**rules, "norm_scale": "ones"}, seed=0)
    params = dict(net.named_parameters())
    for row in report.rows:
        want = float(params[row.name].detach().double().std())
        if want == 0.0:
            assert row.measured == 0.0, row.name
        else:
            assert row.measured == pytest.approx(want, rel=1e-5), row.name


def test_measure_false_leaves_nan() -> None:
    report = init_module(
        torch.nn.Linear(8, 8), {"weight": "he_normal", "bias": "zeros"}, seed=0, measure=False
    )
    assert all(math.isnan(r.measured) for r in report.rows)


def test_same_shape_other_fans_get_their_own_std() -> None:
    """Two conv weights of one shape, (8, 4, 3, 3): groups=1 (in 4) and groups=2 (in 8)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3), torch.nn.Conv2d(8, 8, 3, groups=2))
    report = init_module(net, {"weight": "glorot_normal", "bias": "zeros"}, seed=0)
    rows = {r.name: r for r in report.rows}
    assert net[0].weight.shape == net[1].weight.shape
    assert rows["0.weight"].std == pytest.approx(math.sqrt(2 / (36 + 72)), rel=1e-12)
    assert rows["1.weight"].std == pytest.approx(math.sqrt(2 / (36 + 36)), rel=1e-12)


def test_expression_rules_are_evaluated_per_parameter() -> None:
    net = torch.nn.ModuleList([torch.nn.Linear(16, 16) for _ in range(4)])
    rules = {"weight": ("normal", {"std": "= 0.02 / sqrt(layer + 1)"}), "bias": "zeros"}
    rows = {r.name: r for r in init_module(net, rules, seed=0).rows}
    for i in range(4):
        assert rows[f"{i}.weight"].std == pytest.approx(0.02 / math.sqrt(i + 1), rel=1e-12)
