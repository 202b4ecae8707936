"""A Backend over ``array_api_strict``: proves the sampler uses only the standard."""

from __future__ import annotations

from typing import Any

import array_api_strict as xps

from varinit.core.backend import Backend


class StrictBackend(Backend):
    name = "array_api_strict"
    mutable = True
    wide = True
    chunk = 1000

    def __init__(self, *, mutable: bool = True, wide: bool = True) -> None:
        self.mutable = mutable  # type: ignore[misc]
        self.wide = wide  # type: ignore[misc]

    @property
    def xp(self) -> Any:
        return xps

    def is_half(self, dtype: Any) -> bool:
        return False

    def from_numpy(self, a: Any, dtype: Any, device: Any) -> Any:
        return xps.asarray(a.tolist(), dtype=dtype)
