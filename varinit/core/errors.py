"""Exceptions raised by varinit."""

from __future__ import annotations

__all__ = ["LayoutWarning", "SchemeError", "TableError", "UnknownSchemeError"]


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


class LayoutWarning(UserWarning):
    """A 2-D weight drawn by ``varinit.init`` without ``layout=`` whose std depends on it.

    The generic call reads a 2-D shape as (in, out), so the NumPy/torch form
    ``(n_out, n_in)`` would silently get fan_in = n_out. Pass ``layout=`` to settle it, or
    silence it for the process with ``warnings.filterwarnings("ignore", category=varinit.LayoutWarning)``.

    >>> import warnings, varinit
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     w = varinit.init("he_normal", (256, 512), seed=0)
    >>> caught[0].category is varinit.LayoutWarning
    True
    """
