"""Keras drop-ins: the checks Keras' own initializer tests make, against varinit's classes.

Names, signatures, attributes, configs and serialization round trips are compared with
``keras.initializers`` itself. Statistics: ``varinit.testing.assert_distribution`` (one-sample
KS at alpha 1e-3 against Keras' law, mean and variance within 5 standard errors, support);
comparisons with Keras' own draws use a two-sample KS test at alpha 1e-3 and, inside
``MultiHeadAttention``, a std ratio within 4% (about 5 standard errors for 16384 values).
Every seed is fixed. Saved models are reloaded in new processes.
"""

from __future__ import annotations

import copy
import doctest
import importlib.util
import inspect
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import varinit.adapters.keras as vk  # noqa: E402
from scipy import stats  # noqa: E402

from varinit.testing import assert_distribution, assert_same_stream  # noqa: E402

pytestmark = pytest.mark.tensorflow

ALPHA = 1e-3
ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide-keras.md"
#: Keras' public names that are not initializer classes or aliases of them
NOT_CLASSES = {"Initializer", "get", "serialize", "deserialize"}
#: Keras' classes varinit re-exports unchanged (a fixed DFT kernel: no law to draw)
KERAS_OWN = {"STFT", "STFTInitializer", "stft"}


def _np(x: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _public(module: Any) -> dict[str, Any]:
    return {n: getattr(module, n) for n in dir(module) if not n.startswith("_")}


# --------------------------------------------------------------------------- names


def test_every_keras_initializer_has_a_drop_in() -> None:
    theirs = {n: v for n, v in _public(keras.initializers).items() if n not in NOT_CLASSES}
    assert {"HeNormal", "he_normal", "OrthogonalInitializer", "IdentityInitializer"} <= set(theirs)
    for name, k in theirs.items():
        ours = getattr(vk, name)
        assert inspect.isclass(ours) and issubclass(ours, k), name
        if name in KERAS_OWN:
            assert ours is k
        else:
            assert ours is not k and ours.__module__ == "varinit.adapters.keras", name
    for a, b in ((a, b) for a in theirs for b in theirs if theirs[a] is theirs[b]):
        assert getattr(vk, a) is getattr(vk, b), (a, b)  # Keras' aliases stay aliases


@pytest.mark.parametrize("name", sorted({c.__name__ for c in vk.ALL_OBJECTS.values()} - KERAS_OWN))
def test_signature_is_keras(name: str) -> None:
    ours = inspect.signature(getattr(vk, name)).parameters
    theirs = inspect.signature(getattr(keras.initializers, name)).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == [
        (p.name, p.default, p.kind) for p in theirs.values()
    ]


# --------------------------------------------------------------------------- configs


CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("RandomNormal", {"mean": 0.5, "stddev": 2.0, "seed": 3}),
    ("RandomNormal", {}),
    ("TruncatedNormal", {"mean": -0.1, "stddev": 0.3, "seed": 4}),
    ("RandomUniform", {"minval": -1.0, "maxval": 2.0, "seed": 5}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_out", "distribution": "uniform", "seed": 6}),
    ("VarianceScaling", {"distribution": "Normal", "input_axes": [0], "output_axes": [1, 2]}),
    ("GlorotUniform", {"seed": 7}),
    ("GlorotNormal", {}),
    ("HeNormal", {"seed": 8, "input_axes": [0, 1], "output_axes": [2]}),
    ("HeUniform", {"seed": 9}),
    ("LecunNormal", {"seed": 10}),
    ("LecunUniform", {}),
    ("Orthogonal", {"gain": 2.0, "seed": 11}),
    ("Constant", {"value": 6.0}),
    ("Constant", {"value": np.arange(6.0).reshape(2, 3)}),
    ("Zeros", {}),
    ("Ones", {}),
    ("Identity", {"gain": 1.0}),
]
ATTRIBUTES = ("mean", "stddev", "minval", "maxval", "scale", "mode", "distribution", "gain")


def _json(config: Any) -> str:
    return json.dumps(keras.saving.serialize_keras_object(config), sort_keys=True)


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_config_and_attributes_are_keras(name: str, kw: dict[str, Any]) -> None:
    ours, theirs = getattr(vk, name)(**kw), getattr(keras.initializers, name)(**kw)
    expected = theirs.get_config()
    if name == "Identity":  # deliberate: Keras' config drops the gain
        expected = {**expected, "gain": theirs.gain}
    assert _json(ours.get_config()) == _json(expected)
    for attr in (*ATTRIBUTES, "input_axes", "output_axes"):
        if hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr), attr
    if hasattr(theirs, "value"):
        np.testing.assert_array_equal(ours.value, theirs.value)
    if isinstance(kw.get("seed"), int):
        assert ours.seed == theirs.seed == kw["seed"]
    # the round trips Keras' run_class_serialization_test makes
    clone = type(ours).from_config(ours.get_config())
    assert _json(clone.get_config()) == _json(ours.get_config())
    assert set(dir(clone)) == set(dir(ours))
    payload = json.loads(json.dumps(vk.serialize(ours)))
    assert payload["registered_name"] == f"varinit>{name}"
    assert payload["module"] == "varinit.adapters.keras"
    revived = keras.saving.deserialize_keras_object(payload)
    assert type(revived) is type(ours)
    assert _json(revived.get_config()) == _json(ours.get_config())


