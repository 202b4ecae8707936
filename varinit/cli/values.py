"""Command-line values, parsed the same way by every subcommand."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["parse_value"]


def parse_value(text: str) -> Any:
    """A command-line value: true/false, an int, a float, or the text itself.

    A number beyond the float range is an error, not a silent infinity or zero.

    >>> parse_value("2"), parse_value("1e-3"), parse_value("relu"), parse_value("inf")
    (2, 0.001, 'relu', inf)
    """
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    mantissa = low.partition("e")[0]
    if math.isinf(value) and "inf" not in low:
        raise ValueError(
            f"{text} is beyond the float range (its magnitude rounds to infinity; the largest is 1.8e308)"
        )
    if value == 0.0 and any(c in "123456789" for c in mantissa):
        raise ValueError(f"{text} is below the float range (it rounds to 0; the smallest is 4.9e-324)")
    return value
