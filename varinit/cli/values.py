"""Command-line values, parsed the same way by every subcommand."""

from __future__ import annotations

from typing import Any

__all__ = ["parse_value"]


def parse_value(text: str) -> Any:
    """A command-line value: true/false, an int, a float, or the text itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text
