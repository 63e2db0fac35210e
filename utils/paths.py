"""Where the course keeps its files.

Everything the course writes (downloads, saved models, matplotlib's font cache) goes under one
cache folder inside the repository, ``<repo>/.cache``, so that nothing is written elsewhere on a
learner's machine. Set the environment variable ``COURSE_CACHE_DIR`` to move it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's root folder (the one holding ``README.md`` and ``utils/``).
REPO_ROOT: Path = Path(__file__).resolve().parent.parent


def cache_dir(*parts: str, create: bool = True) -> Path:
    """Return ``<cache>/<parts...>``, creating the folder unless ``create=False``.

    The cache is ``$COURSE_CACHE_DIR`` if set, else ``<repo>/.cache``.

    >>> cache_dir("downloads").name
    'downloads'
    """
    for part in parts:
        if not isinstance(part, str) or not part or part in {".", ".."} or "/" in part:
            raise ValueError(f"cache_dir() takes plain folder names, got {part!r}")
    root = Path(os.environ.get("COURSE_CACHE_DIR") or REPO_ROOT / ".cache")
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
