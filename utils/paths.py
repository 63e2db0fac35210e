"""Where the course keeps its files.

Everything the course writes (downloads, saved models, matplotlib's font cache) goes under one
cache folder inside the repository, ``<repo>/.cache``, so that nothing is written elsewhere on a
learner's machine. Set the environment variable ``COURSE_CACHE_DIR`` to move it.

The repository is found from where this package is, so ``utils`` must be the repository's own
folder: an editable install (``make install`` or ``pip install -e .``). A plain
``pip install .`` copies ``utils`` into ``site-packages``, away from the chapters and the data;
:func:`repo_root` (and :func:`cache_dir`, which needs it) then raises ``RuntimeError`` and says
so.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's root folder (the one holding ``README.md``, ``chapters/`` and ``utils/``),
#: found as the parent of this package's folder. :func:`repo_root` checks that it really is.
REPO_ROOT: Path = Path(__file__).resolve().parent.parent


def repo_root() -> Path:
    """:data:`REPO_ROOT`, after checking that it is the course repository: ``README.md``,
    ``chapters/`` and ``utils/`` side by side. Raises ``RuntimeError`` otherwise (``utils`` was
    installed without ``-e``), saying how to install it."""
    expected = {"README.md": Path.is_file, "chapters": Path.is_dir, "utils": Path.is_dir}
    missing = [name for name, exists in expected.items() if not exists(REPO_ROOT / name)]
    if missing:
        raise RuntimeError(
            f"utils is installed in {REPO_ROOT}, which is not the course repository (no "
            f"{', '.join(missing)} there). The course needs an editable install, so that utils "
            "stays inside the repository: in the repository folder run `make install` "
            "(or `pip install -e .`)."
        )
    return REPO_ROOT


def cache_dir(*parts: str, create: bool = True) -> Path:
    """Return ``<cache>/<parts...>``, creating the folder unless ``create=False``.

    The cache is ``$COURSE_CACHE_DIR`` if set, else ``<repo>/.cache`` (which needs the
    repository: see :func:`repo_root`).

    >>> cache_dir("downloads").name
    'downloads'
    """
    for part in parts:
        if not isinstance(part, str) or not part or part in {".", ".."} or "/" in part:
            raise ValueError(f"cache_dir() takes plain folder names, got {part!r}")
    override = os.environ.get("COURSE_CACHE_DIR")
    root = Path(override) if override else repo_root() / ".cache"
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def short_path(path: str | os.PathLike) -> str:
    """Show ``path`` relative to the repository (or to ``site-packages``) for printing.

    Notebook outputs are committed, so they must not show a learner's home folder.

    >>> short_path(REPO_ROOT / "utils" / "paths.py")
    'utils/paths.py'
    """
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        pass
    parts = p.parts
    if "site-packages" in parts:
        return "<site-packages>/" + "/".join(parts[parts.index("site-packages") + 1 :])
    return p.name
