"""Slide decks for instructors: one offline reveal.js deck per chapter notebook (``make slides``).

``python -m tools.slides [--out DIR] [notebooks...]`` turns each chapter notebook (default: every
``chapters/**.ipynb``) into ``DIR/<name>.slides.html`` (default DIR: ``book/_build/html/slides``;
``<name>`` is the path under ``chapters/`` without ``.ipynb``, ``/`` replaced by ``__``), with the
files the decks share in ``DIR/_assets/`` and a list of the decks in ``DIR/index.html``.

Nothing a deck loads comes from the web: reveal.js is installed with ``npm ci`` from the committed
``tools/slides/package-lock.json`` into ``.cache/slides`` (once; npm needs the registry the first
time), and MathJax 3 is copied from the pinned Python package ``sphinx-mathjax-offline``.

How a notebook becomes slides (:func:`mark_slides`, which sets nbconvert's
``metadata.slideshow.slide_type`` of each cell; metadata an author set by hand wins):

* the title cell and every ``##`` heading start a slide, every ``###`` heading a vertical
  sub-slide (markdown cells are split at headings and paragraphs first);
* a slide that would overflow continues on a sub-slide headed "(continued)", long lists are cut
  between items, a figure gets the height its slide has left (or a slide of its own when its
  code leaves too little); a single cell taller than the slide scrolls;
* the setup cell (the one calling ``utils.setup``) and cells tagged ``remove-cell`` or
  ``remove-input`` are skipped;
* ``<details>`` blocks (the "Check yourself" answers) become speaker notes (key S), the questions
  stay on the slide and appear one at a time; cells tagged ``notes`` become speaker notes;
* the printed output of a code cell tagged ``nbval-check-output`` or ``predict`` appears on the
  next key press (ask the room to predict it first); cells tagged ``fragment`` appear one by one;
* MyST-only syntax (``{ref}`...```, ``{term}``, ``{cite}``, directive fences) becomes plain
  markdown, and links to other chapter notebooks point to their decks.

Run from the repository's root folder (the Makefile does), so that ``tools`` is importable.
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib.util
import json
import math
import posixpath
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import nbformat
from nbconvert.exporters import SlidesExporter
from nbconvert.exporters.slides import _RevealMetadataPreprocessor
from nbconvert.preprocessors import Preprocessor

from tools.notebooks import find_notebooks

#: The repository's root folder (this file is ``<root>/tools/slides.py``).
REPO_ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = REPO_ROOT / "chapters"
#: Where ``make slides`` writes the decks: inside the built book, so that its pages can link them.
DEFAULT_OUT = REPO_ROOT / "book" / "_build" / "html" / "slides"
#: The template, the npm manifest and lockfile, and the stylesheet.
SLIDES_DIR = Path(__file__).resolve().parent / "slides"
TEMPLATE_NAME = "course_reveal"
#: npm installs reveal.js here (never committed; ``make distclean`` removes it).
NPM_CACHE = REPO_ROOT / ".cache" / "slides"
REVEAL_VERSION = "5.2.1"
REVEAL_THEME = "white-contrast"
#: The deck's own coordinates (16:9); reveal.js scales them to the screen.
WIDTH, HEIGHT = 1280, 720
#: Slide height (px) the content may fill before the preprocessor starts a continuation slide.
BUDGET = 620

#: A slide holding no more than this (a heading, a line) keeps the next cell even if it is tall.
LEAD_ROOM = 160
#: A figure's height on a slide: at least this, at most FIGURE_MAX, else what the slide has left.
FIGURE_MIN, FIGURE_MAX = 320, 580

#: Tags whose cells never appear on a slide.
SKIP_TAGS = frozenset({"remove-cell", "remove-input"})
#: Tags whose printed output is revealed on the next key press (predict, then reveal).
PREDICT_TAGS = frozenset({"nbval-check-output", "predict"})
#: What a deck shows instead of an interactive widget (a deck has no kernel to run it).
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<p class="course-widget-note">Interactive widget: run this cell in JupyterLab '
    "(<code>make lab</code>) to use it.</p>"
)
SLIDE_TYPES = frozenset({"slide", "subslide", "fragment", "skip", "notes", "-"})


# ---------------------------------------------------------------- names
def deck_name(notebook: Path | str) -> str:
    """``chapters/06_bert/02_pretraining.ipynb`` -> ``06_bert__02_pretraining``."""
    path = Path(notebook).resolve()
    try:
        relative = path.relative_to(CHAPTERS)
    except ValueError:
        raise ValueError(f"{notebook} is not a notebook under {CHAPTERS}") from None
    return relative.with_suffix("").as_posix().replace("/", "__")


def chapter_notebooks() -> list[Path]:
    """Every chapter notebook, in course order (not the solutions)."""
    return find_notebooks([CHAPTERS])


# ---------------------------------------------------------------- MyST -> plain markdown
_ROLE = re.compile(r"\{([A-Za-z][\w:.-]*)\}`([^`]*)`")
_TITLE_TARGET = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.DOTALL)
_FENCE_OPEN = re.compile(
    r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*)$"
)
_ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
    "admonition": "",
}


def _role_text(role: str, content: str) -> str:
    """What a MyST role shows as plain markdown."""
    if role in ("math",):
        return f"${content}$"
    if role.startswith("cite"):
        return "(" + content.replace(",", "; ") + ")"
    match = _TITLE_TARGET.match(content)
    if match and match.group(1):
        return match.group(1)
    if role in ("ref", "numref", "eq"):
        return content.replace("-", " ").replace("_", " ")
    if role == "doc":
        return posixpath.basename(content)
    return content


def _directive(name: str, arg: str, body: list[str]) -> list[str]:
    """A MyST directive as plain markdown lines (options such as ``:name:`` dropped)."""
    while body and re.match(r"^\s*:[\w-]+:", body[0]):
        body = body[1:]
    if name in ("code-cell", "code-block", "code", "sourcecode"):
        return [f"```{arg.strip() or 'python'}", *body, "```"]
    if name == "math":
        return ["$$", *body, "$$"]
    if name in ("figure", "image"):
        return [f"![{' '.join(line.strip() for line in body).strip()}]({arg.strip()})"]
    label = _ADMONITIONS.get(name.split(":")[0])
    if label is not None:
        title = arg.strip() or label
        return [f"> **{title}**", ">", *[f"> {line}".rstrip() for line in body]]
    return body


def strip_myst(text: str) -> str:
    """Turn MyST-only syntax into plain markdown that any renderer shows: roles become their
    text, directive fences their content, ``(label)=`` targets and ``%`` comments disappear.
    Code fences, math and everything else are left alone."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    in_code = None
    while index < len(lines):
        line = lines[index]
        opening = _FENCE_OPEN.match(line)
        if in_code is None and opening:
            fence = opening.group("fence")
            body, index = [], index + 1
            depth = 0
            while index < len(lines):
                inner = lines[index]
                if _FENCE_OPEN.match(inner) and _FENCE_OPEN.match(inner).group("fence") == fence:
                    depth += 1
                elif inner.strip() == fence:
                    if depth == 0:
                        break
                    depth -= 1
                body.append(inner)
                index += 1
            index += 1  # the closing fence
            converted = _directive(opening.group("name"), opening.group("arg"), body)
            out.extend(strip_myst("\n".join(converted)).split("\n"))
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = None if in_code else stripped
            out.append(line)
        elif in_code:
            out.append(line)
        elif re.fullmatch(r"\(\s*[\w.:-]+\s*\)=", stripped) or re.match(r"^%(?!\S*%)", line):
            pass  # a MyST target or comment
        else:
            out.append(_ROLE.sub(lambda m: _role_text(m.group(1), m.group(2)), line))
        index += 1
    return "\n".join(out)


