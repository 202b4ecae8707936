"""The compiled portable-stream kernel (varinit/rng/kernel.c) is bit-identical to the reference.

Every one of the 2**24 float32 uniforms goes through the kernel's transform and the Array-API
reference (``plan.transform`` on NumPy, plain and with ``eager="index"`` as ``varinit.init``
runs it) for every plan kind; float64 gets a large random sample of word pairs plus the edge
words; fills equal ``varinit.init`` for whole tensors, index blocks and rows past element 2**32;
the known-answer vectors pass on every ISA variant; a contracting build is caught.

Skipped when the extension was not built (no C compiler at install time); set
``VARINIT_REQUIRE_KERNEL=1`` to make that a failure instead.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import array_api_compat.numpy as anp
import numpy as np
import pytest

import varinit
from varinit.core.plans import Elementwise, Normal, TruncNormal, Uniform
from varinit.core.request import request
from varinit.rng import kernel, philox

ROOT = Path(__file__).resolve().parents[1]
KAT = ROOT / "tests" / "data" / "philox4x32_10_kat.txt"
SOURCE = ROOT / "varinit" / "rng" / "kernel.c"

REQUIRED = os.environ.get("VARINIT_REQUIRE_KERNEL", "").strip() not in ("", "0")
DISABLED = os.environ.get("VARINIT_KERNEL", "").strip().lower() in ("0", "off", "false", "no")
#: skipped only where the extension was not built (or is switched off); a built kernel that fails
#: its self-test fails these tests
needs_kernel = pytest.mark.skipif(
    not REQUIRED and (DISABLED or kernel.library_path() is None),
    reason=f"the compiled kernel is not available ({kernel.unavailable_reason()}): "
    "pip install -e . with a C compiler",
)

INF = float("inf")
#: every plan kind and regime: (id, plan)
PLANS: list[tuple[str, Elementwise]] = [
    ("uniform", Uniform(-0.3, 0.7)),
    ("uniform-identity", Uniform(0.0, 1.0)),
    ("normal", Normal(0.0, 0.05)),
    ("normal-mean", Normal(0.1, 2.0)),
    ("truncnorm-near", TruncNormal(0.0, 0.08, -2.0, 2.0)),
    ("truncnorm-far-mirrored", TruncNormal(0.0, 1.0, 3.0, 6.0)),
    ("truncnorm-mirrored-mean", TruncNormal(0.5, 0.2, 3.0, 6.0)),
    ("truncnorm-far-below-mean", TruncNormal(-0.25, 1.5, -6.0, -3.0)),
    ("truncnorm-one-sided-above", TruncNormal(0.0, 1.0, 1.0, INF)),
    ("truncnorm-one-sided-below", TruncNormal(0.0, 1.0, -INF, 0.5)),
    ("truncnorm-central-only", TruncNormal(0.0, 1.0, -0.5, 0.7)),
    ("truncnorm-8-9", TruncNormal(0.0, 1.0, 8.0, 9.0)),
    ("truncnorm-13-14-subnormal", TruncNormal(0.0, 1.0, 13.0, 14.0)),  # float32: the log regime
    # the regimes of ndtri.truncation: log p where float32/float64 would meet subnormals, q = p - 1/2
    # for narrow central intervals
    ("truncnorm-15-16-log", TruncNormal(0.0, 1.0, 15.0, 16.0)),  # float32 log, float64 linear
    ("truncnorm-40-39-log", TruncNormal(0.1, 2.0, -40.0, -39.0)),  # log in both
    ("truncnorm-37-38-log", TruncNormal(0.0, 1.0, 37.0, 38.0)),  # log in both
    ("truncnorm-one-sided-39-log", TruncNormal(0.0, 1.0, 39.0, INF)),
    ("truncnorm-subnormal-pa-log", TruncNormal(0.0, 1.0, -13.0, -11.4)),  # float32: Phi(-13) not lost
    ("truncnorm-narrow", TruncNormal(0.3, 0.02, -1e-3, 1e-3)),  # float32 narrow, float64 linear
    ("truncnorm-narrow-one-sided", TruncNormal(0.0, 1.0, 0.0, 1e-6)),
    ("truncnorm-narrow-off-centre", TruncNormal(0.0, 1.0, 0.6, 0.6001)),
    ("truncnorm-narrow-both", TruncNormal(0.0, 1.0, -1e-12, 1e-12)),  # narrow in float64 too
]
PLAN_IDS = [i for i, _ in PLANS]


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint64 if x.dtype == np.float64 else np.uint32)


def _differ(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    return int(np.count_nonzero(_bits(a) != _bits(b)))


def _args(plan: Elementwise) -> tuple[str, tuple[float, ...]]:
    args = kernel.plan_args(plan)
    assert args is not None
    return args


# --------------------------------------------------------------------------- build and load


def test_kernel_is_available_where_required() -> None:
    if not REQUIRED:
        pytest.skip("set VARINIT_REQUIRE_KERNEL=1 to require the compiled kernel")
    assert kernel.available(), kernel.unavailable_reason()


@needs_kernel
def test_loads_and_every_variant_passes_the_self_test() -> None:
    """A built kernel must load and pass its self-test (no contraction, known answers,
    values): a failure here is a broken build, never a skip."""
    assert kernel.available(), kernel.unavailable_reason()
    assert kernel.failed_isas() == {}
    assert kernel.unavailable_reason() is None
    assert "baseline" in kernel.isas() and kernel.isa() in kernel.isas()


@needs_kernel
@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads /proc/cpuinfo (Linux)")
def test_dispatch_picks_the_best_variant_the_cpu_runs() -> None:
    flags = set(Path("/proc/cpuinfo").read_text().split())
    if platform.machine() not in ("x86_64", "AMD64"):
        assert kernel.isas() == ("baseline",)
        return
    expect = "avx512f" if "avx512f" in flags else "avx2" if "avx2" in flags else "baseline"
    if os.environ.get("VARINIT_KERNEL_ISA"):
        pytest.skip("VARINIT_KERNEL_ISA caps the variant")
    assert kernel.isa() == expect
    assert ("avx2" in kernel.isas()) == ("avx2" in flags)
    print(f"\nkernel ISA: {kernel.isa()} (variants here: {', '.join(kernel.isas())})")


@needs_kernel
def test_isa_cap_from_the_environment() -> None:
    code = "from varinit.rng import kernel; print(kernel.isa(), kernel.available())"
    env = {**os.environ, "VARINIT_KERNEL_ISA": "baseline"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["baseline", "True"]
    env = {**os.environ, "VARINIT_KERNEL": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["none", "False"]


def test_not_built_means_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extension everything says so, and a call raises (the pure path runs)."""
    monkeypatch.setattr(kernel, "library_path", lambda: None)
    monkeypatch.setattr(kernel, "_state", {})
    assert not kernel.available()
    assert "not built" in (kernel.unavailable_reason() or "")
    assert kernel.isa() == "none" and kernel.isas() == ()
    with pytest.raises(RuntimeError, match="not available"):
        kernel.fill(np.empty(4, np.float32), "normal", (0.0, 1.0), 0, 0, [0], 4)


