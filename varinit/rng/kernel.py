"""The portable stream as a compiled CPU kernel: bit-identical to the Array-API reference.

An optional C extension (``varinit/rng/kernel.c``, built by ``pip install`` when a compiler
is there) runs Philox4x32-10, the open-interval uniforms and the plan's transform in one
fused, vectorised loop per chunk, writing straight into the caller's buffer. It is the same
definition as :mod:`varinit.rng.philox`, :mod:`varinit.rng.ndtri` and the elementwise plans
of ``varinit.core.plans``, operation for operation, so it gives the same bits; the tests push
all 2**24 float32 uniforms through both.

- :func:`available` says whether the extension was built, loads, and passed its self-test
  (constants, known answers, no contracted multiply-add in any ISA variant, values against
  the reference); :func:`unavailable_reason` says why not.
- :func:`fill` writes rows of the stream's values into an array; :func:`transform` applies
  only the transform to given uniforms; :func:`words` gives raw stream words.
- :func:`isa` names the variant that runs ("avx512f", "avx2" or "baseline"); ``isa=`` forces
  a lower one. ``VARINIT_KERNEL=0`` disables the kernel, ``VARINIT_KERNEL_ISA`` caps the ISA.

Plans are given by kind and parameters, in the plans' field order: ``("uniform", (low,
high))``, ``("normal", (mean, std))``, ``("truncnorm", (mean, std, lo, hi))`` with ``lo``,
``hi`` in sigma units; :func:`plan_args` reads them off a plan.

>>> import numpy as np
>>> from varinit.rng import kernel
>>> if kernel.available():
...     out = np.empty((2, 3), np.float32)
...     kernel.fill(out, "normal", (0.0, 1.0), seed=0, stream=0, starts=[0, 10], length=3)
"""

from __future__ import annotations

import ctypes
import importlib.util
import itertools
import math
import operator
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any, cast

import numpy as np

from . import philox
from .ndtri import _SPLIT1, _SPLIT2, truncation

__all__ = [
    "ISAS",
    "KINDS",
    "MANY_MAX",
    "THREAD_MIN",
    "available",
    "failed_isas",
    "fill",
    "fill_many",
    "isa",
    "isas",
    "library_path",
    "plan_args",
    "transform",
    "unavailable_reason",
    "words",
]

#: the ISA variants, lowest first (the C side's numbering)
ISAS: tuple[str, ...] = ("baseline", "avx2", "avx512f")
#: the plan kinds the kernel draws
KINDS: tuple[str, ...] = ("uniform", "normal", "truncnorm")
#: fills of more elements than this are split across threads (with ``threads=None``)
THREAD_MIN = 1 << 20

_ABI = 2  # must equal VK_ABI in kernel.c
_NPARAMS = {"uniform": 2, "normal": 2, "truncnorm": 4}
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}


class _Params(ctypes.Structure):
    """``vk_params`` in kernel.c: everything Python decides from the plan."""

    _fields_ = [
        ("kind", ctypes.c_int64),  # 0: uniform a * u + b; 1: ndtri-based
        ("affine", ctypes.c_int64),  # p = a * u + b (truncnorm) instead of p = u
        ("central_only", ctypes.c_int64),
        ("far", ctypes.c_int64),
        ("clip", ctypes.c_int64),
        ("flip", ctypes.c_int64),
        ("add_mean", ctypes.c_int64),
        ("regime", ctypes.c_int64),  # truncnorm: 0 linear, 1 narrow, 2 log (ndtri.truncation)
        ("a", ctypes.c_double),
        ("b", ctypes.c_double),
        ("lo", ctypes.c_double),
        ("hi", ctypes.c_double),
        ("std", ctypes.c_double),
        ("mean", ctypes.c_double),
        ("lb", ctypes.c_double),  # the log regime's log Phi(hi)
    ]


# --------------------------------------------------------------------------- the plans' decisions


def _ndtri_flags(pmin: float, pmax: float) -> tuple[int, int]:
    """(central_only, far) exactly as ``ndtri.ndtri`` decides them from pmin and pmax."""
    tail_lo = min(pmin, 1.0 - pmax)
    if tail_lo >= 0.5 - _SPLIT1:
        return 1, 0
    far = tail_lo <= 0.0 or math.sqrt(-math.log(tail_lo)) > _SPLIT2
    return 0, int(far)


