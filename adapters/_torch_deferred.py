"""Deferred init for large torch models: build without torch's init kernels, fill once.

>>> import torch
>>> from varinit.adapters._torch_deferred import prepare, skip_init
>>> with skip_init():
...     net = torch.nn.Linear(4096, 4096)  # no kaiming_uniform_ ran; nothing allocated
>>> net.weight.is_meta, net.weight.requires_grad
(True, True)
>>> should = prepare(net, device="cpu", only_missing=True)
>>> net.weight.device.type, should("weight", net.weight), should.materialized
('cpu', True, ('weight', 'bias'))

**The mechanism.** Inside :func:`skip_init`, ``torch.nn.Module.register_parameter`` (which
every ``self.w = nn.Parameter(...)`` goes through) is wrapped, for the calling thread only:
each new ``nn.Parameter`` is turned, in place (``torch.utils.swap_tensors``, so the object and
every reference to it stay the same), into a meta tensor of its shape, dtype and
``requires_grad``. The module's own init (``reset_parameters``) then meets meta tensors:
``torch.nn.init``'s in-place functions (``kaiming_uniform_``, ``normal_``...), wrapped the
same way, return a meta tensor untouched (torch's own meta ``normal_`` would import
TorchDynamo, seconds, and Triton's LLVM where Triton is installed), and any other kernel
costs nothing on meta. With a real ``device``
the parameters become uninitialised ``torch.empty`` tensors on that device when the block
exits, and each is remembered, weakly, with its version counter (``param._version``): any
in-place write through the tensor (``copy_``, ``load_state_dict``, ``torch.nn.init.*_``, an
optimizer step) bumps it, and the parameter no longer counts as missing.

**Its limits.**
- Only parameters are deferred; buffers are built as torch builds them (they are small
  and often computed: BatchNorm's running statistics, rotary tables).
- An init kernel that runs *before* the tensor becomes a parameter
  (``nn.Parameter(torch.randn(n, n))``) still runs; only its result is dropped. A tensor
  method called directly (``self.weight.normal_()``) runs torch's meta kernel (a no-op,
  but ``normal_`` imports TorchDynamo on first use).
- Code in a constructor that reads parameter values (``.item()``, ``.tolist()``) fails
  on meta tensors. With a real device the parameters are meta until the block exits.
- A parameter placed straight into ``module._parameters`` (not through
  ``register_parameter``), a subclass of ``nn.Parameter`` and a DTensor are left alone.
- A write through ``param.data`` (``p.data.normal_()``) has a version counter of its own,
  which torch does not share with ``p``: it is not seen. Write through ``p`` itself under
  ``torch.no_grad()``. Nor is a write into the tensor's memory behind torch's back (varinit's
  compiled kernel fills CPU float32/float64 tensors that way): :func:`mark_written` counts
  it. A parameter replaced by a new object (``load_state_dict(..., assign=True)``,
  ``fully_shard``, ``.to()`` across devices) is a new tensor, not "missing".
- Thread safety: the wrapper is installed while any thread is inside ``skip_init``
  (counted under a lock) and consults a thread-local stack, so another thread building
  modules at the same time builds them normally; threads started inside the block do too.
  On an exception the block's state is unwound and its parameters are left on meta.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.weak import WeakIdKeyDictionary

__all__ = [
    "ShouldInit",
    "dtensor_pieces",
    "fill_dtensor",
    "is_unwritten",
    "mark_written",
    "prepare",
    "skip_init",
]


# --------------------------------------------------------------------------- skip_init


@dataclass
class _Frame:
    device: torch.device
    deferred: list[torch.nn.Parameter] = field(default_factory=list)


class _Local(threading.local):
    def __init__(self) -> None:
        self.frames: list[_Frame] = []


_LOCAL = _Local()
_LOCK = threading.Lock()
_ACTIVE = 0  # threads inside skip_init (the wrapper is installed while > 0)
_ORIGINAL: Callable[..., None] | None = None
#: parameters skip_init or prepare left uninitialised -> their version counters then
_UNWRITTEN: WeakIdKeyDictionary = WeakIdKeyDictionary()


def _swap(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.utils.swap_tensors(a, b)  # type: ignore[no-untyped-call]


def _register_parameter(self: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
    frames = _LOCAL.frames
    original = _ORIGINAL
    assert original is not None
    if frames and type(param) is torch.nn.Parameter and not param.is_meta and not _is_dtensor(param):
        meta = torch.nn.Parameter(torch.empty_like(param, device="meta"), requires_grad=param.requires_grad)
        try:
            _swap(param, meta)  # every reference to ``param`` now sees meta
        except RuntimeError:  # a view or another holder: register the meta one instead
            param = meta
        frames[-1].deferred.append(param)
    original(self, name, param)


#: torch.nn.init's in-place functions (``normal_``, ``kaiming_uniform_``...), wrapped while
#: installed: on a meta tensor, in a thread inside skip_init, they return it untouched
_INIT_NAMES = tuple(
    n for n in getattr(torch.nn.init, "__all__", ("uniform_", "normal_", "trunc_normal_")) if n.endswith("_")
)
_INIT_WRAPPERS: dict[str, Callable[..., Any]] = {}


def _skipping(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def skip_on_meta(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        # torch's meta normal_ goes through torch._refs, which imports TorchDynamo (seconds,
        # and Triton's LLVM where it is installed): a meta tensor has nothing to fill
        if _LOCAL.frames and isinstance(tensor, torch.Tensor) and tensor.is_meta:
            return tensor
        return fn(tensor, *args, **kwargs)

    return skip_on_meta


def _install() -> None:
    global _ACTIVE, _ORIGINAL
    with _LOCK:
        if _ACTIVE == 0:
            _ORIGINAL = torch.nn.Module.register_parameter
            torch.nn.Module.register_parameter = _register_parameter  # type: ignore[method-assign]
            for name in _INIT_NAMES:
                fn = getattr(torch.nn.init, name, None)
                if callable(fn):
                    _INIT_WRAPPERS[name] = wrapper = _skipping(fn)
                    setattr(torch.nn.init, name, wrapper)
        _ACTIVE += 1


def _uninstall() -> None:
    global _ACTIVE
    with _LOCK:
        _ACTIVE -= 1
        if _ACTIVE:
            return
        if torch.nn.Module.register_parameter is _register_parameter:
            torch.nn.Module.register_parameter = _ORIGINAL  # type: ignore[method-assign,assignment]
        for name, wrapper in _INIT_WRAPPERS.items():
            if getattr(torch.nn.init, name, None) is wrapper:  # not replaced by someone since
                setattr(torch.nn.init, name, wrapper.__wrapped__)  # type: ignore[attr-defined]
        _INIT_WRAPPERS.clear()


@contextlib.contextmanager
def skip_init(device: str | torch.device = "meta") -> Iterator[None]:
    """Build modules without running torch's init kernels on their parameters.

    ``device="meta"`` (the default): parameters are meta tensors (shape, dtype and
    ``requires_grad``, no memory); ``init_module(..., device=...)`` materialises and fills
    them in one pass. A real device (``"cpu"``, ``"cuda:0"``): when the block exits, they are
    uninitialised ``torch.empty`` tensors there, remembered as never written until something
    writes into them (``init_module(..., only_missing=True)`` fills only those). Nesting
    works (the innermost device applies); the effect is confined to the calling thread.

    >>> import torch
    >>> from varinit.adapters._torch_deferred import is_unwritten, skip_init
    >>> with skip_init("cpu"):
    ...     emb = torch.nn.Embedding(1000, 64)
    >>> emb.weight.device.type, is_unwritten(emb.weight)
    ('cpu', True)
    """
    dev = torch.device(device)
    frame = _Frame(dev)
    _install()
    _LOCAL.frames.append(frame)
    try:
        yield
    finally:
        _LOCAL.frames.pop()
        _uninstall()
    if dev.type != "meta":
        _materialize_deferred(frame)


def _materialize_deferred(frame: _Frame) -> None:
    for p in frame.deferred:
        if not p.is_meta:  # replaced or materialised meanwhile
            continue
        new = torch.nn.Parameter(torch.empty_like(p, device=frame.device), requires_grad=p.requires_grad)
        _swap(p, new)
        _remember(p)


def _versions(t: Any) -> tuple[int, ...]:
    """``t``'s version counter (a DTensor's and its local shard's: a fill writes the shard)."""
    if _is_dtensor(t):
        return (int(t._version), int(t._local_tensor._version))
    return (int(t._version),)