# --------------------------------------------------------------------------- the stream's words


def _kat() -> list[tuple[list[int], list[int], list[int]]]:
    rows = []
    for line in KAT.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        vals = [int(v, 16) for v in line.split()[2:]]
        rows.append((vals[0:4], vals[4:6], vals[6:10]))
    return rows


@needs_kernel
@pytest.mark.parametrize("ctr,key,expected", _kat())
def test_known_answer_vectors_on_every_variant(ctr: list[int], key: list[int], expected: list[int]) -> None:
    # counter (b & 0xFFFFFFFF, b >> 32, s0, s1) and key (k0, k1): block b of stream s, seed k
    seed, stream, block = key[0] | key[1] << 32, ctr[2] | ctr[3] << 32, ctr[0] | ctr[1] << 32
    for isa in kernel.isas():
        assert kernel.words(seed, stream, 4 * block, 4, isa=isa).tolist() == expected, isa


@needs_kernel
@pytest.mark.parametrize(
    "seed,stream,start,n",
    [
        (0, 0, 0, 4),
        (0, 0, 1, 3),
        (7, 3, 5, 1029),  # several chunks, odd offset
        (2**40 + 3, 77, 2**34 + 1, 2051),  # counters past 2**32
        (2**64 - 1, 2**64 - 1, 2**32 * 4 - 6, 13),  # the low counter word wraps inside the run
        (12345, 2**63, 4 * (2**64 - 3) + 2, 10),  # the last blocks of the 64-bit counter
    ],
)
def test_words_match_the_plain_python_reference(seed: int, stream: int, start: int, n: int) -> None:
    ref = philox.reference_words(seed, stream, start, n)
    for isa in kernel.isas():
        assert kernel.words(seed, stream, start, n, isa=isa).tolist() == ref, isa