@lru_cache(maxsize=1024)
def _prepare(kind: str, params: tuple[float, ...], dtype_code: int) -> _Params:
    """The parameter block for one plan and dtype, mirroring ``varinit.core.plans`` (Python
    floats are computed as there, in float64; the C side rounds them to float32 for float32)."""
    if kind not in _NPARAMS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(KINDS)}")
    if len(params) != _NPARAMS[kind]:
        names = {"uniform": "(low, high)", "normal": "(mean, std)", "truncnorm": "(mean, std, lo, hi)"}
        raise ValueError(f"kind={kind!r} takes params {names[kind]}, got {params!r}")
    pr = _Params()
    if kind == "uniform":
        low, high = params
        pr.kind, pr.a, pr.b = 0, high - low, low  # Uniform.transform: (high - low) * u + low
        return pr
    mean, std = params[0], params[1]
    pr.kind, pr.std, pr.mean, pr.add_mean = 1, std, mean, int(mean != 0.0)  # _shift skips 0
    if kind == "normal":
        tiny = 2.0**-54 if dtype_code == 1 else 2.0**-25  # plans.standard_normal
        pr.central_only, pr.far = _ndtri_flags(tiny, 1.0 - tiny)
        return pr
    t = truncation(params[2], params[3], dtype_code == 1)  # as TruncNormal.transform
    pr.affine, pr.a, pr.b = 1, t.a, t.b  # x = a * u + b
    pr.regime = ("linear", "narrow", "log").index(t.regime)
    if t.regime == "linear":
        pr.central_only, pr.far = _ndtri_flags(t.b, t.pmax)
    pr.lb, pr.clip, pr.lo, pr.hi, pr.flip = t.lb, 1, t.lo, t.hi, int(t.flip)
    return pr


def _params_of(kind: str, params: Sequence[float], dtype_code: int) -> _Params:
    return _prepare(kind, tuple(float(p) for p in params), dtype_code)


def plan_args(plan: object) -> tuple[str, tuple[float, ...]] | None:
    """``(kind, params)`` for an elementwise plan the kernel draws, or None.

    Reads the plan's ``kind`` and fields (``Uniform``, ``Normal``, ``TruncNormal`` of
    ``varinit.core.plans``) without importing them.
    """
    kind = getattr(plan, "kind", None)
    fields = {"uniform": ("low", "high"), "normal": ("mean", "std"), "truncnorm": ("mean", "std", "lo", "hi")}
    if kind not in fields:
        return None
    return str(kind), tuple(float(getattr(plan, f)) for f in fields[str(kind)])


# --------------------------------------------------------------------------- loading


class _Lib:
    """The loaded shared library with its prototypes."""

    def __init__(self, path: str) -> None:
        lib = ctypes.CDLL(path)  # a CDLL call releases the GIL
        i32, i64, u64, vp = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p
        pp = ctypes.POINTER(_Params)
        self.abi = lib.vk_abi
        self.abi.argtypes, self.abi.restype = [], i32
        self.isa_supported = lib.vk_isa_supported
        self.isa_supported.argtypes, self.isa_supported.restype = [i32], i32
        self.best_isa = lib.vk_best_isa
        self.best_isa.argtypes, self.best_isa.restype = [], i32
        self.constants = lib.vk_constants
        self.constants.argtypes, self.constants.restype = [vp], None
        self.params_size = lib.vk_params_size
        self.params_size.argtypes, self.params_size.restype = [], i64
        self.probe = lib.vk_probe_contract
        self.probe.argtypes, self.probe.restype = [i32], i32
        self.fill = lib.vk_fill
        self.fill.argtypes = [i32, i32, vp, i64, pp, u64, u64, vp, i64, i64, i64]
        self.fill.restype = i32
        self.fill_many = lib.vk_fill_many
        self.fill_many.argtypes, self.fill_many.restype = [i32, vp, i64], i32
        self.job_size = lib.vk_job_size
        self.job_size.argtypes, self.job_size.restype = [], i64
        self.transform = lib.vk_transform
        self.transform.argtypes, self.transform.restype = [i32, i32, vp, vp, i64, pp], i32
        self.words = lib.vk_words
        self.words.argtypes, self.words.restype = [i32, vp, u64, u64, u64, i32, i64], i32
        self.isas: tuple[int, ...] = ()  # the variants that run here and passed the self-test
        self.failed: dict[str, str] = {}  # variants that run here but failed it, and why
        self.default = 0


