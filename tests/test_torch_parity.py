"""varinit.adapters.torch as torch.nn.init: the checks PyTorch's own initializer tests make,
against varinit's names; timm's initializers against timm's.

Statistics: one-sample Kolmogorov-Smirnov tests against the exact law, written out here
from torch's documented formulas (not from varinit), at alpha = 1e-3, and two-sample tests
against timm at the same alpha. Every seed is fixed, so each test is deterministic.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch.nn.init as tinit  # noqa: E402
from scipy import stats  # noqa: E402
from varinit.adapters import timm as vtimm  # noqa: E402
from varinit.adapters import torch as vinit  # noqa: E402

import varinit  # noqa: E402

ALPHA = 1e-3
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide-torch.md"
TORCH_NAMES = list(tinit.__all__)
UNDERSCORED = [n for n in TORCH_NAMES if n.endswith("_")]
DEPRECATED = [n for n in TORCH_NAMES if not n.endswith("_") and n != "calculate_gain"]
FIXED = ["constant_", "ones_", "zeros_", "eye_", "dirac_"]  # names that draw nothing
RANDOM = [n for n in UNDERSCORED if n not in FIXED]
SHAPES = {"eye_": (5, 7), "dirac_": (6, 4, 3, 3)}
ARGS: dict[str, tuple[Any, ...]] = {"constant_": (0.25,), "sparse_": (0.3,)}
INTS = [torch.int64, torch.int32, torch.int16, torch.uint8, torch.bool]
COMPLEX = [torch.complex64, torch.complex128]
TORCH_COMPLEX = ["uniform_", "normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_"]
TORCH_COMPLEX += ["kaiming_normal_", "sparse_", *FIXED]


def _call(module: Any, name: str, t: torch.Tensor, **kw: Any) -> Any:
    return getattr(module, name)(t, *ARGS.get(name.rstrip("_") + "_", ()), **kw)


def _shape(name: str) -> tuple[int, ...]:
    return SHAPES.get(name, (6, 10))


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _ks(x: torch.Tensor, cdf: Any) -> None:
    sample = x.detach().double().cpu().reshape(-1).numpy()
    p = stats.kstest(sample, cdf).pvalue
    assert p > ALPHA, f"KS p = {p:.2e} <= {ALPHA}"


def _normal(mean: float, std: float) -> Any:
    return stats.norm(mean, std).cdf


def _uniform(lo: float, hi: float) -> Any:
    return stats.uniform(lo, hi - lo).cdf


def _sources() -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, keywords) for the three sources; the global one reseeds torch first."""
    yield "seed", {"seed": 20260101}
    yield "generator", {"generator": torch.Generator().manual_seed(7)}
    torch.manual_seed(11)
    yield "global", {}


