"""varinit.adapters.flax.init_module: Flax NNX modules, initialized in place.

Every parameter is compared with the public ``varinit.init(..., stream=varinit.stream_id(name))``
with the scheme, layout and fans written out here; distributions with NNX's own init.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import math
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
nnx = pytest.importorskip("flax.nnx")

from _flax_common import FLAX_DEFAULTS, ROLE_RULES, ratio_tol, stream_init  # noqa: E402
from varinit.adapters.flax import init_module  # noqa: E402

import varinit  # noqa: E402
from varinit.models import RuleError, RuleTypeError  # noqa: E402

pytestmark = pytest.mark.jax

SEED = 4


_init = functools.partial(stream_init, seed=SEED)


def _value(v: Any) -> np.ndarray:
    return np.asarray(v.get_value())


class Net(nnx.Module):
    def __init__(self, rngs: Any, extra: bool = False) -> None:
        self.emb = nnx.Embed(40, 8, rngs=rngs)
        self.conv = nnx.Conv(3, 6, (3, 3), feature_group_count=1, rngs=rngs)
        self.bn = nnx.BatchNorm(6, rngs=rngs)
        if extra:
            self.pre = nnx.Linear(8, 8, rngs=rngs)
        self.layers = nnx.List([nnx.Linear(14, 16, rngs=rngs), nnx.Linear(16, 4, rngs=rngs)])
        self.ln = nnx.LayerNorm(4, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(
            num_heads=2, in_features=8, qkv_features=8, decode=False, rngs=rngs
        )
        self.drop = nnx.Dropout(0.1, rngs=rngs)

    def __call__(self, tokens: Any, image: Any) -> Any:
        e = self.emb(tokens)
        e = self.attn(e).mean(axis=1)
        x = self.bn(self.conv(image)).mean(axis=(1, 2))
        x = jnp.concatenate([x, e], axis=-1)
        return self.ln(self.layers[1](self.layers[0](x)))


RULES = dict(ROLE_RULES)


def _arrays(m: Any) -> dict[str, np.ndarray]:
    flat = nnx.to_flat_state(nnx.state(m, nnx.Any(nnx.Param, nnx.BatchStat)))
    return {".".join(map(str, p)): np.asarray(v.get_value()) for p, v in flat}


def test_in_place_every_parameter_equals_varinit_init() -> None:
    net = Net(nnx.Rngs(0))
    report = init_module(net, RULES, seed=SEED)
    expected = {
        "emb.embedding": (_value(net.emb.embedding), _init("normal", (40, 8), "emb.embedding", std=0.5)),
        "conv.kernel": (
            _value(net.conv.kernel),
            _init("he_normal", (3, 3, 3, 6), "conv.kernel", layout="in_out"),
        ),
        "conv.bias": (
            _value(net.conv.bias),
            _init("torch_default", (6,), "conv.bias", fan_in=27, fan_out=54),
        ),
        "layers.0.kernel": (
            _value(net.layers[0].kernel),
            _init("he_normal", (14, 16), "layers.0.kernel", layout="in_out"),
        ),
        "layers.1.bias": (
            _value(net.layers[1].bias),
            _init("torch_default", (4,), "layers.1.bias", fan_in=16, fan_out=4),
        ),
        # LinearGeneral (8, 2, 4): fans from in_features (8,) and out_features (2, 4)
        "attn.query.kernel": (
            _value(net.attn.query.kernel),
            _init("he_normal", (8, 2, 4), "attn.query.kernel", fan_in=8, fan_out=8),
        ),
    }
    for name, (got, want) in expected.items():
        np.testing.assert_array_equal(got, want, err_msg=name)
        assert report[name].stream == varinit.stream_id(name)
    assert np.all(_value(net.ln.scale) == 1) and np.all(_value(net.bn.bias) == 0)
    assert report["attn.query.kernel"].fan_in == 8.0 and report["attn.out.kernel"].fan_out == 8.0
    assert sorted(report.untouched) == ["bn.mean", "bn.var", "drop.rngs.count", "drop.rngs.key"]
    out = net(jnp.zeros((2, 5), jnp.int32), jnp.ones((2, 6, 6, 3)))
    assert out.shape == (2, 4) and bool(jnp.isfinite(out).all())


def test_types_layouts_and_measured_std() -> None:
    from varinit.adapters.flax import params_of

    net = Net(nnx.Rngs(0))
    by = {lf.name: lf.param for lf in params_of(net)[0] if lf.param is not None}
    assert by["layers.0.kernel"].types[0] == "Linear" and by["layers.0.kernel"].kind == "dense"
    assert by["conv.kernel"].kind == "conv" and by["emb.embedding"].kind == "embedding"
    assert by["bn.scale"].roles == {"weight", "norm_scale"} and by["ln.bias"].roles == {"bias", "norm_bias"}
    assert by["attn.query.kernel"].kind == "dense"
    assert {p.layout for p in by.values()} == {"in_out"}
    report = init_module(net, RULES, seed=SEED, measure=True)
    row = report["layers.0.kernel"]
    assert row.std == pytest.approx(math.sqrt(2 / 14), rel=1e-12)
    assert row.measured == pytest.approx(
        float(_value(net.layers[0].kernel).astype(np.float64).std()), rel=1e-9
    )


def test_name_keyed_a_new_layer_changes_no_other_parameter() -> None:
    a, b = Net(nnx.Rngs(0)), Net(nnx.Rngs(1), extra=True)
    init_module(a, RULES, seed=SEED)
    init_module(b, RULES, seed=SEED)
    va, vb = _arrays(a), _arrays(b)
    for name in ("layers.0.kernel", "conv.kernel", "attn.out.kernel", "emb.embedding"):
        np.testing.assert_array_equal(va[name], vb[name], err_msg=name)
    assert "pre.kernel" in vb and "pre.kernel" not in va


def test_class_targets_must_be_nnx_modules() -> None:
    net = Net(nnx.Rngs(0))
    r = init_module(net, {nnx.Linear: "zeros", (nnx.Linear, "bias"): "ones"}, seed=0, strict=True)
    assert np.all(_value(net.layers[0].kernel) == 0) and np.all(_value(net.layers[1].bias) == 1)
    assert "conv.kernel" in r.untouched and "attn.query.kernel" in r.untouched  # LinearGeneral is not Linear
    with pytest.raises(RuleTypeError, match=r"subclass of flax\.nnx"):
        init_module(net, {int: "zeros"}, seed=0)


def test_bad_rules_fail_atomically_naming_the_parameter() -> None:
    net = Net(nnx.Rngs(0))
    before = _arrays(net)
    with pytest.raises(RuleError) as e:
        init_module(net, {"*": "he_normal"}, seed=0)
    assert "'bn.bias'" in str(e.value) and "(6,)" in str(e.value) and "'*' -> 'he_normal'" in str(e.value)
    with pytest.raises(RuleError, match=r"rule 'layers\.9\.kernel' matches no parameter"):
        init_module(net, [*RULES.items(), ("layers.9.kernel", "zeros")], seed=0)
    with pytest.raises(TypeError, match="seed=None is not allowed"):
        init_module(net, RULES, seed=None)
    after = _arrays(net)
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)


class Wide(nnx.Module):
    def __init__(self, rngs: Any) -> None:
        self.emb = nnx.Embed(1000, 64, rngs=rngs)
        self.conv = nnx.Conv(32, 64, (3, 3), rngs=rngs)
        self.fc1 = nnx.Linear(256, 512, rngs=rngs)
        self.ln = nnx.LayerNorm(512, rngs=rngs)


def test_flax_defaults_as_rules_match_nnx_own_init() -> None:
    theirs, ours = Wide(nnx.Rngs(1)), Wide(nnx.Rngs(1))
    init_module(ours, FLAX_DEFAULTS, seed=SEED)
    a, b = _arrays(theirs), _arrays(ours)
    assert a.keys() == b.keys()
    for k in a:
        if a[k].ndim == 1:  # biases and norms: zeros and ones, exactly
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)
        else:
            ratio = b[k].astype(np.float64).std() / a[k].astype(np.float64).std()
            assert ratio == pytest.approx(1, abs=ratio_tol(a[k].size)), k
            assert not np.array_equal(a[k], b[k])


def test_keras_preset_on_nnx_matches_glorot_in_std() -> None:
    net = Wide(nnx.Rngs(0))
    init_module(net, "keras", seed=SEED)
    glorot = jax.nn.initializers.glorot_uniform()
    for k in ("conv.kernel", "fc1.kernel"):
        got = _arrays(net)[k].astype(np.float64)
        ref = np.asarray(glorot(jax.random.key(3), got.shape), np.float64)
        assert got.std() / ref.std() == pytest.approx(1, abs=ratio_tol(got.size)), k
    emb = _value(net.emb.embedding)
    assert (
        np.abs(emb).max() <= 0.05 and np.all(_value(net.fc1.bias) == 0) and np.all(_value(net.ln.scale) == 1)
    )


def test_docstring_examples_run() -> None:
    result = doctest.testmod(importlib.import_module("varinit.adapters.flax"))
    assert result.attempted > 0 and result.failed == 0
