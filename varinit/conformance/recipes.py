"""Textbook recipes written out literally in NumPy: the anchors of rows that have no live framework.

Caffe's ``xavier`` and ``msra`` fillers (``caffe/include/caffe/filler.hpp``), TF1 contrib's
``variance_scaling_initializer`` and ``xavier_initializer`` (``tensorflow/contrib/layers/
python/layers/initializers.py``) and the NumPy tutorial form, each transcribed line by line
and drawn with :class:`numpy.random.Generator`. Each function takes the weight in its own
layout: Caffe blobs and the NumPy form are ``(out, in, *kernel)``, TF1 is ``(*kernel, in, out)``.

>>> import numpy as np
>>> from varinit.conformance.recipes import caffe_xavier_filler
>>> w = caffe_xavier_filler((64, 32, 3, 3), np.random.default_rng(0))
>>> bool(abs(w).max() <= (3 / (32 * 9)) ** 0.5)
True
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "caffe_msra_filler",
    "caffe_xavier_filler",
    "numpy_lecun_normal",
    "tf1_variance_scaling_initializer",
    "tf1_xavier_initializer",
]


def _caffe_n(shape: tuple[int, ...], variance_norm: str) -> float:
    count = math.prod(shape)
    fan_in = count // shape[0]  # blob->count() / blob->shape(0)
    fan_out = count // shape[1] if len(shape) > 1 else count  # blob->count() / blob->shape(1)
    if variance_norm == "AVERAGE":
        return (fan_in + fan_out) / 2.0
    if variance_norm == "FAN_OUT":
        return float(fan_out)
    if variance_norm == "FAN_IN":
        return float(fan_in)
    raise ValueError(f"variance_norm={variance_norm!r}: Caffe knows FAN_IN, FAN_OUT and AVERAGE")


def caffe_xavier_filler(
    shape: tuple[int, ...], rng: np.random.Generator, variance_norm: str = "FAN_IN"
) -> np.ndarray:
    """Caffe's ``XavierFiller``: ``U(-scale, scale)`` with ``scale = sqrt(3 / n)``."""
    scale = math.sqrt(3.0 / _caffe_n(shape, variance_norm))
    return rng.uniform(-scale, scale, size=shape)


def caffe_msra_filler(
    shape: tuple[int, ...], rng: np.random.Generator, variance_norm: str = "FAN_IN"
) -> np.ndarray:
    """Caffe's ``MSRAFiller``: ``N(0, std^2)`` with ``std = sqrt(2 / n)``, untruncated."""
    std = math.sqrt(2.0 / _caffe_n(shape, variance_norm))
    return rng.normal(0.0, std, size=shape)


def _tf1_truncated_normal(shape: tuple[int, ...], stddev: float, rng: np.random.Generator) -> np.ndarray:
    """``tf.truncated_normal``: values beyond two stddevs are dropped and re-picked."""
    out = rng.normal(0.0, stddev, size=shape)
    bad = np.abs(out) > 2.0 * stddev
    while bad.any():
        out[bad] = rng.normal(0.0, stddev, size=int(bad.sum()))
        bad = np.abs(out) > 2.0 * stddev
    return out


def tf1_variance_scaling_initializer(
    shape: tuple[int, ...],
    rng: np.random.Generator,
    factor: float = 2.0,
    mode: str = "FAN_IN",
    uniform: bool = False,
) -> np.ndarray:
    """TF1 contrib's ``variance_scaling_initializer``: truncated normal with the 1.3 factor, or uniform."""
    fan_in = float(shape[-2]) if len(shape) > 1 else float(shape[-1])
    fan_out = float(shape[-1])
    for dim in shape[:-2]:
        fan_in *= dim
        fan_out *= dim
    n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[mode]
    if uniform:
        limit = math.sqrt(3.0 * factor / n)
        return rng.uniform(-limit, limit, size=shape)
    return _tf1_truncated_normal(shape, math.sqrt(1.3 * factor / n), rng)


def tf1_xavier_initializer(
    shape: tuple[int, ...], rng: np.random.Generator, uniform: bool = True
) -> np.ndarray:
    """TF1 contrib's ``xavier_initializer``: ``variance_scaling_initializer(1.0, "FAN_AVG", uniform)``."""
    return tf1_variance_scaling_initializer(shape, rng, factor=1.0, mode="FAN_AVG", uniform=uniform)


def numpy_lecun_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """The tutorial form ``randn(n_out, n_in) * sqrt(1 / n_in)`` (conv: ``(out, in, *kernel)``)."""
    n_in = math.prod(shape[1:])
    w: np.ndarray = rng.standard_normal(shape) * np.sqrt(1 / n_in)
    return w
