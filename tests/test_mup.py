"""μP as rules (varinit.models.mup): roles from shapes, the std and multipliers of Tensor
Programs V's Table 8 (computed here from the formulas, not by the code), the zero readout,
own base, errors, and the coordinate check (widths 64...1024, a few SGD/Adam steps)."""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import math
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from varinit.adapters.torch import init_module  # noqa: E402

from varinit.models import RuleError  # noqa: E402
from varinit.models.mup import base_shapes, mup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
D_IN, D_OUT = 16, 8


def _harness() -> ModuleType:
    """docs/make_mup_figure.py: the coordinate check the docs' figure draws."""
    spec = importlib.util.spec_from_file_location("make_mup_figure", ROOT / "docs" / "make_mup_figure.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Net(torch.nn.Module):
    def __init__(self, width: int, vocab: int = 0) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, width) if vocab else None
        self.fc1 = torch.nn.Linear(D_IN, width)
        self.fc2 = torch.nn.Linear(width, width)
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, D_OUT)


def _init(width: int, rules: Any) -> tuple[Any, Any]:
    net = Net(width)
    return net, init_module(net, rules, seed=0)


# --------------------------------------------------------------------------- roles and std


def test_roles_from_shapes() -> None:
    _, r = _init(256, mup(base_shapes(Net(64))))
    assert r["fc1.weight"].why.startswith("mup input")  # (256, 16): only fan_out scales
    assert r["fc2.weight"].why.startswith("mup hidden")  # both scale
    assert r["head.weight"].why.startswith("mup readout")  # (8, 256): only fan_in scales
    assert r["fc1.bias"].why.startswith("mup input")  # vector-like, scales
    assert r["norm.weight"].why.startswith("mup input")
    assert r["head.bias"].why.startswith("mup finite")  # (8,): does not scale


@pytest.mark.parametrize("width", [64, 256, 1024])
def test_std_per_role_from_the_formula(width: int) -> None:
    m = width / 64
    net, r = _init(width, mup(base_shapes(Net(64)), readout_zero=False))
    # sigma = 1/sqrt(base fan_in): input 1/sqrt(16); hidden sigma/sqrt(m) = 1/sqrt(width); readout sigma
    want = {"fc1.weight": 1 / math.sqrt(D_IN), "fc2.weight": 1 / math.sqrt(64) / math.sqrt(m)}
    want["head.weight"] = 1 / math.sqrt(64)
    params = dict(net.named_parameters())
    for name, std in want.items():
        assert r[name].std == pytest.approx(std, rel=1e-12), name
        drawn = float(params[name].detach().double().std())
        n = params[name].numel()
        assert abs(drawn / std - 1) < 6 / math.sqrt(2 * n), (name, drawn, std)  # 6 sigma of the sample std
    assert r["head.weight"].out_mult == pytest.approx(1 / m)
    assert float(params["fc1.bias"].detach().abs().max()) == 0.0
    assert float((params["norm.weight"].detach() - 1).abs().max()) == 0.0


def test_base_std_scales_hidden_by_sqrt_of_the_fan_in_multiplier() -> None:
    _, r = _init(1024, mup(base_shapes(Net(64)), base_std=0.02, readout_zero=False))
    assert r["fc2.weight"].std == pytest.approx(0.02 / 4)  # m_in = 16
    assert r["fc1.weight"].std == pytest.approx(0.02)
    assert r["head.weight"].std == pytest.approx(0.02)


def test_readout_is_zero_by_default() -> None:
    net, r = _init(256, mup(base_shapes(Net(64))))
    assert r["head.weight"].scheme == "zeros"
    assert float(net.head.weight.detach().abs().max()) == 0.0
    assert float(net.fc2.weight.detach().abs().max()) > 0.0


# --------------------------------------------------------------------------- multipliers


@pytest.mark.parametrize(
    ("optimizer", "want"),
    [
        # Table 8, relative to the base: Adam: hidden 1/m_in, the rest 1; readout output 1/m_in
        (
            "adam",
            {"fc1.weight": 1, "fc1.bias": 1, "fc2.weight": 1 / 4, "head.weight": 1, "head.bias": 1},
        ),
        # SGD: input (and scaling vectors) m_out, hidden m_out/m_in, readout m_in, finite 1
        ("sgd", {"fc1.weight": 4, "fc1.bias": 4, "fc2.weight": 1, "head.weight": 4, "head.bias": 1}),
    ],
)
def test_multipliers_exported(optimizer: str, want: dict[str, float]) -> None:
    _, r = _init(256, mup(base_shapes(Net(64)), optimizer=optimizer))
    mults = r.multipliers()
    assert {n: mults[n]["lr"] for n in want} == pytest.approx(want)
    assert mults["head.weight"]["output"] == pytest.approx(1 / 4)
    assert "output" not in mults["fc2.weight"]
    row = r.to_dict()["rows"][[x.name for x in r.rows].index("head.weight")]
    assert (row["lr_mult"], row["out_mult"]) == (pytest.approx(want["head.weight"]), pytest.approx(0.25))


