"""Exceptions raised by varinit."""

from __future__ import annotations

__all__ = ["SchemeError", "TableError", "UnknownSchemeError"]


class UnknownSchemeError(KeyError, ValueError):
    """A scheme name that is neither a canonical name nor an alias.

    It is both a ``KeyError`` (a failed lookup) and a ``ValueError`` (a bad argument),
    so either ``except`` clause catches it.

    >>> import varinit
    >>> try:
    ...     varinit.get("he_norml")
    ... except varinit.UnknownSchemeError as e:
    ...     print(e.suggestions[0])
    he_normal
    """

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        self.message = (
            f"unknown initialization scheme {name!r}{hint} "
            "(varinit.schemes() lists them all, `varinit list` prints the table)"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class SchemeError(ValueError):
    """A parameter value that is not allowed (names the parameter, the value and the fix)."""


class TableError(SchemeError):
    """A malformed scheme table: names the file, the row and the key."""
