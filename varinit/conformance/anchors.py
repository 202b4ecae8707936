"""The anchors: each framework's own initializer that a table row reproduces (``compat``).

An :class:`Anchor` draws from the framework's function for a shape given in the ``in_out``
layout and returns NumPy in that layout, together with the varinit overrides that match
the anchor's own defaults. :func:`compare` runs the two-sample tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ANCHORS", "Anchor", "AnchorResult", "anchors_for", "compare"]

DENSE = (1000, 500)  # (in, out): 500,000 values
CONV = (3, 3, 128, 256)  # (kh, kw, in, out): 294,912 values
CONV1D = (7, 256, 320)  # (k, in, out): 573,440 values
CONV3D = (3, 3, 3, 96, 160)  # (kd, kh, kw, in, out): 414,720 values
DEPTHWISE = (3, 3, 1, 32768)  # torch (C, 1, kh, kw) with groups = C: 294,912 values
VS = (DENSE, CONV, CONV1D, CONV3D)  # variance-scaling anchors: every conv rank
VS_TORCH = (*VS, DEPTHWISE)
ALPHA = 1e-3  # two-sample KS significance
STD_TOL = 0.01  # |std ratio - 1| allowed (>= 5 standard errors at these sizes)


@dataclass(frozen=True)
class Anchor:
    """One framework function and how to call it like a varinit scheme."""

    name: str
    scheme: str
    framework: str
    draw: Callable[[tuple[int, ...], int], np.ndarray]
    overrides: Mapping[str, Any] = field(default_factory=dict)
    exact: bool = False
    shapes: tuple[tuple[int, ...], ...] = VS

    @property
    def available(self) -> bool:
        return importlib.util.find_spec(self.framework) is not None


@dataclass(frozen=True)
class AnchorResult:
    anchor: str
    scheme: str
    shape: tuple[int, ...]
    ok: bool
    ks_pvalue: float
    std_ratio: float
    detail: str = ""

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        if math.isnan(self.std_ratio):
            return f"{mark} {self.scheme:<20} {self.anchor:<44} {self.shape}: {self.detail}"
        return (
            f"{mark} {self.scheme:<20} {self.anchor:<44} {self.shape!s:<18} "
            f"KS p={self.ks_pvalue:.3f} std ratio={self.std_ratio:.4f}"
            + (f"  {self.detail}" if self.detail else "")
        )


# --------------------------------------------------------------------------- layouts


def _to_out_in(shape: tuple[int, ...]) -> tuple[int, ...]:
    *k, cin, cout = shape
    return (cout, cin, *k)


def _from_out_in(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, (0, 1), (-1, -2))


# --------------------------------------------------------------------------- torch


@contextlib.contextmanager
def _torch_seed(seed: int) -> Iterator[None]:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _torch(fn: str, **kw: Any) -> Callable[[tuple[int, ...], int], np.ndarray]:
    def draw(shape: tuple[int, ...], seed: int) -> np.ndarray:
        import torch

        t = torch.empty(_to_out_in(shape), dtype=torch.float32)
        with _torch_seed(seed):
            getattr(torch.nn.init, fn)(t, **kw)
        return _from_out_in(t.numpy().astype(np.float64))

    return draw


def _torch_layer(shape: tuple[int, ...], seed: int) -> np.ndarray:
    import torch

    *k, cin, cout = shape
    with _torch_seed(seed):
        layer = torch.nn.Linear(cin, cout) if not k else torch.nn.Conv2d(cin, cout, (k[0], k[1]))
    return _from_out_in(layer.weight.detach().numpy().astype(np.float64))


# --------------------------------------------------------------------------- keras


def _keras(cls: str, **kw: Any) -> Callable[[tuple[int, ...], int], np.ndarray]:
    def draw(shape: tuple[int, ...], seed: int) -> np.ndarray:
        import keras

        init = getattr(keras.initializers, cls)(**({"seed": seed} | kw) if cls not in _KERAS_UNSEEDED else kw)
        return np.asarray(keras.ops.convert_to_numpy(init(shape, dtype="float32")), np.float64)

    return draw


_KERAS_UNSEEDED = ("Constant", "Zeros", "Ones", "Identity")


# --------------------------------------------------------------------------- jax


def _jax(fn: str, **kw: Any) -> Callable[[tuple[int, ...], int], np.ndarray]:
    def draw(shape: tuple[int, ...], seed: int) -> np.ndarray:
        import jax

        init = getattr(jax.nn.initializers, fn)
        init = init(**kw) if fn not in ("zeros", "ones") else init
        return np.asarray(init(jax.random.key(seed), shape, jax.numpy.float32), np.float64)

    return draw


D = (DENSE,)
C = (CONV,)


def _recipe(fn: str, out_in: bool, **kw: Any) -> Callable[[tuple[int, ...], int], np.ndarray]:
    """A literal NumPy recipe drawn in its own layout, returned in ``in_out``."""

    def draw(shape: tuple[int, ...], seed: int) -> np.ndarray:
        from . import recipes

        rng = np.random.default_rng(seed)
        recipe = getattr(recipes, fn)
        if out_in:
            return _from_out_in(recipe(_to_out_in(shape), rng, **kw))
        return np.asarray(recipe(shape, rng, **kw))

    return draw


DC = (DENSE, CONV)  # recipe anchors: a dense and a conv shape

ANCHORS: tuple[Anchor, ...] = (
    # torch.nn.init
    Anchor(
        "torch.nn.init.xavier_uniform_",
        "glorot_uniform",
        "torch",
        _torch("xavier_uniform_"),
        {},
        False,
        VS_TORCH,
    ),
    Anchor(
        "torch.nn.init.xavier_normal_",
        "xavier_normal",
        "torch",
        _torch("xavier_normal_"),
        {},
        False,
        VS_TORCH,
    ),
    Anchor(
        "torch.nn.init.kaiming_uniform_",
        "kaiming_uniform",
        "torch",
        _torch("kaiming_uniform_", nonlinearity="relu"),
        {},
        False,
        VS_TORCH,
    ),
    Anchor(
        "torch.nn.init.kaiming_normal_",
        "kaiming_normal",
        "torch",
        _torch("kaiming_normal_", nonlinearity="relu"),
        {},
        False,
        VS_TORCH,
    ),
    Anchor(
        "torch.nn.init.kaiming_normal_(mode=fan_out, a=0.2)",
        "kaiming_normal",
        "torch",
        _torch("kaiming_normal_", a=0.2, mode="fan_out"),
        {"a": 0.2, "mode": "fan_out"},
    ),
    Anchor("torch.nn.Linear.reset_parameters", "torch_default", "torch", _torch_layer, {}, False, D),
    Anchor("torch.nn.Conv2d.reset_parameters", "torch_default", "torch", _torch_layer, {}, False, C),
    Anchor(
        "torch.nn.init.uniform_", "uniform", "torch", _torch("uniform_"), {"low": 0.0, "high": 1.0}, False, D
    ),
    Anchor("torch.nn.init.normal_", "normal", "torch", _torch("normal_"), {"std": 1.0}, False, D),
    Anchor("torch.nn.init.trunc_normal_", "trunc_normal", "torch", _torch("trunc_normal_"), {}, False, D),
    Anchor(
        "torch.nn.init.constant_", "constant", "torch", _torch("constant_", val=0.3), {"value": 0.3}, True, D
    ),
    Anchor("torch.nn.init.zeros_", "zeros", "torch", _torch("zeros_"), {}, True, D),
    Anchor("torch.nn.init.ones_", "ones", "torch", _torch("ones_"), {}, True, D),
    Anchor(
        "torch.nn.init.orthogonal_",
        "orthogonal",
        "torch",
        _torch("orthogonal_"),
        {},
        False,
        ((256, 128), (3, 3, 16, 64)),
    ),
    Anchor("torch.nn.init.eye_", "identity", "torch", _torch("eye_"), {}, True, ((40, 60),)),
    Anchor("torch.nn.init.dirac_", "dirac", "torch", _torch("dirac_"), {}, True, ((3, 3, 8, 16),)),
    Anchor(
        "torch.nn.init.sparse_", "sparse", "torch", _torch("sparse_", sparsity=0.1), {}, False, ((800, 600),)
    ),
    # keras.initializers
    Anchor("keras.initializers.VarianceScaling", "variance_scaling", "keras", _keras("VarianceScaling")),
    Anchor("keras.initializers.GlorotUniform", "glorot_uniform", "keras", _keras("GlorotUniform")),
    Anchor("keras.initializers.GlorotNormal", "glorot_normal", "keras", _keras("GlorotNormal")),
    Anchor("keras.initializers.HeUniform", "he_uniform", "keras", _keras("HeUniform")),
    Anchor("keras.initializers.HeNormal", "he_normal", "keras", _keras("HeNormal")),
    Anchor("keras.initializers.LecunUniform", "lecun_uniform", "keras", _keras("LecunUniform")),
    Anchor("keras.initializers.LecunNormal", "lecun_normal", "keras", _keras("LecunNormal")),
    Anchor("keras.initializers.RandomUniform", "uniform", "keras", _keras("RandomUniform"), {}, False, D),
    Anchor("keras.initializers.RandomNormal", "normal", "keras", _keras("RandomNormal"), {}, False, D),
    Anchor(
        "keras.initializers.TruncatedNormal",
        "truncated_normal",
        "keras",
        _keras("TruncatedNormal"),
        {},
        False,
        D,
    ),
    Anchor(
        "keras.initializers.Constant",
        "constant",
        "keras",
        _keras("Constant", value=0.3),
        {"value": 0.3},
        True,
        D,
    ),
    Anchor("keras.initializers.Zeros", "zeros", "keras", _keras("Zeros"), {}, True, D),
    Anchor("keras.initializers.Ones", "ones", "keras", _keras("Ones"), {}, True, D),
    Anchor(
        "keras.initializers.Orthogonal",
        "orthogonal",
        "keras",
        _keras("Orthogonal"),
        {},
        False,
        ((256, 128), (3, 3, 16, 64)),
    ),
    Anchor("keras.initializers.Identity", "identity", "keras", _keras("Identity"), {}, True, ((40, 60),)),
    # jax.nn.initializers
    Anchor(
        "jax.nn.initializers.variance_scaling",
        "variance_scaling",
        "jax",
        _jax("variance_scaling", scale=1.0, mode="fan_in", distribution="truncated_normal"),
    ),
    Anchor(
        "jax.nn.initializers.variance_scaling(fan_geo_avg, uniform)",
        "variance_scaling",
        "jax",
        _jax("variance_scaling", scale=2.0, mode="fan_geo_avg", distribution="uniform"),
        {"factor": 2.0, "mode": "fan_geo_avg", "distribution": "uniform"},
    ),
    Anchor("jax.nn.initializers.glorot_uniform", "glorot_uniform", "jax", _jax("glorot_uniform")),
    Anchor("jax.nn.initializers.glorot_normal", "glorot_normal", "jax", _jax("glorot_normal")),
    Anchor("jax.nn.initializers.he_uniform", "he_uniform", "jax", _jax("he_uniform")),
    Anchor("jax.nn.initializers.he_normal", "he_normal", "jax", _jax("he_normal")),
    Anchor("jax.nn.initializers.lecun_uniform", "lecun_uniform", "jax", _jax("lecun_uniform")),
    Anchor("jax.nn.initializers.lecun_normal", "lecun_normal", "jax", _jax("lecun_normal")),
    Anchor(
        "jax.nn.initializers.uniform", "uniform", "jax", _jax("uniform"), {"low": 0.0, "high": 0.01}, False, D
    ),
    Anchor("jax.nn.initializers.normal", "normal", "jax", _jax("normal"), {"std": 0.01}, False, D),
    Anchor(
        "jax.nn.initializers.truncated_normal",
        "truncated_normal",
        "jax",
        _jax("truncated_normal"),
        {"std": 0.01},
        False,
        D,
    ),
    Anchor(
        "jax.nn.initializers.constant",
        "constant",
        "jax",
        _jax("constant", value=0.3),
        {"value": 0.3},
        True,
        D,
    ),
    Anchor("jax.nn.initializers.zeros", "zeros", "jax", _jax("zeros"), {}, True, D),
    Anchor("jax.nn.initializers.ones", "ones", "jax", _jax("ones"), {}, True, D),
    Anchor(
        "jax.nn.initializers.orthogonal",
        "orthogonal",
        "jax",
        _jax("orthogonal"),
        {},
        False,
        ((256, 128), (3, 3, 16, 64)),
    ),
    Anchor(
        "jax.nn.initializers.delta_orthogonal",
        "delta_orthogonal",
        "jax",
        _jax("delta_orthogonal"),
        {},
        False,
        ((3, 3, 64, 128),),
    ),
    # literal recipes in NumPy (varinit/conformance/recipes.py): Caffe, TF1 contrib, tutorials
    Anchor(
        "caffe.XavierFiller", "lecun_uniform", "numpy", _recipe("caffe_xavier_filler", True), {}, False, DC
    ),
    Anchor(
        "caffe.XavierFiller(variance_norm=AVERAGE)",
        "lecun_uniform",
        "numpy",
        _recipe("caffe_xavier_filler", True, variance_norm="AVERAGE"),
        {"mode": "fan_avg"},
        False,
        DC,
    ),
    Anchor("caffe.MSRAFiller", "kaiming_normal", "numpy", _recipe("caffe_msra_filler", True), {}, False, DC),
    Anchor(
        "caffe.MSRAFiller(variance_norm=FAN_OUT)",
        "kaiming_normal",
        "numpy",
        _recipe("caffe_msra_filler", True, variance_norm="FAN_OUT"),
        {"mode": "fan_out"},
        False,
        DC,
    ),
    Anchor(
        "tf.contrib.layers.xavier_initializer(uniform=True)",
        "glorot_uniform",
        "numpy",
        _recipe("tf1_xavier_initializer", False, uniform=True),
        {},
        False,
        DC,
    ),
    Anchor(
        "tf.contrib.layers.xavier_initializer(uniform=False)",
        "tf1_xavier_normal",
        "numpy",
        _recipe("tf1_xavier_initializer", False, uniform=False),
        {},
        False,
        DC,
    ),
    Anchor(
        "recipe.numpy_lecun_normal",
        "lecun_normal_untruncated",
        "numpy",
        _recipe("numpy_lecun_normal", True),
        {},
        False,
        DC,
    ),
)


def anchors_for(scheme: str) -> list[Anchor]:
    """Anchors of one scheme (canonical name)."""
    return [a for a in ANCHORS if a.scheme == scheme]


def compare(anchor: Anchor, shape: tuple[int, ...], seed: int = 20261124) -> AnchorResult:
    """varinit (NumPy, portable stream, ``in_out``) against the anchor on the same shape.

    Exact anchors must agree elementwise; the others pass a two-sample KS test at
    ``ALPHA`` and have a std ratio within ``STD_TOL``. Orthogonal-type anchors are compared
    by the distribution of their entries (pooled over 8 draws).
    """
    from scipy import stats

    from ..core.api import init

    draws = 8 if anchor.scheme in ("orthogonal", "delta_orthogonal") else 1
    ours = np.concatenate(
        [
            np.asarray(
                init(anchor.scheme, shape, seed=seed + i, layout="in_out", **anchor.overrides), np.float64
            ).reshape(-1)
            for i in range(draws)
        ]
    )
    theirs = np.concatenate([anchor.draw(shape, seed + 100 + i).reshape(-1) for i in range(draws)])
    if ours.size != theirs.size:
        return AnchorResult(
            anchor.name,
            anchor.scheme,
            shape,
            False,
            math.nan,
            math.nan,
            f"sizes differ: {ours.size} vs {theirs.size}",
        )
    if anchor.exact:
        ok = bool(np.array_equal(ours, theirs))
        return AnchorResult(
            anchor.name,
            anchor.scheme,
            shape,
            ok,
            1.0 if ok else 0.0,
            1.0 if ok else math.nan,
            "" if ok else "values differ",
        )
    if anchor.scheme == "sparse":
        zo, zt = float(np.mean(ours == 0)), float(np.mean(theirs == 0))
        ours, theirs = ours[ours != 0], theirs[theirs != 0]
        if zo != zt:
            return AnchorResult(
                anchor.name, anchor.scheme, shape, False, math.nan, math.nan, f"zero fraction {zo} vs {zt}"
            )
    p = float(stats.ks_2samp(ours, theirs).pvalue)
    ratio = float(ours.std() / theirs.std())
    ok = p >= ALPHA and abs(ratio - 1) <= STD_TOL
    return AnchorResult(anchor.name, anchor.scheme, shape, ok, p, ratio)
