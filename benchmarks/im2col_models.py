"""Whole models on the im2col layers, and on `conv_impl=auto`'s choice, against Keras's native ops.

For each case the model is built three times (`conv_impl=native`, `im2col` and `auto`, all with
the native one's weights; `auto` times its layers first in a fresh cache, and that first-use
tuning time is a column, with the train-step ratio its whole-model check measured for the
layers' choices), compiled alike and as that check compiles (`autotune.compiled`: SGD,
cross-entropy, the trainer's default `jit_compile=False`) and fitted on the same in-memory
batches. After one warm-up epoch each (whose extra time over a steady epoch is reported as
compile time), they fit one epoch at a time in turns, each round in another of the six orders
of the three, so a busy neighbour slows all alike and no impl always runs after the same one
(an epoch's speed can depend on the one before it; `--repeats 6` goes through every order); the
table gives median images/s and the im2col / native and auto / native time ratios (< 1: faster
than native). The header names the CPU and whether TensorFlow's oneDNN kernels are on
(`TF_ENABLE_ONEDNN_OPTS=0` turns them off).

`--memory` adds the peak memory of one training step of VGG-16 at 224x224x3, batch 8, per
conv_impl, each in a fresh process: TensorFlow's CPU allocator peak over the step (after a
first, compiling step) and the process's peak resident memory.

Beside every row: the CPU that OTHER processes used while it was measured, in cores
(`_machine.py`; the load average would count this benchmark's own threads). A row where others
used more than 0.3 cores is flagged BUSY: its ratio is not an idle ratio.

    python benchmarks/im2col_models.py [--models lenet5 resnet20] [--precisions float32
        mixed_bfloat16] [--repeats 3] [--memory]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

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
# One per round of timed epochs. Rotating one order would keep its neighbours (auto would always
# run right after im2col, native after auto); in these, after the warm-up epochs (which end with
# auto), each impl runs after each other one equally often over six rounds, within one over three.
ORDERS = (
    ("native", "auto", "im2col"),
    ("native", "im2col", "auto"),
    ("im2col", "auto", "native"),
    ("auto", "native", "im2col"),
    ("auto", "im2col", "native"),
    ("im2col", "native", "auto"),
)


@dataclass(frozen=True)
class Case:
    name: str  # the row's label
    model: str
    side: int
    batch: int
    steps: int  # batches per timed epoch
    classes: int = 10
    options: dict = field(default_factory=dict)


CASES = (
    Case("lenet5", "lenet5", 32, 128, 20),
    Case("resnet20", "resnet20", 32, 128, 6),
    Case("vgg11", "vgg11", 32, 64, 6),
    Case("alexnet (grouped towers)", "alexnet", 227, 8, 3, 1000),
    Case("alexnet, grouped=false", "alexnet", 227, 8, 3, 1000, {"grouped": False}),
    Case("mobilenet (depthwise)", "mobilenet", 128, 8, 3, 1000),
)
PRIMARY = ("lenet5", "resnet20", "vgg11")  # the targets: geomean <= 1.3x, none over 2x


def build_models(case: Case) -> tuple[dict[str, keras.Model], autotune.Tuning]:
    """{impl: compiled model} with the same weights, and auto's tuning (in a fresh cache)."""
    built = {}
    for impl in IMPLS:
        keras.utils.set_random_seed(0)
        built[impl] = models.build(
            case.model, (case.side, case.side, 3), case.classes, conv_impl=impl, **case.options
        )
    built["im2col"].set_weights(built["native"].get_weights())
    with tempfile.TemporaryDirectory() as cache:
        tuning = autotune.tune(built["auto"], case.batch, cache=cache)
    built["auto"] = tuning.model
    for model in built.values():
        autotune.compiled(model)  # as auto's whole-model check compiles the models it times
    return built, tuning


def batches(case: Case) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    n = case.steps * case.batch
    images = rng.random((n, case.side, case.side, 3), dtype=np.float32)
    labels = np.eye(case.classes, dtype=np.float32)[rng.integers(0, case.classes, n)]
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(case.batch).cache()


def epoch_seconds(model: keras.Model, data: tf.data.Dataset) -> float:
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - start