def test_own_base_has_every_multiplier_one() -> None:
    for rules in (mup(), "mup", mup(base_shapes(Net(128)))):
        _, r = _init(128, rules)
        assert {v["lr"] for v in r.multipliers().values()} == {1.0}
        assert r.multipliers()["head.weight"]["output"] == 1.0
        assert r["head.weight"].scheme == "zeros"  # found by name: a top-level 'head'
        assert r["fc2.weight"].std == pytest.approx(1 / math.sqrt(128))


def test_no_base_readout_is_the_last_dense_layer() -> None:
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Linear(32, 3)
    )
    r = init_module(net, "mup", seed=0)
    assert r["2.weight"].scheme == "normal"
    assert r["3.weight"].scheme == "zeros"
    assert float(net[3].weight.detach().abs().max()) == 0.0
    r = init_module(net, mup(readout="2.weight"), seed=0)
    assert (r["2.weight"].scheme, r["3.weight"].scheme) == ("zeros", "normal")


def test_readout_glob_picks_the_zeroed_output_weights() -> None:
    class Bottleneck(torch.nn.Module):
        def __init__(self, w: int) -> None:
            super().__init__()
            self.up = torch.nn.Linear(D_IN, w)
            self.down = torch.nn.Linear(w, 4)  # fixed width inside the model: fan-in alone scales
            self.mid = torch.nn.Linear(4, w)
            self.head = torch.nn.Linear(w, D_OUT)

    base = base_shapes(Bottleneck(64))
    r = init_module(Bottleneck(256), mup(base), seed=0)
    assert (r["down.weight"].scheme, r["head.weight"].scheme) == ("zeros", "zeros")
    r = init_module(Bottleneck(256), mup(base, readout="head.weight"), seed=0)
    assert r["down.weight"].scheme == "normal" and r["down.weight"].std == pytest.approx(1 / 8)
    assert r["down.weight"].out_mult == pytest.approx(1 / 4)  # still an output weight: 1/m_in
    assert r["head.weight"].scheme == "zeros"


def test_embedding_is_input_like() -> None:
    net = Net(256, vocab=50)
    r = init_module(net, mup(base_shapes(Net(64, vocab=50)), optimizer="sgd"), seed=0)
    assert r["emb.weight"].why.startswith("mup input")  # (50, 256): the vocabulary is the fan-in
    assert r["emb.weight"].std == pytest.approx(1.0)
    assert r.multipliers()["emb.weight"]["lr"] == pytest.approx(4.0)


def test_transformer_encoder_roles() -> None:
    def enc(w: int) -> Any:
        layer = torch.nn.TransformerEncoderLayer(w, nhead=4, dim_feedforward=2 * w, batch_first=True)
        return torch.nn.ModuleDict({"enc": layer, "head": torch.nn.Linear(w, D_OUT)})

    r = init_module(enc(128), mup(base_shapes(enc(32))), seed=0)
    hidden = ("enc.self_attn.in_proj_weight", "enc.self_attn.out_proj.weight", "enc.linear1.weight")
    for name in (*hidden, "enc.linear2.weight"):
        assert r[name].why.startswith("mup hidden"), name
        assert r[name].lr_mult == pytest.approx(1 / 4), name
    assert r["enc.self_attn.in_proj_weight"].std == pytest.approx(1 / math.sqrt(128))
    assert r["enc.linear2.weight"].std == pytest.approx(1 / math.sqrt(256))  # fan_in 2w
    assert r["enc.norm1.weight"].why.startswith("mup input")
    assert (r["head.weight"].scheme, r["head.weight"].out_mult) == ("zeros", pytest.approx(1 / 4))


