"""The whole-model rule language (varinit.models): targets, precedence, presets, report.

Framework-free: parameters are described as ``Param`` directly. The framework front doors
have their own tests (torch: test_torch.py and test_presets.py).
"""

from __future__ import annotations

import doctest
import importlib
import json
import math

import pytest

from varinit.models import Param, Report, Row, RuleError, preset, presets, resolve, structure
from varinit.models.rules import evaluate, kind_of, parse_rules, roles_of


def _mlp() -> list[Param]:
    return [
        Param("embed.weight", (100, 16), types=("Embedding",)),
        Param("h.0.fc.weight", (32, 16), types=("Linear",), layout="out_in", layer=0, depth=2),
        Param("h.0.fc.bias", (32,), types=("Linear",), fans={"fan_in": 16, "fan_out": 32}),
        Param(
            "h.0.proj.weight",
            (16, 32),
            types=("Linear",),
            layout="out_in",
            layer=0,
            depth=2,
            roles=roles_of("weight", 2, "dense", residual_out=True),
        ),
        Param("h.1.fc.weight", (32, 16), types=("Linear",), layout="out_in", layer=1, depth=2),
        Param("ln.weight", (16,), types=("LayerNorm",)),
        Param("ln.bias", (16,), types=("LayerNorm",)),
    ]


def _chosen(rules: object, params: list[Param] | None = None, **kw: object) -> dict[str, str | None]:
    ps = params or _mlp()
    got = resolve(ps, rules, **kw)  # type: ignore[arg-type]
    return {p.name: (a.scheme if a else None) for p, a in zip(ps, got, strict=True)}


def test_roles_from_layer_kind_and_local_name() -> None:
    ps = {p.name: p for p in _mlp()}
    assert ps["embed.weight"].roles == {"weight", "embedding"}
    assert ps["h.0.fc.weight"].roles == {"weight", "dense"}
    assert ps["h.0.fc.bias"].roles == {"bias"}
    assert ps["h.0.proj.weight"].roles == {"weight", "dense", "residual_out"}
    assert ps["ln.weight"].roles == {"weight", "norm_scale"} and ps["ln.bias"].roles == {"bias", "norm_bias"}
    assert roles_of("gamma", 1, "norm") == {"weight", "norm_scale"}
    assert roles_of("beta", 1, "norm") == {"bias", "norm_bias"}
    assert roles_of("in_proj_bias", 1, None) == {"bias"}
    assert roles_of("weight", 1, "norm", residual_norm=True) == {"weight", "norm_scale", "residual_norm"}


@pytest.mark.parametrize(
    ("types", "kind"),
    [
        (("Linear", "Module"), "dense"),
        (("Dense", "Layer"), "dense"),
        (("EinsumDense",), "dense"),
        (("Conv2d", "_ConvNd", "Module"), "conv"),
        (("ConvTranspose1d", "_ConvTransposeNd", "_ConvNd"), "conv"),
        (("Conv2D", "BaseConv"), "conv"),
        (("Embedding",), "embedding"),
        (("Embed",), "embedding"),
        (("LayerNorm",), "norm"),
        (("BatchNorm2d", "_BatchNorm", "_NormBase"), "norm"),
        (("LayerNormalization",), "norm"),
        (("RMSNorm",), "norm"),
        (("MultiheadAttention", "Module"), None),
        (("Sequential",), None),
    ],
)
def test_kind_of_layer_classes(types: tuple[str, ...], kind: str | None) -> None:
    assert kind_of(types) == kind


def test_most_specific_rule_wins_whatever_the_order() -> None:
    rules = {
        "*": "zeros",
        "weight": ("normal", {"std": 0.02}),
        "embedding": ("normal", {"std": 1.0}),
        "residual_out": "glorot_uniform",
        "h.1.fc.weight": "he_normal",
        "norm_scale": "ones",
    }
    want = {
        "embed.weight": "normal",
        "h.0.fc.weight": "normal",
        "h.0.fc.bias": "zeros",
        "h.0.proj.weight": "glorot_uniform",
        "h.1.fc.weight": "he_normal",
        "ln.weight": "ones",
        "ln.bias": "zeros",
    }
    assert _chosen(rules) == want
    assert _chosen(dict(reversed(list(rules.items())))) == want
    # the embedding rule (a strict subset of 'weight') wins with its own std
    a = resolve(_mlp(), rules)[0]
    assert a is not None and a.rule == "'embedding'" and a.spec.std((100, 16)) == 1.0


def test_partial_overlap_resolves_by_target_kind_else_errors() -> None:
    # exact name beats a glob; (type, param) beats a role; a longer glob beats a shorter one
    assert _chosen({"h.*": "zeros", "h.0.fc.bias": "ones"})["h.0.fc.bias"] == "ones"
    assert _chosen({("type:Linear", "bias"): "ones", "bias": "zeros", "*": "zeros"})["h.0.fc.bias"] == "ones"
    assert _chosen({"h.0.fc.*": "ones", "*.bias": "zeros", "*": "zeros"})["h.0.fc.bias"] == "ones"
    assert _chosen({"h.0.*": "ones", "*.bias": "zeros", "*": "zeros"})["h.0.fc.bias"] == "zeros"
    with pytest.raises(RuleError, match=r"'h\.0\.fc\.bias'.*equally specific"):
        resolve(_mlp(), {"h.0.f*": "ones", "*.bias": "zeros", "*": "zeros"})
    with pytest.raises(RuleError, match="match exactly the same parameters"):
        resolve(_mlp(), [("?n.*", "ones"), ("l?.*", "zeros")])
    # the same parameters, but one target is more specific: no tie
    assert _chosen([("ln.*", "ones"), ("l?.*", "zeros")])["ln.bias"] == "ones"


