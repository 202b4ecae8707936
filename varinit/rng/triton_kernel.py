"""The portable stream fused on CUDA: a Triton kernel, bit-identical to the CPU.

The same definition as the C kernel (:mod:`varinit.rng.kernel`) for torch tensors on a GPU:
Philox4x32-10, the open-interval uniforms and the uniform, normal and truncated normal (linear,
narrow and log regimes) transforms, float32 and float64, any list of row starts (blocks,
DTensor shards), counters past 2**32. Every plan constant is computed in Python exactly as
the C kernel's parameter block is (``kernel._prepare``) and passed to the kernel as bits; the
kernel is launched with floating-point fusion off and uses correctly rounded division and
square root (see ``_triton_impl``).

Triton is imported only when this module's functions are called (``import varinit`` does not
import it). :func:`available` says whether Triton imports; on a device's first fill a short
self-test (known-answer words, float32 and float64 normals against the reference) runs, and a
device that fails it is refused with the reason (:func:`unavailable_reason`), so callers fall
back to the eager path. ``VARINIT_TRITON=0`` disables the route.

Verification status: the kernels are tested in Triton's interpreter (``TRITON_INTERPRET=1``,
CPU tensors), against the NumPy reference; no run on a GPU yet.
"""

from __future__ import annotations

import importlib
import importlib.util
import operator
import os
import struct
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import philox

__all__ = [
    "BLOCK",
    "KINDS",
    "available",
    "describe",
    "fill",
    "installed",
    "interpreted",
    "ready",
    "transform",
    "unavailable_reason",
    "words",
]

#: the plan kinds the kernel draws (as :data:`varinit.rng.kernel.KINDS`)
KINDS: tuple[str, ...] = ("uniform", "normal", "truncnorm")
#: Philox blocks per program: 1024 float32 or 512 float64 elements
BLOCK = 256
_GRID_MAX = (1 << 31) - 1  # programs in one launch (CUDA's grid x limit)

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _disabled() -> bool:
    return os.environ.get("VARINIT_TRITON", "").strip().lower() in ("0", "off", "false", "no")


def _load() -> Any:
    """The kernels' module, or None (the reason in ``_state["reason"]``)."""
    with _lock:
        if "impl" in _state:
            return _state["impl"]
        impl, reason = None, None
        if _disabled():
            reason = "disabled by VARINIT_TRITON"
        elif "tensorflow" in sys.modules and "triton" not in sys.modules:
            # Triton loads its own LLVM; registering it next to TensorFlow's aborts the process
            reason = "TensorFlow is loaded in this process, and Triton's LLVM cannot join it"
        else:
            try:
                impl = importlib.import_module("varinit.rng._triton_impl")
            except ImportError as e:
                reason = f"triton is not installed ({e})"
            except Exception as e:  # a broken install: the eager path still works
                reason = f"triton failed to load: {type(e).__name__}: {e}"
        _state["impl"], _state["reason"] = impl, reason
        return impl


def installed() -> bool:
    """Whether Triton is installed (found, not imported: importing it loads its own LLVM, which
    some processes cannot host next to another, e.g. TensorFlow's)."""
    return importlib.util.find_spec("triton") is not None


def describe() -> str:
    """The CUDA route in words, without importing Triton (``varinit check``'s route line)."""
    head = "Triton for CUDA torch tensors"
    if "impl" in _state:  # loaded already (a CUDA draw, or a test): what it found
        if _state["impl"] is None:
            why = str(_state["reason"])
            why = "not installed" if why.startswith("triton is not installed") else why
            return f"{head} ({why}: eager fallback)"
        bad = unavailable_reason()  # devices that failed their self-test
        return f"{head} (available" + (f", refused on {bad}" if bad else "") + ")"
    if _disabled():
        return f"{head} (disabled by VARINIT_TRITON: eager fallback)"
    if installed():
        return f"{head} (installed: loaded and self-tested on the first CUDA draw)"
    return f"{head} (not installed: eager fallback)"


def available() -> bool:
    """Whether Triton imports (a device can still fail its self-test: see :func:`fill`)."""
    return _load() is not None


def unavailable_reason() -> str | None:
    """Why :func:`available` is False, or why a device failed its self-test (else None)."""
    _load()
    reason: str | None = _state.get("reason")
    bad = _state.get("bad_devices")
    if reason is None and bad:
        reason = "; ".join(f"{d}: {why}" for d, why in bad.items())
    return reason


