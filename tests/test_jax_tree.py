"""varinit.adapters.jax.init_tree: Flax linen params, Equinox modules, any pytree.

Expected values are independent of init_tree: every leaf is compared with the public
``varinit.init(scheme, shape, seed=, stream=varinit.stream_id(name), layout=, backend="jax")``
with the scheme, layout and fans written out here, and distributions with Flax's and JAX's
own initializers.
"""

from __future__ import annotations

import doctest
import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
nn = pytest.importorskip("flax.linen")
eqx = pytest.importorskip("equinox")

from _flax_common import FLAX_DEFAULTS, ROLE_RULES, ratio_tol, stream_init  # noqa: E402
from varinit.adapters.jax import init_tree  # noqa: E402

import varinit  # noqa: E402
from varinit.models import RuleError  # noqa: E402

pytestmark = pytest.mark.jax

SEED = 3


_init = functools.partial(stream_init, seed=SEED)


class CNN(nn.Module):
    @nn.compact
    def __call__(self, tokens: Any, image: Any) -> Any:
        e = nn.Embed(50, 12)(tokens).mean(axis=1)
        x = nn.Conv(8, (3, 3))(image)
        x = nn.LayerNorm()(x).mean(axis=(1, 2))
        x = nn.Dense(12)(jnp.concatenate([x, e], axis=-1))
        return nn.Dense(4, name="head")(x)


@pytest.fixture(scope="module")
def linen_params() -> Any:
    return CNN().init(jax.random.key(0), jnp.zeros((1, 5), jnp.int32), jnp.zeros((1, 6, 6, 3)))


RULES = {**ROLE_RULES, "params.head.kernel": "zeros"}


def test_linen_every_leaf_equals_varinit_init_on_its_stream(linen_params: Any) -> None:
    new, report = init_tree(linen_params, RULES, seed=SEED, report=True)
    p = new["params"]
    expected = {
        "params.Embed_0.embedding": _init("normal", (50, 12), "params.Embed_0.embedding", std=0.5),
        "params.Conv_0.kernel": _init("he_normal", (3, 3, 3, 8), "params.Conv_0.kernel", layout="in_out"),
        # a bias draws with its layer's kernel fans: Conv_0 (3, 3, 3, 8) -> fan_in 27
        "params.Conv_0.bias": _init("torch_default", (8,), "params.Conv_0.bias", fan_in=27, fan_out=72),
        "params.Dense_0.kernel": _init("he_normal", (20, 12), "params.Dense_0.kernel", layout="in_out"),
        "params.Dense_0.bias": _init("torch_default", (12,), "params.Dense_0.bias", fan_in=20, fan_out=12),
        "params.head.bias": _init("torch_default", (4,), "params.head.bias", fan_in=12, fan_out=4),
    }
    got = {
        "params.Embed_0.embedding": p["Embed_0"]["embedding"],
        "params.Conv_0.kernel": p["Conv_0"]["kernel"],
        "params.Conv_0.bias": p["Conv_0"]["bias"],
        "params.Dense_0.kernel": p["Dense_0"]["kernel"],
        "params.Dense_0.bias": p["Dense_0"]["bias"],
        "params.head.bias": p["head"]["bias"],
    }
    for name, want in expected.items():
        assert isinstance(got[name], jax.Array), name
        np.testing.assert_array_equal(np.asarray(got[name]), want, err_msg=name)
    assert np.all(np.asarray(p["head"]["kernel"]) == 0)
    assert np.all(np.asarray(p["LayerNorm_0"]["scale"]) == 1)
    assert np.all(np.asarray(p["LayerNorm_0"]["bias"]) == 0)
    assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(linen_params)
    assert report["params.Conv_0.bias"].rule == "'bias'" and report["params.head.kernel"].scheme == "zeros"
    assert report["params.Embed_0.embedding"].rule == "'embedding'"
    assert report["params.LayerNorm_0.scale"].rule == "'norm_scale'"


