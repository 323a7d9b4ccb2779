# motia_nb — two commands do all set-up: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test bench venv venv-motia clean

# A second venv with the real Motia SDK (motia 1.0.4rc1 + the iii-sdk it works with),
# so the tests run Motia step files against the real package too (tests/test_motia_kernel.py).
MOTIA_VENV  ?= .venv-motia
MOTIA_STAMP := $(MOTIA_VENV)/.installed
MOTIA_PINS  := motia==1.0.4rc1 iii-sdk==0.9.0

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[lab,test,bench]'
	touch $(STAMP)

venv: $(STAMP)

$(MOTIA_STAMP): pyproject.toml
	$(PYTHON) -m venv $(MOTIA_VENV)
	$(MOTIA_VENV)/bin/python -m pip install -q --upgrade pip
	$(MOTIA_VENV)/bin/python -m pip install -q -e . $(MOTIA_PINS)
	touch $(MOTIA_STAMP)

venv-motia: $(MOTIA_STAMP)

# As root (containers) JupyterLab needs --allow-root; with no screen it opens no
# browser and prints the URL to open instead.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,) \
	$(if $(or $(DISPLAY),$(WAYLAND_DISPLAY),$(filter Darwin,$(shell uname -s))),,--no-browser)

lab: $(STAMP)
	@echo "Starting JupyterLab on notebooks/ (Ctrl-C to stop); open the URL printed below."
	$(BIN)/python -m jupyter lab --notebook-dir=notebooks $(LAB_FLAGS) $(LAB_ARGS)

test: $(STAMP) $(MOTIA_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(MOTIA_VENV) .pytest_cache build *.egg-info
