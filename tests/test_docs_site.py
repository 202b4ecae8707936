"""The documentation site: it builds strictly, every code block on it runs (or says why not),
and it renders in a real headless browser.

A fenced block on a page of the site is one of:

- ```python: run, page by page, in a fresh interpreter with warnings as errors;
- ```console: each ``$ varinit ...`` line run, its output compared with the block's
  (``...`` stands for machine-dependent text, as in doctest);
- a block after ``<!-- output: varinit ... -->``: that command's output, compared;
- a block after ``<!-- tested: TAG -->``: run by the test that reads that page and tag;
- a block after ``<!-- not run: REASON -->``: not runnable, for the reason given.
"""

from __future__ import annotations

import doctest
import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FRAMEWORKS = ("torch", "jax", "flax", "tensorflow", "keras", "dask")


def _nav_pages() -> list[str]:
    """The pages in mkdocs.yml's ``nav``, in order (read without a YAML library)."""
    text = (ROOT / "mkdocs.yml").read_text("utf-8")
    nav = re.search(r"^nav:\n((?:[ \t]+.*\n|\n)+)", text, re.M)
    assert nav, "mkdocs.yml has no nav"
    return re.findall(r"^\s+-\s+(?:[^:\n]+:\s+)?([\w./-]+\.md)\s*$", nav.group(1), re.M)


PAGES = _nav_pages()


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    marker: str  # the HTML comment on the line above the fence, or ""

    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def blocks(page: str) -> list[Block]:
    """Every fenced block of ``page`` with its language and the comment above it."""
    lines = (DOCS / page).read_text("utf-8").split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        above = lines[start - 1].strip() if start > 0 else ""
        marker = above if above.startswith("<!--") and above.endswith("-->") else ""
        out.append(Block(page, start + 1, lang, "\n".join(lines[start + 1 : j]), marker))
        i = j + 1
    return out


def _kind(block: Block) -> str:
    if block.marker.startswith("<!-- not run:"):
        return "not run"
    if block.marker.startswith("<!-- tested:"):
        return "tested"
    if block.marker.startswith("<!-- output:"):
        return "output"
    if block.lang == "python":
        return "python"
    if block.lang == "console":
        return "console"
    return "unmarked"


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]


def test_the_scanner_finds_blocks_and_markers() -> None:
    assert PAGES[0] == "index.md" and {"api.md", "theory.md", "guide-torch.md"} <= set(PAGES)
    assert len(PAGES) == len(set(PAGES)) >= 15
    kinds = {_kind(b) for b in ALL_BLOCKS}
    assert {"python", "console", "output", "tested", "not run"} <= kinds, kinds
    cli = blocks("cli.md")
    assert any(b.lang == "console" and "$ varinit show lecun" in b.code for b in cli)


@pytest.mark.parametrize("page", PAGES)
def test_every_block_is_run_or_says_why(page: str) -> None:
    for b in blocks(page):
        kind = _kind(b)
        assert kind != "unmarked", (
            f"{b.where()}: a ```{b.lang} block is neither run (python, console, <!-- output: ... -->) "
            "nor marked <!-- tested: TAG --> or <!-- not run: REASON -->"
        )
        if kind == "not run":
            reason = b.marker.removeprefix("<!-- not run:").removesuffix("-->").strip()
            assert len(reason) >= 15, f"{b.where()}: say why the block is not run"
        if kind == "tested":
            tag = b.marker.removeprefix("<!-- tested:").removesuffix("-->").strip()
            runners = [
                t
                for t in (ROOT / "tests").glob("test_*.py")
                if page in (text := t.read_text("utf-8"))
                and re.search(rf"[\"'\s]{re.escape(tag)}[\"'\s]", text)
            ]
            assert runners, f"{b.where()}: no test reads {page} and runs the tag {tag!r}"


# --------------------------------------------------------------------------- python blocks

