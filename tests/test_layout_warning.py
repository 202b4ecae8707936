"""varinit.LayoutWarning: the generic ``varinit.init`` names the layout it guessed for a 2-D
shape when the guess changes the std, and stays silent everywhere the layout is known.

Expected stds are written from the formulas (He: Var = 2 / fan_in, untruncated LeCun:
Var = 1 / fan_in), not taken from varinit. Framework tests import their framework lazily and
run in the order torch, JAX, TensorFlow/Keras (TensorFlow's LLVM loads last).
"""

from __future__ import annotations

import inspect
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import varinit
from varinit.core.errors import LayoutWarning

THIS_FILE = str(Path(__file__).resolve())


def _layout_warnings(draw: Callable[[], Any]) -> list[warnings.WarningMessage]:
    """The LayoutWarnings ``draw()`` emits, every one recorded (no once-per-site dedup)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [w for w in caught if issubclass(w.category, LayoutWarning)]


def _line_of(fragment: str, fn: Callable[..., Any]) -> int:
    """The absolute line number of the first source line of ``fn`` that contains ``fragment``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if fragment in line)


# ------------------------------------------------------------------ the class


def test_layout_warning_is_an_exported_user_warning() -> None:
    assert varinit.LayoutWarning is LayoutWarning
    assert issubclass(LayoutWarning, UserWarning)
    assert "LayoutWarning" in varinit.__all__


# ------------------------------------------------------------------ when it fires


WARNS: list[tuple[str, tuple[int, int], dict[str, Any]]] = [
    ("he_normal", (256, 512), {}),  # fan_in mode, wide
    ("he_normal", (512, 256), {}),  # fan_in mode, narrow
    ("kaiming_uniform", (64, 32), {}),
    ("lecun_normal_untruncated", (256, 1024), {}),
    ("variance_scaling", (30, 20), {"mode": "fan_out"}),
    ("tf1_variance_scaling", (30, 20), {}),
    ("caffe_xavier", (30, 20), {}),
    ("torch_default", (30, 20), {}),
]


@pytest.mark.parametrize("scheme,shape,overrides", WARNS, ids=[f"{c[0]}-{c[1]}" for c in WARNS])
def test_warns_for_a_2d_fan_scheme_without_layout(
    scheme: str, shape: tuple[int, int], overrides: dict[str, Any]
) -> None:
    caught = _layout_warnings(lambda: varinit.init(scheme, shape, seed=0, **overrides))
    assert len(caught) == 1


def test_warns_for_a_scheme_object_and_a_registered_row() -> None:
    assert len(_layout_warnings(lambda: varinit.init(varinit.get("he_normal"), (64, 32), seed=0))) == 1
    varinit.register("my_fan_out", "variance_scaling", params={"mode": "fan_out"})
    assert len(_layout_warnings(lambda: varinit.init("my_fan_out", (64, 32), seed=0))) == 1


def test_warns_with_index_and_dtype() -> None:
    """A block of the global tensor still has the global tensor's guessed fans."""
    caught = _layout_warnings(
        lambda: varinit.init("he_normal", (64, 32), seed=0, dtype="float64", index=(slice(0, 8),))
    )
    assert len(caught) == 1


SILENT: list[tuple[str, str, tuple[int, ...], dict[str, Any]]] = [
    ("layout-in_out", "he_normal", (256, 512), {"layout": "in_out"}),
    ("layout-out_in", "he_normal", (256, 512), {"layout": "out_in"}),
    ("in_axis", "he_normal", (256, 512), {"in_axis": 0}),
    ("out_axis", "he_normal", (256, 512), {"out_axis": 1}),
    ("in_axis-and-out_axis", "he_normal", (256, 512), {"in_axis": 1, "out_axis": 0}),
    ("fan_in", "he_normal", (256, 512), {"fan_in": 512}),
    ("fan_in-and-fan_out", "he_normal", (256, 512), {"fan_in": 512, "fan_out": 256}),
    ("fan_out-mode-fan_out", "variance_scaling", (256, 512), {"mode": "fan_out", "fan_out": 256}),
    ("square", "he_normal", (256, 256), {}),
    ("1-D", "normal", (256,), {}),
    ("1-D-with-fan", "he_normal", (256,), {"fan_in": 64}),
    ("3-D", "he_normal", (3, 64, 32), {}),
    ("conv-4-D", "he_normal", (3, 3, 16, 32), {}),
    ("conv-4-D-torch-shape", "he_normal", (32, 16, 3, 3), {}),
    ("zero-size", "he_normal", (0, 32), {}),
    ("glorot-fan_avg", "glorot_uniform", (256, 512), {}),
    ("xavier_normal-fan_avg", "xavier_normal", (256, 512), {}),
    ("fan_avg-override", "he_normal", (256, 512), {"mode": "fan_avg"}),
    ("normal", "normal", (256, 512), {}),
    ("uniform", "uniform", (256, 512), {}),
    ("truncated_normal", "truncated_normal", (256, 512), {}),
    ("zeros", "zeros", (256, 512), {}),
    ("ones", "ones", (256, 512), {}),
    ("constant", "constant", (256, 512), {"value": 0.5}),
    ("orthogonal", "orthogonal", (256, 512), {}),  # a 2-D orthogonal matrix is the same either way
    ("identity", "identity", (256, 512), {}),
]


