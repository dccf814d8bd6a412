"""Whole models on the im2col layers, and on `conv_impl=auto`'s choice, against Keras's native ops.

Each measurement runs in a fresh process: one model, one conv_impl (`native`, `im2col` or `auto`,
all with the native model's weights), compiled as auto's whole-model check compiles
(`autotune.compiled`: SGD, cross-entropy, the trainer's default `jit_compile=False`), fitted
by `model.fit` on in-memory random batches. It reports the median time of a training step
between consecutive batches, after WARMUP_STEPS (the first traces and compiles: its extra time
over a steady step is the compile column). A process of its own per measurement keeps one
model's allocations, threads and traced functions from slowing the next one's, and the median of
many steps keeps a stray slow step out. The processes run in rounds, each round in another of
the six orders of the three impls, so a busy neighbour slows all alike and no impl always runs
after the same one; the table gives the median over rounds of images/s and the im2col / native
and auto / native time ratios (< 1: faster than native). A second native process in each round
("native again") measures the model against itself: the spread to read the ratios against.

`auto` tunes in a tuning cache fresh for each model: its first process times the layers (the
"first tuning s" column, with the ratio of its whole-model check), the later ones find every
timing in the cache (the "cached s" column, 0 when nothing was timed again).

`--default-run` also times the default training run (`pipelines/train.py`: LeNet-5 on the
digits, 30 epochs) through the real entry point, with `model.conv_impl=native` and `auto`,
auto first with an empty tuning cache, then with the cache it filled: the wall time of the
whole run, tuning included, which is how the default was chosen, and the training seconds the run
logged. Each round's MLflow store is created before its runs (migrating a new store's schema
takes seconds, which would fall on whichever run came first).

The header names the CPU and whether TensorFlow's oneDNN kernels are on
(`TF_ENABLE_ONEDNN_OPTS=0` turns them off).

`--memory` adds the peak memory of one training step of VGG-16 at 224x224x3, batch 8, per
conv_impl, each in a fresh process: TensorFlow's CPU allocator peak over the step (after a
first, compiling step) and the process's peak resident memory.

Beside every row: the CPU that OTHER processes used while it was measured, in cores
(`_machine.py`; the load average would count this benchmark's own threads). A row where others
used more than 0.3 cores is flagged BUSY: its ratio is not an idle ratio.

    python benchmarks/im2col_models.py [--models lenet5 resnet20] [--precisions float32
        mixed_bfloat16] [--rounds 3] [--default-run] [--memory]
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
import numpy as np
import tensorflow as tf
from _machine import BUSY_CORES, busy, others_load

from cnnlab import models
from cnnlab.models import autotune

IMPLS = ("native", "im2col", "auto")
# One per round of processes. Rotating one order would keep its neighbours (auto would always
# run right after im2col, native after auto); in these each impl runs after each other one
# equally often over six rounds, within one over three.
ORDERS = (
    ("native", "auto", "im2col"),
    ("native", "im2col", "auto"),
    ("im2col", "auto", "native"),
    ("auto", "native", "im2col"),
    ("auto", "im2col", "native"),
    ("im2col", "native", "auto"),
)
# A second native process in each round, at another place in each: one model against itself,
# the spread that any ratio of the table is read against.
CONTROL = "native again"
WARMUP_STEPS = 3  # the first traces and compiles; the next two settle the allocator


@dataclass(frozen=True)
class Case:
    name: str  # the row's label
    model: str
    side: int
    batch: int
    steps: int  # timed steps per process: some seconds of the slowest impl
    classes: int = 10
    options: dict = field(default_factory=dict)


CASES = (
    Case("lenet5", "lenet5", 32, 128, 150),
    Case("resnet20", "resnet20", 32, 128, 12),
    Case("vgg11", "vgg11", 32, 64, 8),
    Case("alexnet (grouped towers)", "alexnet", 227, 8, 8, 1000),
    Case("alexnet, grouped=false", "alexnet", 227, 8, 8, 1000, {"grouped": False}),
    Case("mobilenet (depthwise)", "mobilenet", 128, 8, 16, 1000),
)
PRIMARY = ("lenet5", "resnet20", "vgg11")  # the targets: geomean over these


def build(case: Case, impl: str) -> keras.Model:
    """`case`'s model on `impl` with the native model's initial weights."""

    def seeded(impl: str) -> keras.Model:
        keras.utils.set_random_seed(0)
        shape = (case.side, case.side, 3)
        return models.build(case.model, shape, case.classes, conv_impl=impl, **case.options)

    model = seeded(impl)
    if impl != "native":
        model.set_weights(seeded("native").get_weights())
    return model


def batches(case: Case) -> tf.data.Dataset:
    """A few distinct random batches, repeated: in memory, so the steps time the model."""
    rng = np.random.default_rng(0)
    n = min(case.steps, 4) * case.batch
    images = rng.random((n, case.side, case.side, 3), dtype=np.float32)
    labels = np.eye(case.classes, dtype=np.float32)[rng.integers(0, case.classes, n)]
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(case.batch).cache().repeat()


class StepTimes(keras.callbacks.Callback):
    """Seconds from the start of `fit` to the first batch's end, then between batch ends."""

    def on_train_begin(self, logs=None):
        self.seconds, self.last = [], time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.seconds.append(now - self.last)
        self.last = now


