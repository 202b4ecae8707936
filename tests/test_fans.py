"""Fans and gains: every layout, explicit axes, groups, and the errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import varinit


@pytest.mark.parametrize(
    "shape,layout,kw,expected",
    [
        ((300, 100), "in_out", {}, (300, 100)),
        ((100, 300), "out_in", {}, (300, 100)),
        ((3, 3, 16, 32), "in_out", {}, (144, 288)),
        ((32, 16, 3, 3), "out_in", {}, (144, 288)),
        ((5, 7, 4, 8), "in_out", {}, (140, 280)),
        ((32, 16, 3, 3), "out_in", {"groups": 2}, (144, 144)),  # grouped conv
        ((32, 1, 3, 3), "out_in", {"groups": 32}, (9, 9)),  # depthwise
        ((3, 3, 1, 32), "in_out", {"groups": 32}, (9, 9)),
        ((10, 20, 30), "in_out", {"in_axis": 0, "out_axis": 2}, (200, 600)),
        ((4, 10, 20), "in_out", {"batch_axis": 0}, (10, 20)),
        ((2, 3, 4, 5), "in_out", {"in_axis": (0, 1), "out_axis": -1}, (24, 20)),
        ((7, 9), "in_out", {"fan_in": 5, "fan_out": 6}, (5, 6)),
    ],
)
def test_fans(shape: tuple[int, ...], layout: str, kw: dict[str, object], expected: tuple[int, int]) -> None:
    assert varinit.fans(shape, layout, **kw) == expected  # type: ignore[arg-type]


@given(st.lists(st.integers(1, 9), min_size=2, max_size=5))
def test_layouts_are_mirror_images(dims: list[int]) -> None:
    *k, cin, cout = dims
    in_out = (*k, cin, cout)
    out_in = (cout, cin, *k)
    assert varinit.fans(in_out, "in_out") == varinit.fans(out_in, "out_in")
    fi, fo = varinit.fans(in_out)
    assert fi * cout == fo * cin == math.prod(dims)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fewer_than_two_dims_explain_how_to_pass_fans(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="pass them explicitly"):
        varinit.fans(shape)
    assert varinit.fans(shape, fan_in=3, fan_out=4) == (3, 4)


@pytest.mark.parametrize(
    "kw,fragment",
    [
        ({"in_axis": 5}, "in_axis=5 is not an axis of a 2-D shape"),
        ({"in_axis": 0, "out_axis": 0}, "overlap"),
        ({"groups": 3}, "groups=3 does not divide"),
        ({"groups": 0}, "groups=0 is not allowed"),
        ({"fan_in": 0}, "fan_in=0 is not allowed"),
    ],
)
def test_fan_errors(kw: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        varinit.fans((4, 8), **kw)  # type: ignore[arg-type]


def test_bad_layout_and_shape() -> None:
    with pytest.raises(ValueError, match="layout='nchw' is not allowed"):
        varinit.fans((3, 4), "nchw")
    with pytest.raises(ValueError, match="negative"):
        varinit.fans((3, -4))
    with pytest.raises(TypeError, match="not a shape"):
        varinit.fans((3, 4.5))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name,param,expected",
    [
        ("linear", None, 1.0),
        ("conv2d", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5 / 3),
        ("relu", None, math.sqrt(2)),
        ("selu", None, 0.75),
        ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2 / 1.04)),
        ("leaky_relu", 0, math.sqrt(2)),
    ],
)
def test_gain_table(name: str, param: float | None, expected: float) -> None:
    assert varinit.gain(name, param) == pytest.approx(expected, rel=1e-15)


def test_unknown_gain_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: linear"):
        varinit.gain("swishy")


def test_std_formulas() -> None:
    # closed forms written out independently of the table
    assert varinit.std("he_normal", (512, 256)) == pytest.approx(math.sqrt(2 / 512))
    assert varinit.std("glorot_uniform", (300, 100)) == pytest.approx(math.sqrt(2 / 400))
    assert varinit.std("xavier_normal", (300, 100), gain=2.0) == pytest.approx(2 * math.sqrt(2 / 400))
    assert varinit.std("kumar_sigmoid", (400, 10)) == pytest.approx(math.sqrt(12.8 / 400))
    assert varinit.std("torch_default", (100, 64), layout="out_in") == pytest.approx(
        1 / math.sqrt(64) / math.sqrt(3)
    )
    assert varinit.std("variance_scaling", (20, 80), mode="fan_geo_avg") == pytest.approx(math.sqrt(1 / 40))
    assert varinit.std(
        "kaiming_normal", (64, 100), layout="out_in", nonlinearity="leaky_relu", a=0.2, mode="fan_out"
    ) == pytest.approx(math.sqrt(2 / 1.04) / math.sqrt(64))
    # TF1: sigma = sqrt(1.3 * 2 / fan_in), then truncated at +-2 sigma (std * 0.8796...)
    assert varinit.std("tf1_variance_scaling", (200, 10)) == pytest.approx(
        math.sqrt(1.3 * 2 / 200) * 0.87962566103423978
    )
    assert varinit.std("tf1_variance_scaling", (200, 10), uniform=True) == pytest.approx(math.sqrt(2 / 200))