def test_zeros_keep_their_multipliers() -> None:
    net, r = _init(256, mup(base_shapes(Net(64)), zeros=["fc2.weight"]))
    assert (r["fc2.weight"].scheme, r["fc2.weight"].lr_mult) == ("zeros", pytest.approx(1 / 4))
    assert float(net.fc2.weight.detach().abs().max()) == 0.0
    with pytest.raises(RuleError, match=r"zeros=\['q\.weight'\].*matches no parameter"):
        _init(64, mup(zeros=["q.weight"]))


def test_u_mup_unit_init_and_absolute_multipliers() -> None:
    net, r = _init(256, mup(variant="u-mup"))
    m = r.multipliers()
    # Blake et al. 2024 / unit-scaling: weights std 1; hidden output and Adam lr 1/sqrt(fan_in)
    assert [r[n].std for n in ("fc1.weight", "fc2.weight", "head.weight")] == [1.0, 1.0, 1.0]
    assert m["fc1.weight"] == {"lr": pytest.approx(1 / 4), "output": pytest.approx(1 / 4)}  # fan_in 16
    assert m["fc2.weight"] == {"lr": pytest.approx(1 / 16), "output": pytest.approx(1 / 16)}
    assert m["head.weight"] == {"lr": 1.0, "output": pytest.approx(1 / 256)}  # readout: 1/fan_in
    assert (r["fc2.bias"].scheme, m["fc2.bias"]) == ("zeros", {"lr": 1.0})
    assert float(net.head.weight.detach().std()) == pytest.approx(1.0, rel=0.1)
    emb = Net(64, vocab=50)
    r = init_module(emb, mup(variant="u-mup"), seed=0)
    assert r.multipliers()["emb.weight"] == {"lr": pytest.approx(1 / 8), "output": 1.0}


def test_user_rules_layer_over_mup() -> None:
    _, r = _init(256, [mup(base_shapes(Net(64))), {"fc2.bias": ("normal", {"std": 0.01})}])
    assert (r["fc2.bias"].scheme, r["fc2.bias"].lr_mult) == ("normal", None)
    assert r["fc2.weight"].lr_mult == pytest.approx(0.25)


# --------------------------------------------------------------------------- errors


def test_missing_base_name_names_the_parameter_and_the_fix() -> None:
    base = base_shapes(Net(64))
    del base["fc2.weight"]
    net = Net(256)
    before = net.fc2.weight.detach().clone()
    with pytest.raises(RuleError, match=r"'fc2\.weight'.*no base shape.*base_shapes\(base_model\)"):
        init_module(net, mup(base), seed=0)
    assert torch.equal(net.fc2.weight, before)  # nothing was written


def test_rank_mismatch_names_both_shapes() -> None:
    base = base_shapes(Net(64)) | {"fc2.weight": (64, 64, 1)}
    with pytest.raises(RuleError, match=r"'fc2\.weight' has shape \(256, 256\) but base shape \(64, 64, 1\)"):
        init_module(Net(256), mup(base), seed=0)


