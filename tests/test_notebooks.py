"""Checks of the committed notebooks and the book's structure (the notebooks themselves are
executed by `make notebooks`, with nbval)."""

import re

import nbformat
import pytest
import yaml

from utils import notebooks
from utils.paths import REPO_ROOT

NOTEBOOKS = notebooks.find_notebooks([REPO_ROOT / "chapters", REPO_ROOT / "solutions"])
IDS = [p.relative_to(REPO_ROOT).as_posix() for p in NOTEBOOKS]


def _toc_files(node):
    if isinstance(node, dict):
        if "file" in node:
            yield node["file"]
        for value in node.values():
            yield from _toc_files(value)
    elif isinstance(node, list):
        for value in node:
            yield from _toc_files(value)


def test_there_are_notebooks():
    assert (REPO_ROOT / "chapters" / "00_setup.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_committed_clean(path):
    assert notebooks.problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_checks_some_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = [c for c in code if "nbval-check-output" in c.get("metadata", {}).get("tags", [])]
    assert checked, "key outputs must be checked by nbval (the cell tag nbval-check-output)"
    # The markers live in cell tags, which the book does not show, not in the code a reader sees.
    assert not [c for c in code if "NBVAL" in c.source]


def test_every_notebook_is_in_the_book():
    toc = yaml.safe_load((REPO_ROOT / "book" / "_toc.yml").read_text())
    files = set(_toc_files(toc))
    for path in NOTEBOOKS:
        assert path.relative_to(REPO_ROOT).with_suffix("").as_posix() in files
    for f in files:  # and nothing in the book is missing
        assert any((REPO_ROOT / f).with_suffix(s).is_file() for s in (".md", ".ipynb")), f


def test_readme_has_the_two_commands_and_the_chapter_map():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    for path in NOTEBOOKS:
        if path.parent.name == "chapters":  # chapters/NN_name.ipynb
            number = path.name[:2]
        elif path.parent.parent.name == "chapters":  # chapters/NN_name/MM_part.ipynb
            number = path.parent.name[:2]
        else:
            continue
        assert re.search(rf"^\| {number} \|.*available", readme, re.M), number


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\b", ci, re.M)


def test_collapse_carriage_returns():
    text = "bar 0%\rbar 50%\rbar 100%\nnext line\n"
    assert notebooks.collapse_carriage_returns(text) == "bar 100%\nnext line\n"
    assert notebooks.collapse_carriage_returns("plain\n") == "plain\n"


def test_coalesce_streams_merges_progress_frames():
    outputs = [
        {"output_type": "stream", "name": "stderr", "text": "load 0%"},
        {"output_type": "stream", "name": "stderr", "text": "\rload 100%"},
        {"output_type": "stream", "name": "stdout", "text": "done\n"},
    ]
    merged = notebooks.coalesce_streams(outputs)
    assert [o["text"] for o in merged] == ["load 100%", "done\n"]


def test_problems_finds_what_is_wrong(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("no title"),
        nbformat.v4.new_code_cell("print(1)"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="/home/alice/x object at 0x7f\n")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    found = notebooks.problems(path)
    assert any("title" in p for p in found)
    assert any("utils.setup()" in p for p in found)
    assert any("not executed" in p for p in found)
    assert any("machine path" in p for p in found)


def test_problems_reads_tracebacks_too(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("import utils\nutils.setup()\n1 / 0"),
    ]
    nb.cells[1].execution_count = 1
    nb.cells[1].metadata["tags"] = ["raises-exception"]
    nb.cells[1].outputs = [
        nbformat.v4.new_output(
            "error",
            ename="ZeroDivisionError",
            evalue="division by zero",
            traceback=[f"File {REPO_ROOT / 'utils' / 'env.py'}:1"],
        )
    ]
    path = tmp_path / "tb.ipynb"
    nbformat.write(nb, path)
    found = notebooks.problems(path)
    assert len(found) == 1 and "machine path" in found[0]  # the tagged error itself is fine


class _Report:
    def __init__(self, nodeid, duration):
        self.nodeid, self.duration = nodeid, duration


class _Session:
    def __init__(self):
        self.exitstatus = 0
        self.config = type("Config", (), {"pluginmanager": type("PM", (), {})()})()
        self.config.pluginmanager.get_plugin = lambda name: None


@pytest.mark.parametrize(("cell_seconds", "status"), [(10.0, 0), (31.0, 1)])
def test_time_budget_plugin(monkeypatch, cell_seconds, status):
    monkeypatch.setattr(notebooks, "_durations", {})
    for i in range(3):
        notebooks.pytest_runtest_logreport(_Report(f"chapters/x.ipynb::Cell {i}", cell_seconds))
    notebooks.pytest_runtest_logreport(_Report("tests/test_env.py::test_a", 999.0))
    session = _Session()
    notebooks.pytest_sessionfinish(session, 0)
    assert notebooks._durations == {"chapters/x.ipynb": 3 * cell_seconds}
    assert session.exitstatus == status
