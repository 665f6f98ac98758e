# `make serve` and `make test` bootstrap .venv from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install serve test lint eval bench clean

TORCH := torch==2.13.0
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	  echo "Verbatim needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "Install one and run: make PYTHON=python3.11 $(MAKECMDGOALS)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, from PyTorch's CPU index (a bare `torch` from PyPI pulls a multi-GB
	# CUDA build on Linux). Where that index is unreachable, PyPI's wheel (a local cache may hold the CPU one).
	$(PY) -m pip install --quiet --timeout 10 --retries 0 $(TORCH) --index-url $(TORCH_CPU_INDEX) \
	  || $(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(VENV)/bin/verbatim ingest
	$(VENV)/bin/verbatim serve

test: install
	$(PY) -m pytest

# Lint, format check, types and the import contract (what CI runs before the tests).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) data reports
