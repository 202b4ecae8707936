"""LSUV (Mishkin & Matas 2016): :mod:`varinit.theory.lsuv`, at its documented import path."""

from __future__ import annotations

from .theory.lsuv import (
    DeadLayerError,
    LayerResult,
    LSUVReport,
    lsuv,
    lsuv_flax,
    lsuv_jax,
    lsuv_keras,
    lsuv_torch,
)

__all__ = [
    "DeadLayerError",
    "LSUVReport",
    "LayerResult",
    "lsuv",
    "lsuv_flax",
    "lsuv_jax",
    "lsuv_keras",
    "lsuv_torch",
]