_RUNNER = """
import runpy, sys, warnings
warnings.simplefilter("error")
for module in ("tensorflow", "keras", "flax", "google", "jax", "absl"):
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=module + r"(\\..*)?$")
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _frameworks(code: str) -> list[str]:
    imports = [ln for ln in code.split("\n") if ln.lstrip().startswith(("import ", "from "))]
    return [f for f in FRAMEWORKS if any(re.search(rf"\b{f}\b", ln) for ln in imports)]


PYTHON_PAGES = [p for p in PAGES if any(_kind(b) == "python" for b in blocks(p))]


@pytest.mark.parametrize("page", PYTHON_PAGES)
def test_python_blocks_run(page: str, tmp_path: Path) -> None:
    code = [b for b in blocks(page) if _kind(b) == "python"]
    script = "\n\n".join(f"# {b.where()}\n{b.code}" for b in code)
    missing = [f for f in _frameworks(script) if importlib.util.find_spec(f) is None]
    if missing:
        pytest.skip(f"docs/{page} needs {', '.join(missing)}, which is not installed")
    path = tmp_path / (Path(page).stem.replace("-", "_") + ".py")
    path.write_text(script, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # what a block writes (a plot, a checkpoint) stays out of the repository
    )
    assert proc.returncode == 0, f"docs/{page}: a python block failed\n{proc.stderr[-4000:]}"


# --------------------------------------------------------------------------- console and output blocks


def _same(expected: str, got: str) -> bool:
    def tidy(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")) + "\n"

    return doctest.OutputChecker().check_output(tidy(expected), tidy(got), doctest.ELLIPSIS)


def _varinit(command: str) -> str:
    argv = shlex.split(command)
    assert argv[0] == "varinit", command
    proc = subprocess.run(
        [sys.executable, "-m", "varinit", *argv[1:]], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    return proc.stdout + proc.stderr


def _sessions(block: Block) -> list[tuple[str, str]]:
    out: list[tuple[str, list[str]]] = []
    for line in block.code.split("\n"):
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            assert out, f"{block.where()}: a console block starts with a `$ ` command"
            out[-1][1].append(line)
    return [(cmd, "\n".join(lines)) for cmd, lines in out]


CONSOLE = [(b, cmd, want) for b in ALL_BLOCKS if _kind(b) == "console" for cmd, want in _sessions(b)]


@pytest.mark.parametrize("block,command,expected", CONSOLE, ids=[c for _, c, _ in CONSOLE])
def test_console_blocks_print_what_the_page_shows(block: Block, command: str, expected: str) -> None:
    got = _varinit(command)
    assert _same(expected, got), f"{block.where()}: `{command}` printed\n{got}"


OUTPUTS = [b for b in ALL_BLOCKS if _kind(b) == "output"]


@pytest.mark.parametrize("block", OUTPUTS, ids=[b.where() for b in OUTPUTS])
def test_outputs_are_what_the_command_prints(block: Block) -> None:
    command = block.marker.removeprefix("<!-- output:").removesuffix("-->").strip()
    got = _varinit(command)
    assert _same(block.code, got), f"{block.where()}: `{command}` now prints\n{got}"


def test_the_comparison_can_fail() -> None:
    assert _same("a ... c", "a bbb c") and not _same("a b c", "a b d")


# --------------------------------------------------------------------------- the strict build


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]' (scripts/setup.sh installs it)")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "docs.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={
            **os.environ,
            "NO_MKDOCS_2_WARNING": "1",
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        },
    )
    assert proc.returncode == 0, f"the strict build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out


def test_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in PAGES:
        assert (site / page.replace(".md", ".html")).is_file(), page
    api = (site / "api.html").read_text("utf-8")
    for name in ("init_module", "initializer", "init_sharded", "load_table", "backend_name"):
        assert re.search(rf'id="varinit\.[\w.]*{name}"', api), name
    assert "Traceback" not in api
    theory = (site / "theory.html").read_text("utf-8")
    assert theory.count("<math") >= 4 and "$$" not in theory  # formulas became MathML
    bench = (site / "benchmarks.html").read_text("utf-8")
    assert "kaiming_normal" in bench and "<table>" in bench  # the guides' tables were included
    index = json.loads((site / "search" / "search_index.json").read_text("utf-8"))
    assert any("he_normal" in doc.get("text", "") for doc in index["docs"])


def test_the_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    """Strict mode is on: a page linking to a missing page fails the build."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed: pip install -e '.[docs]'")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n\n[gone](missing.md)\n", encoding="utf-8")
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: t\ndocs_dir: docs\nstrict: true\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode != 0 and "missing.md" in proc.stderr


def test_math_hook_and_section_include() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import docs_hooks
    finally:
        sys.path.pop(0)
    html = docs_hooks.to_mathml("a\n\n$$\nx^2\n$$\n\n```\n$$\n```\n")
    assert '<div class="math"><math' in html and "<msup>" in html and "```\n$$\n```" in html
    with pytest.raises(ValueError, match="not closed"):
        docs_hooks.to_mathml("$$\nx\n")
    text = "# T\n\n## Speed\n\nfast\n\n```\n# not a heading\n```\n\n### sub\n\nx\n\n## Next\n\nno"
    assert docs_hooks.section(text, "speed") == "fast\n\n```\n# not a heading\n```\n\n### sub\n\nx"
    assert docs_hooks.slug("Sharded init: DTensor and FSDP2") == "sharded-init-dtensor-and-fsdp2"
    with pytest.raises(ValueError, match="no heading"):
        docs_hooks.section(text, "gone")