def _warned(fn: Callable[[], Any]) -> list[tuple[type[Warning], str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [(w.category, str(w.message)) for w in caught]


# --------------------------------------------------------------------------- names and signatures


def test_every_public_name_of_torch_nn_init_is_there() -> None:
    missing = [n for n in TORCH_NAMES if not callable(getattr(vinit, n, None))]
    assert not missing
    assert set(TORCH_NAMES) <= set(vinit.__all__)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_signature_is_torchs_plus_keyword_only_seed(name: str) -> None:
    theirs = inspect.signature(getattr(tinit, name)).parameters
    ours = dict(inspect.signature(getattr(vinit, name)).parameters)
    if name not in ("calculate_gain", *DEPRECATED):
        assert ours.pop("seed").kind is inspect.Parameter.KEYWORD_ONLY
        if "generator" not in theirs:  # the names that draw nothing take it too, keyword-only
            assert ours.pop("generator").kind is inspect.Parameter.KEYWORD_ONLY
    strip = [(p.name, p.kind, p.default) for p in theirs.values()]
    assert [(p.name, p.kind, p.default) for p in ours.values()] == strip


@pytest.mark.parametrize("name", UNDERSCORED)
def test_fills_in_place_and_keeps_shape_dtype_and_requires_grad(name: str) -> None:
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        p = torch.nn.Parameter(torch.zeros(_shape(name), dtype=dtype))
        out = _call(vinit, name, p, seed=1)
        assert out is p and p.dtype == dtype and tuple(p.shape) == _shape(name)
        assert p.requires_grad and p.grad_fn is None and torch.isfinite(p).all()


# --------------------------------------------------------------------------- calculate_gain


@pytest.mark.parametrize(
    "args,expected",
    [
        (("linear",), 1.0),
        (("conv_transpose3d",), 1.0),
        (("sigmoid",), 1.0),
        (("tanh",), 5 / 3),
        (("relu",), math.sqrt(2)),
        (("selu",), 0.75),
        (("leaky_relu",), math.sqrt(2 / (1 + 0.01**2))),
        (("leaky_relu", None), math.sqrt(2 / (1 + 0.01**2))),
        (("leaky_relu", 0), math.sqrt(2)),
        (("leaky_relu", 3), math.sqrt(2 / 10)),
    ],
)
def test_calculate_gain_values(args: tuple[Any, ...], expected: float) -> None:
    assert vinit.calculate_gain(*args) == pytest.approx(expected, rel=1e-15)
    assert vinit.calculate_gain(*args) == tinit.calculate_gain(*args)


@pytest.mark.parametrize(
    "args", [("leaky_relu", True), ("leaky_relu", "0.1"), ("leaky_relu", [1]), ("swishy",), (3,)]
)
def test_calculate_gain_rejects_what_torch_rejects(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        tinit.calculate_gain(*args)
    with pytest.raises(ValueError):
        vinit.calculate_gain(*args)


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("source", ["seed", "generator", "global"])
@pytest.mark.parametrize("shape", [(200, 150), (64, 32, 3, 3)], ids=["dense", "conv"])
def test_variance_scaling_names_follow_torchs_formulas(shape: tuple[int, ...], source: str) -> None:
    kw = dict(_sources())[source]
    fan_in, fan_out = _fans(shape)
    gain = 1.7
    a = 0.3
    leaky = math.sqrt(2 / (1 + a * a))
    cases: list[tuple[str, dict[str, Any], Any]] = [
        (
            "xavier_uniform_",
            {"gain": gain},
            _uniform(*(s * gain * math.sqrt(6 / (fan_in + fan_out)) for s in (-1, 1))),
        ),
        ("xavier_normal_", {"gain": gain}, _normal(0, gain * math.sqrt(2 / (fan_in + fan_out)))),
        ("kaiming_uniform_", {"a": a}, _uniform(*(s * leaky * math.sqrt(3 / fan_in) for s in (-1, 1)))),
        (
            "kaiming_uniform_",
            {"mode": "fan_out", "nonlinearity": "relu"},
            _uniform(*(s * math.sqrt(6 / fan_out) for s in (-1, 1))),
        ),
        ("kaiming_normal_", {"a": a, "mode": "fan_out"}, _normal(0, leaky / math.sqrt(fan_out))),
        ("kaiming_normal_", {"nonlinearity": "tanh"}, _normal(0, 5 / 3 / math.sqrt(fan_in))),
    ]
    for name, params, cdf in cases:
        _ks(getattr(vinit, name)(torch.empty(shape), **params, **kw), cdf)


@pytest.mark.parametrize("source", ["seed", "generator", "global"])
def test_uniform_normal_trunc_normal_laws(source: str) -> None:
    kw = dict(_sources())[source]
    shape = (300, 100)
    _ks(vinit.uniform_(torch.empty(shape), -2.5, 1.5, **kw), _uniform(-2.5, 1.5))
    _ks(vinit.uniform_(torch.empty(shape), **kw), _uniform(0, 1))
    _ks(vinit.normal_(torch.empty(shape), 3.0, 0.5, **kw), _normal(3.0, 0.5))
    for mean, std, a, b in [
        (0.0, 1.0, -2.0, 2.0),
        (0.5, 2.0, -1.0, 3.0),
        (0.0, 1.0, 2.0, 3.0),
        (0.0, 1.0, 5.0, 7.0),
    ]:
        x = vinit.trunc_normal_(torch.empty(shape), mean, std, a, b, **kw)
        assert a <= x.min() and x.max() <= b
        _ks(x, stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std).cdf)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_trunc_normal_stays_inside_and_varies(dtype: torch.dtype) -> None:
    x = vinit.trunc_normal_(torch.empty(20_000, dtype=dtype), std=0.5, a=-1.0, b=1.0, seed=3)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.unique().numel() > (300 if dtype == torch.bfloat16 else 1500)


@pytest.mark.parametrize("source", ["seed", "generator", "global"])
def test_sparse_zeros_per_column_and_normal_rest(source: str) -> None:
    kw = dict(_sources())[source]
    rows, cols, sparsity, std = 200, 300, 0.15, 0.2
    x = vinit.sparse_(torch.empty(rows, cols), sparsity, std, **kw)
    assert ((x == 0).sum(dim=0) >= math.ceil(sparsity * rows)).all()
    _ks(x[x != 0], _normal(0, std))


@pytest.mark.parametrize("shape", [(5, 9), (9, 5), (16, 2, 3, 3), (3, 4, 5, 2)])
@pytest.mark.parametrize("gain", [1, 0.6])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(shape: tuple[int, ...], gain: float) -> None:
    for kw in dict(_sources()).values():
        m = vinit.orthogonal_(torch.empty(shape, dtype=torch.float64), gain, **kw).reshape(shape[0], -1)
        small = m.T @ m if m.shape[0] > m.shape[1] else m @ m.T
        torch.testing.assert_close(small, gain**2 * torch.eye(small.shape[0], dtype=torch.float64))


def test_fixed_names_give_torchs_exact_values() -> None:
    for name, shape in [("eye_", (4, 6)), ("eye_", (6, 4)), ("dirac_", (6, 4, 3)), ("dirac_", (4, 6, 3, 5))]:
        torch.testing.assert_close(
            _call(vinit, name, torch.randn(shape)), _call(tinit, name, torch.randn(shape))
        )
    for groups in (1, 2, 3):
        ours, theirs = torch.randn(6, 3, 3, 3), torch.randn(6, 3, 3, 3)
        torch.testing.assert_close(vinit.dirac_(ours, groups), tinit.dirac_(theirs, groups))
    for name, value in [("ones_", 1.0), ("zeros_", 0.0)]:
        assert (_call(vinit, name, torch.randn(3, 4)) == value).all()
    assert (vinit.constant_(torch.randn(2, 3, 4), -1.5) == -1.5).all()


# --------------------------------------------------------------------------- sources


def test_seed_none_is_torchs_global_generator_and_generator_is_the_same_stream() -> None:
    for name in RANDOM:
        torch.manual_seed(5)
        a = _call(vinit, name, torch.empty(40, 30))
        b = _call(vinit, name, torch.empty(40, 30), generator=torch.Generator().manual_seed(5))
        assert torch.equal(a, b), name
        assert not torch.equal(a, _call(vinit, name, torch.empty(40, 30))), name  # the state moved on


def test_int_seed_is_the_portable_stream() -> None:
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "kaiming_normal_"):
        a = _call(vinit, name, torch.empty(40, 30), seed=9)
        assert torch.equal(a, _call(vinit, name, torch.empty(40, 30), seed=9))
    x = vinit.kaiming_normal_(torch.empty(40, 30), a=0.2, mode="fan_out", seed=9)
    n = varinit.init("kaiming_normal", (40, 30), seed=9, layout="out_in", a=0.2, mode="fan_out")
    assert np.array_equal(x.numpy(), n)


def test_names_that_draw_nothing_need_no_generator() -> None:
    """eye_, zeros_, ... with seed=None never look up a default generator (any device works)."""
    from varinit.adapters import _torch_fill  # where torch's fills look the generator up

    with mock.patch.object(_torch_fill, "_default_generator", side_effect=AssertionError("looked up")):
        for name in FIXED:
            for dtype in (torch.float32, torch.int64, torch.complex64):
                _call(vinit, name, torch.empty(_shape(name), dtype=dtype))


def test_seed_and_generator_together_is_an_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        vinit.normal_(torch.empty(3, 3), seed=1, generator=torch.Generator())


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "name,shape",
    [
        ("xavier_uniform_", ()),
        ("xavier_uniform_", (4,)),
        ("xavier_normal_", (4,)),
        ("kaiming_uniform_", ()),
        ("kaiming_normal_", (4,)),
        ("eye_", (4,)),
        ("eye_", (2, 3, 4)),
        ("dirac_", (4,)),
        ("dirac_", (4, 4)),
        ("dirac_", (2, 2, 2, 2, 2, 2)),
        ("orthogonal_", (4,)),
        ("sparse_", (4,)),
        ("sparse_", (4, 4, 4)),
    ],
)
def test_shape_errors_are_value_errors_like_torchs(name: str, shape: tuple[int, ...]) -> None:
    for module in (tinit, vinit):
        with pytest.raises(ValueError):
            _call(module, name, torch.ones(shape))