def test_type_rule_means_the_weight_unless_it_names_a_parameter() -> None:
    got = _chosen({"type:LayerNorm": "ones"}, strict=False)
    assert got["ln.weight"] == "ones" and got["ln.bias"] is None
    assert _chosen({"type:LayerNorm.bias": "zeros"})["ln.bias"] == "zeros"
    assert _chosen({("LayerNorm", "b*"): "zeros"})["ln.bias"] == "zeros"


def test_callables_as_targets_and_as_schemes() -> None:
    def by_depth(p: Param) -> tuple[str, dict[str, float]] | None:
        if p.layer is None or p.depth is None:
            return None
        return ("normal", {"std": 0.02 / math.sqrt(2 * (p.layer + 1))})

    ps = _mlp()
    got = resolve(ps, {lambda p: p.name.startswith("h.") and p.ndim == 2: by_depth})
    stds = {p.name: a.spec.std(p.shape) for p, a in zip(ps, got, strict=True) if a}
    assert stds == {
        "h.0.fc.weight": 0.02 / math.sqrt(2),
        "h.0.proj.weight": 0.02 / math.sqrt(2),
        "h.1.fc.weight": 0.02 / math.sqrt(4),
    }
    assert _chosen({"*": None, "weight": "ones"})["ln.bias"] is None  # None leaves it alone


def test_override_expressions() -> None:
    assert evaluate("= 0.02 / sqrt(2 * depth)", {"depth": 8}) == 0.02 / math.sqrt(16)
    assert evaluate("=-3 * fan_in ** -0.5", {"fan_in": 4}) == -1.5
    ps = _mlp()
    got = resolve(ps, {"residual_out": ("normal", {"std": "= 0.02 / sqrt(2 * depth)"})}, strict=False)
    a = got[3]
    assert a is not None and a.spec.std((16, 32)) == 0.01
    with pytest.raises(RuleError, match=r"'h\.0\.fc\.bias'.*'depth'.*not known"):
        p = Param("h.0.fc.bias", (32,), fans={"fan_in": 16, "fan_out": 32})
        resolve([p], {"bias": ("normal", {"std": "= 1 / depth"})})
    for bad, why in [
        ("= __import__('os')", "only numbers"),
        ("= 1 +", "not arithmetic"),
        ("= width", "unknown name"),
    ]:
        with pytest.raises(RuleError, match=why):
            evaluate(bad, {"depth": 1})


def test_validation_before_anything_names_rule_and_parameter() -> None:
    with pytest.raises(
        RuleError, match=r"parameter 'h\.0\.fc\.bias' \(shape \(32,\)\), rule '\*' -> 'orthogonal'"
    ):
        resolve(_mlp(), {"*": "orthogonal"})
    with pytest.raises(RuleError, match=r"rule 'weight' -> 'normal'.*std"):
        resolve(_mlp(), {"weight": ("normal", {"std": -1.0})})
    with pytest.raises(RuleError, match=r"rule 'weight' -> 'he_norml': unknown.*did you mean 'he_normal'"):
        resolve(_mlp(), {"weight": "he_norml"})
    with pytest.raises(RuleError, match=r"rule '\*\.wieght' matches no parameter.*strict=False"):
        resolve(_mlp(), {"*.wieght": "zeros"})
    assert _chosen({"*.wieght": "zeros"}, strict=False) == dict.fromkeys(_chosen({"*": None}, strict=False))
    with pytest.raises(TypeError, match="rule target 42"):
        resolve(_mlp(), {42: "zeros"})
    with pytest.raises(TypeError, match="a pair"):
        resolve(_mlp(), {"weight": ("he_normal",)})
    with pytest.raises(RuleError, match="unknown role 'wieght'"):
        resolve(_mlp(), {"role:wieght": "zeros"})


def test_structure_finds_numbered_blocks() -> None:
    names = ["wte.weight", "h.0.attn.w", "h.1.attn.w", "h.2.mlp.w", "params.layers_0.k", "params.layers_1.k"]
    got = structure(names)
    assert got == {
        "h.0.attn.w": (0, 3),
        "h.1.attn.w": (1, 3),
        "h.2.mlp.w": (2, 3),
        "params.layers_0.k": (0, 2),
        "params.layers_1.k": (1, 2),
    }
    assert structure(["Dense_0.kernel", "fc2.weight"]) == {}  # one 'Dense_<n>' is no stack
    assert structure(["blocks.0.w"]) == {"blocks.0.w": (0, 1)}  # a container index is