@pytest.mark.parametrize("scheme,shape,kw", [c[1:] for c in SILENT], ids=[c[0] for c in SILENT])
def test_silent_where_the_layout_is_given_or_does_not_matter(
    scheme: str, shape: tuple[int, ...], kw: dict[str, Any]
) -> None:
    assert _layout_warnings(lambda: varinit.init(scheme, shape, seed=0, **kw)) == []


def test_silent_before_an_error_the_call_itself_raises() -> None:
    """An invalid call raises its own error; the layout check adds nothing on the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        with pytest.raises(ValueError, match="fan_in and fan_out are undefined"):
            varinit.init("he_normal", (256,), seed=0)
        with pytest.raises(ValueError, match="layout="):
            varinit.init("he_normal", (256, 512), seed=0, layout="io")
        with pytest.raises(varinit.UnknownSchemeError):
            varinit.init("he_norml", (256, 512), seed=0)


def test_the_std_helpers_and_fans_do_not_warn() -> None:
    """Only draws warn: ``std``/``fans`` are how a user checks a reading before drawing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        assert varinit.std("he_normal", (256, 512)) == pytest.approx(math.sqrt(2 / 256), rel=1e-12)
        assert varinit.fans((256, 512)) == (256, 512)


def test_the_values_do_not_change() -> None:
    """The warning names the guess; the draw is the documented (in, out) one, bit for bit."""
    with pytest.warns(LayoutWarning):
        guessed = varinit.init("he_normal", (64, 32), seed=5)
    assert np.array_equal(guessed, varinit.init("he_normal", (64, 32), seed=5, layout="in_out"))


# ------------------------------------------------------------------ the message


def test_message_names_the_shape_the_axes_both_stds_and_the_fix() -> None:
    caught = _layout_warnings(lambda: varinit.init("he_normal", (256, 512), seed=0))
    text = str(caught[0].message)
    assert "(256, 512)" in text and "'he_normal'" in text
    assert "fan_in = axis 0 (256)" in text and "fan_in would be axis 1 (512)" in text
    assert f"std {math.sqrt(2 / 256):.6g}" in text  # He: Var = 2 / fan_in, read as (in, out)
    assert f"std {math.sqrt(2 / 512):.6g}" in text  # read as (out, in)
    assert 'layout="in_out"' in text and 'layout="out_in"' in text
    assert 'warnings.filterwarnings("ignore", category=varinit.LayoutWarning)' in text


def test_message_of_the_numpy_form() -> None:
    """The issue's case: ``np.random.randn(n_out, n_in) * sqrt(1 / n_in)`` copied as is."""
    n_out, n_in = 256, 1024
    caught = _layout_warnings(lambda: varinit.init("lecun_normal_untruncated", (n_out, n_in), seed=0))
    text = str(caught[0].message)
    assert f"std {math.sqrt(1 / n_out):.6g}" in text and f"std {math.sqrt(1 / n_in):.6g}" in text


# ------------------------------------------------------------------ silencing, stacklevel


def test_the_documented_filter_silences_it() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=varinit.LayoutWarning)
        varinit.init("he_normal", (256, 512), seed=0)
        varinit.init("he_normal", (256, 512), seed=0, backend="dask", chunks=128)
    assert caught == []


def test_once_per_call_site_under_the_default_filter() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")  # Python's default action for a UserWarning
        for _ in range(3):
            varinit.init("he_normal", (256, 512), seed=0)
        varinit.init("he_normal", (256, 512), seed=0)  # another line: its own warning
    assert len([w for w in caught if issubclass(w.category, LayoutWarning)]) == 2


def test_stacklevel_points_at_the_callers_line() -> None:
    caught = _layout_warnings(lambda: varinit.init("he_normal", (256, 512), seed=0))  # <- the caller
    assert Path(caught[0].filename).resolve() == Path(THIS_FILE)
    assert caught[0].lineno == _line_of("# <- the caller", test_stacklevel_points_at_the_callers_line)