def test_dirac_groups_must_divide_the_output_channels() -> None:
    for module in (tinit, vinit):
        with pytest.raises(ValueError):
            module.dirac_(torch.empty(5, 2, 3), groups=2)


@pytest.mark.parametrize("dtype", INTS, ids=str)
@pytest.mark.parametrize("name", RANDOM)
def test_names_that_draw_reject_integer_tensors(name: str, dtype: torch.dtype) -> None:
    with pytest.raises((NotImplementedError, RuntimeError)):
        _call(tinit, name, torch.zeros(_shape(name), dtype=dtype))
    with pytest.raises(TypeError, match="cannot hold"):
        _call(vinit, name, torch.zeros(_shape(name), dtype=dtype))


@pytest.mark.parametrize("name", ["trunc_normal_", "orthogonal_"])
def test_complex_is_rejected_where_torch_rejects_it(name: str) -> None:
    with pytest.raises(NotImplementedError):
        _call(tinit, name, torch.zeros(4, 4, dtype=torch.complex64))
    with pytest.raises(TypeError, match="no complex form"):
        _call(vinit, name, torch.zeros(4, 4, dtype=torch.complex64))


def test_not_a_tensor_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        vinit.zeros_(np.zeros(3))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- meta, empty, warnings


@pytest.mark.parametrize("name", UNDERSCORED)
def test_meta_tensors_are_returned_untouched_without_warnings(name: str) -> None:
    t = torch.empty(_shape(name), device="meta")
    assert _warned(lambda: _call(vinit, name, t)) == []
    assert _call(vinit, name, t) is t and t.is_meta


