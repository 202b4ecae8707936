"""TensorFlow: a namespace shim for the one sampler, TF's Philox kernel, ``initializer``.

array-api-compat does not cover TensorFlow, so :class:`TFNamespace` supplies exactly the
array functions the core sampler calls (``NAMESPACE`` lists them; a test holds the list to
the core's source). The portable stream uses ``StatelessRandomUniformFullIntV2`` (alg=1,
Philox4x32-10): the same words as ``varinit.rng.philox.words``, at native speed. A
``tf.random.Generator`` selects the native stream; ``seed=None`` uses TF's global
generator.

>>> import tensorflow as tf
>>> from varinit.adapters.tensorflow import initializer
>>> init = initializer("he_normal", seed=0)
>>> v = tf.Variable(init((256, 128)))
>>> v.shape, v.dtype.name
(TensorShape([256, 128]), 'float32')
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from varinit.core.backend import Backend
from varinit.core.executor import execute, values_from_words
from varinit.core.plans import Elementwise
from varinit.core.request import Native, Portable, Request, Spec, source
from varinit.rng.philox import split_key, uniform_from_words

__all__ = ["BACKEND", "NAMESPACE", "TFNamespace", "TensorflowBackend", "initializer"]

#: the array functions and dtypes the core (``core.executor``, ``core.plans``, ``rng``) calls
NAMESPACE: tuple[str, ...] = (
    # dtypes
    "float32",
    "float64",
    "int32",
    "uint32",
    "uint64",
    # creation and shape
    "arange",
    "asarray",
    "full",
    "ones_like",
    "zeros_like",
    "reshape",
    "stack",
    "permute_dims",
    "matrix_transpose",
    "diagonal",
    "astype",
    "flip",
    # elementwise
    "abs",
    "clip",
    "minimum",
    "sqrt",
    "where",
    "bitwise_right_shift",
    # reductions, sorting, linear algebra
    "any",
    "argsort",
    "nonzero",
    "linalg",
)


class _Linalg:
    """``xp.linalg``: the two functions the orthogonal schemes use."""

    @staticmethod
    def qr(x: Any) -> tuple[Any, Any]:
        q, r = tf.linalg.qr(x, full_matrices=False)
        return q, r

    @staticmethod
    def diagonal(x: Any) -> Any:
        return tf.linalg.diag_part(x)


class TFNamespace:
    """The Array-API subset the sampler uses, on TF ops (listed in ``NAMESPACE``).

    >>> from varinit.adapters.tensorflow import TFNamespace
    >>> xp = TFNamespace()
    >>> xp.where(xp.asarray([1.0, -2.0]) < 0, 0.0, 1.0).numpy().tolist()
    [1.0, 0.0]
    """

    float32 = tf.float32
    float64 = tf.float64
    int32 = tf.int32
    uint32 = tf.uint32
    uint64 = tf.uint64
    linalg = _Linalg()

    @staticmethod
    def arange(n: int, *, dtype: Any = None, device: Any = None) -> Any:
        r = tf.range(n, dtype=tf.int64)
        return r if dtype is None else tf.cast(r, dtype)

    @staticmethod
    def asarray(obj: Any, *, dtype: Any = None, device: Any = None) -> Any:
        if isinstance(obj, list | tuple) and dtype is not None:
            obj = np.asarray(obj, dtype=tf.as_dtype(dtype).as_numpy_dtype)
        return tf.convert_to_tensor(obj, dtype=dtype)

    @staticmethod
    def full(shape: Sequence[int], fill_value: float, *, dtype: Any = None, device: Any = None) -> Any:
        return tf.fill(list(shape), tf.constant(fill_value, dtype=dtype or tf.float32))

    @staticmethod
    def ones_like(x: Any) -> Any:
        return tf.ones_like(x)

    @staticmethod
    def zeros_like(x: Any) -> Any:
        return tf.zeros_like(x)

    @staticmethod
    def reshape(x: Any, shape: Sequence[int]) -> Any:
        if isinstance(x, np.ndarray):  # the compiled kernel's buffer, before finalize wraps it
            return x.reshape(tuple(shape))
        return tf.reshape(x, list(shape))

    @staticmethod
    def stack(arrays: Sequence[Any], *, axis: int = 0) -> Any:
        return tf.stack(list(arrays), axis=axis)

    @staticmethod
    def permute_dims(x: Any, axes: Sequence[int]) -> Any:
        return tf.transpose(x, perm=list(axes))

    @staticmethod
    def matrix_transpose(x: Any) -> Any:
        return tf.linalg.matrix_transpose(x)

    @staticmethod
    def diagonal(x: Any) -> Any:
        return tf.linalg.diag_part(x)

    @staticmethod
    def flip(x: Any, *, axis: Any = None) -> Any:
        axes = (
            list(range(len(x.shape))) if axis is None else list(axis if isinstance(axis, tuple) else (axis,))
        )
        return tf.reverse(x, axes)

    @staticmethod
    def astype(x: Any, dtype: Any) -> Any:
        return x if x.dtype == dtype else tf.cast(x, dtype)

    @staticmethod
    def abs(x: Any) -> Any:
        return tf.abs(x)

    @staticmethod
    def clip(x: Any, min: float, max: float) -> Any:
        return tf.clip_by_value(x, min, max)

    @staticmethod
    def minimum(x: Any, y: Any) -> Any:
        return tf.minimum(x, y)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return tf.sqrt(x)

    @staticmethod
    def where(cond: Any, x: Any, y: Any) -> Any:
        ref = x if tf.is_tensor(x) else y
        if tf.is_tensor(ref):
            x, y = tf.cast(x, ref.dtype), tf.cast(y, ref.dtype)
        return tf.where(cond, x, y)

    @staticmethod
    def bitwise_right_shift(x: Any, n: int) -> Any:
        return tf.bitwise.right_shift(x, tf.constant(n, dtype=x.dtype))

    @staticmethod
    def any(x: Any) -> Any:
        return tf.reduce_any(x)

    @staticmethod
    def nonzero(x: Any) -> tuple[Any, ...]:
        at = tf.where(x)  # (count, ndim) int64 coordinates
        return tuple(at[:, i] for i in range(at.shape[1]))

    @staticmethod
    def argsort(x: Any, *, axis: int = -1) -> Any:
        return tf.argsort(x, axis=axis, stable=True)


class TensorflowBackend(Backend):
    """TensorFlow tensors through :class:`TFNamespace`; native stream: ``tf.random.Generator``."""

    name = "tensorflow"
    layout = "in_out"
    mutable = False
    wide = False
    #: ``initializer`` runs elementwise draws at least this large as one cached XLA function
    compile_min: int = 1 << 18
    #: XLA (and Grappler) may fuse ``a * b + c`` into one rounding or re-associate sums;
    #: a select on a bound no value reaches keeps every product and sum rounded as written,
    #: so compiled portable draws equal NumPy's bit for bit (without it about half of the
    #: uniforms differ in the last bit; a ``maximum`` with that bound is not enough for XLA)
    fence = staticmethod(lambda x: tf.where(tf.abs(x) <= 3.0e38, x, tf.zeros((), x.dtype)))

    @property
    def xp(self) -> Any:
        return _XP

    def canonical_dtype(self, dtype: Any) -> Any:
        try:
            return tf.as_dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype={dtype!r} is not a TensorFlow dtype") from None

    def is_half(self, dtype: Any) -> bool:
        return tf.as_dtype(dtype) in (tf.float16, tf.bfloat16)

    def is_generator(self, obj: Any) -> bool:
        return isinstance(obj, tf.random.Generator)

    def make_generator(self, seed: int) -> Any:
        return tf.random.Generator.from_seed(seed, alg="philox")

    def default_generator(self) -> Any:
        return tf.random.get_global_generator()

    def native_uniform(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        per = 2 if dtype == tf.float64 else 1
        w = generator.uniform_full_int([math.prod(shape) * per], dtype=tf.uint32)
        return tf.reshape(uniform_from_words(_XP, w, dtype), shape)

    def philox_words(self, seed: int, stream: int, starts: list[int], length: int, device: Any) -> Any:
        """Words ``[s, s + length)`` from TF's stateless Philox kernel, one row per start."""
        split_key(seed)
        split_key(stream, "stream")
        key = tf.constant([seed], dtype=tf.uint64)
        lo, hi = min(starts), max(starts) + length
        if len(starts) > 1 and hi - lo <= 2 * len(starts) * length:
            # rows close together: one kernel call over the span, then gather the rows
            span = _kernel(key, stream, lo, hi - lo)
            idx = np.asarray(starts, dtype=np.int64)[:, None] - lo + np.arange(length)
            return tf.gather(span, idx)
        if len(starts) <= _ROWS_BY_KERNEL:
            return tf.stack([_kernel(key, stream, s, length) for s in starts])
        # many rows far apart (a column of a wide tensor): one TF op per row would take
        # seconds; the host's vectorized reference makes them a group of rows at a time
        from varinit.rng.philox import words

        xp, per = _host_xp(), max(1, (1 << 20) // max(length, 1))
        parts = [
            words(xp, seed, stream, starts[a : a + per], length, wide=True)
            for a in range(0, len(starts), per)
        ]
        return tf.constant(np.concatenate(parts) if len(parts) > 1 else parts[0])

    # Eager draws on a host without GPUs take the compiled CPU kernel, into an aligned NumPy
    # buffer the tensor then wraps without a copy (DLPack): no per-row TF ops for blocks, no
    # XLA compile for each new shape, and no memory beyond the output. Inside tf.function,
    # on GPUs and without the kernel, the compiled XLA route below draws instead.
    def empty(self, n: int, dtype: Any, device: Any) -> Any:
        if device not in (None, "cpu", "CPU") or not _on_host():
            return None
        dt = np.dtype(tf.as_dtype(dtype).as_numpy_dtype)
        raw = np.empty(n * dt.itemsize + 64, np.uint8)
        at = -raw.ctypes.data % 64  # TF's own alignment: a tensor can wrap the memory as is
        return raw[at : at + n * dt.itemsize].view(dt)

    def host_view(self, x: Any) -> Any | None:
        return x if isinstance(x, np.ndarray) else None

    def fused(self, request: Request) -> Any | None:
        """Large whole-tensor elementwise draws as one cached XLA function over the stream's
        words (the stateless Philox kernel's for an int seed, the generator's otherwise)."""
        plan, dims, n = request.plan, request.shape, request.size
        if request.device is not None:
            return None
        if not isinstance(plan, Elementwise) or not plan.random or n < self.compile_min:
            return None
        per = 2 if request.dtype == tf.float64 else 1
        src = request.source
        rows = request.block
        if rows is not None:  # a block of the portable stream: its rows' words, then one pass
            if not isinstance(src, Portable):
                return None
            words = self.philox_words(
                src.seed, src.stream, [s * per for s in rows.starts], rows.length * per, None
            )
            bkey = (plan, rows.shape, rows.rows, rows.length, request.dtype, request.out_dtype)
            return _cached(
                bkey, lambda: _compiled(plan, rows.shape, request.dtype, request.out_dtype, rows.rows)
            )(words)
        if isinstance(src, Native):
            words = src.generator.uniform_full_int([n * per], dtype=tf.uint32)
        else:
            words = _kernel(tf.constant([src.seed], dtype=tf.uint64), src.stream, 0, n * per)
        key = (plan, dims, request.dtype, request.out_dtype)
        return _cached(key, lambda: _compiled(plan, dims, request.dtype, request.out_dtype))(words)

    def device_of(self, x: Any) -> Any:
        return getattr(x, "device", None)

    def finalize(self, x: Any, dtype: Any, device: Any) -> Any:
        if isinstance(x, np.ndarray):  # the kernel's buffer
            x = _wrap(x)
        x = x if x.dtype == dtype else tf.cast(x, dtype)
        if device is not None:
            with tf.device(device):
                x = tf.identity(x)
        return x

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        return tf.constant(np.asarray(a), dtype=dtype)


#: up to this many far-apart rows are drawn by TF's Philox kernel one row each
_ROWS_BY_KERNEL = 64


def _wrap(a: np.ndarray) -> Any:
    """A tensor on ``a``'s memory (DLPack; TF keeps ``a`` alive), or a copy where TF cannot."""
    try:
        return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    except (AttributeError, TypeError, ValueError, tf.errors.InvalidArgumentError):
        return tf.convert_to_tensor(a)


def _host_xp() -> Any:
    """NumPy as an Array API namespace (through array-api-compat before NumPy 2.1)."""
    if hasattr(np, "astype"):
        return np
    import array_api_compat.numpy as anp

    return anp


def _on_host() -> bool:
    """Eager execution with no GPU visible: tensors are made on the CPU, from host memory."""
    return tf.executing_eagerly() and not _gpus()


@functools.cache
def _gpus() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def _kernel(key: Any, stream: int, start: int, length: int) -> Any:
    """Words ``[start, start + length)``: counter = (start's block, stream id), then slice."""
    off, block = start & 3, start >> 2
    counter = tf.constant([block, stream], dtype=tf.uint64)
    n = off + length
    w = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[n], key=key, counter=counter, alg=1, dtype=tf.uint32
    )
    return w[off:] if off else w