def test_seed_generator_configs_round_trip() -> None:
    for name in ("Orthogonal", "VarianceScaling", "RandomUniform", "RandomNormal", "HeNormal"):
        gen = keras.random.SeedGenerator(21)
        ours, theirs = getattr(vk, name)(seed=gen), getattr(keras.initializers, name)(seed=gen)
        assert ours.seed is gen
        assert _json(ours.get_config()) == _json(theirs.get_config())
        revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(vk.serialize(ours))))
        assert isinstance(revived.seed, keras.random.SeedGenerator)
        assert _json(revived.get_config()) == _json(ours.get_config())


def test_identity_config_keeps_the_gain() -> None:
    """Deliberate: Keras 3's Identity config drops ``gain``; varinit's keeps it."""
    clone = vk.Identity.from_config(vk.Identity(gain=3.0).get_config())
    np.testing.assert_array_equal(_np(clone((2, 2))), 3.0 * np.eye(2))


# --------------------------------------------------------------------------- statistics


LAWS: list[tuple[str, dict[str, Any], str, dict[str, Any], tuple[int, ...]]] = [
    ("RandomNormal", {"mean": 0.1, "stddev": 0.2}, "normal", {"mean": 0.1, "std": 0.2}, (200, 150)),
    (
        "TruncatedNormal",
        {"mean": -0.1, "stddev": 0.3},
        "truncated_normal",
        {"mean": -0.1, "std": 0.3},
        (200, 150),
    ),
    ("RandomUniform", {"minval": -0.5, "maxval": 1.5}, "uniform", {"low": -0.5, "high": 1.5}, (200, 150)),
    (
        "VarianceScaling",
        {"scale": 0.5, "mode": "fan_out", "distribution": "untruncated_normal"},
        "variance_scaling",
        {"factor": 0.5, "mode": "fan_out", "distribution": "normal"},
        (200, 150),
    ),
    (
        "VarianceScaling",
        {"scale": 3.0, "mode": "fan_avg", "distribution": "uniform"},
        "variance_scaling",
        {"factor": 3.0, "mode": "fan_avg", "distribution": "uniform"},
        (5, 5, 20, 30),
    ),
    ("GlorotUniform", {}, "glorot_uniform", {}, (200, 150)),
    ("GlorotNormal", {}, "glorot_normal", {}, (200, 150)),
    ("HeNormal", {}, "he_normal", {}, (3, 3, 32, 64)),
    ("HeUniform", {}, "he_uniform", {}, (3, 3, 32, 64)),
    ("LecunNormal", {}, "lecun_normal", {}, (200, 150)),
    ("LecunUniform", {}, "lecun_uniform", {}, (200, 150)),
    ("Orthogonal", {"gain": 1.5}, "orthogonal", {"gain": 1.5}, (4, 15, 40)),
]