@needs_kernel
def test_words_match_the_array_api_kernel_in_bulk() -> None:
    starts = [0, 3, 2**33 + 1]
    ref = np.asarray(philox.words(anp, 99, 2**50 + 1, starts, 40_000, wide=True))
    for isa in kernel.isas():
        for r, s in enumerate(starts):
            assert np.array_equal(kernel.words(99, 2**50 + 1, s, 40_000, isa=isa), ref[r]), isa


# --------------------------------------------------------------------------- exhaustive float32


@pytest.fixture(scope="module")
def every_float32_uniform() -> np.ndarray:
    """The stream's float32 uniform of every k = w >> 8 < 2**24: every value it can produce,
    (k + 1/2) * 2**-24 rounded to float32, the top one capped at 1 - 2**-24."""
    k = np.arange(1 << 24, dtype=np.uint32)
    u = np.asarray(philox.uniform_from_words(anp, k << np.uint32(8), anp.float32))
    formula = ((k.astype(np.float64) + 0.5) * 2.0**-24).astype(np.float32)
    assert np.array_equal(u[:-1], formula[:-1]) and formula[-1] == 1.0 and u[-1] == np.float32(1 - 2.0**-24)
    assert float(u.min()) > 0.0 and float(u.max()) < 1.0
    return u


@needs_kernel
@pytest.mark.slow
@pytest.mark.parametrize("plan", [p for _, p in PLANS], ids=PLAN_IDS)
def test_every_float32_uniform_through_every_plan(
    every_float32_uniform: np.ndarray, plan: Elementwise
) -> None:
    u = every_float32_uniform
    ref = plan.transform(anp, u)  # the reference, pure array expressions
    ref_eager = plan.transform(anp, u.copy(), eager="index")  # what varinit.init runs on NumPy
    assert ref.dtype == np.float32
    assert _differ(ref, ref_eager) == 0, "eager='index' and eager=False disagree"
    kind, params = _args(plan)
    counts = {}
    for isa in kernel.isas():
        counts[isa] = _differ(kernel.transform(u, kind, params, isa=isa), ref)
    print(f"\n{plan}: {u.size} float32 uniforms, values differing per variant: {counts}")
    assert all(c == 0 for c in counts.values()), counts


# --------------------------------------------------------------------------- float64


