"""Issue 15: property-based fuzzing of ``varinit.init`` on every installed backend.

Shapes (zero-size, high rank, wrong types), dtypes (and dtype objects of other frameworks),
overrides of every scheme with wrong types and extreme values, ``index=`` in every form,
seeds and streams. The invariant, for every example:

- either a correct result: the block's shape, a floating dtype (the one asked for), finite
  values, and a block equal to the same slice of the whole tensor (int seeds);
- or a ``TypeError``/``ValueError``/``IndexError`` (varinit's errors are subclasses) with a
  message, raised by varinit's own code, never from deep inside a framework.

Deterministic: ``derandomize=True`` and bounded examples. ``VARINIT_FUZZ=long`` runs 20x as
many (``VARINIT_FUZZ_EXAMPLES=N`` sets the numpy/torch count directly).
"""

from __future__ import annotations

import os
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import INSTALLED, marks_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import varinit
from varinit.core.families import FAMILIES, FAN_KEYS

ROOT = Path(__file__).resolve().parents[1]
OURS = (str(ROOT / "varinit"), str(ROOT / "adapters"))

_LONG = os.environ.get("VARINIT_FUZZ", "") == "long"
_BASE = int(os.environ.get("VARINIT_FUZZ_EXAMPLES", "0")) or (2000 if _LONG else 100)
#: examples per backend (JAX and TF compile per shape: fewer)
EXAMPLES = {"numpy": _BASE, "torch": _BASE, "jax": max(_BASE // 4, 10), "tensorflow": max(_BASE // 4, 10)}

#: examples tried and how they ended, per backend (printed at the end of the module)
TRIED: Counter[str] = Counter()

_SCHEMES = varinit.schemes()
_PARAMS = sorted({p for f in FAMILIES.values() for p in f.params} | set(FAN_KEYS) | {"stddev", "scale"})

_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-4.0, max_value=4.0),
    st.floats(min_value=1e-9, max_value=1e-3),
    st.integers(min_value=-3, max_value=300),
    st.sampled_from([10**400, -(10**400), 2**63, 1e308, -1e308, 1e-320, 0, 0.0, -0.0]),
    st.builds(np.int64, st.integers(-2, 64)),
    st.builds(np.float32, st.floats(-10, 10, width=32)),
)
_junk = st.one_of(
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["fan_in", "fan_out", "fan_avg", "uniform", "normal", "relu", "leaky_relu", "tanh"]),
    st.lists(st.integers(-3, 4), max_size=3),
    st.just(object()),
)
_value = st.one_of(_numbers, _junk)

_dim = st.integers(min_value=0, max_value=6)
_shape = st.one_of(
    st.lists(_dim, min_size=0, max_size=5).map(tuple),
    st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple),  # mostly drawable
    st.integers(-2, 8),
    st.tuples(st.sampled_from([True, 2.5, "3", None, -1, np.int64(3), 2**63]), _dim),
)
_bound = st.one_of(st.none(), st.integers(-8, 8), st.sampled_from([np.int64(1), 1.5, "2", True]))
_slice = st.builds(slice, _bound, _bound, st.one_of(st.none(), st.integers(-3, 3)))
_entry = st.one_of(st.integers(-7, 7), _slice, st.sampled_from([np.int32(1), 1.0, "0", None, True, Ellipsis]))
_index = st.one_of(st.none(), _entry, st.lists(_entry, min_size=0, max_size=4).map(tuple))
_seed = st.one_of(
    st.integers(0, 2**64 - 1),
    st.integers(0, 1000),
    st.sampled_from([None, -1, 2**64, 1.5, "0", True, np.uint64(7), np.int64(3)]),
)
_stream = st.one_of(st.just(0), st.integers(0, 2**64 - 1), st.sampled_from([-1, 2**64, 3.7, "3", None]))
_layout = st.sampled_from([None, "in_out", "out_in", "io", 3])


def _dtypes(backend: str) -> list[Any]:
    out: list[Any] = [None, "float32", "float64", "float16", "bfloat16", "int32", "bool", "complex64"]
    out += [np.float32, np.dtype("float64"), np.float16, np.int8, "nonsense", 3, object()]
    if "torch" in INSTALLED:
        import torch

        out += [torch.float32, torch.float64, torch.bfloat16, torch.int64]
    if "tensorflow" in INSTALLED and backend == "tensorflow":  # TF's import is slow: only for TF
        import tensorflow as tf

        out += [tf.float32, tf.float16, tf.int32]
    if "jax" in INSTALLED and backend == "jax":
        import jax.numpy as jnp

        out += [jnp.float32, jnp.bfloat16]
    return out