@pytest.mark.parametrize(
    ("name", "kw", "scheme", "ov", "shape"), LAWS, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAWS)]
)
def test_draws_follow_keras_law(
    name: str, kw: dict[str, Any], scheme: str, ov: dict[str, Any], shape: tuple[int, ...]
) -> None:
    ours = _np(getattr(vk, name)(seed=31, **kw)(shape))
    assert ours.shape == shape and ours.dtype == np.float32
    assert_distribution(ours, scheme, shape, **ov)
    if name != "Orthogonal":  # the entries of an orthogonal matrix are not independent
        theirs = _np(getattr(keras.initializers, name)(seed=32, **kw)(shape))
        assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > ALPHA


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize(
    "name", ["HeNormal", "RandomUniform", "TruncatedNormal", "Orthogonal", "Zeros", "Identity"]
)
def test_dtypes(name: str, dtype: str) -> None:
    init = getattr(vk, name)() if name in ("Zeros", "Identity") else getattr(vk, name)(seed=1)
    x = init((16, 8), dtype=dtype)
    assert keras.backend.standardize_dtype(x.dtype) == dtype and tuple(x.shape) == (16, 8)
    assert keras.backend.standardize_dtype(init((4, 4)).dtype) == keras.config.floatx()


@pytest.mark.parametrize("shape", [(), (5,), (0,), (0, 4), (3, 0, 2), (2, 3, 4, 5)])
def test_shapes_keras_accepts(shape: tuple[int, ...]) -> None:
    for name in ("HeNormal", "GlorotUniform", "RandomNormal", "Zeros", "Ones", "Constant"):
        ours = getattr(vk, name)()(shape)
        theirs = getattr(keras.initializers, name)()(shape)
        assert tuple(ours.shape) == tuple(theirs.shape) == shape, name


def test_fans_of_small_shapes_are_keras() -> None:
    """Keras' rule: a 1-D shape has fan_in = fan_out = its length; a 0-D shape 1."""
    x = _np(vk.HeNormal(seed=2)((4000,)))
    assert_distribution(x, "he_normal", (4000,), fan_in=4000, fan_out=4000)
    assert abs(float(_np(vk.VarianceScaling(scale=1e-4, seed=3)(())))) <= 2 * 1e-2 / 0.8796


def test_constants_equal_keras() -> None:
    cases = [("Zeros", {}), ("Ones", {}), ("Constant", {"value": 6.0}), ("Constant", {"value": 2})]
    cases += [("Constant", {"value": np.arange(3.0)}), ("Identity", {"gain": 2.0})]
    for (name, kw), dtype in ((c, d) for c in cases for d in ("float32", "float64", "float16")):
        for shape in ((3, 3), (2, 3)):
            ours = _np(getattr(vk, name)(**kw)(shape, dtype))
            theirs = _np(getattr(keras.initializers, name)(**kw)(shape, dtype))
            assert ours.dtype == theirs.dtype
            np.testing.assert_array_equal(ours, theirs)
    for name, kw in (
        ("Zeros", {}),
        ("Ones", {}),
        ("Constant", {"value": 3}),
        ("Constant", {"value": np.arange(3)}),
    ):
        for dtype in ("int32", "int64", "bool"):  # Keras' own code: varinit draws floats only
            ours, theirs = (_np(getattr(m, name)(**kw)((2, 3), dtype)) for m in (vk, keras.initializers))
            assert ours.dtype == theirs.dtype
            np.testing.assert_array_equal(ours, theirs)


