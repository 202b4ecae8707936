"""The portable stream, defined once: Philox4x32-10 (Salmon et al. 2011, Random123).

This module is the stream's only definition (``docs/randomness.md`` states it in prose, and a
test holds the two together). Every kernel, compiled or not, imports its constants from here
and is tested against :func:`reference_words` and :func:`reference_uniforms`.

- key: ``(seed & 0xFFFFFFFF, seed >> 32)`` for a seed in [0, 2**64);
- block ``b`` (64-bit) uses counter ``(b & 0xFFFFFFFF, b >> 32, s0, s1)``, ``(s0, s1)`` the
  64-bit stream id; its four outputs are words ``4b .. 4b+3``;
- element ``i`` of the global C-order tensor takes word ``i`` (float32 and narrower) or words
  ``2i, 2i+1`` (float64);
- float32 ``u = (w >> 8) * 2**-24 + 2**-25``; float64
  ``u = (((w[2i] << 32) | w[2i+1]) >> 11) * 2**-53 + 2**-54``: never 0, never 1.

>>> [hex(w) for w in reference_words(0, 0, 0, 4)]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
>>> reference_uniforms(0, 0, 0, 1, "float32")[0] == ((0x6627e8d5 >> 8) + 0.5) * 2**-24
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "M0",
    "M1",
    "MASK",
    "OPEN",
    "ROUNDS",
    "W0",
    "W1",
    "counter",
    "philox4x32",
    "philox4x32_reference",
    "reference_uniforms",
    "reference_words",
    "split_key",
    "uniform_from_words",
    "words",
    "words_per_element",
]

#: the round multipliers and the key increments (Weyl sequence) of Philox4x32
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF
ROUNDS = 10
_M0, _M1, _W0, _W1, _MASK = M0, M1, W0, W1, MASK

#: per float width, (half a grid step, the largest uniform): a grid value ``k * 2**-bits``
#: plus half a step lies in the open interval (0, 1); the cap guards the rounding to 1.0
OPEN: dict[str, tuple[float, float]] = {
    "float32": (2.0**-25, 1.0 - 2.0**-24),
    "float64": (2.0**-54, 1.0 - 2.0**-53),
}


def split_key(value: int, what: str = "seed") -> tuple[int, int]:
    """A 64-bit integer as its (low, high) 32-bit words, or a clear error."""
    import operator

    if isinstance(value, bool):
        raise TypeError(f"{what}={value!r} is not allowed: {what} must be an integer in [0, 2**64)")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what}={value!r} is not allowed: {what} must be an integer in [0, 2**64)") from None
    if not 0 <= v < 1 << 64:
        raise ValueError(f"{what}={value!r} is out of range: {what} must be in [0, 2**64)")
    return v & _MASK, v >> 32


def philox4x32_reference(
    counter: Sequence[int], key: Sequence[int], rounds: int = ROUNDS
) -> tuple[int, int, int, int]:
    """One Philox4x32 block in plain Python integers (the specification).

    >>> [hex(w) for w in philox4x32_reference((0, 0, 0, 0), (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = (int(c) & _MASK for c in counter)
    k0, k1 = (int(k) & _MASK for k in key)
    for _ in range(rounds):
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _MASK, (p0 >> 32) ^ c3 ^ k1, p0 & _MASK
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return c0, c1, c2, c3


def counter(block: int, stream: int = 0) -> tuple[int, int, int, int]:
    """The Philox counter of 64-bit block ``block`` in stream ``stream``.

    >>> counter(2**32 + 3, 1)
    (3, 1, 1, 0)
    """
    b0, b1 = split_key(block, "block")
    s0, s1 = split_key(stream, "stream")
    return b0, b1, s0, s1


def words_per_element(dtype_name: str) -> int:
    """Stream words per element: 2 for float64, 1 for float32 and narrower."""
    return 2 if dtype_name == "float64" else 1


def reference_words(seed: int, stream: int, start: int, n: int) -> list[int]:
    """Words ``[start, start + n)`` of the stream in plain Python (the specification)."""
    key = split_key(seed)
    out: list[int] = []
    for b in range(start >> 2, (start + n + 3) >> 2):
        out.extend(philox4x32_reference(counter(b, stream), key))
    off = start & 3
    return out[off : off + n]


def reference_uniforms(seed: int, stream: int, start: int, n: int, dtype_name: str) -> list[float]:
    """Uniforms of elements ``[start, start + n)`` in plain Python (float32 values as floats)."""
    import struct

    if dtype_name == "float64":
        w = reference_words(seed, stream, 2 * start, 2 * n)
        half, _ = OPEN["float64"]
        return [((((w[2 * i] << 32) | w[2 * i + 1]) >> 11) * 2.0**-53 + half) for i in range(n)]
    half, top = OPEN["float32"]

    def f32(x: float) -> float:
        return float(struct.unpack("f", struct.pack("f", x))[0])

    return [min(f32((v >> 8) * 2.0**-24 + half), top) for v in reference_words(seed, stream, start, n)]


def uniform_from_words(xp: Any, w: Any, dtype: Any) -> Any:
    """Open-interval uniforms from uint32 words (last axis; float64 uses word pairs).

    float32: ``u = (w >> 8) * 2**-24 + 2**-25`` (rounded to float32, at most 1 - 2**-24);
    float64: ``u = (((w[2i] << 32) | w[2i+1]) >> 11) * 2**-53 + 2**-54`` (at most 1 - 2**-53).
    """
    if dtype == xp.float64:
        half, top = OPEN["float64"]
        hi = xp.astype(w[..., 0::2], xp.float64)
        lo = xp.astype(xp.bitwise_right_shift(w[..., 1::2], 11), xp.float64)
        u = (hi * 2.0**21 + lo) * 2.0**-53 + half
        return xp.minimum(u, top)
    half, top = OPEN["float32"]
    u = xp.astype(xp.bitwise_right_shift(w, 8), xp.float32) * 2.0**-24 + half
    return xp.minimum(u, top)


def _mulhilo(xp: Any, m: int, x: Any, wide: bool) -> tuple[Any, Any]:
    """(hi, lo) 32-bit halves of ``m * x`` for a 32-bit constant ``m``."""
    if isinstance(x, int):
        p = m * x
        return p >> 32, p & _MASK
    c = xp.asarray(m, dtype=x.dtype)
    if wide:  # x is uint64 holding 32-bit values
        p = x * c
        return p >> 32, p & xp.asarray(_MASK, dtype=x.dtype)
    # uint32 only: 16-bit limbs
    mh, ml = m >> 16, m & 0xFFFF
    xh, xl = x >> 16, x & 0xFFFF
    ll, lh, hl, hh = xl * ml, xl * mh, xh * ml, xh * mh
    mid = (ll >> 16) + (lh & 0xFFFF) + (hl & 0xFFFF)
    hi = hh + (lh >> 16) + (hl >> 16) + (mid >> 16)
    return hi, x * c


def philox4x32(
    xp: Any, counter: Sequence[Any], key: tuple[int, int], *, wide: bool, rounds: int = ROUNDS
) -> tuple[Any, Any, Any, Any]:
    """Philox4x32 on arrays of counters (entries may be Python ints, broadcast).

    With ``wide=True`` arrays are uint64 holding 32-bit values (fewer operations where
    64-bit integers are fast); otherwise uint32 with 16-bit-limb multiplies.
    """
    c0, c1, c2, c3 = counter
    k0, k1 = key
    arrays = [c for c in counter if not isinstance(c, int)]

    # constants as 0-d arrays of the counters' dtype: some namespaces (JAX) read a bare
    # Python int >= 2**31 as int32 and overflow
    def const(v: Any) -> Any:
        return xp.asarray(v, dtype=arrays[0].dtype) if isinstance(v, int) and arrays else v

    for _ in range(rounds):
        hi0, lo0 = _mulhilo(xp, _M0, c0, wide)
        hi1, lo1 = _mulhilo(xp, _M1, c2, wide)
        c0, c1, c2, c3 = (const(hi1) ^ const(c1) ^ const(k0), lo1, const(hi0) ^ const(c3) ^ const(k1), lo0)
        k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
    return c0, c1, c2, c3


def words(
    xp: Any,
    seed: int,
    stream: int,
    starts: Sequence[int],
    length: int,
    *,
    wide: bool,
    device: Any = None,
) -> Any:
    """Words ``[s, s + length)`` of the stream for every start ``s``: uint32, (rows, length)."""
    key = split_key(seed)
    s0, s1 = split_key(stream, "stream")
    itype = xp.uint64 if wide else xp.uint32
    kw = {} if device is None else {"device": device}
    offs = [s & 3 for s in starts]
    nblocks = (max(offs) + length + 3) // 4
    base = [s >> 2 for s in starts]
    j = xp.reshape(xp.arange(nblocks, dtype=itype, **kw), (1, nblocks))
    lo = xp.reshape(xp.asarray([b & _MASK for b in base], dtype=itype, **kw), (-1, 1))
    hi = [b >> 32 for b in base]
    if wide:
        c = lo + j
        c0 = c & xp.asarray(_MASK, dtype=itype)
        c1 = (c >> 32) + xp.reshape(xp.asarray(hi, dtype=itype, **kw), (-1, 1))
    else:
        c0 = lo + j
        carry = xp.astype(c0 < lo, itype)
        c1 = carry + xp.reshape(xp.asarray(hi, dtype=itype, **kw), (-1, 1))
    if not any(hi) and nblocks <= (1 << 32) - max(b & _MASK for b in base):
        c1 = 0  # no carries anywhere: a scalar keeps the first round cheaper
    x = philox4x32(xp, (c0, c1, s0, s1), key, wide=wide)
    out = xp.reshape(xp.stack(x, axis=-1), (len(starts), 4 * nblocks))
    if wide:
        out = xp.astype(out, xp.uint32)
    if len(set(offs)) == 1:
        return out[:, offs[0] : offs[0] + length]
    sel = xp.reshape(xp.asarray(offs, dtype=xp.int32, **kw), (-1, 1))
    result = out[:, 0:length]
    for o in sorted(set(offs) - {0}):
        result = xp.where(sel == o, out[:, o : o + length], result)
    return result