def test_meta_tensors_still_get_torchs_shape_checks() -> None:
    for module in (tinit, vinit):
        with pytest.raises(ValueError):
            module.xavier_uniform_(torch.empty(4, device="meta"))
        with pytest.raises(ValueError):
            module.dirac_(torch.empty(4, 4, device="meta"))


@pytest.mark.parametrize("name", UNDERSCORED)
@pytest.mark.parametrize("empty", [0, 1], ids=["rows", "columns"])
def test_zero_element_warnings_are_torchs(name: str, empty: int) -> None:
    """kaiming_* warn, the others are silent: exactly torch's warnings, per name."""
    shape = list(_shape(name))
    shape[empty] = 0
    theirs = _warned(lambda: _call(tinit, name, torch.empty(shape)))
    ours = _warned(lambda: _call(vinit, name, torch.empty(shape)))
    assert ours == theirs
    assert bool(ours) == name.startswith("kaiming")


@pytest.mark.parametrize("name", UNDERSCORED)
def test_warnings_on_ordinary_calls_are_torchs(name: str) -> None:
    theirs = _warned(lambda: _call(tinit, name, torch.empty(_shape(name))))
    assert _warned(lambda: _call(vinit, name, torch.empty(_shape(name)))) == theirs == []


def test_zero_element_warning_points_at_the_caller() -> None:
    with pytest.warns(UserWarning, match="zero-element") as record:
        vinit.kaiming_uniform_(torch.empty(0, 4))
    assert record[0].filename == __file__


