"""Check the built book and slide decks in a real browser (headless Chromium), offline.

    python -m tools.browser_check [--html book/_build/html] [--screenshots DIR] [--require-slides]

What it checks (``make browser-check`` runs it after ``make book`` and ``make slides``):

* every HTML page of the book (each page of the table of contents, ``genindex.html`` and
  ``search.html``) loads from a local server on 127.0.0.1 with no request anywhere else (any
  other request fails at once and is reported), no console error and no failed local request;
* every ``<img>`` loaded (``naturalWidth > 0``);
* math is rendered: once MathJax has finished, every ``span.math``/``div.math`` holds an
  ``mjx-container`` and no raw ``\\(``, ``\\[`` or ``$$`` is left in the text outside code;
* every internal link resolves to a file, and its ``#fragment`` to an id in that file (static,
  with BeautifulSoup: this part runs even without Chromium);
* each slide deck (``slides/*.slides.html``) starts reveal.js, has more than 3 slides, renders its
  math, carries speaker notes and loads nothing from the web;
* the offline search finds ``attention``, and the book opens over ``file://`` as a learner opens it;
* screenshots of a few pages (light and dark) and slides are kept in the screenshots folder.

Chromium is driven with Playwright (PyPI ``playwright``) through ``executable_path``: Debian's
``chromium`` package, never a browser that Playwright downloads. Without Chromium or Playwright
the browser part prints ``SKIPPED`` with what to install, and exits 0 unless
``BROWSER_CHECK_REQUIRED=1`` (CI sets it). Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HTML = REPO_ROOT / "book" / "_build" / "html"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Keep Chromium from calling home (updates, sync, field trials) while it checks an offline book.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]
INSTALL_HINT = (
    "install it with `sudo apt install chromium` (Debian/Ubuntu) and run `make browser-check`"
)
SEARCH_WORD = "attention"
MIN_SLIDES = 4  # "more than 3 slides"
PAGE_TIMEOUT_MS = 30_000
MATHJAX_TIMEOUT_MS = 20_000

# Console errors that are known, harmless and not ours to fix, each with why. Anything else fails.
KNOWN_HARMLESS = {
    # Jupyter Book 1 emits sphinx-thebe's config script twice in every page's <head>; thebe is
    # off in this book (nothing is loaded from the URL it names), so the second `const` only
    # throws a SyntaxError that changes nothing on the page.
    "Identifier 'THEBE_JS_URL' has already been declared": "every page",
    # Over file:// Chromium forbids fetch(), which Sphinx's search uses only for the text
    # snippets under each result: the results are still listed (checked), without snippets.
    "Failed to fetch": "file://",
    "has been blocked by CORS policy": "file://",
    # pydata-sphinx-theme 0.17 on a reader's first visit (nothing in localStorage yet) logs this
    # and uses its default, "auto" (the theme follows the system's light or dark setting).
    "Got invalid theme mode: . Resetting to auto.": "every page",
}

# ---------------------------------------------------------------- raw math (static, testable)

# What MathJax leaves behind when it did not run: the delimiters MyST and Sphinx write.
_RAW_MATH = re.compile(r"\\\(|\\\[|\$\$")
# In the decks the notebooks' own ``$...$`` reach the page; flag one only when it looks like TeX.
_RAW_DOLLAR = re.compile(r"(?<![\\$])\$(?!\s)[^$\n]{1,200}?[\\^_{}][^$\n]{0,200}?(?<!\s)\$(?!\$)")
# Elements whose text is not prose: code, scripts, and MathJax's own output.
SKIP_TAGS = (
    "pre",
    "code",
    "kbd",
    "samp",
    "script",
    "style",
    "textarea",
    "noscript",
    "template",
    "mjx-container",
    "svg",
)


def visible_text(html: str) -> str:
    """The page's text outside code, scripts and rendered math (what a reader sees as prose)."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(SKIP_TAGS):
        tag.decompose()
    return soup.get_text(" ")


def find_raw_math(text: str, dollars: bool = False, context: int = 30) -> list[str]:
    """Snippets of ``text`` around math delimiters that MathJax should have replaced.

    ``\\(``, ``\\[`` and ``$$`` always count; with ``dollars=True`` (the decks), so does an inline
    ``$...$`` holding TeX (a backslash, ``^``, ``_`` or braces), while "$5 and $10" does not.
    """
    patterns = [_RAW_MATH, _RAW_DOLLAR] if dollars else [_RAW_MATH]
    spans = sorted({m.span() for p in patterns for m in p.finditer(text)})
    snippets = []
    for start, end in spans:
        snippet = text[max(0, start - context) : end + context]
        snippets.append(" ".join(snippet.split()))
    return snippets


