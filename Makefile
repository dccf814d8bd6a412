# cnnlab: `make` or `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
LOCK := requirements.lock
ARGS ?=
RUN ?=
RUN_ARG = $(if $(RUN),run=$(RUN))  # evaluate, predict, visualize: the run's id or name
COMMA := ,
SPACE := $(subst ,, )
MLFLOW_URI ?= sqlite:///$(CURDIR)/mlflow.db

# (Re)install when the venv is missing or the lock file changed since the last install:
# the exact, hash-checked versions of requirements.lock, then cnnlab itself (editable).
$(INSTALLED): $(LOCK) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' 2>/dev/null || { \
	  echo "error: cnnlab needs Python 3.11 or 3.12, and '$(PYTHON)' is $$($(PYTHON) --version 2>&1)." >&2; \
	  echo "  Install Python 3.11 (apt-get install python3.11 python3.11-venv, pyenv install 3.11, or" >&2; \
	  echo "  uv python install 3.11) and run: make PYTHON=python3.11 $(MAKECMDGOALS)" >&2; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

.PHONY: help install lock train profile notes test test-without-onednn test-all test-services lint format ui clean bench bench-data bench-im2col bench-zoo bench-degradation bench-im2col-models visualize bench-viz bench-init ensemble evaluate predict bench-train bench-step bench-gpu bench-transfer sweep screenshots mutate

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'
	@echo '  pass Hydra overrides with ARGS, e.g. make train ARGS="model=simple_convnet trainer.epochs=3"'

install: $(INSTALLED) ## create .venv and install the locked dependencies and cnnlab
	@$(PY) -m pip check

lock: ## refresh requirements.lock from pyproject.toml's ranges (then run make install and the tests)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	  --generate-hashes --quiet -o $(LOCK)

train: $(INSTALLED) ## train a model (default: LeNet-5 on the embedded digits) and log it to MLflow
	$(PY) pipelines/train.py $(ARGS)

ensemble: $(INSTALLED) ## train or gather members and combine them, e.g. ARGS="ensemble.members=5"
	$(PY) pipelines/ensemble.py $(ARGS)

evaluate: $(INSTALLED) ## evaluate a run's logged model and log to it: RUN=<run id> [ARGS="split=val test_time=flip"]
	$(PY) pipelines/evaluate.py $(RUN_ARG) $(ARGS)

predict: $(INSTALLED) ## class and top-k probabilities of image files: RUN=<run id> IMAGES=<files or folder>
	$(PY) pipelines/predict.py $(RUN_ARG) 'images=[$(subst $(SPACE),$(COMMA),$(strip $(IMAGES)))]' $(ARGS)

profile: $(INSTALLED) ## per-layer parameters, multiply-adds, activation memory and receptive field, e.g. ARGS="model=vgg16"
	$(PY) pipelines/profile.py $(ARGS)

notes: $(INSTALLED) ## recompute the lecture notes' worked numbers: match or documented erratum per row (docs/notes.md)
	$(PY) pipelines/notes.py $(ARGS)

visualize: $(INSTALLED) ## pictures of what a run learned: RUN=<run id> ARGS="viz=saliency" (filters, feature_maps, activation_max, saliency, deepdream, style_transfer, embedding, kernels)
	$(PY) pipelines/visualize.py $(RUN_ARG) $(ARGS)

test: $(INSTALLED) ## run the fast test suite (offline, CPU, a few minutes)
	$(PY) -m pytest -n 2 --dist loadgroup -q $(ARGS)

# The tests that run convolution and pooling kernels: im2col against tf.nn and Keras, layers, and
# one model of each family trained one step, native and im2col.
KERNEL_TESTS := tests/test_im2col_layers.py tests/test_im2col_precision.py tests/test_layers_activations.py \
  tests/test_layers_batch_norm.py tests/test_conv_impl.py \
  tests/test_models.py::test_every_model_builds_at_32x32x3_from_its_config_and_trains_one_step

test-without-onednn: $(INSTALLED) ## the kernel tests on TensorFlow's own CPU kernels, as CPUs without AVX-512 run them
	TF_ENABLE_ONEDNN_OPTS=0 $(PY) -m pytest -n 2 --dist loadgroup -q $(KERNEL_TESTS) $(ARGS)

test-all: $(INSTALLED) ## run every test, the slow ones and the team store's too
	$(PY) -m pytest -n 2 --dist loadgroup -q -m "slow or not slow" $(ARGS)

