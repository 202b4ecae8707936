"""What an adapter provides, and how varinit finds adapters (lazily, by name)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = ["BACKENDS", "Backend", "get_backend", "installed_backends"]

#: Backend names in the order ``check`` reports them, with the module each needs.
BACKENDS: dict[str, str] = {
    "numpy": "numpy",
    "torch": "torch",
    "jax": "jax",
    "tensorflow": "tensorflow",
}


class Backend:
    """One framework as the sampler sees it: a namespace, a uniform source, a layout.

    Subclasses live in ``varinit.adapters.<name>`` as ``BACKEND``; everything here has
    an Array-API default, so a subclass states only what differs.
    """

    name: ClassVar[str] = ""
    #: the framework's weight layout (the generic ``varinit.init`` always uses "in_out")
    layout: ClassVar[str] = "in_out"
    #: arrays support ``x[a:b] = y``, so large tensors are filled chunk by chunk
    mutable: ClassVar[bool] = True
    #: ``x[int_index_arrays] = y`` works too (beyond the standard; NumPy, torch)
    index_setitem: ClassVar[bool] = False
    #: uint64 arithmetic is available and fast (Philox uses 64-bit products)
    wide: ClassVar[bool] = True
    #: elements per chunk when filling a large tensor (random words / uniforms)
    chunk: ClassVar[int] = 1 << 16
    #: elements per slice of a chunk for the distribution transform (keeps temporaries in cache)
    transform_chunk: ClassVar[int] = 1 << 14
    #: an identity the backend's compiler cannot see through, applied to every product that
    #: feeds a sum, where that compiler would otherwise fuse ``a * b + c`` into one fused
    #: multiply-add (which rounds once instead of twice); None where operations run as written
    fence: Callable[[Any], Any] | None = None

    @property
    def xp(self) -> Any:
        """The Array API namespace."""
        raise NotImplementedError

    # -- dtypes -----------------------------------------------------------------------
    def default_dtype(self) -> Any:
        return self.xp.float32

    def resolve_dtype(self, dtype: Any) -> tuple[Any, Any]:
        """(work dtype, output dtype). Half precisions are computed in float32."""
        xp = self.xp
        out = self.default_dtype() if dtype is None else self.canonical_dtype(dtype)
        if out in (xp.float32, xp.float64):
            return out, out
        if self.is_half(out):
            return xp.float32, out
        raise TypeError(
            f"dtype={dtype!r} is not allowed: initializers produce real floating tensors "
            "(float32, float64, float16, bfloat16); create integer or bool tensors directly"
        )

    def canonical_dtype(self, dtype: Any) -> Any:
        return dtype

    def is_half(self, dtype: Any) -> bool:
        return str(dtype).rsplit(".", 1)[-1] in ("float16", "bfloat16")

    # -- native randomness ------------------------------------------------------------
    def is_generator(self, obj: Any) -> bool:
        """Whether ``obj`` is this framework's own random generator."""
        return False

    def make_generator(self, seed: int) -> Any:
        """A native generator seeded with ``seed`` (used by ``varinit check``)."""
        raise NotImplementedError

    def default_generator(self) -> Any:
        """What ``seed=None`` means for this framework."""
        raise NotImplementedError

    def native_uniform(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform variates in the open interval (0, 1) from the native generator."""
        raise NotImplementedError

    def native_normal(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any | None:
        """Standard normal variates from a native kernel, or None to use the inverse CDF."""
        return None

    # -- the portable stream ----------------------------------------------------------
    def philox_words(self, seed: int, stream: int, starts: list[int], length: int, device: Any) -> Any:
        """uint32 words ``[s, s + length)`` for every start ``s``: shape (len(starts), length)."""
        from ._philox import words

        return words(self.xp, seed, stream, starts, length, wide=self.wide, device=device)

    # -- drawing ----------------------------------------------------------------------
    def draw(
        self,
        plan: Any,
        shape: tuple[int, ...],
        src: Any,
        dtype: Any,
        out_dtype: Any,
        index: Any = None,
        device: Any = None,
    ) -> Any:
        """What ``varinit.init`` calls: the core ``sample``, or a faster route to the same
        values (a backend that compiles large draws overrides this)."""
        from ._sampler import sample

        return sample(self, plan, shape, src, dtype, out_dtype, index=index, device=device)

    # -- placement --------------------------------------------------------------------
    def device_of(self, x: Any) -> Any:
        return getattr(x, "device", None)

    def empty(self, n: int, dtype: Any, device: Any) -> Any:
        return self.xp.empty((n,), dtype=dtype, **({} if device is None else {"device": device}))

    def finalize(self, x: Any, dtype: Any, device: Any) -> Any:
        """Cast to the output dtype and place on ``device``."""
        if x.dtype != dtype:
            x = self.xp.astype(x, dtype)
        return x

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        return self.xp.asarray(a, dtype=dtype, **({} if device is None else {"device": device}))


_CACHE: dict[str, Backend] = {}


def get_backend(name: str | Backend) -> Backend:
    """The adapter for ``name`` ("numpy", "torch", "jax", "tensorflow"), imported lazily."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        raise TypeError(f"backend={name!r} is not allowed: pass a backend name such as 'numpy'")
    key = name.strip().lower()
    key = {"np": "numpy", "pytorch": "torch", "tf": "tensorflow", "keras": "tensorflow"}.get(key, key)
    if key in _CACHE:
        return _CACHE[key]
    if key not in BACKENDS:
        raise ValueError(f"backend={name!r} is not allowed: known backends are {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(f"varinit.adapters.{key}")
    except ImportError as e:
        raise ImportError(
            f"backend={name!r} needs {BACKENDS.get(key, key)}, which is not installed "
            f"({e}); install it, e.g. pip install 'varinit[{key}]'"
        ) from e
    backend: Backend = module.BACKEND
    _CACHE[key] = backend
    return backend


def installed_backends() -> list[str]:
    """Backends whose framework can be imported here (imports nothing that is absent)."""
    import importlib.util

    out = []
    for name, module in BACKENDS.items():
        if module in sys.modules or importlib.util.find_spec(module) is not None:
            out.append(name)
    return out
