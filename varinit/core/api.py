"""The one-call API: ``init``, ``std`` and ``stream_id``."""

from __future__ import annotations

import functools
import hashlib
import importlib
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import LayoutWarning
from .fans import normalize_shape

if TYPE_CHECKING:  # the request, the executor and the plans load on the first draw
    from .plans import Plan
    from .request import Index
    from .table import Scheme

__all__ = ["init", "plan", "std", "stream_id"]


def plan(
    scheme: str | Scheme, shape: int | Sequence[int], *, layout: str = "in_out", **overrides: Any
) -> tuple[Scheme, Plan]:
    """Resolve a scheme with overrides at ``shape``: the validated row and its plan.

    >>> import varinit
    >>> from varinit.core.api import plan
    >>> plan("he_normal", (512, 256))[1].kind
    'truncnorm'
    """
    from .request import Spec

    spec = Spec.of(scheme, layout=layout, **overrides)
    return spec.scheme, spec.scheme.plan(normalize_shape(shape), layout, spec.fan_kw)


def std(
    scheme: str | Scheme, shape: int | Sequence[int], *, layout: str = "in_out", **overrides: Any
) -> float:
    """The standard deviation the samples of ``init(scheme, shape, ...)`` will have.

    >>> import varinit
    >>> round(varinit.std("he_normal", (512, 256)), 6)      # sqrt(2 / 512)
    0.0625
    >>> round(varinit.std("glorot_uniform", (300, 100)), 6)  # sqrt(2 / 400)
    0.070711
    """
    from .request import Spec

    return Spec.of(scheme, layout=layout, **overrides).std(shape)


@functools.lru_cache(maxsize=65536)
def stream_id(name: str) -> int:
    """The 64-bit stream id of a parameter name (first 8 bytes of BLAKE2b, little-endian).

    Whole-model init gives every parameter its own stream, so its values depend on the
    seed and its qualified name only, never on construction order.

    >>> import varinit
    >>> varinit.stream_id("encoder.layers.0.weight") == varinit.stream_id("encoder.layers.0.weight")
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} is not allowed: a stream is named by a str")
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


#: fan keywords that settle which axes are the fans: with one of them the layout is not guessed
_FAN_SETTLERS = ("in_axis", "out_axis", "fan_in", "fan_out")


def _warn_layout(scheme: Any, shape: Any, layout: str | None, overrides: Mapping[str, Any]) -> None:
    """Emit a :class:`LayoutWarning` when ``init`` had to guess the layout of a 2-D shape and
    the guess matters: the two readings, (in, out) and (out, in), give different stds.

    Called by ``init`` only (its ``stacklevel`` names the line that called ``init``).
    """
    if layout is not None or any(k in overrides for k in _FAN_SETTLERS):
        return
    try:
        dims = normalize_shape(shape)
        if len(dims) != 2 or dims[0] == dims[1] or math.prod(dims) == 0:
            return
        from .request import Spec, _plan

        spec = Spec.of(scheme, **overrides)
        if spec.layout is not None or any(k in spec.fan_kw for k in _FAN_SETTLERS):
            return  # a Spec that carries its own layout or fans
        here = _plan(spec.scheme, dims, "in_out", spec.fan_kw).sample_std(dims)
        other = _plan(spec.scheme, dims, "out_in", spec.fan_kw).sample_std(dims)
    except Exception:  # an invalid call: the draw itself raises the error that names it
        return
    if math.isclose(here, other, rel_tol=1e-12):
        return
    warnings.warn(
        f"varinit.init({spec.scheme.name!r}, {dims}) has no layout=, so the shape was read as "
        f"(in, out): fan_in = axis 0 ({dims[0]}), std {here:.6g}. Read as (out, in), the "
        f"NumPy/torch form, fan_in would be axis 1 ({dims[1]}) and std {other:.6g}. Pass "
        'layout="in_out" to confirm, layout="out_in" for an (n_out, n_in) weight, or silence '
        'this for the process with warnings.filterwarnings("ignore", category=varinit.LayoutWarning)',
        LayoutWarning,
        stacklevel=3,
    )


def init(
    scheme: str | Scheme,
    shape: int | Sequence[int],
    *,
    backend: Any = "numpy",
    seed: Any = None,
    dtype: Any = None,
    device: Any = None,
    layout: str | None = None,
    index: Index | slice | int | None = None,
    stream: int = 0,
    like: Any = None,
    chunks: Any = None,
    **overrides: Any,
) -> Any:
    """A new array of ``shape`` drawn from ``scheme`` on ``backend``.

    ``seed``: an int selects the portable Philox stream (the same numbers on every
    backend); the framework's generator selects its native stream; ``None`` means the
    framework's default (fresh entropy for NumPy). ``index`` (ints and slices, one per
    leading axis) returns only that block of the global tensor, equal to the same slice of
    the whole. ``backend`` is a name ("numpy", "torch", "jax", "tensorflow", "dask"), any
    Array API namespace (``array_api_strict``), or a :class:`varinit.Backend`; ``like=x``
    draws with x's namespace, dtype and device. ``backend="dask"`` returns a lazy array
    cut into ``chunks``, each drawn on its own. Layout is ``"in_out"`` unless given, so a
    2-D ``(n_out, n_in)`` weight from a NumPy, torch or Caffe recipe needs
    ``layout="out_in"`` (docs/recipes.md); ``varinit show``/``sample`` print the axes taken.
    A 2-D shape with two different dims, no ``layout=`` and no fan keywords, drawn from a
    scheme whose std depends on the reading (``he_normal``, not ``glorot_*``), emits a
    :class:`varinit.LayoutWarning` naming both readings.
    ``in_axis``/``out_axis``/``batch_axis``/``groups``/``fan_in``/``fan_out`` go to
    :func:`varinit.fans`, everything else overrides the scheme.

    >>> import varinit
    >>> w = varinit.init("glorot_uniform", (64, 32), seed=7)
    >>> w.shape, bool(abs(w).max() <= (6 / 96) ** 0.5)
    ((64, 32), True)
    >>> block = varinit.init("glorot_uniform", (64, 32), seed=7, index=(slice(0, 8),))
    >>> bool((block == w[:8]).all())
    True
    """
    _warn_layout(scheme, shape, layout, overrides)
    if isinstance(backend, str) and backend.strip().lower() == "dask":
        for name, value in (("index", index), ("device", device), ("like", like)):
            if value is not None:
                raise ValueError(
                    f"{name}={value!r} is not allowed with backend='dask': a dask array is cut into "
                    "chunks (chunks=...), each drawn on its own; slice the lazy array instead"
                )
        try:
            dask_adapter = importlib.import_module("varinit.adapters.dask")
        except ImportError as e:
            raise ImportError(
                f"backend='dask' needs dask ({e}); install it: pip install 'varinit[dask]'"
            ) from e
        return dask_adapter.lazy(
            scheme, shape, seed=seed, dtype=dtype, layout=layout, stream=stream, chunks=chunks, **overrides
        )
    if chunks is not None:
        raise ValueError(f"chunks={chunks!r} is only for backend='dask' (a lazy array cut into chunks)")
    from .executor import execute
    from .request import request

    req = request(
        scheme,
        shape,
        backend=backend,
        seed=seed,
        stream=stream,
        dtype=dtype,
        device=device,
        layout=layout,
        index=index,
        like=like,
        **overrides,
    )
    return execute(req)
