"""Any backend's array as NumPy (for reports, tests and the CLI; never on a drawing path)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["raw_numpy", "to_numpy"]


def to_numpy(x: Any) -> np.ndarray:
    """Any backend's array as a float64 NumPy array (torch, JAX, TF, NumPy, Array API).

    >>> to_numpy([1, 2]).dtype
    dtype('float64')
    """
    return np.asarray(raw_numpy(x), dtype=np.float64)


def raw_numpy(x: Any) -> np.ndarray:
    """Any backend's array as NumPy in its own dtype (bfloat16 widened to float32)."""
    if hasattr(x, "detach"):  # torch
        t = x.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return np.asarray(t.numpy())
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # TensorFlow
        return np.asarray(x.numpy())
    if type(x).__module__.startswith("cupy"):  # device memory: an explicit copy to the host
        return np.asarray(x.get())
    if type(x).__module__.startswith("array_api_strict"):
        return np.asarray(x.__array_namespace__().asarray(x, copy=True)._array)
    return np.asarray(x)
