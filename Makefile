# cnnlab: `make` or `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2
MLFLOW_URI ?= sqlite:///$(CURDIR)/mlflow.db

# (Re)install when the venv is missing or pyproject.toml changed since the last install.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: help install train sweep profile test test-all lint format ui clean bench bench-data bench-im2col bench-zoo

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo '  pass Hydra overrides with ARGS, e.g. make train ARGS="model=simple_convnet trainer.epochs=3"'

install: $(INSTALLED) ## create .venv and install cnnlab with its dev tools

train: $(INSTALLED) ## train a model (default: LeNet-5 on the embedded digits) and log it to MLflow
	$(PY) pipelines/train.py $(ARGS)

profile: $(INSTALLED) ## per-layer parameters, multiply-adds and activation memory, e.g. ARGS="model=vgg16"
	$(PY) pipelines/profile.py $(ARGS)

test: $(INSTALLED) ## run the fast test suite (offline, CPU, a few minutes)
	$(PY) -m pytest -n 2 --dist loadgroup -q $(ARGS)

test-all: $(INSTALLED) ## run every test, the slow ones too
	$(PY) -m pytest -n 2 --dist loadgroup -q -m "slow or not slow" $(ARGS)

lint: $(INSTALLED) ## check style with ruff
	$(PY) -m ruff check src pipelines tests benchmarks
	$(PY) -m ruff format --check src pipelines tests benchmarks

format: $(INSTALLED) ## format and fix what ruff can
	$(PY) -m ruff format src pipelines tests benchmarks
	$(PY) -m ruff check --fix src pipelines tests benchmarks

bench-data: $(INSTALLED) ## input pipeline vs training images/s, per augmentation recipe (a few minutes)
	$(PY) benchmarks/input_pipeline.py $(ARGS)

bench-im2col: $(INSTALLED) ## im2col conv/pool layers vs Keras Conv2D/MaxPooling2D: time ratios, GFLOP/s, memory
	$(PY) benchmarks/im2col.py $(ARGS)

bench-zoo: $(INSTALLED) ## every model: size at its paper input, digits accuracy after a short run (~1 h)
	$(PY) benchmarks/digits_zoo.py $(ARGS)

bench: $(INSTALLED) ## run every benchmark in benchmarks/ (several minutes each)
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

sweep: $(INSTALLED) ## sweep hyperparameters, e.g. ARGS="hparams_search=lenet5_digits hydra.sweeper.n_trials=20"
	$(PY) pipelines/train.py --multirun $(ARGS)

ui: $(INSTALLED) ## serve the MLflow dashboard on http://127.0.0.1:5000, opening on the training runs
	$(PY) -m cnnlab.tracking.dashboard --uri $(MLFLOW_URI) --address 127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri $(MLFLOW_URI) --host 127.0.0.1 --port 5000

clean: ## remove outputs, caches and the local MLflow store (keeps .venv)
	rm -rf outputs multirun mlflow.db mlartifacts mlruns .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
