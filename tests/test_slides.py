"""The slide decks of ``make slides`` (tools/slides.py): how cells become slides, and that a
deck loads nothing from the web. Fast and offline: tiny in-memory notebooks, no npm."""

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import slides


def _types(nb) -> list[str]:
    return [cell.metadata.get("slideshow", {}).get("slide_type", "-") for cell in nb.cells]


def _find(nb, text: str):
    return next(cell for cell in nb.cells if text in cell.source)


def tiny_notebook():
    """A chapter in miniature: title, setup cell, sections, a self-check, outputs, tags."""
    stream = new_output("stream", name="stdout", text="torch.Size([2, 3])\n")
    cells = [
        new_markdown_cell(
            "# 99 · A tiny chapter\n\n> **Where we are:** [next](05_transformer.ipynb)"
        ),
        new_code_cell("import utils\n\nprint(utils.setup(seed=0))"),
        new_markdown_cell(
            "## 1. First section\n\nSome text with a {term}`token <Token>` and {cite}`vaswani2017`."
            + " More words." * 20
            + "\n\n### 1.1 A subsection\n\nMore text, see {ref}`sec-masks`."
        ),
        new_code_cell("x.shape", outputs=[stream], metadata={"tags": ["nbval-check-output"]}),
        new_code_cell("hidden = 1", metadata={"tags": ["remove-cell"]}),
        new_markdown_cell("Say this aloud.", metadata={"tags": ["notes"]}),
        new_markdown_cell(
            "**Check yourself**\n\n1. Why scale by $\\sqrt{d_k}$?\n2. What does a mask do?\n\n"
            "<details><summary>Answers</summary>\n\n1. To keep the softmax soft.\n"
            "2. It hides positions.\n\n</details>"
        ),
        new_markdown_cell("```{note}\nA note, with an option.\n```"),
        new_markdown_cell("## 2. Author's choice", metadata={"slideshow": {"slide_type": "skip"}}),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_deck_names_follow_the_notebook_path():
    assert slides.deck_name(slides.CHAPTERS / "04_attention.ipynb") == "04_attention"
    name = slides.deck_name(slides.CHAPTERS / "06_bert" / "02_pretraining.ipynb")
    assert name == "06_bert__02_pretraining"
    with pytest.raises(ValueError, match="not a notebook under"):
        slides.deck_name(slides.REPO_ROOT / "solutions" / "x.ipynb")


def test_headings_make_slides_and_subslides():
    nb = slides.mark_slides(tiny_notebook())
    assert _types(nb)[0] == "slide"  # the title
    assert _find(nb, "# 99").metadata.slideshow.slide_type == "slide"
    assert _find(nb, "## 1. First section").metadata.slideshow.slide_type == "slide"
    assert _find(nb, "### 1.1").metadata.slideshow.slide_type == "subslide"
    assert "widgets" not in nb.metadata


def test_setup_and_removed_cells_are_skipped_and_authors_metadata_wins():
    nb = slides.mark_slides(tiny_notebook())
    assert _find(nb, "utils.setup").metadata.slideshow.slide_type == "skip"
    assert _find(nb, "hidden = 1").metadata.slideshow.slide_type == "skip"
    assert _find(nb, "## 2. Author's choice").metadata.slideshow.slide_type == "skip"


def test_answers_and_notes_tag_become_speaker_notes_questions_fragments():
    nb = slides.mark_slides(tiny_notebook())
    assert _find(nb, "Say this aloud").metadata.slideshow.slide_type == "notes"
    answers = _find(nb, "To keep the softmax soft")
    assert answers.metadata.slideshow.slide_type == "notes"
    assert "<details" not in answers.source and answers.source.startswith("**Answers**")
    questions = _find(nb, "What does a mask do?")
    assert "course-check" in questions.metadata.tags
    assert questions.metadata.get("slideshow", {}).get("slide_type", "-") == "-"


def test_checked_printed_outputs_are_revealed_after_a_prediction():
    nb = slides.mark_slides(tiny_notebook())
    assert _find(nb, "x.shape").metadata.course_slides == {"output_fragment": True}


def test_myst_syntax_becomes_plain_markdown():
    text = slides.strip_myst(
        "A {term}`token <Token>`, {term}`d_model`, {cite}`a,b`, {doc}`../book/notation`, "
        "{ref}`sec-masks`, {math}`x^2`.\n(sec-x)=\n```{warning} Careful\n:class: dropdown\n"
        "Body.\n```\n```python\n{ref}`kept in code`\n```"
    )
    assert "A token, d_model, (a; b), notation, sec masks, $x^2$." in text
    assert "(sec-x)=" not in text and ":class:" not in text
    assert "> **Careful**" in text and "> Body." in text
    assert "{ref}`kept in code`" in text  # code is left alone
    assert not re.search(r"\{\w+\}`|```\{", text.replace("{ref}`kept in code`", ""))


def test_links_to_chapters_point_to_their_decks():
    notebook = slides.CHAPTERS / "06_bert" / "01_bert_architecture.ipynb"
    text = slides.rewrite_links(
        "[05](../05_transformer.ipynb) [02](02_pretraining.ipynb#masks) "
        "[s](../../solutions/x.ipynb)",
        notebook,
    )
    assert "](05_transformer.slides.html)" in text
    assert "](06_bert__02_pretraining.slides.html)" in text
    assert "](../solutions/x.html)" in text


def test_a_long_section_continues_on_a_subslide():
    paragraph = "word " * 150
    cells = [new_markdown_cell("## 1. Long")] + [new_markdown_cell(paragraph) for _ in range(6)]
    nb = slides.mark_slides(new_notebook(cells=cells))
    continued = [cell for cell in nb.cells if "course-continued" in cell.source]
    assert continued and all(c.metadata.slideshow.slide_type == "subslide" for c in continued)
    assert "1. Long (continued)" in continued[0].source


def test_split_blocks_keeps_fences_math_and_lead_ins_whole():
    source = "**You will**\n\n- a\n- b\n\n$$\nx\n\ny\n$$\n\n```python\na = 1\n\nb = 2\n```"
    blocks = slides.split_blocks(source)
    assert blocks == [
        "**You will**\n\n- a\n- b",
        "$$\nx\n\ny\n$$",
        "```python\na = 1\n\nb = 2\n```",
    ]


def test_a_deck_loads_only_local_files():
    nb = tiny_notebook()
    widget = new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
            "text/plain": "interactive(...)",
        },
    )
    nb.cells.append(new_code_cell("interact(f)", outputs=[widget]))
    html = slides.render(nb, "99_tiny", slides.CHAPTERS / "99_tiny.ipynb")
    loaded = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", html)
    assert loaded and all(not re.match(r"(https?:)?//", url) for url in loaded), loaded
    for url in ("_assets/reveal.js/dist/reveal.js", "_assets/reveal.js/plugin/notes/notes.js"):
        assert url in loaded
    assert "_assets/mathjax/tex-chtml.js" in loaded
    for cdn in ("unpkg", "cdnjs", "jsdelivr", "require.js", "jquery", "mermaid", "MathJax.Hub"):
        assert cdn not in html
    assert html.count("<section") >= 4
    assert '<aside class="notes">' in html
    assert "course-output-fragment" in html
    assert "run this cell in JupyterLab" in html
    assert "{term}" not in html and "{cite}" not in html