test-services: $(INSTALLED) ## the tests against real services: PostgreSQL + `mlflow server --app-name basic-auth` (team store), `mlflow ui` in headless Chromium (needs postgresql, chromium)
	$(PY) -m pytest -n 0 -q -m "team_store or browser" $(ARGS)

mutate: $(INSTALLED) ## mutation testing of the reference ops, lr schedules and augmentation ops (mutmut; tens of minutes, not in CI)
	TF_NUM_INTRAOP_THREADS=1 $(VENV)/bin/mutmut run $(ARGS)
	$(VENV)/bin/mutmut results

lint: $(INSTALLED) ## check style with ruff, and the layers of the imports with import-linter
	$(PY) -m ruff check src pipelines tests benchmarks
	$(PY) -m ruff format --check src pipelines tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

format: $(INSTALLED) ## format and fix what ruff can
	$(PY) -m ruff format src pipelines tests benchmarks
	$(PY) -m ruff check --fix src pipelines tests benchmarks

bench-data: $(INSTALLED) ## input pipeline vs training images/s, per augmentation recipe (a few minutes)
	$(PY) benchmarks/input_pipeline.py $(ARGS)

bench-im2col: $(INSTALLED) ## im2col conv/pool layers vs Keras Conv2D/MaxPooling2D: time ratios, GFLOP/s, memory
	$(PY) benchmarks/im2col.py $(ARGS)

bench-im2col-models: $(INSTALLED) ## whole models' training steps per conv_impl (native, im2col, auto; float32, mixed_bfloat16), the default run on auto, VGG-16 step memory
	$(PY) benchmarks/im2col_models.py --default-run --memory $(ARGS)

bench-zoo: $(INSTALLED) ## every model: size at its paper input, digits accuracy after a short run (~1 h)
	$(PY) benchmarks/digits_zoo.py $(ARGS)

bench-degradation: $(INSTALLED) ## plain-20/56 vs ResNet-20/56 training error on the digits (Fig. 6; ~15 min)
	$(PY) benchmarks/degradation.py $(ARGS)

bench-viz: $(INSTALLED) ## time each visualization on a short LeNet-5 run and a random VGG-11; refresh the README gallery
	$(PY) benchmarks/visualize.py $(ARGS)
bench-init: $(INSTALLED) ## activations of a 10-layer tanh/ReLU net at initialization under normal:0.01, normal:1, Glorot, He; short training curves
	$(PY) benchmarks/init.py $(ARGS)

bench-transfer: $(INSTALLED) ## few labels: scratch vs warm start from another digits task; VGG-16 scratch vs stage-wise (46 min on the loaded 2 cores)
	$(PY) benchmarks/transfer.py $(ARGS)

bench-train: $(INSTALLED) ## cnnlab train() vs a plain model.fit: images/s, overhead, ResNet-20 share of conv2d peak
	$(PY) benchmarks/training.py $(ARGS)

bench-step: $(INSTALLED) ## ResNet-20's train step: Keras's vs the fused batch norm, with and without XLA
	$(PY) benchmarks/train_step.py $(ARGS)

bench-gpu: $(INSTALLED) ## training step on a GPU, float32 vs mixed_float16 (KERAS_BACKEND=jax works too)
	$(PY) benchmarks/gpu.py $(ARGS)

bench: $(INSTALLED) ## run every benchmark in benchmarks/ (several minutes each)
	@for script in $(filter-out benchmarks/dashboard_screenshots.py,$(wildcard benchmarks/*.py)); do echo "== $$script"; $(PY) $$script || exit 1; done

sweep: $(INSTALLED) ## sweep hyperparameters, e.g. ARGS="hparams_search=lenet5_digits hydra.sweeper.n_trials=20"
	$(PY) pipelines/train.py --multirun $(ARGS)

ui: $(INSTALLED) ## serve the MLflow dashboard on http://127.0.0.1:5000, opening on the training runs
	$(PY) -m cnnlab.tracking.dashboard --uri $(MLFLOW_URI) --address 127.0.0.1:5000
	$(VENV)/bin/mlflow ui --app-name cnnlab --backend-store-uri $(MLFLOW_URI) --host 127.0.0.1 --port 5000

screenshots: $(INSTALLED) ## retake README's dashboard screenshots (a tiny sweep and ensemble; needs chromium)
	$(PY) benchmarks/dashboard_screenshots.py $(ARGS)

clean: ## remove outputs, caches and the local MLflow store (keeps .venv)
	rm -rf outputs multirun mutants mlflow.db mlartifacts mlruns .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
