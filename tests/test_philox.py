"""Philox4x32-10: known-answer vectors, the Array-API kernels, 64-bit counters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import array_api_compat.numpy as xnp
import array_api_strict as xps
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from varinit.rng.philox import philox4x32, philox4x32_reference, split_key, words

KAT = Path(__file__).parent / "data" / "philox4x32_10_kat.txt"


def _kat() -> list[tuple[list[int], list[int], list[int]]]:
    rows = []
    for line in KAT.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        assert parts[:2] == ["philox4x32", "10"]
        vals = [int(v, 16) for v in parts[2:]]
        rows.append((vals[0:4], vals[4:6], vals[6:10]))
    return rows


def test_kat_file_has_vectors() -> None:
    assert len(_kat()) == 3


@pytest.mark.parametrize("ctr,key,expected", _kat())
def test_reference_matches_known_answers(ctr: list[int], key: list[int], expected: list[int]) -> None:
    assert list(philox4x32_reference(ctr, key)) == expected


def _namespaces() -> list[object]:
    out = [
        pytest.param(xnp, True, id="numpy-wide"),
        pytest.param(xnp, False, id="numpy-narrow"),
        pytest.param(xps, True, id="strict-wide"),
        pytest.param(xps, False, id="strict-narrow"),
    ]
    if importlib.util.find_spec("jax") is not None:
        import jax.numpy as jnp

        # uint32 only without x64
        out.append(pytest.param(jnp, False, id="jax-narrow", marks=pytest.mark.jax))
    return out


@pytest.mark.parametrize("xp,wide", _namespaces())
def test_array_kernel_matches_known_answers(xp: object, wide: bool) -> None:
    rows = _kat()
    dt = xp.uint64 if wide else xp.uint32  # type: ignore[attr-defined]
    ctr = [xp.asarray([r[0][i] for r in rows], dtype=dt) for i in range(4)]  # type: ignore[attr-defined]
    key_rows = {tuple(r[1]) for r in rows}
    for key in key_rows:
        sel = [i for i, r in enumerate(rows) if tuple(r[1]) == key]
        out = philox4x32(xp, [c[sel[0] : sel[0] + 1] for c in ctr], key, wide=wide)  # type: ignore[arg-type]
        got = [int(np.asarray(o)[0]) if not isinstance(o, int) else o for o in out]
        assert got == rows[sel[0]][2]


def _ref_words(seed: int, stream: int, start: int, n: int) -> list[int]:
    k = split_key(seed)
    s0, s1 = split_key(stream)
    out = []
    for w in range(start, start + n):
        b = w >> 2
        out.append(philox4x32_reference((b & 0xFFFFFFFF, b >> 32, s0, s1), k)[w & 3])
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    stream=st.integers(0, 2**64 - 1),
    starts=st.lists(st.integers(0, 2**40), min_size=1, max_size=4),
    length=st.integers(1, 13),
    wide=st.booleans(),
)
def test_words_follow_the_published_stream(
    seed: int, stream: int, starts: list[int], length: int, wide: bool
) -> None:
    got = np.asarray(words(xnp, seed, stream, starts, length, wide=wide))
    assert got.dtype == np.uint32 and got.shape == (len(starts), length)
    for row, s in zip(got, starts, strict=True):
        assert row.tolist() == _ref_words(seed, stream, s, length)


def test_counter_carries_past_two_to_the_32_blocks() -> None:
    # words around block 2**32 (element 2**34): the high counter word must carry
    start = 4 * (2**32) - 6
    got = np.asarray(words(xnp, 5, 0, [start], 12, wide=False))[0].tolist()
    assert got == _ref_words(5, 0, start, 12)
    assert got == np.asarray(words(xnp, 5, 0, [start], 12, wide=True))[0].tolist()


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, "3", True])
def test_seed_validation(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="seed"):
        split_key(bad)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    stream=st.integers(0, 2**64 - 1),
    start=st.integers(0, 2**45),
    length=st.integers(1, 70),
)
def test_numpy_fast_kernel_equals_the_array_api_kernel(
    seed: int, stream: int, start: int, length: int
) -> None:
    from varinit.adapters.numpy import BACKEND

    fast = np.asarray(BACKEND.philox_words(seed, stream, [start], length, None))
    assert fast.dtype == np.uint32
    np.testing.assert_array_equal(fast, np.asarray(words(xnp, seed, stream, [start], length, wide=False)))


@pytest.mark.parametrize("xp,wide", _namespaces())
def test_words_on_every_namespace(xp: object, wide: bool) -> None:
    got = np.asarray(words(xp, 2**63 + 5, 2**40 + 7, [3, 2**34 + 1], 11, wide=wide))
    ref = np.asarray(words(xnp, 2**63 + 5, 2**40 + 7, [3, 2**34 + 1], 11, wide=True))
    np.testing.assert_array_equal(got, ref)
