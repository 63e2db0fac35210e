# Transformers from the Ground Up: the commands.
#
#   make book   build the HTML book (offline) and print the page to open
#   make test   lint, unit tests, every notebook (nbval), and the book with warnings as errors
#   make lab    open JupyterLab on the course
#
# Each target bootstraps .venv from the pinned requirements on first run and reinstalls
# only when requirements*.txt or pyproject.toml change.

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

export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Matplotlib keeps its font cache in the repo's .cache (Jupyter and the Hugging Face cache use
# their usual folders in your home directory).
export MPLCONFIGDIR := $(CURDIR)/.cache/matplotlib

BOOK_FLAGS := --config book/_config.yml --toc book/_toc.yml --path-output book

# Nothing in the course needs the network after installation: the tests and the book make sure
# the Hugging Face Hub is never asked. (`make lab` leaves it allowed, for opt-in Hub models.)
book book-strict test lint unit notebooks execute: export HF_HUB_OFFLINE := 1

.PHONY: help install book book-exec test lint unit notebooks book-strict lab execute clean distclean

help:
	@echo "make book    build the HTML book offline and print the page to open"
	@echo "make test    lint + unit tests + every notebook + strict book build"
	@echo "make lab     open JupyterLab on the course"
	@echo "make execute re-run every notebook in place (authors: refreshes committed outputs)"
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
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
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
	$(BIN)/ruff check utils tests chapters solutions
	$(BIN)/ruff format --check utils tests
	$(BIN)/ruff format --check --line-length 88 chapters solutions

unit: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/python -m pytest tests

notebooks: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/python -m pytest --nbval-lax $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadscope) -p utils.notebooks \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg chapters solutions

test: lint unit notebooks book-strict
	@echo
	@echo "All checks passed: lint, unit tests, notebooks, book."

# ---------------------------------------------------------------- working on the course
# (--allow-root only when run as root, e.g. in a container)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root)

execute: $(STAMP)
	@mkdir -p .cache/matplotlib
	$(BIN)/ruff format --quiet --line-length 88 chapters solutions
	$(BIN)/python -m utils.notebooks execute chapters solutions

clean:
	rm -rf book/_build .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .cache
