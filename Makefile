# Every target shares one virtual environment and one install stamp.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint demo bench fuzz gui clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev extras

lint: $(STAMP) ## ruff over the sources, tests and scripts
	$(VENV)/bin/ruff check $(wildcard src tests scripts)

test: $(STAMP) ## ruff, then the whole test suite (CPU, no network)
	$(VENV)/bin/ruff check $(wildcard src tests scripts)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## the test suite without the subprocess-heavy `slow` tests
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP) ## train a small AdaIN model on the embedded sample set, then stylize samples into outputs/demo/
	$(PY) -m stylexfer.demo

bench: $(STAMP) ## the performance benchmark (prints a table, writes outputs/bench/*.json)
	$(PY) scripts/bench.py

fuzz: $(STAMP) ## feed 10,000 malformed images through the image loader and print the tally
	$(PY) scripts/fuzz_images.py --count 10000

gui: $(STAMP) ## open the Tkinter GUI
	$(VENV)/bin/stylexfer gui

clean: ## remove the virtual environment and caches (keeps outputs/)
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