@pytest.fixture(scope="module")
def float64_uniforms() -> np.ndarray:
    """Uniforms of 2**20 random word pairs plus the edge words, through the stream's conversion."""
    rng = np.random.default_rng(20240612)
    w = rng.integers(0, 2**32, size=(1 << 21,), dtype=np.uint64).astype(np.uint32)
    edges = [0, 1, 0x7FF, 0x800, 0xFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFF800, 0xFFFFFFFE, 0xFFFFFFFF]
    pairs = np.asarray([(a, b) for a in edges for b in edges], dtype=np.uint32).reshape(-1)
    # the smallest grid values (deep tails) and values near 1/2 +- 0.425 (the branch point)
    small = np.asarray([(0, k << 11) for k in range(4096)], dtype=np.uint32).reshape(-1)
    u = philox.uniform_from_words(anp, np.concatenate([w, pairs, small]), anp.float64)
    assert u.dtype == np.float64 and float(u.min()) == 2.0**-54 and float(u.max()) == 1.0 - 2.0**-53
    near = np.concatenate([np.nextafter(0.075, 0.0) + np.arange(-64, 64) * 2.0**-56, [0.075, 0.925]])
    return np.concatenate([u, near, 1.0 - near])


@needs_kernel
@pytest.mark.slow
@pytest.mark.parametrize("plan", [p for _, p in PLANS], ids=PLAN_IDS)
def test_float64_sample_through_every_plan(float64_uniforms: np.ndarray, plan: Elementwise) -> None:
    u = float64_uniforms
    ref = plan.transform(anp, u)
    assert ref.dtype == np.float64
    assert _differ(ref, plan.transform(anp, u.copy(), eager="index")) == 0
    kind, params = _args(plan)
    counts = {isa: _differ(kernel.transform(u, kind, params, isa=isa), ref) for isa in kernel.isas()}
    print(f"\n{plan}: {u.size} float64 uniforms, values differing per variant: {counts}")
    assert all(c == 0 for c in counts.values()), counts


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_sample_fast(dtype: Any) -> None:
    """A quick (not slow-marked) version of the exhaustive tests: 2**16 grid values per plan."""
    grid = np.concatenate([np.linspace(2.0**-25, 1 - 2.0**-24, 1 << 16), [1e-30, 1e-12, 0.075, 0.925]])
    u = grid.astype(dtype)
    for name, plan in PLANS:
        kind, params = _args(plan)
        ref = plan.transform(anp, u)
        for isa in kernel.isas():
            assert _differ(kernel.transform(u, kind, params, isa=isa), ref) == 0, (name, isa)


# --------------------------------------------------------------------------- fills vs varinit.init

SCHEMES: list[tuple[str, dict[str, Any]]] = [
    ("he_normal", {}),  # truncated normal at +-2 sigma
    ("glorot_uniform", {}),
    ("xavier_normal", {}),
    ("normal", {"mean": 0.3, "std": 2.0}),
    ("trunc_normal", {"mean": 0.5, "std": 0.2, "a": 1.1, "b": 1.7}),  # mirrored, far, with a mean
]
SEEDS_STREAMS = [
    (0, 0),
    (1, 5),
    (2**32 + 5, varinit.stream_id("encoder.layers.3.weight")),
    (2**64 - 1, 2**64 - 1),
]