def ready(device: Any) -> bool:
    """Whether :func:`fill` draws on ``device``: Triton imports and the device passed its
    self-test (run here on the first call for the device)."""
    impl = _load()
    if impl is None:
        return False
    try:
        _self_test(impl, device)
    except RuntimeError:
        return False
    return True


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``, CPU tensors)."""
    return os.environ.get("TRITON_INTERPRET", "").strip() == "1"


def _require() -> Any:
    impl = _load()
    if impl is None:
        raise RuntimeError(f"the Triton kernel is not available: {unavailable_reason()}")
    return impl


# --------------------------------------------------------------------------- the plan's constants


def _bits(x: float, wide: bool) -> int:
    """``x`` as the signed integer of its IEEE bits: float64, or rounded to float32 (as the C
    kernel's ``(float)`` casts do; beyond float32's range, the infinity it rounds to)."""
    if wide:
        return int(struct.unpack("<q", struct.pack("<d", x))[0])
    import numpy as np

    with np.errstate(over="ignore"):
        f = np.array(x, dtype=np.float64).astype(np.float32)
    return int(f.view(np.int32))


def _split(value: int, what: str) -> tuple[int, int]:
    """A 64-bit integer's words, each as a signed 32-bit value (one kernel signature for all)."""
    lo, hi = philox.split_key(value, what)
    return tuple(w - (1 << 32) if w >= 1 << 31 else w for w in (lo, hi))  # type: ignore[return-value]


def _launch_args(kind: str, params: Sequence[float], wide: bool) -> tuple[list[int], dict[str, int]]:
    """The kernel's constant bits and compile-time flags for one plan, from the C kernel's
    parameter block (``kernel._prepare``: the plans' decisions, made once, in Python)."""
    from .kernel import _prepare

    pr = _prepare(kind, tuple(float(p) for p in params), int(wide))
    consts = [_bits(v, wide) for v in (pr.a, pr.b, pr.lo, pr.hi, pr.std, pr.mean, pr.lb)]
    flags = {
        "KIND": int(pr.kind),
        "AFFINE": int(pr.affine),
        "REGIME": int(pr.regime),
        "CENTRAL_ONLY": int(pr.central_only),
        "FAR": int(pr.far),
        "CLIP": int(pr.clip),
        "FLIP": int(pr.flip),
        "ADD_MEAN": int(pr.add_mean),
    }
    return consts, flags


# --------------------------------------------------------------------------- the calls


def _starts_tensor(starts: Any, length: int, per: int, device: Any) -> Any:
    """Row starts as an int64 tensor on ``device`` (the uint64 values' bits)."""
    import numpy as np
    import torch

    if isinstance(starts, torch.Tensor):
        starts = starts.detach().cpu().numpy()
    if isinstance(starts, np.ndarray):
        if starts.dtype.kind not in "iu":
            raise TypeError(f"starts has dtype {starts.dtype}: integers expected")
        vals: Any = starts.reshape(-1)
        lo, hi = (int(vals.min()), int(vals.max())) if vals.size else (0, 0)
    else:
        vals = [operator.index(s) for s in starts]
        lo, hi = (min(vals), max(vals)) if vals else (0, 0)
    limit = (1 << 64) // per  # element index bound: word indices stay below 2**64
    if lo < 0 or hi + length > limit:
        raise ValueError(f"row starts must lie in [0, {limit} - length]")
    a = np.asarray(vals, dtype=np.uint64).view(np.int64)
    return torch.from_numpy(a.copy()).to(device)


def fill(
    out: Any,
    kind: str,
    params: Sequence[float],
    seed: int,
    stream: int,
    starts: Sequence[int] | Any,
    length: int,
) -> None:
    """Write the stream's values into the torch tensor ``out``: row ``r`` is elements
    ``starts[r] .. starts[r] + length - 1`` of the global tensor (flat, C order), drawn with
    plan ``kind`` (params as :func:`varinit.rng.kernel.fill` takes them).

    ``out``: a contiguous float32/float64 tensor of ``len(starts) * length`` elements on a
    CUDA device (or on the CPU under ``TRITON_INTERPRET=1``). Raises RuntimeError where
    Triton is unavailable or the device failed its self-test.
    """
    import torch

    impl = _require()
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"out must be a torch.Tensor, not {type(out).__name__}")
    if out.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"out has dtype {out.dtype}: float32 or float64 expected")
    if not out.is_contiguous():
        raise ValueError("out must be contiguous")
    length = operator.index(length)
    if length < 0:
        raise ValueError(f"length={length} is negative")
    wide = out.dtype == torch.float64
    per = 2 if wide else 4  # elements per Philox block
    starts_t = _starts_tensor(starts, length, 2 if wide else 1, out.device)
    nrows = int(starts_t.numel())
    if out.numel() != nrows * length:
        raise ValueError(f"out has {out.numel()} elements, len(starts) * length = {nrows * length}")
    k0, k1 = _split(seed, "seed")
    s0, s1 = _split(stream, "stream")
    consts, flags = _launch_args(kind, params, wide)
    if out.numel() == 0:
        return
    _self_test(impl, out.device)
    _launch(impl, out.reshape(-1), starts_t, length, per, (k0, k1, s0, s1), consts, flags, wide)


