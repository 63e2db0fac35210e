"""Tests of the student edition (``tools/student.py``, ``make student``): copies of the chapter
notebooks without outputs, with empty exercise stubs, that leave the originals untouched."""

import hashlib
import re
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import student
from utils.paths import REPO_ROOT

CHAPTERS = REPO_ROOT / "chapters"


def _notebook():
    """A tiny executed notebook: a lesson cell, then an exercises section with a worked answer,
    a stub, and a setup cell."""
    worked = "def double(x):\n    '''Twice x.'''\n    return 2 * x\n\n\nprint(double(3))"
    stub = "def triple(x):\n    '''Exercise 2.'''\n    raise NotImplementedError('exercise 2')"
    cells = [
        new_markdown_cell("# A lesson\n\n## 1. A step"),
        new_code_cell("print('lesson')", execution_count=1, outputs=[_stream("lesson\n")]),
        new_markdown_cell("## Summary\n\n- a point\n\n## Exercises\n\n1. Write `double`."),
        new_code_cell(worked, execution_count=2, outputs=[_stream("6\n")]),
        new_code_cell(stub, execution_count=3),
        new_code_cell("data = load()", execution_count=4),
    ]
    cells[1].metadata.update(tags=["nbval-check-output"], collapsed=True, scrolled=False)
    cells[1].metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    cells[5].metadata["tags"] = [student.SETUP_TAG]
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    return nb


def _stream(text):
    return new_output("stream", name="stdout", text=text)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.ipynb"))
    }


# ------------------------------------------------------------------ one tiny notebook


def test_copy_has_no_outputs_counts_widgets_or_metadata_but_keeps_tags():
    nb = _notebook()
    copy, _ = student.student_notebook(nb, "tiny.ipynb")
    nbformat.validate(copy)
    assert "widgets" not in copy.metadata and copy.metadata["kernelspec"]["name"] == "python3"
    for cell in copy.cells:
        assert set(cell.metadata) <= {"tags"}
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert copy.cells[1].metadata == {"tags": ["nbval-check-output"]}
    assert copy.cells[1].source == "print('lesson')"  # not an exercise: unchanged
    assert copy.cells[5].metadata == {"tags": [student.SETUP_TAG]}


def test_worked_exercise_becomes_a_stub_and_the_change_is_reported():
    nb = _notebook()
    copy, changes = student.student_notebook(nb, "tiny.ipynb")
    assert copy.cells[3].source == (
        "def double(x):\n    '''Twice x.'''\n    ...  # your code here\n\n\n# your code here"
    )
    assert copy.cells[4].source == nb.cells[4].source  # already a stub
    assert copy.cells[5].source == "data = load()"  # tagged exercise-setup
    assert [(c.notebook, c.cell) for c in changes] == [("tiny.ipynb", 3)]
    assert "double()" in str(changes[0]) and "print(double(3))" in str(changes[0])


def test_the_original_notebook_object_is_not_changed():
    nb = _notebook()
    before = nbformat.writes(nb)
    student.student_notebook(nb)
    assert nbformat.writes(nb) == before


@pytest.mark.parametrize(
    "source",
    [
        "class Cell(Base):\n    # Exercise 1\n    gates = 3\n\n    def forward(self, x, h=None):\n"
        "        raise NotImplementedError('your code')",
        "class Special(Base):\n    # Exercise 1: your code here.\n    pass",
        "# Your code here: start with exercise 1, for example\n# S.chinchilla_optimal(1e18)",
        "import torch\n\nGB = 1e9\n\n\ndef f(x):\n    '''Only a docstring.'''",
        "def g(x):\n    ...",
        "",
    ],
)
def test_a_stub_is_left_as_it_is(source):
    assert student.stub_source(source) == (source, [])


def test_stub_rule_keeps_signatures_docstrings_comments_and_settings():
    source = (
        "import torch\n"
        "\n"
        "\n"
        "@torch.no_grad()\n"
        "def f(x, y=(1, 2)):\n"
        '    """Doc."""\n'
        "    # step 1: square\n"
        "    z = x * x\n"
        "    return z + y[0]\n"
        "\n"
        "\n"
        "class A(torch.nn.Module):\n"
        "    gates = 3\n"
        "    helper = make_helper()\n"
        "\n"
        "    def g(self): return 1\n"
        "\n"
        "\n"
        "%time f(3)\n"
        "for i in range(3):\n"
        "    print(f(i))\n"
    )
    text, removed = student.stub_source(source)
    assert text == (
        "import torch\n"
        "\n"
        "\n"
        "@torch.no_grad()\n"
        "def f(x, y=(1, 2)):\n"
        '    """Doc."""\n'
        "    # step 1: square\n"
        "    ...  # your code here\n"
        "\n"
        "\n"
        "class A(torch.nn.Module):\n"
        "    gates = 3\n"
        "\n"
        "    def g(self):\n"
        "        ...  # your code here\n"
        "\n"
        "\n"
        "# your code here"
    )
    assert len(removed) == 5  # f's body, helper, g's body, the magic, the loop
    compile(text, "<stub>", "exec")  # the stub is valid Python


