"""docs/guide-adapter.md runs: its CuPy adapter, on a NumPy stand-in for CuPy.

The guide's blocks marked ``<!-- tested: adapter -->`` are concatenated into the module
``cupy_backend``. The blocks marked ``<!-- tested: usage -->`` run after it, and the
``test_*`` functions they define are called. ``cupy`` is a stand-in: NumPy behind CuPy's
names. Its ``RawKernel`` compiles the guide's CUDA source as C++ for the CPU, with one loop
over the grid, so the kernel's own arithmetic is tested against the stream definition.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import array_api_compat.numpy as anp
import numpy as np
import pytest

import varinit
from varinit import Backend
from varinit.rng.philox import reference_words
from varinit.testing import assert_distribution, check_backend

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide-adapter.md"
MAX_ADAPTER_LINES = 100


def guide_blocks(tag: str) -> list[str]:
    """The ```python blocks that directly follow a ``<!-- tested: TAG -->`` line."""
    text = GUIDE.read_text("utf-8")
    return re.findall(rf"^<!-- tested: {tag} -->\n```python\n(.*?)^```", text, flags=re.S | re.M)


def adapter_source() -> str:
    blocks = guide_blocks("adapter")
    assert blocks, f"{GUIDE.name} has no ```python block after '<!-- tested: adapter -->'"
    return "\n".join(blocks)


# --------------------------------------------------------------------------- the stand-in


class Device:
    """``cupy.cuda.Device``: a context manager that records which GPU was made current."""

    entered: ClassVar[list[int]] = []  # a log shared by every instance, reset per test

    def __init__(self, device: Any = None) -> None:
        self.id = 0 if device is None else int(device)

    def __enter__(self) -> Device:
        Device.entered.append(self.id)
        return self

    def __exit__(self, *exc: object) -> None:
        return None


#: C parameter types a kernel may take, and the NumPy dtype an argument must have for each
C_TYPES: dict[str, type[np.generic]] = {
    "int": np.int32,
    "unsigned int": np.uint32,
    "long long": np.int64,
    "unsigned long long": np.uint64,
    "float": np.float32,
    "double": np.float64,
}

SHIM = """
struct Dim3 { unsigned int x; };
static Dim3 blockIdx, blockDim, threadIdx;
#define __global__
"""


def parse_params(code: str, name: str) -> list[tuple[str, bool]]:
    """The (C base type, is pointer) of each parameter of kernel ``name`` in ``code``."""
    m = re.search(rf'extern\s+"C"\s+__global__\s+void\s+{name}\s*\(([^)]*)\)', code)
    assert m, f'no extern "C" __global__ kernel named {name!r} in the source'
    params = []
    for p in m.group(1).split(","):
        decl = " ".join(p.replace("*", " * ").split())
        words = [w for w in decl.split() if w != "const"][:-1]  # drop the parameter's name
        pointer = "*" in words
        base = " ".join(w for w in words if w != "*")
        assert base in C_TYPES, f"kernel parameter {p.strip()!r}: type {base!r} is not handled here"
        params.append((base, pointer))
    return params