def test_npm_pins_the_reveal_version_the_template_expects():
    package = json.loads((slides.SLIDES_DIR / "package.json").read_text())
    lock = json.loads((slides.SLIDES_DIR / "package-lock.json").read_text())
    assert package["dependencies"] == {"reveal.js": slides.REVEAL_VERSION}
    assert lock["packages"]["node_modules/reveal.js"]["version"] == slides.REVEAL_VERSION


def test_without_npm_the_build_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(slides.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="needs npm"):
        slides.install_reveal(tmp_path / "cache")


def test_every_chapter_notebook_gets_a_deck_name():
    names = [slides.deck_name(p) for p in slides.chapter_notebooks()]
    assert "04_attention" in names and len(names) == len(set(names))
    assert all("/" not in name for name in names)


def test_real_chapter_marks_without_errors():
    nb = nbformat.read(slides.CHAPTERS / "00_setup.ipynb", as_version=4)
    marked = slides.mark_slides(nb, slides.CHAPTERS / "00_setup.ipynb")
    assert _types(marked).count("slide") >= 3


def test_a_figure_too_tall_for_its_code_gets_a_slide_of_its_own():
    png = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    code = "\n".join(f"line_{i} = {i}" for i in range(18))
    cells = [new_markdown_cell("## 1. Plot"), new_code_cell(code, outputs=[png])]
    nb = slides.mark_slides(new_notebook(cells=cells))
    code_cell, figure = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code_cell.outputs == [] and figure.outputs[0].data["image/png"]
    assert figure.metadata.course_slides["hide_input"]
    assert figure.outputs[0].metadata["course_max_height"] >= slides.FIGURE_MIN
    assert nb.cells[nb.cells.index(figure) - 1].metadata.slideshow.slide_type == "subslide"
    html = slides.render(nb, "99_plot")
    assert html.count("line_17") == 1  # the code is shown once, above the slide with the figure


def test_a_long_list_is_cut_between_items_and_keeps_its_numbers():
    items = "\n".join(f"{i}. " + "long item text " * 20 for i in range(1, 9))
    parts = slides._split_list("**Exercises**\n\n" + items)
    assert len(parts) > 1
    assert all(re.match(r"^\d+\. ", part) for part in parts[1:])
    assert "\n".join(parts).count("long item") == 8 * 20


def test_a_subsection_right_under_its_section_title_shares_its_slide():
    cells = [
        new_markdown_cell("# T"),
        new_markdown_cell("## 1. A\n\n### 1.1 B\n\nText."),
        new_markdown_cell("### 1.2 C"),
    ]
    nb = slides.mark_slides(new_notebook(cells=cells))
    assert _find(nb, "### 1.1").metadata.get("slideshow") is None
    assert _find(nb, "### 1.2").metadata.slideshow.slide_type == "subslide"