def test_linen_types_from_auto_names_and_none_for_user_names(linen_params: Any) -> None:
    from varinit.adapters._jax_tree import params_of_tree

    leaves, _ = params_of_tree(linen_params)
    by = {lf.name: lf.param for lf in leaves}
    assert by["params.Dense_0.kernel"].types == ("Dense",)
    assert by["params.Dense_0.kernel"].kind == "dense"
    assert by["params.Conv_0.kernel"].kind == "conv"
    assert by["params.LayerNorm_0.scale"].kind == "norm"
    assert by["params.Embed_0.embedding"].roles == {"weight", "embedding"}
    assert by["params.head.kernel"].types == () and by["params.head.kernel"].kind is None
    assert all(p.layout == "in_out" for p in by.values())
    # type targets by class name reach linen's auto-named modules
    new = init_tree(linen_params, {"type:Dense": "zeros", "type:Dense.bias": "ones"}, seed=0, strict=True)
    assert np.all(np.asarray(new["params"]["Dense_0"]["kernel"]) == 0)
    assert np.all(np.asarray(new["params"]["Dense_0"]["bias"]) == 1)
    np.testing.assert_array_equal(new["params"]["head"]["kernel"], linen_params["params"]["head"]["kernel"])


def test_name_keyed_inserting_a_layer_changes_no_other_leaf() -> None:
    small = {"enc": {"a": np.zeros((8, 16), np.float32)}, "dec": {"b": np.zeros((16, 4), np.float32)}}
    big = {
        "enc": {"a": np.zeros((8, 16), np.float32), "extra": np.zeros((16, 16), np.float32)},
        "dec": {"b": np.zeros((16, 4), np.float32)},
    }
    r1 = init_tree(small, {"*": "glorot_uniform"}, seed=SEED)
    r2 = init_tree(big, {"*": "glorot_uniform"}, seed=SEED)
    np.testing.assert_array_equal(r1["enc"]["a"], r2["enc"]["a"])
    np.testing.assert_array_equal(r1["dec"]["b"], r2["dec"]["b"])
    np.testing.assert_array_equal(r1["enc"]["a"], _init("glorot_uniform", (8, 16), "enc.a", layout="in_out"))
    assert not np.array_equal(r2["enc"]["extra"][:8], r1["enc"]["a"])