# --------------------------------------------------------------------------- errors


ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("VarianceScaling", {"scale": -1.0}, "Argument `scale` must be positive float."),
    ("VarianceScaling", {"scale": 0.0}, "Argument `scale` must be positive float."),
    ("VarianceScaling", {"mode": "fan_median"}, "Invalid `mode` argument:"),
    ("VarianceScaling", {"distribution": "cauchy"}, "Invalid `distribution` argument:"),
    ("RandomNormal", {"seed": "a"}, "`seed` argument should be"),
    ("HeNormal", {"seed": 1.5}, "`seed` argument should be"),
]


@pytest.mark.parametrize(("name", "kw", "message"), ERRORS)
def test_construction_errors_are_keras(name: str, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(vk, name)(**kw)
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(keras.initializers, name)(**kw)


def test_call_errors_are_keras() -> None:
    for ours, theirs, shape in (
        (vk.Orthogonal(seed=1), keras.initializers.Orthogonal(seed=1), (5,)),
        (vk.Identity(), keras.initializers.Identity(), (2, 2, 2)),
        (vk.Identity(), keras.initializers.Identity(), (4,)),
    ):
        with pytest.raises(ValueError):
            theirs(shape)
        with pytest.raises(ValueError, match="shape"):
            ours(shape)
    with pytest.raises(TypeError, match="not a shape"):
        vk.HeNormal(seed=0)((4.5, 8))
    with pytest.raises(ValueError):
        vk.get("typo")


def test_deliberate_errors() -> None:
    """Arguments Keras accepts and varinit rejects, each listed in docs/guide-keras.md."""
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match=r"\[0, 2\*\*64\)"):
            vk.HeNormal(seed=bad)
    with pytest.raises(ValueError, match="std"):
        vk.RandomNormal(stddev=-1.0)
    with pytest.raises(ValueError, match="low"):
        vk.RandomUniform(minval=1.0, maxval=-1.0)
    with pytest.raises(TypeError, match="floating"):
        vk.HeNormal(seed=0)((4, 4), "int32")


# --------------------------------------------------------------------------- seeds


def test_int_seed_repeats_and_equals_the_generic_initializer() -> None:
    shape = (48, 32)
    for ours, generic in (
        (vk.HeNormal(seed=5), vk.Initializer("he_normal", seed=5)),
        (vk.GlorotUniform(seed=6), vk.Initializer("glorot_uniform", seed=6)),
        (
            vk.VarianceScaling(0.5, "fan_out", "untruncated_normal", seed=7),
            vk.Initializer("variance_scaling", seed=7, factor=0.5, mode="fan_out", distribution="normal"),
        ),
        (vk.RandomNormal(stddev=0.02, seed=8), vk.Initializer("normal", seed=8, std=0.02)),
        (vk.Orthogonal(gain=2.0, seed=9), vk.Initializer("orthogonal", seed=9, gain=2.0)),
    ):
        x = _np(ours(shape))
        np.testing.assert_array_equal(x, _np(ours(shape)))
        np.testing.assert_array_equal(x, _np(type(ours).from_config(ours.get_config())(shape)))
        np.testing.assert_array_equal(x, _np(generic(shape)))


def test_none_seed_is_keras_default_seed() -> None:
    """``seed=None``: one seed per instance, drawn as Keras draws it, so calls repeat, clones
    differ and ``keras.utils.set_random_seed`` reproduces the run."""
    keras.utils.set_random_seed(3)
    ours = vk.HeNormal()
    keras.utils.set_random_seed(3)
    assert ours.seed == keras.initializers.HeNormal().seed  # the very same default seed
    x = _np(ours((32, 16)))
    np.testing.assert_array_equal(x, _np(ours((32, 16))))
    assert not np.array_equal(x, _np(vk.HeNormal.from_config(ours.get_config())((32, 16))))
    assert ours.get_config()["seed"] is None
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(x, _np(vk.HeNormal()((32, 16))))


