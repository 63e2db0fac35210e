"""The student edition: copies of the chapter notebooks for a class to fill in.

``python -m tools.student [--out build/student] [--zip] [--force]`` (``make student``) writes a
copy of every notebook under ``chapters/`` (not ``solutions/``), keeping the folder structure,
into ``build/student/chapters/...``. The repository keeps its executed originals; the copies
have:

- no outputs, no execution counts, no widget state (the notebook's ``widgets`` metadata), and
  no cell metadata except ``tags``;
- empty exercise stubs: every code cell of a notebook's exercises section (the cells after a
  ``## Exercises`` heading, see :data:`EXERCISES_HEADING`) goes through :func:`stub_source`,
  which keeps imports, ``def``/``class`` lines, docstrings, comments and constant settings, and
  replaces any worked code with ``...  # your code here``. A cell tagged ``exercise-setup`` (data
  the exercise needs) is copied as it is;
- relative links that point outside the copied notebooks (``../solutions/...``) rewritten so
  that they still resolve from the copy's folder.

The copies are meant to be opened inside the course repository (``make lab``): they import
``utils`` from the course's virtual environment, which finds its data from its own location, so
they run from any folder. ``--zip`` also writes ``build/student.zip`` for a learning management
system, with paths from the repository's root (unzip it in the course folder).

A learner's edits are safe: ``<out>/.student-manifest.json`` records what was written, and a copy
that was changed since is not overwritten unless ``--force`` is given.

Run from the repository's root folder (the Makefile does), so that ``tools`` is importable.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import os
import re
import sys
import tokenize
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: The repository's root folder (this file is ``<root>/tools/student.py``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where the copies go by default, and the folder they are copied from.
DEFAULT_OUT = REPO_ROOT / "build" / "student"
SOURCE = REPO_ROOT / "chapters"
MANIFEST = ".student-manifest.json"

#: The heading that opens a notebook's exercises section: ``## Exercises``, ``### Exercise``,
#: ``## 9. Exercises``, ``## Try it yourself``. The section runs to the next heading of the same
#: or a higher level (in practice, to the end of the notebook).
EXERCISES_HEADING = re.compile(
    r"^(#{1,3})\s+(?:\d+(?:\.\d+)*\.?\s+)?(?:exercises?|try it yourself)\b", re.I | re.M
)
_HEADING = re.compile(r"^(#{1,6})\s", re.M)
#: A code cell with this tag in an exercises section is copied unchanged (setup the exercise
#: needs, e.g. loading data).
SETUP_TAG = "exercise-setup"
#: What replaces worked code.
STUB = "...  # your code here"
TOP_LEVEL_STUB = "# your code here"


# ------------------------------------------------------------------ exercise stubs


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_stub_statement(node: ast.stmt) -> bool:
    """``pass``, ``...`` or ``raise NotImplementedError(...)``."""
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _is_constant_setting(node: ast.stmt) -> bool:
    """``name = <literal>`` (``gates = 3``, ``GB = 1e9``): an interface setting, not an answer."""
    if isinstance(node, ast.Assign):
        value = node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        value = node.value
    else:
        return False
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _comment_lines(source: str) -> set[int]:
    """The (1-based) numbers of the lines that hold only a comment."""
    lines: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and not tok.line[: tok.start[1]].strip():
                lines.add(tok.start[0])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return lines


def _start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _mask_magics(source: str) -> tuple[str, set[int]]:
    """IPython's ``%magic`` and ``!shell`` lines as ``pass`` (same line numbers), so that
    ``ast`` can parse the cell; returns the masked source and those lines' numbers."""
    out, magics = [], set()
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(line[: len(line) - len(stripped)] + "pass")
            magics.add(number)
        else:
            out.append(line)
    return "\n".join(out), magics