def library_path() -> str | None:
    """Where the built extension is (None: not built, e.g. no C compiler at install time)."""
    spec = importlib.util.find_spec("varinit.rng._kernel")
    return spec.origin if spec is not None and spec.origin else None


def _check_library(lib: _Lib) -> str | None:
    """Why the library cannot be used at all, or None."""
    if lib.abi() != _ABI:
        return f"stale build: kernel ABI {lib.abi()}, expected {_ABI} (reinstall: pip install -e .)"
    if lib.job_size() != _JOB_WORDS * 8:
        return "the job block's size differs between kernel.c and kernel.py"
    if lib.params_size() != ctypes.sizeof(_Params):
        return "the parameter block's size differs between kernel.c and kernel.py"
    consts = np.zeros(5, np.uint32)
    lib.constants(consts.ctypes.data)
    if consts.tolist() != [philox.M0, philox.M1, philox.W0, philox.W1, philox.ROUNDS]:
        return "the Philox constants differ from varinit.rng.philox"
    return None


def _check_variant(lib: _Lib, code: int) -> str | None:
    """Why ISA variant ``code`` must not be used, or None (about a millisecond)."""
    if lib.probe(code) != 0:
        return "compiled with floating-point contraction (a * b + c fused): build with -ffp-contract=off"
    got = _words(lib, code, 2**40 + 3, 77, 2**34 + 1, 11)  # odd offset, counters past 2**32
    if got.tolist() != philox.reference_words(2**40 + 3, 77, 2**34 + 1, 11):
        return "its Philox words differ from the reference"
    for dt, name in ((0, "float32"), (1, "float64")):  # the whole fill path, as Uniform(0, 1)
        out = np.empty(37, np.float64 if dt else np.float32)
        starts = (ctypes.c_uint64 * 1)(2**34 + 3)
        pr = _params_of("uniform", (0.0, 1.0), dt)
        rc = lib.fill(code, dt, out.ctypes.data, 1, ctypes.byref(pr), 2**40 + 3, 77, starts, 37, 0, 37)
        if rc != 0 or out.tolist() != philox.reference_uniforms(2**40 + 3, 77, 2**34 + 3, 37, name):
            return f"its {name} uniforms differ from the reference"
    bad = _value_check(lib, code)
    return f"its values differ from the reference ({bad})" if bad else None


def _value_check(lib: _Lib, code: int) -> str | None:
    """A few hundred uniforms through the normal transform, both dtypes (central region, tails,
    float64's far branch, the log), against the reference; a contracted multiply-add would change
    about a third of them."""
    from .ndtri import ndtri

    xp: Any = np
    if not hasattr(np, "astype"):  # NumPy < 2.1: through array-api-compat (slower to import)
        import array_api_compat.numpy as xp

    grid = np.concatenate([np.linspace(2.0**-20, 1 - 2.0**-20, 509), [2.0**-25, 1e-7, 1e-4, 0.999999]])
    for dt, tiny in ((np.float32, 2.0**-25), (np.float64, 2.0**-54)):
        u = grid.astype(dt)
        ref = ndtri(xp, u, pmin=tiny, pmax=1.0 - tiny) * dt(0.7) + dt(0.25)  # Normal(0.25, 0.7)
        got = _transform(lib, code, u, "normal", (0.25, 0.7))
        if not np.array_equal(got.view(_uint(dt)), ref.view(_uint(dt))):
            return f"normal {np.dtype(dt).name}"
    return None


def _uint(dt: Any) -> Any:
    return np.uint64 if np.dtype(dt) == np.float64 else np.uint32


_lock = threading.Lock()
_state: dict[str, Any] = {}


def _load() -> _Lib | None:
    with _lock:
        if "lib" in _state:
            lib: _Lib | None = _state["lib"]
            return lib
        lib, reason = None, None
        if os.environ.get("VARINIT_KERNEL", "").strip().lower() in ("0", "off", "false", "no"):
            reason = "disabled by VARINIT_KERNEL"
        else:
            path = library_path()
            if path is None:
                reason = "the extension varinit.rng._kernel was not built (no C compiler at install time?)"
            else:
                lib, reason = _open(path)
        _state["lib"], _state["reason"] = lib, reason
        return lib


