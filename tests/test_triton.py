"""The Triton kernel (``varinit.rng.triton_kernel``) in Triton's interpreter, bit for bit
against the NumPy reference.

No GPU is needed: ``TRITON_INTERPRET=1`` runs the kernels on CPU torch tensors. It is set only
while this module's tests run (Triton decides at ``@triton.jit`` time whether a kernel is
interpreted, so the kernels' module is imported afresh under it, and dropped afterwards).
Skipped where Triton is not installed, unless ``VARINIT_REQUIRE_TRITON=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if os.environ.get("VARINIT_REQUIRE_TRITON") == "1":
    import triton  # noqa: F401  (CI: a missing Triton is a failure, not a skip)
else:
    pytest.importorskip("triton")

from _plans import PLANS  # noqa: E402

from varinit.core.executor import reference, route  # noqa: E402
from varinit.core.request import request  # noqa: E402
from varinit.rng import philox, triton_kernel  # noqa: E402

pytestmark = [pytest.mark.triton, pytest.mark.torch]

KAT = Path(__file__).parent / "data" / "philox4x32_10_kat.txt"
_IMPL = "varinit.rng._triton_impl"
#: Philox blocks per program in the interpreter (its cost is per operation, not per element);
#: the blocks test runs the shipped BLOCK too
_FAST_BLOCK = 4096


@pytest.fixture(scope="module", autouse=True)
def interpreter() -> Iterator[None]:
    old_env, old_block = os.environ.get("TRITON_INTERPRET"), triton_kernel.BLOCK
    os.environ["TRITON_INTERPRET"] = "1"
    sys.modules.pop(_IMPL, None)
    triton_kernel._state.clear()
    triton_kernel.BLOCK = _FAST_BLOCK
    try:
        assert triton_kernel.available(), triton_kernel.unavailable_reason()
        yield
    finally:
        triton_kernel.BLOCK = old_block
        if old_env is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old_env
        sys.modules.pop(_IMPL, None)
        triton_kernel._state.clear()


def _bits(a: Any) -> np.ndarray:
    a = a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return a.view(np.uint64 if a.dtype == np.float64 else np.uint32)


def _differ(got: Any, want: Any) -> int:
    return int((_bits(got) != _bits(want)).sum())


# --------------------------------------------------------------------------- Philox words


def _kat() -> list[tuple[list[int], list[int], list[int]]]:
    rows = []
    for line in KAT.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        rows.append(
            ([int(x, 16) for x in f[2:6]], [int(x, 16) for x in f[6:8]], [int(x, 16) for x in f[8:12]])
        )
    return rows


@pytest.mark.parametrize("ctr,key,expected", _kat())
def test_known_answer_vectors(ctr: list[int], key: list[int], expected: list[int]) -> None:
    # counter (c0, c1, c2, c3) is block c0 | c1 << 32 of stream c2 | c3 << 32; key k0 | k1 << 32
    seed, stream, block = key[0] | key[1] << 32, ctr[2] | ctr[3] << 32, ctr[0] | ctr[1] << 32
    assert triton_kernel.words(seed, stream, 4 * block, 4) == expected


@pytest.mark.parametrize("seed", [0, 5, 2**31 + 5, 2**32 + 7, 2**63 + 11, 2**64 - 1])
@pytest.mark.parametrize("stream", [0, 1, 2**63 + 3])
def test_words_equal_the_reference(seed: int, stream: int) -> None:
    """tl.philox with the spec's key split and 64-bit block counters (carry into the high word
    at block 2**32), every offset inside a block."""
    for start in (0, 3, 4 * (2**32 - 2) + 1, 2**34 + 2):
        assert triton_kernel.words(seed, stream, start, 23) == philox.reference_words(seed, stream, start, 23)


# --------------------------------------------------------------------------- the transforms


def _args(plan: Any) -> tuple[str, tuple[float, ...]]:
    args = plan.kernel_args()
    assert args is not None
    return args  # type: ignore[no-any-return]


def _grid_sample() -> np.ndarray:
    """float32 uniforms of the stream's grid ((k + 1/2) 2**-24): the lowest and highest 2**13
    (the tails down to 2**-25), and every 331st in between (about 67,000 in all)."""
    k = np.concatenate(
        [
            np.arange(0, 1 << 13),
            np.arange((1 << 13) + 7, (1 << 24) - (1 << 13), 331),
            np.arange((1 << 24) - (1 << 13), 1 << 24),
        ]
    )
    u = (k.astype(np.float32) * np.float32(2.0**-24) + np.float32(2.0**-25)).astype(np.float32)
    return np.minimum(u, np.float32(1.0 - 2.0**-24))


@pytest.mark.parametrize("name", list(PLANS))
def test_float32_grid_sample_through_each_plan(name: str) -> None:
    plan = PLANS[name]
    u = _grid_sample()
    want = plan.transform(np, u)
    got = triton_kernel.transform(torch.from_numpy(u), *_args(plan))
    assert want.dtype == np.float32 and got.dtype == torch.float32
    assert _differ(got, want) == 0


@pytest.mark.parametrize("name", list(PLANS))
def test_float64_sample_through_each_plan(name: str) -> None:
    plan = PLANS[name]
    rng = np.random.default_rng(0)
    u = np.concatenate(
        [
            rng.integers(0, 1 << 53, 20000, dtype=np.int64) * 2.0**-53 + 2.0**-54,
            np.arange(1, 2000) * 2.0**-53 - 2.0**-54,  # the lowest grid points
            1.0 - np.arange(1, 2000) * 2.0**-53 + 2.0**-54,  # the highest
            [2.0**-54, 1.0 - 2.0**-53, 2.0**-30],
        ]
    )
    u = np.minimum(u, 1.0 - 2.0**-53)
    want = plan.transform(np, u)
    got = triton_kernel.transform(torch.from_numpy(u), *_args(plan))
    assert _differ(got, want) == 0


# --------------------------------------------------------------------------- the fill: words to values


def _reference_rows(
    plan: Any, seed: int, stream: int, starts: list[int], length: int, dtype: Any
) -> np.ndarray:
    """The definition: words of each row (2 per element for float64), uniforms, the transform."""
    per = 2 if dtype == np.float64 else 1
    w = philox.words(np, seed, stream, [per * s for s in starts], per * length, wide=True)
    return np.asarray(plan.transform(np, philox.uniform_from_words(np, w, dtype)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["uniform", "normal", "trunc_central", "trunc_narrow", "trunc_log_40"])
def test_fill_equals_the_definition(name: str, dtype: Any) -> None:
    plan, seed, stream, n = PLANS[name], 2**40 + 3, 2**33 + 5, 1 << 15
    out = torch.empty(n, dtype=torch.float32 if dtype == np.float32 else torch.float64)
    triton_kernel.fill(out, *_args(plan), seed, stream, [2**32 - 5], n)
    want = _reference_rows(plan, seed, stream, [2**32 - 5], n, dtype).reshape(-1)
    assert _differ(out, want) == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block", [256, _FAST_BLOCK])
def test_blocks_past_element_2_32(dtype: Any, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows starting anywhere (every offset in a Philox block, past 2**32 and 2**62 elements,
    a row crossing the block counter's carry into its high word), rows spanning several
    programs with the shipped BLOCK."""
    monkeypatch.setattr(triton_kernel, "BLOCK", block)
    plan = PLANS["trunc_central"]
    starts = [0, 1, 2**32 - 3, 2**33 + 2, 4 * 2**32 - 5, 2**62 + 3, 2**63 - 5000]
    length = 2500
    out = torch.empty(len(starts), length, dtype=torch.float32 if dtype == np.float32 else torch.float64)
    triton_kernel.fill(out, *_args(plan), 7, 0, starts, length)
    want = _reference_rows(plan, 7, 0, starts, length, dtype)
    assert _differ(out.reshape(-1), want.reshape(-1)) == 0
    # numpy row starts, as the executor's blocks pass them
    out2 = torch.empty_like(out)
    triton_kernel.fill(out2, *_args(plan), 7, 0, np.asarray(starts, dtype=np.uint64), length)
    assert torch.equal(out, out2)


