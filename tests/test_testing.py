"""``varinit.testing`` catches what it is meant to catch: wrong std, wrong truncation,
wrong support, shuffled bits, a broken backend. Each helper is fed a deliberately wrong
sample and must fail (fixed seeds; the KS alpha is 1e-3, n = 120,000)."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest

import varinit
from varinit.testing import assert_distribution, assert_same_stream, check_backend

SHAPE = (400, 300)


def test_a_correct_sample_passes() -> None:
    r = assert_distribution(varinit.init("he_normal", SHAPE, layout="in_out", seed=1), "he_normal", SHAPE)
    assert r.ok and r.n == 120_000


def test_wrong_std_fails() -> None:
    x = varinit.init("he_normal", SHAPE, layout="in_out", seed=1) * 1.03  # 3 % too wide
    with pytest.raises(AssertionError, match="does not fit 'he_normal'"):
        assert_distribution(x, "he_normal", SHAPE)


def test_wrong_truncation_fails() -> None:
    # an untruncated normal with the right variance is not he_normal
    x = varinit.init("normal", SHAPE, seed=1, std=varinit.std("he_normal", SHAPE))
    with pytest.raises(AssertionError):
        assert_distribution(x, "he_normal", SHAPE)


def test_uncorrected_truncation_fails() -> None:
    x = varinit.init("he_normal", SHAPE, layout="in_out", seed=1, corrected=False)
    with pytest.raises(AssertionError):
        assert_distribution(x, "he_normal", SHAPE)


def test_values_outside_the_support_fail() -> None:
    x = varinit.init("glorot_uniform", SHAPE, seed=1)
    x[0, 0] = 10.0
    with pytest.raises(AssertionError, match="inside support: False"):
        assert_distribution(x, "glorot_uniform", SHAPE)


def test_wrong_fans_fail() -> None:
    x = varinit.init("he_normal", SHAPE, seed=1, layout="out_in")  # fan_in = 300, not 400
    with pytest.raises(AssertionError):
        assert_distribution(x, "he_normal", SHAPE)


def test_broken_structure_fails() -> None:
    q = varinit.init("orthogonal", (64, 48), seed=0)
    q[0, 0] += 0.01
    with pytest.raises(AssertionError, match="orthonormal"):
        assert_distribution(q, "orthogonal", (64, 48))
    s = varinit.init("sparse", (300, 200), seed=0)
    s[s == 0] = 1e-3
    with pytest.raises(AssertionError, match="zeros per column"):
        assert_distribution(s, "sparse", (300, 200))


def test_shuffled_bits_fail_the_stream_check() -> None:
    a = varinit.init("he_normal", (64, 64), seed=3)
    b = np.random.default_rng(0).permutation(a.reshape(-1)).reshape(a.shape)
    with pytest.raises(AssertionError, match="bit-identical"):
        assert_same_stream(a, b)
    c = a.copy()
    c.view(np.uint32)[0, 0] += 3  # 3 ulp off in one element
    with pytest.raises(AssertionError, match=r"worst difference 3\.0 ulp"):
        assert_same_stream(a, c)
    d = a.copy()
    d.view(np.uint32)[0, :20] += 1  # 1 ulp in 20 of 4096 values: allowed
    assert assert_same_stream(a, d) == pytest.approx(1 - 20 / 4096)


def test_check_backend_on_a_namespace_and_on_a_broken_backend() -> None:
    assert check_backend(xps, schemes=["he_normal", "glorot_uniform", "orthogonal"]).ok

    from varinit.adapters.numpy import NumpyBackend

    class Broken(NumpyBackend):
        name = "broken"

        def philox_words(
            self, seed: int, stream: int, starts: list[int], length: int, device: object
        ) -> object:
            w = super().philox_words(seed, stream, starts, length, device)
            return np.asarray(w) >> 1  # loses the top bit: uniforms only in (0, 1/2)

    with pytest.raises(AssertionError, match="backend 'broken' fails"):
        check_backend(Broken(), schemes=["glorot_uniform"])
    result = check_backend(Broken(), schemes=["glorot_uniform"], raise_on_failure=False)
    assert not result.ok


def test_check_backend_rejects_a_non_namespace() -> None:
    with pytest.raises(TypeError, match="not an Array API namespace"):
        check_backend(object())
