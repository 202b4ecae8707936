"""Keras whole-model init: ``varinit.adapters.keras.init_model``.

Exact claims are tested exactly: names, roles, fans, rules, the report, zeros and ones, and
an int seed's values bit for bit against ``varinit.init`` with the parameter's stream.
Statistics, every seed fixed: a parameter's sample std lies within 5 standard errors of the
std the law gives (Keras' formula, computed here: two-sided, about 6e-7 per parameter for a
normal estimate); the standard error of a sample std of n draws from a law with kurtosis
k is std * sqrt((k - 1) / (4 n)) (uniform: k = 1.8; normal: k = 3).
Keras' other backends run in child processes (about 20 s each).
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import varinit.adapters._keras_model as km  # noqa: E402
from varinit.adapters.keras import init_model  # noqa: E402

import varinit  # noqa: E402
from varinit.models import RuleError, kind_of  # noqa: E402
from varinit.testing import assert_same_stream  # noqa: E402

pytestmark = pytest.mark.tensorflow

L = keras.layers
#: standard errors a sample std may be from the law's
Z = 5.0
#: kurtosis of the laws drawn here
KURT = {"uniform": 1.8, "normal": 3.0}


def _np(v: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(v.value if hasattr(v, "value") else v))


def _values(model: Any) -> dict[str, np.ndarray]:
    """Every variable by its path, copied."""
    return {v.path: _np(v).copy() for v in model.variables}


def _by_name(model: Any) -> dict[str, Any]:
    """The model's trainable variables by the qualified name the module documents (the
    variable path, '/' written '.', the model's own name left off), built here."""
    out = {}
    for v in model.trainable_variables:
        path = v.path.removeprefix(f"{model.name}/")
        out[path.replace("/", ".")] = v
    return out


def _assert_std(x: np.ndarray, std: float, law: str, what: str) -> None:
    n = x.size
    se = std * math.sqrt((KURT[law] - 1) / (4 * n))
    got = float(np.std(x, dtype=np.float64, ddof=1))
    assert abs(got - std) <= Z * se, (what, got, std, se)


# --------------------------------------------------------------------------- models