def measure(case: Case, repeats: int) -> dict:
    built, tuning = build_models(case)
    data = batches(case)
    list(data)  # fill the cache
    first = {impl: epoch_seconds(model, data) for impl, model in built.items()}
    times = {impl: [] for impl in built}
    for repeat in range(repeats):
        for impl in ORDERS[repeat % len(ORDERS)]:
            times[impl].append(epoch_seconds(built[impl], data))
    median = {impl: statistics.median(t) for impl, t in times.items()}
    images = case.steps * case.batch
    return {
        **{f"{impl}_ips": images / median[impl] for impl in IMPLS},
        **{f"{impl}_compile_s": first[impl] - median[impl] for impl in IMPLS},
        "ratio": median["im2col"] / median["native"],
        "auto_ratio": median["auto"] / median["native"],
        "tune_s": tuning.seconds,
        "auto_im2col": f"{tuning.counts()['im2col']}/{len(tuning.choices)}",
        # the check's own train-step ratio of the layers' choices ("-": no layer chose im2col)
        "auto_check": "-" if tuning.check_ratio() is None else f"{tuning.check_ratio():.2f}x",
        "auto_table": tuning.table(),
    }


def geomean(values) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def models_table(args) -> None:
    print(f"\n{autotune.machine_line()}\n")
    header = (
        "| model | input, batch | precision | native img/s | im2col img/s | auto img/s "
        "| im2col / native time | auto / native time "
        "| auto: layers on im2col, first tuning s, its check's step ratio "
        "| compile s (native / im2col / auto) | others' load, cores |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    ratios: dict[str, dict[str, float]] = {}
    auto_ratios: dict[str, dict[str, float]] = {}
    auto_tables: list[str] = []
    for precision in args.precisions:
        keras.mixed_precision.set_global_policy(precision)
        for case in CASES:
            if args.models and case.model not in args.models and case.name not in args.models:
                continue
            with others_load() as others:
                r = measure(case, args.repeats)
            auto_tables.append(f"{case.name}, {precision}: {r['auto_table']}")
            ratios.setdefault(precision, {})[case.name] = r["ratio"]
            auto_ratios.setdefault(precision, {})[case.name] = r["auto_ratio"]
            compile_s = " / ".join(f"{r[f'{impl}_compile_s']:.1f}" for impl in IMPLS)
            print(
                f"| {case.name} | {case.side}x{case.side}x3, {case.batch} | {precision} "
                f"| {r['native_ips']:.1f} | {r['im2col_ips']:.1f} | {r['auto_ips']:.1f} "
                f"| {r['ratio']:.2f}x | {r['auto_ratio']:.2f}x | {r['auto_im2col']}, {r['tune_s']:.1f}, {r['auto_check']} "
                f"| {compile_s} | {others.cores:.2f}{busy(others.cores)} |",
                flush=True,
            )
    keras.mixed_precision.set_global_policy("float32")
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
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", impl],
                capture_output=True,
                text=True,
                check=True,
            )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        peaks[impl] = r["step_peak_mib"]
        print(
            f"| conv_impl={impl} | {r['resting_mib']:.0f} | {r['step_peak_mib']:.0f} "
            f"| {r['process_peak_mib']:.0f} | {r['step_s']:.1f} | {others.cores:.2f}{busy(others.cores)} |",
            flush=True,
        )
    print(f"\nstep peak memory im2col / native: {peaks['im2col'] / peaks['native']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=[], help="model names (default: all)")
    parser.add_argument(
        "--precisions", nargs="+", default=["float32", "mixed_bfloat16"], help="dtype policies"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also VGG-16's step peak memory")
    parser.add_argument("--no-models", action="store_true", help="only the memory table")
    parser.add_argument("--memory-child", choices=("native", "im2col"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(step_memory(args.memory_child)))
        return
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs; "
        f"load average at start {os.getloadavg()[0]:.2f}; rows where other processes used over "
        f"{BUSY_CORES} cores are BUSY; "
        f"medians of {args.repeats} epochs in turns"
    )
    if not args.no_models:
        models_table(args)
    if args.memory or args.no_models:
        memory_table(args)


if __name__ == "__main__":
    main()
