"""MkDocs hooks for the varinit site.

- Display math (``$$`` ... ``$$`` on lines of their own) becomes MathML at build time, so
  formulas render in any current browser without JavaScript or a network connection.
- The API reference reads the package as it is installed: ``varinit.adapters`` lives in
  ``adapters/`` (``package-dir`` in pyproject.toml), so mkdocstrings is pointed at a temporary
  tree in which ``varinit/adapters`` and ``varinit/spec`` link to those folders.
- Doctest examples in docstrings (runs of ``>>>`` lines and their output) are shown as code,
  not read as Markdown.
- ``<!-- include: page.md#heading -->`` is replaced by that section of another page (its text
  up to the next heading of the same or a higher level), so a table lives in one place.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from latex2mathml.converter import convert
from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor
from mkdocs.plugins import event_priority

_FENCE = re.compile(r"^(```|~~~)")
_DISPLAY = re.compile(r"^\$\$\s*$")


def to_mathml(markdown: str) -> str:
    """Replace each ``$$`` block outside code fences with a ``<div class="math">`` of MathML."""
    out: list[str] = []
    math: list[str] | None = None
    fenced = False
    for line in markdown.split("\n"):
        if math is None and _FENCE.match(line):
            fenced = not fenced
        if not fenced and _DISPLAY.match(line):
            if math is None:
                math = []
            else:
                tex = " ".join(math).strip()
                out.append(f'<div class="math">{convert(tex, display="block")}</div>')
                math = None
            continue
        if math is not None:
            math.append(line)
        else:
            out.append(line)
    if math is not None:
        raise ValueError("a $$ math block is not closed")
    return "\n".join(out)


_INCLUDE = re.compile(r"^<!-- include: (?P<page>[\w./-]+\.md)#(?P<anchor>[\w-]+) -->$", re.M)
_HEADING = re.compile(r"^(#{1,6}) +(.*)$")


def slug(heading: str) -> str:
    """The anchor MkDocs' ``toc`` gives a heading: ``"Sharded init: DTensor"`` -> ``sharded-init-dtensor``."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def section(text: str, anchor: str) -> str:
    """The body of the section whose heading has ``anchor`` (code fences are not headings)."""
    lines = text.split("\n")
    fenced, start, level = False, None, 0
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m is None:
            continue
        if start is not None and len(m.group(1)) <= level:
            return "\n".join(lines[start:i]).strip("\n")
        if start is None and slug(m.group(2)) == anchor:
            start, level = i + 1, len(m.group(1))
    if start is None:
        raise ValueError(f"no heading with the anchor #{anchor}")
    return "\n".join(lines[start:]).strip("\n")


def include(markdown: str, docs_dir: Path) -> str:
    """Replace every ``<!-- include: page.md#anchor -->`` line with that section."""

    def one(m: re.Match[str]) -> str:
        path = docs_dir / m.group("page")
        try:
            return section(path.read_text("utf-8"), m.group("anchor"))
        except (OSError, ValueError) as e:
            raise ValueError(f"<!-- include: {m.group('page')}#{m.group('anchor')} -->: {e}") from None

    return _INCLUDE.sub(one, markdown)


def on_page_markdown(markdown: str, config: Any, **_: Any) -> str:
    return to_mathml(include(markdown, Path(config["docs_dir"])))


_TREES: list[Path] = []


def package_tree(root: Path) -> Path:
    """A temporary folder holding ``varinit/`` as installed: every entry of ``root/varinit``
    linked, plus ``adapters`` and ``spec`` linked from ``root`` (the package-dir mapping)."""
    tree = Path(tempfile.mkdtemp(prefix="varinit-docs-"))
    pkg = tree / "varinit"
    pkg.mkdir()
    for entry in (root / "varinit").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry.resolve())
    for name in ("adapters", "spec"):
        (pkg / name).symlink_to((root / name).resolve())
    _TREES.append(tree)
    return tree


class _Doctests(Preprocessor):
    """Each run of lines that starts with ``>>>`` (up to a blank line) becomes a code block."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        block: list[str] = []
        for line in [*lines, None]:  # None: the end, which closes an open block
            if block and line is not None and line.strip():
                block.append(line)
                continue
            if block:
                code = html.escape("\n".join(block))
                pre = f'<pre class="doctest"><code class="language-pycon">{code}</code></pre>'
                out.extend([self.md.htmlStash.store(pre), ""])
                block = []
            if line is not None and line.startswith(">>> "):
                block.append(line)
            elif line is not None:
                out.append(line)
        return out


class DoctestExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        md.preprocessors.register(_Doctests(md), "varinit_doctests", 20)  # after fenced code


@event_priority(100)  # before mkdocstrings reads its handler's paths and Markdown extensions
def on_config(config: Any, **_: Any) -> Any:
    config["markdown_extensions"].append(DoctestExtension())
    handler = config["plugins"]["mkdocstrings"].config["handlers"]["python"]
    root = Path(config["config_file_path"]).parent
    handler["paths"] = [str(package_tree(root))]
    return config


def on_shutdown(**_: Any) -> None:
    while _TREES:
        shutil.rmtree(_TREES.pop(), ignore_errors=True)