def fit_in_this_process(case: Case, impl: str, precision: str, cache: str) -> dict:
    """One model on `impl`, fitted here: its median step and what auto chose."""
    keras.mixed_precision.set_global_policy(precision)
    model = build(case, impl)
    result = {}
    if impl == "auto":
        tuning = autotune.tune(model, case.batch, cache=cache)
        model = tuning.model
        ratio = tuning.check_ratio()
        result = {
            "tune_s": tuning.seconds,
            "im2col_layers": f"{tuning.counts()['im2col']}/{len(tuning.choices)}",
            # the check's train-step ratio of the layers' choices ("-": no layer chose im2col)
            "check": "-" if ratio is None else f"{ratio:.2f}x {tuning.check_verdict().split()[-1]}",
            "table": tuning.table(),
        }
    autotune.compiled(model)
    times = StepTimes()
    model.fit(
        batches(case),
        epochs=1,
        steps_per_epoch=WARMUP_STEPS + case.steps,
        verbose=0,
        callbacks=[times],
    )
    step = statistics.median(times.seconds[WARMUP_STEPS:])
    return {**result, "step_s": step, "compile_s": times.seconds[0] - step}


def in_fresh_process(*args: str) -> dict:
    """This script run with `args` (`--child ...` or `--memory-child ...`): the JSON it prints
    last."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(case: Case, precision: str, rounds: int) -> dict:
    runs = {impl: [] for impl in (*IMPLS, CONTROL)}
    with tempfile.TemporaryDirectory() as cache:  # auto's first process tunes, the rest reuse
        for round_ in range(rounds):
            order = list(ORDERS[round_ % len(ORDERS)])
            order.insert(round_ % (len(order) + 1), CONTROL)
            for impl in order:
                kernel = "native" if impl == CONTROL else impl
                runs[impl].append(in_fresh_process("--child", case.name, kernel, precision, cache))
    step = {impl: statistics.median(r["step_s"] for r in runs[impl]) for impl in runs}
    first, *cached = runs["auto"]
    return {
        **{f"{impl}_ips": case.batch / step[impl] for impl in IMPLS},
        **{
            f"{impl}_compile_s": statistics.median(r["compile_s"] for r in runs[impl])
            for impl in IMPLS
        },
        "ratio": step["im2col"] / step["native"],
        "auto_ratio": step["auto"] / step["native"],
        "control_ratio": step[CONTROL] / step["native"],
        "tune_s": first["tune_s"],
        "cached_tune_s": max((r["tune_s"] for r in cached), default=float("nan")),
        "auto_im2col": first["im2col_layers"],
        "auto_check": first["check"],
        "auto_table": first["table"],
    }


def geomean(values) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def models_table(args) -> None:
    print(f"\n{autotune.machine_line()}\n")
    header = (
        "| model | input, batch | precision | native img/s | im2col img/s | auto img/s "
        "| im2col / native time | auto / native time | native again / native time "
        "| auto: layers on im2col, first tuning s, cached s, its check's step ratio "
        "| compile s (native / im2col / auto) | others' load, cores |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    ratios: dict[str, dict[str, float]] = {}
    auto_ratios: dict[str, dict[str, float]] = {}
    auto_tables: list[str] = []
    for precision in args.precisions:
        for case in CASES:
            if args.models and case.model not in args.models and case.name not in args.models:
                continue
            with others_load() as others:
                r = measure(case, precision, args.rounds)
            auto_tables.append(f"{case.name}, {precision}: {r['auto_table']}")
            ratios.setdefault(precision, {})[case.name] = r["ratio"]
            auto_ratios.setdefault(precision, {})[case.name] = r["auto_ratio"]
            compile_s = " / ".join(f"{r[f'{impl}_compile_s']:.1f}" for impl in IMPLS)
            print(
                f"| {case.name} | {case.side}x{case.side}x3, {case.batch} | {precision} "
                f"| {r['native_ips']:.1f} | {r['im2col_ips']:.1f} | {r['auto_ips']:.1f} "
                f"| {r['ratio']:.2f}x | {r['auto_ratio']:.2f}x | {r['control_ratio']:.2f}x "
                f"| {r['auto_im2col']}, {r['tune_s']:.1f}, {r['cached_tune_s']:.1f}, {r['auto_check']} "
                f"| {compile_s} | {others.cores:.2f}{busy(others.cores)} |",
                flush=True,
            )
    print("\nWhat auto chose:\n\n" + "\n\n".join(auto_tables))
    for label, table in (("im2col", ratios), ("auto", auto_ratios)):
        for precision, by_case in table.items():
            names = [name for name in PRIMARY if name in by_case]
            if names:
                primary = [by_case[name] for name in names]
                print(
                    f"\n{precision}: {label} / native training time over {', '.join(names)}: "
                    f"geometric mean {geomean(primary):.2f}x, worst {max(primary):.2f}x; "
                    f"worst over every model {max(by_case.values()):.2f}x"
                )


def step_memory(impl: str) -> dict:
    """In this (fresh) process: one VGG-16 224x224x3 batch-8 training step's peak memory."""
    model = models.build("vgg16", (224, 224, 3), 1000, conv_impl=impl)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy"
    )
    rng = np.random.default_rng(0)
    images = rng.random((8, 224, 224, 3), dtype=np.float32)
    labels = np.eye(1000, dtype=np.float32)[rng.integers(0, 1000, 8)]
    model.train_on_batch(images, labels)  # traces, compiles, creates the optimizer's slots
    tf.config.experimental.reset_memory_stats("CPU:0")
    resting = tf.config.experimental.get_memory_info("CPU:0")["current"]
    start = time.perf_counter()
    model.train_on_batch(images, labels)
    seconds = time.perf_counter() - start
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    return {
        "resting_mib": resting / 2**20,
        "step_peak_mib": (peak - resting) / 2**20,
        "process_peak_mib": hwm / 1024,
        "step_s": seconds,
    }


