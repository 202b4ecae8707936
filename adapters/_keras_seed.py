"""Keras' side of a draw: which varinit backend the Keras backend maps to, and the seed of
one call (an int, a ``SeedGenerator``'s next state, or a fresh one from Keras' global seed
generator). Shared by the initializers (``varinit.adapters.keras``) and ``init_model``.

>>> from varinit.adapters._keras_seed import _key
>>> _key(7)
(7, 0)
"""

from __future__ import annotations

from typing import Any

import keras

from varinit.core.backend import Backend, get_backend

_BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


def _backend() -> Backend:
    name = _BACKENDS.get(keras.backend.backend())
    if name is None:
        raise RuntimeError(
            f"Keras backend {keras.backend.backend()!r} is not supported by varinit; "
            f"use one of {', '.join(_BACKENDS)}"
        )
    try:
        return get_backend(name)
    except ImportError:  # that adapter is not installed: same numbers from NumPy
        return get_backend("numpy")


def _key(seed: Any) -> tuple[int, int]:
    """(portable seed, stream id) of one call: an int as it is; a ``SeedGenerator``'s next
    state ``(seed, counter)`` as key and stream, so each call draws a new stream."""
    if isinstance(seed, keras.random.SeedGenerator):
        key, counter = (int(v) for v in keras.ops.convert_to_numpy(seed.next()))
        return key & 0xFFFFFFFF, counter & 0xFFFFFFFFFFFFFFFF
    return int(seed), 0


def _fresh_seed() -> int:
    """A 62-bit seed from Keras' global seed generator (``keras.utils.set_random_seed``)."""
    bits = keras.random.randint((2,), 0, 2**31 - 1, dtype="int32")
    hi, lo = (int(v) for v in keras.ops.convert_to_numpy(bits))
    return (hi << 31) | lo
