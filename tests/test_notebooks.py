"""Checks of the committed notebooks and the book's structure (the notebooks themselves are
executed by `make notebooks`, with nbval), and of the notebook tools in ``tools/``."""

import re

import nbformat
import pytest
import yaml

from tools import notebooks
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
    def __init__(self, nodeid, duration, failed=False):
        self.nodeid, self.duration, self.failed = nodeid, duration, failed


class _Reporter:
    def __init__(self):
        self.lines, self.stats = [], {}

    def section(self, title):
        self.lines.append(f"== {title} ==")

    def write_line(self, line, **markup):
        self.lines.append(line)


class _Session:
    def __init__(self):
        self.exitstatus = 0
        self.reporter = _Reporter()
        self.config = type("Config", (), {"pluginmanager": type("PM", (), {})()})()
        self.config.pluginmanager.get_plugin = lambda name: self.reporter


def _run_plugin(monkeypatch, cell_seconds, failed=()):
    """Feed the plugin three cells of chapters/x.ipynb and one unit test; finish the session."""
    for name in ("_durations", "_cells", "_failed", "_summary"):
        monkeypatch.setattr(notebooks, name, {})
    for i, seconds in enumerate(cell_seconds):
        nodeid = f"chapters/x.ipynb::Cell {i}"
        notebooks.pytest_runtest_logreport(_Report(nodeid, seconds, failed=i in failed))
    notebooks.pytest_runtest_logreport(_Report("tests/test_env.py::test_a", 999.0))
    session = _Session()
    notebooks.pytest_sessionfinish(session, 0)
    notebooks.pytest_terminal_summary(session.reporter)
    return session


@pytest.mark.parametrize(("cell_seconds", "status"), [(10.0, 0), (31.0, 1)])
def test_time_budget_plugin(monkeypatch, cell_seconds, status):
    monkeypatch.delenv("NOTEBOOK_BUDGET", raising=False)
    session = _run_plugin(monkeypatch, [cell_seconds] * 3)
    assert notebooks._durations == {"chapters/x.ipynb": 3 * cell_seconds}
    assert session.exitstatus == status
    report = "\n".join(session.reporter.lines)
    assert "budget 90 s each" in report and "NOTEBOOK_BUDGET" in report
    assert f"{3 * cell_seconds:6.1f} s  chapters/x.ipynb" in report
    assert ("OVER BUDGET" in report) == bool(status)
    assert ("over time budget" in session.reporter.stats) == bool(status)


def test_time_budget_report_says_what_failed_and_how_to_rerun(monkeypatch):
    monkeypatch.delenv("NOTEBOOK_BUDGET", raising=False)
    session = _run_plugin(monkeypatch, [5.0, 80.0, 10.0], failed={2})
    report = "\n".join(session.reporter.lines)
    assert session.exitstatus == 1
    assert "95.0 s  chapters/x.ipynb  OVER BUDGET by 5.0 s" in report
    assert "took longer than the 90 s budget" in report
    assert "95.0 s, 5.0 s over (failed cells: Cell 2)" in report
    assert "slowest: Cell 1 80.0 s, Cell 2 10.0 s, Cell 0 5.0 s" in report
    assert "make notebooks NOTEBOOKS='chapters/x.ipynb' NOTEBOOK_BUDGET=120" in report
    assert "make test NOTEBOOK_BUDGET=120" in report
    assert [r.nodeid for r in session.reporter.stats["over time budget"]] == ["chapters/x.ipynb"]


def test_time_budget_is_settable(monkeypatch):
    monkeypatch.setenv("NOTEBOOK_BUDGET", "120")
    assert notebooks.time_budget() == 120
    session = _run_plugin(monkeypatch, [31.0] * 3)  # 93 s: within 120
    assert session.exitstatus == 0
    assert "budget 120 s each" in "\n".join(session.reporter.lines)
    monkeypatch.setenv("NOTEBOOK_BUDGET", "45.5")
    assert notebooks.time_budget() == 45.5
    session = _run_plugin(monkeypatch, [20.0] * 3)
    assert session.exitstatus == 1
    assert "the 45.5 s budget" in "\n".join(session.reporter.lines)
    monkeypatch.setenv("NOTEBOOK_BUDGET", "")
    assert notebooks.time_budget() == notebooks.DEFAULT_BUDGET_S == 90


@pytest.mark.parametrize("value", ["0", "-5", "fast", "nan"])
def test_bad_time_budget(monkeypatch, value):
    monkeypatch.setenv("NOTEBOOK_BUDGET", value)
    with pytest.raises(ValueError, match="NOTEBOOK_BUDGET must be a positive number of seconds"):
        notebooks.time_budget()
    with pytest.raises(pytest.UsageError, match="NOTEBOOK_BUDGET"):
        notebooks.pytest_configure(None)


def test_suggest_budget():
    assert notebooks.suggest_budget(95.0) == 120
    assert notebooks.suggest_budget(100.0) == 150
    assert notebooks.suggest_budget(10.0) == 30


def test_tools_are_not_part_of_the_learners_library():
    assert notebooks.__name__ == "tools.notebooks"
    assert not (REPO_ROOT / "utils" / "notebooks.py").exists()
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert re.search(r'^packages = \["utils"\]$', pyproject, re.M)
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "-p tools.notebooks" in makefile and "-m tools.notebooks execute" in makefile
    for path in NOTEBOOKS:  # notebooks use the library, never the authors' tools
        assert "tools" not in {
            line.split()[1].split(".")[0]
            for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code"
            for line in cell.source.splitlines()
            if line.startswith(("import ", "from "))
        }, path
