"""TensorFlow and Keras 3 adapters: the namespace shim, TF's Philox kernel, every scheme,
Keras' own initializers as anchors, serialization, and the cross-Keras-backend promise.

Thresholds: one-sample tests use ``varinit.testing.assert_distribution`` (KS at alpha 1e-3,
moments within 5 standard errors); comparisons with ``keras.initializers`` use a two-sample
KS test (``scipy.stats.ks_2samp``) at alpha 1e-3 and a std ratio within 1%. Every seed is fixed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import array_api_compat.numpy as anp
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from scipy import stats  # noqa: E402
from varinit.adapters import tensorflow as vtf  # noqa: E402
from varinit.adapters.keras import Initializer  # noqa: E402

import varinit  # noqa: E402
from varinit.conformance.check import shape_for  # noqa: E402
from varinit.rng.philox import words as reference_words  # noqa: E402
from varinit.testing import assert_distribution, assert_same_stream  # noqa: E402

pytestmark = pytest.mark.tensorflow

ALPHA = 1e-3
CORE = Path(varinit.__file__).parent
#: portable values must match NumPy's within this many ulp (the core's log and inverse CDF
#: use exactly rounded operations only, so eager TF matches NumPy bit for bit)
LOG_ULP = 2
ON_KERAS_TF = keras.backend.backend() == "tensorflow"


# --------------------------------------------------------------------------- namespace


def test_namespace_is_exactly_what_the_core_calls() -> None:
    called: set[str] = set()
    for name in ("core/executor.py", "core/plans.py", "rng/ndtri.py", "rng/philox.py"):
        called |= set(re.findall(r"\bxp\.([A-Za-z_]\w*)", (CORE / name).read_text()))
    assert called == set(vtf.NAMESPACE)
    for name in vtf.NAMESPACE:
        assert hasattr(vtf.BACKEND.xp, name), name


def test_namespace_functions_agree_with_numpy() -> None:
    xp = vtf.BACKEND.xp
    a = np.asarray([[0.3, -1.5, 2.0], [4.0, 0.25, -0.5]], dtype=np.float32)
    t = xp.asarray(a)
    close = np.testing.assert_allclose
    close(xp.abs(t).numpy(), np.abs(a))
    close(xp.clip(t, -1.0, 1.0).numpy(), np.clip(a, -1.0, 1.0))
    close(xp.sqrt(xp.abs(t)).numpy(), np.sqrt(np.abs(a)), rtol=1e-6)
    close(xp.minimum(t, 0.5).numpy(), np.minimum(a, 0.5))
    close(xp.where(t < 0, -t, t).numpy(), np.abs(a))
    close(xp.reshape(t, (3, 2)).numpy(), a.reshape(3, 2))
    close(xp.permute_dims(t, (1, 0)).numpy(), a.T)
    close(xp.matrix_transpose(t).numpy(), a.T)
    close(xp.stack([t, t], axis=0).numpy(), np.stack([a, a]))
    close(xp.ones_like(t).numpy(), np.ones_like(a))
    close(xp.zeros_like(t).numpy(), np.zeros_like(a))
    close(xp.full((2, 3), 1.5, dtype=xp.float64).numpy(), np.full((2, 3), 1.5))
    close(xp.diagonal(t).numpy(), np.diagonal(a))
    close(xp.flip(t, axis=(1,)).numpy(), np.flip(a, axis=1))
    close(xp.flip(t).numpy(), np.flip(a))
    close(xp.linalg.diagonal(t).numpy(), np.diagonal(a))
    assert xp.astype(t, xp.float64).dtype == xp.float64
    assert bool(xp.any(t < 0)) and not bool(xp.any(t > 10))
    for got, want in zip(xp.nonzero(t < 0), np.nonzero(a < 0), strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(xp.argsort(t, axis=1).numpy(), np.argsort(a, axis=1, kind="stable"))
    np.testing.assert_array_equal(xp.arange(5, dtype=xp.uint32).numpy(), np.arange(5))
    w = xp.asarray([0xFFFFFFFF, 256, 7], dtype=xp.uint32)
    np.testing.assert_array_equal(xp.bitwise_right_shift(w, 8).numpy(), [0xFFFFFF, 1, 0])
    q, r = xp.linalg.qr(xp.asarray(a.T))
    close((q @ r).numpy(), a.T, atol=1e-6)


# --------------------------------------------------------------------------- portable bits


@pytest.mark.parametrize(
    ("seed", "stream", "starts", "length"),
    [
        (0, 0, [0], 1000),
        (2**64 - 1, 0, [3], 17),  # unaligned start, the largest key
        (12345, 2**63 + 5, [1, 6, 11, 16], 9),  # a stream id, rows close together (one span)
        (7, 3, [2, 100_001, 5_000_002], 6),  # rows far apart (one kernel call each)
        (99, 1, [4 * (2**32 + 5) + 2], 10),  # a block index past 2**32: the counter's high word
    ],
)
def test_kernel_words_equal_the_reference(seed: int, stream: int, starts: list[int], length: int) -> None:
    got = vtf.BACKEND.philox_words(seed, stream, starts, length, None)
    want = reference_words(anp, seed, stream, starts, length, wide=True)
    assert got.dtype == tf.uint32
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme", ["uniform", "glorot_uniform", "he_normal", "trunc_normal"])
@pytest.mark.parametrize("shape", [(300, 200), (1024, 520)], ids=["eager", "compiled"])
def test_portable_values_match_numpy(scheme: str, dtype: str, shape: tuple[int, int]) -> None:
    # (1024, 520) is above compile_min: one cached XLA function on the kernel's words; the
    # fence keeps XLA from fusing products into sums, so every value equals NumPy's
    a = varinit.init(scheme, shape, layout="in_out", seed=21, dtype=dtype)
    b = vtf.initializer(scheme, seed=21)(shape, dtype)
    assert b.dtype.name == dtype and tuple(b.shape) == shape
    np.testing.assert_array_equal(b.numpy(), a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generic_init_takes_the_compiled_route(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # where the compiled XLA route draws (inside tf.function, on GPUs, without the CPU kernel:
    # here the kernel is switched off), varinit.init(backend="tensorflow") on a large tensor
    # goes to the same cached XLA function as initializer(): equal values, a shared cache entry
    from varinit.core import executor

    monkeypatch.setattr(executor, "kernel_available", lambda: False)
    shape = (1024, 520)
    vtf._COMPILED.clear()
    a = varinit.init("he_normal", shape, layout="in_out", seed=23, dtype=dtype, backend="tensorflow")
    assert len(vtf._COMPILED) == 1
    np.testing.assert_array_equal(
        a.numpy(), varinit.init("he_normal", shape, layout="in_out", seed=23, dtype=dtype)
    )
    gen = tf.random.Generator.from_seed(24, alg="philox")
    assert_distribution(
        varinit.init("he_normal", shape, layout="in_out", seed=gen, dtype=dtype, backend="tensorflow"),
        "he_normal",
        shape,
    )
    assert len(vtf._COMPILED) == 1  # both streams share the compiled transform


def test_index_blocks_use_the_counter() -> None:
    shape = (37, 29)
    whole = varinit.init("he_uniform", shape, layout="in_out", seed=5, backend="tensorflow").numpy()
    for index in [(slice(3, 20), slice(5, 22)), (slice(None), slice(0, 29, 3)), (4,)]:
        block = varinit.init("he_uniform", shape, layout="in_out", seed=5, backend="tensorflow", index=index)
        np.testing.assert_array_equal(block.numpy(), whole[index])
        np.testing.assert_array_equal(
            block.numpy(), varinit.init("he_uniform", shape, layout="in_out", seed=5, index=index)
        )


# --------------------------------------------------------------------------- every scheme


@pytest.mark.parametrize("stream", ["portable", "native"])
@pytest.mark.parametrize("scheme", varinit.schemes())
def test_every_scheme_matches_its_distribution(scheme: str, stream: str) -> None:
    shape = shape_for(scheme)
    seed = 31 if stream == "portable" else tf.random.Generator.from_seed(32, alg="philox")
    x = vtf.initializer(scheme, seed=seed)(shape)
    assert isinstance(x, tf.Tensor) and x.dtype == tf.float32
    assert_distribution(x, scheme, shape)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform", "kaiming_normal"])
def test_large_draws_on_both_streams(scheme: str, dtype: str) -> None:
    shape = (1024, 512)  # above compile_min: both streams run the compiled function
    for seed in (41, tf.random.Generator.from_seed(42, alg="philox")):
        x = vtf.initializer(scheme, seed=seed)(shape, dtype=dtype)
        assert x.dtype.name == dtype
        assert_distribution(x, scheme, shape)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_the_float32_draw_cast(dtype: str) -> None:
    for shape in [(40, 30), (1024, 512)]:
        init = vtf.initializer("he_normal", seed=43)
        half, full = init(shape, dtype), init(shape)
        assert half.dtype.name == dtype
        np.testing.assert_array_equal(half.numpy(), tf.cast(full, dtype).numpy())


def test_tf1_variance_scaling_follows_the_tf1_formulas() -> None:
    # tf.contrib.layers.variance_scaling_initializer: n = fan_in, fan_out or their mean with
    # fan_in = prod(shape[:-2]) * shape[-2], fan_out = prod(shape[:-2]) * shape[-1];
    # uniform: U(+-sqrt(3 factor / n)); else N(0, 1.3 factor / n) truncated at 2 std
    shape = (3, 3, 64, 96)
    fan_in, fan_out = 9 * 64, 9 * 96
    for mode, n in [("FAN_IN", fan_in), ("FAN_OUT", fan_out), ("FAN_AVG", (fan_in + fan_out) / 2)]:
        x = vtf.initializer("tf1_variance_scaling", seed=51, mode=mode, factor=1.5)(shape)
        sigma = math.sqrt(1.3 * 1.5 / n)
        ks = stats.kstest(x.numpy().ravel(), stats.truncnorm(-2, 2, scale=sigma).cdf)
        assert ks.pvalue > ALPHA, (mode, ks)
        u = vtf.initializer("tf1_variance_scaling", seed=52, mode=mode, uniform=True)(shape)
        lim = math.sqrt(3 * 2.0 / n)
        ks = stats.kstest(u.numpy().ravel(), stats.uniform(-lim, 2 * lim).cdf)
        assert ks.pvalue > ALPHA and float(tf.reduce_max(tf.abs(u))) <= lim, (mode, ks)


# --------------------------------------------------------------------------- vs keras


KERAS_ANCHORS = [
    ("GlorotUniform", {}, "glorot_uniform", {}, (300, 400)),
    ("GlorotNormal", {}, "glorot_normal", {}, (300, 400)),
    ("HeNormal", {}, "he_normal", {}, (3, 3, 64, 32)),
    ("HeUniform", {}, "he_uniform", {}, (300, 400)),
    ("LecunNormal", {}, "lecun_normal", {}, (300, 400)),
    ("LecunUniform", {}, "lecun_uniform", {}, (300, 400)),
    (
        "VarianceScaling",
        {"scale": 0.5, "mode": "fan_out", "distribution": "untruncated_normal"},
        "variance_scaling",
        {"factor": 0.5, "mode": "fan_out", "distribution": "normal"},
        (300, 400),
    ),
    (
        "TruncatedNormal",
        {"mean": 0.1, "stddev": 0.2},
        "truncated_normal",
        {"mean": 0.1, "std": 0.2},
        (300, 400),
    ),
    ("Orthogonal", {"gain": 1.5}, "orthogonal", {"gain": 1.5}, (300, 400)),
    ("Identity", {"gain": 2.0}, "identity", {"gain": 2.0}, (300, 400)),
]


@pytest.mark.parametrize(
    ("cls", "kkw", "scheme", "vkw", "shape"), KERAS_ANCHORS, ids=[a[0] for a in KERAS_ANCHORS]
)
def test_same_distribution_as_keras(
    cls: str, kkw: dict[str, object], scheme: str, vkw: dict[str, object], shape: tuple[int, ...]
) -> None:
    theirs = keras.ops.convert_to_numpy(
        getattr(keras.initializers, cls)(seed=61, **kkw)(shape)
        if cls != "Identity"
        else keras.initializers.Identity(**kkw)(shape)
    )
    ours = vtf.initializer(scheme, seed=62, **vkw)(shape).numpy()
    assert ours.shape == theirs.shape == shape
    ratio = float(ours.std() / theirs.std())
    assert abs(ratio - 1) <= 0.01, ratio
    if cls == "Identity":
        np.testing.assert_array_equal(ours, theirs)
    else:
        assert stats.ks_2samp(ours.ravel(), theirs.ravel()).pvalue > ALPHA


# --------------------------------------------------------------------------- tf usage


def test_variable_and_tf_function() -> None:
    init = vtf.initializer("he_normal", seed=71)
    eager = init((64, 32))
    v = tf.Variable(lambda: init((64, 32)))
    np.testing.assert_array_equal(v.numpy(), eager.numpy())

    @tf.function
    def build() -> tf.Tensor:
        return init((64, 32)) + 0.0

    # inside a user's graph Grappler may rewrite the inverse CDF's arithmetic (measured:
    # 5 ulp), so graph values are held to 8 ulp; uniform plans stay bit-identical
    assert_same_stream(build(), eager, max_ulp=8)
    big = tf.function(lambda: init((600, 500)))()
    assert_same_stream(big, init((600, 500)), max_ulp=8)
    uni = vtf.initializer("glorot_uniform", seed=71)
    np.testing.assert_array_equal(tf.function(lambda: uni((600, 500)))().numpy(), uni((600, 500)).numpy())
    gen = tf.random.Generator.from_seed(72)
    draw = tf.function(lambda: vtf.initializer("glorot_uniform", seed=gen)((32, 16)))
    first, second = draw().numpy(), draw().numpy()
    assert not np.array_equal(first, second)  # the native generator advances in the graph


def test_seed_none_uses_the_global_generator() -> None:
    saved = tf.random.get_global_generator()
    try:
        tf.random.set_global_generator(tf.random.Generator.from_seed(81))
        a = vtf.initializer("he_normal")((64, 64)).numpy()
        b = vtf.initializer("he_normal")((64, 64)).numpy()
        tf.random.set_global_generator(tf.random.Generator.from_seed(81))
        c = vtf.initializer("he_normal")((64, 64)).numpy()
    finally:
        tf.random.set_global_generator(saved)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_init_backend_tensorflow() -> None:
    x = varinit.init(
        "lecun_uniform", (40, 30), layout="in_out", backend="tensorflow", seed=3, dtype="float16"
    )
    assert isinstance(x, tf.Tensor) and x.dtype == tf.float16
    np.testing.assert_array_equal(
        x.numpy(), varinit.init("lecun_uniform", (40, 30), layout="in_out", seed=3, dtype="float16")
    )


def test_bad_input_is_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="he_norml"):
        vtf.initializer("he_norml")
    with pytest.raises(ValueError, match="out of range"):
        vtf.initializer("he_normal", seed=-1)
    with pytest.raises(TypeError, match="seed"):
        vtf.initializer("he_normal", seed=1.5)
    with pytest.raises(TypeError, match="dtype"):
        vtf.initializer("he_normal", seed=1)((4, 4), dtype="int32")
    with pytest.raises(ValueError, match="identity needs a 2-D"):
        vtf.initializer("identity", seed=1)((3, 4, 5))
    with pytest.raises(TypeError, match="seed"):
        varinit.init("he_normal", (4, 4), backend="tensorflow", seed=np.random.default_rng(0))
    with pytest.raises(TypeError, match="seed"):
        Initializer("he_normal", seed=tf.random.Generator.from_seed(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        Initializer("he_normal", seed=2**64)
    with pytest.raises(ValueError, match="glorot_unifrom"):
        Initializer("glorot_unifrom")


# --------------------------------------------------------------------------- keras


def _model(seed: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(16, 3, kernel_initializer=Initializer("he_normal", seed=seed)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, kernel_initializer=Initializer("glorot_uniform", seed=seed + 1)),
        ]
    )


def test_keras_layers_config_and_save_load(tmp_path: Path) -> None:
    model = _model(91)
    kernel = model.layers[0].kernel
    assert tuple(kernel.shape) == (3, 3, 3, 16)
    assert_same_stream(
        kernel, varinit.init("he_normal", (3, 3, 3, 16), seed=91), max_ulp=LOG_ULP, min_identical=0.95
    )  # 432 values: a few may differ
    init = Initializer("lecun_normal", seed=5, mode="fan_out", stream=9)
    config = init.get_config()
    loads = "import varinit.adapters.keras before keras.saving.load_model"  # named in Keras' error
    assert config == {
        "scheme": "lecun_normal",
        "seed": 5,
        "mode": "fan_out",
        "stream": 9,
        "loads_with": loads,
    }
    json.dumps(keras.saving.serialize_keras_object(init))
    clone = keras.initializers.get(keras.saving.serialize_keras_object(init))
    assert isinstance(clone, Initializer) and clone.get_config() == config
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[2].kernel_initializer, Initializer)
    assert loaded.layers[2].kernel_initializer.get_config()["seed"] == 92
    for w, v in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), keras.ops.convert_to_numpy(v))


def test_repeated_calls_with_an_int_seed_repeat_and_none_draws_fresh() -> None:
    shared = Initializer("he_uniform", seed=101)
    a = keras.layers.Dense(32, kernel_initializer=shared)
    b = keras.layers.Dense(32, kernel_initializer=shared)
    a.build((None, 48))
    b.build((None, 48))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.kernel), keras.ops.convert_to_numpy(b.kernel))
    other = keras.ops.convert_to_numpy(Initializer("he_uniform", seed=101, stream=1)((48, 32)))
    assert not np.array_equal(other, keras.ops.convert_to_numpy(a.kernel))
    unseeded = Initializer("he_uniform")
    keras.utils.set_random_seed(7)
    x1, x2 = (keras.ops.convert_to_numpy(unseeded((48, 32))) for _ in range(2))
    keras.utils.set_random_seed(7)
    x3 = keras.ops.convert_to_numpy(unseeded((48, 32)))
    assert not np.array_equal(x1, x2)
    np.testing.assert_array_equal(x1, x3)


CROSS_SCRIPT = textwrap.dedent("""
    import sys
    import keras
    import numpy as np
    from varinit.adapters.keras import Initializer

    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(16, 3, kernel_initializer=Initializer("he_normal", seed=91)),
        keras.layers.Flatten(),
        keras.layers.Dense(64, kernel_initializer=Initializer("glorot_normal", seed=92)),
    ])
    ours = np.concatenate([keras.ops.convert_to_numpy(w).ravel() for w in model.weights])
    theirs = keras.ops.convert_to_numpy(keras.initializers.HeNormal(seed=91)((576, 64)))
    np.savez(sys.argv[1], ours=ours, theirs=theirs, backend=keras.backend.backend())
