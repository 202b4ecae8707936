"""timm: the initializers of ``timm.layers`` under their names and signatures.

``from varinit.adapters.timm import trunc_normal_`` replaces ``from timm.layers import
trunc_normal_``; each name also takes keyword-only ``seed=`` (an int: the portable stream)
and ``generator=`` (a ``torch.Generator``), and ``seed=None`` draws from torch's default
generator, as timm does. The functions live in :mod:`varinit.adapters.torch`.

>>> import torch
>>> from varinit.adapters.timm import trunc_normal_tf_
>>> w = trunc_normal_tf_(torch.empty(256, 128), std=0.02, seed=0)  # bounds in std units
>>> bool(w.abs().max() <= 0.04)
True
"""

from __future__ import annotations

from .torch import lecun_normal_, trunc_normal_, trunc_normal_tf_, variance_scaling_

__all__ = ["lecun_normal_", "trunc_normal_", "trunc_normal_tf_", "variance_scaling_"]