class MLP(L.Layer):  # type: ignore[misc]
    def __init__(self, d: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.fc1 = L.Dense(2 * d, name="fc1")
        self.fc2 = L.Dense(d, name="fc2")

    def call(self, x: Any) -> Any:
        return self.fc2(self.fc1(x))


class Block(L.Layer):  # type: ignore[misc]
    def __init__(self, d: int, heads: int, key_dim: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.ln1 = L.LayerNormalization(name="ln1")
        self.attn = L.MultiHeadAttention(heads, key_dim, name="attn")
        self.ln2 = L.LayerNormalization(name="ln2")
        self.mlp = MLP(d, name="mlp")

    def call(self, x: Any) -> Any:
        h = self.ln1(x)
        x = x + self.attn(h, h)
        return x + self.mlp(self.ln2(x))


class Tiny(keras.Model):  # type: ignore[misc]
    """A GPT-like stack: numbered blocks h_0..h_{n-1} (layer, depth), MHA, an MLP branch."""

    def __init__(self, n: int = 3, d: int = 12, heads: int = 2, key_dim: int = 5, **kw: Any) -> None:
        super().__init__(**kw)
        self.wte = L.Embedding(40, d, name="wte")
        self.blocks = [Block(d, heads, key_dim, name=f"h_{i}") for i in range(n)]
        self.ln_f = L.LayerNormalization(name="ln_f")

    def call(self, ids: Any) -> Any:
        x = self.wte(ids)
        for b in self.blocks:
            x = b(x)
        return self.ln_f(x)


def tiny(**kw: Any) -> Tiny:
    m = Tiny(**kw)
    m(np.zeros((2, 4), "int32"))
    return m


class ResBlock(L.Layer):  # type: ignore[misc]
    def __init__(self, c: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.conv1 = L.Conv2D(c, 3, padding="same", name="conv1")
        self.bn1 = L.BatchNormalization(name="bn1")
        self.conv2 = L.Conv2D(c, 3, padding="same", name="conv2")
        self.bn2 = L.BatchNormalization(name="bn2")

    def call(self, x: Any) -> Any:
        return x + self.bn2(self.conv2(self.bn1(self.conv1(x))))


class Stage(L.Layer):  # type: ignore[misc]
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.c_fc = L.Dense(8, name="c_fc")
        self.c_proj = L.Dense(4, name="c_proj")

    def call(self, x: Any) -> Any:
        return x + self.c_proj(self.c_fc(x))


def mixed() -> Any:
    """Functional: Embedding, Dense, Conv2D, LayerNorm, BatchNorm, MultiHeadAttention (sizes
    large enough for the std checks)."""
    ids = keras.Input((6,), dtype="int32", name="ids")
    img = keras.Input((8, 8, 16), name="img")
    e = L.Embedding(1000, 64, name="emb")(ids)
    a = L.MultiHeadAttention(4, 16, name="mha")(e, e)
    a = L.LayerNormalization(name="ln")(a)
    c = L.Conv2D(32, 3, name="conv")(img)
    c = L.BatchNormalization(name="bn")(c)
    c = L.Flatten(name="flat")(c)
    d = L.Dense(128, name="fc")(L.Concatenate(name="cat")([L.Flatten(name="flat2")(a), c]))
    return keras.Model([ids, img], d, name="mixed")


# --------------------------------------------------------------------------- kinds, names, roles


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        (L.Dense, "dense"),
        (L.EinsumDense, "dense"),
        (L.Conv1D, "conv"),
        (L.Conv2D, "conv"),
        (L.Conv3D, "conv"),
        (L.Conv2DTranspose, "conv"),
        (L.DepthwiseConv2D, "conv"),
        (L.SeparableConv2D, "conv"),
        (L.Embedding, "embedding"),
        (L.LayerNormalization, "norm"),
        (L.BatchNormalization, "norm"),
        (L.GroupNormalization, "norm"),
        (L.MultiHeadAttention, None),
    ],
)
def test_kind_of_keras_classes(cls: type, kind: str | None) -> None:
    assert kind_of(tuple(c.__name__ for c in cls.__mro__ if c is not object)) == kind


def test_names_roles_and_what_is_left_out() -> None:
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), L.Conv2D(8, 3, name="conv"), L.BatchNormalization(name="bn")],
        name="net",
    )
    model.layers[1].trainable = False  # a frozen layer's variables are still parameters
    got = {p.name: (p.local, p.kind, sorted(p.roles), dict(p.fans)) for p, _ in km.params_of(model)}
    assert got == {
        "conv.kernel": ("kernel", "conv", ["conv", "weight"], {}),
        "conv.bias": ("bias", "conv", ["bias"], {"fan_in": 27, "fan_out": 72}),
        "bn.gamma": ("gamma", "norm", ["norm_scale", "weight"], {}),
        "bn.beta": ("beta", "norm", ["bias", "norm_bias"], {}),
    }
    before = _values(model)
    report = init_model(model, "keras", seed=0)
    assert [r.name for r in report.rows] == list(got)
    after = _values(model)
    # BatchNorm's moving statistics are not parameters: untouched, not listed
    for path in ("net/bn/moving_mean", "net/bn/moving_variance"):
        assert np.array_equal(before[path], after[path])
    assert not any("moving" in r.name for r in report.rows) and report.untouched == []


def test_einsum_and_attention_fans_are_keras() -> None:
    # heads 2, key_dim 5, model width 12: query (12, 2, 5) has fans (12, 10), output (2, 5, 12) (10, 12)
    model = tiny(n=1)
    ps = {p.name: p for p, _ in km.params_of(model)}
    assert ps["h_0.attn.query.kernel"].shape == (12, 2, 5)
    assert dict(ps["h_0.attn.query.kernel"].fans) == {"fan_in": 12, "fan_out": 10}
    assert dict(ps["h_0.attn.query.bias"].fans) == {"fan_in": 12, "fan_out": 10}
    assert ps["h_0.attn.attention_output.kernel"].shape == (2, 5, 12)
    assert dict(ps["h_0.attn.attention_output.kernel"].fans) == {"fan_in": 10, "fan_out": 12}
    assert dict(ps["h_0.attn.attention_output.bias"].fans) == {"fan_in": 10, "fan_out": 12}
    assert dict(ps["h_0.mlp.fc1.bias"].fans) == {"fan_in": 12, "fan_out": 24}
    assert "bias" in ps["h_0.attn.key.bias"].roles and ps["h_0.attn.key.bias"].shape == (2, 5)


