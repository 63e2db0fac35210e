"""Authors' and CI's tools for the course repository (not part of the learners' ``utils``).

* :mod:`tools.notebooks`: re-run notebooks in place and check them (``python -m tools.notebooks``,
  ``make execute``), and the pytest plugin that times every notebook under nbval
  (``pytest -p tools.notebooks``, ``make test``).
* ``tools/offline/sitecustomize.py``: blocks the network in every Python process of a notebook run
  (the notebooks' kernels included) when ``COURSE_BLOCK_NETWORK=1``; ``make test`` and
  ``make execute`` put that folder on ``PYTHONPATH``.
* ``tools/jupyterlab/overrides.json``: the course's JupyterLab settings, installed into
  ``.venv/share/jupyter/lab/settings/`` by the Makefile.

Run them from the repository's root folder (the Makefile does), so that ``tools`` is importable.
"""
