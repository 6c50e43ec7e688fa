# Every target shares one virtual environment; `make demo` needs only the runtime set, the checks the dev set.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.DEFAULT_GOAL := help
.PHONY: help install install-runtime docs test test-fast lint demo bench gpu-check fuzz gui clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

# PyTorch wheels: TORCH=auto (default) takes the CPU-only ones when no NVIDIA GPU is present, TORCH=cpu
# always, TORCH=default never; see scripts/install_venv.sh. Two stamps: the runtime set (`make demo`)
# and the dev set (`make test`), which includes the runtime set.
TORCH ?= auto
export TORCH

$(RUNTIME_STAMP): pyproject.toml
	PYTHON=$(PYTHON) scripts/install_venv.sh $(VENV)
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) scripts/install_venv.sh $(VENV) dev
	touch $(STAMP) $(RUNTIME_STAMP)

install: $(STAMP) ## create .venv with the dev set: tests, lint, docs and every extra (TORCH=auto|cpu|default)

install-runtime: $(RUNTIME_STAMP) ## create .venv with the runtime set only: demo, train, stylize, report, GUI

lint: $(STAMP) ## ruff, the layer contract (lint-imports) and mypy over src/
	$(VENV)/bin/ruff check $(wildcard src tests scripts benchmarks)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src

# -n: pytest-xdist workers (one per core, one torch thread each: tests/conftest.py); a test marked
# xdist_group(name), such as the memory-heavy ones, holds a file lock of that name, so no two run at once; each test has a generous time limit (pytest-timeout, in
# pyproject's addopts) so a stuck test is named, and pytest lists the 10 slowest (--durations=10).
JOBS ?= auto

test: lint ## the checks of `make lint`, then the whole test suite (CPU, no network, the docs site included)
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup --durations=10

test-fast: $(STAMP) ## the test suite without the `slow` tests
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup --durations=10 -m "not slow"

docs: $(STAMP) ## build the documentation site into outputs/site/ (mkdocs serve: the same, live)
	$(VENV)/bin/mkdocs build --strict

demo: $(RUNTIME_STAMP) ## pretrained AdaIN pictures (when downloadable), then a short training, into outputs/demo/
	$(PY) -m stylexfer.demo

bench: $(STAMP) ## the performance benchmark (prints a table, writes outputs/bench/*.json)
	$(PY) -m benchmarks

gpu-check: $(STAMP) ## the GPU path in one table (fp32 / bf16+channels_last / bf16+compile); < 8 min on one GPU
	PYTHON=$(PY) scripts/gpu_check.sh

fuzz: $(STAMP) ## feed 10,000 malformed images through the image loader and print the tally
	$(PY) scripts/fuzz_images.py --count 10000

gui: $(RUNTIME_STAMP) ## open the Tkinter GUI
	$(VENV)/bin/stylexfer gui

clean: ## remove the virtual environment and caches (keeps outputs/)
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