def _fill_like_init(
    scheme: str, shape: tuple[int, ...], dtype: Any, seed: int, stream: int, index: Any = None, **kw: Any
) -> tuple[np.ndarray, np.ndarray]:
    req = request(scheme, shape, seed=seed, stream=stream, dtype=dtype, index=index, **kw)
    args = kernel.plan_args(req.plan)
    assert args is not None
    kind, params = args
    rows = req.rows()
    out = np.empty(rows.shape, dtype)
    kernel.fill(out, kind, params, seed, stream, rows.starts, rows.length)
    ref = varinit.init(
        scheme, shape, layout="in_out", seed=seed, stream=stream, dtype=dtype, index=index, **kw
    )
    return out, np.asarray(ref)


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("seed,stream", SEEDS_STREAMS)
@pytest.mark.parametrize("scheme,kw", SCHEMES, ids=[s for s, _ in SCHEMES])
def test_fill_equals_init_whole_tensor(
    scheme: str, kw: dict[str, Any], seed: int, stream: int, dtype: Any
) -> None:
    out, ref = _fill_like_init(scheme, (307, 257), dtype, seed, stream, **kw)  # > NumPy's chunk
    assert _differ(out, ref) == 0


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(
    "index",
    [
        (slice(3, 40), slice(5, 50)),
        (slice(None, None, -3),),
        (slice(80, 10, -7), slice(60, None, -2)),  # every element its own row
        (5,),
        (-1, slice(None, None, -1)),
        (slice(2, 90, 2), 7),
    ],
)
@pytest.mark.parametrize("scheme,kw", SCHEMES, ids=[s for s, _ in SCHEMES])
def test_fill_equals_init_index_blocks(scheme: str, kw: dict[str, Any], index: Any, dtype: Any) -> None:
    out, ref = _fill_like_init(scheme, (97, 61), dtype, 2**33 + 9, 11, index=index, **kw)
    assert _differ(out, ref) == 0


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("scheme,kw", SCHEMES, ids=[s for s, _ in SCHEMES])
def test_fill_equals_init_past_element_2_32(scheme: str, kw: dict[str, Any], dtype: Any) -> None:
    shape = (2**17, 2**16)  # 2**33 elements: only the block is drawn
    index = (slice(2**17 - 3, None), slice(5, 900))
    out, ref = _fill_like_init(scheme, shape, dtype, 42, 2**40 + 1, index=index, **kw)
    assert _differ(out, ref) == 0


@needs_kernel
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_identity_equals_the_plain_python_reference(dtype: str) -> None:
    """Uniform(0, 1) is the identity on u: the fill gives the stream's uniforms themselves."""
    seed, stream = 2**63 + 11, 3
    for start in (0, 2**32 - 5, 2**34 + 3):
        ref = np.asarray(philox.reference_uniforms(seed, stream, start, 37, dtype), dtype=dtype)
        for isa in kernel.isas():
            out = np.empty(37, dtype)
            kernel.fill(out, "uniform", (0.0, 1.0), seed, stream, [start], 37, isa=isa)
            assert _differ(out, ref) == 0, (start, isa)


@needs_kernel
def test_float32_uniform_conversion_at_the_grid_ends() -> None:
    """Words whose top 24 bits are all ones (the capped 1 - 2**-24) or all zeros (2**-25)."""
    for seed, at, expect in ((8, 3729118, 1.0 - 2.0**-24), (9, 2792111, 2.0**-25)):
        (w,) = philox.reference_words(seed, 0, at, 1)
        assert (w >> 8) in (0, 0xFFFFFF)
        for isa in kernel.isas():
            out = np.empty(3, np.float32)
            kernel.fill(out, "uniform", (0.0, 1.0), seed, 0, [at - 1], 3, isa=isa)
            assert float(out[1]) == expect, isa
            ref = philox.uniform_from_words(
                anp, np.asarray(philox.reference_words(seed, 0, at - 1, 3), np.uint32), anp.float32
            )
            assert _differ(out, ref) == 0


# --------------------------------------------------------------------------- threads and layouts


@needs_kernel
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_fill_equals_single_threaded(dtype: Any) -> None:
    kind, params = "truncnorm", (0.0, 0.02, -2.0, 2.0)
    starts, length = [0, 2**32 - 1000, 7_000_001], 1_000_003  # rows cross the thread parts
    one = np.empty((3, length), dtype)
    kernel.fill(one, kind, params, 5, 6, starts, length, threads=1)
    for threads in (2, 3, 8, None):
        many = np.full((3, length), np.nan, dtype)
        kernel.fill(many, kind, params, 5, 6, starts, length, threads=threads)
        assert _differ(many, one) == 0, threads


