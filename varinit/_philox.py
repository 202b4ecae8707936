"""Philox4x32-10 (Salmon et al. 2011, Random123) in Array API integer operations.

The portable stream (see ``docs/randomness.md``): key ``(seed & 0xFFFFFFFF, seed >> 32)``;
block ``b`` uses counter ``(b & 0xFFFFFFFF, b >> 32, s0, s1)`` with ``(s0, s1)`` the stream
id; its four outputs are words ``4b .. 4b+3``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["philox4x32", "philox4x32_reference", "split_key", "words"]

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF
ROUNDS = 10


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
