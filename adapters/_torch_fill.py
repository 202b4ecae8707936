"""torch's fill primitives, shared by ``init_`` (``varinit.adapters.torch``) and
``init_module`` (``varinit.adapters._torch_model``): argument checks, the seed or generator
a request takes, the one eager fill (DTensor shards included), and the per-parameter
request a whole-model init shares between alike parameters.

>>> import torch
>>> from varinit.adapters._torch_fill import _fan_overrides
>>> _fan_overrides(torch.nn.Conv2d(4, 8, 3, groups=2), "weight", (8, 2, 3, 3))
{'fan_in': 18, 'fan_out': 36, 'groups': 2}
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.nn.modules.conv import _ConvNd

from varinit.core.backend import Backend, get_backend
from varinit.core.executor import execute
from varinit.core.request import Portable, Request, Spec

_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _backend() -> Backend:
    """The torch backend (``varinit.adapters.torch.BACKEND``), through the core's registry."""
    return get_backend("torch")


def _default_generator(device: torch.device) -> torch.Generator:
    if device.type == "cpu":
        return torch.default_generator
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[idx]
    raise ValueError(
        f"seed=None on a {device.type!r} tensor: torch has no default generator varinit can use "
        "there; pass seed=<int> (portable stream) or generator=torch.Generator(device)"
    )


def _check_tensor(tensor: Any) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"init_ fills a torch.Tensor in place, got {type(tensor).__name__}")
    if tensor.is_meta:
        raise ValueError(
            f"tensor of shape {tuple(tensor.shape)} is on the meta device and has no storage to "
            "fill; materialize it first (module.to_empty(device=...) or torch.empty_like(t, "
            "device=...)), then call init_"
        )
    if tensor.dtype not in _FLOATS:
        raise TypeError(
            f"tensor has dtype {tensor.dtype}: init_ fills real floating tensors (float32, "
            "float64, float16, bfloat16); an integer, bool or complex tensor cannot hold "
            "these values"
        )


def _seed_arg(seed: Any, generator: Any, device: torch.device) -> Any:
    """torch's (seed, generator) pair as the request's one ``seed``: an int, or a generator
    (torch's default generator for the tensor's device when neither is given)."""
    if generator is not None:
        if seed is not None:
            raise ValueError("pass seed= or generator=, not both")
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator={generator!r} is not a torch.Generator")
        return generator
    if seed is None:
        return _default_generator(device)
    return seed


def _is_dtensor(t: Any) -> bool:
    cls = _dtensor_class()
    return cls is not None and isinstance(t, cls)


@functools.cache
def _dtensor_class() -> type | None:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover - torch built without distributed
        return None
    return DTensor


def _fill_eager(tensor: torch.Tensor, spec: Spec, seed: Any, generator: Any, stream: int) -> None:
    """The front door's one job: the tensor's request, drawn into the tensor.

    Never traced by ``torch.compile`` (dynamo would swap NumPy's math for torch's, which
    rounds differently): under any backend it runs eagerly, so the values stay bit-identical."""
    shape = tuple(int(d) for d in tensor.shape)
    if math.prod(shape) == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return
    with torch.no_grad():
        if _is_dtensor(tensor):
            if generator is not None or seed is None:
                raise ValueError(
                    "a DTensor is filled from the portable stream so every rank draws its own "
                    "slice of the same global tensor: pass seed=<int> (not a generator or None)"
                )
            from ._torch_deferred import dtensor_pieces

            local, pieces = dtensor_pieces(tensor)  # a _StridedShard shard may be several
            for here, there in pieces:
                req = spec.request(
                    shape,
                    backend=_backend(),
                    seed=seed,
                    stream=stream,
                    dtype=tensor.dtype,
                    device=local.device,
                    index=there,
                )
                part = local[here]
                if part.numel() == 0:
                    continue
                if part.is_contiguous():
                    execute(req, out=part)
                else:
                    part.copy_(execute(req))
            return
        seed = _seed_arg(seed, generator, tensor.device)
        req = spec.request(
            shape, backend=_backend(), seed=seed, stream=stream, dtype=tensor.dtype, device=tensor.device
        )
        execute(req, out=tensor)