_MD_LINK = re.compile(r"\]\((?P<target>[^)\s#]+\.(?:ipynb|md))(?P<anchor>#[^)\s]*)?\)")


def rewrite_links(text: str, notebook: Path) -> str:
    """Point markdown links to notebooks at decks (chapters) or book pages (anything else), as
    seen from ``slides/`` in the built book."""

    def target(match: re.Match) -> str:
        raw = match.group("target")
        if "://" in raw:
            return match.group(0)
        resolved = (notebook.parent / raw).resolve()
        anchor = match.group("anchor") or ""
        if resolved.suffix == ".ipynb" and CHAPTERS in resolved.parents:
            return f"]({deck_name(resolved)}.slides.html)"
        try:
            page = resolved.relative_to(REPO_ROOT).with_suffix(".html").as_posix()
        except ValueError:
            return match.group(0)
        return f"](../{page}{anchor})"

    return _MD_LINK.sub(target, text)


# ---------------------------------------------------------------- splitting markdown
_DETAILS = re.compile(
    r"<details[^>]*>\s*(?:<summary>(?P<summary>.*?)</summary>)?(?P<body>.*?)</details>",
    re.DOTALL | re.IGNORECASE,
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*+])\s", re.MULTILINE)


def split_blocks(source: str) -> list[str]:
    """Split markdown into blocks: at every heading, before and after each ``<details>`` block,
    and at blank lines between paragraphs (never inside a code fence, display math, an HTML
    block or an indented list continuation)."""
    parts: list[str] = []
    position = 0
    for match in _DETAILS.finditer(source):
        parts.extend(_split_plain(source[position : match.start()]))
        parts.append(match.group(0).strip())
        position = match.end()
    parts.extend(_split_plain(source[position:]))
    return [part for part in parts if part.strip()]