def test_residual_roles_are_structural_in_numbered_blocks() -> None:
    model = tiny(n=3)
    ps = {p.name: p for p, _ in km.params_of(model)}
    res = sorted(n for n, p in ps.items() if "residual_out" in p.roles)
    assert res == [f"h_{i}.{s}.kernel" for i in range(3) for s in ("attn.attention_output", "mlp.fc2")]
    assert (ps["h_2.mlp.fc2.kernel"].layer, ps["h_2.mlp.fc2.kernel"].depth) == (2, 3)
    assert (ps["wte.embeddings"].layer, ps["wte.embeddings"].depth) == (None, None)
    assert "embedding" in ps["wte.embeddings"].roles
    # by name, in a layer that is no attention or MLP branch: GPT-2's c_proj
    stack = keras.Sequential([keras.Input((4,)), Stage(name="blk_0"), Stage(name="blk_1")], name="stack")
    got = {p.name: "residual_out" in p.roles for p, _ in km.params_of(stack) if p.local == "kernel"}
    assert got == {f"blk_{i}.{n}.kernel": n == "c_proj" for i in range(2) for n in ("c_fc", "c_proj")}
    # Keras' automatic names (dense, dense_1, ...) are not numbered blocks
    seq = keras.Sequential([keras.Input((3,)), L.Dense(3), L.Dense(3), L.Dense(3)])
    assert all(p.layer is None and p.depth is None for p, _ in km.params_of(seq))
    # the last norm of a residual block with convolutions is residual_norm
    inp = keras.Input((6, 6, 4))
    net = keras.Model(inp, ResBlock(4, name="block_0")(ResBlock(4, name="block_1")(inp)))
    norms = sorted(p.name for p, _ in km.params_of(net) if "residual_norm" in p.roles)
    assert norms == ["block_0.bn2.gamma", "block_1.bn2.gamma"]
    r = init_model(net, "resnet", seed=0)
    assert r["block_0.bn2.gamma"].scheme == "zeros" and r["block_0.bn1.gamma"].scheme == "ones"


# --------------------------------------------------------------------------- the report


def test_report_rows_untouched_str_and_json() -> None:
    model = keras.Sequential(
        [keras.Input((16,)), L.Dense(32, name="fc"), L.LayerNormalization(name="ln"), L.Dense(4, name="out")]
    )
    rules = {"fc.kernel": "he_normal", "*.bias": "zeros", "norm_scale": "ones"}
    r = init_model(model, rules, seed=7)
    assert [row.name for row in r.rows] == ["fc.kernel", "fc.bias", "ln.gamma", "out.bias"]
    assert r.untouched == ["ln.beta", "out.kernel"]
    k = r["fc.kernel"]
    assert (k.shape, k.rule, k.scheme, k.fan_in, k.fan_out) == (
        (16, 32),
        "'fc.kernel'",
        "he_normal",
        16.0,
        32.0,
    )
    assert k.std == pytest.approx(math.sqrt(2 / 16), rel=1e-12)
    assert k.stream == varinit.stream_id("fc.kernel")
    w = _np(model.layers[0].kernel)
    assert k.measured == pytest.approx(float(np.std(w, dtype=np.float64, ddof=1)), rel=1e-12)
    assert r["fc.bias"].fan_in == 16.0 and r["fc.bias"].fan_out == 32.0
    text = str(r)
    assert text.splitlines()[0].split() == [
        "parameter", "shape", "rule", "scheme", "fan_in", "fan_out", "std", "measured", "stream"
    ]  # fmt: skip
    assert f"{varinit.stream_id('fc.kernel'):016x}" in text
    assert text.splitlines()[-1] == "4 initialized, 2 left alone: ln.beta, out.kernel"
    data = json.loads(r.to_json())
    assert data == r.to_dict()
    assert data["untouched"] == ["ln.beta", "out.kernel"]
    assert data["rows"][0]["shape"] == [16, 32] and data["rows"][0]["name"] == "fc.kernel"
    r2 = init_model(model, rules, seed=7, measure=False)
    assert math.isnan(r2["fc.kernel"].measured)