def _open(path: str) -> tuple[_Lib | None, str | None]:
    """Load and self-test the library at ``path``: (library, None) or (None, why not). A
    variant that fails its self-test is left out (see :func:`failed_isas`); the library is
    refused when none passes."""
    try:
        lib = _Lib(path)
    except (OSError, AttributeError) as e:
        return None, f"cannot load {path}: {e}"
    reason = _check_library(lib)
    if reason:
        return None, reason
    supported = [c for c in range(len(ISAS)) if lib.isa_supported(c)]
    lib.failed = {ISAS[c]: why for c in supported if (why := _check_variant(lib, c))}
    lib.isas = tuple(c for c in supported if ISAS[c] not in lib.failed)
    if not lib.isas:
        return None, "no ISA variant passed the self-test: " + "; ".join(
            f"{k}: {v}" for k, v in lib.failed.items()
        )
    cap = os.environ.get("VARINIT_KERNEL_ISA", "").strip().lower()
    top = max(lib.isas)
    lib.default = (
        max((c for c in lib.isas if c <= ISAS.index(cap)), default=lib.isas[0]) if cap in ISAS else top
    )
    return lib, None


def _u64(value: int, what: str) -> int:
    """``value`` as a Python int in [0, 2**64), or the stream's error for it."""
    if type(value) is int and 0 <= value < 1 << 64:
        return value
    lo, hi = philox.split_key(value, what)
    return lo | hi << 32


def _require() -> _Lib:
    lib = _load()
    if lib is None:
        raise RuntimeError(f"the compiled kernel is not available: {unavailable_reason()}")
    return lib


def available() -> bool:
    """Whether the compiled kernel is built, loads and passed its self-test."""
    return _load() is not None


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (None when it is True)."""
    _load()
    reason: str | None = _state.get("reason")
    return reason


def isa() -> str:
    """The variant that calls without ``isa=`` run: "avx512f", "avx2", "baseline" ("none"
    when the kernel is not available)."""
    lib = _load()
    return ISAS[lib.default] if lib is not None else "none"


def isas() -> tuple[str, ...]:
    """Every variant this build can run on this CPU and that passed the self-test (each may
    be forced with ``isa=``)."""
    lib = _load()
    return tuple(ISAS[c] for c in lib.isas) if lib is not None else ()


def failed_isas() -> dict[str, str]:
    """Variants this CPU could run that failed the self-test and are not used, with why."""
    lib = _load()
    return dict(lib.failed) if lib is not None else {}


def _isa_code(lib: _Lib, name: str | None) -> int:
    if name is None:
        return lib.default
    if name not in ISAS:
        raise ValueError(f"isa={name!r} is not one of {', '.join(ISAS)}")
    code = ISAS.index(name)
    if code not in lib.isas:
        raise ValueError(
            f"isa={name!r} is not available here (available: {', '.join(ISAS[c] for c in lib.isas)})"
        )
    return code


# --------------------------------------------------------------------------- the calls


def _words(lib: _Lib, code: int, seed: int, stream: int, start: int, n: int) -> np.ndarray:
    out = np.empty(n, np.uint32)
    if n and lib.words(code, out.ctypes.data, seed, stream, start >> 2, start & 3, n) != 0:
        raise RuntimeError("vk_words failed")
    return out


def words(seed: int, stream: int, start: int, n: int, *, isa: str | None = None) -> np.ndarray:
    """Words ``[start, start + n)`` of the stream (word indices), as uint32: the same as
    :func:`varinit.rng.philox.reference_words`."""
    lib = _require()
    seed, stream = _u64(seed, "seed"), _u64(stream, "stream")
    start, n = operator.index(start), operator.index(n)
    if n < 0 or start < 0 or (start + n + 3) >> 2 > 1 << 64:  # blocks past 2**64 - 1
        raise ValueError(f"words [{start}, {start} + {n}) are outside the stream")
    return _words(lib, _isa_code(lib, isa), seed, stream, start, n)


def _transform(lib: _Lib, code: int, u: np.ndarray, kind: str, params: Sequence[float]) -> np.ndarray:
    dt = _DTYPES[u.dtype]
    pr = _params_of(kind, params, dt)
    if not u.flags.c_contiguous:
        u = u.copy(order="C")
    out = np.empty_like(u, order="C")
    if u.size and lib.transform(code, dt, u.ctypes.data, out.ctypes.data, u.size, ctypes.byref(pr)) != 0:
        raise RuntimeError("vk_transform failed")
    return out


def transform(u: np.ndarray, kind: str, params: Sequence[float], *, isa: str | None = None) -> np.ndarray:
    """The plan's values for given open-interval uniforms ``u`` (float32 or float64, any
    shape): what ``plan.transform(xp, u)`` computes, as a new array of u's shape and dtype."""
    lib = _require()
    u = np.asarray(u)
    if u.dtype not in _DTYPES:  # also a non-native byte order
        raise TypeError(f"u has dtype {u.dtype}: float32 or float64 (native byte order) expected")
    return _transform(lib, _isa_code(lib, isa), u, kind, params)


