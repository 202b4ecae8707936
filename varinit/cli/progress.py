"""A one-line progress bar on a terminal's stderr, for ``varinit check``."""

from __future__ import annotations

import shutil
from typing import TextIO

__all__ = ["Bar"]


class Bar:
    """Draws ``stage [#####.....] done/total item`` in place; ``done == total`` clears the line.

    Called as ``bar(stage, done, total, item)`` (``varinit.conformance.check.run``'s progress).

    >>> import io
    >>> out = io.StringIO()
    >>> bar = Bar(out, width=10)
    >>> bar("numpy", 1, 4, "he_normal")
    >>> out.getvalue()
    '\\rnumpy [##........] 1/4 he_normal'
    >>> bar("numpy", 4, 4, "")
    >>> out.getvalue().endswith("\\r")
    True
    """

    def __init__(self, stream: TextIO, width: int | None = None) -> None:
        self.stream = stream
        self.width = width if width is not None else max(10, min(30, shutil.get_terminal_size().columns - 50))
        self.last = 0

    def __call__(self, stage: str, done: int, total: int, item: str) -> None:
        if done >= total:
            self.stream.write("\r" + " " * self.last + "\r")
        else:
            filled = round(self.width * done / total) if total else self.width
            count = f"{done:>{len(str(total))}}/{total}"
            text = f"{stage} [{'#' * filled}{'.' * (self.width - filled)}] {count} {item}"
            pad = " " * max(0, self.last - len(text))
            self.stream.write("\r" + text + pad)
            self.last = len(text)
        self.stream.flush()