@needs_kernel
def test_many_short_rows_threaded() -> None:
    """3M rows of 2 elements, 3 apart: row r is elements 3r and 3r + 1 of the stream."""
    n = 3_000_000
    starts = np.arange(0, 3 * n, 3, dtype=np.int64)
    full = np.empty(3 * n, np.float32)
    kernel.fill(full, "normal", (0.0, 1.0), 1, 2, [0], 3 * n, threads=1)
    for threads in (1, 2):
        rows = np.empty((n, 2), np.float32)
        kernel.fill(rows, "normal", (0.0, 1.0), 1, 2, starts, 2, threads=threads)
        assert _differ(rows[:, 0], full[0::3]) == 0 and _differ(rows[:, 1], full[1::3]) == 0, threads


@needs_kernel
@pytest.mark.parametrize("step", [1, 2, -1, -3])
def test_strided_1d_views(step: int) -> None:
    ref = np.empty(1000, np.float64)
    kernel.fill(ref, "normal", (0.1, 2.0), 3, 4, [77], 1000)
    buf = np.zeros(1000 * abs(step), np.float64)
    view = buf[::step]
    assert view.size == 1000
    kernel.fill(view, "normal", (0.1, 2.0), 3, 4, [77], 1000)
    assert _differ(np.ascontiguousarray(view), ref) == 0
    if abs(step) > 1:  # nothing else touched
        mask = np.ones(buf.size, bool)
        mask[::step] = False
        assert not buf[mask].any()