def test_fill_checks_its_arguments() -> None:
    out = torch.empty(10)
    with pytest.raises(ValueError, match="elements"):
        triton_kernel.fill(out, "normal", (0.0, 1.0), 0, 0, [0], 11)
    with pytest.raises(TypeError, match="dtype"):
        triton_kernel.fill(torch.empty(10, dtype=torch.float16), "normal", (0.0, 1.0), 0, 0, [0], 10)
    with pytest.raises(ValueError, match="contiguous"):
        triton_kernel.fill(torch.empty(10, 2)[:, 0], "normal", (0.0, 1.0), 0, 0, [0], 10)
    with pytest.raises(ValueError, match="row starts"):
        triton_kernel.fill(out, "normal", (0.0, 1.0), 0, 0, [2**64 - 5], 10)
    with pytest.raises(ValueError, match="seed"):
        triton_kernel.fill(out, "normal", (0.0, 1.0), -1, 0, [0], 10)
    with pytest.raises(ValueError, match="kind"):
        triton_kernel.fill(out, "cauchy", (0.0, 1.0), 0, 0, [0], 10)


# --------------------------------------------------------------------------- the compiled kernels

_PTX = r"""
import re, sys
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile
from varinit.rng import _triton_impl as impl

FLAGS = ("KIND", "AFFINE", "REGIME", "CENTRAL_ONLY", "FAR", "CLIP", "FLIP", "ADD_MEAN")
VARIANTS = [  # normal (far tail), truncnorm linear / narrow / log (clipped, mirrored), uniform
    (1, 0, 0, 0, 1, 0, 0, 1), (1, 1, 0, 0, 0, 1, 1, 1), (1, 1, 1, 0, 0, 1, 0, 0), (1, 1, 2, 0, 0, 1, 1, 1),
    (0, 0, 0, 0, 0, 0, 0, 0),
]
CONSTS = ("pa", "pb", "plo", "phi", "psd", "pmu", "plb")
BAD = re.compile(r"\b(fma|mad)\.\S*f(32|64)\b|\.approx|\.ftz|\bdiv\.full|\b(rcp|rsqrt|ex2|lg2)\.")

def ptx(fn, sig, consts, fusion=False):
    sig = dict(sig, **{k: "constexpr" for k in consts})
    src = ASTSource(fn=fn, signature=sig, constexprs=consts)
    return compile(src, target=GPUTarget("cuda", 90, 32), options={"enable_fp_fusion": fusion}).asm["ptx"]

for f64 in (0, 1):
    ft, it = ("*fp64", "i64") if f64 else ("*fp32", "i32")
    for v in VARIANTS:
        sig = {"out_ptr": ft, "starts_ptr": "*i64", "length": "i64", "tiles": "i64"}
        sig.update({k: "i32" for k in ("k0", "k1", "s0", "s1")}, **{k: it for k in CONSTS})
        code = ptx(impl.fill_kernel, sig, dict(zip(FLAGS, v), F64=f64, BLOCK=256))
        bad = sorted({m.group(0) for m in BAD.finditer(code)})
        divides, roots = v[0] == 1, v[0] == 1 and v[2] != 1  # the narrow regime takes no root
        print("fill", f64, v, "bad:", bad, "div.rn" in code or not divides, "sqrt.rn" in code or not roots)
    sig = {"u_ptr": ft, "out_ptr": ft, "n": "i64", **{k: it for k in CONSTS}}
    code = ptx(impl.transform_kernel, sig, dict(zip(FLAGS, VARIANTS[0]), F64=f64, BLOCK=1024))
    print("transform", f64, "bad:", sorted({m.group(0) for m in BAD.finditer(code)}), True, True)
    fused = ptx(impl.transform_kernel, sig, dict(zip(FLAGS, VARIANTS[0]), F64=f64, BLOCK=1024), fusion=True)
    print("fusion-on-check", f64, "fma" in fused)
"""