# ---------------------------------------------------------------- pages and links (static)


def book_pages(html_dir: Path) -> list[Path]:
    """Every HTML page of the Sphinx output (not ``_static``/``_sources``/... nor ``slides``)."""
    pages = []
    for path in sorted(html_dir.rglob("*.html")):
        top = path.relative_to(html_dir).parts[0]
        if top.startswith("_") or top == "slides":
            continue
        pages.append(path)
    return pages


def slide_decks(html_dir: Path) -> list[Path]:
    """The decks ``make slides`` wrote: ``slides/*.slides.html``."""
    return sorted((html_dir / "slides").glob("*.slides.html"))


_REFRESH_URL = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.IGNORECASE)


def meta_refresh(soup: BeautifulSoup) -> str | None:
    """Where a redirect page (``<meta http-equiv="refresh" content="0; url=X">``) sends readers."""
    for meta in soup.find_all("meta", attrs={"http-equiv": True, "content": True}):
        if meta["http-equiv"].lower() == "refresh":
            match = _REFRESH_URL.search(meta["content"])
            return match.group(1).strip() if match else None
    return None


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")


def _is_external(ref: str) -> bool:
    scheme = urlsplit(ref).scheme
    return bool(scheme) or ref.startswith("//")


@functools.lru_cache(maxsize=512)
def _ids(path: Path) -> frozenset[str]:
    """The ids (and ``<a name>``) a page defines: the fragments a link may point to."""
    soup = _soup(path)
    ids = {tag["id"] for tag in soup.find_all(id=True)}
    ids |= {tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
    return frozenset(ids)


def check_links(page: Path, html_dir: Path) -> list[str]:
    """Broken internal links and references of one page, as messages.

    Every local ``a[href]`` must name an existing file (a folder means its ``index.html``) and
    its ``#fragment`` an id in that file; every local ``img``/``script``/``link``/``source``
    must name an existing file. Web links (``https://...``) in the text are left alone; reveal.js
    routes (``#/3``) too.
    """
    soup = _soup(page)
    problems = []
    refs = [("a", a.get("href")) for a in soup.find_all("a", href=True)]
    if meta_refresh(soup):
        refs.append(("a", meta_refresh(soup)))
    for tag, attr in (("img", "src"), ("script", "src"), ("link", "href"), ("source", "src")):
        refs += [(tag, el.get(attr)) for el in soup.find_all(tag) if el.get(attr)]
    html_root = html_dir.resolve()
    for tag, ref in refs:
        ref = ref.strip()
        if not ref or _is_external(ref):
            continue
        parts = urlsplit(ref)
        target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
        if parts.path.endswith("/") or (target.is_dir() and parts.path):
            target = target / "index.html"
        if html_root not in target.parents and target != html_root:
            problems.append(f"{tag} {ref!r} points outside the built book")
            continue
        if not target.is_file():
            problems.append(f"broken link: {tag} {ref!r} (no file {target.relative_to(html_root)})")
            continue
        fragment = parts.fragment
        if tag == "a" and fragment and not fragment.startswith("/") and target.suffix == ".html":
            # As browsers do: the fragment as written, else percent-decoded (nbconvert's ids are
            # percent-encoded, Sphinx's are plain).
            if fragment not in _ids(target) and unquote(fragment) not in _ids(target):
                fragment = unquote(fragment)
                rel = target.relative_to(html_root)
                problems.append(f"broken link: {ref!r} (no id {fragment!r} in {rel})")
    return sorted(set(problems))


# ---------------------------------------------------------------- results


@dataclass
class Result:
    """What one page or deck showed: its failures and a few facts for the OK line."""

    name: str
    failures: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def line(self) -> str:
        facts = f"  ({', '.join(self.facts)})" if self.facts else ""
        if self.failures:
            return f"FAIL {self.name}{facts}\n" + "\n".join(f"     - {f}" for f in self.failures)
        return f"OK   {self.name}{facts}"


def skip_message(reason: str) -> str:
    """The one line a machine without Chromium or Playwright prints."""
    return f"SKIPPED: browser check: {reason}; {INSTALL_HINT}"


def find_chromium() -> str | None:
    """Chromium's path: ``$CHROMIUM`` if set, else Debian's ``/usr/bin/chromium`` or the PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_missing() -> str | None:
    """Why the browser part cannot run here (``None`` when it can)."""
    chromium = find_chromium()
    if chromium is None:
        where = os.environ.get("CHROMIUM") or " or ".join(CHROMIUM_CANDIDATES)
        return f"Chromium not found at {where}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            f"the Python package playwright is not installed (Chromium is at {chromium}); "
            "`make install` installs it from requirements.txt"
        )
    return None


# ---------------------------------------------------------------- the local server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def serve(html_dir: Path) -> Iterator[str]:
    """Serve ``html_dir`` on 127.0.0.1 (a free port) for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- in the browser

# Runs in the page: waits for MathJax (if the page loads it) and for every image, then reports.
_INSPECT_JS = """
async ({skipTags, skipSelector, mathjaxTimeout}) => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const out = {mathjax: false, mathjaxError: null};
  const wantsMathJax = !!window.MathJax ||
    [...document.scripts].some((s) => /mathjax/i.test(s.src || ''));
  if (wantsMathJax) {
    const t0 = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      if (Date.now() - t0 > mathjaxTimeout) { out.mathjaxError = 'MathJax did not start'; break; }
      await sleep(50);
    }
    if (!out.mathjaxError) {
      try {
        await Promise.race([MathJax.startup.promise,
          sleep(mathjaxTimeout).then(() => { throw new Error('MathJax did not finish'); })]);
        out.mathjax = true;
      } catch (e) { out.mathjaxError = String(e); }
    }
  }
  // MathJax's web fonts load after typesetting: wait, so that screenshots show the real glyphs.
  await Promise.race([document.fonts.ready, sleep(5000)]);
  const imgs = [...document.images];
  for (const img of imgs) if (img.loading === 'lazy') img.loading = 'eager';
  await Promise.race([
    Promise.all(imgs.map((img) => img.complete ? null :
      new Promise((r) => { img.addEventListener('load', r); img.addEventListener('error', r); }))),
    sleep(10000)]);
  out.images = imgs.length;
  out.brokenImages = imgs.filter((img) => !(img.naturalWidth > 0))
    .map((img) => img.getAttribute('src'));
  const math = [...document.querySelectorAll('span.math, div.math')];
  out.math = math.length;
  out.rawMathElements = math.filter((el) => !el.querySelector('mjx-container'))
    .map((el) => el.textContent.trim().slice(0, 60));
  out.mjx = document.querySelectorAll('mjx-container').length;
  const skip = new Set(skipTags.map((t) => t.toUpperCase()));
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement) {
        if (skip.has(el.tagName.toUpperCase())) return NodeFilter.FILTER_REJECT;
        if (skipSelector && el.matches(skipSelector)) return NodeFilter.FILTER_REJECT;
      }
      return NodeFilter.FILTER_ACCEPT;
    }});
  while (walker.nextNode()) parts.push(walker.currentNode.nodeValue);
  out.text = parts.join(' ');
  out.title = document.title;
  return out;
}
"""

_DECK_JS = """
() => ({
  ready: !!(window.Reveal && Reveal.isReady && Reveal.isReady()),
  slides: window.Reveal && Reveal.getTotalSlides ? Reveal.getTotalSlides() : 0,
  notes: document.querySelectorAll('aside.notes').length,
})
"""


class BrowserRun:
    """One Chromium, one tab: visits pages in turn and records what each one did."""

    def __init__(self, playwright, chromium: str, base_url: str, shots: Path, dead_port: int):
        self.base_url = base_url
        self.shots = shots
        # Every request that is not to loopback goes to a proxy at `dead_port`, where nothing
        # listens, so it fails at once and is reported (_request); loopback, the book's server,
        # is never proxied. Unlike Playwright's request interception, this keeps the browser's
        # cache, so MathJax is loaded once for the whole run.
        proxy = f"--proxy-server=http://127.0.0.1:{dead_port}"
        self.browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=[*CHROMIUM_ARGS, proxy]
        )
        self.context = self.browser.new_context(
            viewport={"width": 1280, "height": 900}, service_workers="block"
        )
        self.context.set_default_timeout(PAGE_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.page.on("request", self._request)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self._log(f"JavaScript error: {error}"))
        self.page.on("response", self._response)
        self.page.on("requestfailed", self._request_failed)
        self.current: list[str] = []
        self.harmless: dict[str, int] = {}

    def close(self) -> None:
        self.context.close()
        self.browser.close()

    # -- event handlers: each adds to the failures of the page being visited
    def _log(self, message: str) -> None:
        for known, where in KNOWN_HARMLESS.items():
            if known in message and (where != "file://" or self.page.url.startswith("file:")):
                self.harmless[known] = self.harmless.get(known, 0) + 1
                return
        if message not in self.current:
            self.current.append(message)

    def _local(self, url: str) -> bool:
        return url.startswith((self.base_url, "file://", "data:", "blob:", "about:"))

    def _request(self, request) -> None:
        if not self._local(request.url):
            self._log(f"tried to load {request.url}")

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        text = msg.text
        # Failed loads are reported by _request/_response with their URL; skip Chromium's echo.
        if text.startswith("Failed to load resource"):
            return
        self._log(f"console error: {text[:300]}")

    def _response(self, response) -> None:
        if response.status >= 400 and self._local(response.url):
            self._log(f"HTTP {response.status} for {response.url.removeprefix(self.base_url)}")

    def _request_failed(self, request) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" in failure:  # the page navigated away (a redirect), not a failure
            return
        if request.url.startswith("file:") and request.resource_type == "fetch":
            self._log(f"Failed to fetch {request.url}")
        elif self._local(request.url):
            self._log(f"request failed: {request.url.removeprefix(self.base_url)} ({failure})")

    # -- visits
    def visit(
        self, url: str, name: str, dollars: bool = False, redirect: bool = False
    ) -> tuple[Result, dict]:
        """Open ``url``, wait for MathJax and images, and check what a reader would see.

        ``redirect``: the page is a redirect (``meta refresh``); check the page it leads to.
        """
        self.leave()
        self.current = []
        result = Result(name, failures=self.current)
        info: dict = {}
        try:
            self.page.goto(url, wait_until="load")
            if redirect:
                self.page.wait_for_url(lambda now: now.split("?")[0] != url.split("?")[0])
                self.page.wait_for_load_state("load")
                result.facts.append(f"redirects to {self.page.url.removeprefix(self.base_url)}")
            info = self.page.evaluate(
                _INSPECT_JS,
                {
                    "skipTags": list(SKIP_TAGS),
                    # Speaker notes show in the speaker view's own window, without MathJax.
                    "skipSelector": "aside.notes" if dollars else "",
                    "mathjaxTimeout": MATHJAX_TIMEOUT_MS,
                },
            )
        except Exception as error:  # a page that does not load is a failure, not a crash
            self._log(f"did not load: {str(error).splitlines()[0]}")
            return result, info
        if info.get("mathjaxError"):
            self._log(info["mathjaxError"])
        if info.get("brokenImages"):
            self._log(f"images not loaded: {', '.join(map(str, info['brokenImages'][:5]))}")
        if info.get("rawMathElements"):
            shown = "; ".join(info["rawMathElements"][:3])
            self._log(f"{len(info['rawMathElements'])} math elements not rendered: {shown}")
        raw = find_raw_math(info.get("text", ""), dollars=dollars)
        if raw:
            self._log(f"raw math in the text ({len(raw)}x): {' | '.join(raw[:3])}")
        if not info.get("title", "").strip():
            self._log("the page has no title")
        result.facts += [
            f"{info['math']} math" if info.get("math") else "",
            f"{info['mjx']} mjx" if dollars and info.get("mjx") else "",
            f"{info['images']} img" if info.get("images") else "",
        ]
        result.facts = [f for f in result.facts if f]
        return result, info

    def leave(self) -> None:
        """Go to a blank page so that late events of the last page are not blamed on the next."""
        self.page.goto("about:blank")
        self.page.emulate_media(color_scheme="light")

    def screenshot(self, name: str, dark: bool = False, scroll_to: str | None = None) -> Path:
        """A viewport screenshot of the open page, optionally dark and scrolled to an element."""
        # The theme follows the reader's system setting (its default mode "auto").
        self.page.emulate_media(color_scheme="dark" if dark else "light")
        if scroll_to:
            self.page.evaluate(
                "(sel) => { const el = document.querySelector(sel);"
                " if (el) el.scrollIntoView({block: 'center'}); }",
                scroll_to,
            )
        self.page.wait_for_timeout(300)  # let the theme switch and fonts settle
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