def memory_table(args) -> None:
    print(
        "\n| VGG-16 224x224x3, batch 8, one training step | weights + optimizer MiB "
        "| step peak over that MiB | process peak RSS MiB | step s | others' load, cores |"
    )
    print("|---|---:|---:|---:|---:|---|")
    peaks = {}
    for impl in ("native", "im2col"):
        with others_load() as others:
            r = in_fresh_process("--memory-child", impl)
        peaks[impl] = r["step_peak_mib"]
        print(
            f"| conv_impl={impl} | {r['resting_mib']:.0f} | {r['step_peak_mib']:.0f} "
            f"| {r['process_peak_mib']:.0f} | {r['step_s']:.1f} | {others.cores:.2f}{busy(others.cores)} |",
            flush=True,
        )
    print(f"\nstep peak memory im2col / native: {peaks['im2col'] / peaks['native']:.2f}x")


def default_run_seconds(impl: str, cache: str, folder: str) -> tuple[float, float]:
    """Wall seconds of the default training run through the real entry point, on `impl`, with
    auto's tuning cache in `cache` and its MLflow store and Hydra folder in `folder`; and the
    seconds of training it logged."""
    command = [
        sys.executable,
        str(Path(__file__).parents[1] / "pipelines" / "train.py"),
        f"model.conv_impl={impl}",
        f"tracking.uri=sqlite:///{folder}/mlflow.db",
        f"tracking.artifact_location={folder}/mlartifacts",
        f"hydra.run.dir={folder}/hydra/{impl}-${{now:%H%M%S%f}}",
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "XDG_CACHE_HOME": cache}
    )
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    training = re.search(r"\(([\d.]+) s training\)", done.stdout + done.stderr)
    return wall, float(training.group(1)) if training else float("nan")


