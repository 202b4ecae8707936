"""PyTorch: in-place ``init_``, whole-module ``init_module``, DTensor shards, drop-in names.

>>> import torch
>>> from varinit.adapters.torch import init_, init_module
>>> w = init_(torch.empty(256, 128), "kaiming_normal", seed=0, nonlinearity="relu")
>>> round(w.std().item() / (2 / 128) ** 0.5, 1)
1.0
>>> net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
>>> summary = init_module(net, {"*.weight": "he_normal", "*.bias": "zeros"}, seed=0)
>>> len(summary.touched)
4

Weights are read in torch's layout ``(out, in/groups, *kernel)`` (``layout="out_in"``). An
int ``seed`` selects the portable Philox stream (the same bits as NumPy's
``varinit.init(..., seed=s, layout="out_in")``); a ``torch.Generator`` (``generator=``)
or ``seed=None`` (torch's default generator, so ``torch.manual_seed`` works) selects
torch's own stream.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import array_api_compat.torch as atorch
import torch

from varinit.core.backend import Backend
from varinit.core.executor import redraw_outside, redraw_pays
from varinit.core.gains import table_gain
from varinit.core.plans import Constant, Dirac, Identity, Normal, Sparse, TruncNormal, Uniform
from varinit.core.request import Native, Portable, Request, Spec
from varinit.core.table import Scheme
from varinit.models.report import Report, Row
from varinit.rng import philox

from ._torch_deferred import skip_init
from ._torch_fill import (
    _FLOATS,
    _check_tensor,
    _fill,
    _is_dtensor,
)

__all__ = [
    "BACKEND",
    "InitSummary",
    "TorchBackend",
    "calculate_gain",
    "constant",
    "constant_",
    "dirac",
    "dirac_",
    "eye",
    "eye_",
    "init_",
    "init_module",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "lecun_normal_",
    "normal",
    "normal_",
    "ones_",
    "orthogonal",
    "orthogonal_",
    "skip_init",
    "sparse",
    "sparse_",
    "trunc_normal_",
    "trunc_normal_tf_",
    "uniform",
    "uniform_",
    "variance_scaling_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros_",
]

_MASK, _M0, _M1, _W0, _W1 = philox.MASK, philox.M0, philox.M1, philox.W0, philox.W1
_OPEN = {torch.float32: philox.OPEN["float32"], torch.float64: philox.OPEN["float64"]}


# --------------------------------------------------------------------------- Philox


def _philox_int64(seed: int, stream: int, blocks: torch.Tensor) -> torch.Tensor:
    """Philox4x32-10 of the 64-bit block indices ``blocks`` (int64, any shape): (..., 4) int64.

    torch has no uint32/uint64 shifts or adds, so 32-bit words live in int64 and every
    product ``c * M`` (< 2**64) wraps; its high word is ``(p >> 32) & MASK`` (arithmetic
    shift, then mask) and its low word is only masked at the end: a low word enters the
    next round through XOR alone, where the stale high bits are masked away with the rest.
    """
    k0, k1 = philox.split_key(seed)
    s0, s1 = philox.split_key(stream, "stream")
    c0: Any = blocks & _MASK  # a tensor, or a Python int while it is constant
    hi_blocks = blocks >> 32
    c1: Any = hi_blocks if bool((hi_blocks != 0).any()) else 0
    # round 1: c2 = s0 and c3 = s1 are constants, so M1 * c2 is a Python int
    p1 = _M1 * s0
    p0 = c0 * _M0
    c0 = (c1 ^ (p1 >> 32) ^ k0) if isinstance(c1, torch.Tensor) else ((c1 ^ (p1 >> 32) ^ k0) & _MASK)
    c1 = p1 & _MASK
    c2 = torch.bitwise_right_shift(p0, 32).bitwise_xor_(s1 ^ k1).bitwise_and_(_MASK)
    c3: Any = p0
    k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    if isinstance(c0, int):  # round 2: c0 is still a constant
        q0 = (c0 * _M0) & (2**64 - 1)
        q1 = c2 * _M1
        c0 = torch.bitwise_right_shift(q1, 32).bitwise_xor_(c1 ^ k0).bitwise_and_(_MASK)
        c2 = torch.bitwise_xor(c3, (q0 >> 32) ^ k1).bitwise_and_(_MASK)
        c1, c3 = q1, q0 & _MASK
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        start = 2
    else:
        c0 = c0.bitwise_and_(_MASK)
        start = 1
    if isinstance(c1, int):
        c1 = torch.full_like(c2, c1)
    if isinstance(c3, int):
        c3 = torch.full_like(c2, c3)
    t0, t1 = torch.empty_like(c2), torch.empty_like(c2)
    for _ in range(start, philox.ROUNDS):
        torch.mul(c0, _M0, out=t0)  # new c3 (unmasked)
        torch.mul(c2, _M1, out=t1)  # new c1 (unmasked)
        torch.bitwise_right_shift(t1, 32, out=c0).bitwise_xor_(c1).bitwise_xor_(k0).bitwise_and_(_MASK)
        torch.bitwise_right_shift(t0, 32, out=c2).bitwise_xor_(c3).bitwise_xor_(k1).bitwise_and_(_MASK)
        c1, c3, t0, t1 = t1, t0, c3, c1
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return torch.stack((c0, c1.bitwise_and_(_MASK), c2, c3.bitwise_and_(_MASK)), dim=-1)


def philox_words(seed: int, stream: int, starts: list[int], length: int, device: Any = None) -> torch.Tensor:
    """Words ``[s, s + length)`` of the portable stream for every start: (rows, length) int64.

    The same values as ``varinit.rng.philox.words`` (uint32 there; int64 here, since torch
    cannot shift unsigned integers).
    """
    offs = [s & 3 for s in starts]
    base = [s >> 2 for s in starts]
    nb = (max(offs) + length + 3) // 4
    if len(starts) == 1:
        blocks = torch.arange(base[0], base[0] + nb, dtype=torch.int64, device=device)[None, :]
    else:
        b = torch.tensor(base, dtype=torch.int64, device=device)[:, None]
        blocks = b + torch.arange(nb, dtype=torch.int64, device=device)[None, :]
    out = _philox_int64(seed, stream, blocks).reshape(len(starts), 4 * nb)
    if len(set(offs)) == 1:
        return out[:, offs[0] : offs[0] + length]
    idx = (
        torch.tensor(offs, dtype=torch.int64, device=device)[:, None]
        + torch.arange(length, dtype=torch.int64, device=device)[None, :]
    )
    return torch.gather(out, 1, idx)


# --------------------------------------------------------------------------- backend


class _Namespace:
    """array-api-compat's torch namespace with a correctly rounded ``sqrt``.

    torch's vectorized CPU ``sqrt`` (float32 and float64) is off by one ulp on some inputs
    (about 20 % of float32 values on AVX-512); the portable stream needs IEEE's exactly
    rounded square root, which NumPy's ufunc computes (CUDA's ``sqrt`` is exact already).
    """

    def __getattr__(self, name: str) -> Any:
        value = getattr(atorch, name)
        setattr(self, name, value)  # later lookups skip __getattr__
        return value

    @staticmethod
    def sqrt(x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return torch.sqrt(x)
        import numpy as np

        return torch.from_numpy(np.sqrt(x.detach().numpy()))


_XP = _Namespace()


class TorchBackend(Backend):
    """torch tensors through array-api-compat; the native stream is a ``torch.Generator``."""

    name = "torch"
    layout = "out_in"
    index_setitem = True
    negative_steps = False
    wide = False  # unused: philox_words below is torch's own int64 kernel
    chunk = 1 << 20  # fastest of 2**16..2**20 on CPU (benchmarks/bench_torch.py): fewer op launches
    transform_chunk = 1 << 20

    @property
    def xp(self) -> Any:
        return _XP

    def default_dtype(self) -> Any:
        return torch.get_default_dtype()

    def canonical_dtype(self, dtype: Any) -> Any:
        if isinstance(dtype, torch.dtype):
            return dtype
        name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1]
        found = getattr(torch, name, None)
        if not isinstance(found, torch.dtype):
            raise TypeError(f"dtype={dtype!r} is not a torch dtype")
        return found

    def is_half(self, dtype: Any) -> bool:
        return dtype in (torch.float16, torch.bfloat16)

    def is_generator(self, obj: Any) -> bool:
        return isinstance(obj, torch.Generator)

    def make_generator(self, seed: int) -> Any:
        return torch.Generator().manual_seed(seed)

    def default_generator(self) -> Any:
        return torch.default_generator

    def native_uniform(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        u = torch.empty(shape, dtype=dtype, device=generator.device).uniform_(generator=generator)
        # [0, 1) on a 2**-24 (2**-53) grid on CPU -> the open interval (0, 1)
        half, top = _OPEN[dtype]
        return u.add_(half).clamp_(max=top)

    def native_normal(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        return torch.empty(shape, dtype=dtype, device=generator.device).normal_(generator=generator)

    def philox_words(self, seed: int, stream: int, starts: list[int], length: int, device: Any) -> Any:
        return philox_words(seed, stream, starts, length, device)

    def empty(self, n: int, dtype: Any, device: Any) -> Any:
        return torch.empty((n,), dtype=dtype, device=device)

    def fused(self, request: Request) -> Any | None:
        """A meta device holds shapes, not values: the result is an empty meta tensor (as
        torch's own factories give), whatever the seed."""
        if request.device is not None and torch.device(request.device).type == "meta":
            return torch.empty(request.out_shape, dtype=request.out_dtype, device="meta")
        return None

    def finalize(self, x: Any, dtype: Any, device: Any) -> Any:
        return x.to(device=device, dtype=dtype) if device is not None else x.to(dtype=dtype)

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        return torch.as_tensor(a).to(device=device, dtype=dtype)

    def copy_into(self, out: Any, x: Any) -> None:
        out.copy_(x)

    def host_view(self, x: Any) -> Any | None:
        """Contiguous CPU float32/float64 tensors (the compiled kernel writes into their memory)."""
        ok = isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.is_contiguous()
        if not ok or x.dtype not in (torch.float32, torch.float64) or _is_dtensor(x):
            return None
        # the kernel writes behind torch's back: count it as an in-place write (autograd's
        # saved-tensor check, and skip_init's "never written" both read the version counter)
        torch.autograd.graph.increment_version(x)
        return x.detach().numpy().reshape(-1)

    def fill(self, request: Request, out: Any) -> bool:
        """torch's own in-place kernels for the native stream (what ``torch.nn.init`` calls):
        uniform, normal, constant, and the truncated normal by redrawing in place where
        [lo, hi] holds most of the mass."""
        src, plan, t = request.source, request.plan, out
        mine = type(self).philox_words is TorchBackend.philox_words  # a subclass keeps its words
        if t.device.type == "cuda" and mine and _triton_fill(request, t):  # fused on the GPU
            return True
        if request.block is not None or t.dtype not in (torch.float32, torch.float64):
            return False
        if isinstance(plan, Constant):
            t.fill_(plan.value)
            return True
        if not isinstance(src, Native):
            return False
        gen = src.generator
        if isinstance(plan, Uniform):
            t.uniform_(plan.low, plan.high, generator=gen)
            return True
        if isinstance(plan, Normal):
            t.normal_(plan.mean, plan.std, generator=gen)
            return True
        if isinstance(plan, TruncNormal) and t.is_contiguous() and redraw_pays(plan.lo, plan.hi):
            redraw_outside(self, gen, t.view(-1).normal_(generator=gen), plan.lo, plan.hi)
            t.mul_(plan.std)
            if plan.mean != 0.0:
                t.add_(plan.mean)
            return True
        return False


BACKEND = TorchBackend()


def _triton_fill(request: Request, out: torch.Tensor) -> bool:
    """Portable uniform, normal and truncated-normal draws into ``out`` through the Triton
    kernel (``varinit.rng.triton_kernel``, bit-identical to the CPU); False where it does not
    apply or cannot run on ``out``'s device (the eager path then draws). Half precisions are
    drawn in float32 and cast; a non-contiguous ``out`` through a contiguous buffer."""
    src, plan = request.source, request.plan
    if not isinstance(src, Portable) or type(src.seed) is not int:
        return False
    kernel_args = getattr(plan, "kernel_args", None)  # elementwise plans only
    args: tuple[str, tuple[float, ...]] | None = kernel_args() if kernel_args is not None else None
    if args is None or request.dtype not in (torch.float32, torch.float64) or not request.size:
        return False
    kind, params = args
    from varinit.rng import triton_kernel

    if not triton_kernel.ready(out.device):
        return False
    same = out.dtype == request.dtype and out.is_contiguous()
    buf = out if same else torch.empty(out.shape, dtype=request.dtype, device=out.device)
    flat, rows = buf.view(-1), request.rows()
    if rows.grid == ():  # one row: the whole tensor, or a contiguous run of it
        triton_kernel.fill(flat, kind, params, src.seed, src.stream, [rows.first], rows.length)
    else:  # a block (DTensor shard): its row starts a group of rows at a time
        for a, b in rows.pieces(1 << 24):
            part = flat[a * rows.length : b * rows.length]
            triton_kernel.fill(part, kind, params, src.seed, src.stream, rows.row_starts(a, b), rows.length)
    if not same:
        out.copy_(buf)
    return True


# --------------------------------------------------------------------------- init_


def init_(
    tensor: torch.Tensor,
    scheme: str | Scheme,
    *,
    seed: Any = None,
    generator: torch.Generator | None = None,
    layout: str = "out_in",
    stream: int = 0,
    **overrides: Any,
) -> torch.Tensor:
    """Fill ``tensor`` in place from ``scheme`` (under ``torch.no_grad()``); return it.

    ``seed=int``: the portable stream (bit-identical to NumPy's ``varinit.init(scheme,
    shape, seed=seed, layout="out_in")``); ``generator=``: that ``torch.Generator``;
    neither: torch's default generator. Fans come from ``(out, in/groups, *kernel)``
    unless ``layout``, ``in_axis``/``out_axis``/``batch_axis``, ``groups`` or
    ``fan_in``/``fan_out`` say otherwise; other keywords override the scheme. A DTensor
    (Shard/Replicate) gets, on every rank, its slice of the global tensor (int seed only).

    >>> import torch
    >>> from varinit.adapters.torch import init_
    >>> w = init_(torch.nn.Parameter(torch.empty(64, 32)), "glorot_uniform", seed=1)
    >>> bool(w.abs().max() <= (6 / 96) ** 0.5), w.requires_grad
    (True, True)
    """
    _check_tensor(tensor)
    _fill(tensor, Spec.of(scheme, layout=layout, **overrides), seed, generator, stream)
    return tensor


_EMPTY = "Initializing zero-element tensors is a no-op"
_FIXED = (Constant, Identity, Dirac)  # plans that draw nothing: any dtype can hold them


def _drop_in(
    tensor: torch.Tensor,
    scheme: str,
    seed: Any,
    generator: Any,
    *,
    warn_empty: bool = False,
    **overrides: Any,
) -> torch.Tensor:
    """Fill ``tensor`` the way ``torch.nn.init`` does, from one request for ``scheme``."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor to fill in place, got {type(tensor).__name__}")
    spec = Spec.of(scheme, layout="out_in", **overrides)
    if tensor.numel() == 0:
        if warn_empty:
            warnings.warn(_EMPTY, UserWarning, stacklevel=3)
        return tensor
    shape = tuple(int(d) for d in tensor.shape)
    plan = spec.plan(shape)  # torch checks a meta tensor's shape too
    if tensor.is_meta:
        return tensor
    if isinstance(plan, _FIXED) and seed is None and generator is None:
        seed = 0  # nothing is drawn: no generator needed, whatever the device
    if tensor.dtype in _FLOATS:
        _fill(tensor, spec, seed, generator, 0)
        return tensor
    with torch.no_grad():
        if tensor.dtype.is_complex:
            _fill_complex(tensor, spec, plan, seed, generator)
        elif isinstance(plan, _FIXED):
            tensor.copy_(_drawn(spec, shape, torch.float64, tensor.device, seed, generator))
        else:
            raise TypeError(
                f"{scheme} draws real values, which a {tensor.dtype} tensor cannot hold "
                "(torch.nn.init raises here too); fill a floating tensor"
            )
    return tensor


def _drawn(spec: Spec, shape: tuple[int, ...], dtype: Any, device: Any, seed: Any, generator: Any) -> Any:
    out = torch.empty(shape, dtype=dtype, device=device)
    _fill(out, spec, seed, generator, 0)
    return out


def _fill_complex(tensor: torch.Tensor, spec: Spec, plan: Any, seed: Any, generator: Any) -> None:
    """torch's complex laws: real and imaginary parts i.i.d., U(a, b) each for a uniform,
    N(mean, std^2 / 2) each for a normal (so E|z - mean(1+i)|^2 = std^2); the portable stream
    fills ``view_as_real(tensor)`` in C order."""
    real_dtype = tensor.real.dtype
    if isinstance(plan, _FIXED):
        tensor.copy_(_drawn(spec, tuple(tensor.shape), real_dtype, tensor.device, seed, generator))
    elif isinstance(plan, Uniform):
        _fill(
            torch.view_as_real(tensor), Spec.of("uniform", low=plan.low, high=plan.high), seed, generator, 0
        )
    elif isinstance(plan, Normal):
        part = Spec.of("normal", mean=plan.mean, std=plan.std / math.sqrt(2.0))
        _fill(torch.view_as_real(tensor), part, seed, generator, 0)
    elif isinstance(plan, Sparse):  # one zero pattern for both parts; the imaginary part: stream 1
        half = plan.std / math.sqrt(2.0)
        shape = tuple(tensor.shape)
        sparse = Spec.of("sparse", layout="out_in", sparsity=plan.sparsity, std=half)
        re = _drawn(sparse, shape, real_dtype, tensor.device, seed, generator)
        im = torch.empty_like(re)
        _fill(im, Spec.of("normal", std=half), seed, generator, 1)
        tensor.copy_(torch.complex(re, im.masked_fill_(re == 0, 0.0)))
    else:
        raise TypeError(
            f"{spec.scheme.name} has no complex form (torch.nn.init raises for a {tensor.dtype} "
            "tensor here too); fill the real and imaginary parts separately"
        )


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """``torch.nn.init.calculate_gain``: the recommended gain for ``nonlinearity``.

    >>> from varinit.adapters.torch import calculate_gain
    >>> calculate_gain("leaky_relu", 0.2) == calculate_gain("leaky_relu", -0.2)
    True
    """
    if not isinstance(nonlinearity, str):
        raise ValueError(f"Unsupported nonlinearity {nonlinearity}")
    return table_gain(nonlinearity, param)


def uniform_(
    tensor: torch.Tensor,
    a: float = 0.0,
    b: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    seed: Any = None,
) -> torch.Tensor:
    """``torch.nn.init.uniform_``: U(a, b).

    >>> import torch
    >>> from varinit.adapters import torch as init
    >>> w = init.uniform_(torch.empty(3, 5), -1.0, 1.0, seed=0)  # the portable stream
    >>> bool(w.abs().max() < 1)
    True
    """
    return _drop_in(tensor, "uniform", seed, generator, low=a, high=b)


def normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    seed: Any = None,
) -> torch.Tensor:
    """``torch.nn.init.normal_``: N(mean, std^2)."""
    return _drop_in(tensor, "normal", seed, generator, mean=mean, std=std)


def trunc_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
    *,
    seed: Any = None,
) -> torch.Tensor:
    """``torch.nn.init.trunc_normal_`` (and timm's): N(mean, std^2) restricted to [a, b]
    (absolute bounds), exact in the far tails (every value inside [a, b])."""
    return _drop_in(tensor, "trunc_normal", seed, generator, mean=mean, std=std, a=a, b=b)


def constant_(
    tensor: torch.Tensor, val: float, *, seed: Any = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``torch.nn.init.constant_``: every element ``val`` (any dtype; a complex ``val`` for a
    complex tensor)."""
    if isinstance(val, complex) and isinstance(tensor, torch.Tensor) and tensor.dtype.is_complex:
        _drop_in(tensor.real, "constant", seed, generator, value=val.real)
        _drop_in(tensor.imag, "constant", seed, generator, value=val.imag)
        return tensor
    return _drop_in(tensor, "constant", seed, generator, value=val)


def ones_(
    tensor: torch.Tensor, *, seed: Any = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``torch.nn.init.ones_``: every element 1 (any dtype)."""
    return _drop_in(tensor, "ones", seed, generator)


def zeros_(
    tensor: torch.Tensor, *, seed: Any = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``torch.nn.init.zeros_``: every element 0 (any dtype)."""
    return _drop_in(tensor, "zeros", seed, generator)


def eye_(tensor: torch.Tensor, *, seed: Any = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``torch.nn.init.eye_``: the (rectangular) identity matrix (any dtype)."""
    return _drop_in(tensor, "identity", seed, generator)


def dirac_(
    tensor: torch.Tensor, groups: int = 1, *, seed: Any = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``torch.nn.init.dirac_``: the identity convolution kernel, per group (any dtype)."""
    return _drop_in(tensor, "dirac", seed, generator, groups=groups)


def xavier_uniform_(
    tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None, *, seed: Any = None
) -> torch.Tensor:
    """``torch.nn.init.xavier_uniform_``: U(+-gain * sqrt(6 / (fan_in + fan_out)))."""
    return _drop_in(tensor, "glorot_uniform", seed, generator, gain=gain)


def xavier_normal_(
    tensor: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None, *, seed: Any = None
) -> torch.Tensor:
    """``torch.nn.init.xavier_normal_``: N(0, gain^2 * 2 / (fan_in + fan_out)), untruncated."""
    return _drop_in(tensor, "xavier_normal", seed, generator, gain=gain)


def kaiming_uniform_(
    tensor: torch.Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
    *,
    seed: Any = None,
) -> torch.Tensor:
    """``torch.nn.init.kaiming_uniform_``: U(+-gain(nonlinearity, a) * sqrt(3 / fan))."""
    return _drop_in(
        tensor, "kaiming_uniform", seed, generator, warn_empty=True, a=a, mode=mode, nonlinearity=nonlinearity
    )


def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
    *,
    seed: Any = None,
) -> torch.Tensor:
    """``torch.nn.init.kaiming_normal_``: N(0, gain(nonlinearity, a)^2 / fan), untruncated."""
    return _drop_in(
        tensor, "kaiming_normal", seed, generator, warn_empty=True, a=a, mode=mode, nonlinearity=nonlinearity
    )


def orthogonal_(
    tensor: torch.Tensor, gain: float = 1, generator: torch.Generator | None = None, *, seed: Any = None
) -> torch.Tensor:
    """``torch.nn.init.orthogonal_``: gain times a (semi-)orthogonal matrix (rows = dim 0)."""
    return _drop_in(tensor, "orthogonal", seed, generator, gain=gain)


def sparse_(
    tensor: torch.Tensor,
    sparsity: float,
    std: float = 0.01,
    generator: torch.Generator | None = None,
    *,
    seed: Any = None,
) -> torch.Tensor:
    """``torch.nn.init.sparse_``: N(0, std^2) with ceil(sparsity * rows) zeros per column."""
    return _drop_in(tensor, "sparse", seed, generator, sparsity=sparsity, std=std)


def _deprecated(new: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """torch.nn.init's deprecated name without the trailing underscore (a FutureWarning)."""
    old = new.__name__[:-1]

    def deprecated_init(*args: Any, **kwargs: Any) -> torch.Tensor:
        warnings.warn(
            f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new.__name__}`.",
            FutureWarning,
            stacklevel=2,
        )
        return new(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = old
    deprecated_init.__doc__ = f"Deprecated alias of ``{new.__name__}`` (as in ``torch.nn.init``)."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)


# --------------------------------------------------------------------------- timm.layers' initializers
# Also exported by varinit.adapters.timm; timm's trunc_normal_ is torch's (above).


def lecun_normal_(
    tensor: torch.Tensor, mode: str = "fan_in", generator: torch.Generator | None = None, *, seed: Any = None
) -> torch.Tensor:
    """timm's ``lecun_normal_``, the Keras/JAX LeCun normal (torch has none): normal truncated
    at +-2 sigma, sigma corrected so Var = 1 / fan_in."""
    return _drop_in(tensor, "lecun_normal", seed, generator, mode=mode)


def trunc_normal_tf_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    seed: Any = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """timm's ``trunc_normal_tf_``: mean + std * Z, Z standard normal restricted to [a, b]
    (bounds in std units, as TensorFlow and JAX have them)."""
    return _drop_in(
        tensor, "trunc_normal", seed, generator, mean=mean, std=std, a=mean + a * std, b=mean + b * std
    )


def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "normal",
    *,
    seed: Any = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """timm's ``variance_scaling_``: Var = scale / fan; ``"truncated_normal"`` is cut at +-2
    sigma and corrected, ``"normal"`` untruncated, ``"uniform"`` U(+-sqrt(3 Var))."""
    return _drop_in(
        tensor, "variance_scaling", seed, generator, factor=scale, mode=mode, distribution=distribution
    )


# whole-model init lives in its own module; these names stay importable from here
from ._torch_model import init_module  # noqa: E402

InitSummary = Report  # the report's former name
Touched = Row