def _remember(t: torch.Tensor) -> None:
    with _LOCK:
        _UNWRITTEN[t] = _versions(t)


def mark_written(*tensors: torch.Tensor) -> None:
    """Count ``tensors`` as written (bump their version counters; a DTensor's local shard too).

    For writes torch does not see: the compiled kernel fills a tensor's memory directly.

    >>> import torch
    >>> from varinit.adapters._torch_deferred import is_unwritten, mark_written, skip_init
    >>> with skip_init("cpu"):
    ...     lin = torch.nn.Linear(3, 2)
    >>> mark_written(lin.weight)
    >>> is_unwritten(lin.weight), is_unwritten(lin.bias)
    (False, True)
    """
    for t in tensors:
        torch.autograd.graph.increment_version(t)
        if _is_dtensor(t):
            torch.autograd.graph.increment_version(t._local_tensor)  # type: ignore[attr-defined]


def is_unwritten(param: torch.Tensor) -> bool:
    """Whether ``param`` was created under ``skip_init(device)`` and never written since.

    >>> import torch
    >>> from varinit.adapters._torch_deferred import is_unwritten, skip_init
    >>> with skip_init("cpu"):
    ...     lin = torch.nn.Linear(3, 2)
    >>> with torch.no_grad():
    ...     _ = lin.bias.zero_()
    >>> is_unwritten(lin.weight), is_unwritten(lin.bias)
    (True, False)
    """
    with _LOCK:
        version = _UNWRITTEN.get(param)  # type: ignore[no-untyped-call]
    return version is not None and not _on_meta(param) and _versions(param) == version