# --------------------------------------------------------------------------- values


def test_int_seed_is_varinit_init_on_the_named_stream() -> None:
    model = tiny(n=2)  # one numbered block is not a stack: residual_out needs two
    rules = {
        "weight": "glorot_uniform",
        "embedding": ("normal", {"std": 0.5}),
        "dense": "he_normal",
        "residual_out": ("trunc_normal", {"std": 0.1}),
        "bias": "torch_default",
        "norm_scale": ("uniform", {"low": 0.5, "high": 1.5}),
        "norm_bias": "zeros",
    }
    init_model(model, rules, seed=11)
    vs = _by_name(model)
    # (scheme, overrides, fans) for each parameter, written out here
    q, o = {"fan_in": 12, "fan_out": 10}, {"fan_in": 10, "fan_out": 12}
    want: dict[str, tuple[str, dict[str, Any]]] = {
        "wte.embeddings": ("normal", {"std": 0.5}),
        "h_0.attn.query.kernel": ("he_normal", q),
        "h_0.attn.query.bias": ("torch_default", q),
        "h_0.attn.key.kernel": ("he_normal", q),
        "h_0.attn.value.bias": ("torch_default", q),
        "h_0.attn.attention_output.kernel": ("trunc_normal", {"std": 0.1}),
        "h_0.attn.attention_output.bias": ("torch_default", o),
        "h_0.mlp.fc1.kernel": ("he_normal", {}),
        "h_0.mlp.fc1.bias": ("torch_default", {"fan_in": 12, "fan_out": 24}),
        "h_0.mlp.fc2.kernel": ("trunc_normal", {"std": 0.1}),
        "h_0.ln1.gamma": ("uniform", {"low": 0.5, "high": 1.5}),
    }
    for name, (scheme, kw) in want.items():
        v = vs[name]
        ref = varinit.init(
            scheme,
            tuple(v.shape),
            seed=11,
            stream=varinit.stream_id(name),
            layout="in_out",
            dtype="float32",
            **kw,
        )
        assert np.array_equal(_np(v), ref), name


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_variable_dtypes(dtype: str) -> None:
    model = keras.Sequential([keras.Input((256,)), L.Dense(256, name="fc", dtype=dtype)])
    r = init_model(model, {"weight": "he_normal", "bias": "zeros"}, seed=5)
    w = model.layers[0].kernel
    assert keras.backend.standardize_dtype(w.dtype) == dtype
    got = _np(w).astype(np.float64)
    if dtype != "bfloat16":  # NumPy has no bfloat16: compared by its std below
        ref = varinit.init(
            "he_normal",
            (256, 256),
            seed=5,
            stream=varinit.stream_id("fc.kernel"),
            layout="in_out",
            dtype=dtype,
        )
        assert np.array_equal(got, ref.astype(np.float64))
    _assert_std(got, math.sqrt(2 / 256), "normal", dtype)
    assert r["fc.kernel"].measured == pytest.approx(float(np.std(got, ddof=1)), rel=1e-6)


def test_values_depend_on_the_name_not_the_construction_order() -> None:
    def build(order: list[str], extra: bool) -> Any:
        made = {n: L.Dense(8, name=n) for n in order}  # created in this order
        layers = ([L.Dense(8, name="first")] if extra else []) + [made["a"], made["b"]]
        return keras.Sequential([keras.Input((8,)), *layers])  # model names differ: sequential_<n>

    m1, m2 = build(["a", "b"], extra=False), build(["b", "a"], extra=True)
    assert m1.name != m2.name
    for m in (m1, m2):
        init_model(m, {"weight": "glorot_normal", "bias": ("uniform", {"low": -1, "high": 1})}, seed=3)
    v1, v2 = _by_name(m1), _by_name(m2)
    for n in ("a.kernel", "a.bias", "b.kernel", "b.bias"):
        assert np.array_equal(_np(v1[n]), _np(v2[n])), n
    assert not np.array_equal(_np(v1["a.kernel"]), _np(v1["b.kernel"]))


