"""Calibration: the statistical tests' false-positive rate is their alpha.

For a few schemes, 200 portable seeds each draw 100,000 values; the one-sample KS p-values
must look uniform on (0, 1) (a KS test of the p-values at alpha = 1e-3), and the number of
seeds rejected at alpha = 0.05 must lie in [1, 22] (binomial(200, 0.05): mean 10, the
interval holds with probability > 0.998). A biased sampler, or a test that is too strict or
too lax, fails here. Marked slow; CI runs it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import varinit
from varinit.testing import distribution_report

SEEDS = range(1000, 1200)
SHAPE = (400, 250)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform", "xavier_normal", "trunc_normal"])
def test_ks_pvalues_are_uniform_over_seeds(scheme: str) -> None:
    p = np.array(
        [
            distribution_report(varinit.init(scheme, SHAPE, layout="in_out", seed=s), scheme, SHAPE).ks_pvalue
            for s in SEEDS
        ]
    )
    assert stats.kstest(p, "uniform").pvalue >= 1e-3
    rejected = int(np.sum(p < 0.05))
    assert 1 <= rejected <= 22, rejected


@pytest.mark.slow
def test_calibration_detects_a_biased_sampler() -> None:
    """The same procedure rejects a sampler whose std is 1 % off."""
    p = np.array(
        [
            distribution_report(
                1.01 * varinit.init("xavier_normal", SHAPE, seed=s), "xavier_normal", SHAPE
            ).ks_pvalue
            for s in SEEDS[:50]
        ]
    )
    assert stats.kstest(p, "uniform").pvalue < 1e-3
