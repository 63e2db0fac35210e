"""Tests of tools/browser_check.py without a browser: the static link check, the raw-math
detector, the page list and the "skipped" path (fast and offline; the browser part itself runs in
``make browser-check``)."""

from pathlib import Path

import pytest

from tools import browser_check as bc


def _write(root: Path, rel: str, body: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><head><title>t</title></head><body>{body}</body></html>")
    return path


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """A tiny built book: an index, a chapter in a folder, an image, and a deck."""
    _write(tmp_path, "index.html", '<a href="chapters/a.html#sec-1">A</a>')
    _write(tmp_path, "chapters/a.html", '<h2 id="sec-1">One</h2><a href="#sec-1">here</a>')
    _write(tmp_path, "_static/mathjax/test.html", "MathJax's own files are not book pages")
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(b"\x89PNG")
    _write(tmp_path, "slides/04_attention.slides.html", "<section>deck</section>")
    return tmp_path


def test_pages_and_decks_are_listed(book: Path):
    pages = [p.relative_to(book).as_posix() for p in bc.book_pages(book)]
    assert pages == ["chapters/a.html", "index.html"]
    assert [d.name for d in bc.slide_decks(book)] == ["04_attention.slides.html"]


def test_good_links_pass(book: Path):
    assert bc.check_links(book / "index.html", book) == []
    assert bc.check_links(book / "chapters" / "a.html", book) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<a href="missing.html">x</a>', "no file chapters/missing.html"),
        ('<a href="a.html#nowhere">x</a>', "no id 'nowhere' in chapters/a.html"),
        ('<a href="#nowhere">x</a>', "no id 'nowhere'"),
        ('<a href="../index.html#top">x</a>', "no id 'top' in index.html"),
        ('<img src="../_images/gone.png">', "no file _images/gone.png"),
        ('<script src="../_static/x.js"></script>', "no file _static/x.js"),
        ('<a href="../../outside.html">x</a>', "points outside the built book"),
    ],
)
def test_broken_links_are_reported(book: Path, body: str, expected: str):
    page = _write(book, "chapters/b.html", body)
    problems = bc.check_links(page, book)
    assert len(problems) == 1 and expected in problems[0], problems


def test_links_that_are_not_files_are_left_alone(book: Path):
    body = (
        '<a href="https://arxiv.org/abs/1706.03762">paper</a> <a href="mailto:a@b.c">mail</a>'
        ' <a href="#/3">reveal route</a> <a href="../_images/fig.png">figure</a>'
        ' <a href="my%20page.html">encoded</a> <a href="./">folder</a>'
    )
    page = _write(book, "chapters/c.html", body)
    _write(book, "chapters/my page.html", "")
    _write(book, "chapters/index.html", "")
    assert bc.check_links(page, book) == []


def test_redirect_pages_are_followed(book: Path):
    _write(book, "go.html", '<meta http-equiv="Refresh" content="0; url=chapters/a.html" />')
    _write(book, "bad.html", '<meta http-equiv="refresh" content="0; URL=\'nope.html\'" />')
    assert bc.meta_refresh(bc._soup(book / "go.html")) == "chapters/a.html"
    assert bc.check_links(book / "go.html", book) == []
    assert "nope.html" in bc.check_links(book / "bad.html", book)[0]


def test_raw_math_is_found_outside_code():
    html = (
        "<p>Rendered: <mjx-container>\\(x\\)</mjx-container>.</p>"
        "<pre>print('\\(not math\\)')</pre><code>$$</code>"
        "<p>Left raw: \\(d_k\\) and $$QK^T$$ and \\[ a \\]</p>"
    )
    text = bc.visible_text(html)
    assert "not math" not in text
    found = bc.find_raw_math(text)
    assert len(found) == 4 and all("Left raw" in f or "QK" in f or " a " in f for f in found)
    assert bc.find_raw_math(bc.visible_text("<p>Fully rendered prose, $5 only.</p>")) == []


def test_inline_dollar_math_counts_only_in_decks():
    text = "It costs $5 and $10. The score is $QK^\\top / \\sqrt{d_k}$ and $x_i$."
    assert bc.find_raw_math(text) == []
    found = bc.find_raw_math(text, dollars=True)
    assert len(found) == 2, found


def test_skip_message_says_what_to_run(book: Path, monkeypatch, capsys):
    monkeypatch.setenv("CHROMIUM", str(book / "no-such-chromium"))
    monkeypatch.delenv("BROWSER_CHECK_REQUIRED", raising=False)
    assert bc.main(["--html", str(book)]) == 0
    out = capsys.readouterr().out
    assert "SKIPPED: browser check: Chromium not found at" in out
    assert "sudo apt install chromium" in out and "make browser-check" in out

    monkeypatch.setenv("BROWSER_CHECK_REQUIRED", "1")
    assert bc.main(["--html", str(book)]) == 1
    assert "BROWSER_CHECK_REQUIRED=1" in capsys.readouterr().out


def test_skipped_run_still_checks_links(book: Path, monkeypatch, capsys):
    monkeypatch.setenv("CHROMIUM", str(book / "no-such-chromium"))
    monkeypatch.delenv("BROWSER_CHECK_REQUIRED", raising=False)
    _write(book, "chapters/b.html", '<a href="missing.html">x</a>')
    assert bc.main(["--html", str(book)]) == 1
    out = capsys.readouterr().out
    assert "FAIL chapters/b.html" in out and "SKIPPED" in out


def test_missing_book_and_missing_decks(tmp_path: Path, book: Path, monkeypatch, capsys):
    monkeypatch.setenv("CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert bc.main(["--html", str(tmp_path / "nothing")]) == 1
    assert "run `make book` first" in capsys.readouterr().out
    for deck in bc.slide_decks(book):
        deck.unlink()
    assert bc.main(["--html", str(book), "--require-slides"]) == 1
    assert "run `make slides`" in capsys.readouterr().out
