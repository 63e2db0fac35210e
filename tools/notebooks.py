"""Tools for the course's notebooks themselves (authors' and CI's side, not the learners').

``python -m tools.notebooks execute [paths...]`` (``make execute``) re-runs notebooks in place,
the way a learner would (a fresh kernel, top to bottom), stores their outputs, and reports how
long each took, failing when one breaks the time budget. ``python -m tools.notebooks check
[paths...]`` checks committed notebooks without running them (see :func:`problems`).

The module is also a pytest plugin (``pytest --nbval-lax -p tools.notebooks ...``, as
``make test`` runs it): it adds up each notebook's cell times, prints them with the budget, and
fails the run when a notebook takes longer than the budget, saying which one, by how much, its
slowest cells, and how to rerun it with a bigger budget.

The budget is :data:`DEFAULT_BUDGET_S` seconds per notebook (what a notebook may take on a
2-core CPU), or the environment variable ``NOTEBOOK_BUDGET`` (seconds) when it is set, e.g.
``make test NOTEBOOK_BUDGET=120`` on a slow or busy machine.

Run from the repository's root folder (the Makefile does), so that ``tools`` is importable.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

#: The repository's root folder (this file is ``<root>/tools/notebooks.py``).
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Every notebook must run in this many seconds on a 2-core CPU (unless NOTEBOOK_BUDGET says).
DEFAULT_BUDGET_S = 90
#: The environment variable that sets the budget, in seconds.
BUDGET_VARIABLE = "NOTEBOOK_BUDGET"


def time_budget() -> float:
    """The per-notebook time budget in seconds: ``$NOTEBOOK_BUDGET``, else
    :data:`DEFAULT_BUDGET_S`. Raises ``ValueError`` when the variable is not a positive number."""
    value = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not value:
        return float(DEFAULT_BUDGET_S)
    try:
        budget = float(value)
    except ValueError:
        budget = math.nan
    if not budget > 0:  # also catches nan
        raise ValueError(
            f"{BUDGET_VARIABLE} must be a positive number of seconds per notebook, got {value!r} "
            f"(e.g. {BUDGET_VARIABLE}=120; unset it for the default {DEFAULT_BUDGET_S} s)"
        )
    return budget


def _seconds(value: float) -> str:
    """``90`` for 90.0, ``92.5`` for 92.5: how a budget is written in messages and commands."""
    return f"{value:g}"


def suggest_budget(seconds: float) -> int:
    """A budget that leaves a notebook that took ``seconds`` a 25 % margin, in steps of 30 s."""
    return int(30 * math.ceil(seconds * 1.25 / 30))


_MACHINE = re.compile(
    "|".join(
        [
            r"site-packages/",
            r"/root/",
            r"/home/\w+",
            r"/Users/\w+",
            r"/tmp/",
            r"object at 0x[0-9a-f]+",
            re.escape(str(REPO_ROOT)),
            re.escape(str(Path.home())),
            re.escape(sys.prefix),
        ]
    )
)


def find_notebooks(paths: Iterable[str | Path]) -> list[Path]:
    """All ``.ipynb`` files under ``paths`` (files or folders), sorted, checkpoints skipped."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += [q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts]
        elif p.suffix == ".ipynb":
            found.append(p)
        else:
            raise FileNotFoundError(f"not a notebook or folder: {p}")
    return sorted(found)