def test_seed_generator_draws_anew_each_call() -> None:
    def run(seed: Any) -> list[np.ndarray]:
        init = vk.RandomNormal(seed=seed)
        return [_np(init((25, 20))) for _ in range(3)]

    gen = keras.random.SeedGenerator(1337)
    first = run(gen)
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    for a, b in zip(first, run(keras.random.SeedGenerator(1337)), strict=True):
        np.testing.assert_array_equal(a, b)
    theirs = keras.random.SeedGenerator(1337)
    init = keras.initializers.RandomNormal(seed=theirs)
    for _ in range(3):
        init((25, 20))
    np.testing.assert_array_equal(_np(gen.state), _np(theirs.state))  # advanced as Keras' is


# --------------------------------------------------------------------------- EinsumDense / MHA


def _kernels(layer: Any) -> dict[str, np.ndarray]:
    dense = {"query": layer.query_dense, "key": layer.key_dense, "value": layer.value_dense}
    dense["output"] = layer.output_dense
    return {k: _np(d.kernel) for k, d in dense.items()}


def _mha(init: Any) -> Any:
    layer = keras.layers.MultiHeadAttention(num_heads=8, key_dim=32, kernel_initializer=init)
    layer.build((None, 10, 64), (None, 10, 64))
    return layer


#: the true fans Keras' EinsumDense passes: (64, 8, 32) kernels project 64 inputs, the
#: output kernel (8, 32, 64) combines 256
TRUE_FANS = {"query": (64, 256), "key": (64, 256), "value": (64, 256), "output": (256, 64)}


@pytest.mark.parametrize(
    "make",
    [lambda: vk.HeNormal(), lambda: vk.Initializer("he_normal", seed=41), lambda: vk.get("he_normal")],
    ids=["HeNormal", "Initializer", "get"],
)
def test_multi_head_attention_kernels_have_keras_std(make: Any) -> None:
    keras.utils.set_random_seed(40)
    ours = _kernels(_mha(make()))
    theirs = _kernels(_mha(keras.initializers.HeNormal()))
    for name, (fan_in, fan_out) in TRUE_FANS.items():
        x, k = ours[name], theirs[name]
        assert x.shape == k.shape
        assert_distribution(x, "he_normal", x.shape, fan_in=fan_in, fan_out=fan_out)
        ratio = float(x.std() / k.std())
        assert abs(ratio - 1) <= 0.04, (name, ratio)  # was 0.35 before: fans of a conv kernel
        assert stats.ks_2samp(x.ravel(), k.ravel()).pvalue > ALPHA, name
    if make().get_config()["seed"] is None:  # each projection gets its own default seed
        assert not np.array_equal(ours["query"], ours["key"])


def test_einsum_dense_axes_reach_every_fan_family() -> None:
    for init, scheme in (
        (vk.LecunUniform(seed=1), "lecun_uniform"),
        (vk.GlorotNormal(seed=2), "glorot_normal"),
    ):
        layer = keras.layers.EinsumDense(
            "abc,cde->abde", output_shape=(None, 16, 24), kernel_initializer=init
        )
        layer.build((None, 5, 40))
        x = _np(layer.kernel)
        assert x.shape == (40, 16, 24)
        assert_distribution(x, scheme, x.shape, fan_in=40, fan_out=16 * 24)
    user = vk.Initializer("he_normal", seed=3, fan_in=10)  # a varinit fan keyword wins
    layer = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 16, 24), kernel_initializer=user)
    layer.build((None, 5, 40))
    assert_distribution(_np(layer.kernel), "he_normal", (40, 16, 24), fan_in=10, fan_out=1)
    ortho = _mha(vk.Initializer("orthogonal", seed=4))  # schemes without fans ignore the axes
    q = ortho.query_dense.kernel
    flat = _np(q).reshape(-1, q.shape[-1])
    np.testing.assert_allclose(flat.T @ flat, np.eye(flat.shape[1]), atol=1e-5)