def _launch(
    impl: Any,
    flat: Any,
    starts_t: Any,
    length: int,
    per: int,
    key: tuple[int, int, int, int],
    consts: list[int],
    flags: dict[str, int],
    wide: bool,
) -> None:
    tiles = -(-((per - 1) + length + (per - 1)) // per // BLOCK)  # programs per row
    nrows = int(starts_t.numel())
    step = max(1, _GRID_MAX // tiles)  # rows per launch
    for a in range(0, nrows, step):
        b = min(nrows, a + step)
        impl.fill_kernel[((b - a) * tiles,)](
            flat[a * length : b * length],
            starts_t[a:b],
            length,
            tiles,
            *key,
            *consts,
            F64=int(wide),
            BLOCK=BLOCK,
            enable_fp_fusion=False,
            **flags,
        )


def transform(u: Any, kind: str, params: Sequence[float]) -> Any:
    """The plan's values of given open-interval uniforms ``u`` (a float32/float64 torch tensor):
    the fill's transform alone, as a new tensor of u's shape (for tests: every uniform of the
    float32 grid can be pushed through it)."""
    import torch

    impl = _require()
    if not isinstance(u, torch.Tensor) or u.dtype not in (torch.float32, torch.float64):
        raise TypeError("u must be a float32 or float64 torch.Tensor")
    wide = u.dtype == torch.float64
    consts, flags = _launch_args(kind, params, wide)
    flat = u.reshape(-1).contiguous()
    out = torch.empty_like(flat)
    n = int(flat.numel())
    if n:
        impl.transform_kernel[(-(-n // (4 * BLOCK)),)](
            flat, out, n, *consts, F64=int(wide), BLOCK=4 * BLOCK, enable_fp_fusion=False, **flags
        )
    return out.reshape(u.shape)


def words(seed: int, stream: int, start: int, n: int, device: Any = "cpu") -> list[int]:
    """Words ``[start, start + n)`` of the stream from the Triton kernel (for tests): the same
    as :func:`varinit.rng.philox.reference_words`."""
    impl = _require()
    return _words(impl, seed, stream, start, n, device)


def _words(impl: Any, seed: int, stream: int, start: int, n: int, device: Any) -> list[int]:
    import torch

    key = _split(seed, "seed") + _split(stream, "stream")
    start, n = operator.index(start), operator.index(n)
    if n < 0 or start < 0 or (start + n + 3) >> 2 > 1 << 64:
        raise ValueError(f"words [{start}, {start} + {n}) are outside the stream")
    first, nblocks = start >> 2, ((start & 3) + n + 3) >> 2
    out = torch.empty(4 * nblocks, dtype=torch.int32, device=device)
    if nblocks:
        grid = (-(-nblocks // BLOCK),)
        impl.words_kernel[grid](out, first, nblocks, *key, BLOCK=BLOCK)
    vals = [int(v) & 0xFFFFFFFF for v in out.cpu().tolist()]
    return vals[start & 3 : (start & 3) + n]


# --------------------------------------------------------------------------- the self-test


def _self_test(impl: Any, device: Any) -> None:
    """Known-answer words and float32/float64 normals against the reference, once per device;
    a device that fails is refused (RuntimeError), so the caller's eager path draws."""
    key = str(device)
    done: dict[str, str | None] = _state.setdefault("tested", {})
    if key not in done:
        with _lock:
            if key not in done:
                done[key] = _check_device(impl, device)
                if done[key]:
                    _state.setdefault("bad_devices", {})[key] = done[key]
    if done[key]:
        raise RuntimeError(f"the Triton kernel failed its self-test on {key}: {done[key]}")


def _check_device(impl: Any, device: Any) -> str | None:
    """Why the kernel must not be used on ``device``, or None."""
    import numpy as np
    import torch

    from .ndtri import ndtri

    seed, stream = 2**40 + 3, 77
    try:
        if _words(impl, seed, stream, 2**34 + 1, 11, device) != philox.reference_words(
            seed, stream, 2**34 + 1, 11
        ):
            return "its Philox words differ from the reference"
        key = _split(seed, "seed") + _split(stream, "stream")
        for dt, name, tiny in ((torch.float32, "float32", 2.0**-25), (torch.float64, "float64", 2.0**-54)):
            wide = dt == torch.float64
            n, start = 300, 2**33 + 1
            out = torch.empty(n, dtype=dt, device=device)
            consts, flags = _launch_args("normal", (0.25, 0.7), wide)
            starts_t = _starts_tensor([start], n, 2 if wide else 1, device)
            _launch(impl, out, starts_t, n, 2 if wide else 4, key, consts, flags, wide)
            u = np.asarray(philox.reference_uniforms(seed, stream, start, n, name), dtype=name)
            ref = ndtri(np, u, pmin=tiny, pmax=1.0 - tiny) * u.dtype.type(0.7) + u.dtype.type(0.25)
            got = out.cpu().numpy()
            if not np.array_equal(got.view(f"u{got.itemsize}"), ref.view(f"u{ref.itemsize}")):
                return f"its {name} normals differ from the reference"
    except Exception as e:  # a compile or launch failure: the eager path still works
        return f"{type(e).__name__}: {e}"
    return None