def test_seed_none_and_seed_generators() -> None:
    model = keras.Sequential([keras.Input((32,)), L.Dense(32, name="fc")])
    rules = {"weight": "he_uniform", "bias": "zeros"}

    def run(seed: Any) -> np.ndarray:
        init_model(model, rules, seed=seed)
        return _np(model.layers[0].kernel).copy()

    keras.utils.set_random_seed(5)
    a, b = run(None), run(None)
    keras.utils.set_random_seed(5)
    assert np.array_equal(run(None), a) and not np.array_equal(a, b)
    g1, g2 = run(keras.random.SeedGenerator(4)), run(keras.random.SeedGenerator(4))
    assert np.array_equal(g1, g2)
    gen = keras.random.SeedGenerator(4)
    assert np.array_equal(run(gen), g1) and not np.array_equal(run(gen), g1)
    with pytest.raises(TypeError, match=r"seed='0' is not allowed"):
        init_model(model, rules, seed="0")
    with pytest.raises(TypeError, match=r"seed=True"):
        init_model(model, rules, seed=True)
    with pytest.raises(ValueError, match=r"-1"):
        init_model(model, rules, seed=-1)


# --------------------------------------------------------------------------- rules


def test_type_targets_mean_the_weight() -> None:
    def net() -> Any:
        return keras.Sequential(
            [keras.Input((8,)), L.Dense(8, name="d"), L.LayerNormalization(name="ln"), L.Dense(2, name="e")]
        )

    for target in (L.Dense, "type:Dense"):
        r = init_model(net(), {target: "he_normal", "bias": "zeros", "norm_scale": "ones"}, seed=0)
        assert r["d.kernel"].scheme == r["e.kernel"].scheme == "he_normal"
        assert r["d.bias"].scheme == "zeros" and r["ln.beta"].scheme == "zeros"
        assert r["ln.gamma"].scheme == "ones"
    r = init_model(net(), {(L.Dense, "bias"): ("constant", {"value": 0.5})}, seed=0)
    assert [row.name for row in r.rows] == ["d.bias", "e.bias"]
    m = net()
    init_model(m, {"type:Dense.bias": ("constant", {"value": 0.5})}, seed=0)
    assert np.all(_np(m.layers[0].bias) == np.float32(0.5))
    with pytest.raises(RuleError, match=r"subclass of keras"):
        init_model(net(), {dict: "zeros"}, seed=0)


def test_callable_rules_see_layer_depth_and_module() -> None:
    model = tiny(n=3)
    seen = []

    def by_depth(p: Any) -> Any:
        seen.append((p.name, type(p.module).__name__))
        return ("normal", {"std": 0.1 / (p.layer + 1) / p.depth})

    r = init_model(model, {lambda p: p.layer is not None and p.local == "kernel": by_depth}, seed=0)
    for i in range(3):
        for s in ("attn.query", "attn.attention_output", "mlp.fc1"):
            assert r[f"h_{i}.{s}.kernel"].std == pytest.approx(0.1 / (i + 1) / 3, rel=1e-12)
    assert ("h_1.mlp.fc2.kernel", "Dense") in seen and ("h_0.attn.key.kernel", "EinsumDense") in seen
    assert "wte.embeddings" in r.untouched and "h_0.mlp.fc1.bias" in r.untouched


def test_strict_mode() -> None:
    model = keras.Sequential([keras.Input((4,)), L.Dense(4, name="fc")])
    with pytest.raises(
        RuleError, match=r"rule 'conv' matches no parameter \(parameters: fc.kernel, fc.bias\)"
    ):
        init_model(model, {"conv": "he_normal", "weight": "zeros"}, seed=0)
    r = init_model(model, {"conv": "he_normal", "weight": "zeros"}, seed=0, strict=False)
    assert [row.name for row in r.rows] == ["fc.kernel"] and r.untouched == ["fc.bias"]


