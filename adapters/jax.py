"""JAX: pure initializers with the ``jax.nn.initializers`` signature, jit/vmap-safe.

>>> import jax, jax.numpy as jnp
>>> from varinit.adapters.jax import initializer
>>> init = initializer("he_normal")
>>> w = init(jax.random.key(0), (256, 128))        # native stream (threefry bits)
>>> w.dtype, w.shape
(dtype('float32'), (256, 128))
>>> p = jax.jit(init, static_argnums=(1, 2))(7, (256, 128), jnp.bfloat16)  # portable
>>> p.dtype
dtype(bfloat16)

An int seed selects the portable Philox stream: the same bits as
``varinit.init(..., seed=7)`` on NumPy. A PRNG key (typed, or raw ``uint32``) selects
JAX's own stream. Int seeds are static Python values; a traced integer scalar (say,
``jax.vmap`` over seeds) is accepted too and taken modulo 2**32 (2**64 with x64).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from varinit.core.backend import Backend
from varinit.core.executor import execute
from varinit.core.fans import normalize_shape
from varinit.core.plans import Elementwise, Plan
from varinit.core.request import Native, Portable, Request, Spec
from varinit.core.table import Scheme
from varinit.rng import philox as spec
from varinit.rng.philox import uniform_from_words

from ._jax_nn import (  # every jax.nn.initializers name (and Flax's), with JAX's signature and law
    JaxInitializer,
    constant,
    delta_orthogonal,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    ones_init,
    orthogonal,
    truncated_normal,
    under_own_rules,
    uniform,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
    zeros_init,
)

__all__ = [
    "BACKEND",
    "Initializer",
    "JaxBackend",
    "JaxInitializer",
    "constant",
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "init_sharded",
    "init_tree",
    "initializer",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "ones_init",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
    "zeros_init",
]

from ._jax_philox import (  # the portable stream in JAX ops (shared with init_tree)
    _add64,
    _mulhilo,
    _seed_words,
    _split_starts,
    stream_words,
)

_MASK = spec.MASK
_U32 = np.dtype(np.uint32)


# --------------------------------------------------------------------------- backend


def _x64_enabled() -> bool:
    return bool(jax.dtypes.canonicalize_dtype(np.float64) == np.float64)


class JaxBackend(Backend):
    """``jax.numpy`` (an Array API namespace); the native stream is a JAX PRNG key."""

    name = "jax"
    layout = "in_out"
    mutable = False
    generator_hint = "a JAX PRNG key (jax.random.key(0) or jax.random.PRNGKey(0))"
    #: XLA contracts ``a * b + c`` into a fused multiply-add on CPU and GPU, with no switch
    #: to turn it off. A select on a bound no value reaches (|x| <= 3e38) is an identity the
    #: compiler cannot prove (``x == x`` it can, for values it knows are not NaN), so
    #: products stay rounded and jitted portable draws equal NumPy's bit for bit.
    fence = staticmethod(lambda x: jnp.where(jnp.abs(x) <= 3.0e38, x, jnp.zeros((), x.dtype)))

    @property
    def xp(self) -> Any:
        return jnp  # jax.numpy implements the Array API; array-api-compat returns it as is

    @property  # type: ignore[misc]
    def wide(self) -> bool:  # type: ignore[override]
        """Whether 64-bit types are enabled (Philox here needs only a scoped 32x32->64 product)."""
        return _x64_enabled()

    # -- dtypes -----------------------------------------------------------------------
    def default_dtype(self) -> Any:
        return np.dtype(np.float64) if _x64_enabled() else np.dtype(np.float32)

    def canonical_dtype(self, dtype: Any) -> Any:
        try:
            dt = jnp.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype={dtype!r} is not a JAX dtype") from None
        if dt == np.float64 and not _x64_enabled():
            warnings.warn(
                "dtype=float64 needs jax_enable_x64; drawing float32 instead (as JAX does)",
                UserWarning,
                stacklevel=4,
            )
            return np.dtype(np.float32)
        return dt

    def is_half(self, dtype: Any) -> bool:
        dt = jnp.dtype(dtype)
        return bool(jnp.issubdtype(dt, jnp.floating)) and dt.itemsize < 4

    def resolve_dtype(self, dtype: Any) -> tuple[Any, Any]:
        """(work, output): float32/float64 as is; 16- and 8-bit floats drawn in float32."""
        out = self.default_dtype() if dtype is None else self.canonical_dtype(dtype)
        if out in (np.float32, np.float64):
            return out, out
        if self.is_half(out):
            return np.dtype(np.float32), out
        raise TypeError(
            f"dtype={dtype!r} is not allowed: initializers produce real floating arrays "
            "(float32, float64, bfloat16, float16, ...); create integer or bool arrays directly"
        )

    # -- native randomness ------------------------------------------------------------
    def is_generator(self, obj: Any) -> bool:
        """A typed key (``jax.random.key``) or a raw ``uint32`` key (``PRNGKey``) of any
        PRNG implementation (threefry2x32, rbg, unsafe_rbg)."""
        if isinstance(obj, _Keys):
            return True
        dt = getattr(obj, "dtype", None)
        if dt is None or isinstance(obj, int | np.integer):
            return False
        if jnp.issubdtype(dt, jax.dtypes.prng_key):
            return True
        return bool(dt == _U32 and _raw_key_impl(obj) is not None)

    def make_generator(self, seed: int) -> Any:
        return jax.random.key(seed)

    def default_generator(self) -> Any:
        raise TypeError(
            "JAX has no global random state: pass a PRNG key (jax.random.key(0)) for JAX's "
            "stream, or an int seed for the portable stream"
        )

    def native_uniform(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        if isinstance(generator, _Keys):
            generator = generator.next()
        dt = jnp.dtype(dtype)
        per = 2 if dt == np.float64 else 1
        n = math.prod(shape)
        w = jax.random.bits(generator, (n * per,), jnp.uint32)
        return jnp.reshape(uniform_from_words(jnp, w, dt), shape)

    def native_state(self, generator: Any) -> Any:
        if isinstance(generator, _Keys):
            return generator
        if not jnp.issubdtype(generator.dtype, jax.dtypes.prng_key):  # raw: typed, with its impl
            generator = jax.random.wrap_key_data(generator, impl=_raw_key_impl(generator))
        return _Keys(generator)

    def traced_seed(self, seed: Any) -> bool:
        """An integer scalar array (``jax.vmap`` over seeds): words are built in-graph."""
        dt = getattr(seed, "dtype", None)
        return dt is not None and bool(jnp.issubdtype(dt, jnp.integer)) and np.ndim(seed) == 0

    # -- the portable stream ----------------------------------------------------------
    def philox_words(self, seed: Any, stream: int, starts: list[int], length: int, device: Any) -> Any:
        lo, hi = _split_starts(starts)
        return stream_words(seed, stream, lo, hi, length)

    def fused(self, request: Request) -> Any | None:
        """Portable elementwise draws (whole tensors and blocks) as one jitted kernel per
        (plan, block shape): the row starts and the seed are traced arguments, so a new
        seed or another block of the same shape reuses the compiled kernel."""
        src, plan = request.source, request.plan
        if not isinstance(plan, Elementwise) or not plan.random:
            return None
        if isinstance(src, Native):  # a key: JAX's bits, the same transform, one jitted kernel
            if request.block is not None or request.size == 0:
                return None
            gen = src.generator
            key = gen.next() if isinstance(gen, _Keys) else gen
            x = _native_kernel(plan, request.shape, request.dtype, request.out_dtype)(key)
            return x if request.device is None else jax.device_put(x, _device(request.device))
        if not isinstance(src, Portable):
            return None
        rows = request.rows()
        if rows.size == 0:
            return None
        per = 2 if request.dtype == np.float64 else 1
        k0, k1 = _seed_words(src.seed)
        if rows.rows > _GRID_ROWS and rows.rows < 1 << 32:
            # many rows (a column of a wide tensor): their starts are made inside the kernel
            # from the block's grid, never as arrays of their own on the host
            counts = tuple(c for c, _ in rows.grid)
            steps = tuple(st & _MASK64 for _, st in rows.grid)
            grid = _grid_kernel(
                plan,
                src.stream,
                rows.shape,
                counts,
                steps,
                rows.length,
                per,
                request.dtype,
                request.out_dtype,
            )
            x = grid(k0, k1, np.uint32(rows.first & _MASK), np.uint32(rows.first >> 32))
            return x if request.device is None else jax.device_put(x, _device(request.device))
        lo, hi = _split_starts([s * per for s in rows.starts])
        kernel = _block_kernel(
            plan, src.stream, rows.shape, rows.length * per, request.dtype, request.out_dtype
        )
        x = kernel(k0, k1, lo, hi)
        return x if request.device is None else jax.device_put(x, _device(request.device))

    # -- placement --------------------------------------------------------------------
    def finalize(self, x: Any, dtype: Any, device: Any) -> Any:
        if x.dtype != dtype:
            x = x.astype(dtype)
        return x if device is None else jax.device_put(x, _device(device))

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        return self.finalize(jnp.asarray(a, dtype=dtype), dtype, device)


class _Keys:
    """A key used for several draws in one call: the key itself, then ``fold_in(key, i)``.

    JAX keys are values, not states; schemes that draw twice (``sparse``: values and
    ranks) would otherwise get the same bits twice.
    """

    __slots__ = ("count", "key")

    def __init__(self, key: Any) -> None:
        self.key, self.count = key, 0

    def next(self) -> Any:
        self.count += 1
        return self.key if self.count == 1 else jax.random.fold_in(self.key, self.count - 1)


_PRNG_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


@functools.cache
def _raw_key_shape(impl: str) -> tuple[int, ...]:
    return tuple(jax.eval_shape(lambda: jax.random.PRNGKey(0, impl=impl)).shape)


def _raw_key_impl(key: Any) -> str | None:
    """The implementation a raw key belongs to: the default one (``jax_default_prng_impl``)
    where its shape fits, else the first of threefry2x32, rbg (unsafe_rbg has rbg's shape)."""
    shape = tuple(key.shape)
    default = str(jax.config.jax_default_prng_impl)  # type: ignore[attr-defined]
    for impl in (default, *_PRNG_IMPLS):
        if shape == _raw_key_shape(impl):
            return impl
    return None


def _device(device: Any) -> Any:
    if isinstance(device, str):
        kind, _, num = device.partition(":")
        try:
            return jax.devices(kind)[int(num or 0)]
        except (RuntimeError, IndexError):
            raise ValueError(f"device={device!r} is not available here: {jax.devices()}") from None
    return device


BACKEND = JaxBackend()


# --------------------------------------------------------------------------- initializer


class Initializer:
    """A scheme as a ``jax.nn.initializers``-style function ``init(key, shape, dtype)``.

    Use it as a Flax ``kernel_init=``/``bias_init=``. ``key`` is a PRNG key (JAX's
    stream) or an int seed (the portable stream); ``shape`` must be static.

    >>> import jax
    >>> from varinit.adapters.jax import Initializer
    >>> Initializer("glorot_uniform", in_axis=0, out_axis=1)(3, (4, 5)).shape
    (4, 5)
    """

    __slots__ = ("__weakref__", "_overrides", "spec")  # jit needs weakrefs

    def __init__(self, scheme: str | Scheme, **overrides: Any) -> None:
        self._overrides = dict(overrides)
        layout = overrides.pop("layout", None)
        self.spec = Spec.of(
            scheme, layout=layout or "in_out", **overrides
        )  # unknown schemes/params fail here

    @property
    def scheme(self) -> Scheme:
        """The scheme with its overrides."""
        return self.spec.scheme

    def plan(self, shape: int | Sequence[int]) -> Plan:
        """The resolved plan (distribution and its numbers) at ``shape``."""
        return self.spec.plan(shape)

    @under_own_rules
    def __call__(
        self, key: Any, shape: int | Sequence[int], dtype: Any = None, out_sharding: Any = None
    ) -> Any:
        x = execute(self.spec.request(shape, backend=BACKEND, seed=key, dtype=dtype))
        if out_sharding is not None:
            x = jax.device_put(x, out_sharding)
        return x

    def __repr__(self) -> str:
        kw = "".join(f", {k}={v!r}" for k, v in self._overrides.items())
        return f"initializer({self.scheme.name!r}{kw})"


def initializer(scheme: str | Scheme, **overrides: Any) -> Initializer:
    """``init(key_or_seed, shape, dtype=None)`` for ``scheme``, like ``jax.nn.initializers``.

    Fans follow ``in_out`` (dense ``(in, out)``, conv ``(*kernel, in, out)``); pass
    ``in_axis``/``out_axis``/``batch_axis`` exactly as to
    ``jax.nn.initializers.variance_scaling``; other keywords override the scheme.

    >>> import jax, flax.linen as nn
    >>> from varinit.adapters.jax import initializer
    >>> layer = nn.Dense(8, kernel_init=initializer("he_normal"))
    >>> params = layer.init(jax.random.key(0), jax.numpy.ones((1, 4)))
    >>> params["params"]["kernel"].shape
    (4, 8)
    """
    return Initializer(scheme, **overrides)


# --------------------------------------------------------------------------- sharding


@under_own_rules
def init_sharded(
    scheme: str | Scheme,
    shape: int | Sequence[int],
    sharding: jax.sharding.Sharding,
    seed: Any,
    dtype: Any = None,
    *,
    stream: int = 0,
    **overrides: Any,
) -> jax.Array:
    """A global array laid out by ``sharding``, each device drawing only its own block.

    With an int ``seed`` (portable stream) the values are the same for every mesh and
    partitioning and equal the unsharded jitted array and NumPy's
    ``varinit.init(..., seed=seed)`` bit for bit. Each device computes only its own
    block, the core's ``index=`` rows of the global C-order stream, in one jitted kernel
    per block shape whose row starts are traced arguments. Structured schemes
    (orthogonal, ...) need the whole matrix: they are drawn once, then distributed. A
    PRNG key gives JAX's stream under ``jit(out_shardings=...)``.

    >>> import jax, numpy as np
    >>> from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    >>> from varinit.adapters.jax import init_sharded, initializer
    >>> mesh = Mesh(np.array(jax.devices()), ("x",))
    >>> w = init_sharded("he_normal", (64, 32), NamedSharding(mesh, P("x")), seed=0)
    >>> whole = jax.jit(lambda: initializer("he_normal")(0, (64, 32)))()
    >>> bool((w == whole).all())
    True
    """
    dims = normalize_shape(shape)
    spec = Spec.of(scheme, layout=overrides.pop("layout", None) or "in_out", **overrides)
    if BACKEND.is_generator(seed):
        native = jax.jit(
            lambda k: execute(spec.request(dims, backend=BACKEND, seed=k, dtype=dtype)),
            out_shardings=sharding,
        )
        return native(seed)  # type: ignore[no-any-return]
    req = spec.request(dims, backend=BACKEND, seed=seed, stream=stream, dtype=dtype)
    if not isinstance(req.plan, Elementwise) or not req.plan.random:  # the whole matrix, then placed
        placed: jax.Array = jax.device_put(jax.jit(lambda: execute(req))(), sharding)
        return placed
    blocks = []
    for device, index in sharding.addressable_devices_indices_map(dims).items():
        idx = tuple(index) if index is not None else ()
        block = spec.request(dims, backend=BACKEND, seed=seed, stream=stream, dtype=dtype, index=idx)
        blocks.append(jax.device_put(execute(block), device))
    arr: jax.Array = jax.make_array_from_single_device_arrays(dims, sharding, blocks)
    return arr


@functools.lru_cache(maxsize=256)
def _block_kernel(
    p: Elementwise, stream: int, block: tuple[int, ...], length: int, work: Any, out: Any
) -> Callable[..., Any]:
    """A jitted kernel for one (plan, block shape): seed words and row starts traced."""

    @jax.jit
    def kernel(k0: Any, k1: Any, lo: Any, hi: Any) -> Any:
        w = stream_words((k0, k1), stream, lo, hi, length)
        u = uniform_from_words(jnp, w, work)
        return jnp.reshape(p.transform(jnp, u, fence=JaxBackend.fence), block).astype(out)

    return kernel  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=256)
