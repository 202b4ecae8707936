"""The textbook recipes (docs/recipes.md), each run literally against its varinit call.

Every comparison draws the recipe as written (the NumPy form, Keras' lower-case functions,
torch's ``kaiming_normal_``; TF1's and Caffe's formulas written out in NumPy in
``varinit/conformance/recipes.py``) and the varinit call on the same shape with fixed seeds.
They agree when a two-sample Kolmogorov-Smirnov test does not reject at ``ALPHA`` = 1e-3 and
the std ratio is within ``STD_TOL`` = 1 %. Every sample has at least 2e5 values, so 1 % is at
least 4.5 standard errors of the ratio. Tests that show a convention differing check that the
same criterion rejects it.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import MARKER, marks_for

import varinit
from varinit.cli import main
from varinit.conformance import recipes
from varinit.theory.activations import normalize
from varinit.theory.advice import PAIRINGS, Pairing

ROOT = Path(__file__).resolve().parents[1]
ALPHA = 1e-3
STD_TOL = 0.01
DENSE_OUT_IN = (256, 1024)  # (n_out, n_in): 262,144 values
DENSE_IN_OUT = (1024, 256)  # TF1/Keras (in, out)
BLOB = (128, 64, 5, 5)  # Caffe (num, channels, h, w) = (out, in, kh, kw): 204,800 values
KERNEL = (5, 5, 64, 128)  # the same conv in (kh, kw, in, out)


def _agree(recipe: Any, ours: Any) -> tuple[bool, float, float]:
    from scipy import stats

    a = np.asarray(recipe, np.float64).reshape(-1)
    b = np.asarray(ours, np.float64).reshape(-1)
    p = float(stats.ks_2samp(a, b).pvalue)
    ratio = float(b.std() / a.std())
    return p >= ALPHA and abs(ratio - 1) <= STD_TOL, p, ratio


def _assert_agree(recipe: Any, ours: Any) -> None:
    ok, p, ratio = _agree(recipe, ours)
    assert ok, f"KS p={p:.3g} (need >= {ALPHA}), std ratio={ratio:.4f} (need within {STD_TOL})"


def _rng(seed: int = 2026) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ the NumPy form, (out, in)

NUMPY_FORM: list[tuple[str, str, Callable[[int, int], float]]] = [
    ("lecun", "lecun_normal_untruncated", lambda n_out, n_in: np.sqrt(1 / n_in)),
    ("lecun-alias", "lecun_gaussian", lambda n_out, n_in: np.sqrt(1 / n_in)),
    ("glorot", "xavier_normal", lambda n_out, n_in: np.sqrt(2 / (n_in + n_out))),
    ("he", "kaiming_normal", lambda n_out, n_in: np.sqrt(2 / n_in)),
]


@pytest.mark.parametrize("name,scheme,scale", NUMPY_FORM, ids=[c[0] for c in NUMPY_FORM])
def test_numpy_form(name: str, scheme: str, scale: Callable[[int, int], float]) -> None:
    n_out, n_in = DENSE_OUT_IN
    recipe = np.random.RandomState(7).randn(n_out, n_in) * scale(n_out, n_in)
    ours = varinit.init(scheme, (n_out, n_in), seed=7, layout="out_in")
    assert ours.shape == recipe.shape
    _assert_agree(recipe, ours)


def test_numpy_form_without_layout_is_caught_by_the_same_criterion() -> None:
    """The pitfall: (n_out, n_in) read as (in, out) has fan_in = n_out, std off by sqrt(4),
    and the draw says so with a LayoutWarning naming the axis taken as fan_in."""
    n_out, n_in = DENSE_OUT_IN
    recipe = np.random.RandomState(7).randn(n_out, n_in) * np.sqrt(1 / n_in)
    with pytest.warns(varinit.LayoutWarning, match=rf"fan_in = axis 0 \({n_out}\)"):
        wrong = varinit.init("lecun_normal_untruncated", (n_out, n_in), seed=7)
    ok, _, ratio = _agree(recipe, wrong)
    assert not ok and ratio == pytest.approx(2.0, rel=0.01)


# ------------------------------------------------------------------ TF1 contrib, (in, out)

TF1: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("msra-preset", {"factor": 2.0, "mode": "FAN_IN", "uniform": False}, "tf1_variance_scaling", {}),
    ("caffe-preset", {"factor": 1.0, "mode": "FAN_IN", "uniform": True}, "caffe", {}),
    ("glorot-preset", {"factor": 1.0, "mode": "FAN_AVG", "uniform": True}, "glorot_uniform", {}),
    (
        "fan-out",
        {"factor": 2.0, "mode": "FAN_OUT", "uniform": False},
        "tf1_variance_scaling",
        {"mode": "FAN_OUT"},
    ),
]


@pytest.mark.parametrize("shape", [DENSE_IN_OUT, KERNEL], ids=["dense", "conv"])
@pytest.mark.parametrize("name,tf1,scheme,overrides", TF1, ids=[c[0] for c in TF1])
def test_tf1_variance_scaling_initializer(
    name: str, tf1: dict[str, Any], scheme: str, overrides: dict[str, Any], shape: tuple[int, ...]
) -> None:
    recipe = recipes.tf1_variance_scaling_initializer(shape, _rng(), **tf1)
    _assert_agree(recipe, varinit.init(scheme, shape, layout="in_out", seed=11, **overrides))


@pytest.mark.parametrize(
    "uniform,scheme",
    [(True, "xavier_initializer"), (True, "tf1_xavier_uniform"), (False, "tf1_xavier_normal")],
)
def test_tf1_xavier_initializer(uniform: bool, scheme: str) -> None:
    for shape in (DENSE_IN_OUT, KERNEL):
        recipe = recipes.tf1_xavier_initializer(shape, _rng(), uniform=uniform)
        _assert_agree(recipe, varinit.init(scheme, shape, layout="in_out", seed=12))


def test_tf1_truncation_factor_is_not_keras_correction() -> None:
    """TF1's 1.3 factor leaves Var = 1.3 * 0.7737 = 1.0058 times the target; Keras' is exact."""
    fi, fo = DENSE_IN_OUT
    target = math.sqrt(2 / (fi + fo))
    tf1 = varinit.std("tf1_xavier_normal", DENSE_IN_OUT)
    assert varinit.std("glorot_normal", DENSE_IN_OUT) == pytest.approx(target, rel=1e-12)
    assert (tf1 / target) ** 2 == pytest.approx(1.3 * 0.87962566103423978**2, rel=1e-9)


# ------------------------------------------------------------------ Caffe's fillers, (out, in)

CAFFE_MODE = {"FAN_IN": "fan_in", "FAN_OUT": "fan_out", "AVERAGE": "fan_avg"}


@pytest.mark.parametrize("variance_norm", list(CAFFE_MODE))
@pytest.mark.parametrize(
    "filler,scheme",
    [(recipes.caffe_xavier_filler, "caffe_xavier"), (recipes.caffe_msra_filler, "caffe_msra")],
    ids=["xavier", "msra"],
)
def test_caffe_fillers(filler: Callable[..., np.ndarray], scheme: str, variance_norm: str) -> None:
    recipe = filler(BLOB, _rng(), variance_norm=variance_norm)
    ours = varinit.init(scheme, BLOB, seed=13, layout="out_in", mode=CAFFE_MODE[variance_norm])
    _assert_agree(recipe, ours)


def test_caffe_xavier_is_not_glorots_xavier() -> None:
    """Same name, different variance: Caffe's 1 / fan_in against Glorot's 2 / (fan_in + fan_out)."""
    recipe = recipes.caffe_xavier_filler(BLOB, _rng())
    ok, _, ratio = _agree(recipe, varinit.init("glorot_uniform", BLOB, seed=13, layout="out_in"))
    fan_in, fan_out = 64 * 25, 128 * 25
    assert not ok and ratio == pytest.approx(math.sqrt(fan_in / ((fan_in + fan_out) / 2)), rel=0.01)
    # ... and Caffe's AVERAGE is Glorot's variance
    average = recipes.caffe_xavier_filler(BLOB, _rng(), variance_norm="AVERAGE")
    _assert_agree(average, varinit.init("glorot_uniform", BLOB, seed=13, layout="out_in"))


# ------------------------------------------------------------------ Keras' lower-case functions

KERAS_FUNCTIONS = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
)


def test_keras_he_normal_is_not_torch_kaiming_normal() -> None:
    """Same variance, different law: truncated at 2 sigma (Keras) against untruncated (torch)."""
    keras_form = varinit.init("he_normal", DENSE_IN_OUT, layout="in_out", seed=5)
    torch_form = varinit.init("kaiming_normal", DENSE_IN_OUT, layout="in_out", seed=6)
    ok, p, ratio = _agree(torch_form, keras_form)
    assert abs(ratio - 1) <= STD_TOL and p < ALPHA and not ok


# ------------------------------------------------------------------ PyTorch tutorials


@pytest.mark.torch
def test_torch_has_no_lecun_normal_and_kaiming_linear_is_the_untruncated_form() -> None:
    torch = pytest.importorskip("torch")
    from varinit.adapters import torch as vt

    assert not hasattr(torch.nn.init, "lecun_normal_")
    g = torch.Generator().manual_seed(4)
    recipe = torch.nn.init.kaiming_normal_(torch.empty(DENSE_OUT_IN), nonlinearity="linear", generator=g)
    ours = vt.init_(torch.empty(DENSE_OUT_IN), "lecun_normal_untruncated", seed=4)
    _assert_agree(recipe.numpy(), ours.numpy())
    msra = vt.init_(torch.empty(BLOB), "caffe_msra", seed=4)  # torch's layout is Caffe's
    _assert_agree(recipes.caffe_msra_filler(BLOB, _rng()), msra.numpy())


# ------------------------------------------------------------------ the layout pitfall in the CLI


def test_show_prints_the_fan_axes_and_the_other_reading(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "lecun_normal_untruncated", "--shape", "256,1024"]) == 0
    out = capsys.readouterr().out
    assert "fan_in = axis 0 (256); fan_out = axis 1 (1024)" in out and "default --layout in_out" in out
    assert "fan_in would be 1024 and std 0.03125" in out and "--layout out_in" in out
    assert main(["show", "lecun_normal_untruncated", "--shape", "256,1024", "--layout", "out_in"]) == 0
    out = capsys.readouterr().out
    assert "fan_in = axis 1 (1024); fan_out = axis 0 (256)" in out and "note:" not in out
    assert main(["show", "glorot_uniform", "--shape", "256,1024"]) == 0  # fan_avg: either reading
    assert "note:" not in capsys.readouterr().out


def test_sample_prints_the_fan_axes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "caffe_xavier", "--shape", "8x4x3x3", "--layout", "out_in"]) == 0
    out = capsys.readouterr().out
    assert "fan_in = axis 1 (4) x receptive field axis 2 (3) x axis 3 (3)" in out
    assert main(["sample", "he_normal", "--shape", "64,32"]) == 0
    out = capsys.readouterr().out
    assert "fan_in = axis 0 (64)" in out and "fan_in would be 32" in out


def test_the_default_layout_and_its_values_are_unchanged() -> None:
    """The pitfall is handled by explicitness, not by a new default: (in, out) stays."""
    assert varinit.std("he_normal", (64, 32)) == varinit.std("he_normal", (64, 32), layout="in_out")
    with pytest.warns(varinit.LayoutWarning):  # the guessed reading is named, not changed
        a = varinit.init("kaiming_normal", (64, 32), seed=1)
    b = varinit.init("kaiming_normal", (64, 32), seed=1, layout="in_out")
    assert np.array_equal(a, b)


# ------------------------------------------------------------------ the pairing table

PAIRED = [(p, act) for p in PAIRINGS for act in p.activations]


@pytest.mark.parametrize("pairing,activation", PAIRED, ids=[a for _, a in PAIRED])
def test_recommend_follows_the_pairing(pairing: Pairing, activation: str) -> None:
    advice = varinit.recommend(activation)
    assert advice.scheme == pairing.scheme and not advice.computed
    assert advice.rule.startswith(pairing.rule) and pairing.citation in advice.rule
    assert normalize(activation) in varinit.get(pairing.scheme).activations  # the table agrees
    text = str(advice)
    assert f"rule: {pairing.rule}" in text and "copy-paste:" in text
    for framework in ("numpy", "torch", "keras", "jax"):
        assert f'"{pairing.scheme}"' in advice.calls[framework], framework


def test_every_pairing_rule_is_covered() -> None:
    assert [p.rule for p in PAIRINGS] == ["Glorot", "He", "LeCun", "Kumar"]
    assert varinit.recommend("logistic").note == varinit.recommend("sigmoid").note != ""


@pytest.mark.parametrize("pairing", PAIRINGS, ids=[p.rule for p in PAIRINGS])
def test_numpy_copy_paste_call_runs(pairing: Pairing) -> None:
    ns: dict[str, Any] = {"fan_in": 300, "fan_out": 200}
    exec(varinit.recommend(pairing.activations[0]).calls["numpy"], ns)
    assert ns["w"].shape == (300, 200)
    assert float(ns["w"].std()) == pytest.approx(varinit.std(pairing.scheme, (300, 200)), rel=0.05)


@pytest.mark.torch
def test_torch_copy_paste_calls_run() -> None:
    torch = pytest.importorskip("torch")
    for p in PAIRINGS:
        layer = torch.nn.Linear(300, 200)
        exec(varinit.recommend(p.activations[0]).calls["torch"], {"layer": layer})
        got = float(layer.weight.detach().std())
        assert got == pytest.approx(varinit.std(p.scheme, (200, 300), layout="out_in"), rel=0.05)


@pytest.mark.jax
def test_jax_copy_paste_calls_run() -> None:
    pytest.importorskip("jax")
    for p in PAIRINGS:
        ns: dict[str, Any] = {"fan_in": 300, "fan_out": 200}
        exec(varinit.recommend(p.activations[0]).calls["jax"], ns)
        assert float(np.asarray(ns["w"]).std()) == pytest.approx(varinit.std(p.scheme, (300, 200)), rel=0.05)


def test_cli_recommend_prints_the_rule_and_the_calls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", "tanh"]) == 0
    out = capsys.readouterr().out
    assert "rule: Glorot (Glorot & Bengio 2010" in out
    for framework in ("numpy", "torch", "keras", "jax"):
        assert re.search(rf"^    {framework}\s+import ", out, flags=re.M), framework


# ------------------------------------------------------------------ the page itself


def _blocks() -> list[str]:
    text = (ROOT / "docs" / "recipes.md").read_text("utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _needs(code: str) -> list[str]:
    imports = "\n".join(line for line in code.splitlines() if line.lstrip().startswith(("import ", "from ")))
    return list(dict.fromkeys(re.findall(rf"\b({'|'.join(MARKER)})\b", imports)))


@pytest.mark.parametrize(
    "code", [pytest.param(c, id=f"block{i}", marks=marks_for(*_needs(c))) for i, c in enumerate(_blocks())]
)
def test_recipes_md_blocks_run(code: str) -> None:
    """Each block on its own in a fresh interpreter, as a reader would paste it."""
    missing = [m for m in _needs(code) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the block needs {', '.join(missing)}: not installed")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_recipes_md_has_a_block_per_form() -> None:
    assert len(_blocks()) >= 7


@pytest.mark.parametrize("module", ["varinit.conformance.recipes", "varinit.theory.advice"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------ Keras, last in the file
# TensorFlow loads its own LLVM; importing varinit.adapters.torch (Triton) after it can abort the
# process here, so the torch tests above run first when this file runs alone.


@pytest.mark.tensorflow
def test_keras_lower_case_functions() -> None:
    keras = pytest.importorskip("keras")
    for name in KERAS_FUNCTIONS:
        recipe = keras.ops.convert_to_numpy(getattr(keras.initializers, name)(seed=3)((512, 512)))
        _assert_agree(recipe, varinit.init(name, (512, 512), seed=3))


@pytest.mark.tensorflow
def test_keras_copy_paste_calls_run() -> None:
    keras = pytest.importorskip("keras")
    for p in PAIRINGS:
        ns: dict[str, Any] = {"units": 200}
        exec(varinit.recommend(p.activations[0]).calls["keras"], ns)
        layer = ns["layer"]
        layer.build((None, 300))
        got = float(keras.ops.convert_to_numpy(layer.kernel).std())
        assert got == pytest.approx(varinit.std(p.scheme, (300, 200)), rel=0.05)
