"""The adapter interface (:class:`Backend`) and how varinit finds adapters.

An adapter supplies primitives only; the core builds the request and the executor draws it.
Required: ``name`` and ``xp`` (an Array API namespace). Everything else has a default that
works on any Array API library, so an adapter states only what differs:

- dtypes: ``default_dtype``, ``canonical_dtype``, ``is_half``;
- the native stream: ``is_generator``, ``make_generator``, ``default_generator``,
  ``native_uniform`` (and optionally ``native_normal``);
- placement: ``empty``, ``finalize``, ``from_numpy``, ``copy_into``, ``host_view`` (host
  memory the compiled kernel may write into);
- optional fast routes, each bit-identical to the reference: ``philox_words`` (words in:
  the stream's uint32 words from a native kernel), ``fused`` (a whole request in one
  compiled function) and ``fill`` (write a request straight into a caller's array).

``docs/guide-adapter.md`` writes a complete adapter for a new library.

>>> import varinit
>>> from varinit.core.backend import get_backend
>>> get_backend("np").name
'numpy'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, ClassVar

from .names import backend_name

__all__ = ["BACKENDS", "Backend", "NamespaceBackend", "get_backend", "installed_backends", "register_backend"]

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
    #: ``x[a:b:-k]`` works (torch's slicing takes positive steps only)
    negative_steps: ClassVar[bool] = True
    #: how error messages name this framework's generator
    generator_hint: ClassVar[str] = "the framework's own generator"
    #: whole tensors also take the compiled CPU kernel where ``host_view`` allows it (False:
    #: only blocks do, and whole tensors keep the backend's own ``fused`` route)
    kernel_whole: ClassVar[bool] = True

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
        from ..rng.philox import words

        return words(self.xp, seed, stream, starts, length, wide=self.wide, device=device)

    def native_state(self, generator: Any) -> Any:
        """What one call draws from: the generator itself, or a per-call wrapper (JAX keys)."""
        return generator

    def traced_seed(self, seed: Any) -> bool:
        """Whether ``seed`` is a traced integer scalar this backend can key the stream with."""
        return False

    # -- optional fast routes (each must equal the reference bit for bit) ---------------
    def fused(self, request: Any) -> Any | None:
        """The whole request drawn by one compiled function, or None to use the reference."""
        return None

    def fill(self, request: Any, out: Any) -> bool:
        """Write the request's values into ``out`` directly; False if this route does not apply."""
        return False

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

    def copy_into(self, out: Any, x: Any) -> None:
        """``out[...] = x`` (a front door that fills a caller's array in place)."""
        out[...] = x

    def host_view(self, x: Any) -> Any | None:
        """A writable 1-D NumPy view of ``x``'s memory (C order, float32/float64), or None.

        Where it is given, the compiled kernel writes the portable stream straight into it.
        """
        return None


class NamespaceBackend(Backend):
    """Any Array API namespace as a backend: the portable stream only, no native generator.

    >>> import array_api_strict as xp
    >>> import varinit
    >>> w = varinit.init("he_normal", (4, 3), layout="in_out", backend=xp, seed=0)
    >>> type(w).__module__.split(".")[0], w.dtype == xp.float32
    ('array_api_strict', True)
    """

    mutable = False

    def __init__(self, namespace: Any) -> None:
        if not hasattr(namespace, "asarray") or not hasattr(namespace, "float32"):
            raise TypeError(
                f"backend={namespace!r} is not an Array API namespace (it has no asarray/float32); pass a "
                "backend name such as 'numpy', a varinit.Backend, or a namespace such as array_api_strict"
            )
        self._xp = namespace
        self.name = getattr(namespace, "__name__", "namespace")  # type: ignore[misc]
        self.wide = hasattr(namespace, "uint64")  # type: ignore[misc]

    @property
    def xp(self) -> Any:
        return self._xp

    def is_half(self, dtype: Any) -> bool:
        return bool(dtype == getattr(self._xp, "float16", object()))

    def default_generator(self) -> Any:
        raise TypeError(
            f"backend {self.name!r} has no native generator varinit knows: "
            "pass seed=<int> (the portable stream)"
        )

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        kw = {} if device is None else {"device": device}
        return self._xp.asarray(a.tolist(), dtype=dtype, **kw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NamespaceBackend) and other._xp is self._xp

    def __hash__(self) -> int:
        return id(self._xp)


_CACHE: dict[str, Backend] = {}


#: Array API namespaces (by module name) that have a full adapter
_NAMESPACES = {
    "numpy": "numpy",
    "array_api_compat.numpy": "numpy",
    "torch": "torch",
    "array_api_compat.torch": "torch",
    "jax.numpy": "jax",
}


def get_backend(name: Any) -> Backend:
    """The adapter for ``name``: a backend name ("numpy", "torch", "jax", "tensorflow"), a
    :class:`Backend`, or any Array API namespace (``array_api_strict``)."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str):
        known = _NAMESPACES.get(getattr(name, "__name__", ""))
        if known is not None:
            return get_backend(known)
        if hasattr(name, "asarray") and hasattr(name, "float32"):
            return NamespaceBackend(name)
        raise TypeError(
            f"backend={name!r} is not an Array API namespace, a backend name or a varinit.Backend: "
            "pass 'numpy', 'torch', 'jax' or 'tensorflow', your own varinit.Backend, or a namespace "
            "such as array_api_strict"
        )
    key = backend_name(name)  # "pytorch" -> "torch": the alias table the CLI reads too
    if key in _CACHE:
        return _CACHE[key]
    needs = BACKENDS.get(key)
    if needs is None:
        raise ValueError(
            f"backend={name!r} is not allowed: known backends are {', '.join(BACKENDS)} (and 'dask' for "
            "varinit.init), or pass an Array API namespace"
        )
    try:
        module = importlib.import_module(f"varinit.adapters.{key}")
    except ImportError as e:
        raise ImportError(
            f"backend={name!r} needs {needs}, which is not installed "
            f"({e}); install it, e.g. pip install 'varinit[{key}]'"
        ) from e
    backend: Backend = module.BACKEND
    _CACHE[key] = backend
    return backend


def register_backend(name: str, backend: Backend) -> None:
    """Make a third-party adapter available by name: ``varinit.init(..., backend=name)``.

    >>> from varinit.core.backend import NamespaceBackend, get_backend, register_backend
    >>> import array_api_strict
    >>> register_backend("strict", NamespaceBackend(array_api_strict))
    >>> get_backend("strict").name
    'array_api_strict'
    """
    if not isinstance(backend, Backend):
        raise TypeError(f"backend={backend!r} is not a varinit.Backend: subclass varinit.Backend")
    key = name.strip().lower()
    if key in BACKENDS:
        raise ValueError(f"name={name!r} is taken by varinit's own {key} adapter: pick another name")
    _CACHE[key] = backend


def installed_backends() -> list[str]:
    """Backends whose framework can be imported here (imports nothing that is absent)."""
    import importlib.util

    out = []
    for name, module in BACKENDS.items():
        if module in sys.modules or importlib.util.find_spec(module) is not None:
            out.append(name)
    return out
