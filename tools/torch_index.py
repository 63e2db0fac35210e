"""Which package index the Makefile installs PyTorch from (run by the ``.venv`` bootstrap).

On Linux, PyPI's ``torch`` is the CUDA build, which pulls several GB of NVIDIA libraries that the
course (CPU only) never uses. PyTorch publishes a CPU-only build of the same version on its own
index. ``python tools/torch_index.py`` prints the index URL to install ``torch`` from, or nothing
when pip's own configuration should decide (then the Makefile installs exactly as before).

``TORCH_INDEX`` (environment or ``make ... TORCH_INDEX=...``) chooses:

* ``auto`` (the default): on Linux, PyTorch's CPU index when it answers within a few seconds
  and the learner has not set ``PIP_INDEX_URL``/``PIP_EXTRA_INDEX_URL`` themselves; nothing
  elsewhere (macOS and Windows wheels on PyPI are CPU builds already), nothing when the index
  cannot be reached (e.g. offline or behind a local package mirror);
* ``cpu``: PyTorch's CPU index, without asking first;
* ``cuda`` (or ``pypi``): nothing, so pip takes PyPI's default build (CUDA on Linux);
* a URL (``https://...``, ``file://...``): that index, e.g. a CUDA build of a given version
  (``https://download.pytorch.org/whl/cu126``).

Only the standard library is used: it runs before the ``.venv`` has any package.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import urllib.request
from collections.abc import Callable, Mapping

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
VARIABLE = "TORCH_INDEX"
PROBE_TIMEOUT_S = 5.0


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``url`` answers a HEAD request within ``timeout`` seconds (name lookup
    included: the request runs in a thread that is abandoned when it takes too long)."""
    answered: list[bool] = []

    def ask() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answered.append(response.status < 400)
        except Exception:
            answered.append(False)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return bool(answered and answered[0])


def choose_index(
    choice: str | None,
    environ: Mapping[str, str],
    system: str,
    probe: Callable[[str], bool] = reachable,
) -> tuple[str, str]:
    """``(index URL or "", why)`` for ``TORCH_INDEX=choice`` on ``system`` (``platform.system()``).

    Raises ``ValueError`` for a choice that is none of auto, cpu, cuda, pypi or a URL.
    """
    choice = (choice or "auto").strip()
    key = choice.lower()
    if key in ("cuda", "pypi"):
        return "", f"{VARIABLE}={choice}: PyTorch from pip's usual index (PyPI: CUDA on Linux)"
    if key == "cpu":
        return CPU_INDEX, f"{VARIABLE}=cpu: PyTorch's CPU build from {CPU_INDEX}"
    if "://" in choice:
        return choice, f"{VARIABLE}: PyTorch from {choice}"
    if key != "auto":
        raise ValueError(
            f"{VARIABLE} must be auto, cpu, cuda, pypi or an index URL, got {choice!r}"
        )
    if system != "Linux":
        return "", f"PyTorch from pip's usual index (PyPI's {system} build has no CUDA)"
    mine = [v for v in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL") if environ.get(v)]
    if mine:
        return "", f"PyTorch from the indexes you set ({', '.join(mine)})"
    if probe(CPU_INDEX + "/torch/"):
        return CPU_INDEX, (
            f"PyTorch's CPU build from {CPU_INDEX} (not PyPI's CUDA build, several GB more; "
            f"make ... {VARIABLE}=cuda to get that one)"
        )
    return "", f"PyTorch from pip's usual index ({CPU_INDEX} cannot be reached)"


def main() -> int:
    try:
        index, why = choose_index(os.environ.get(VARIABLE), os.environ, platform.system())
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(why, file=sys.stderr)
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
