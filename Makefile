# motia_nb — two commands do all set-up: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test bench venv clean

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

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