def test_jit_with_static_and_traced_seed_equals_eager(linen_params: Any) -> None:
    eager = init_tree(linen_params, RULES, seed=SEED)
    static = jax.jit(lambda t: init_tree(t, RULES, seed=SEED))(linen_params)
    traced = jax.jit(lambda t, s: init_tree(t, RULES, seed=s))(linen_params, SEED)
    other = jax.jit(lambda t, s: init_tree(t, RULES, seed=s))(linen_params, SEED + 1)
    for a, b, c in zip(*(jax.tree_util.tree_leaves(t) for t in (eager, static, traced)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    k = "Conv_0"
    assert not np.array_equal(eager["params"][k]["kernel"], other["params"][k]["kernel"])


def test_eval_shape_tree_draws_without_flax_init() -> None:
    abstract = jax.eval_shape(
        CNN().init, jax.random.key(0), jnp.zeros((1, 5), jnp.int32), jnp.zeros((1, 6, 6, 3))
    )
    new = init_tree(abstract, RULES, seed=SEED)
    np.testing.assert_array_equal(
        new["params"]["Dense_0"]["kernel"],
        _init("he_normal", (20, 12), "params.Dense_0.kernel", layout="in_out"),
    )


def test_key_seed_folds_the_stream_id_in() -> None:
    tree = {"w": np.zeros((6, 5), np.float32)}
    key = jax.random.key(7)
    sid = varinit.stream_id("w")
    leaf_key = jax.random.fold_in(jax.random.fold_in(key, sid & 0xFFFFFFFF), sid >> 32)
    want = varinit.init("he_uniform", (6, 5), seed=leaf_key, layout="in_out", backend="jax")
    new, report = init_tree(tree, {"w": "he_uniform"}, seed=key, report=True)
    np.testing.assert_array_equal(np.asarray(new["w"]), np.asarray(want))
    jitted = jax.jit(lambda t, k: init_tree(t, {"w": "he_uniform"}, seed=k))(tree, key)
    np.testing.assert_array_equal(np.asarray(jitted["w"]), np.asarray(want))
    assert report["w"].stream is None  # JAX's stream: no portable stream id


def test_non_float_leaves_and_other_collections_left_alone_and_listed() -> None:
    variables = {
        "params": {"Dense_0": {"kernel": np.zeros((3, 4), np.float32), "bias": np.zeros(4, np.float32)}},
        "batch_stats": {"BatchNorm_0": {"mean": np.full(4, 7.0, np.float32)}},
        "state": {"step": np.array(5, np.int32), "key": jax.random.key(1)},
    }
    new, report = init_tree(variables, {"*": "glorot_uniform", "bias": "zeros"}, seed=0, report=True)
    assert sorted(report.untouched) == ["batch_stats.BatchNorm_0.mean", "state.key", "state.step"]
    assert new["batch_stats"]["BatchNorm_0"]["mean"] is variables["batch_stats"]["BatchNorm_0"]["mean"]
    assert new["state"]["step"] is variables["state"]["step"]
    assert [r.name for r in report.rows] == ["params.Dense_0.bias", "params.Dense_0.kernel"]


def test_report_rows_print_and_export(linen_params: Any) -> None:
    _, report = init_tree(linen_params, RULES, seed=SEED, report=True, measure=True)
    row = report["params.Dense_0.kernel"]
    assert (row.fan_in, row.fan_out, row.scheme) == (20.0, 12.0, "he_normal")
    assert row.std == pytest.approx(math.sqrt(2 / 20), rel=1e-12)
    assert row.stream == varinit.stream_id("params.Dense_0.kernel")
    # measured = the std of the values drawn, computed here with NumPy
    got = np.asarray(init_tree(linen_params, RULES, seed=SEED)["params"]["Dense_0"]["kernel"], np.float64)
    assert row.measured == pytest.approx(float(got.std()), rel=1e-9)
    assert report["params.Conv_0.bias"].fan_in == 27.0
    text = str(report)
    assert "params.Embed_0.embedding" in text and f"{varinit.stream_id('params.head.bias'):016x}" in text
    data = json.loads(report.to_json())
    assert len(data["rows"]) == 9 and data["untouched"] == []


def test_errors_name_the_leaf_shape_and_rule_before_anything_is_drawn(linen_params: Any) -> None:
    with pytest.raises(RuleError) as e:
        init_tree(linen_params, {"*": "he_normal"}, seed=0)
    msg = str(e.value)
    # Conv_0.bias draws with its conv's fans; the norm's bias has none
    assert "'params.LayerNorm_0.bias'" in msg and "(8,)" in msg and "'*'" in msg and "fan_in" in msg
    with pytest.raises(RuleError, match=r"rule 'params\.nope' matches no parameter.*strict=False"):
        init_tree(linen_params, {"params.nope": "zeros", "*": "zeros"}, seed=0)
    with pytest.raises(TypeError, match=r"seed=None is not allowed.*JAX key"):
        init_tree(linen_params, "keras", seed=None)
    with pytest.raises(TypeError, match="measure=True needs concrete values"):
        jax.jit(lambda t: init_tree(t, "keras", seed=0, measure=True))(linen_params)
    with pytest.raises(ValueError, match=r"leaf 'w' \(shape \(2, 3\)\), rule 'w' -> 'normal'.*float16"):
        init_tree({"w": np.zeros((2, 3), np.float16)}, {"w": ("normal", {"std": 1e6})}, seed=0)


def test_structural_roles_resnet_block_and_named_residual_out() -> None:
    class Block(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            y = nn.BatchNorm(use_running_average=True)(nn.Conv(4, (3, 3))(x))
            y = nn.BatchNorm(use_running_average=True)(nn.Conv(4, (3, 3))(y))
            return x + y

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            return Block()(Block()(x))

    variables = Net().init(jax.random.key(0), jnp.zeros((1, 5, 5, 4)))
    new, report = init_tree(variables, "resnet", seed=0, report=True)
    for b in ("Block_0", "Block_1"):
        assert np.all(np.asarray(new["params"][b]["BatchNorm_1"]["scale"]) == 0)  # the block's last norm
        assert np.all(np.asarray(new["params"][b]["BatchNorm_0"]["scale"]) == 1)
    assert report["params.Block_0.Conv_0.kernel"].scheme == "kaiming_normal"
    assert "batch_stats.Block_0.BatchNorm_0.mean" in report.untouched
    tree = {"h": [{"c_proj": {"kernel": np.zeros((8, 8), np.float32)}} for _ in range(2)]}
    rep = init_tree(tree, "gpt2", seed=0, report=True)[1]
    assert rep["h.1.c_proj.kernel"].std == pytest.approx(0.02 / math.sqrt(2 * 2), rel=1e-12)


# --------------------------------------------------------------------------- Equinox


def test_equinox_mlp_out_in_layout_and_values() -> None:
    mlp = eqx.nn.MLP(3, 2, 5, 1, key=jax.random.key(0))  # Linear(3 -> 5), Linear(5 -> 2)
    new, report = init_tree(mlp, {"weight": "lecun_normal", "bias": "torch_default"}, seed=SEED, report=True)
    assert isinstance(new, eqx.nn.MLP) and new.activation is mlp.activation
    # eqx Linear weight is (out, in): fan_in is in_features
    assert (report["layers.0.weight"].fan_in, report["layers.0.weight"].fan_out) == (3.0, 5.0)
    assert report["layers.1.bias"].fan_in == 5.0
    np.testing.assert_array_equal(
        new.layers[0].weight, _init("lecun_normal", (5, 3), "layers.0.weight", layout="out_in")
    )
    np.testing.assert_array_equal(
        new.layers[1].bias, _init("torch_default", (2,), "layers.1.bias", fan_in=5, fan_out=2)
    )
    y = new(jnp.ones(3))
    assert y.shape == (2,)


def test_equinox_layout_decides_the_std() -> None:
    """A (512, 256) eqx Linear weight is 256 -> 512: he_normal std sqrt(2/256), not sqrt(2/512).

    The sample std of n = 131072 draws has a relative standard error below 1/sqrt(2n) = 0.2%;
    2% is ten of those (fixed seed; a false failure has probability far below 1e-6), and the
    other reading is 29% away."""
    lin = eqx.nn.Linear(256, 512, key=jax.random.key(0))
    new = init_tree(lin, {"weight": "he_normal", "bias": "zeros"}, seed=SEED)
    s = float(np.asarray(new.weight, np.float64).std())
    assert s == pytest.approx(math.sqrt(2 / 256), rel=0.02)
    assert abs(s / math.sqrt(2 / 512) - 1) > 0.2


def test_equinox_grouped_conv_types_and_class_targets() -> None:
    net = eqx.nn.Sequential(
        [eqx.nn.Conv2d(4, 8, 3, groups=2, key=jax.random.key(0)), eqx.nn.LayerNorm((8, 4, 4))]
    )
    rules = {eqx.nn.Conv2d: "he_normal", (eqx.nn.Conv2d, "bias"): "torch_default", "norm_scale": "ones"}
    new, report = init_tree(net, rules, seed=SEED, report=True, strict=True)
    # (8, 2, 3, 3), groups 2: fan_in 2*9 = 18; groups divide fan_out: 8/2*9 = 36
    assert (report["layers.0.weight"].fan_in, report["layers.0.weight"].fan_out) == (18.0, 36.0)
    np.testing.assert_array_equal(
        new.layers[0].weight, _init("he_normal", (8, 2, 3, 3), "layers.0.weight", layout="out_in", groups=2)
    )
    np.testing.assert_array_equal(  # the conv bias is (8, 1, 1): its layer's fans
        new.layers[0].bias, _init("torch_default", (8, 1, 1), "layers.0.bias", fan_in=18, fan_out=36)
    )
    assert np.all(np.asarray(new.layers[1].weight) == 1)
    assert report.untouched == ["layers.1.bias"]
    assert np.array_equal(new.layers[1].bias, net.layers[1].bias)


def test_equinox_embedding_and_layernorm_kinds() -> None:
    from varinit.adapters._jax_tree import params_of_tree

    tree = [eqx.nn.Embedding(10, 4, key=jax.random.key(0)), eqx.nn.LayerNorm(4), eqx.nn.RMSNorm(4)]
    by = {lf.name: lf.param for lf in params_of_tree(tree)[0]}
    assert by["0.weight"].roles == {"weight", "embedding"}
    assert by["1.weight"].roles == {"weight", "norm_scale"} and by["1.bias"].roles == {"bias", "norm_bias"}
    assert by["2.weight"].roles == {"weight", "norm_scale"}
    assert by["0.weight"].layout == "out_in"


# --------------------------------------------------------------------------- presets vs Flax's own init


class Wide(nn.Module):
    @nn.compact
    def __call__(self, tokens: Any, image: Any) -> Any:
        e = nn.Embed(1000, 64)(tokens).mean(axis=1)
        x = nn.Conv(64, (3, 3))(image).mean(axis=(1, 2))
        x = nn.LayerNorm()(jnp.concatenate([x, e], axis=-1))
        return nn.Dense(512)(nn.Dense(256)(x))


def test_flax_defaults_as_rules_match_flax_linen_init() -> None:
    args = (jnp.zeros((1, 5), jnp.int32), jnp.zeros((1, 4, 4, 32)))
    theirs = Wide().init(jax.random.key(1), *args)
    ours = init_tree(theirs, FLAX_DEFAULTS, seed=SEED)
    for path, a in jax.tree_util.tree_flatten_with_path(theirs)[0]:
        b = ours
        for k in path:
            b = b[k.key]
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.ndim == 1:  # biases and norms: zeros and ones, exactly
            np.testing.assert_array_equal(b64, a64)
            continue
        assert b64.std() / a64.std() == pytest.approx(1, abs=ratio_tol(a.size)), path
        assert abs(b64.mean()) < 5 * a64.std() / math.sqrt(a.size), path


def test_keras_preset_matches_keras_defaults_in_std() -> None:
    """keras: Glorot-uniform kernels (JAX's glorot_uniform is the same law), U(-0.05, 0.05)
    embeddings, zero biases, unit scales."""
    args = (jnp.zeros((1, 5), jnp.int32), jnp.zeros((1, 4, 4, 32)))
    params = Wide().init(jax.random.key(1), *args)
    ours = init_tree(params, "keras", seed=SEED)["params"]
    glorot = jax.nn.initializers.glorot_uniform()
    for name in ("Dense_0", "Dense_1", "Conv_0"):
        shape = params["params"][name]["kernel"].shape
        ref = np.asarray(glorot(jax.random.key(2), shape), np.float64)
        got = np.asarray(ours[name]["kernel"], np.float64)
        assert got.std() / ref.std() == pytest.approx(1, abs=ratio_tol(got.size)), name
        assert np.abs(got).max() <= math.sqrt(6 / (math.prod(shape[:-2]) * sum(shape[-2:])))
        assert np.all(np.asarray(ours[name]["bias"]) == 0)
    emb = np.asarray(ours["Embed_0"]["embedding"], np.float64)
    assert np.abs(emb).max() <= 0.05
    assert emb.std() == pytest.approx(0.1 / math.sqrt(12), abs=ratio_tol(emb.size) * 0.1 / math.sqrt(12))
    assert np.all(np.asarray(ours["LayerNorm_0"]["scale"]) == 1)


# --------------------------------------------------------------------------- sharding, docs

SCRIPT = Path(__file__).with_name("jax_tree_sharding_check.py")


@pytest.fixture(scope="module")
def sharded() -> dict[str, Any]:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def test_sharded_leaves_keep_their_sharding_and_values(sharded: dict[str, Any]) -> None:
    assert sharded["devices"] == 8 and len(sharded["cases"]) == 5
    for case in sharded["cases"]:
        for key in (
            "sharding_kept",  # eager: the same sharding as the input leaf
            "shards_own_shape",
            "shards_on_their_device",
            "equal_unsharded_init",  # == varinit.init(..., stream=stream_id(name)), bit for bit
            "jit_equal",  # jit(out_shardings=the leaves' shardings)
            "jit_sharding_kept",
            "traced_seed_equal",
            "key_sharding_kept",  # a JAX key: partitioned by XLA, same values as unsharded
            "key_equal_unsharded",
        ):
            assert case[key], (key, case)
        assert case["devices"] == 8 and case["shard_shape"] != case["shape"], case


def test_each_device_draws_only_its_shard(sharded: dict[str, Any]) -> None:
    # eagerly: every random elementwise leaf is drawn as 8 blocks, one on each device, each
    # of the shard's shape (4 leaves x 8 devices); the orthogonal one is drawn whole
    blocks = {(d, tuple(s)) for d, s in sharded["blocks"]}
    devices = {f"cpu:{i}" for i in range(8)}
    want = {(d, s) for d in devices for s in [(8, 96), (12,), (3, 3, 16, 8), (64, 24)]}
    assert blocks == want and sharded["block_count"] == 32
    # under jit: the partitioned program holds per-device shapes only (the orthogonal leaf's
    # 32 x 32 is the one whole matrix), never a global (64, 96), (96,), (3, 3, 16, 32) or flat
    shapes = set(sharded["hlo_f32_shapes"])
    assert {"8,96", "64,24", "12", "3,3,16,8"} <= shapes
    assert not shapes & {"64,96", "96", "3,3,16,32", "1,6144", "6144", "1,4608", "4608", "1,96"}


@pytest.mark.parametrize("name", ["varinit.adapters._jax_tree"])
def test_docstring_examples_run(name: str) -> None:
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
