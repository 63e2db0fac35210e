"""Tools for the course's notebooks themselves (authors' side).

``python -m utils.notebooks execute [paths...]`` re-runs notebooks in place, the way a learner
would (a fresh kernel, top to bottom), stores their outputs, and reports how long each took,
failing when one breaks the course's time budget. ``python -m utils.notebooks check [paths...]``
checks committed notebooks without running them (see :func:`problems`).

The module is also a pytest plugin (``pytest --nbval-lax -p utils.notebooks ...``, as
``make test`` runs it): it adds up each notebook's cell times and fails the run when a notebook
takes longer than :data:`TIME_BUDGET_S`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from .paths import REPO_ROOT

#: Every chapter notebook must run in this many seconds on a 2-core CPU.
TIME_BUDGET_S = 90

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

_durations: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    """Add up every phase of every cell, per notebook (with xdist, on the controller too)."""
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _durations[path] = _durations.get(path, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus) -> None:
    if hasattr(session.config, "workerinput") or not _durations:
        return  # an xdist worker: the controller reports
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    over = {p: t for p, t in _durations.items() if t > TIME_BUDGET_S}
    if reporter is not None:
        reporter.section(f"notebook run times (budget {TIME_BUDGET_S} s each)")
        for path, seconds in sorted(_durations.items()):
            flag = "  OVER BUDGET" if path in over else ""
            reporter.write_line(f"{seconds:6.1f} s  {path}{flag}")
    if over:
        session.exitstatus = 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.notebooks", description=__doc__)
    parser.add_argument("command", choices=["execute", "check"])
    parser.add_argument("paths", nargs="*", default=["chapters", "solutions"])
    args = parser.parse_args(argv)
    notebooks = find_notebooks(REPO_ROOT / p if not Path(p).exists() else p for p in args.paths)
    failed = 0
    for nb in notebooks:
        name = nb.resolve().relative_to(REPO_ROOT)
        if args.command == "execute":
            seconds = execute(nb)
            over = seconds > TIME_BUDGET_S
            failed += over
            flag = f"  OVER the {TIME_BUDGET_S} s budget" if over else ""
            print(f"{seconds:6.1f} s  {name}{flag}", flush=True)
        issues = problems(nb)
        failed += bool(issues)
        for issue in issues:
            print(f"  {name}: {issue}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