def create_store(folder: str) -> None:
    """The MLflow store of `folder`, created (its schema migrated, seconds) before any timed run."""
    code = "import mlflow, sys; mlflow.MlflowClient(sys.argv[1]).search_experiments()"
    subprocess.run([sys.executable, "-c", code, f"sqlite:///{folder}/mlflow.db"], check=True)


def default_run_table(rounds: int) -> None:
    """The default run (LeNet-5 on the digits, 30 epochs) on native and on auto, auto first
    with an empty tuning cache, then with the cache it filled; rounds in alternating orders,
    each in a store created before its runs."""
    print(
        "\n| default run (pipelines/train.py, lenet5 on the digits, 30 epochs): wall s "
        "(training s) | native | auto, empty cache | auto, cached "
        "| auto / native wall: empty cache | cached | others' load, cores |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for round_ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            create_store(folder)
            cache = f"{folder}/cache"
            seconds = {}
            order = ("native", "auto") if round_ % 2 == 0 else ("auto", "native")
            with others_load() as others:
                for impl in order:
                    seconds[impl] = default_run_seconds(impl, cache, folder)
                    if impl == "auto":
                        seconds["cached"] = default_run_seconds(impl, cache, folder)
        native, auto, cached = (seconds[k][0] for k in ("native", "auto", "cached"))
        print(
            f"| round {round_ + 1}: {' then '.join(order)} | "
            + " | ".join(
                f"{seconds[k][0]:.1f} ({seconds[k][1]:.1f})" for k in ("native", "auto", "cached")
            )
            + f" | {auto / native:.3f}x | {cached / native:.3f}x "
            f"| {others.cores:.2f}{busy(others.cores)} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=[], help="model names (default: all)")
    parser.add_argument(
        "--precisions", nargs="+", default=["float32", "mixed_bfloat16"], help="dtype policies"
    )
    parser.add_argument("--rounds", type=int, default=3, help="processes per model and impl")
    parser.add_argument(
        "--default-run", action="store_true", help="also the default run, native against auto"
    )
    parser.add_argument("--memory", action="store_true", help="also VGG-16's step peak memory")
    parser.add_argument(
        "--no-models", action="store_true", help="skip the models' table (alone: memory only)"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)  # case, impl, precision, cache
    parser.add_argument("--memory-child", choices=("native", "im2col"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    known = {name for case in CASES for name in (case.model, case.name)}
    if unknown := sorted(set(args.models) - known):
        parser.error(f"--models {' '.join(unknown)}: unknown; expected some of {sorted(known)}")
    if args.child:
        name, impl, precision, cache = args.child
        case = next(case for case in CASES if case.name == name)
        print(json.dumps(fit_in_this_process(case, impl, precision, cache)))
        return
    if args.memory_child:
        print(json.dumps(step_memory(args.memory_child)))
        return
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; "
        f"load average at start {os.getloadavg()[0]:.2f}; rows where other processes used over "
        f"{BUSY_CORES} cores are BUSY; median steps of one process per model and impl, "
        f"medians over {args.rounds} rounds"
    )
    if not args.no_models:
        models_table(args)
    if args.default_run:
        default_run_table(args.rounds)
    if args.memory or (args.no_models and not args.default_run):
        memory_table(args)


if __name__ == "__main__":
    main()