def test_stacklevel_of_the_dask_front_door() -> None:
    """One warning at the caller's line; computing the chunks adds none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x = varinit.init("he_normal", (64, 32), seed=0, backend="dask", chunks=16)  # <- the caller
        got = x.compute()
    layout = [w for w in caught if issubclass(w.category, LayoutWarning)]
    assert len(layout) == 1
    assert Path(layout[0].filename).resolve() == Path(THIS_FILE)
    assert layout[0].lineno == _line_of("# <- the caller", test_stacklevel_of_the_dask_front_door)
    assert np.array_equal(got, varinit.init("he_normal", (64, 32), seed=0, layout="in_out"))


def test_stacklevel_of_an_array_api_namespace() -> None:
    xp = pytest.importorskip("array_api_strict")

    def draw() -> Any:
        return varinit.init("he_normal", (64, 32), backend=xp, seed=0)  # <- the caller

    caught = _layout_warnings(draw)
    assert Path(caught[0].filename).resolve() == Path(THIS_FILE)
    assert caught[0].lineno == _line_of("# <- the caller", draw)


def test_the_cli_draws_without_the_warning(capsys: pytest.CaptureFixture[str]) -> None:
    """``varinit sample`` prints the guessed axes itself (its note), so it passes the layout."""
    from varinit.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        assert main(["sample", "he_normal", "--shape", "64,32"]) == 0
    assert "fan_in would be 32" in capsys.readouterr().out


def test_the_numpy_copy_paste_call_of_recommend_does_not_warn() -> None:
    ns: dict[str, Any] = {"fan_in": 300, "fan_out": 200}
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayoutWarning)
        exec(varinit.recommend("relu").calls["numpy"], ns)
    assert ns["w"].shape == (300, 200)
    assert float(ns["w"].std()) == pytest.approx(math.sqrt(2 / 300), rel=0.05)


# ------------------------------------------------------------------ framework front doors
# Each knows its layout, so none warns; the generic call with backend=<framework> does.


@pytest.mark.torch
def test_torch_front_doors_do_not_warn_and_the_generic_call_does() -> None:
    torch = pytest.importorskip("torch")
    from varinit.adapters import torch as vt

    def front_doors() -> None:
        vt.init_(torch.empty(64, 32), "he_normal", seed=0)
        vt.kaiming_normal_(torch.empty(64, 32))
        vt.init_module(torch.nn.Linear(32, 64), {"weight": "he_normal", "bias": "zeros"}, seed=0)
        vt.init_module(torch.nn.Sequential(torch.nn.Linear(32, 64)), {torch.nn.Linear: "he_uniform"}, seed=0)

    assert _layout_warnings(front_doors) == []

    def draw() -> Any:
        return varinit.init("he_normal", (64, 32), backend="torch", seed=0)  # <- the caller

    caught = _layout_warnings(draw)
    assert len(caught) == 1 and Path(caught[0].filename).resolve() == Path(THIS_FILE)
    assert caught[0].lineno == _line_of("# <- the caller", draw)


@pytest.mark.jax
def test_jax_front_doors_do_not_warn_and_the_generic_call_does() -> None:
    jax = pytest.importorskip("jax")
    from varinit.adapters import jax as vj

    def front_doors() -> None:
        key = jax.random.key(0)
        vj.initializer("he_normal")(key, (64, 32))
        vj.initializer("he_normal")(0, (64, 32))
        vj.he_normal()(key, (64, 32))
        vj.lecun_normal()(key, (64, 32))
        vj.variance_scaling(2.0, "fan_in", "truncated_normal")(key, (64, 32))
        vj.init_sharded("he_normal", (64, 32), jax.sharding.SingleDeviceSharding(jax.devices()[0]), 0)

    assert _layout_warnings(front_doors) == []
    assert len(_layout_warnings(lambda: varinit.init("he_normal", (64, 32), backend="jax", seed=0))) == 1


@pytest.mark.tensorflow
def test_tensorflow_and_keras_front_doors_do_not_warn_and_the_generic_call_does() -> None:
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    from varinit.adapters import keras as vk
    from varinit.adapters import tensorflow as vtf

    def front_doors() -> None:
        vtf.initializer("he_normal", seed=0)((64, 32))
        vk.Initializer("he_normal", seed=0)((64, 32))
        vk.HeNormal(seed=0)((64, 32))
        layer = keras.layers.Dense(64, kernel_initializer=vk.Initializer("lecun_normal", seed=1))
        layer.build((None, 32))

    assert _layout_warnings(front_doors) == []
    generic = _layout_warnings(lambda: varinit.init("he_normal", (64, 32), backend="tensorflow", seed=0))
    assert len(generic) == 1


def test_the_warning_text_has_no_stray_format_fields() -> None:
    text = str(_layout_warnings(lambda: varinit.init("he_normal", (64, 32), seed=0))[0].message)
    assert not re.search(r"[{}]", text)