# --------------------------------------------------------------------------- prepare


@dataclass(frozen=True)
class ShouldInit:
    """``prepare``'s answer: call it as ``should(qualified_name, param)``.

    ``materialized``: the parameters that were on meta and now live on the device (their
    first qualified name); ``buffers``: meta buffers now allocated there, uninitialised.
    """

    only_missing: bool
    materialized: tuple[str, ...] = ()
    buffers: tuple[str, ...] = ()

    def __call__(self, name: str, param: torch.Tensor) -> bool:
        if not self.only_missing:
            return True
        return is_unwritten(param)


def _is_dtensor(t: Any) -> bool:
    # no DTensor exists before torch.distributed.tensor is imported (importing it costs seconds)
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def _on_meta(t: torch.Tensor) -> bool:
    if _is_dtensor(t):
        return bool(t._local_tensor.is_meta)  # type: ignore[attr-defined]
    return bool(t.is_meta)


def _empty_on(t: Any, device: torch.device) -> torch.Tensor:
    """An uninitialised tensor like meta ``t`` on ``device`` (a DTensor keeps its mesh and
    placements, with a local shard of the same shape)."""
    if _is_dtensor(t):
        from torch.distributed.tensor import DTensor

        mesh = t.device_mesh
        if mesh.device_type != device.type:
            raise ValueError(
                f"device={str(device)!r} differs from the DTensor's mesh device type "
                f"{mesh.device_type!r}: pass device={mesh.device_type!r}"
            )
        local = torch.empty_like(t._local_tensor, device=device)
        return DTensor.from_local(
            local,
            mesh,
            t.placements,
            run_check=False,
            shape=t.shape,
            stride=t.stride(),
        )
    return torch.empty_like(t, device=device)


