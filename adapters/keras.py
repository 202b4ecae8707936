"""Keras 3: ``Initializer``, a serializable ``keras.initializers.Initializer`` for any scheme.

It runs on every Keras backend (tensorflow, jax, torch) through the matching varinit
backend, so an integer seed gives the same weights on all of them.

Repeated calls (decided, and tested):

- ``seed=int``: the values are a pure function of (scheme, overrides, seed, stream, shape).
  Calling one instance twice returns the same values, and layers that share one instance
  get identical kernels. Give layers distinct weights with distinct seeds, or with
  ``stream=varinit.stream_id(name)`` (the portable stream id).
- ``seed=None``: every call draws a fresh 64-bit seed from Keras' global seed generator, so
  repeated calls differ and ``keras.utils.set_random_seed`` makes a run reproducible.

>>> import keras
>>> from varinit.adapters.keras import Initializer
>>> layer = keras.layers.Dense(8, kernel_initializer=Initializer("he_normal", seed=0))
>>> layer.build((None, 16))
>>> tuple(layer.kernel.shape)
(16, 8)
"""

from __future__ import annotations

import operator
from typing import Any

import keras
import numpy as np

from varinit.core.backend import get_backend
from varinit.core.executor import execute
from varinit.core.request import Spec
from varinit.rng.philox import split_key

__all__ = ["Initializer"]

#: Keras backend name -> varinit backend name
_BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


@keras.saving.register_keras_serializable(package="varinit")
class Initializer(keras.initializers.Initializer):  # type: ignore[misc]
    """Any varinit scheme as a Keras initializer (layout ``in_out``: Keras' own).

    ``seed``: an int in [0, 2**64) selects the portable stream (same weights on every
    backend, every call); ``None`` draws a fresh seed per call from Keras' global seed
    generator. ``stream`` (keyword) picks the portable stream id. Other keywords override
    the scheme's parameters or the fans (``mode="fan_out"``, ``gain=...``, ``in_axis=...``).

    >>> from varinit.adapters.keras import Initializer
    >>> init = Initializer("glorot_uniform", seed=3)
    >>> w = init((64, 32))
    >>> bool((init((64, 32)) == w).numpy().all()) if hasattr(w, "numpy") else True
    True
    >>> Initializer.from_config(init.get_config()).get_config() == init.get_config()
    True
    """

    def __init__(self, scheme: str, seed: int | None = None, **overrides: Any) -> None:
        if not isinstance(scheme, str):
            raise TypeError(f"scheme={scheme!r} is not allowed: pass a scheme name (a str)")
        self._spec = Spec.of(
            scheme, **{k: v for k, v in overrides.items() if k != "stream"}
        )  # fails here, not at build
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
                raise TypeError(
                    f"seed={seed!r} is not allowed: Initializer takes an int in [0, 2**64) "
                    "or None (a generator object cannot be serialized)"
                )
            seed = operator.index(seed)
            split_key(seed)
        split_key(overrides.get("stream", 0), "stream")
        self.scheme = scheme
        self.seed = seed
        self.overrides = dict(overrides)

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        dims = tuple(shape)  # validated by the request: a float such as 4.5 is an error, not 4
        dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        seed = self.seed if self.seed is not None else _fresh_seed()
        name = _BACKENDS.get(keras.backend.backend())
        if name is None:
            raise RuntimeError(
                f"Keras backend {keras.backend.backend()!r} is not supported by varinit; "
                f"use one of {', '.join(_BACKENDS)}"
            )
        try:
            be = get_backend(name)
        except ImportError:  # that adapter is not installed: same numbers from NumPy
            be = get_backend("numpy")
        stream = self.overrides.get("stream", 0)
        x = execute(self._spec.request(dims, backend=be, seed=seed, stream=stream, dtype=dtype))
        return x if be.name == "tensorflow" else keras.ops.convert_to_tensor(x, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "seed": self.seed, **self.overrides}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides.items())
        return f"Initializer({self.scheme!r}, seed={self.seed!r}{extra})"


def _fresh_seed() -> int:
    """A 62-bit seed from Keras' global seed generator (``keras.utils.set_random_seed``)."""
    bits = keras.random.randint((2,), 0, 2**31 - 1, dtype="int32")
    hi, lo = (int(v) for v in keras.ops.convert_to_numpy(bits))
    return (hi << 31) | lo
