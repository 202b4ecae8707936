"""``rules="auto"`` for torch: each weight gets the scheme the theory pairs with its activation.

Expected values come from outside the code under test: the textbook pairings written out
(He 2 / fan_in, Glorot 2 / (fan_in + fan_out), LeCun 1 / fan_in, Kumar 12.8 / fan_in), and
the second moment of GELU/SiLU integrated here on a grid with torch's own functions.
Statistical checks use fixed seeds; the bound on a measured std is stated where it is used.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from varinit.adapters.torch import init_module  # noqa: E402

from varinit.models.auto import choose, expand, wants_auto  # noqa: E402


def _mlp(act: type, width: int = 64, depth: int = 3) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), act()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def _m2(fn: object) -> float:
    """E[fn(z)^2], z ~ N(0, 1), by the trapezoid rule on [-12, 12] (torch's function, not varinit's)."""
    z = torch.linspace(-12.0, 12.0, 200_001, dtype=torch.float64)
    y = fn(z)  # type: ignore[operator]
    dens = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return float(torch.trapezoid(y * y * dens, z))


# the pairing, and the weight std it implies for a (64, 64) layer
@pytest.mark.parametrize(
    "act,scheme,var",
    [
        (nn.ReLU, "he_normal", 2 / 64),
        (nn.Tanh, "glorot_normal", 2 / (64 + 64)),
        (nn.SELU, "lecun_normal", 1 / 64),
        (nn.Sigmoid, "kumar_sigmoid", 12.8 / 64),
    ],
)
def test_named_activations_get_their_textbook_rule(act: type, scheme: str, var: float) -> None:
    r = init_module(_mlp(act), "auto", seed=0)
    for name in ("0.weight", "2.weight", "4.weight"):
        assert r[name].scheme == scheme, r[name].why
        assert r[name].std == pytest.approx(math.sqrt(var), rel=1e-9)
        assert act.__name__.lower() in r[name].why.lower() or scheme.split("_")[0] in r[name].why.lower()
    # the readout feeds the output: a linear consumer, LeCun
    assert r["6.weight"].scheme == "lecun_normal" and "output" in r["6.weight"].why
    assert r["0.bias"].scheme == "zeros"


@pytest.mark.parametrize("act,fn", [(nn.GELU, F.gelu), (nn.SiLU, F.silu)])
def test_gelu_silu_get_the_moment_gain(act: type, fn: object) -> None:
    factor = 1.0 / _m2(fn)  # GELU: 2.3517..., SiLU: 2.81... (computed here, independently)
    net = _mlp(act, width=256)
    r = init_module(net, "auto", seed=0)
    row = r["0.weight"]
    assert row.scheme == "variance_scaling"
    assert row.std == pytest.approx(math.sqrt(factor / 256), rel=1e-6)
    assert f"{math.sqrt(factor):.4g}" in row.why
    # 65536 draws: the sample std is within 2% of the promise (about 7 standard errors)
    assert float(net[0].weight.detach().std()) == pytest.approx(math.sqrt(factor / 256), rel=0.02)


def test_leaky_relu_slope_enters_the_gain() -> None:
    net = nn.Sequential(nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 2))
    r = init_module(net, "auto", seed=0)
    assert r["0.weight"].std == pytest.approx(math.sqrt(2 / (1 + 0.2**2) / 32), rel=1e-6)
    assert "leaky_relu(0.2)" in r["0.weight"].why


def test_transformer_encoder_covers_packed_in_proj() -> None:
    layer = nn.TransformerEncoderLayer(32, 4, 64, activation="gelu", batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    r = init_module(enc, "auto", seed=0)
    assert r.untouched == []
    names = [n for n, _ in enc.named_parameters()]
    assert sorted(row.name for row in r.rows) == sorted(names)
    factor = 1.0 / _m2(F.gelu)
    for i in range(2):
        inp = r[f"layers.{i}.self_attn.in_proj_weight"]
        assert inp.scheme == "lecun_normal" and inp.std == pytest.approx(32**-0.5)
        assert "attention" in inp.why and "packed" in inp.why
        assert r[f"layers.{i}.self_attn.out_proj.weight"].scheme == "lecun_normal"
        assert r[f"layers.{i}.linear1.weight"].std == pytest.approx(math.sqrt(factor / 32), rel=1e-6)
        assert r[f"layers.{i}.linear2.weight"].std == pytest.approx(64**-0.5)
        assert r[f"layers.{i}.norm1.weight"].scheme == "ones"
        assert r[f"layers.{i}.self_attn.in_proj_bias"].scheme == "zeros"


def test_multihead_attention_inside_a_model() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.fc = nn.Linear(16, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(self.attn(x, x, x)[0]))

    r = init_module(M(), "auto", seed=0)
    assert r["attn.in_proj_weight"].scheme == "lecun_normal"
    assert r["attn.out_proj.weight"].scheme == "lecun_normal"  # flows into fc, a linear consumer
    assert r["fc.weight"].scheme == "glorot_normal"


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


def test_convnet_with_batchnorm_and_residual_adds() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), _Block(8), _Block(8),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(8, 10),
    )  # fmt: skip
    r = init_module(net, "auto", seed=0)
    for name in ("0.weight", "3.conv1.weight", "3.conv2.weight", "4.conv2.weight"):
        assert r[name].scheme == "he_normal", r[name].why
        assert r[name].std == pytest.approx(math.sqrt(2 / r[name].fan_in))  # type: ignore[operator]
    assert "BatchNorm2d" in r["3.conv1.weight"].why
    assert "add" in r["3.conv2.weight"].why  # reached ReLU through the residual add
    assert r["8.weight"].scheme == "lecun_normal"
    assert r["3.bn1.weight"].scheme == "ones" and r["3.bn1.bias"].scheme == "zeros"


class _LM(nn.Module):
    def __init__(self, tie: bool) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.fc = nn.Linear(32, 32)
        self.head = nn.Linear(32, 100, bias=False)
        if tie:
            self.head.weight = self.emb.weight

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.head(F.silu(self.fc(self.emb(t))))


def test_embeddings_and_tied_heads() -> None:
    untied = init_module(_LM(False), "auto", seed=0)
    assert untied["emb.weight"].std == 1.0 and "embedding" in untied["emb.weight"].why
    assert untied["head.weight"].scheme == "lecun_normal"
    tied = init_module(_LM(True), "auto", seed=0)
    assert "head.weight" not in [r.name for r in tied.rows]  # one tensor, one row
    row = tied["emb.weight"]
    assert row.std == pytest.approx(32**-0.5) and "tied" in row.why and "head" in row.why


def test_fallback_to_module_order_is_said() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.act, self.b = nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                x = -x
            return self.b(self.act(self.a(x)))

    r = init_module(Branchy(), "auto", seed=0)
    assert r["a.weight"].scheme == "glorot_normal" and r["b.weight"].scheme == "lecun_normal"
    assert all("module order" in r[n].why and "torch.fx" in r[n].why for n in ("a.weight", "b.weight"))


def test_unresolved_gets_the_stated_default_and_says_why() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.pos = nn.Parameter(torch.zeros(4, 8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.erf(self.a(x)) + self.pos[0]

    r = init_module(Odd(), "auto", seed=0)
    assert r["a.weight"].scheme == "lecun_normal"
    assert r["a.weight"].why.startswith("could not be resolved") and "erf" in r["a.weight"].why
    assert r["pos"].scheme == "normal" and r["pos"].std == pytest.approx(0.02)
    assert "could not be resolved" in r["pos"].why
    assert sorted(r.unresolved) == ["a.weight", "pos"]


def test_every_row_explains_itself_and_user_rules_after_auto_win() -> None:
    net = _mlp(nn.ReLU)
    r = init_module(net, ["auto", {"0.weight": ("normal", {"std": 0.5}), "0.bias": "ones"}], seed=0)
    assert r["0.weight"].scheme == "normal" and r["0.weight"].std == 0.5
    assert torch.all(net[0].bias == 1)
    assert all(row.why for row in r.rows if row.name not in ("0.weight", "0.bias"))
    assert "He et al. 2015" in str(r)


def test_a_parameter_named_like_a_role() -> None:
    r = init_module(nn.Linear(8, 4), "auto", seed=0)  # parameters 'weight' and 'bias' (role names)
    assert r["weight"].scheme == "lecun_normal" and r["bias"].scheme == "zeros"


def test_choose_and_expand_are_plain_data() -> None:
    assert choose("relu")[0] == "he_normal" and choose("linear")[0] == "lecun_normal"
    assert wants_auto(["auto"]) and not wants_auto("torch")
    assert expand(["torch", "auto"], {"w": "zeros"}) == ["torch", {"w": "zeros"}]


# ---------------------------------------------------------------- instability warnings


def test_relu_squared_warns_instead_of_a_huge_variance() -> None:
    import varinit

    a = varinit.recommend("relu2")
    assert not a.stable and "no weight variance is stable" in a.warning
    assert "9e+08" not in str(a) and "warning:" in str(a)
    # E[relu(z)^4] = 3/2: the moment rule is Var(w) = (2/3) / fan_in, not Kumar's
    assert a.overrides["factor"] == pytest.approx(2 / 3, rel=1e-6)
    same = varinit.recommend(lambda z: np.maximum(z, 0) ** 2)
    assert not same.stable and "9e+08" not in same.note


@pytest.mark.parametrize(
    "name", ["relu", "leaky_relu", "tanh", "selu", "elu", "sigmoid", "linear", "softsign"]
)
def test_stable_activations_carry_no_warning(name: str) -> None:
    import varinit

    a = varinit.recommend(name)
    assert a.stable and a.warning == ""


@pytest.mark.parametrize("name", ["gelu", "silu", "mish"])
def test_gelu_like_units_have_a_repelling_fixed_point(name: str) -> None:
    # E[phi(sqrt(q) z)^2] / q grows with q for these units (checked here on two points)
    import varinit

    fn = {"gelu": F.gelu, "silu": F.silu, "mish": F.mish}[name]
    lo, hi = _m2(lambda z: fn(0.5 * z)) / 0.25, _m2(lambda z: fn(2.0 * z)) / 4.0
    assert hi > lo
    assert not varinit.recommend(name).stable


def test_cli_prints_the_warning(capsys: pytest.CaptureFixture[str]) -> None:
    from varinit.cli import main

    assert main(["recommend", "relu2"]) == 0
    assert "warning: no weight variance is stable for relu2" in capsys.readouterr().out


# ---------------------------------------------------------------- docs


@pytest.mark.parametrize(
    "module",
    [
        "varinit.models.auto",
        "varinit.models.health",
        "varinit.adapters._torch_auto",
        "varinit.adapters._keras_auto",
        "varinit.theory.advice",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_every_python_block_in_the_auto_guide_runs(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "auto.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    scope: dict[str, object] = {}
    for block in blocks:  # one namespace, in order, as a reader runs them
        exec(compile(block, "docs/auto.md", "exec"), scope)


# ---------------------------------------------------------------- Keras


def test_keras_functional_graph() -> None:
    keras = pytest.importorskip("keras")
    from varinit.adapters.keras import init_model

    inp = keras.Input((8,))
    x = keras.layers.Dense(16, name="d1")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("tanh", name="act")(x)
    y = keras.layers.Dense(16, activation="relu", name="d2")(x)
    z = keras.layers.Add()([x, keras.layers.Dense(16, name="d3")(y)])
    g = keras.layers.Dense(16, activation="gelu", name="g")(z)
    s = keras.layers.Dense(16, activation="selu", name="s")(g)
    sg = keras.layers.Dense(16, activation="sigmoid", name="sg")(s)
    m = keras.Model(inp, keras.layers.Dense(4, name="out")(sg))
    r = init_model(m, "auto", seed=0)
    assert r["d1.kernel"].scheme == "glorot_normal" and "BatchNormalization" in r["d1.kernel"].why
    assert r["d2.kernel"].scheme == "he_normal"
    assert r["d3.kernel"].scheme == "lecun_normal"  # through the Add into a Dense: linear
    assert r["g.kernel"].std == pytest.approx(math.sqrt(1 / _m2(F.gelu) / 16), rel=1e-6)
    assert r["s.kernel"].scheme == "lecun_normal" and r["sg.kernel"].scheme == "kumar_sigmoid"
    assert r["sg.kernel"].std == pytest.approx(math.sqrt(12.8 / 16))
    assert r["out.kernel"].scheme == "lecun_normal" and "output" in r["out.kernel"].why
    assert r["bn.gamma"].scheme == "ones" and r["d1.bias"].scheme == "zeros"


def test_keras_attention_sequential_and_embedding() -> None:
    keras = pytest.importorskip("keras")
    from varinit.adapters.keras import init_model

    inp = keras.Input((10, 16))
    a = keras.layers.MultiHeadAttention(2, 8, name="mha")(inp, inp)
    a = keras.layers.LayerNormalization(name="ln")(keras.layers.Add()([inp, a]))
    m = keras.Model(inp, keras.layers.Dense(32, activation="relu", name="f")(a))
    r = init_model(m, "auto", seed=0)
    for qkv in ("query", "key", "value"):
        assert r[f"mha.{qkv}.kernel"].scheme == "lecun_normal" and "attention" in r[f"mha.{qkv}.kernel"].why
        assert r[f"mha.{qkv}.bias"].scheme == "zeros"
    assert r["mha.attention_output.kernel"].scheme == "lecun_normal"
    assert r["f.kernel"].scheme == "he_normal"
    seq = keras.Sequential(
        [keras.Input((5,), dtype="int32"), keras.layers.Embedding(50, 8, name="e"),
         keras.layers.Dense(8, name="h"), keras.layers.ReLU(), keras.layers.Dense(2, name="o")]
    )  # fmt: skip
    r = init_model(seq, "auto", seed=0)
    assert r["e.embeddings"].std == 1.0
    assert r["h.kernel"].scheme == "he_normal" and r["o.kernel"].scheme == "lecun_normal"