class CpuKernel:
    """``cupy.RawKernel`` run on the CPU: the CUDA source compiled as C++ with a grid loop."""

    def __init__(self, code: str, name: str, build: Path) -> None:
        self.code, self.name, self.build = code, name, build
        self.params = parse_params(code, name)
        self._fn: Any = None

    def _compile(self) -> Any:
        cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
        if cxx is None:
            pytest.skip("no C++ compiler to run the guide's CUDA kernel on the CPU")
        args = ", ".join(f"{t}{' *' if p else ''} a{i}" for i, (t, p) in enumerate(self.params))
        call = ", ".join(f"a{i}" for i in range(len(self.params)))
        launcher = f"""
extern "C" void launch(long long grid, long long block, {args}) {{
  blockDim.x = (unsigned int)block;
  for (long long g = 0; g < grid; ++g)
    for (long long t = 0; t < block; ++t) {{
      blockIdx.x = (unsigned int)g;
      threadIdx.x = (unsigned int)t;
      {self.name}({call});
    }}
}}
"""
        src = self.build / f"{self.name}.cpp"
        digest = hashlib.sha256(self.code.encode()).hexdigest()[:16]
        lib = self.build / f"{self.name}_{digest}.so"
        if not lib.exists():
            src.write_text(SHIM + self.code + launcher, "utf-8")
            flags = ["-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"]
            proc = subprocess.run([cxx, *flags, str(src), "-o", str(lib)], capture_output=True, text=True)
            assert proc.returncode == 0, f"the guide's kernel does not compile:\n{proc.stderr}"
        return ctypes.CDLL(str(lib)).launch

    def __call__(self, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
        assert len(grid) == 1 and len(block) == 1, "the stand-in launches 1-D grids only"
        assert len(args) == len(self.params), f"{len(args)} arguments for {len(self.params)} parameters"
        if self._fn is None:
            self._fn = self._compile()
        types_: list[Any] = [ctypes.c_longlong, ctypes.c_longlong]
        values: list[Any] = [grid[0], block[0]]
        for i, (arg, (base, pointer)) in enumerate(zip(args, self.params, strict=True)):
            want = np.dtype(C_TYPES[base])
            if pointer:
                assert isinstance(arg, np.ndarray), f"argument {i}: {base}* needs an array"
                assert arg.dtype == want and arg.flags.c_contiguous, f"argument {i}: {arg.dtype} for {base}*"
                types_.append(ctypes.c_void_p)
                values.append(arg.ctypes.data)
            else:
                # CuPy passes a scalar by its own dtype: it must be the parameter's exact type
                assert isinstance(arg, np.generic) and arg.dtype == want, f"argument {i}: {arg!r} for {base}"
                types_.append(np.ctypeslib.as_ctypes_type(want))
                values.append(arg.item())
        self._fn.argtypes = types_
        self._fn(*values)


def standin(build: Path) -> types.ModuleType:
    """A module named ``cupy``: NumPy's namespace plus the CuPy names the guide uses."""
    cp = types.ModuleType("cupy")
    cp.__dict__["__getattr__"] = lambda name: getattr(np, name)  # cupy mirrors numpy's names
    cp.__dict__.update(
        random=types.SimpleNamespace(Generator=np.random.Generator, default_rng=np.random.default_rng),
        cuda=types.SimpleNamespace(Device=Device),
        asnumpy=np.asarray,
        RawKernel=lambda code, name: CpuKernel(code, name, build),
    )
    return cp


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("guide_kernel")


@pytest.fixture
def guide(monkeypatch: pytest.MonkeyPatch, build_dir: Path) -> Iterator[types.ModuleType]:
    """The guide's adapter, executed as the module ``cupy_backend`` against the stand-in."""
    monkeypatch.setitem(sys.modules, "cupy", standin(build_dir))
    monkeypatch.setitem(sys.modules, "array_api_compat.cupy", anp)  # what the guide imports as cpx
    module = types.ModuleType("cupy_backend")
    monkeypatch.setitem(sys.modules, "cupy_backend", module)
    exec(compile(adapter_source(), f"{GUIDE}:cupy_backend.py", "exec"), module.__dict__)
    Device.entered = []
    yield module


@pytest.fixture(params=["kernel", "array_api"])
def adapter(request: pytest.FixtureRequest, guide: types.ModuleType) -> Backend:
    """The guide's adapter; ``array_api`` drops its Philox kernel for the core's reference."""
    cls: type[Backend] = guide.CupyBackend
    if request.param == "array_api":
        cls = type("CupyReferenceWords", (cls,), {"philox_words": Backend.philox_words})
    return cls()


# --------------------------------------------------------------------------- the guide's code


def test_guide_has_a_complete_adapter_under_100_lines() -> None:
    blocks = guide_blocks("adapter")
    assert len(blocks) >= 4, "the guide's tested adapter blocks (sections 1 to 4) are missing"
    lines = [line for line in adapter_source().splitlines() if line.strip()]
    assert len(lines) < MAX_ADAPTER_LINES, f"the guide's adapter has {len(lines)} non-blank lines"
    assert guide_blocks("usage"), "the guide's tested usage blocks are missing"


def test_the_adapter_is_a_backend(guide: types.ModuleType) -> None:
    be = guide.CupyBackend()
    assert isinstance(be, Backend) and be.name == "cupy" and be.xp is anp
    assert be.resolve_dtype("float16") == (anp.float32, np.dtype("float16"))
    assert be.is_generator(np.random.default_rng(0)) and not be.is_generator(0)


SCHEMES = ["he_normal", "glorot_uniform", "trunc_normal", "orthogonal", "lecun_uniform"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_int_seed_draws_equal_numpys(adapter: Backend, scheme: str, dtype: str) -> None:
    # exact for orthogonal too: the stand-in's QR is NumPy's (on a GPU it agrees to rounding)
    for index in (None, (slice(3, 40), 5), (slice(50, 2, -3),)):
        kw: dict[str, Any] = {"seed": 12345, "dtype": dtype, "index": index}
        got = varinit.init(scheme, (64, 48), layout="in_out", backend=adapter, **kw)
        want = varinit.init(scheme, (64, 48), layout="in_out", **kw)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_streams_and_large_seeds_equal_numpys(adapter: Backend) -> None:
    for seed, stream in ((2**64 - 1, 0), (3, 2**64 - 1), (2**40 + 1, 12345)):
        got = varinit.init("he_uniform", (33, 17), layout="in_out", backend=adapter, seed=seed, stream=stream)
        np.testing.assert_array_equal(
            got, varinit.init("he_uniform", (33, 17), layout="in_out", seed=seed, stream=stream)
        )


def test_chunked_draws_equal_numpys(guide: types.ModuleType) -> None:
    small = type("SmallChunks", (guide.CupyBackend,), {"chunk": 1000, "transform_chunk": 256})()
    for dtype in ("float32", "float64"):
        got = varinit.init("glorot_normal", (300, 70), backend=small, seed=9, dtype=dtype)
        np.testing.assert_array_equal(got, varinit.init("glorot_normal", (300, 70), seed=9, dtype=dtype))
        native = varinit.init("trunc_normal", (300, 70), backend=small, seed=np.random.default_rng(1))
        assert_distribution(native, "trunc_normal", (300, 70))


def test_the_kernel_is_the_stream_definition(guide: types.ModuleType) -> None:
    be = guide.CupyBackend()
    top = 2**64 - 1
    cases = [
        (0, 0, [0], 4096),
        (top, top, [1, 6, 11, 0], 13),  # rows at every offset within a block
        (5, 9, [4 * 2**32 - 3], 10),  # across block 2**32: the counter's high word
        (7, 2**63, [8 * 2**40 + 2], 5),
        (1, 2, [0], 1),
    ]
    for seed, stream, starts, n in cases:
        got = be.philox_words(seed, stream, starts, n, None)
        assert got.dtype == np.uint32 and got.shape == (len(starts), n)
        assert [row.tolist() for row in got] == [reference_words(seed, stream, s, n) for s in starts]
    assert be.philox_words(0, 0, [0], 0, None).shape == (1, 0)


def test_native_stream_passes_check_backend(adapter: Backend) -> None:
    result = check_backend(adapter, schemes=["he_normal", "glorot_uniform", "trunc_normal", "orthogonal"])
    assert result.ok
    assert all(cell.streams == ["portable", "native"] for cell in result.cells.values())


def test_native_stream_is_the_generators(guide: types.ModuleType) -> None:
    be = guide.CupyBackend()
    a = varinit.init("he_normal", (200, 100), layout="in_out", backend=be, seed=np.random.default_rng(4))
    b = varinit.init("he_normal", (200, 100), layout="in_out", backend=be, seed=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, varinit.init("he_normal", (200, 100), layout="in_out", seed=4))
    u = be.native_uniform(np.random.default_rng(0), (10**5,), np.float32)
    assert u.dtype == np.float32 and float(u.min()) > 0.0 and float(u.max()) < 1.0
    assert be.native_normal(np.random.default_rng(0), (3,), np.float64).dtype == np.float64


def test_device_makes_that_gpu_current(guide: types.ModuleType) -> None:
    be = guide.CupyBackend()
    got = varinit.init("he_normal", (64, 32), layout="in_out", backend=be, seed=0, device=1)
    assert Device.entered == [1]
    np.testing.assert_array_equal(got, varinit.init("he_normal", (64, 32), layout="in_out", seed=0))
    varinit.init("he_normal", (64, 32), layout="in_out", backend=be, seed=0)
    assert Device.entered == [1], "no device: nothing to make current"


def test_the_guides_usage_and_tests_run(guide: types.ModuleType) -> None:
    blocks = guide_blocks("usage")
    assert blocks
    for i, block in enumerate(blocks):
        scope: dict[str, Any] = {"__name__": f"guide_usage_{i}"}
        exec(compile(block, f"{GUIDE}:usage[{i}]", "exec"), scope)
        tests: list[Callable[[], None]] = [f for k, f in scope.items() if k.startswith("test_")]
        assert all(callable(test) for test in tests)
        for test in tests:
            test()


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc to compile the kernel for a GPU")
def test_the_kernel_compiles_for_cuda(guide: types.ModuleType, tmp_path: Path) -> None:
    src = tmp_path / "philox_words.cu"
    src.write_text(guide._PHILOX.code, "utf-8")
    cmd = ["nvcc", "--ptx", "-Werror", "all-warnings", str(src), "-o", str(tmp_path / "philox_words.ptx")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