# --------------------------------------------------------------------------- the headless browser


def _chromium() -> str | None:
    given = os.environ.get("VARINIT_CHROMIUM")
    if given:
        return given
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


#: appended to every page the test server sends: it measures what rendered and writes the
#: result into the DOM as JSON, which Chromium's --dump-dom prints
_PROBE = """
<script>
(function () {
  function box(e) { var b = e.getBoundingClientRect(); return [Math.round(b.width), Math.round(b.height)]; }
  function report(search) {
    var article = document.querySelector("article") || document.body;
    var out = {
      title: document.title,
      tables: Array.from(article.querySelectorAll("table")).map(function (t) {
        return {rows: t.rows.length, box: box(t)}; }),
      math: Array.from(article.querySelectorAll("math")).map(box),
      images: Array.from(article.querySelectorAll("img")).map(function (i) {
        return {src: i.getAttribute("src"), width: i.naturalWidth, box: box(i)}; }),
      search: search
    };
    var pre = document.createElement("pre");
    pre.id = "varinit-probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () {
    var query = new URLSearchParams(location.search).get("q");
    if (!query) { setTimeout(function () { report(null); }, 300); return; }
    var tries = 0;
    (function poll() {
      var hits = Array.from(document.querySelectorAll(".md-search-result__item a"));
      var meta = ((document.querySelector(".md-search-result__meta") || {}).textContent || "").trim();
      var settled = tries > 10 && meta && !/Initializing/.test(meta);  // the index answered
      if (hits.length || settled || ++tries > 150) {
        report({query: query, hits: hits.map(function (a) { return a.getAttribute("href"); }), meta: meta});
      } else {
        // a request the server answers after 100 ms of real time: Chromium's virtual clock
        // waits for it, so the search worker gets real time to load its index
        fetch("/__wait").then(poll, poll);
      }
    })();
  });
})();
</script>
"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        if self.path == "/__wait":
            time.sleep(0.1)
            self.send_response(204)
            self.end_headers()
            return None
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = path.read_bytes().replace(b"</body>", _PROBE.encode() + b"</body>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        import io

        return io.BytesIO(body)


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    def handler(*args: object, **kwargs: object) -> _Handler:
        return _Handler(*args, directory=str(site), **kwargs)  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _render(chromium: str, url: str, tmp_path: Path) -> dict[str, object]:
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2000",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'<pre id="varinit-probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"Chromium did not render {url} (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(m.group(1)))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _chromium()
    if found is None:
        pytest.skip(
            "no Chromium binary found (apt-get install chromium, or set VARINIT_CHROMIUM); "
            "docs/building-docs.md says how to run this check"
        )
    return found


def test_browser_home_page(chromium: str, served: str, tmp_path: Path) -> None:
    page = _render(chromium, f"{served}/index.html", tmp_path)
    images = page["images"]
    assert isinstance(images, list) and images, page
    for img in images:
        assert img["width"] > 100 and img["box"][0] > 100, img  # the picture loaded and is shown


def test_browser_scheme_reference(chromium: str, served: str, tmp_path: Path) -> None:
    page = _render(chromium, f"{served}/schemes.html", tmp_path)
    (table, *_) = page["tables"]  # type: ignore[misc]
    assert table["rows"] >= 25 and table["box"][0] > 300 and table["box"][1] > 300, table


def test_browser_theory_math_and_figures(chromium: str, served: str, tmp_path: Path) -> None:
    page = _render(chromium, f"{served}/theory.html", tmp_path)
    math = page["math"]
    assert isinstance(math, list) and len(math) >= 4
    for w, h in math:
        assert w > 50 and h > 10, math  # laid out as formulas, not as an empty box
    assert all(img["width"] > 100 for img in page["images"]), page["images"]  # type: ignore[union-attr]
    assert page["tables"], "the gain table did not render"


def test_browser_guide(chromium: str, served: str, tmp_path: Path) -> None:
    page = _render(chromium, f"{served}/guide-torch.html", tmp_path)
    assert page["tables"] and all(t["rows"] >= 2 for t in page["tables"]), page  # type: ignore[union-attr]


def test_browser_search_finds_he_normal(chromium: str, served: str, tmp_path: Path) -> None:
    page = _render(chromium, f"{served}/index.html?q=he_normal", tmp_path)
    search = page["search"]
    assert isinstance(search, dict) and search["hits"], search
    assert any("schemes.html" in hit for hit in search["hits"]), search
    nothing = _render(chromium, f"{served}/index.html?q=qqzzxxnotaword", tmp_path)["search"]
    assert isinstance(nothing, dict) and nothing["hits"] == [], nothing  # the probe tells the two apart
