# Every target shares one virtual environment and one install stamp.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint demo bench gpu-check fuzz gui clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

# TORCH=cpu: PyTorch's CPU-only wheels, without the CUDA libraries of the default wheel (whose install
# measured 5.7 GB); everything else still comes from the default index.
TORCH ?=
TORCH_INDEX := $(if $(filter cpu,$(TORCH)),--index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple,)

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing stylexfer with its dev extras (a few minutes; pip shows its progress)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install --progress-bar on $(TORCH_INDEX) -e '.[dev]'
	touch $(STAMP)
	@echo "== installed: $$(du -sh $(VENV) | cut -f1) in $(VENV); activate it with: source $(VENV)/bin/activate"

install: $(STAMP) ## create .venv and install the project with its dev extras (TORCH=cpu: CPU-only PyTorch)

lint: $(STAMP) ## ruff, the layer contract (lint-imports) and mypy over src/
	$(VENV)/bin/ruff check $(wildcard src tests scripts benchmarks)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src

test: lint ## the checks of `make lint`, then the whole test suite (CPU, no network)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## the test suite without the `slow` tests (under a minute on 2 cores)
	$(PY) -m pytest -q -m "not slow"

demo: $(STAMP) ## pretrained AdaIN pictures (when downloadable), then a short training, into outputs/demo/
	$(PY) -m stylexfer.demo

bench: $(STAMP) ## the performance benchmark (prints a table, writes outputs/bench/*.json)
	$(PY) -m benchmarks

gpu-check: $(STAMP) ## the GPU path in one table (fp32 / bf16+channels_last / bf16+compile); < 8 min on one GPU
	PYTHON=$(PY) scripts/gpu_check.sh

fuzz: $(STAMP) ## feed 10,000 malformed images through the image loader and print the tally
	$(PY) scripts/fuzz_images.py --count 10000

gui: $(STAMP) ## open the Tkinter GUI
	$(VENV)/bin/stylexfer gui

clean: ## remove the virtual environment and caches (keeps outputs/)
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
