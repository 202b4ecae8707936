"""What the Flax tests share (NNX modules in test_flax_model.py, linen params in test_jax_tree.py):
the reference draw on a parameter's portable stream, rules by role, Flax's defaults as rules,
and the tolerance for comparing two sample stds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import varinit


def stream_init(scheme: str, shape: tuple[int, ...], name: str, *, seed: Any, **kw: Any) -> np.ndarray:
    """The reference: one public varinit.init call on the portable stream of ``name``."""
    return np.asarray(
        varinit.init(scheme, shape, seed=seed, stream=varinit.stream_id(name), backend="jax", **kw)
    )


#: one rule per role: the rules both whole-model entry points are checked with
ROLE_RULES: dict[str, Any] = {
    "weight": "he_normal",
    "bias": "torch_default",
    "embedding": ("normal", {"std": 0.5}),
    "norm_scale": "ones",
    "norm_bias": "zeros",
}

#: what Flax's layers start from, as rules
FLAX_DEFAULTS: dict[str, Any] = {
    "weight": "lecun_normal",
    "bias": "zeros",
    "embedding": (
        "normal",
        {"std": "= 1 / sqrt(fan_out)"},
    ),  # variance_scaling(1, fan_in, normal, out_axis=0)
    "norm_scale": "ones",
    "norm_bias": "zeros",
}


def ratio_tol(n: int) -> float:
    """Two independent sample stds of n draws: their ratio's standard error is below
    1/sqrt(n); 5 of those, a false failure below 1e-6 (two-sided normal tail)."""
    return 5 / math.sqrt(n)