def test_presets_are_data_and_valid() -> None:
    assert presets() == ["torch", "keras", "gpt2", "llama", "vit", "resnet"]
    for name in presets():
        p = preset(name)
        assert p.description and p.reference and p.rules
        parse_rules(name)  # every target and scheme is valid
    with pytest.raises(ValueError, match="unknown rules preset 'gtp2'; did you mean 'gpt2'"):
        preset("gtp2")


def test_gpt2_preset_on_a_described_model() -> None:
    ps = _mlp()
    got = {p.name: a for p, a in zip(ps, resolve(ps, "gpt2"), strict=True)}
    assert got["h.0.proj.weight"] is not None and got["h.0.proj.weight"].spec.std((16, 32)) == 0.02 / 2
    assert got["h.0.fc.weight"] is not None and got["h.0.fc.weight"].spec.std((32, 16)) == 0.02
    assert {n: a.scheme for n, a in got.items() if a} | {} == {
        "embed.weight": "normal",
        "h.0.fc.weight": "normal",
        "h.0.fc.bias": "zeros",
        "h.0.proj.weight": "normal",
        "h.1.fc.weight": "normal",
        "ln.weight": "ones",
        "ln.bias": "zeros",
    }


def test_layering_a_preset_with_own_rules() -> None:
    # a later rule with the same target replaces the preset's; new rules join by precedence
    got = _chosen(["gpt2", {"weight": "he_normal", "h.1.fc.weight": "zeros"}])
    assert got["h.0.fc.weight"] == "he_normal" and got["h.1.fc.weight"] == "zeros"
    assert got["embed.weight"] == "normal"  # the preset's embedding rule still narrower
    with pytest.raises(RuleError, match="matches no parameter"):
        _chosen(["gpt2", {"nothing.here": "zeros"}])  # own rules stay strict


def test_report_table_and_exports() -> None:
    r = Report(
        [
            Row("a.weight", (4, 3), "'weight'", "he_normal", 3.0, 4.0, 0.5, 0.49, 255),
            Row("a.bias", (4,), "'bias'", "zeros", None, None, 0.0, math.nan, None),
        ],
        ["b.weight"],
    )
    text = str(r).splitlines()
    assert text[0].split() == [
        "parameter",
        "shape",
        "rule",
        "scheme",
        "fan_in",
        "fan_out",
        "std",
        "measured",
        "stream",
    ]
    assert text[1].split()[-1] == "00000000000000ff" and text[2].split()[-2:] == ["-", "-"]
    assert text[-1] == "2 initialized, 1 left alone: b.weight"
    d = json.loads(r.to_json())
    assert (
        d["rows"][0]["shape"] == [4, 3]
        and d["rows"][1]["measured"] is None
        and d["untouched"] == ["b.weight"]
    )
    assert r["a.bias"].scheme == "zeros" and r.touched is r.rows
    with pytest.raises(KeyError, match=r"b\.weight"):
        r["b.weight"]


@pytest.mark.parametrize(
    "name", ["varinit.models", "varinit.models.rules", "varinit.models.report", "varinit.models.presets"]
)
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0 and result.failed == 0


def test_report_multipliers_and_explanations() -> None:
    rows = [
        Row("in.weight", (8, 4), "'weight'", "normal", 4.0, 8.0, 0.5, math.nan, None, lr_mult=1.0),
        Row(
            "out.weight", (2, 8), "'readout'", "zeros", 8.0, 2.0, 0.0, 0.0, None, why="readout", out_mult=0.25
        ),
        Row("out.bias", (2,), "'bias'", "zeros", None, None, 0.0, 0.0, None),
    ]
    r = Report(rows)
    assert r.multipliers() == {"in.weight": {"lr": 1.0}, "out.weight": {"output": 0.25}}
    lines = str(r).splitlines()
    assert lines[0].split()[-2:] == ["lr_mult", "out_mult"] and lines[2].split()[-2:] == ["-", "0.25"]
    assert "out.weight: readout" in lines
    assert json.loads(r.to_json())["rows"][1]["out_mult"] == 0.25


def test_rules_carry_report_data_beside_the_scheme() -> None:
    def readout(p: Param) -> tuple[str, dict[str, object]]:
        return ("zeros", {"why": "μP readout", "out_mult": 0.5, "lr_mult": 2.0})

    got = resolve(_mlp(), {"h.1.fc.weight": readout, "*": None})
    a = got[4]
    assert a is not None and (a.scheme, a.why, a.lr_mult, a.out_mult) == ("zeros", "μP readout", 2.0, 0.5)
    b = resolve(_mlp(), {"dense": ("normal", {"std": 0.1, "lr_mult": "= 1 / fan_in"}), "*": None})[1]
    assert b is not None and b.lr_mult == 1 / 16 and b.spec.std((32, 16)) == 0.1


def test_recurrent_biases_are_biases() -> None:
    # torch's nn.LSTM names them bias_ih_l0 / bias_hh_l0_reverse
    assert roles_of("bias_ih_l0", 1, None) == {"bias"} and roles_of("bias_hh_l1_reverse", 1, None) == {"bias"}
    assert roles_of("weight_ih_l0", 2, None) == {"weight"}
