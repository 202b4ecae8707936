"""Activation-aware features: advice, gains per method, signal propagation, CLI handlers."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest

import varinit
from varinit.cli import main
from varinit.cli.activation import add_subcommands, cmd_propagate
from varinit.theory.activations import ACTIVATIONS, activation, numeric_derivative
from varinit.theory.gains import second_moment

# --------------------------------------------------------------------------- advice


@pytest.mark.parametrize(
    "act,prefix",
    [
        ("relu", "he_"),
        ("leaky_relu", "he_"),
        ("elu", "he_"),
        ("gelu", "he_"),
        ("silu", "he_"),
        ("swish", "he_"),
        ("tanh", "glorot_"),
        ("selu", "lecun_normal"),
        ("linear", "glorot_"),
        ("Leaky-ReLU", "he_"),
    ],
)
def test_recommend_follows_the_table(act: str, prefix: str) -> None:
    adv = varinit.recommend(act)
    assert adv.scheme.startswith(prefix)
    assert adv.reason and not adv.computed
    # every recommended scheme really lists the activation in the table's column
    listed = varinit.get(adv.scheme).activations
    assert adv.activation in listed
    for alt in adv.alternatives:
        assert adv.activation in varinit.get(alt).activations


def test_recommend_linear_offers_glorot_and_sigmoid_explains_the_disagreement() -> None:
    assert any(a.startswith("lecun_") for a in varinit.recommend("linear").alternatives)
    sig = varinit.recommend("sigmoid")
    names = {sig.scheme, *sig.alternatives}
    assert "kumar_sigmoid" in names and any(n.startswith("glorot_") for n in names)
    assert "disagree" in sig.note and "12.8" in sig.note and "Kumar" in sig.note


def test_recommend_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown activation 'relu6x'.*known: .*relu.*tanh"):
        varinit.recommend("relu6x")
    with pytest.raises(TypeError):
        varinit.recommend(3)  # type: ignore[arg-type]


def test_recommend_callable_is_computed_and_usable() -> None:
    adv = varinit.recommend(lambda z: np.maximum(z, 0))
    assert adv.computed and adv.scheme == "he_normal"
    assert "does not apply" in adv.note and "differentiable at 0" in adv.note
    odd = varinit.recommend(lambda z: 2 * np.tanh(z))  # E[phi^2] = 4 * 0.3943: factor 0.634
    assert odd.scheme == "variance_scaling"
    assert odd.overrides["factor"] == pytest.approx(1 / (4 * 0.3942944903978), rel=1e-9)
    w = varinit.init(odd.scheme, (400, 300), layout="in_out", seed=1, **odd.overrides)
    assert w.std() == pytest.approx(math.sqrt(odd.overrides["factor"] / 400), rel=0.02)
    assert "Kumar" in odd.note


# --------------------------------------------------------------------------- gains


def test_table_method_is_unchanged() -> None:
    assert varinit.gain("tanh") == 5 / 3 and varinit.gain("selu") == 0.75
    assert varinit.gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    with pytest.raises(ValueError, match="no tabulated gain"):
        varinit.gain("gelu")
    with pytest.raises(ValueError, match="method='moment'"):
        varinit.gain(np.tanh)


@pytest.mark.parametrize(
    "act,param,expected",
    [
        ("relu", None, math.sqrt(2)),
        ("linear", None, 1.0),
        (lambda z: z, None, 1.0),
        ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
        ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
        (lambda z: np.where(z > 0, z, -0.3 * z), None, math.sqrt(2 / 1.09)),  # |z| scaled
        ("selu", None, 1.0),  # Klambauer's constants make E[selu(z)^2] = 1
    ],
)
def test_moment_gain_closed_forms(act: object, param: float | None, expected: float) -> None:
    # tolerance: exact for piecewise-linear kinks; SELU's |z|^3 kink is below 1e-7 (docstring)
    assert varinit.gain(act, param, method="moment") == pytest.approx(expected, rel=1e-7)  # type: ignore[arg-type]


def test_moment_quadrature_error_bound_at_the_kink() -> None:
    # ELU's second moment has a closed form: E[z^2; z>0] + E[(e^z - 1)^2; z<0]
    # = 1/2 + e^2 Phi(-2) - 2 e^{1/2} Phi(-1) + 1/2
    phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    exact = 0.5 + math.e**2 * phi(-2) - 2 * math.exp(0.5) * phi(-1) + 0.5
    elu = activation("elu")
    assert abs(second_moment(elu) - exact) < 1e-8
    # the bare rule (no Richardson step) has the n**-2 error the docstring states
    from varinit.theory.gains import _folded

    assert 1e-6 < abs(_folded(elu, 128) - exact) < 3e-5


def test_moment_gain_of_smooth_activations_matches_a_dense_sum() -> None:
    z = np.linspace(-12, 12, 480001)
    w = np.exp(-z * z / 2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    for name in ("tanh", "sigmoid", "gelu", "silu", "softplus", "mish"):
        dense = float(np.sum(w * ACTIVATIONS[name](z) ** 2))
        assert varinit.gain(name, method="moment") == pytest.approx(1 / math.sqrt(dense), rel=1e-8)


@pytest.mark.parametrize(
    "act,expected",
    [
        ("sigmoid", math.sqrt(12.8)),  # g(0) = 1/2, g'(0) = 1/4
        ("tanh", 1.0),
        ("linear", 1.0),
        ("gelu", 2.0),
        ("silu", 2.0),
        ("softplus", 1 / (0.5 * math.sqrt(1 + math.log(2) ** 2))),
        ("elu", 1.0),  # alpha = 1: differentiable at 0
        (lambda z: 1 / (1 + np.exp(-z)), math.sqrt(12.8)),  # numeric g'(0)
        (lambda z: np.tanh(3 * z), 1 / 3),
    ],
)
def test_kumar_gain(act: object, expected: float) -> None:
    assert varinit.gain(act, method="kumar") == pytest.approx(expected, rel=1e-9)  # type: ignore[arg-type]


def test_kumar_sigmoid_row_is_kumars_rule() -> None:
    assert varinit.get("kumar_sigmoid").params["factor"] == pytest.approx(
        varinit.gain("sigmoid", method="kumar") ** 2, rel=1e-12
    )


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "selu", lambda z: np.maximum(z, 0)])
def test_kumar_rejects_a_kink_at_zero(act: object) -> None:
    with pytest.raises(ValueError, match="differentiable at 0"):
        varinit.gain(act, method="kumar")  # type: ignore[arg-type]


def test_gain_argument_errors() -> None:
    with pytest.raises(ValueError, match="method="):
        varinit.gain("relu", method="exact")
    with pytest.raises(ValueError, match="unknown activation"):
        varinit.gain("reluu", method="moment")
    with pytest.raises(ValueError, match="not elementwise"):
        varinit.gain(lambda z: z[:1], method="moment")
    with pytest.raises(ValueError, match="takes none"):
        varinit.gain("tanh", 0.3, method="moment")


def test_activation_derivatives_match_finite_differences() -> None:
    z = np.linspace(-4, 4, 81) + 0.0123  # avoid the kink at exactly 0
    for name, act in ACTIVATIONS.items():
        num = numeric_derivative(act, z)
        assert np.allclose(act.grad(z), num, rtol=1e-6, atol=1e-8), name


def test_activations_are_warning_free_on_extreme_inputs() -> None:
    z = np.array([-1e30, -800.0, -50.0, 0.0, 50.0, 800.0, 1e30])
    for name, act in ACTIVATIONS.items():
        assert not np.isnan(act(z)).any(), name
        assert not np.isnan(act.grad(z)).any(), name


# --------------------------------------------------------------------------- propagation

DEPTH = 30
WIDTH = 512


def test_relu_he_keeps_the_scale_factor_one_schemes_halve_the_variance() -> None:
    # He et al. 2015: with Var(w) = 2/n the std stays put; with 1/n it falls by 1/sqrt(2) a layer
    he = varinit.propagate("he_normal", "relu", depth=DEPTH, width=WIDTH, seed=0)
    ratios = np.asarray(he.act_std) / he.act_std[0]
    assert ratios.min() > 0.5 and ratios.max() < 2.0  # stated tolerance: factor 2
    g = np.asarray(he.grad_std)
    assert g.min() > 0.5 and g.max() < 2.0
    for scheme in ("lecun_normal", "glorot_normal", "kaiming_normal_linear"):
        kw = {"nonlinearity": "linear"} if scheme == "kaiming_normal_linear" else {}
        name = "kaiming_normal" if kw else scheme
        r = varinit.propagate(name, "relu", depth=DEPTH, width=WIDTH, seed=0, **kw)
        slope = np.polyfit(np.arange(DEPTH), np.log(r.act_std), 1)[0]
        assert slope == pytest.approx(math.log(1 / math.sqrt(2)), abs=0.03), scheme
        assert r.act_std[-1] / r.act_std[0] < 1e-3


def test_tanh_glorot_is_stable_and_unit_normal_weights_saturate() -> None:
    # Glorot & Bengio 2010
    glorot = varinit.propagate("glorot_normal", "tanh", depth=DEPTH, width=WIDTH, seed=0)
    pre = np.asarray(glorot.pre_std)
    assert pre.max() < 1.1  # never pushed into saturation
    assert glorot.act_std[-1] > 0.1  # decays slowly (~1/sqrt(depth)), not exponentially
    # gradients shrink only polynomially going down (E[tanh'(z)^2] -> 1 as z -> 0)
    assert min(glorot.grad_std) > 0.15 and max(glorot.grad_std) < 1.5
    n01 = varinit.propagate("normal", "tanh", depth=DEPTH, width=WIDTH, seed=0, std=1.0)
    assert min(n01.pre_std) > 15  # |z| ~ sqrt(width): tanh pinned at +-1
    assert min(n01.act_std) > 0.97
    assert n01.grad_std[0] > 1e6  # and backprop is unstable
    # torch's 5/3 gives a stable non-zero fixed point near 1 (docs/theory.md)
    gain = varinit.propagate("xavier_normal", "tanh", depth=DEPTH, width=WIDTH, seed=0, gain=5 / 3)
    assert all(1.0 < v < 1.2 for v in gain.pre_std[5:])


def test_sigmoid_kumar_keeps_pre_activations_order_one_where_glorot_shrinks_them() -> None:
    # Kumar 2017 targets Var(z) = 1 to first order; exactly, its network settles near 4.4,
    # inside the sigmoid's responsive range, while Glorot's shrinks to about 0.27
    kumar = varinit.propagate("kumar_sigmoid", "sigmoid", depth=DEPTH, width=WIDTH, seed=0)
    glorot = varinit.propagate("glorot_normal", "sigmoid", depth=DEPTH, width=WIDTH, seed=0)
    kv = np.asarray(kumar.pre_std[5:]) ** 2
    gv = np.asarray(glorot.pre_std[5:]) ** 2
    assert kv.min() > 1.0 and kv.max() < 8.0
    assert gv.max() < 0.35
    # the exact second-moment factor holds Var(z) at 1: 5 % on average, 25 % per layer
    # (one weight draw per layer at width 512 moves a layer's variance by ~10 %)
    f = varinit.gain("sigmoid", method="moment") ** 2
    exact = varinit.propagate("variance_scaling", "sigmoid", depth=DEPTH, width=WIDTH, seed=0, factor=f)
    ev = np.asarray(exact.pre_std[1:]) ** 2
    assert abs(ev.mean() - 1) < 0.05 and np.abs(ev - 1).max() < 0.25


def test_selu_lecun_converges_to_mean_zero_variance_one() -> None:
    # Klambauer et al. 2017: start far away (mean 1, variance 9) and converge
    x = 3.0 * np.random.default_rng(1).standard_normal((128, WIDTH)) + 1.0
    r = varinit.propagate("lecun_normal", "selu", depth=40, width=WIDTH, seed=0, inputs=x)
    assert r.act_std[0] ** 2 > 3
    mean = np.asarray(r.act_mean[15:])
    var = np.asarray(r.act_std[15:]) ** 2
    assert np.abs(mean).max() < 0.1
    assert np.abs(var - 1).max() < 0.15


def _with_adapter() -> list[object]:
    """Installed backends whose varinit adapter has landed (adapters are added one by one)."""
    import importlib.util

    from conftest import INSTALLED, marks_for

    return [
        pytest.param(b, id=b, marks=marks_for(b))
        for b in INSTALLED
        if importlib.util.find_spec(f"varinit.adapters.{b}") is not None
    ]


@pytest.mark.parametrize("backend_name", _with_adapter())
def test_propagate_same_network_on_every_backend_for_a_seed(backend_name: str) -> None:
    a = varinit.propagate("he_uniform", "relu", depth=3, width=64, batch=16, seed=5)
    b = varinit.propagate("he_uniform", "relu", depth=3, width=64, batch=16, seed=5, backend=backend_name)
    np.testing.assert_allclose(a.act_std, b.act_std, rtol=1e-5)


def test_propagate_overflow_is_reported_not_raised() -> None:
    r = varinit.propagate("normal", "relu", depth=40, width=256, batch=8, std=10.0)
    assert math.isinf(r.act_std[-1]) or math.isnan(r.act_std[-1])


def test_propagate_result_renders_and_validates() -> None:
    r = varinit.propagate("he_normal", "relu", depth=12, width=64, batch=16)
    text = str(r)
    assert "he_normal + relu" in text and "grad std" in text
    assert len(text.splitlines()) == 2 + len(range(1, 13))
    with pytest.raises(ValueError, match="depth"):
        varinit.propagate("he_normal", "relu", depth=0)
    with pytest.raises(ValueError, match="unknown activation"):
        varinit.propagate("he_normal", "relux")
    with pytest.raises(varinit.UnknownSchemeError):
        varinit.propagate("he_nrml", "relu")


# --------------------------------------------------------------------------- docs and CLI


@pytest.mark.parametrize(
    "name",
    [
        "varinit.theory.activations",
        "varinit.theory.gains",
        "varinit.theory.advice",
        "varinit.theory.propagate",
        "varinit.cli.activation",
    ],
)
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="varinit")
    add_subcommands(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def test_cli_recommend(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["recommend", "sigmoid"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "kumar_sigmoid" in out and "glorot_normal" in out and "disagree" in out


def test_cli_propagate_table_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib: pip install -e '.[plot]'")
    png = f"{tmp_path}/p.png"
    args = _parse(
        [
            "propagate",
            "--activation",
            "relu",
            "--schemes",
            "he_normal,lecun_normal",
            "--depth",
            "8",
            "--width",
            "64",
            "--batch",
            "16",
            "--plot",
            png,
        ]
    )
    assert cmd_propagate(args) == 0
    out = capsys.readouterr().out
    assert "he_normal" in out and "lecun_normal" in out and "wrote" in out
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_propagate_overrides_reach_the_weights(capsys: pytest.CaptureFixture[str]) -> None:
    # tanh with N(0, 1) weights saturates (act std near 1); the override must be applied
    args = _parse(
        [
            "propagate",
            "--activation",
            "tanh",
            "--schemes",
            "normal:std=1,normal",
            "--depth",
            "6",
            "--width",
            "256",
            "--batch",
            "32",
        ]
    )
    assert cmd_propagate(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert "normal(std=1)" in rows[1]
    first, last = (next(r for r in rows if r and r[0] == k) for k in ("1", "6"))
    assert float(last[1]) > 0.9  # std 1: saturated
    assert float(last[2]) < 0.5 * float(first[2])  # std 0.05: the signal shrinks layer by layer


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["propagate", "--schemes", "normal:std"], "is not key=value"),
        (["propagate", "--schemes", "normal:stdd=1"], "stdd=1 is not a parameter"),
        (["recommend", "relux"], "unknown activation"),
        (["propagate", "--schemes", "he_nrml"], "unknown initialization scheme"),
        (["propagate", "--activation", "relux", "--depth", "2"], "unknown activation"),
        (["propagate", "--depth", "0"], "--depth 0"),
        (["propagate", "--schemes", ","], "names no scheme"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(
    argv: list[str], msg: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("varinit: error: ") and msg in err and len(err.strip().splitlines()) == 1