def test_a_bad_rule_changes_nothing_and_names_the_parameter() -> None:
    model = tiny(n=2)
    model.set_weights([np.full(w.shape, 0.25, w.dtype) for w in model.get_weights()])
    before = _values(model)
    # fans are undefined for a LayerNorm's 1-D gamma: found before anything is drawn
    with pytest.raises(
        RuleError, match=r"parameter 'h_0.ln1.gamma' \(shape \(12,\)\), rule '\*' -> 'he_uniform'"
    ):
        init_model(model, {"*": "he_uniform"}, seed=0)
    # an expression that needs a depth the embedding does not have
    with pytest.raises(RuleError, match=r"'wte.embeddings' \(shape \(40, 12\)\).*depth"):
        init_model(model, {"weight": ("normal", {"std": "= 0.02 / sqrt(depth)"})}, seed=0)
    # two rules that tie
    with pytest.raises(RuleError, match=r"'h_0.attn.query.kernel'.*match exactly the same"):
        init_model(model, {"dense": "zeros", "role:dense": "ones"}, seed=0)
    after = _values(model)
    assert before.keys() == after.keys()
    for k in before:
        assert np.array_equal(before[k], after[k]), k


def test_unbuilt_models_and_layers_are_named() -> None:
    seq = keras.Sequential([L.Dense(4, name="fc")], name="unbuilt")
    with pytest.raises(
        ValueError, match=r"model 'unbuilt' \(Sequential\) is not built.*model.build\(input_shape\)"
    ):
        init_model(seq, "keras", seed=0)

    class TwoHeads(keras.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="two_heads")
            self.body = L.Dense(4, name="body")
            self.spare = L.Dense(2, name="spare")  # neither build() nor call() reaches it

        def build(self, input_shape: Any) -> None:
            self.body.build(input_shape)

        def call(self, x: Any) -> Any:
            return self.body(x)

    m = TwoHeads()
    m(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"layer 'spare' \(Dense\) of model 'two_heads' is not built"):
        init_model(m, "keras", seed=0)
    m.spare.build((None, 4))
    assert [r.name for r in init_model(m, "keras", seed=0).rows][-2:] == ["spare.kernel", "spare.bias"]
    with pytest.raises(TypeError, match=r"Keras model or layer, got dict"):
        init_model({}, "keras", seed=0)


def test_two_variables_with_one_name_are_an_error() -> None:
    class Twins(keras.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="twins")
            self.a = L.Dense(4, name="fc")
            self.b = L.Dense(4, name="fc")

        def call(self, x: Any) -> Any:
            return self.b(self.a(x))

    m = Twins()
    m(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match=r"would both be named 'fc.kernel'.*distinct names"):
        init_model(m, "keras", seed=0)


# --------------------------------------------------------------------------- presets


def _keras_law(model: Any, name: str, v: Any) -> tuple[str, float, float]:
    """Keras' default law of a parameter of ``mixed()``: (law, std, bound), from Keras' own
    formulas (glorot_uniform limit sqrt(6 / (fan_in + fan_out)), Embedding U(-0.05, 0.05));
    fans as Keras' compute_fans and EinsumDense's axes give them, written out."""
    fans = {
        "fc.kernel": (6 * 64 + 6 * 6 * 32, 128),
        "conv.kernel": (9 * 16, 9 * 32),
        "mha.query.kernel": (64, 64),
        "mha.key.kernel": (64, 64),
        "mha.value.kernel": (64, 64),
        "mha.attention_output.kernel": (64, 64),
    }
    if name == "emb.embeddings":
        return "uniform", 0.1 / math.sqrt(12), 0.05
    fi, fo = fans[name]
    limit = math.sqrt(6 / (fi + fo))
    return "uniform", limit / math.sqrt(3), limit


def test_keras_preset_reproduces_keras_defaults() -> None:
    keras.utils.set_random_seed(0)
    theirs = mixed()  # Keras' own initialization
    ours = mixed()
    ours.set_weights([np.full(w.shape, 7.0, w.dtype) for w in ours.get_weights()])  # overwritten below
    report = init_model(ours, "keras", seed=0)
    t, o = _by_name(theirs), _by_name(ours)
    assert t.keys() == o.keys() == {r.name for r in report.rows}
    random = 0
    for name, v in o.items():
        ref, got = _np(t[name]), _np(v)
        if np.all(ref == ref.flat[0]):  # Keras' zeros and ones: equal exactly
            assert ref.flat[0] in (0.0, 1.0) and np.array_equal(got, ref), name
            continue
        law, std, bound = _keras_law(ours, name, v)
        random += 1
        _assert_std(ref, std, law, f"keras {name}")  # the formula is Keras' law
        _assert_std(got, std, law, name)
        assert float(np.abs(got).max()) <= bound, name
        assert report[name].std == pytest.approx(std, rel=1e-9), name
    assert random == 7