def test_compiled_kernels_are_value_safe() -> None:
    """Every kernel variant compiled to PTX for sm_90 (Triton compiles without a GPU, outside the
    interpreter): no contracted multiply-add, no approximate division, square root or
    reciprocal, no flush to zero; correctly rounded div.rn/sqrt.rn where the transform divides
    (and takes a square root: not the narrow regime).
    (With fusion on, the same kernels do contain fma: the check sees them.)"""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-c", _PTX], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 2 * (5 + 2)
    for line in lines:
        if line.startswith("fusion-on-check"):
            assert line.endswith("True"), line
        else:
            assert "bad: [] True True" in line, line


# --------------------------------------------------------------------------- the torch route


def _torch_adapter() -> Any:
    from varinit.adapters import torch as vt

    return vt


@pytest.mark.parametrize(
    "scheme,kw",
    [
        ("he_normal", {}),
        ("glorot_uniform", {}),
        ("trunc_normal", {"a": -0.5, "b": 1.5}),
        ("truncated_normal", {}),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_route_equals_numpy(scheme: str, kw: dict[str, Any], dtype: str) -> None:
    """What a CUDA tensor gets (the route, run on a CPU tensor here) equals NumPy's values."""
    vt = _torch_adapter()
    shape = (96, 80)
    req = request(
        scheme,
        shape,
        backend=vt.BACKEND,
        seed=11,
        stream=3,
        dtype=getattr(torch, dtype),
        layout="out_in",
        **kw,
    )
    out = torch.empty(shape, dtype=getattr(torch, dtype))
    assert vt._triton_fill(req, out)
    want = reference(request(scheme, shape, seed=11, stream=3, dtype=dtype, layout="out_in", **kw))
    assert _differ(out, np.asarray(want)) == 0


def test_torch_route_blocks_halves_and_strided_out() -> None:
    vt = _torch_adapter()
    shape, index = (300, 70), (slice(17, 290, 3), slice(5, 60))
    whole = np.asarray(reference(request("he_normal", shape, seed=5, dtype="float32", layout="out_in")))
    # a block (a DTensor shard's local tensor): its rows drawn from their own starts
    req = request(
        "he_normal", shape, backend=vt.BACKEND, seed=5, dtype=torch.float32, layout="out_in", index=index
    )
    out = torch.empty(req.out_shape)
    assert vt._triton_fill(req, out)
    assert _differ(out, whole[index]) == 0
    # float16: drawn in float32, then cast
    req = request("he_normal", shape, backend=vt.BACKEND, seed=5, dtype=torch.float16, layout="out_in")
    half = torch.empty(shape, dtype=torch.float16)
    assert vt._triton_fill(req, half)
    assert torch.equal(half, torch.from_numpy(whole).to(torch.float16))
    # a non-contiguous tensor: through a contiguous buffer
    req = request("he_normal", shape, backend=vt.BACKEND, seed=5, dtype=torch.float32, layout="out_in")
    t = torch.empty(shape[::-1]).T
    assert vt._triton_fill(req, t)
    assert _differ(t.contiguous(), whole) == 0


def test_torch_route_declines_what_it_does_not_draw() -> None:
    vt = _torch_adapter()
    out = torch.empty(8, 8)
    native = request(
        "he_normal", (8, 8), backend=vt.BACKEND, seed=torch.Generator().manual_seed(0), dtype=torch.float32
    )
    assert not vt._triton_fill(native, out)
    orth = request("orthogonal", (8, 8), backend=vt.BACKEND, seed=0, dtype=torch.float32)
    assert not vt._triton_fill(orth, out)


def test_cpu_tensors_do_not_take_the_triton_route(monkeypatch: pytest.MonkeyPatch) -> None:
    vt = _torch_adapter()

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("a CPU tensor reached the Triton kernel")

    monkeypatch.setattr(triton_kernel, "fill", boom)
    w = vt.init_(torch.empty(64, 32), "he_normal", seed=0)
    want = reference(request("he_normal", (64, 32), seed=0, dtype="float32", layout="out_in"))
    assert _differ(w, np.asarray(want)) == 0


def test_route_line_names_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    assert route().endswith("; Triton for CUDA torch tensors (available)")
    monkeypatch.setattr(triton_kernel, "_state", {})  # before the first draw: Triton not imported
    assert route().endswith("(installed: loaded and self-tested on the first CUDA draw)")
    monkeypatch.setattr(triton_kernel, "_state", {"impl": None, "reason": "triton is not installed (x)"})
    assert route().endswith("; Triton for CUDA torch tensors (not installed: eager fallback)")
    monkeypatch.setattr(triton_kernel, "_state", {})
    monkeypatch.setenv("VARINIT_TRITON", "0")
    assert route().endswith("(disabled by VARINIT_TRITON: eager fallback)")


def test_import_varinit_does_not_import_triton() -> None:
    # torch itself may import triton (torch._dynamo does where it is installed); varinit imports
    # it only when a CUDA tensor is drawn (not for the route line: Triton loads its own LLVM)
    code = (
        "import sys, varinit, varinit.rng.triton_kernel; from varinit.core.executor import route; "
        "route(); assert 'triton' not in sys.modules; "
        "import varinit.adapters.torch; assert 'varinit.rng._triton_impl' not in sys.modules"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_no_triton_next_to_tensorflow() -> None:
    """Triton's LLVM next to TensorFlow's aborts the process: the route declines instead."""
    code = (
        "import sys, types; sys.modules['tensorflow'] = types.ModuleType('tensorflow'); "
        "from varinit.rng import triton_kernel as t; assert not t.available(); "
        "assert 'TensorFlow' in t.unavailable_reason(); assert 'triton' not in sys.modules; "
        "assert 'TensorFlow' in t.describe()"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