# ---------------------------------------------------------------- the run


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# Pages photographed after their check: (page, screenshot name, dark?, element to scroll to).
SCREENSHOTS = [
    ("index.html", "book_intro_light", False, None),
    ("index.html", "book_intro_dark", True, None),
    ("chapters/04_attention.html", "ch04_attention_math", False, "div.math"),
    ("chapters/06_bert/01_bert_architecture.html", "ch06_1_bert_architecture", False, None),
    ("chapters/04_attention.html", "ch04_attention_figure_dark", True, "div.cell_output img"),
    ("book/glossary.html", "glossary", False, None),
    ("book/instructor/04_attention.html", "instructor_04_attention", False, None),
]
SCREENSHOT_DECKS = ["04_attention.slides.html", "06_bert__01_bert_architecture.slides.html"]


def check_pages(
    run: BrowserRun,
    html_dir: Path,
    pages: list[Path],
    links: dict[Path, Future],
    results: list[Result],
) -> None:
    """Visit every book page over HTTP; add its link check; screenshots on the chosen pages."""
    wanted: dict[str, list] = {}
    for page, *shot in SCREENSHOTS:
        wanted.setdefault(page, []).append(shot)
    for page in pages:
        rel = _rel(page, html_dir)
        redirect = meta_refresh(_soup(page)) is not None
        result, _ = run.visit(run.base_url + rel, rel, redirect=redirect)
        result.failures.extend(links[page].result())
        for name, dark, scroll_to in wanted.get(rel, []):
            run.screenshot(name, dark=dark, scroll_to=scroll_to)
        results.append(result)
        print(result.line(), flush=True)