@needs_kernel
def test_fill_rejects_bad_arguments() -> None:
    out = np.empty((4, 5), np.float32)
    with pytest.raises(ValueError, match="elements"):
        kernel.fill(out, "normal", (0.0, 1.0), 0, 0, [0, 5], 5)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel.fill(np.empty((5, 8), np.float32)[:, ::2], "normal", (0.0, 1.0), 0, 0, [0], 20)
    with pytest.raises(TypeError, match="float32 or float64"):
        kernel.fill(np.empty(4, np.float16), "normal", (0.0, 1.0), 0, 0, [0], 4)
    ro = np.empty(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        kernel.fill(ro, "normal", (0.0, 1.0), 0, 0, [0], 4)
    with pytest.raises(ValueError, match="kind"):
        kernel.fill(out, "gamma", (1.0,), 0, 0, [0], 20)
    with pytest.raises(ValueError, match="params"):
        kernel.fill(out, "truncnorm", (0.0, 1.0), 0, 0, [0], 20)
    with pytest.raises(ValueError, match="row starts"):
        kernel.fill(out, "normal", (0.0, 1.0), 0, 0, [-1], 20)
    with pytest.raises(ValueError, match="row starts"):
        kernel.fill(np.empty(4, np.float64), "normal", (0.0, 1.0), 0, 0, [2**63 - 2], 4)
    with pytest.raises(ValueError, match="seed"):
        kernel.fill(out, "normal", (0.0, 1.0), 2**64, 0, [0], 20)
    with pytest.raises(ValueError, match="isa"):
        kernel.fill(out, "normal", (0.0, 1.0), 0, 0, [0], 20, isa="sse9")
    kernel.fill(np.empty(0, np.float32), "normal", (0.0, 1.0), 0, 0, [], 7)  # nothing to do


def test_plan_args_reads_the_plans() -> None:
    assert kernel.plan_args(Uniform(-1.0, 2.0)) == ("uniform", (-1.0, 2.0))
    assert kernel.plan_args(Normal(0.5, 3.0)) == ("normal", (0.5, 3.0))
    assert kernel.plan_args(TruncNormal(0.0, 1.0, -2.0, 3.0)) == ("truncnorm", (0.0, 1.0, -2.0, 3.0))
    from varinit.core.plans import Constant

    assert kernel.plan_args(Constant(1.0)) is None


# --------------------------------------------------------------------------- value-safe builds


def _cc() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    return cc


def _build(tmp: Path, name: str, *flags: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp / f"{name}.so"
    cmd = [_cc(), "-shared", "-fPIC", "-DVK_NO_PYTHON", *flags, "-o", str(out), str(SOURCE)]
    return out, subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _open_in_subprocess(path: Path) -> list[str]:
    code = (
        "import sys; from varinit.rng import kernel\n"
        "lib, why = kernel._open(sys.argv[1])\n"
        "print(repr(why)); print(' '.join(kernel.ISAS[c] for c in lib.isas) if lib else '')\n"
        "print(repr(lib.failed if lib else {}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.mark.skipif(sys.platform != "linux", reason="builds a Linux shared object with gcc")
def test_a_contracting_build_is_caught(tmp_path: Path) -> None:
    """Built with contraction and FMA enabled, every variant's self-test fails (the probe
    sees a fused multiply-add, and the values differ from the reference)."""
    flags = set(Path("/proc/cpuinfo").read_text().split()) if Path("/proc/cpuinfo").exists() else set()
    if "fma" not in flags:
        pytest.skip("this CPU has no FMA: a contracting build cannot run here")
    so, r = _build(tmp_path, "contracting", "-O2", "-mfma", "-ffp-contract=fast")  # -O2 contracts too
    assert r.returncode == 0, r.stderr
    why, isas, failed = _open_in_subprocess(so)
    assert isas == "" and "contraction" in why, (why, failed)


@pytest.mark.skipif(sys.platform != "linux", reason="builds a Linux shared object with gcc")
def test_fast_math_does_not_compile(tmp_path: Path) -> None:
    _, r = _build(tmp_path, "fast-math", "-O3", "-ffast-math")
    assert r.returncode != 0 and "fast-math" in r.stderr


@needs_kernel
@pytest.mark.skipif(sys.platform != "linux", reason="builds a Linux shared object with gcc")
def test_the_portable_build_passes(tmp_path: Path) -> None:
    """-DVK_X86_DISPATCH=0: the plain-C code other platforms get (scalar Philox)."""
    so, r = _build(tmp_path, "portable", "-O3", "-ffp-contract=off", "-fno-math-errno", "-DVK_X86_DISPATCH=0")
    assert r.returncode == 0, r.stderr
    why, isas, failed = _open_in_subprocess(so)
    assert why == "None" and isas == "baseline", (why, failed)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("build") is None, reason="needs the build package")
@pytest.mark.parametrize("compiler", ["present", "missing"])
def test_wheel_builds_with_and_without_a_compiler(compiler: str, tmp_path: Path) -> None:
    """The wheel carries the extension when a compiler is there; without one (CC=false) the
    build still succeeds, without it (the extension is optional)."""
    src = tmp_path / "src"  # a copy: no build/ cache shared with other builds
    skip = shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "__pycache__", "*.so", "tests", "benchmarks"
    )
    shutil.copytree(ROOT, src, ignore=skip)
    env = dict(os.environ)
    if compiler == "missing":
        env["CC"] = "false"
    r = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = tmp_path.glob("varinit-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    ext = [n for n in names if n.startswith("varinit/rng/_kernel")]
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if compiler == "present":
        assert ext == [f"varinit/rng/_kernel{suffix}"], ext
    else:
        assert ext == [], ext
    assert "varinit/rng/kernel.py" in names


def test_c_coefficients_are_the_ndtri_coefficients() -> None:
    """kernel.c's AS 241 tables are ndtri.py's, digit for digit as doubles."""
    import re

    from varinit.rng.ndtri import _PPND7, _PPND16

    text = SOURCE.read_text("utf-8")
    tables = {
        name: [float(v) for v in body.replace("\n", " ").split(",")]
        for name, body in re.findall(r"static const double (PPND\d+_[A-F])\[\d+\] = \{([^}]*)\}", text)
    }
    for prefix, coefs in (("PPND7", _PPND7), ("PPND16", _PPND16)):
        for k, (num, den) in enumerate(coefs):
            assert tables[f"{prefix}_{'ACE'[k]}"] == list(num), (prefix, k)
            assert tables[f"{prefix}_{'BDF'[k]}"] == list(den), (prefix, k)