@pytest.mark.parametrize("name", DEPRECATED)
def test_deprecated_names_warn_like_torchs_and_forward(name: str) -> None:
    with pytest.warns(
        FutureWarning, match=rf"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`"
    ):
        out = _call(vinit, name, torch.zeros(_shape(name + "_")), seed=4)
    assert torch.equal(out, _call(vinit, name + "_", torch.zeros(_shape(name + "_")), seed=4))


def _patched() -> Any:
    return mock.patch.multiple(tinit, **{n: getattr(vinit, n) for n in TORCH_NAMES})


def _layers() -> list[torch.nn.Module]:
    return [
        torch.nn.Linear(8, 4),
        torch.nn.Linear(0, 4),  # a zero-element weight (warns, as torch does) and a U(0, 0) bias
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.ConvTranspose1d(4, 6, 3, groups=2),
        torch.nn.MultiheadAttention(16, 4),
        torch.nn.TransformerEncoderLayer(16, 4, 32),
        torch.nn.LSTM(8, 16),
        torch.nn.Embedding(10, 4, padding_idx=0),
        torch.nn.BatchNorm1d(4),
        torch.nn.Bilinear(3, 4, 5),
    ]


def test_patched_into_torch_nn_init_torchs_layers_build_on_meta_and_on_cpu() -> None:
    with _patched(), pytest.warns(UserWarning, match="zero-element"):
        with torch.device("meta"):
            meta = _layers()
        torch.manual_seed(0)
        real = _layers()
    assert all(p.is_meta for m in meta for p in m.parameters())
    assert all(torch.isfinite(p).all() for m in real for p in m.parameters())
    assert (real[1].bias == 0).all()  # nn.Linear(0, n): uniform_(bias, -0.0, 0.0)


# --------------------------------------------------------------------------- dtypes torch accepts


@pytest.mark.parametrize("dtype", INTS, ids=str)
def test_fixed_names_fill_integer_and_bool_tensors_like_torch(dtype: torch.dtype) -> None:
    cases = [("constant_", (3, 4), (1,)), ("constant_", (3, 4), (2.7,)), ("ones_", (3, 4), ())]
    cases += [("zeros_", (3, 4), ()), ("eye_", (3, 5), ()), ("dirac_", (4, 2, 3, 3), (2,))]
    for name, shape, args in cases:
        ours = getattr(vinit, name)(torch.full(shape, 1, dtype=dtype), *args)
        theirs = getattr(tinit, name)(torch.full(shape, 1, dtype=dtype), *args)
        assert ours.dtype == dtype and torch.equal(ours, theirs), (name, args)


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_complex_fixed_names_equal_torchs(dtype: torch.dtype) -> None:
    for name, shape, args in [
        ("constant_", (3, 4), (1 - 2j,)),
        ("constant_", (3, 4), (2.5,)),
        ("ones_", (2, 2), ()),
    ]:
        ours = getattr(vinit, name)(torch.randn(shape, dtype=dtype), *args)
        assert torch.equal(ours, getattr(tinit, name)(torch.randn(shape, dtype=dtype), *args))
    for name, shape in [("eye_", (3, 5)), ("dirac_", (4, 2, 3)), ("zeros_", (2, 3))]:
        assert torch.equal(
            _call(vinit, name, torch.randn(shape, dtype=dtype)),
            _call(tinit, name, torch.randn(shape, dtype=dtype)),
        )