def check_search(run: BrowserRun, html_dir: Path, results: list[Result]) -> None:
    """The offline search finds SEARCH_WORD, over HTTP and over file:// (how learners open it)."""
    for label, base in (("http", run.base_url), ("file", html_dir.resolve().as_uri() + "/")):
        result, _ = run.visit(f"{base}search.html?q={SEARCH_WORD}", f"search ({label}://)")
        try:
            run.page.wait_for_selector("#search-results ul.search li", timeout=15_000)
            hits = run.page.locator("#search-results ul.search li").count()
            result.facts.append(f"{hits} hits for {SEARCH_WORD!r}")
        except Exception:
            result.failures.append(f"searching {SEARCH_WORD!r} listed no result within 15 s")
        if label == "http":
            run.screenshot("search_attention")
        results.append(result)
        print(result.line(), flush=True)


def check_file_urls(run: BrowserRun, html_dir: Path, results: list[Result]) -> None:
    """Open the intro and chapter 04 over file://: styles, math and images work without a server."""
    for rel in ("index.html", "chapters/04_attention.html"):
        if not (html_dir / rel).is_file():
            continue
        path = html_dir / rel
        redirect = meta_refresh(_soup(path)) is not None
        result, _ = run.visit(path.resolve().as_uri(), f"{rel} (file://)", redirect=redirect)
        styled = run.page.evaluate(
            "() => [...document.styleSheets].filter((s) => { try { return s.cssRules.length > 0 }"
            " catch (e) { return true } }).length"
        )
        if not styled:
            result.failures.append("no stylesheet loaded over file://")
        if rel == "index.html":
            run.screenshot("book_intro_file_url")
        results.append(result)
        print(result.line(), flush=True)