_COMPILED: OrderedDict[Any, Callable[..., Any]] = OrderedDict()
_COMPILED_LOCK = threading.Lock()


def _cached(key: Any, make: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
    """The compiled function for ``key`` (the 64 most recent are kept). Lookup, insertion
    and eviction hold a lock, so threads never see an entry vanish between steps; ``make``
    (tracing is lazy: it only wraps) runs under it too, so a key is made once."""
    with _COMPILED_LOCK:
        fn = _COMPILED.get(key)
        if fn is None:
            fn = _COMPILED[key] = make()
            while len(_COMPILED) > 64:
                _COMPILED.popitem(last=False)
        else:
            _COMPILED.move_to_end(key)
        return fn


def _compiled(
    plan: Elementwise, dims: tuple[int, ...], work: Any, out: Any, rows: int = 1
) -> Callable[..., Any]:
    """The core's words-to-values transform, XLA-compiled: one fused pass.

    Both streams feed it words, so the same compiled function serves every seed. The
    backend's ``fence`` keeps XLA from fusing products into sums, so portable values equal
    NumPy's bit for bit.
    """

    def run(words: Any) -> Any:
        return values_from_words(BACKEND, plan, tf.reshape(words, (rows, -1)), dims, work, out)

    fn: Callable[..., Any] = tf.function(run, jit_compile=True, autograph=False)
    return fn


def initializer(scheme: str, seed: Any = None, **overrides: Any) -> Callable[..., Any]:
    """A TF initializer: ``init(shape, dtype=None) -> tf.Tensor`` (layout ``in_out``).

    ``seed``: an int selects the portable stream (every call returns the same values, equal
    to every other backend's); a ``tf.random.Generator`` its native stream (each call
    advances it); ``None`` TF's global generator. Works eagerly and inside ``tf.function``.

    >>> import tensorflow as tf
    >>> from varinit.adapters.tensorflow import initializer
    >>> w = tf.Variable(initializer("glorot_uniform", seed=1)((64, 32)))
    >>> bool(tf.reduce_max(tf.abs(w)) <= (6 / 96) ** 0.5)
    True
    """
    stream = overrides.pop("stream", 0)
    split_key(stream, "stream")  # "3" or 3.7 fail here, whatever the seed
    spec = Spec.of(scheme, **overrides)  # unknown names and bad overrides fail here
    if seed is not None and not BACKEND.is_generator(seed):
        source(BACKEND, seed, stream)  # validate the seed now

    def init(shape: Any, dtype: Any = None, **kwargs: Any) -> Any:
        dims = tuple(shape.as_list()) if isinstance(shape, tf.TensorShape) else shape
        return execute(spec.request(dims, backend=BACKEND, seed=seed, stream=stream, dtype=dtype))

    init.__name__ = f"varinit_{scheme}"
    init.__doc__ = f"varinit {scheme!r} initializer: init(shape, dtype=None) -> tf.Tensor."
    return init


_XP = TFNamespace()
BACKEND = TensorflowBackend()