@pytest.mark.parametrize("source", ["seed", "generator", "global"])
@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_complex_laws_are_torchs(dtype: torch.dtype, source: str) -> None:
    """Real and imaginary parts independent: U(a, b) each, N(mean, std^2 / 2) each."""
    kw = dict(_sources())[source]
    shape = (120, 100)
    fan_in, fan_out = _fans(shape)
    half = 1 / math.sqrt(2)
    cases: list[tuple[Callable[..., Any], tuple[Any, ...], Any]] = [
        (vinit.uniform_, (-1.0, 3.0), _uniform(-1.0, 3.0)),
        (vinit.normal_, (2.0, 3.0), _normal(2.0, 3.0 * half)),
        (
            vinit.xavier_uniform_,
            (0.5,),
            _uniform(*(s * 0.5 * math.sqrt(6 / (fan_in + fan_out)) for s in (-1, 1))),
        ),
        (vinit.xavier_normal_, (), _normal(0, half * math.sqrt(2 / (fan_in + fan_out)))),
        (vinit.kaiming_uniform_, (0.0, "fan_out"), _uniform(*(s * math.sqrt(6 / fan_out) for s in (-1, 1)))),
        (vinit.kaiming_normal_, (0.0,), _normal(0, half * math.sqrt(2 / fan_in))),
    ]
    for fn, args, cdf in cases:
        z = fn(torch.empty(shape, dtype=dtype), *args, **kw)
        assert z.dtype == dtype
        _ks(z.real, cdf)
        _ks(z.imag, cdf)
        r = np.corrcoef(z.real.reshape(-1).numpy(), z.imag.reshape(-1).numpy())[0, 1]
        assert abs(r) < 5 / math.sqrt(z.numel())  # independent parts: r within 5 standard errors


@pytest.mark.parametrize("dtype", COMPLEX, ids=str)
def test_complex_sparse_shares_one_zero_pattern(dtype: torch.dtype) -> None:
    for kw in dict(_sources()).values():
        z = vinit.sparse_(torch.empty(200, 150, dtype=dtype), 0.2, 0.5, **kw)
        assert torch.equal(z.real == 0, z.imag == 0)
        assert ((z == 0).sum(dim=0) >= 40).all()
        for part in (z.real, z.imag):
            _ks(part[part != 0], _normal(0, 0.5 / math.sqrt(2)))


def test_complex_portable_stream_fills_view_as_real() -> None:
    z = vinit.uniform_(torch.empty(7, 5, dtype=torch.complex64), -1.0, 2.0, seed=12)
    n = varinit.init("uniform", (7, 5, 2), seed=12, low=-1.0, high=2.0, dtype="float32")
    assert np.array_equal(torch.view_as_real(z).numpy(), n)


# --------------------------------------------------------------------------- torch's edge values


def test_a_none_gain_zero_sparsity_one_and_an_empty_uniform_interval() -> None:
    shape = (300, 200)
    x = vinit.kaiming_normal_(torch.empty(shape), a=None, seed=2)  # calculate_gain's slope, 0.01
    _ks(x, _normal(0, math.sqrt(2 / (1 + 0.01**2)) / math.sqrt(200)))
    y = vinit.kaiming_normal_(torch.empty(shape), a=None, nonlinearity="relu", seed=2)
    _ks(y, _normal(0, math.sqrt(2 / 200)))
    for name in ("xavier_uniform_", "xavier_normal_", "orthogonal_"):
        for kw in dict(_sources()).values():
            assert (getattr(vinit, name)(torch.ones(shape), gain=0, **kw) == 0).all(), name
    assert (vinit.sparse_(torch.ones(shape), 1.0) == 0).all()
    assert (vinit.uniform_(torch.ones(8), 0.25, 0.25, seed=1) == 0.25).all()
    assert (vinit.uniform_(torch.ones(8), -0.0, 0.0) == 0).all()


# --------------------------------------------------------------------------- timm

TIMM_SIGNATURES = {  # timm 1.0: timm/layers/weight_init.py
    "trunc_normal_": [
        ("tensor", inspect.Parameter.empty),
        ("mean", 0.0),
        ("std", 1.0),
        ("a", -2.0),
        ("b", 2.0),
    ],
    "trunc_normal_tf_": [
        ("tensor", inspect.Parameter.empty),
        ("mean", 0.0),
        ("std", 1.0),
        ("a", -2.0),
        ("b", 2.0),
    ],
    "variance_scaling_": [
        ("tensor", inspect.Parameter.empty),
        ("scale", 1.0),
        ("mode", "fan_in"),
        ("distribution", "normal"),
    ],
    "lecun_normal_": [("tensor", inspect.Parameter.empty)],
}