def _native_kernel(p: Elementwise, shape: tuple[int, ...], work: Any, out: Any) -> Callable[..., Any]:
    """A jitted kernel for one (plan, shape) drawn from a JAX key: ``native_uniform`` and the
    plan's transform in one compiled function (eagerly they are dozens of dispatched ops)."""

    @jax.jit
    def kernel(key: Any) -> Any:
        per = 2 if jnp.dtype(work) == np.float64 else 1
        w = jax.random.bits(key, (math.prod(shape) * per,), jnp.uint32)
        u = uniform_from_words(jnp, w, work)
        return jnp.reshape(p.transform(jnp, u, fence=JaxBackend.fence), shape).astype(out)

    return kernel  # type: ignore[no-any-return]


#: blocks with more rows than this make their row starts inside the kernel (:func:`_grid_kernel`)
_GRID_ROWS = 1 << 12
_MASK64 = (1 << 64) - 1


@functools.lru_cache(maxsize=256)
def _grid_kernel(
    p: Elementwise,
    stream: int,
    block: tuple[int, ...],
    counts: tuple[int, ...],
    steps: tuple[int, ...],
    length: int,
    per: int,
    work: Any,
    out: Any,
) -> Callable[..., Any]:
    """A jitted kernel for a block of many rows: row ``(i_0, i_1, ...)`` starts at element
    ``first + sum(i_k * steps_k)`` (modulo 2**64; a negative step is its two's complement),
    computed on uint32 halves in the kernel. ``first`` is traced, so every shard of a tensor
    shares one compiled kernel."""
    nrows = math.prod(counts)

    @jax.jit
    def kernel(k0: Any, k1: Any, first_lo: Any, first_hi: Any) -> Any:
        r = lax.iota(jnp.uint32, nrows)
        start: tuple[Any, Any] = (
            jnp.full((nrows,), first_hi, jnp.uint32),
            jnp.full((nrows,), first_lo, jnp.uint32),
        )
        div = 1
        for count, step in zip(reversed(counts), reversed(steps), strict=True):
            i = (r // np.uint32(div)) % np.uint32(count) if div > 1 else r % np.uint32(count)
            div *= count
            hi, lo = _mulhilo(step & _MASK, i)  # i * low half of the step, exactly
            start = _add64(start, (hi + i * np.uint32(step >> 32), lo))
        hi, lo = start
        if per == 2:  # float64: two words per element
            hi, lo = (hi << 1) | (lo >> 31), lo << 1
        w = stream_words((k0, k1), stream, lo, hi, length * per)
        u = uniform_from_words(jnp, w, work)
        return jnp.reshape(p.transform(jnp, u, fence=JaxBackend.fence), block).astype(out)

    return kernel  # type: ignore[no-any-return]


# whole-model init (its own module; imported last, as it uses BACKEND)
from ._jax_tree import init_tree  # noqa: E402