def _starts(starts: Sequence[int] | np.ndarray, length: int, per: int) -> tuple[Any, int]:
    """Row starts for the C side (a ctypes array or a NumPy array's address) and their count,
    every row inside the 64-bit counter space."""
    limit = (1 << 64) // per  # element index bound: word indices stay below 2**64
    if isinstance(starts, np.ndarray):
        if starts.dtype.kind not in "iu":
            raise TypeError(f"starts has dtype {starts.dtype}: integers expected")
        a = starts.reshape(-1)
        if a.size and (int(a.min()) < 0 or int(a.max()) + length > limit):
            raise ValueError(f"row starts must lie in [0, {limit} - length]")
        a = np.ascontiguousarray(a, dtype=np.uint64)
        return (a.ctypes.data if a.size else None, a), a.size
    vals = [operator.index(s) for s in starts]
    if vals and (min(vals) < 0 or max(vals) + length > limit):
        raise ValueError(f"row starts must lie in [0, {limit} - length]")
    if len(vals) <= 4096:  # a ctypes array is cheaper than a NumPy array's address
        return ((ctypes.c_uint64 * len(vals))(*vals), None), len(vals)
    a = np.array(vals, dtype=np.uint64)
    return (a.ctypes.data, a), a.size


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


_pool: list[ThreadPoolExecutor] = []


def _executor() -> ThreadPoolExecutor:
    with _lock:
        if not _pool:
            _pool.append(
                ThreadPoolExecutor(max_workers=max(1, _cpus() - 1), thread_name_prefix="varinit-kernel")
            )
        return _pool[0]


