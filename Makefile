# Transformers from the Ground Up: the commands.
#
#   make lab    open JupyterLab on the course (start with chapters/00_setup.ipynb)
#   make book   build the HTML book (offline) and print the page to open
#   make test   lint, unit tests, every notebook (nbval), the book with warnings as errors,
#               the slide decks, and the built book and decks checked in headless Chromium
#
# For instructors:
#   make slides   a reveal.js slide deck per chapter notebook, offline (book/_build/html/slides/)
#   make student  copies of the chapter notebooks without outputs, for a class (build/student/)
#
# Each target bootstraps .venv from the pinned requirements on first run and reinstalls
# only when requirements*.txt or pyproject.toml change.
#
# Settings (make test NAME=value, or in the environment):
#   NOTEBOOK_BUDGET  seconds each notebook may take under `make test`/`make execute` (default 90)
#   NOTEBOOKS        the notebooks or folders `make notebooks`/`make execute` run (default: all)
#   COURSE_THREADS   PyTorch threads in notebook runs (default 2, so results do not move with
#                    the machine's core count)
#   COURSE_DEVICE    cuda or auto: `make lab`'s training helpers use an NVIDIA GPU (default cpu;
#                    `make test`/`make execute` always run the notebooks on the CPU)
#   TORCH_INDEX      where the bootstrap gets PyTorch: auto (default), cpu, cuda or an index URL
#                    (see tools/torch_index.py)
#   PYTHON           the Python 3.11 to build .venv with

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Python 3.11 is what the pins are tested with; override with `make test PYTHON=/path/to/python3.11`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Notebooks run one at a time: each already uses every core through PyTorch, and two at once on
# a 2-core laptop ran 2-4x slower per notebook (measured). `make test JOBS=2` on a bigger machine.
JOBS   ?= 1
NOTEBOOKS ?= chapters solutions
COURSE_THREADS ?= 2
TORCH_INDEX ?= auto
# The course's JupyterLab settings (no news pop-up, no update check), installed into .venv.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/transformers-ground-up.json

export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Matplotlib keeps its font cache in the repo's .cache (Jupyter and the Hugging Face cache use
# their usual folders in your home directory).
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib

BOOK_FLAGS := --config book/_config.yml --toc book/_toc.yml --path-output book

# Nothing in the course needs the network after installation: the tests and the book make sure
# the Hugging Face Hub is never asked. (`make lab` leaves it allowed, for opt-in Hub models.)
book book-strict test lint unit notebooks execute slides student browser-check: export HF_HUB_OFFLINE := 1

# Notebook runs (`make notebooks`, `make execute`): a fixed thread count, the CPU (the committed
# outputs are the CPU's, whatever COURSE_DEVICE says), the time budget if you set one, and no
# network for any Python process of the run, the kernels included
# (tools/offline/sitecustomize.py; loopback stays open for Jupyter and torch.distributed).
# Set in each command, not exported, so that the bootstrap's pip is never blocked.
NOTEBOOK_ENV = COURSE_THREADS=$(COURSE_THREADS) COURSE_DEVICE=cpu COURSE_BLOCK_NETWORK=1 \
  PYTHONPATH="$(CURDIR)/tools/offline$${PYTHONPATH:+:$$PYTHONPATH}" \
  $(if $(NOTEBOOK_BUDGET),NOTEBOOK_BUDGET=$(NOTEBOOK_BUDGET))

.PHONY: help install book book-exec test lint unit notebooks book-strict lab execute clean distclean \
  slides student browser-check