def test_a_cell_that_does_not_parse_keeps_only_its_comments():
    text, removed = student.stub_source("# hint\nanswer = (1,\n")
    assert text == "# hint\n# your code here" and "does not parse" in removed[0]


def test_exercise_section_starts_at_its_heading_and_ends_at_the_next():
    md, code = new_markdown_cell, new_code_cell
    cells = [
        md("# T\n\n## 1. Step"),
        code("a"),
        md("## Summary\n\n## 7. Exercises\n\n1. Do it."),
        code("b"),
        md("More prompts, no heading."),
        code("c"),
        md("## Appendix"),
        code("d"),
    ]
    assert student.exercise_cells(cells) == [3, 5]
    assert student.exercise_cells([md("## Exercises\n\n## Next"), code("x")]) == []
    assert student.exercise_cells([md("### Exercise\n"), code("x"), md("#### Hint")]) == [1]
    assert student.exercise_cells([md("# T\n\n## Summary"), code("x")]) == []


# ------------------------------------------------------------------ the real chapters


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """The student edition of chapters/, built once by the command line, with its zip."""
    out = tmp_path_factory.mktemp("edition") / "student"
    before = _hashes(CHAPTERS)
    assert student.main(["--out", str(out), "--zip"]) == 0
    return out, before


def test_every_chapter_is_copied_and_the_originals_are_untouched(edition):
    out, before = edition
    assert _hashes(CHAPTERS) == before
    assert sorted(_hashes(out / "chapters")) == sorted(before)
    assert "make lab" in (out / "README.md").read_text()


def test_a_real_chapter_copy_is_clean_with_its_tags(edition):
    out, _ = edition
    original = nbformat.read(CHAPTERS / "02_tokenization.ipynb", as_version=4)
    copy = nbformat.read(out / "chapters" / "02_tokenization.ipynb", as_version=4)
    nbformat.validate(copy)
    assert len(copy.cells) == len(original.cells)
    assert any(c.get("outputs") for c in original.cells)  # the repository keeps its outputs
    for a, b in zip(original.cells, copy.cells, strict=True):
        assert b.metadata.get("tags", []) == a.metadata.get("tags", [])
        if b.cell_type == "code":
            assert b.outputs == [] and b.execution_count is None


def test_every_chapter_has_exercises_and_they_are_stubs():
    """Chapters 01-09 each have an exercises section, found by the student edition; its code
    cells are stubs already (worked answers belong in solutions/)."""
    found = {}
    for path in sorted(CHAPTERS.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cells = student.exercise_cells(nb.cells)
        if cells:
            found[path.relative_to(CHAPTERS).parts[0][:2]] = path
        for i in cells:
            _, removed = student.stub_source(nb.cells[i].source)
            assert not removed, f"{path.name} cell {i} holds worked code: {removed}"
    assert sorted(found) == [f"{n:02d}" for n in range(1, 10)]


def test_links_from_the_copies_resolve(edition):
    out, _ = edition
    link = re.compile(r"\]\((?![a-z]+:)([^)#\s]+)")
    checked = 0
    for path in (out / "chapters").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for target in link.findall(cell.source):
                    assert (path.parent / target).exists(), f"{path.name}: {target}"
                    checked += 1
    assert checked > 100
    text = (out / "chapters" / "01_why_transformers.ipynb").read_text()
    assert "01_why_transformers_solutions.ipynb" in text


def test_zip_holds_the_copies_and_the_readme(edition):
    out, _ = edition
    with zipfile.ZipFile(out.with_suffix(".zip")) as zf:
        names = set(zf.namelist())
    assert "student/README.md" in names
    assert "student/chapters/02_tokenization.ipynb" in names
    assert not any(student.MANIFEST in n for n in names)


def test_a_learners_edits_are_kept_unless_forced(tmp_path):
    out = tmp_path / "student"
    source = tmp_path / "chapters"
    source.mkdir()
    nbformat.write(_notebook(), source / "tiny.ipynb")
    student.build(out, source=source)
    copy = out / "chapters" / "tiny.ipynb"
    copy.write_text(copy.read_text().replace("lesson", "my notes"))
    report = student.build(out, source=source)
    assert report.kept == [copy] and "my notes" in copy.read_text()
    report = student.build(out, source=source, force=True)
    assert report.written == [copy] and "my notes" not in copy.read_text()


@pytest.mark.parametrize("out", [REPO_ROOT, CHAPTERS, CHAPTERS / "student"])
def test_refuses_to_write_over_the_originals(out):
    with pytest.raises(ValueError, match="must not contain or be inside"):
        student.build(out)