def problems(path: str | Path) -> list[str]:
    """What is wrong with a committed notebook, one line per problem (empty: nothing).

    Checks: it has a title (``# ...``) first; its first code cell calls ``utils.setup(``; every
    code cell was executed and committed with its outputs; no output is an error unless the cell
    is tagged ``raises-exception``; no output shows a machine path or memory address.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    out: list[str] = []
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown" or not cells[0].source.startswith("# "):
        out.append("the first cell must be a markdown title ('# ...')")
    code = [c for c in cells if c.cell_type == "code" and c.source.strip()]
    if not code or "utils.setup(" not in code[0].source:
        out.append("the first code cell must call utils.setup()")
    for i, cell in enumerate(code, 1):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("execution_count") is None:
            out.append(f"code cell {i} was not executed (commit notebooks with outputs)")
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error" and "raises-exception" not in tags:
                out.append(f"code cell {i} has an error output ({o.get('ename')})")
            text = "".join(
                [
                    *o.get("text", ""),
                    *o.get("data", {}).get("text/plain", ""),
                    *o.get("traceback", []),
                    o.get("evalue", ""),
                ]
            )
            m = _MACHINE.search(text)
            if m:
                out.append(f"code cell {i} shows a machine path or address: {m.group(0)!r}")
    return out


def collapse_carriage_returns(text: str) -> str:
    """Keep what a terminal shows: on each line, only the text after the last ``\\r``.

    Progress bars redraw themselves with ``\\r``; a committed notebook should store the final
    frame, as Jupyter displays it, not every frame.
    """
    lines = text.split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)


def coalesce_streams(outputs: list) -> list:
    """Merge consecutive outputs of the same stream, then keep each line's final frame."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream":
            output["text"] = collapse_carriage_returns(output["text"])
    return [o for o in merged if o.get("output_type") != "stream" or o["text"].strip()]


def execute(path: str | Path, timeout: int = 600) -> float:
    """Run a notebook top to bottom in a fresh kernel and save its outputs; return the seconds."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:  # keep diffs small: no per-run metadata
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    nbformat.write(nb, path)
    return seconds


# ------------------------------------------------------------------ pytest plugin (nbval)

#: Seconds per notebook (every phase of every cell added up), in the order they ran.
_durations: dict[str, float] = {}
#: Seconds per cell, per notebook: ``{"chapters/x.ipynb": {"Cell 0": 1.2, ...}}``.
_cells: dict[str, dict[str, float]] = {}
#: The cells that failed (any phase), per notebook.
_failed: dict[str, list[str]] = {}


def _rerun_command(paths: Iterable[str], budget: float) -> str:
    return f"make notebooks NOTEBOOKS='{' '.join(paths)}' {BUDGET_VARIABLE}={_seconds(budget)}"


class _OverBudget:
    """An entry of pytest's summary counts (other plugins read those entries as reports)."""

    count_towards_summary = True

    def __init__(self, nodeid: str, seconds: float) -> None:
        self.nodeid, self.seconds = nodeid, seconds

    def __repr__(self) -> str:
        return f"{self.nodeid} ({self.seconds:.1f} s)"


def pytest_configure(config) -> None:
    """Check ``NOTEBOOK_BUDGET`` before any notebook runs (a typo should not cost a full run)."""
    import pytest

    try:
        time_budget()
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_runtest_logreport(report) -> None:
    """Add up every phase of every cell, per notebook (with xdist, on the controller too)."""
    path, _, cell = report.nodeid.partition("::")
    if not path.endswith(".ipynb"):  # a notebook outside the rootdir has "::Cell 0" as its id
        location = getattr(report, "location", None) or ("",)
        path = str(location[0])
        if not path.endswith(".ipynb"):
            return
    _durations[path] = _durations.get(path, 0.0) + report.duration
    cells = _cells.setdefault(path, {})
    cells[cell] = cells.get(cell, 0.0) + report.duration
    if getattr(report, "failed", False) and cell not in _failed.get(path, []):
        _failed.setdefault(path, []).append(cell)