""")


@pytest.mark.jax
@pytest.mark.torch
def test_int_seed_gives_the_same_weights_on_every_keras_backend(tmp_path: Path) -> None:
    for other in ("jax", "torch"):  # Keras' other backends, each built in a child process
        if importlib.util.find_spec(other) is None:
            pytest.skip(f"{other} is not installed: the Keras {other} backend cannot run")
    script = tmp_path / "build.py"
    script.write_text(CROSS_SCRIPT)
    results = {}
    for backend in ("tensorflow", "jax", "torch"):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        out = tmp_path / f"{backend}.npz"
        run = subprocess.run(
            [sys.executable, str(script), str(out)], env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr[-2000:]
        data = np.load(out)
        assert str(data["backend"]) == backend
        results[backend] = data
    ref = results["tensorflow"]
    for backend in ("jax", "torch"):
        # varinit: the same numbers (within 2 ulp, >= 99% bit-identical)
        assert_same_stream(ref["ours"], results[backend]["ours"], max_ulp=LOG_ULP)
        # Keras' own seeded HeNormal: different numbers on every backend (measured)
        same = float(np.mean(ref["theirs"] == results[backend]["theirs"]))
        assert same < 0.01, (backend, same)
    assert float(np.mean(results["jax"]["theirs"] == results["torch"]["theirs"])) < 0.01