def test_generic_initializer_is_variance_scaling_only_with_fans() -> None:
    assert isinstance(vk.Initializer("kaiming_uniform", seed=1), keras.initializers.VarianceScaling)
    assert not isinstance(vk.Initializer("orthogonal", seed=1), keras.initializers.VarianceScaling)

    class Mine(vk.Initializer):  # a user's subclass is left as it is
        def __init__(self) -> None:
            pass

    assert not isinstance(Mine(), keras.initializers.VarianceScaling)
    for init in (vk.Initializer("he_normal", seed=1, mode="fan_out"), vk.HeNormal(seed=2)):
        config = vk.serialize(init)
        assert config["class_name"] == type(init).__name__ == config["registered_name"].split(">")[1]
        for copy_ in (copy.deepcopy(init), pickle.loads(pickle.dumps(init))):
            assert type(copy_) is type(init) and copy_.get_config() == init.get_config()
            np.testing.assert_array_equal(_np(copy_((8, 4))), _np(init((8, 4))))


# --------------------------------------------------------------------------- get / serialize


def test_get_serialize_deserialize() -> None:
    for name, cls in (
        ("he_normal", vk.HeNormal),
        ("OrthogonalInitializer", vk.Orthogonal),
        ("normal", vk.RandomNormal),
    ):
        assert type(vk.get(name)) is cls
    assert type(vk.get({"class_name": "GlorotUniform", "config": {"seed": 2}})) is vk.GlorotUniform
    assert vk.get(None) is None
    fn = vk.get(np.ones((2, 2), "float32"))
    np.testing.assert_array_equal(_np(fn((2, 2))), np.ones((2, 2)))
    init = vk.HeNormal(seed=1)
    assert vk.get(init) is init
    assert type(vk.deserialize(vk.serialize(init))) is vk.HeNormal
    assert type(keras.initializers.get(vk.serialize(init))) is vk.HeNormal  # registered
    assert type(vk.get("STFT")) is keras.initializers.STFT


# --------------------------------------------------------------------------- saving


RELOAD = textwrap.dedent("""
    import json, sys
    if sys.argv[2] == "import":
        import varinit.adapters.keras  # the one line the guide asks for
    import keras
    import numpy as np

    out = {}
    for name in ("dropins", "generic"):
        try:
            model = keras.saving.load_model(f"{sys.argv[1]}/{name}.keras")
        except Exception as e:
            out[name] = {"error": str(e)}
            continue
        inits = [
            (type(i).__module__, type(i).__name__, keras.saving.serialize_keras_object(i.get_config()))
            for layer in model.layers for i in (layer.kernel_initializer, layer.bias_initializer)
        ]
        weights = [keras.ops.convert_to_numpy(w).tolist() for w in model.weights]
        out[name] = {"inits": inits, "weights": weights}
    out["varinit_loaded"] = any(m.startswith("varinit") for m in sys.modules)
    print(json.dumps(out))
""")


def _saved_models(folder: Path) -> dict[str, Any]:
    dropins = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, kernel_initializer=vk.HeNormal(seed=1), bias_initializer=vk.Constant(0.5)),
            keras.layers.Dense(
                4,
                kernel_initializer=vk.VarianceScaling(
                    2.0, "fan_avg", "uniform", seed=keras.random.SeedGenerator(2)
                ),
                bias_initializer=vk.Zeros(),
            ),
            keras.layers.Dense(3, kernel_initializer=vk.Orthogonal(gain=2.0), bias_initializer=vk.Ones()),
        ]
    )
    generic = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, kernel_initializer=vk.Initializer("kaiming_normal", seed=3)),
        ]
    )
    models = {"dropins": dropins, "generic": generic}
    for name, model in models.items():
        model.save(folder / f"{name}.keras")
    return models


def _reload(folder: Path, mode: str) -> dict[str, Any]:
    script = folder / "reload.py"
    script.write_text(RELOAD)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, str(script), str(folder), mode], env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def _configs(model: Any) -> list[tuple[str, str, Any]]:
    return [
        (
            type(i).__module__,
            type(i).__name__,
            json.loads(json.dumps(keras.saving.serialize_keras_object(i.get_config()))),
        )
        for layer in model.layers
        for i in (layer.kernel_initializer, layer.bias_initializer)
    ]


