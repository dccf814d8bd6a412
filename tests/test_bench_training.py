"""The training benchmarks run with tiny settings (their numbers come from `make bench-*`)."""

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import keras
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_gpu_benchmark_rate_is_the_images_of_the_timed_steps_per_second(monkeypatch, policy):
    gpu = load("gpu")
    built, steps = [], []
    build, step = gpu.models.build, keras.Model.train_on_batch
    monkeypatch.setattr(
        gpu.models, "build", lambda *a, **k: built.append(build(*a, **k)) or built[-1]
    )
    monkeypatch.setattr(
        keras.Model, "train_on_batch", lambda self, *a, **k: steps.append(1) or step(self, *a, **k)
    )
    clock = iter([10.0, 12.5])  # the timer's start and end
    monkeypatch.setattr(gpu, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    try:
        rate = gpu.images_per_second("lenet5", policy, batch=2, steps=5, size=None)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert rate == 2 * 5 / 2.5
    assert len(steps) == 3 + 5  # three warm-up steps, outside the timer
    assert built[0].dtype_policy.name == policy


@pytest.mark.slow
def test_training_benchmark_prints_its_table(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "training.py"),
            "--cases",
            "lenet5,resnet20",
            "--epochs",
            "2",  # the first epoch is not timed
            "--steps",
            "2",
            "--batch",
            "8",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "overhead" in done.stdout and "resnet20:" in done.stdout
    assert "s/epoch" in done.stdout


def test_train_step_benchmark_swaps_every_fused_batch_norm_for_keras(monkeypatch):
    from cnnlab import models
    from cnnlab.layers import FusedBatchNormalization

    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its `_machine` import
    model = models.build("resnet20", (32, 32, 3), 10)
    swapped = load("train_step").with_keras_batch_norm(model)
    kinds = [type(layer) for layer in swapped.layers]
    assert FusedBatchNormalization not in kinds
    assert kinds.count(keras.layers.BatchNormalization) == 19
    assert swapped.count_params() == model.count_params()


def test_machine_line_names_the_cpu_its_avx512_and_whether_onednn_is_on():
    with open("/proc/cpuinfo") as info:
        cpuinfo = info.read()
    model = next(line for line in cpuinfo.splitlines() if line.startswith("model name"))
    line = load("_machine").machine()
    assert line.startswith(model.split(":", 1)[1].strip())
    assert ("no AVX-512" in line) == (" avx512f " not in cpuinfo)
    onednn = {"0": "oneDNN off", "1": "oneDNN on"}.get(os.environ.get("TF_ENABLE_ONEDNN_OPTS"))
    assert onednn is None or line.endswith(onednn)
