"""NumPy: the default backend (``varinit.init(..., backend="numpy")``).

>>> import numpy as np, varinit
>>> w = varinit.init("he_normal", (256, 128), seed=0)
>>> w.dtype, w.shape
(dtype('float32'), (256, 128))
>>> w2 = varinit.init("he_normal", (256, 128), seed=np.random.default_rng(0))  # native stream
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as anp
import numpy as np

from varinit._backend import Backend

__all__ = ["BACKEND", "NumpyBackend"]

_HALF_STEP = {np.dtype(np.float32): 2.0**-25, np.dtype(np.float64): 2.0**-54}
_TOP = {np.dtype(np.float32): 1.0 - 2.0**-24, np.dtype(np.float64): 1.0 - 2.0**-53}


class NumpyBackend(Backend):
    """NumPy arrays through array-api-compat; the native stream is a ``numpy.random.Generator``."""

    name = "numpy"
    layout = "in_out"

    @property
    def xp(self) -> Any:
        return anp

    def canonical_dtype(self, dtype: Any) -> Any:
        try:
            return np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype={dtype!r} is not a NumPy dtype") from None

    def is_half(self, dtype: Any) -> bool:
        return bool(np.dtype(dtype) == np.float16)

    def is_generator(self, obj: Any) -> bool:
        return isinstance(obj, np.random.Generator)

    def make_generator(self, seed: int) -> Any:
        return np.random.default_rng(seed)

    def default_generator(self) -> Any:
        return np.random.default_rng()

    def native_uniform(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        dt = np.dtype(dtype)
        u = generator.random(shape, dtype=dt)
        u += dt.type(_HALF_STEP[dt])  # [0, 1) on a 2**-24 (2**-53) grid -> open interval
        return np.minimum(u, dt.type(_TOP[dt]), out=u)

    def native_normal(self, generator: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        return generator.standard_normal(shape, dtype=np.dtype(dtype))

    def empty(self, n: int, dtype: Any, device: Any) -> Any:
        return np.empty((n,), dtype=dtype)

    def finalize(self, x: Any, dtype: Any, device: Any) -> Any:
        if device not in (None, "cpu"):
            raise ValueError(f"device={device!r} is not allowed: NumPy arrays live on 'cpu'")
        x = np.asarray(x)
        return x if x.dtype == dtype else x.astype(dtype)

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        return np.asarray(a, dtype=dtype)


BACKEND = NumpyBackend()