def test_saved_models_reload_in_a_new_process(tmp_path: Path) -> None:
    models = _saved_models(tmp_path)
    expected = {name: _configs(m) for name, m in models.items()}
    weights = {name: [_np(w).tolist() for w in m.weights] for name, m in models.items()}

    loaded = _reload(tmp_path, "import")  # import varinit.adapters.keras, then load
    for name in models:
        assert [tuple(x) for x in loaded[name]["inits"]] == expected[name]
        assert loaded[name]["weights"] == weights[name]

    bare = _reload(tmp_path, "no-import")  # never imports varinit
    assert not bare["varinit_loaded"]
    # drop-ins: Keras reads each config as its own class of the same name (same law, arguments)
    got = [tuple(x) for x in bare["dropins"]["inits"]]
    assert [(n, c) for _, n, c in got] == [(n, c) for _, n, c in expected["dropins"]]
    assert all(m.startswith("keras.") for m, _, _ in got)
    assert bare["dropins"]["weights"] == weights["dropins"]
    # the generic Initializer has no Keras counterpart: the error names the module to import
    assert "import varinit.adapters.keras" in bare["generic"]["error"]


# --------------------------------------------------------------------------- other backends


OTHER_BACKEND = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    import varinit.adapters.keras as vk

    keras.utils.set_random_seed(5)
    mha = keras.layers.MultiHeadAttention(num_heads=8, key_dim=32, kernel_initializer=vk.HeNormal())
    mha.build((None, 10, 64), (None, 10, 64))
    gen = vk.RandomNormal(seed=keras.random.SeedGenerator(7))
    np.savez(
        sys.argv[1],
        fixed=keras.ops.convert_to_numpy(vk.HeNormal(seed=3)((64, 32))),
        query=keras.ops.convert_to_numpy(mha.query_dense.kernel),
        gen=np.stack([keras.ops.convert_to_numpy(gen((8, 8))) for _ in range(2)]),
        backend=keras.backend.backend(),
    )
""")


@pytest.mark.parametrize(
    "backend", [pytest.param("jax", marks=pytest.mark.jax), pytest.param("torch", marks=pytest.mark.torch)]
)
def test_drop_ins_on_other_keras_backends(backend: str, tmp_path: Path) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    script, out = tmp_path / "run.py", tmp_path / "out.npz"
    script.write_text(OTHER_BACKEND)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [sys.executable, str(script), str(out)], env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr[-3000:]
    data = np.load(out)
    assert str(data["backend"]) == backend
    assert_same_stream(_np(vk.HeNormal(seed=3)((64, 32))), data["fixed"], max_ulp=2)
    assert_distribution(data["query"], "he_normal", (64, 8, 32), fan_in=64, fan_out=256)
    gen = vk.RandomNormal(seed=keras.random.SeedGenerator(7))
    for i in range(2):  # the same SeedGenerator sequence on every backend
        assert_same_stream(_np(gen((8, 8))), data["gen"][i], max_ulp=2)


# --------------------------------------------------------------------------- docs


def _guide_blocks(tag: str) -> list[str]:
    text = GUIDE.read_text("utf-8")
    return re.findall(rf"^<!-- tested: {tag} -->\n```python\n(.*?)^```", text, flags=re.S | re.M)


def test_guide_change_this_import_runs() -> None:
    blocks = _guide_blocks("keras-import")
    assert blocks, f"{GUIDE.name} has no ```python block after '<!-- tested: keras-import -->'"
    for code in blocks:
        exec(compile(code, str(GUIDE), "exec"), {"__name__": "guide"})


def test_docstring_examples_run() -> None:
    result = doctest.testmod(vk, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 20 and result.failed == 0