def fill(
    out: np.ndarray,
    kind: str,
    params: Sequence[float],
    seed: int,
    stream: int,
    starts: Sequence[int] | np.ndarray,
    length: int,
    threads: int | None = None,
    *,
    isa: str | None = None,
) -> None:
    """Write the stream's values into ``out``: row ``r`` is elements ``starts[r] ..
    starts[r] + length - 1`` of the global tensor (flat, C order), drawn with plan ``kind``.

    ``out``: a writable float32/float64 NumPy array of ``len(starts) * length`` elements,
    C-contiguous (any shape; rows follow each other in C order) or 1-D with any stride.
    ``threads``: None splits fills above :data:`THREAD_MIN` elements across the CPUs this
    process may use; 1 runs on the calling thread. The GIL is released throughout.
    """
    lib = _state.get("lib") or _require()
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    dt = _DTYPES.get(out.dtype)
    if dt is None:
        raise TypeError(f"out has dtype {out.dtype}: float32 or float64 (native byte order) expected")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    length = operator.index(length)
    if length < 0:
        raise ValueError(f"length={length} is negative")
    (ptr, _alive), nrows = _starts(starts, length, 2 if dt == 1 else 1)  # _alive: until we return
    total = nrows * length
    if out.size != total:
        raise ValueError(f"out has {out.size} elements, len(starts) * length = {total}")
    contiguous = out.flags.c_contiguous
    if contiguous:
        stride = 1
    elif out.ndim == 1 and out.strides[0] % out.itemsize == 0:
        stride = out.strides[0] // out.itemsize
    else:
        raise ValueError("out must be C-contiguous or a 1-D view (copy a non-contiguous block in)")
    seed, stream = _u64(seed, "seed"), _u64(stream, "stream")
    pr = _params_of(kind, params, dt)
    if total == 0:
        return
    code = lib.default if isa is None else _isa_code(lib, isa)
    # the buffer's address: ctypes' own view is about 3x cheaper than ndarray.ctypes
    base = ctypes.addressof(ctypes.c_char.from_buffer(cast(Any, out))) if contiguous else out.ctypes.data
    prm = ctypes.byref(pr)

    def run(first: int, count: int) -> None:
        rc = lib.fill(code, dt, base, stride, prm, seed, stream, ptr, length, first, count)
        if rc != 0:
            raise RuntimeError("vk_fill failed")

    n = _cpus() if threads is None and total > THREAD_MIN else (threads or 1)
    n = max(1, min(int(n), -(-total // 4096)))
    if n == 1:
        run(0, total)
        return
    # 4 parts per thread on 1024-element boundaries, taken by whichever thread is free: on a
    # CPU another process keeps busy, a slowed thread takes fewer parts (nobody spins)
    step = max(1024, -(-total // (4 * n) // 1024) * 1024)
    parts = [(a, min(step, total - a)) for a in range(0, total, step)]
    ticket = itertools.count()  # next() is atomic under the GIL

    def work() -> None:
        for i in iter(ticket.__next__, None):
            if i >= len(parts):
                return
            run(*parts[i])

    pool = _executor()
    futures: list[Future[None]] = [pool.submit(work) for _ in range(n - 1)]
    try:
        work()
    finally:
        for f in futures:
            f.result()


#: a job's 64-bit words for ``vk_fill_many``: out, params, seed, stream, start, count, dtype, reserved
_JOB_WORDS = 8
#: fills up to this many elements go into one ``vk_fill_many`` call; larger ones are threaded
MANY_MAX = 1 << 16


def fill_many(
    jobs: Sequence[tuple[np.ndarray, str, Sequence[float], int, int]], *, isa: str | None = None
) -> None:
    """Fill many whole arrays, each from the start of its own stream, in one call into C.

    Each job is ``(out, kind, params, seed, stream)``: the same as ``fill(out, kind, params,
    seed, stream, [0], out.size)``, for a C-contiguous float32/float64 ``out``. Jobs above
    :data:`MANY_MAX` elements are filled one by one (and split across threads); the small
    ones, a model's biases and narrow layers, cost one call in all, not one each.

    >>> import numpy as np
    >>> from varinit.rng import kernel
    >>> a, b = np.empty(3, np.float32), np.empty(2, np.float64)
    >>> if kernel.available():
    ...     kernel.fill_many([(a, "uniform", (0.0, 1.0), 1, 0), (b, "normal", (0.0, 1.0), 1, 5)])
    ...     c = np.empty(3, np.float32); kernel.fill(c, "uniform", (0.0, 1.0), 1, 0, [0], 3)
    ...     assert a.tolist() == c.tolist()
    """
    lib = _state.get("lib") or _require()
    rows: list[tuple[int, ...]] = []
    keep: list[Any] = []  # the parameter blocks stay alive until the call returns
    for out, kind, params, seed, stream in jobs:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
        dt = _DTYPES.get(out.dtype)
        if dt is None:
            raise TypeError(f"out has dtype {out.dtype}: float32 or float64 (native byte order) expected")
        if not (out.flags.c_contiguous and out.flags.writeable):
            raise ValueError("out must be writable and C-contiguous")
        n = out.size
        if n > MANY_MAX:
            fill(out, kind, params, seed, stream, [0], n, isa=isa)
            continue
        if n == 0:
            continue
        pr = _params_of(kind, params, dt)
        keep.append(pr)
        rows.append(
            (out.ctypes.data, ctypes.addressof(pr), _u64(seed, "seed"), _u64(stream, "stream"), 0, n, dt, 0)
        )
    if not rows:
        return
    code = lib.default if isa is None else _isa_code(lib, isa)
    table = np.array(rows, dtype=np.uint64)
    if lib.fill_many(code, table.ctypes.data, len(rows)) != 0:
        raise RuntimeError("vk_fill_many failed")