def check_decks(
    run: BrowserRun,
    html_dir: Path,
    decks: list[Path],
    links: dict[Path, Future],
    results: list[Result],
) -> list[Path]:
    """Open every deck: reveal.js ready, > 3 slides, math rendered, notes, nothing from the web."""
    shots = []
    with_notes = 0
    for deck in decks:
        rel = _rel(deck, html_dir)
        result, _ = run.visit(run.base_url + rel, rel, dollars=True)
        try:
            run.page.wait_for_function(
                "() => window.Reveal && Reveal.isReady && Reveal.isReady()", timeout=15_000
            )
        except Exception:
            result.failures.append("reveal.js did not start (Reveal.isReady() stayed false)")
        state = run.page.evaluate(_DECK_JS)
        if state["slides"] < MIN_SLIDES:
            result.failures.append(f"only {state['slides']} slides (expected more than 3)")
        with_notes += state["notes"] > 0
        result.facts = [f"{state['slides']} slides", f"{state['notes']} notes", *result.facts]
        result.failures.extend(links[deck].result())
        if deck.name in SCREENSHOT_DECKS and state["ready"]:
            shots += _deck_screenshots(run, deck.name.removesuffix(".slides.html"))
        results.append(result)
        print(result.line(), flush=True)
    if decks and not with_notes:
        results.append(Result("slides: speaker notes", ["no deck has speaker notes (aside.notes)"]))
        print(results[-1].line())
    return shots