def _fill(tensor: torch.Tensor, spec: Spec, seed: Any, generator: Any, stream: int) -> None:
    """``_fill_eager`` out of ``torch.compile``'s reach (see its docstring).

    The wrapper is made on the first call in a process that has loaded TorchDynamo (only such
    a process can be compiling): importing Dynamo loads Triton's LLVM where one is installed,
    and that aborts a process that has loaded TensorFlow's, so ``import`` never does it here.
    """
    if "torch._dynamo" in sys.modules:
        _fill_disabled()(tensor, spec, seed, generator, stream)
    else:
        _fill_eager(tensor, spec, seed, generator, stream)


@functools.cache
def _fill_disabled() -> Callable[[torch.Tensor, Spec, Any, Any, int], None]:
    fn: Callable[[torch.Tensor, Spec, Any, Any, int], None] = torch.compiler.disable(_fill_eager)  # type: ignore[no-untyped-call]
    return fn


# --------------------------------------------------------------------------- init_module


_FAN_OVERRIDES = frozenset({"fan_in", "fan_out", "in_axis", "out_axis", "batch_axis", "groups"})


def _fan_overrides(owner: torch.nn.Module, local: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """Fans torch's layout does not show: grouped and transposed convs, and biases."""
    weight = getattr(owner, "weight", None)
    if isinstance(owner, _ConvNd) and isinstance(weight, torch.Tensor) and weight.dim() >= 3:
        w = tuple(int(d) for d in weight.shape)
        k, g = math.prod(w[2:]), int(owner.groups)
        if owner.transposed:  # (in, out/groups, *k)
            fi, fo = (w[0] // g) * k, w[1] * k
        else:  # (out, in/groups, *k)
            fi, fo = w[1] * k, (w[0] // g) * k
        if local == "weight":
            return {"fan_in": fi, "fan_out": fo, "groups": g}
        return {"fan_in": fi, "fan_out": fo}
    if len(shape) < 2 and isinstance(weight, torch.Tensor) and weight.dim() == 2:
        return {"fan_in": int(weight.shape[1]), "fan_out": int(weight.shape[0])}
    return {}


def _module_request(
    templates: dict[Any, tuple[Request, float]],
    key: Any,
    spec: Spec,
    param: torch.Tensor,
    seed: Any,
    gen: Any,
    stream: int,
) -> tuple[Request, float]:
    """``param``'s request and std; parameters alike (``key``: rule, fans and shape; dtype,
    device) share one built request and differ only in their stream."""
    key = (key, param.dtype, param.device)
    hit = templates.get(key)
    if hit is None:
        src = _seed_arg(None if gen is not None else seed, gen, param.device)
        dev = param.device
        req = spec.request(
            tuple(param.shape), backend=_backend(), seed=src, stream=stream, dtype=param.dtype, device=dev
        )
        templates[key] = hit = (req, _std_or_nan(spec, req.shape))
        return hit
    req, std = hit
    src = req.source
    if isinstance(src, Portable) and src.stream != stream and getattr(req.plan, "random", True):
        return req.with_(source=Portable(src.seed, stream)), std
    return req, std


def _std_or_nan(spec: Spec, shape: tuple[int, ...]) -> float:
    try:
        return spec.std(shape)
    except (ValueError, ArithmeticError):
        return math.nan


# --------------------------------------------------------------------------- torch.nn.init, name for name
# Every public name of torch.nn.init, with torch's parameters (names, order, defaults) and a
# keyword-only ``seed=``; each builds one request through the core, with torch's conventions
# around it: a meta tensor is checked and returned untouched, a zero-element tensor is
# returned (kaiming_* warn, as torch does), integer and bool tensors take the names that
# draw nothing, complex tensors the names torch draws complex values for.
