"""The transform plans every device route is checked with, one of each kind and regime
(shared by the Triton, Triton-on-CUDA and JAX-on-device tests), and the float32 grid."""

from __future__ import annotations

import numpy as np

from varinit.core.plans import Normal, TruncNormal, Uniform

PLANS = {
    "uniform": Uniform(-0.3, 0.7),
    "normal": Normal(0.0, 1.0),
    "normal_shifted": Normal(0.1, 0.02),
    "trunc_central": TruncNormal(0.0, 1.0, -2.0, 2.0),  # linear, both tails of ndtri
    "trunc_flipped": TruncNormal(0.5, 2.0, 1.0, 3.0),  # linear, mirrored
    "trunc_far": TruncNormal(0.0, 1.0, 5.5, 9.0),  # linear, the r > 5 rational
    "trunc_narrow": TruncNormal(0.0, 1.0, -1e-6, 1e-6),  # narrow: q = p - 1/2
    "trunc_log": TruncNormal(0.0, 1.0, 12.0, 13.0),  # float32: log space
    "trunc_log_40": TruncNormal(-1.0, 0.5, -40.0, -39.0),  # both dtypes: log space
}


def float32_grid() -> np.ndarray:
    """Every float32 uniform the stream can produce: (k + 1/2) * 2**-24, k < 2**24."""
    k = np.arange(1 << 24, dtype=np.int64)
    u = (k.astype(np.float32) * np.float32(2.0**-24) + np.float32(2.0**-25)).astype(np.float32)
    return np.minimum(u, np.float32(1.0 - 2.0**-24))