class _Stubber:
    """Rewrites one cell's lines (see :func:`stub_source`)."""

    def __init__(self, source: str) -> None:
        self.lines = source.split("\n")
        masked, self.magics = _mask_magics(source)
        self.tree = ast.parse(masked)
        self.comments = _comment_lines(masked)
        self.drop: set[int] = set()  # line numbers removed
        self.insert: dict[int, list[str]] = {}  # stub lines to add after line n
        self.removed: list[str] = []  # what was taken out, for the report

    def _remove(self, first: int, last: int, what: str) -> None:
        for n in range(first, last + 1):
            if n not in self.comments:
                self.drop.add(n)
        self.removed.append(what)

    def _add(self, after: int, line: str) -> None:
        self.insert.setdefault(after, []).append(line)

    def _indent_of(self, n: int) -> str:
        line = self.lines[n - 1]
        return line[: len(line) - len(line.lstrip())]

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        body = node.body
        rest = body[1:] if _is_docstring(body[0]) else body
        if all(_is_stub_statement(s) for s in rest):  # also: a docstring only
            return
        if body[0].lineno == node.lineno:  # `def f(x): return x` on one line
            header = self.lines[node.lineno - 1]
            colon = _header_colon(header)
            self.lines[node.lineno - 1] = header[: colon + 1]
            indent = self._indent_of(node.lineno) + "    "
            self._add(node.lineno, indent + STUB)
            self._remove(node.lineno + 1, node.end_lineno, f"the body of {node.name}()")
            return
        # the body's comment lines stay, as hints; the stub comes after them
        self._remove(rest[0].lineno, node.end_lineno, f"the body of {node.name}()")
        self._add(node.end_lineno, self._indent_of(body[0].lineno) + STUB)

    def block(self, statements: list[ast.stmt], owner: ast.ClassDef | None) -> bool:
        """Stub a module's or a class's statements; True when a statement was removed."""
        removed = False
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(node)
            elif isinstance(node, ast.ClassDef):
                kept = node.body[1:] if _is_docstring(node.body[0]) else node.body
                if node.body[0].lineno == node.lineno and not all(map(_is_stub_statement, kept)):
                    raise SyntaxError(f"class {node.name} written on one line")
                if self.block(kept, node) and not any(
                    isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                    or _is_constant_setting(s)
                    or _is_stub_statement(s)
                    for s in kept
                ):
                    self._add(node.end_lineno, self._indent_of(kept[0].lineno) + STUB)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                continue
            elif owner is None and node.lineno in self.magics:  # (masked as `pass`)
                self._remove(node.lineno, node.end_lineno, self.lines[node.lineno - 1].strip())
                removed = True
            elif _is_constant_setting(node) or _is_stub_statement(node):
                continue
            else:
                where = f"class {owner.name}" if owner else "the cell"
                first_line = self.lines[node.lineno - 1].strip()
                self._remove(_start(node), node.end_lineno, f"{first_line[:60]!r} in {where}")
                removed = True
        return removed

    def result(self) -> str:
        top_removed = self.block(self.tree.body, None)
        lines: list[str] = []
        for n, line in enumerate(self.lines, 1):
            if n not in self.drop:
                lines.append(line)
            lines += self.insert.get(n, [])
        text = _squeeze_blank_lines("\n".join(lines))
        told = any(line.startswith("#") and "your code" in line.lower() for line in lines)
        if top_removed and not told:  # say where the top-level code goes
            gap = "\n\n\n" if text[text.rfind("\n") + 1 :].startswith(" ") else "\n\n"
            text = f"{text}{gap}{TOP_LEVEL_STUB}" if text else TOP_LEVEL_STUB
        return text


def _header_colon(line: str) -> int:
    """The index of the colon that ends a one-line ``def``'s header (outside brackets)."""
    depth = 0
    for i, ch in enumerate(line):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0 and line[i + 1 : i + 2] != "=":
            return i
    raise SyntaxError(f"no header colon in {line!r}")


def _squeeze_blank_lines(text: str) -> str:
    """At most two blank lines in a row (what ruff format allows between top-level defs)."""
    return re.sub(r"\n{4,}", "\n\n\n", text).strip("\n")