def prepare(module: torch.nn.Module, *, device: Any = None, only_missing: bool = False) -> ShouldInit:
    """Materialise ``module``'s meta parameters on ``device``; say which to initialise.

    Each meta parameter becomes an uninitialised tensor on ``device`` in place: the same
    ``nn.Parameter`` object (``torch.utils.swap_tensors``), so tied weights stay tied and
    ``requires_grad`` is kept; a meta DTensor gets a local shard on ``device`` with the same
    mesh and placements. Meta buffers are allocated there too, uninitialised, with a
    warning naming them (no rule fills a buffer). The answer ``should(name, param)`` is
    always True, or with ``only_missing=True`` True only for a parameter left uninitialised
    by this or an earlier ``prepare`` (it was on meta) or by :func:`skip_init` (a real
    device), and not written since (a failed ``init_module`` can be retried).

    >>> import torch
    >>> from varinit.adapters._torch_deferred import prepare
    >>> with torch.device("meta"):
    ...     net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))
    >>> net.load_state_dict({"1.weight": torch.zeros(2, 8), "1.bias": torch.zeros(2)},
    ...                     strict=False, assign=True).missing_keys
    ['0.weight', '0.bias']
    >>> should = prepare(net, device="cpu", only_missing=True)
    >>> [n for n, p in net.named_parameters() if should(n, p)]
    ['0.weight', '0.bias']
    """
    dev = None if device is None else torch.device(device)
    if dev is not None and dev.type == "meta":
        raise ValueError("device='meta' cannot hold values: pass the device to fill on, e.g. device='cpu'")
    params = list(module.named_parameters(remove_duplicate=False))
    meta = [(n, p) for n, p in params if _on_meta(p)]
    if meta and dev is None:
        name, p = meta[0]
        more = f" (and {len(meta) - 1} more)" if len(meta) > 1 else ""
        raise ValueError(
            f"parameter {name!r} (shape {tuple(p.shape)}){more} is on the meta device and holds no "
            "values: pass device='cpu' (or 'cuda') to init_module to materialise it there, or load "
            "it first with module.load_state_dict(state, assign=True)"
        )
    done: dict[int, torch.Tensor] = {}
    names: list[str] = []
    if dev is not None:
        for name, p in meta:
            if id(p) in done:
                continue
            new = _empty_on(p, dev)
            done[id(p)] = p
            names.append(name)
            swapped = torch.nn.Parameter(new, requires_grad=p.requires_grad)
            try:
                _swap(p, swapped)
            except RuntimeError:  # held elsewhere: put the new one everywhere it was
                _replace(module, "_parameters", p, swapped)
                done[id(p)] = swapped
    buffers = _materialize_buffers(module, dev) if dev is not None else []
    if buffers:
        warnings.warn(
            f"buffers {', '.join(buffers)} were on the meta device and are now uninitialised on "
            f"{dev}: load them (load_state_dict) or reset them (e.g. BatchNorm's "
            "reset_running_stats()) before use",
            UserWarning,
            stacklevel=2,
        )
    for t in done.values():  # uninitialised, like skip_init(device)'s: missing until written
        _remember(t)
    return ShouldInit(only_missing, tuple(names), tuple(buffers))


def _replace(module: torch.nn.Module, slot: str, old: torch.Tensor, new: torch.Tensor) -> None:
    for m in module.modules():
        table = getattr(m, slot)
        for k, v in list(table.items()):
            if v is old:
                table[k] = new


def _materialize_buffers(module: torch.nn.Module, dev: torch.device) -> list[str]:
    made: dict[int, torch.Tensor] = {}
    names: list[str] = []
    for prefix, m in module.named_modules(remove_duplicate=False):
        for k, b in list(m._buffers.items()):
            if b is None or not _on_meta(b):
                continue
            if id(b) not in made:
                made[id(b)] = _empty_on(b, dev)
                names.append(f"{prefix}.{k}" if prefix else k)
            m._buffers[k] = made[id(b)]
    return names


# --------------------------------------------------------------------------- DTensor shards


Piece = tuple[tuple[slice, ...], tuple[slice, ...]]


def _global_rows(t: Any) -> list[list[int]] | None:
    """For each axis of DTensor ``t``, the global indices its local shard holds, in order
    (torch's own splitting rules, applied mesh dimension by mesh dimension, left to right),
    or None when this rank is not in the mesh."""
    from torch.distributed.tensor import Shard

    mesh = t.device_mesh
    coord = mesh.get_coordinate()
    if coord is None:
        return None
    rows = [list(range(int(n))) for n in t.shape]
    for mesh_dim, p in enumerate(t.placements):
        strided = type(p).__name__ == "_StridedShard"
        if p.is_replicate():
            continue
        if not (strided or p.is_shard()):
            raise ValueError(
                f"DTensor placement {p} is not supported by init_: use Shard(dim), _StridedShard or "
                "Replicate() (a Partial tensor holds summands, not values)"
            )
        axis = int(p.dim)
        cur = torch.tensor(rows[axis], dtype=torch.int64)
        splitter = type(p)(0, split_factor=p.split_factor) if strided else Shard(0)
        chunks, _ = splitter._split_tensor(
            cur, int(mesh.size(mesh_dim)), with_padding=False, contiguous=False
        )
        r = int(coord[mesh_dim])
        rows[axis] = chunks[r].tolist() if r < len(chunks) else []
    return rows


