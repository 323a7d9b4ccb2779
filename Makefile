# motia_nb — two commands do all set-up: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# One venv, one stamp per set of extras: `make lab` installs only what the lab needs, and
# `make test` after it installs the rest (the test and bench extras) into the same venv.
LAB_STAMP  := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test

.PHONY: lab test bench venv venv-motia workers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[lab]'
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

venv: $(LAB_STAMP) $(TEST_STAMP)

# A second venv with the real Motia SDK (motia 1.0.4rc1 + the iii-sdk it works with; never
# installed into .venv, which must stay without the real motia package). Its python runs a
# kernel with the real package (tests/test_motia_kernel.py) and its `motia run` is the real
# worker that connects to the kernel's engine endpoint (tests/test_engine_*.py).
MOTIA_VENV  ?= .venv-motia
MOTIA_STAMP := $(MOTIA_VENV)/.installed
MOTIA_PINS  := motia==1.0.4rc1 iii-sdk==0.9.0

$(MOTIA_STAMP): pyproject.toml
	$(PYTHON) -m venv $(MOTIA_VENV)
	$(MOTIA_VENV)/bin/python -m pip install -q --upgrade pip
	$(MOTIA_VENV)/bin/python -m pip install -q -e . $(MOTIA_PINS)
	touch $(MOTIA_STAMP)

venv-motia: $(MOTIA_STAMP)

# The other real workers: a bare iii-sdk 0.25 Python worker, and a Node worker on npm's
# iii-sdk (skipped when npm is absent; CI installs it).
III_STAMP    := .venv-iii/.installed
NODE_STAMP   := tests/workers/node/node_modules/.installed

$(III_STAMP):
	$(PYTHON) -m venv .venv-iii
	.venv-iii/bin/python -m pip install -q iii-sdk==0.25.0
	touch $@

$(NODE_STAMP): tests/workers/node/package.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/workers/node && npm install --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the Node worker tests will be skipped (they fail under CI=true)"; fi

workers: $(MOTIA_STAMP) $(III_STAMP) $(NODE_STAMP)

# As root (containers) JupyterLab needs --allow-root; with no screen it opens no
# browser and prints the URL to open instead.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,) \
	$(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

# The lab also gets .venv-motia: lesson 9 starts a real `motia run` worker from a cell. The
# tutorials are trusted, so JupyterLab draws the saved viewer of lesson 6 before it runs.
lab: $(LAB_STAMP) $(MOTIA_STAMP)
	$(BIN)/python -m jupyter trust notebooks/*.ipynb >/dev/null
	@echo "Starting JupyterLab on notebooks/ (Ctrl-C to stop); open the URL printed below."
	$(BIN)/python -m jupyter lab --notebook-dir=notebooks $(LAB_FLAGS) $(LAB_ARGS)

test: $(TEST_STAMP) workers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(MOTIA_VENV) .venv-iii tests/workers/node/node_modules .pytest_cache build *.egg-info
