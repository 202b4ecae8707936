"""The portable stream in JAX operations: Philox4x32-10 on uint32 arrays, 64-bit row
starts on uint32 halves, and the stream's words for any rows (jit-able, partitionable).

Shared by ``varinit.adapters.jax`` (initializers, sharded init) and
``varinit.adapters._jax_tree`` (``init_tree``).

>>> import numpy as np
>>> from varinit.adapters._jax_philox import philox
>>> [hex(int(w)) for w in philox((np.uint32(0),) * 4, (np.uint32(0), np.uint32(0)))]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from varinit.rng import philox as spec
from varinit.rng.philox import split_key

_MASK, _M0, _M1, _W0, _W1 = spec.MASK, spec.M0, spec.M1, spec.W0, spec.W1
_U32 = np.dtype(np.uint32)
# 64-bit products even when x64 is off: a scoped x64 context while tracing the four ops
# of a 32x32->64 multiply (what ``lax.mulhi`` lowers to; ``mulhi`` itself does not
# survive SPMD partitioning in jax 0.10, the u64 ops do).
_X64: Any = getattr(jax, "enable_x64", None)
if _X64 is None:  # jax < 0.6
    import jax.experimental

    _X64 = getattr(jax.experimental, "enable_x64", None)


# --------------------------------------------------------------------------- Philox


def _mulhilo(m: int, x: Any) -> tuple[Any, Any]:
    """(hi, lo) 32-bit halves of ``m * x``; ``x`` a uint32 array or a static int."""
    if isinstance(x, int | np.integer):
        prod = m * int(x)
        return np.uint32(prod >> 32), np.uint32(prod & _MASK)
    lo = x * np.uint32(m)
    if _X64 is not None:
        with _X64(True):
            p = lax.convert_element_type(x, np.uint64) * np.uint64(m)
            hi = lax.convert_element_type(p >> np.uint64(32), np.uint32)
        return hi, lo
    # no scoped x64: 16-bit limbs, uint32 only (about 2x slower)
    mh, ml = np.uint32(m >> 16), np.uint32(m & 0xFFFF)
    low16 = np.uint32(0xFFFF)
    xh, xl = x >> 16, x & low16
    ll, lh, hl, hh = xl * ml, xl * mh, xh * ml, xh * mh
    mid = (ll >> 16) + (lh & low16) + (hl & low16)
    return hh + (lh >> 16) + (hl >> 16) + (mid >> 16), lo


def _add_key(k: Any, w: int) -> Any:
    if isinstance(k, int | np.integer):
        return np.uint32((int(k) + w) & _MASK)
    return k + np.uint32(w)


def philox(counter: Sequence[Any], key: Sequence[Any]) -> tuple[Any, Any, Any, Any]:
    """Philox4x32-10 on uint32 arrays (entries may be static ints); wraps like Random123."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(spec.ROUNDS):
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0, k1 = _add_key(k0, _W0), _add_key(k1, _W1)
    return c0, c1, c2, c3


def _seed_words(seed: Any) -> tuple[Any, Any]:
    """(k0, k1) of a static int seed (validated), of a traced integer scalar, or a pair."""
    if isinstance(seed, tuple):
        return seed[0], seed[1]
    if isinstance(seed, int | np.integer):
        lo, hi = split_key(int(seed))
        return np.uint32(lo), np.uint32(hi)
    s = jnp.asarray(seed)
    if not jnp.issubdtype(s.dtype, jnp.integer) or s.ndim != 0:
        raise TypeError(f"seed={seed!r} is not allowed: a traced seed must be an integer scalar")
    k0 = s.astype(jnp.uint32)
    k1 = (s >> 32).astype(jnp.uint32) if s.dtype.itemsize == 8 else np.uint32(0)
    return k0, k1


def stream_words(seed: Any, stream: int, lo: Any, hi: Any, length: int) -> Any:
    """uint32 words ``[s, s + length)`` of the portable stream for every row start ``s``.

    ``lo``/``hi`` are the low and high 32-bit halves of the row starts, shape (rows,):
    NumPy constants or traced arrays. Each element computes its own Philox block
    (``word >> 2``) and keeps lane ``word & 3``: purely elementwise, so XLA fuses it into
    one loop and can partition it over devices.
    """
    k0, k1 = _seed_words(seed)
    s0, s1 = split_key(stream, "stream")
    rows = int(np.shape(lo)[0])
    j = lax.broadcasted_iota(jnp.uint32, (rows, length), 1)
    if isinstance(lo, np.ndarray) and rows == 1:
        base: Any = np.uint32(lo[0])
    else:
        base = jnp.reshape(jnp.asarray(lo, dtype=jnp.uint32), (rows, 1))
    w_lo = base + j
    static_hi = isinstance(hi, np.ndarray) and isinstance(lo, np.ndarray)
    if static_hi and not hi.any() and int(lo.max()) + length <= 1 << 32:
        b0, b1 = w_lo >> 2, np.uint32(0)
    else:
        carry = (w_lo < base).astype(jnp.uint32)
        w_hi = jnp.reshape(jnp.asarray(hi, dtype=jnp.uint32), (rows, 1)) + carry
        b0, b1 = (w_lo >> 2) | (w_hi << 30), w_hi >> 2
    x0, x1, x2, x3 = philox((b0, b1, np.uint32(s0), np.uint32(s1)), (k0, k1))
    lane = w_lo & np.uint32(3)
    return jnp.where(lane < 2, jnp.where(lane == 0, x0, x1), jnp.where(lane == 2, x2, x3))


def _split_starts(starts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    a = [int(s) for s in starts]
    return (
        np.asarray([s & _MASK for s in a], dtype=np.uint32),
        np.asarray([s >> 32 for s in a], dtype=np.uint32),
    )


def _add64(a: tuple[Any, Any], b: tuple[Any, Any]) -> tuple[Any, Any]:
    """(hi, lo) + (hi, lo) modulo 2**64, on uint32 halves."""
    lo = a[1] + b[1]
    return a[0] + b[0] + (lo < a[1]).astype(jnp.uint32), lo