def budget_report(budget: float) -> tuple[list[str], list[str]]:
    """The run-time table (one line a notebook, those over ``budget`` marked) and, for each one over
    ``budget``, the lines that say what failed and how to rerun it; ``([...], [])`` when every
    notebook kept to the budget."""
    table = []
    over = {p: t for p, t in _durations.items() if t > budget}
    for path, seconds in sorted(_durations.items()):
        flag = f"  OVER BUDGET by {seconds - budget:.1f} s" if path in over else ""
        table.append(f"{seconds:6.1f} s  {path}{flag}")
    if not over:
        return table, []
    details = [
        f"{len(over)} notebook(s) took longer than the {_seconds(budget)} s budget "
        f"({BUDGET_VARIABLE}; the budget is what a notebook may take on a 2-core CPU):"
    ]
    for path, seconds in sorted(over.items()):
        failed = _failed.get(path, [])
        cells = "its cells passed" if not failed else f"failed cells: {', '.join(failed)}"
        slowest = sorted(_cells.get(path, {}).items(), key=lambda kv: -kv[1])[:3]
        slow = ", ".join(f"{cell} {t:.1f} s" for cell, t in slowest)
        details.append(
            f"  {path}: {seconds:.1f} s, {seconds - budget:.1f} s over ({cells}); slowest: {slow}"
        )
    bigger = max(suggest_budget(max(over.values())), int(budget) + 30)
    details += [
        "A slow or busy machine (e.g. another job running) can take longer than that. "
        "To rerun with a bigger budget:",
        f"  {_rerun_command(sorted(over), bigger)}",
        f"or the whole run: make test {BUDGET_VARIABLE}={bigger}",
        "If it is over the budget on an idle 2-core machine too, the notebook must get faster.",
    ]
    return table, details


#: What :func:`pytest_sessionfinish` found, for :func:`pytest_terminal_summary` to print.
_summary: dict[str, object] = {}


def pytest_sessionfinish(session, exitstatus) -> None:
    """Fail the run when a notebook was over the budget, and count those notebooks in pytest's
    last line ("300 passed, 1 over time budget in ...")."""
    _summary.clear()
    if hasattr(session.config, "workerinput") or not _durations:
        return  # an xdist worker (the controller reports), or no notebook ran
    budget = time_budget()
    table, details = budget_report(budget)
    _summary.update(budget=budget, table=table, details=details)
    if details:
        session.exitstatus = 1
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.stats.setdefault("over time budget", []).extend(
                _OverBudget(p, t) for p, t in sorted(_durations.items()) if t > budget
            )


def pytest_terminal_summary(terminalreporter) -> None:
    """The run-time table, and what to do about a notebook over the budget."""
    if not _summary:
        return
    budget, table, details = _summary["budget"], _summary["table"], _summary["details"]
    total = sum(_durations.values())
    terminalreporter.section(
        f"notebook run times: {len(_durations)} notebooks, {total:.0f} s in all "
        f"(budget {_seconds(budget)} s each; set {BUDGET_VARIABLE} to change it)"
    )
    for line in table:
        terminalreporter.write_line(line, red="OVER BUDGET" in line)
    if details:
        terminalreporter.write_line("")
        for line in details:
            terminalreporter.write_line(line, red=True, bold=line is details[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.notebooks", description=__doc__)
    parser.add_argument("command", choices=["execute", "check"])
    parser.add_argument("paths", nargs="*", default=["chapters", "solutions"])
    args = parser.parse_args(argv)
    try:
        budget = time_budget()
    except ValueError as error:
        parser.error(str(error))
    notebooks = find_notebooks(REPO_ROOT / p if not Path(p).exists() else p for p in args.paths)
    if args.command == "execute":
        print(f"Running {len(notebooks)} notebook(s), budget {_seconds(budget)} s each", flush=True)
    failed, over = 0, {}
    for nb in notebooks:
        name = nb.resolve()
        name = (name.relative_to(REPO_ROOT) if name.is_relative_to(REPO_ROOT) else name).as_posix()
        if args.command == "execute":
            seconds = execute(nb)
            flag = ""
            if seconds > budget:
                over[name] = seconds
                flag = f"  OVER the {_seconds(budget)} s budget by {seconds - budget:.1f} s"
            print(f"{seconds:6.1f} s  {name}{flag}", flush=True)
        issues = problems(nb)
        failed += bool(issues)
        for issue in issues:
            print(f"  {name}: {issue}")
    if over:
        bigger = max(suggest_budget(max(over.values())), int(budget) + 30)
        print(
            f"{len(over)} notebook(s) took longer than the {_seconds(budget)} s budget "
            f"({BUDGET_VARIABLE}); their outputs are saved. On a slow or busy machine, check "
            f"them with a bigger budget:\n  {_rerun_command(sorted(over), bigger)}"
        )
    return 1 if failed or over else 0


if __name__ == "__main__":
    sys.exit(main())