def _runs(idx: list[int]) -> list[tuple[int, int, int]]:
    """``idx`` as maximal runs of consecutive integers: (local start, global start, length)."""
    out: list[tuple[int, int, int]] = []
    for i, g in enumerate(idx):
        if out and out[-1][1] + out[-1][2] == g:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + 1)
        else:
            out.append((i, g, 1))
    return out


def dtensor_pieces(t: Any) -> tuple[torch.Tensor, list[Piece]]:
    """(local tensor, its pieces): each piece a pair (index into the local tensor, index
    into the global tensor) of equal-shape blocks; together they cover the local tensor.

    A ``Shard``/``Replicate`` shard is one piece; a ``_StridedShard`` shard can be several
    (rows of the global tensor that are not contiguous there). An empty shard has none.

    >>> from varinit.adapters._torch_deferred import _runs
    >>> _runs([0, 1, 4, 5, 6])  # a strided shard's rows: two runs
    [(0, 0, 2), (2, 4, 3)]
    """
    local = t._local_tensor
    rows = _global_rows(t)
    if rows is None or any(not r for r in rows):
        return local, []
    pieces: list[Piece] = []
    for combo in itertools.product(*(_runs(r) for r in rows)):
        pieces.append(
            (
                tuple(slice(lo, lo + n) for lo, _, n in combo),
                tuple(slice(g, g + n) for _, g, n in combo),
            )
        )
    return local, pieces


def dtensor_block(t: Any) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """(local tensor, the one block of the global tensor it holds): ``init_``'s contract.

    A strided shard whose rows form one contiguous or evenly stepped block per axis (as
    FSDP2 over tensor parallelism gives) is one block; one that is several separate pieces
    raises ``ValueError`` (:func:`fill_dtensor` fills those piece by piece)."""
    local = t._local_tensor
    rows = _global_rows(t)
    if rows is None or any(not r for r in rows):
        return local, tuple(slice(0, 0) for _ in t.shape)
    index: list[slice] = []
    for axis, r in enumerate(rows):
        step = r[1] - r[0] if len(r) > 1 else 1
        if step <= 0 or any(b - a != step for a, b in itertools.pairwise(r)):
            raise ValueError(
                f"DTensor placements {tuple(t.placements)} give this rank {len(_runs(r))} separate "
                f"pieces of axis {axis} of the global shape {tuple(t.shape)}: init_ fills one block per "
                "rank; use varinit.adapters._torch_deferred.fill_dtensor(tensor, scheme, seed=...), or "
                "follow the _StridedShard with the Shard it splits (FSDP2 over tensor parallelism)"
            )
        index.append(slice(r[0], r[-1] + 1, step))
    return local, tuple(index)


def fill_dtensor(
    t: Any, scheme: Any, *, seed: int, stream: int = 0, layout: str = "out_in", **overrides: Any
) -> Any:
    """Fill DTensor ``t`` (any Shard/_StridedShard/Replicate placements) from the portable
    stream: each rank draws exactly its pieces of the global tensor, into its local shard.
    Memory: one piece at a time, at most the local shard.

    >>> # on every rank of a process group:  fill_dtensor(d, "he_normal", seed=0)
    """
    from varinit.core.backend import get_backend
    from varinit.core.executor import execute
    from varinit.core.request import Spec

    BACKEND = get_backend("torch")

    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(
            f"seed={seed!r}: a DTensor is filled from the portable stream so every rank draws its own "
            "slice of the same global tensor: pass seed=<int>"
        )
    spec = Spec.of(scheme, layout=layout, **overrides)
    shape = tuple(int(d) for d in t.shape)
    local, pieces = dtensor_pieces(t)
    with torch.no_grad():
        for loc, glob in pieces:
            req = spec.request(
                shape,
                backend=BACKEND,
                seed=seed,
                stream=stream,
                dtype=t.dtype,
                device=local.device,
                index=glob,
            )
            execute(req, out=local[loc])
    return t