def _split_plain(text: str) -> list[str]:
    blocks: list[list[str]] = [[]]
    fence = None
    in_math = False
    for line in text.split("\n"):
        stripped = line.strip()
        if fence is None and not in_math:
            heading = _HEADING.match(line)
            if heading and blocks[-1]:
                blocks.append([])
            blank_break = not stripped
            if blank_break and blocks[-1]:
                blocks.append([])
                continue
            if blocks[-1] == [] and line[:1] in (" ", "\t") and len(blocks) > 1:
                # an indented continuation (a list item's second paragraph): keep it together
                blocks.pop()
                blocks[-1].append("")
        if stripped.startswith(("```", "~~~")):
            fence = None if fence else stripped[:3]
        elif fence is None and stripped.startswith("$$"):
            closes = stripped.endswith("$$") and len(stripped) > 2
            if not closes:
                in_math = not in_math
        if stripped or blocks[-1]:
            blocks[-1].append(line)
    texts = ["\n".join(block).strip("\n") for block in blocks if any(x.strip() for x in block)]
    merged: list[str] = []
    for text in texts:
        # A one-line lead-in ("**You will**", "... differ only in $c_i$:") stays with what follows.
        previous = merged[-1] if merged else ""
        lead_in = previous and "\n" not in previous and not _HEADING.match(previous)
        label = re.fullmatch(r"\*\*[^*]+\*\*:?|.*:", previous.strip()) if lead_in else None
        if label and not _HEADING.match(text):
            merged[-1] = f"{previous}\n\n{text}"
        else:
            merged.append(text)
    return merged


def _split_list(block: str) -> list[str]:
    """A list too tall for one slide, cut between its top-level items (numbered lists keep
    their numbers: each part starts at its first item's number)."""
    if _text_height(block) <= BUDGET - 60 or block.lstrip().startswith(("```", "$$", "<")):
        return [block]
    parts: list[list[str]] = [[]]
    for line in block.split("\n"):
        starts_item = re.match(r"^(\d+[.)]|[-*+])\s", line)
        candidate = "\n".join(parts[-1])
        if starts_item and parts[-1] and _text_height(candidate) > (BUDGET - 60) // 2:
            parts.append([])
        parts[-1].append(line)
    return ["\n".join(part).strip("\n") for part in parts if "".join(part).strip()]