def stub_source(source: str) -> tuple[str, list[str]]:
    """An exercise cell's code with worked code replaced by stubs; and what was removed.

    The rule: imports, ``def``/``class`` lines, docstrings, comments, ``name = <literal>``
    settings and existing stubs (``pass``, ``...``, ``raise NotImplementedError``) stay; the
    body of a function that does more than a stub becomes ``...  # your code here`` (its
    comment lines stay, as hints); any other statement (a call, a print, a computed
    assignment, a loop) is removed, and ``# your code here`` ends the cell. A cell that is
    already a stub comes back unchanged. A cell that Python cannot parse keeps only its
    comment lines.

    >>> stub_source("def f(x):\\n    '''Double.'''\\n    return 2 * x\\n\\nprint(f(2))")[0]
    "def f(x):\\n    '''Double.'''\\n    ...  # your code here\\n\\n# your code here"
    """
    if not source.strip():
        return source, []
    try:
        stubber = _Stubber(source)
        text = stubber.result()
        removed = stubber.removed
    except SyntaxError as error:
        kept = [line for line in source.split("\n") if line.lstrip().startswith("#")]
        text = "\n".join([*kept, TOP_LEVEL_STUB])
        removed = [f"everything but the comments (the cell does not parse: {error.msg})"]
    if text == source.strip("\n") and not removed:
        return source, []
    return text, removed


# ------------------------------------------------------------------ notebooks


def exercise_cells(cells: list) -> list[int]:
    """The indices of the code cells in a notebook's exercises section.

    The section starts at the markdown cell with an :data:`EXERCISES_HEADING` and runs until a
    markdown cell opens a heading of the same or a higher level (``##`` ends a ``##`` section).
    """
    found: list[int] = []
    level = None
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            text = cell.source
            match = EXERCISES_HEADING.search(text)
            if match:
                level = len(match.group(1))
                # a later heading in the same cell closes the section
                after = [h for h in _HEADING.finditer(text) if h.start() > match.start()]
                if any(len(h.group(1)) <= level for h in after):
                    level = None
                continue
            if level is not None and any(len(h.group(1)) <= level for h in _HEADING.finditer(text)):
                level = None
        elif cell.cell_type == "code" and level is not None:
            found.append(i)
    return found


_LINK = re.compile(r"(\]\(|\b(?:href|src)=\")(?P<target>[^)\"#\s]+)(?P<anchor>#[^)\"\s]*)?")


def rewrite_links(text: str, original_dir: Path, copy_dir: Path, copied: set[Path]) -> str:
    """Make relative links of a markdown cell resolve from the copy's folder.

    A link to another copied notebook stays (the folder structure is kept); a link to any
    other file of the repository that exists (``../solutions/...``) is rewritten relative to
    ``copy_dir``. URLs, absolute paths and links to missing files are left alone.
    """

    def fix(match: re.Match) -> str:
        target = match.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("/", "#")):
            return match.group(0)
        resolved = (original_dir / target).resolve()
        if resolved in copied or not resolved.exists():
            return match.group(0)
        new = Path(os.path.relpath(resolved, copy_dir)).as_posix()
        return match.group(1) + new + (match.group("anchor") or "")

    return _LINK.sub(fix, text)


@dataclass
class Change:
    """One exercise cell the student edition changed."""

    notebook: str
    cell: int
    removed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell}: removed " + "; ".join(self.removed)


def student_notebook(nb, name: str = "", links: tuple[Path, Path, set[Path]] | None = None):
    """The student copy of a notebook (a new object; ``nb`` is not changed), and the list of
    exercise cells whose code was replaced by stubs (:class:`Change`).

    ``links``: ``(original folder, copy folder, copied notebooks)`` to rewrite relative links
    (see :func:`rewrite_links`); None leaves them alone.
    """
    import copy

    import nbformat

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    exercises = set(exercise_cells(nb.cells))
    changes: list[Change] = []
    for i, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        cell.metadata = nbformat.NotebookNode({"tags": tags} if tags else {})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if i in exercises and SETUP_TAG not in tags:
                text, removed = stub_source(cell.source)
                if removed:
                    cell.source = text
                    changes.append(Change(name, i, removed))
        elif cell.cell_type == "markdown" and links is not None:
            cell.source = rewrite_links(cell.source, *links)
    return nb, changes


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Report:
    """What :func:`build` did."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # edited by a learner, not overwritten
    changes: list[Change] = field(default_factory=list)
    sections: dict[str, int] = field(default_factory=dict)  # notebook -> exercise code cells
    archive: Path | None = None


README = """\
# Student edition of "Transformers from the Ground Up"