def _host(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch (bfloat16 has no numpy view)
        return np.asarray(x.detach().cpu().double().numpy() if x.dtype.is_floating_point else x.cpu().numpy())
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x).astype(np.float64)


def _dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1].replace("<dtype: '", "").rstrip("'>")


def _jax_x64() -> bool:
    import jax

    return bool(jax.config.read("jax_enable_x64"))


def _raised_by_us(e: BaseException) -> bool:
    """The innermost frame of the traceback is varinit's code (not a framework's)."""
    frames = traceback.extract_tb(e.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(OURS)


def _expected_shape(shape: tuple[int, ...], index: Any) -> tuple[int, ...]:
    if index is None:
        return shape
    ix = index if isinstance(index, tuple) else (index,)
    out: list[int] = []
    for k, dim in enumerate(shape):
        if k < len(ix) and not isinstance(ix[k], slice):
            continue
        out.append(len(range(*ix[k].indices(dim))) if k < len(ix) else dim)
    return tuple(out)


def _init(*args: Any, **kw: Any) -> Any:
    """``varinit.init``, with layout=None fuzzed on purpose: its LayoutWarning is the subject of
    tests/test_layout_warning.py, not of the fuzz (which checks values and refusals)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", varinit.LayoutWarning)
        return varinit.init(*args, **kw)


def _check(backend: str, case: dict[str, Any]) -> str:
    kw = dict(case["overrides"])
    call = {
        "backend": backend,
        "seed": case["seed"],
        "dtype": case["dtype"],
        "index": case["index"],
        "stream": case["stream"],
        "layout": case["layout"],
    }
    try:
        x = _init(case["scheme"], case["shape"], **call, **kw)
    except (TypeError, ValueError, IndexError) as e:
        assert str(e).strip(), f"an empty error message for {case}"
        assert _raised_by_us(e), f"raised inside a framework for {case}:\n" + "".join(
            traceback.format_exception(e)
        )
        return "refused"
    # a result: it must be right
    shape = varinit.core.fans.normalize_shape(case["shape"])
    assert tuple(x.shape) == _expected_shape(shape, case["index"]), case
    name = _dtype_name(x)
    assert name in ("float16", "bfloat16", "float32", "float64"), (name, case)
    if isinstance(case["dtype"], str):
        want = case["dtype"]
        if backend == "jax" and want == "float64" and not _jax_x64():
            want = "float32"  # JAX's own rule without x64 (it warns)
        assert name == want, (name, case)
    values = _host(x)
    assert np.isfinite(values).all(), f"non-finite values for {case}"
    if (
        case["index"] is not None
        and isinstance(case["seed"], int | np.integer)
        and not isinstance(case["seed"], bool)
    ):
        whole = _host(_init(case["scheme"], case["shape"], **{**call, "index": None}, **kw))
        ix = case["index"] if isinstance(case["index"], tuple) else (case["index"],)
        np.testing.assert_array_equal(values, whole[ix], err_msg=str(case))
    return "drawn"


_good_shape = st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple)
_good_index = st.one_of(
    st.none(),
    st.integers(-1, 0),
    st.tuples(
        st.builds(slice, st.integers(0, 2), st.none() | st.integers(2, 6), st.sampled_from([None, 1, 2, -1]))
    ),
)


def _maybe(draw: st.DrawFn, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
    """Mostly a well-formed value (so results get checked), sometimes anything."""
    return draw(good if draw(st.integers(0, 9)) < 8 else bad)


@st.composite
def _cases(draw: st.DrawFn, dtypes: list[Any]) -> dict[str, Any]:
    scheme = draw(st.sampled_from(_SCHEMES))
    fam = FAMILIES[varinit.get(scheme).family]
    own = sorted(fam.params) + list(FAN_KEYS)
    keys = st.sampled_from(own) if draw(st.booleans()) else st.sampled_from(_PARAMS)
    n = _maybe(draw, st.integers(0, 1), st.integers(0, 3))
    overrides = {draw(keys): draw(_value) for _ in range(n)}
    return {
        "scheme": scheme,
        "shape": _maybe(draw, _good_shape, _shape),
        "dtype": _maybe(
            draw, st.sampled_from([None, "float32", "float64", "float16"]), st.sampled_from(dtypes)
        ),
        "index": _maybe(draw, _good_index, _index),
        "seed": _maybe(draw, st.integers(0, 2**64 - 1), _seed),
        "stream": _maybe(draw, st.sampled_from([0, 1, 2**64 - 1]), _stream),
        "layout": _maybe(draw, st.sampled_from([None, "in_out", "out_in"]), _layout),
        "overrides": overrides,
    }


def _fuzz(backend: str) -> Any:
    dtypes = _dtypes(backend)  # imported here: never inside a strategy

    @settings(
        max_examples=EXAMPLES[backend],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(dtypes))
    def run(case: dict[str, Any]) -> None:
        TRIED[f"{backend}:{_check(backend, case)}"] += 1

    return run


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    if TRIED:
        print("\nfuzz examples:", dict(sorted(TRIED.items())))


@pytest.mark.parametrize("backend", [pytest.param(b, marks=marks_for(b)) for b in INSTALLED])
@pytest.mark.filterwarnings("ignore::UserWarning")  # zero-element tensors, JAX's x64 truncation
def test_fuzz_init(backend: str) -> None:
    _fuzz(backend)()
    assert sum(v for k, v in TRIED.items() if k.startswith(backend + ":")) >= EXAMPLES[backend] // 2


# --------------------------------------------------------------------------- other front doors


def _door_check(door: str, case: dict[str, Any]) -> str:
    """torch ``init_`` on a tensor, the JAX ``initializer``, the Keras ``Initializer``: the
    same invariant as ``varinit.init``, and the values equal NumPy's for an int seed."""
    shape, kw, seed = case["shape"], dict(case["overrides"]), case["seed"]
    try:
        if door == "torch":
            import torch
            from varinit.adapters.torch import init_

            ok = isinstance(shape, tuple) and all(type(d) is int and 0 <= d <= 6 for d in shape)
            t = torch.empty(shape if ok else (3, 4))  # a tensor always has a valid shape
            x = init_(t, case["scheme"], seed=seed, stream=case["stream"], **kw)
            layout = "out_in"
        elif door == "jax":
            from varinit.adapters.jax import initializer

            case = {**case, "stream": 0}  # JAX initializers take no stream id
            x = initializer(case["scheme"], **kw)(seed, shape)
            layout = "in_out"
        else:
            from varinit.adapters.keras import Initializer

            x = Initializer(case["scheme"], seed=seed, stream=case["stream"], **kw)(shape)
            layout = "in_out"
    except (TypeError, ValueError, IndexError) as e:
        assert str(e).strip(), case
        assert _raised_by_us(e), "".join(traceback.format_exception(e))
        return "refused"
    values = _host(x)
    assert np.isfinite(values).all(), case
    if isinstance(seed, int) and not isinstance(seed, bool) and isinstance(shape, tuple) and values.size:
        ref = varinit.init(
            case["scheme"], tuple(values.shape), seed=seed, stream=case["stream"], layout=layout, **kw
        )
        if varinit.get(case["scheme"]).family in STRUCTURED:  # a QR: equal to rounding only
            np.testing.assert_allclose(values, np.asarray(ref, dtype=np.float64), rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(values, np.asarray(ref, dtype=np.float64), err_msg=str(case))
    return "drawn"


#: families drawn from a whole-matrix QR: across frameworks they agree to rounding, not bit
#: for bit (docs/randomness.md)
STRUCTURED = ("orthogonal", "delta_orthogonal", "sparse")
DOORS = [d for d, b in (("torch", "torch"), ("jax", "jax"), ("keras", "tensorflow")) if b in INSTALLED]


@pytest.mark.parametrize("door", [pytest.param(d, marks=marks_for(d)) for d in DOORS])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fuzz_front_doors(door: str) -> None:
    n = EXAMPLES["numpy" if door == "torch" else "jax"]

    @settings(
        max_examples=n,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases([None]))
    def run(case: dict[str, Any]) -> None:
        TRIED[f"{door}-door:{_door_check(door, case)}"] += 1

    run()
