# motia_nb — two commands do all set-up: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test bench venv workers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[lab,test,bench]'
	touch $(STAMP)

venv: $(STAMP)

# As root (containers) JupyterLab needs --allow-root; with no screen it opens no
# browser and prints the URL to open instead.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,) \
	$(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

lab: $(STAMP)
	@echo "Starting JupyterLab on notebooks/ (Ctrl-C to stop); open the URL printed below."
	$(BIN)/python -m jupyter lab --notebook-dir=notebooks $(LAB_FLAGS) $(LAB_ARGS)

# Real Motia workers for tests/test_engine_*.py (never installed into .venv, which must
# stay without the real motia package): motia 1.0.4rc1 on iii-sdk 0.9.0, a bare iii-sdk
# 0.25 worker, and a Node worker on npm's iii-sdk (skipped when npm is absent).
WORKER_STAMP := .venv-worker/.installed
III_STAMP    := .venv-iii/.installed
NODE_STAMP   := tests/workers/node/node_modules/.installed

$(WORKER_STAMP):
	$(PYTHON) -m venv .venv-worker
	.venv-worker/bin/python -m pip install -q motia==1.0.4rc1 iii-sdk==0.9.0
	touch $@

$(III_STAMP):
	$(PYTHON) -m venv .venv-iii
	.venv-iii/bin/python -m pip install -q iii-sdk==0.25.0
	touch $@

$(NODE_STAMP): tests/workers/node/package.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/workers/node && npm install --no-audit --no-fund --silent && touch node_modules/.installed; \
	else echo "npm not found: the Node worker tests will be skipped (they fail under CI=true)"; fi

workers: $(WORKER_STAMP) $(III_STAMP) $(NODE_STAMP)

test: $(STAMP) workers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .venv-worker .venv-iii tests/workers/node/node_modules .pytest_cache build *.egg-info