def _timm_weight_init() -> ModuleType:
    """timm's weight_init.py, loaded by path (``import timm`` would import torchvision)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("timm is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "layers" / "weight_init.py"
    loaded = importlib.util.spec_from_file_location("_timm_weight_init", path)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(TIMM_SIGNATURES))
def test_timm_names_take_timms_parameters_first(name: str) -> None:
    assert name in vtimm.__all__
    params = list(inspect.signature(getattr(vtimm, name)).parameters.values())
    head = [(p.name, p.default) for p in params[: len(TIMM_SIGNATURES[name])]]
    assert head == TIMM_SIGNATURES[name]
    rest = {p.name: p.kind for p in params[len(head) :]}
    assert rest.get("seed") is inspect.Parameter.KEYWORD_ONLY
    assert "generator" in rest


@pytest.mark.parametrize("name", sorted(TIMM_SIGNATURES))
def test_timm_signatures_match_the_installed_timm(name: str) -> None:
    theirs = inspect.signature(getattr(_timm_weight_init(), name)).parameters.values()
    assert [(p.name, p.default) for p in theirs] == TIMM_SIGNATURES[name]


TIMM_CASES: list[tuple[str, dict[str, Any]]] = [
    ("trunc_normal_", {"std": 0.02}),
    ("trunc_normal_", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 4.0}),
    ("trunc_normal_tf_", {"std": 0.02}),
    ("trunc_normal_tf_", {"mean": 1.0, "std": 0.5, "a": -1.0, "b": 3.0}),
    ("variance_scaling_", {}),
    ("variance_scaling_", {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}),
    ("variance_scaling_", {"scale": 0.5, "mode": "fan_avg", "distribution": "uniform"}),
    ("lecun_normal_", {}),
]


@pytest.mark.parametrize("shape", [(300, 200), (128, 32, 3, 3)], ids=["dense", "conv"])
@pytest.mark.parametrize("name,kw", TIMM_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TIMM_CASES)])
def test_timm_names_draw_timms_law(name: str, kw: dict[str, Any], shape: tuple[int, ...]) -> None:
    timm = _timm_weight_init()
    torch.manual_seed(3)
    theirs = torch.empty(shape)
    getattr(timm, name)(theirs, **kw)
    ours = getattr(vtimm, name)(torch.empty(shape), **kw, seed=4)
    p = stats.ks_2samp(ours.reshape(-1).numpy(), theirs.reshape(-1).numpy()).pvalue
    assert p > ALPHA, f"two-sample KS p = {p:.2e}"
    assert ours.std().item() == pytest.approx(theirs.std().item(), rel=0.03)


@pytest.mark.parametrize("name", sorted(TIMM_SIGNATURES))
def test_timm_names_return_meta_tensors_untouched(name: str) -> None:
    t = torch.empty(8, 4, device="meta")
    assert _warned(lambda: getattr(vtimm, name)(t)) == [] and t.is_meta


# --------------------------------------------------------------------------- the guide


def _guide(tag: str) -> str:
    blocks = re.findall(
        rf"^<!-- tested: {tag} -->\n```python\n(.*?)^```", GUIDE.read_text("utf-8"), re.S | re.M
    )
    assert len(blocks) == 1, f"{GUIDE.name} needs one ```python block after '<!-- tested: {tag} -->'"
    return str(blocks[0])


@pytest.mark.parametrize("tag", ["torch-import", "torch-patch", "torch-timm"])
def test_guide_examples_run(tag: str) -> None:
    exec(compile(_guide(tag), f"{GUIDE.name}:{tag}", "exec"), {"__name__": "guide"})


def test_guide_import_example_runs_unchanged_on_torch_nn_init() -> None:
    """The "change this import" example is torch code: with torch's import it runs too."""
    code = _guide("torch-import").replace(
        "import varinit.adapters.torch as init", "import torch.nn.init as init"
    )
    code = re.sub(r", (?:seed=\d+|generator=torch\.Generator\(\)\.manual_seed\(\d+\))", "", code)
    exec(compile(code, f"{GUIDE.name}:torch-import (torch)", "exec"), {"__name__": "guide"})