These are copies of the course's chapter notebooks ({count} notebooks) without their outputs,
for you to run and fill in. The exercise cells at the end of each chapter are empty stubs:
write your answers there. (The course repository keeps the executed originals in `chapters/`;
made with `make student` from {source}.)

## Open them

The copies need the course repository and its environment: they import the course's `utils`
package and read its data.

1. Put this folder at `build/student/` inside the course folder (the one with the `Makefile`).
   From the zip: unzip `student.zip` in the course folder; it creates `build/student/`.
2. In the course folder run `make lab` (the first run installs the environment).
3. In JupyterLab open `build/student/chapters/00_setup.ipynb` and work through the chapters
   in order, running each notebook from the top.

Links to the solutions (`solutions/`) and between chapters work from this folder.

Running `make student` again refreshes the copies but never overwrites a notebook you have
changed (it says which ones it kept; `python -m tools.student --force` replaces them).
"""


def build(
    out: Path = DEFAULT_OUT,
    source: Path = SOURCE,
    make_zip: bool = False,
    force: bool = False,
) -> Report:
    """Write the student edition of every notebook under ``source`` into ``out``, keeping the
    folder structure below the repository root (``out/chapters/...``)."""
    import nbformat

    from tools.notebooks import find_notebooks

    out, source = Path(out).resolve(), Path(source).resolve()
    root = REPO_ROOT if source.is_relative_to(REPO_ROOT) else source.parent
    if out == source or out.is_relative_to(source) or source.is_relative_to(out):
        raise ValueError(f"--out {out} must not contain or be inside {source}")
    notebooks = find_notebooks([source])
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {source}")
    manifest_path = out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    copied = {p.resolve() for p in notebooks}
    report = Report()
    for path in notebooks:
        rel = path.relative_to(root)
        target = out / rel
        key = rel.as_posix()
        if target.exists() and not force and manifest.get(key) != _digest(target):
            report.kept.append(target)
            continue
        nb = nbformat.read(path, as_version=4)
        links = (path.parent, target.parent, copied)
        student, changes = student_notebook(nb, key, links)
        nbformat.validate(student)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student, target)
        manifest[key] = _digest(target)
        report.written.append(target)
        report.changes += changes
        report.sections[key] = len(exercise_cells(student.cells))
    out.mkdir(parents=True, exist_ok=True)
    shown = _display(source)
    (out / "README.md").write_text(README.format(count=len(notebooks), source=shown))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    if make_zip:
        report.archive = write_zip(out)
    return report


def _display(path: Path) -> str:
    try:
        return path.relative_to(REPO_ROOT).as_posix() + "/"
    except ValueError:
        return path.name + "/"


def write_zip(out: Path) -> Path:
    """``<out>.zip`` with the copies and the README, named from the repository root when
    ``out`` is inside it (``build/student/chapters/...``), else from ``out``'s parent."""
    out = out.resolve()
    base = REPO_ROOT if out.is_relative_to(REPO_ROOT) else out.parent
    archive = out.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(out.rglob("*")):
            if f.is_file() and f.name != MANIFEST and ".ipynb_checkpoints" not in f.parts:
                zf.write(f, f.relative_to(base).as_posix())
    return archive


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.student", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/student)"
    )
    parser.add_argument("--zip", action="store_true", help="also write <out>.zip for an LMS")
    parser.add_argument(
        "--force", action="store_true", help="overwrite copies a learner has changed"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        report = build(args.out, make_zip=args.zip, force=args.force)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = _display(args.out.resolve())
    print(f"Student edition: {len(report.written)} notebooks written to {out}")
    with_ex = sum(1 for n in report.sections.values() if n)
    print(f"  {with_ex} of them have an exercises section with code cells")
    if report.changes:
        print("  exercise cells turned into stubs (they held worked code):")
        for change in report.changes:
            print(f"    {change}")
    else:
        print("  every exercise code cell was already a stub: copied as it is")
    if report.kept:
        print(f"  kept {len(report.kept)} notebooks changed since the last run (--force replaces):")
        for path in report.kept:
            print(f"    {_display(path)[:-1]}")
    if report.archive:
        print(f"  zip for an LMS: {_display(report.archive)[:-1]} (unzip it in the course folder)")
    print(f"Open them with `make lab`: see {out}README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