help:
	@echo "make lab     open JupyterLab on the course (start with chapters/00_setup.ipynb)"
	@echo "make book    build the HTML book offline and print the page to open"
	@echo "make test    lint + unit tests + every notebook + strict book build + slides + browser check"
	@echo "             (a slow machine: make test NOTEBOOK_BUDGET=120)"
	@echo "make notebooks NOTEBOOKS=chapters/04_attention.ipynb   run and check some notebooks"
	@echo "make execute re-run every notebook in place (authors: refreshes committed outputs)"
	@echo "make slides  (instructors) a reveal.js deck per chapter notebook, offline"
	@echo "make student (instructors) notebook copies without outputs for a class, in build/student/"
	@echo "make browser-check  open the built book and decks in headless Chromium and check them"
	@echo "make clean   remove build outputs (keeps .venv)"

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "No python3 found. Install Python 3.11 and run: make $(MAKECMDGOALS) PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; \
	  print(f"Using Python {sys.version.split()[0]} ({sys.executable})"); \
	  v >= (3, 11) or sys.exit("Python 3.11 is needed (found %d.%d). Run: make $(MAKECMDGOALS) PYTHON=/path/to/python3.11" % v); \
	  v == (3, 11) or print("WARNING: the pins are tested on Python 3.11; if installation fails, use PYTHON=python3.11")'
	@# A .venv that is broken, or made by another Python than $(PYTHON), is rebuilt.
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1 || \
	    [ "$$($(BIN)/python -c 'import sys; print(sys.version_info[:2])')" != "$$($(PYTHON) -c 'import sys; print(sys.version_info[:2])')" ]; then \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "Could not create a virtual environment. On Debian/Ubuntu: sudo apt install python3.11-venv"; exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# On Linux, PyPI's torch is the CUDA build (several GB the course never uses): take PyTorch's
	@# CPU build when its index answers. tools/torch_index.py decides (TORCH_INDEX=cuda: PyPI's);
	@# when it prints nothing, pip's own configuration decides, as before.
	@index="$$(TORCH_INDEX='$(TORCH_INDEX)' $(BIN)/python tools/torch_index.py)"; \
	if [ -n "$$index" ]; then \
	  pin="$$(grep -E '^torch==' requirements.txt)"; \
	  echo "$(BIN)/python -m pip install --quiet --no-deps --index-url $$index $$pin"; \
	  $(BIN)/python -m pip install --quiet --no-deps --index-url "$$index" "$$pin" || \
	    echo "Could not install $$pin from $$index: pip's usual index is used instead."; \
	fi
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@mkdir -p $(dir $(LAB_SETTINGS)) && cp tools/jupyterlab/overrides.json $(LAB_SETTINGS)
	@touch $(STAMP)
	@echo "Environment ready in $(VENV)/"

# `make install` always reinstalls from the pins (e.g. after a package was changed by hand).
install:
	@rm -f $(STAMP)
	@$(MAKE) --no-print-directory $(STAMP)

# ---------------------------------------------------------------- the book
book: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	@echo
	@echo "Book built. Open this file in your browser:"
	@echo "  file://$(CURDIR)/book/_build/html/index.html"

# The book normally renders the outputs committed in the notebooks; this re-executes them first.
book-exec: execute book

book-strict: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/jupyter-book build . $(BOOK_FLAGS) --all -W -n --keep-going

# ---------------------------------------------------------------- the tests
# Notebooks are formatted narrower (88) than the library (100), to fit the book's code column.
lint: $(STAMP)
	$(BIN)/ruff check utils tests tools chapters solutions
	$(BIN)/ruff format --check utils tests tools
	$(BIN)/ruff format --check --line-length 88 chapters solutions

unit: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/python -m pytest tests

# The plugin tools/notebooks.py times every notebook against NOTEBOOK_BUDGET (default 90 s).
notebooks: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(NOTEBOOK_ENV) $(BIN)/python -m pytest --nbval-lax $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadscope) \
	  -p tools.notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)

# The browser check opens every page of the built book and every deck in headless Chromium
# (tools/browser_check.py). Without Chromium it says it was skipped and how to run it; CI sets
# BROWSER_CHECK_REQUIRED=1, which makes a missing Chromium a failure.
browser-check: $(STAMP)
	$(BIN)/python -m tools.browser_check --require-slides

test: lint unit notebooks book-strict slides browser-check
	@echo
	@echo "All checks passed: lint, unit tests, notebooks, book, slides, browser check."

# ---------------------------------------------------------------- for instructors
# Decks need reveal.js from npm (installed into .cache/slides on first use, from the committed
# lockfile tools/slides/package-lock.json); MathJax comes from the pinned Python packages.
slides: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/python -m tools.slides

# make student ZIP=1 also writes build/student.zip (for a learning platform)
student: $(STAMP)
	$(BIN)/python -m tools.student $(if $(ZIP),--zip)

# ---------------------------------------------------------------- working on the course
# (--allow-root only when run as root, e.g. in a container)
lab: $(STAMP) $(LAB_SETTINGS)
	$(BIN)/jupyter lab --notebook-dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root)

# (the bootstrap installs it; this keeps it up to date when the committed file changes)
$(LAB_SETTINGS): tools/jupyterlab/overrides.json | $(STAMP)
	@mkdir -p $(dir $@) && cp $< $@

execute: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/ruff format --quiet --line-length 88 $(NOTEBOOKS)
	$(NOTEBOOK_ENV) $(BIN)/python -m tools.notebooks execute $(NOTEBOOKS)

clean:
	rm -rf book/_build .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