# ---------------------------------------------------------------- heights (slide pixels)
def _text_height(text: str) -> int:
    height = 0
    in_math = False
    paragraph = 0  # characters of the paragraph or list item being read

    def flush() -> int:
        return math.ceil(paragraph / 84) * 36 if paragraph else 0

    for line in text.split("\n"):
        stripped = line.strip()
        heading = _HEADING.match(line)
        starts_item = re.match(r"^\s*(\d+[.)]|[-*+>])\s", line)
        if not stripped or stripped.startswith("$$") or in_math or heading or starts_item:
            height += flush() + (10 if starts_item else 0)
            paragraph = 0
        if stripped.startswith("$$"):
            in_math = not (in_math or (stripped.endswith("$$") and len(stripped) > 2))
            height += 20
        elif in_math:
            height += 46
        elif heading:
            level = len(heading.group(1))
            size = {1: 49, 2: 41, 3: 34}.get(level, 30)
            per_line = max(1, 1150 // (size // 2))
            height += math.ceil(len(heading.group(2)) / per_line) * int(size * 1.2) + 14
        elif stripped:
            shown = re.sub(r"\]\([^)]*\)|<[^>]+>|[*`$\\{}^_]", "", stripped)
            paragraph += len(shown) + 1
        else:
            height += 8
    return height + flush() + 12


def _output_height(output: dict) -> int:
    kind = output.get("output_type")
    data = output.get("data", {})
    if kind == "stream":
        return 23 * len(str(output.get("text", "")).rstrip("\n").split("\n")) + 10
    if kind == "error":
        return 23 * min(len(output.get("traceback", [])) * 3, 20) + 10
    if _is_image(output):
        return FIGURE_MIN + 60
    if WIDGET_VIEW in data:
        return 40
    if "text/html" in data:
        rows = str(data["text/html"]).count("<tr")
        return 32 * max(rows, 2) + 20
    if "text/latex" in data or "text/markdown" in data:
        return 60
    text = str(data.get("text/plain", ""))
    return 23 * len(text.rstrip("\n").split("\n")) + 10


def _is_image(output: dict) -> bool:
    return any(
        key in output.get("data", {}) for key in ("image/png", "image/jpeg", "image/svg+xml")
    )


def _fit_figures(cell, used: int) -> int:
    """Give each figure of a code cell the height the slide has left below ``used`` pixels
    (between FIGURE_MIN and FIGURE_MAX; the template reads ``course_max_height``). Returns the
    cell's height with its figures at that size."""
    figures = [output for output in cell.get("outputs", []) if _is_image(output)]
    height = cell_height(cell)
    if not figures:
        return height
    rest = height - len(figures) * (FIGURE_MIN + 60)
    share = (HEIGHT - 50 - used - rest) // len(figures) - 20
    limit = int(min(FIGURE_MAX, max(FIGURE_MIN, share)))
    for output in figures:
        output.setdefault("metadata", {})["course_max_height"] = limit
    return rest + len(figures) * (limit + 20)


def cell_height(cell) -> int:
    """A rough height of a cell on a 1280 x 720 slide, in pixels (see ``course.css``)."""
    if cell.cell_type == "markdown":
        return _text_height(cell.source)
    if cell.cell_type != "code":
        return 0
    lines = cell.source.rstrip("\n").split("\n")
    height = sum(25 * max(1, math.ceil(len(line) / 100)) for line in lines) + 26
    if cell.metadata.get("course_slides", {}).get("hide_input"):
        height = 0
    return height + sum(_output_height(output) for output in cell.get("outputs", []))


# ---------------------------------------------------------------- the preprocessor
def _new_markdown(source: str, metadata: dict | None = None):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata.update(copy.deepcopy(metadata or {}))
    return cell


def _slide_type(cell) -> str | None:
    value = cell.metadata.get("slideshow", {}).get("slide_type")
    return value if value in SLIDE_TYPES else None


def _set_type(cell, slide_type: str) -> None:
    cell.metadata.setdefault("slideshow", nbformat.NotebookNode())["slide_type"] = slide_type


def _is_setup_cell(cell) -> bool:
    return cell.cell_type == "code" and "utils.setup(" in cell.source


def _expand_markdown(cell, notebook: Path | None) -> list:
    """One markdown cell as several: a cell per heading, paragraph and ``<details>`` block."""
    source = strip_myst(cell.source)
    if notebook is not None:
        source = rewrite_links(source, notebook)
    if _slide_type(cell) is not None:  # the author decided: keep the cell whole
        cell.source = source
        return [cell]
    tags = list(cell.metadata.get("tags", []))
    cells = []
    check = False
    for block in (part for whole in split_blocks(source) for part in _split_list(whole)):
        details = _DETAILS.fullmatch(block)
        new = _new_markdown(block, {"tags": tags} if tags else None)
        if details:
            summary = (details.group("summary") or "Details").strip()
            new.source = f"**{summary}**\n\n{details.group('body').strip()}"
            _set_type(new, "notes")
        elif re.match(r"^\**check yourself", block.strip(), re.IGNORECASE):
            check = True
            if _LIST_ITEM.search(block):
                new.metadata.setdefault("tags", []).append("course-check")
        elif check and _LIST_ITEM.match(block):
            new.metadata.setdefault("tags", []).append("course-check")
        else:
            check = False
        cells.append(new)
    return cells


def mark_slides(nb, notebook: Path | None = None):
    """Return a copy of ``nb`` whose cells carry ``slideshow.slide_type`` (see the module's
    docstring). ``notebook`` is the notebook's path, used to rewrite links between chapters."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # no widget manager in a deck: the state is never used
    nb.cells = _paginate(_prepare(nb.cells, notebook))
    return nb


def _prepare(cells: list, notebook: Path | None) -> list:
    """Markdown split into blocks, skipped cells marked, predictions, widget notes, and
    figures too tall to share a slide with their code moved to a slide of their own."""
    prepared = []
    setup_seen = False
    for cell in cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            prepared.extend(_expand_markdown(cell, notebook))
            continue
        if cell.cell_type == "raw":
            _set_type(cell, "skip")
        elif tags & SKIP_TAGS or (not setup_seen and _is_setup_cell(cell)):
            setup_seen = setup_seen or _is_setup_cell(cell)
            _set_type(cell, "skip")
        if cell.cell_type == "code" and tags & PREDICT_TAGS and _text_outputs(cell):
            cell.metadata.setdefault("course_slides", {})["output_fragment"] = True
        for output in cell.get("outputs", []):
            if WIDGET_VIEW in output.get("data", {}):
                output.data = nbformat.from_dict({"text/html": WIDGET_NOTE})
        prepared.extend(_split_figures(cell))
    return prepared


def _split_figures(cell) -> list:
    """``[cell]``, or ``[code, figures]`` when the code and its smallest figure do not fit on one
    slide: the figures then fill a slide of their own (their input hidden)."""
    figures = [output for output in cell.get("outputs", []) if _is_image(output)]
    if not figures or _slide_type(cell) is not None:
        return [cell]
    code = copy.deepcopy(cell)
    code.outputs = [output for output in cell.outputs if not _is_image(output)]
    if cell_height(code) + len(figures) * (FIGURE_MIN + 20) + 48 <= HEIGHT - 50:
        return [cell]
    shown = copy.deepcopy(cell)
    shown.outputs = figures
    shown.metadata.pop("tags", None)
    shown.metadata["course_slides"] = {"hide_input": True, "own_slide": True}
    if "id" in shown:
        shown["id"] = f"{shown['id']}-figures"
    return [code, shown]


def _paginate(cells: list) -> list:
    """Slide types from headings, and continuation slides where a slide would overflow."""
    marked = []
    used = 0
    title = ""
    started = False
    for cell in cells:
        explicit = _slide_type(cell)
        tags = set(cell.metadata.get("tags", []))
        if explicit in ("skip", "notes"):
            marked.append(cell)
            continue
        if "notes" in tags:
            _set_type(cell, "notes")
            marked.append(cell)
            continue
        heading = _HEADING.match(cell.source.lstrip().split("\n", 1)[0])
        level = len(heading.group(1)) if cell.cell_type == "markdown" and heading else 0
        own = cell.metadata.get("course_slides", {}).get("own_slide", False)
        if explicit in ("slide", "subslide"):
            used = _fit_figures(cell, 0)
        elif not started or level in (1, 2):
            _set_type(cell, "slide")
            used = _fit_figures(cell, 0)
        elif level == 3 and used > LEAD_ROOM:  # (right under its section's title: same slide)
            _set_type(cell, "subslide")
            used = _fit_figures(cell, 0)
        elif used > LEAD_ROOM and (own or used + cell_height(cell) > BUDGET):
            marker = _new_markdown(
                f'<p class="course-continued">{html.escape(title)} (continued)</p>'
            )
            _set_type(marker, "subslide")
            marked.append(marker)
            used = 48 + _fit_figures(cell, 48)
        else:
            used += _fit_figures(cell, used)
        if level in (1, 2, 3):
            title = heading.group(2).strip()
        if explicit is None and "fragment" in tags and _slide_type(cell) is None:
            _set_type(cell, "fragment")
        started = True
        marked.append(cell)
    return marked


def _text_outputs(cell) -> bool:
    """True when the cell prints something and shows no figure."""
    outputs = cell.get("outputs", [])
    if not outputs:
        return False
    for output in outputs:
        data = output.get("data", {})
        if any(key.startswith("image/") for key in data) or output.get("output_type") == "error":
            return False
    return True


#: What nbconvert's reveal preprocessor adds to each cell's metadata (recomputed after marking).
_REVEAL_KEYS = (
    "slide_type",
    "slide_start",
    "slide_end",
    "subslide_start",
    "subslide_end",
    "fragment_start",
    "fragment_end",
)


class CourseSlidesPreprocessor(Preprocessor):
    """nbconvert preprocessor running :func:`mark_slides`, then nbconvert's own reveal
    preprocessor again, so that the section boundaries follow the new slide types whatever order
    the two run in. The notebook's path comes from ``resources["course"]["notebook"]``."""

    def preprocess(self, nb, resources):
        notebook = (resources or {}).get("course", {}).get("notebook")
        nb = mark_slides(nb, Path(notebook) if notebook else None)
        for cell in nb.cells:
            for key in _REVEAL_KEYS:
                cell.metadata.pop(key, None)
        return _RevealMetadataPreprocessor().preprocess(nb, resources)


# ---------------------------------------------------------------- rendering
def make_exporter() -> SlidesExporter:
    """nbconvert's SlidesExporter with the course's template and preprocessor."""
    exporter = SlidesExporter(
        extra_template_basedirs=[str(SLIDES_DIR / "templates")],
        template_name=TEMPLATE_NAME,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(CourseSlidesPreprocessor(), enabled=True)
    # The stock URLs are never used by the template; blank them so none can leak into a deck.
    for trait in ("mathjax_url", "require_js_url", "jquery_url", "mermaid_js_url"):
        if exporter.has_trait(trait):
            setattr(exporter, trait, "")
    exporter.reveal_url_prefix = "_assets/reveal.js"
    return exporter


def render(nb, name: str, notebook: Path | None = None, exporter=None) -> str:
    """The HTML of one deck (assets are referenced under ``_assets/``, next to the deck)."""
    exporter = exporter or make_exporter()
    resources = {
        "metadata": {"name": name},
        "course": {
            "notebook": str(notebook) if notebook else None,
            "reveal": "_assets/reveal.js",
            "mathjax": "_assets/mathjax",
            "css": "_assets/course.css",
            "theme": REVEAL_THEME,
            "width": WIDTH,
            "height": HEIGHT,
        },
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


# ---------------------------------------------------------------- assets
def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "make slides needs npm (Node.js 18 or newer) to install reveal.js from the npm "
            "registry.\nInstall it (Debian/Ubuntu: sudo apt install nodejs npm; otherwise "
            "https://nodejs.org), then run: make slides"
        )
    return npm


def install_reveal(cache: Path = NPM_CACHE) -> Path:
    """reveal.js from the committed lockfile, installed with ``npm ci`` into ``cache`` unless
    that install is already current. Returns the ``reveal.js`` package folder."""
    package = cache / "node_modules" / "reveal.js"
    lock = SLIDES_DIR / "package-lock.json"
    current = (
        (cache / "package-lock.json").is_file()
        and (cache / "package-lock.json").read_bytes() == lock.read_bytes()
        and (package / "package.json").is_file()
        and json.loads((package / "package.json").read_text())["version"] == REVEAL_VERSION
    )
    if current:
        return package
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(SLIDES_DIR / name, cache / name)
    command = [_npm(), "ci", "--prefix", str(cache), "--ignore-scripts", "--no-audit", "--no-fund"]
    print("Installing reveal.js", REVEAL_VERSION, "with:", " ".join(command[1:]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not (package / "dist" / "reveal.js").is_file():
        raise SystemExit(
            f"npm ci failed (exit {result.returncode}), so reveal.js is missing:\n"
            f"{result.stderr.strip()}\nnpm needs the registry the first time "
            f"(https://registry.npmjs.org, or your npm mirror); then run: make slides"
        )
    return package


def mathjax_dir() -> Path:
    """MathJax 3 from the pinned Python package sphinx-mathjax-offline (the book uses it too)."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "MathJax for the slides comes from the Python package sphinx-mathjax-offline, which "
            "is not installed. Run: make install"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    if not (folder / "tex-chtml.js").is_file():
        raise SystemExit(f"{folder}/tex-chtml.js is missing. Reinstall with: make install")
    return folder


def _copy_tree(source: Path, target: Path, files: Iterable[str] | None = None) -> None:
    """Copy ``source`` (or only the listed files and folders of it) to ``target``."""
    for name in files or [p.name for p in source.iterdir()]:
        item = source / name
        destination = target / name
        if item.is_dir():
            shutil.copytree(item, destination, dirs_exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, destination)


def copy_assets(out: Path, reveal: Path) -> None:
    """reveal.js (the parts the decks load), MathJax and the stylesheet into ``out/_assets``."""
    assets = out / "_assets"
    reveal_files = [
        "dist/reveal.js",
        "dist/reveal.css",
        "dist/reset.css",
        f"dist/theme/{REVEAL_THEME}.css",
        "dist/theme/fonts/source-sans-pro",
        "plugin/notes/notes.js",
        "LICENSE",
    ]
    _copy_tree(reveal, assets / "reveal.js", reveal_files)
    mathjax = mathjax_dir()
    marker = assets / "mathjax" / "tex-chtml.js"
    if not marker.is_file() or marker.stat().st_size != (mathjax / "tex-chtml.js").stat().st_size:
        _copy_tree(mathjax, assets / "mathjax")
    shutil.copy2(SLIDES_DIR / "course.css", assets / "course.css")


def _inline_code(text: str) -> str:
    """Escaped text with its `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def write_index(out: Path, decks: Sequence[tuple[str, str]]) -> Path:
    """``out/index.html``: a plain list of the decks (name, title)."""
    items = "\n".join(
        f'<li><a href="{html.escape(name)}.slides.html">{_inline_code(title)}</a></li>'
        for name, title in decks
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Slide decks: Transformers from the Ground Up</title>\n"
        "<style>body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}"
        "</style>\n</head>\n<body>\n<h1>Slide decks</h1>\n"
        "<p>One deck per chapter notebook. Keys: arrows or space to move, S for the speaker "
        "view (notes), F for full screen, Esc for an overview. Tall slides scroll.</p>\n"
        f"<ul>\n{items}\n</ul>\n</body>\n</html>\n"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _title(nb, name: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return strip_myst(match.group(1)).strip()
    return name


def build(notebooks: Sequence[Path] | None = None, out: Path = DEFAULT_OUT) -> list[Path]:
    """Build a deck for each notebook (default: every chapter) into ``out``; return the decks."""
    notebooks = [Path(p).resolve() for p in (notebooks or chapter_notebooks())]
    reveal = install_reveal()
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out, reveal)
    exporter = make_exporter()
    written, listed = [], []
    for notebook in notebooks:
        name = deck_name(notebook)
        nb = nbformat.read(notebook, as_version=4)
        path = out / f"{name}.slides.html"
        path.write_text(render(nb, name, notebook, exporter), encoding="utf-8")
        written.append(path)
        listed.append((name, _title(nb, name)))
    every = {deck_name(p) for p in chapter_notebooks()}
    if {name for name, _ in listed} == every or not (out / "index.html").exists():
        write_index(out, listed)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.slides", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("notebooks", nargs="*", help="chapter notebooks or folders (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        decks = build(find_notebooks(args.notebooks) or None, args.out.resolve())
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(str(error)) from None
    seconds = time.perf_counter() - start
    index = args.out.resolve() / "index.html"
    decks_text = f"{len(decks)} slide deck" + ("" if len(decks) == 1 else "s")
    print(f"Built {decks_text} in {seconds:.0f} s. Open: file://{index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