def test_zero_width_base_is_an_error() -> None:
    base = base_shapes(Net(64)) | {"fc2.weight": (0, 0)}
    with pytest.raises(RuleError, match=r"'fc2\.weight'.*base shape \(0, 0\), with a zero dimension"):
        init_module(Net(256), mup(base), seed=0)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"variant": "v-mup"}, "variant='v-mup'.*not known"),
        ({"variant": "u-mup", "optimizer": "sgd"}, "only Adam.*optimizer='adam'"),
        ({"optimizer": "lion"}, "optimizer='lion'.*adam"),
        ({"base_std": -1.0}, "base_std=-1.0"),
        ({"base": 3}, "got a int"),
    ],
)
def test_bad_arguments(kw: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        mup(**kw)


def test_readout_glob_that_matches_nothing() -> None:
    with pytest.raises(RuleError, match=r"readout='decoder\.weight'.*matches no weight"):
        init_module(Net(64), mup(readout="decoder.weight"), seed=0)


# --------------------------------------------------------------------------- other front doors


def test_jax_tree_in_out_layout() -> None:
    pytest.importorskip("jax")
    import numpy as np
    from varinit.adapters.jax import init_tree

    def params(w: int) -> dict[str, Any]:
        shapes = {"Dense_0": (D_IN, w), "Dense_1": (w, w), "Dense_2": (w, D_OUT)}
        return {"params": {k: {"kernel": np.zeros(s, np.float32)} for k, s in shapes.items()}}

    _, r = init_tree(params(256), mup(params(64)), seed=0, report=True)
    assert r["params.Dense_1.kernel"].std == pytest.approx(1 / 16)
    assert r.multipliers()["params.Dense_1.kernel"] == {"lr": pytest.approx(0.25)}
    assert r.multipliers()["params.Dense_2.kernel"] == {"lr": 1.0, "output": pytest.approx(0.25)}


def test_keras_named_layers() -> None:
    keras = pytest.importorskip("keras")
    from varinit.adapters.keras import init_model

    def model(w: int) -> Any:
        dense = keras.layers.Dense
        layers = [dense(w, name="fc1"), dense(w, name="fc2"), dense(D_OUT, name="head")]
        return keras.Sequential([keras.Input((D_IN,)), *layers])

    r = init_model(model(256), mup(base_shapes(model(64)), optimizer="sgd"), seed=0)
    assert r["fc2.kernel"].std == pytest.approx(1 / 16)
    assert r.multipliers()["fc1.kernel"] == {"lr": pytest.approx(4.0)}
    assert r.multipliers()["head.kernel"] == {"lr": pytest.approx(4.0), "output": pytest.approx(0.25)}
    assert r["head.kernel"].scheme == "zeros"


def test_flax_nnx_module() -> None:
    nnx = pytest.importorskip("flax.nnx")
    from varinit.adapters.flax import init_module as init_nnx

    class M(nnx.Module):
        def __init__(self, w: int) -> None:
            rngs = nnx.Rngs(0)
            self.fc1 = nnx.Linear(D_IN, w, rngs=rngs)
            self.fc2 = nnx.Linear(w, w, rngs=rngs)
            self.head = nnx.Linear(w, D_OUT, rngs=rngs)

    r = init_nnx(M(256), mup(base_shapes(M(64))), seed=0)
    assert r["fc2.kernel"].std == pytest.approx(1 / 16)
    assert r.multipliers()["fc2.kernel"] == {"lr": pytest.approx(0.25)}
    assert r.multipliers()["head.kernel"] == {"lr": 1.0, "output": pytest.approx(0.25)}


# --------------------------------------------------------------------------- coordinate check

MUP_BOUND = 0.15  # |slope| of log(mean |.|) vs log(width), every measure, under μP and u-μP
# without μP the output update grows at least this fast with width (measured: SP +0.70 SGD,
# +0.62 Adam; μP's init without its multipliers +0.77, +0.85) and the hidden update at least
# SP_HIDDEN_UPDATE (SP +0.26, +0.50; init only +0.65, +0.69)
SP_UPDATE = 0.4
SP_HIDDEN_UPDATE = 0.15


@pytest.fixture(scope="module")
def coords() -> dict[tuple[str, str], dict[str, list[float]]]:
    h = _harness()
    params = ("mup", "sp", "mup_init_only")
    got = {(p, o): h.coord_check(p, o, steps=3) for o in ("sgd", "adam") for p in params}
    return got | {("u-mup", "adam"): h.coord_check("u-mup", "adam", steps=3)}


@pytest.mark.parametrize(("param", "optimizer"), [("mup", "sgd"), ("mup", "adam"), ("u-mup", "adam")])
def test_coordinate_check_flat_with_mup(coords: Any, param: str, optimizer: str) -> None:
    slope = _harness().slope
    got = {m: slope(v) for m, v in coords[param, optimizer].items()}
    assert all(abs(s) <= MUP_BOUND for s in got.values()), got


@pytest.mark.parametrize("param", ["sp", "mup_init_only"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_coordinate_check_drifts_without_mup(coords: Any, optimizer: str, param: str) -> None:
    """SP drifts; so does μP's init when the report's multipliers are not applied."""
    slope = _harness().slope
    got = {m: slope(v) for m, v in coords[param, optimizer].items()}
    assert got["output_update"] >= SP_UPDATE, got
    assert got["hidden_update"] >= SP_HIDDEN_UPDATE, got


# --------------------------------------------------------------------------- docs


def test_docstring_examples_run() -> None:
    import varinit.models.mup as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_doc_python_blocks_run() -> None:
    """docs/mup.md: every python block runs, and the first one prints the page's report
    (the block tagged "mup-report")."""
    text = (ROOT / "docs" / "mup.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    shown = re.search(r"<!-- tested: mup-report -->\n```text\n(.*?)```", text, re.S)
    assert shown is not None
    ns: dict[str, Any] = {}
    for i, block in enumerate(blocks):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"docs/mup.md block {i}", "exec"), ns)
        if i == 0:
            assert out.getvalue() == shown.group(1)
    assert ns["model"].out_mult == pytest.approx(64 / 1024)