def _deck_screenshots(run: BrowserRun, stem: str) -> list[Path]:
    """Two slides of a deck: the first with math and the first with a figure (else slides 2, 3)."""
    picks = run.page.evaluate(
        """() => {
          const slides = Reveal.getSlides();
          const find = (sel) => slides.findIndex((s) => s.querySelector(sel));
          const idx = [find('mjx-container'), find('img')].filter((i) => i >= 0);
          for (const i of [1, 2]) if (idx.length < 2 && !idx.includes(i) && i < slides.length)
            idx.push(i);
          return idx.slice(0, 2).map((i) => Reveal.getIndices(slides[i]));
        }"""
    )
    shots = []
    for n, indices in enumerate(picks, start=1):
        run.page.evaluate(
            """(ix) => new Promise((done) => {
                 Reveal.on('slidetransitionend', done);
                 setTimeout(done, 2000);
                 Reveal.slide(ix.h, ix.v || 0);
               })""",
            indices,
        )
        shots.append(run.screenshot(f"slides_{stem}_{n}"))
    return shots


def run_browser(
    html_dir: Path,
    shots: Path,
    pages: list[Path],
    decks: list[Path],
    chromium: str,
    only: str | None = None,
) -> list[Result]:
    """Everything that needs Chromium, in one browser and one tab (``only``: a partial run)."""
    from playwright.sync_api import sync_playwright

    results: list[Result] = []
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob("*.png"):
        old.unlink()
    # The static link check (BeautifulSoup, slow on big pages) runs beside the browser.
    with (
        ThreadPoolExecutor(max_workers=1) as pool,
        serve(html_dir) as base_url,
        socket.socket() as dead,  # bound, never listening: connections to it are refused
        sync_playwright() as playwright,
    ):
        links = {page: pool.submit(check_links, page, html_dir) for page in pages + decks}
        dead.bind(("127.0.0.1", 0))
        run = BrowserRun(playwright, chromium, base_url, shots, dead.getsockname()[1])
        try:
            check_pages(run, html_dir, pages, links, results)
            if not only:
                check_search(run, html_dir, results)
                check_file_urls(run, html_dir, results)
            check_decks(run, html_dir, decks, links, results)
        finally:
            run.close()
    for known, count in run.harmless.items():
        print(f"note: ignored {count}x a known harmless console error: {known!r}")
    return results


def static_only(html_dir: Path, pages: Iterable[Path]) -> list[Result]:
    """The link check alone (what a machine without Chromium can still do)."""
    results = []
    for page in pages:
        result = Result(_rel(page, html_dir), check_links(page, html_dir))
        results.append(result)
        if result.failures:
            print(result.line())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=DEFAULT_HTML, help="the built book's HTML")
    parser.add_argument(
        "--screenshots", type=Path, help="where screenshots go (default: <html>/../screenshots)"
    )
    parser.add_argument(
        "--require-slides", action="store_true", help="fail when no slide deck was built"
    )
    parser.add_argument("--only", help="check only pages/decks whose path contains this text")
    args = parser.parse_args(argv)
    html_dir: Path = args.html
    shots: Path = args.screenshots or html_dir.parent / "screenshots"
    required = os.environ.get("BROWSER_CHECK_REQUIRED") == "1"

    if not (html_dir / "index.html").is_file():
        print(f"FAILED: browser check: no built book at {html_dir}; run `make book` first.")
        return 1
    pages = book_pages(html_dir)
    decks = slide_decks(html_dir)
    if args.only:
        pages = [p for p in pages if args.only in _rel(p, html_dir)]
        decks = [d for d in decks if args.only in _rel(d, html_dir)]
    results: list[Result] = []
    if args.require_slides and not decks and not args.only:
        results.append(
            Result("slides", [f"no slide deck in {html_dir / 'slides'}; run `make slides`"])
        )
        print(results[-1].line())

    missing = browser_missing()
    start = time.monotonic()
    if missing:
        results += static_only(html_dir, pages + decks)
        print(skip_message(missing))
    else:
        results += run_browser(html_dir, shots, pages, decks, find_chromium(), args.only)
    failed = [r for r in results if r.failures]
    seconds = time.monotonic() - start
    what = "links checked" if missing else "checked in Chromium"
    print(
        f"\nbrowser check: {len(pages)} pages, {len(decks)} decks {what} in {seconds:.0f} s: "
        f"{len(results) - len(failed)} OK, {len(failed)} FAILED"
    )
    if not missing:
        print(f"screenshots: {shots}")
    if failed:
        return 1
    if missing and required:
        print("BROWSER_CHECK_REQUIRED=1: the browser check must run here (CI); failing.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