def test_gpt2_and_torch_presets_run_on_a_keras_model() -> None:
    model = tiny(n=4, d=32, heads=4, key_dim=16)
    r = init_model(model, "gpt2", seed=0)
    assert r["h_3.mlp.fc2.kernel"].rule == "'residual_out'"
    for i in range(4):
        for s in ("attn.attention_output", "mlp.fc2"):
            row = r[f"h_{i}.{s}.kernel"]
            assert row.std == pytest.approx(0.02 / math.sqrt(2 * 4), rel=1e-12)
            _assert_std(_np(_by_name(model)[row.name]), row.std, "normal", row.name)
    assert r["h_0.mlp.fc1.kernel"].std == pytest.approx(0.02) and r["h_0.ln1.gamma"].scheme == "ones"
    assert np.all(_np(_by_name(model)["h_0.ln1.gamma"]) == 1.0)
    r = init_model(model, "torch", seed=0)
    # torch's Linear default: U(+-1/sqrt(fan_in)) for weight and bias, fan_in the layer's inputs
    row = r["h_0.mlp.fc1.bias"]
    assert row.scheme == "torch_default" and row.std == pytest.approx(1 / math.sqrt(3 * 32), rel=1e-12)
    assert float(np.abs(_np(_by_name(model)[row.name])).max()) <= 1 / math.sqrt(32)
    assert r["wte.embeddings"].std == pytest.approx(1.0) and r["h_0.ln2.beta"].scheme == "zeros"


# --------------------------------------------------------------------------- other Keras backends

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    from varinit.adapters.keras import init_model

    z = dict(kernel_initializer="zeros", bias_initializer="zeros")  # Keras' random ones compile on JAX
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, name="conv", **z)(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Reshape((16, 8), name="seq")(x)
    x = keras.layers.MultiHeadAttention(2, 4, name="mha", **z)(x, x)
    x = keras.layers.Dense(5, name="fc", **z)(x)
    model = keras.Model(inp, x)
    report = init_model(model, {"weight": "he_normal", "bias": "torch_default", "norm_scale": "ones",
                                "norm_bias": "zeros"}, seed=21)
    assert [r.name for r in report.rows] == [v.path.replace("/", ".") for v in model.trainable_variables]
    vals = {v.path.replace("/", "."): keras.ops.convert_to_numpy(v.value) for v in model.trainable_variables}
    np.savez(sys.argv[1], backend=keras.backend.backend(), names=np.array(list(vals)), **vals)
""")


@pytest.mark.jax
@pytest.mark.torch
def test_every_keras_backend_draws_the_same_numbers(tmp_path: Path) -> None:
    for other in ("jax", "torch"):
        if importlib.util.find_spec(other) is None:
            pytest.skip(f"{other} is not installed: the Keras {other} backend cannot run")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    got = {}
    for backend in ("tensorflow", "jax", "torch"):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
        env["CUDA_VISIBLE_DEVICES"] = ""
        out = tmp_path / f"{backend}.npz"
        run = subprocess.run(
            [sys.executable, str(script), str(out)], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr[-2000:]
        got[backend] = dict(np.load(out))
        assert str(got[backend]["backend"]) == backend
    names = list(got["tensorflow"]["names"])
    assert len(names) == 14 and "mha.attention_output.kernel" in names
    for backend in ("jax", "torch"):
        assert list(got[backend]["names"]) == names
        for n in names:
            assert_same_stream(got["tensorflow"][n], got[backend][n], max_ulp=2)
    # and TensorFlow's are varinit.init's, bit for bit
    k = got["tensorflow"]["conv.kernel"]
    ref = varinit.init(
        "he_normal",
        k.shape,
        seed=21,
        stream=varinit.stream_id("conv.kernel"),
        layout="in_out",
        dtype="float32",
    )
    assert np.array_equal(k, ref)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(km, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
