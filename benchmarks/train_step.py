"""ResNet-20's training step with Keras's batch norm or cnnlab's fused one, with or without XLA.

The registry model (`FusedBatchNormalization`, TensorFlow's FusedBatchNormV3) against the same
model with every batch norm swapped for `keras.layers.BatchNormalization` of the same config
(moments and normalization as separate ops), each compiled with `jit_compile` false and true
(XLA). `model.fit` on in-memory synthetic 32x32x3 batches; wall and CPU seconds per step over
every epoch after the first, in turns within one process (`--repeats`, medians), as ratios to
Keras's batch norm without XLA. The load: other processes' CPU use, in cores (`_machine.py`).

    python benchmarks/train_step.py [--model resnet20] [--batch 128] [--steps 10] [--repeats 2]
"""

import argparse
import os
import statistics
import time

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
import tensorflow as tf
from _machine import busy, machine, others_load

from cnnlab import models
from cnnlab.models import with_keras_batch_norm

VARIANTS = {  # name: (fused batch norm, jit_compile)
    "keras BN": (False, False),
    "keras BN + XLA": (False, True),
    "fused BN": (True, False),
    "fused BN + XLA": (True, True),
}


class StepClock(keras.callbacks.Callback):
    """Wall and CPU seconds per step of every epoch after the first (which traces)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.last = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch:
            self.wall.append((self.last[0] - self.start[0]) / self.steps)
            self.cpu.append((self.last[1] - self.start[1]) / self.steps)


def step_seconds(name: str, fused: bool, xla: bool, dataset, args) -> StepClock:
    keras.utils.set_random_seed(0)
    model = models.build(name, (32, 32, 3), 10)
    if not fused:
        model = with_keras_batch_norm(model)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=xla,
    )
    clock = StepClock(args.steps)
    model.fit(dataset, epochs=args.epochs, steps_per_epoch=args.steps, callbacks=[clock], verbose=0)
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="the first is not timed")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    count = args.batch * args.steps
    images = tf.random.stateless_uniform((count, 32, 32, 3), seed=(0, 1))
    labels = tf.one_hot(tf.random.stateless_uniform((count,), (0, 2), 0, 10, tf.int32), 10)
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels)).cache().batch(args.batch).repeat()
    )
    names = args.variants.split(",")
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    print(machine())
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with others_load() as others:
        for _ in range(args.repeats):
            for name in names:
                clock = step_seconds(args.model, *VARIANTS[name], dataset.prefetch(2), args)
                wall[name] += clock.wall
                cpu[name] += clock.cpu
    base_wall, base_cpu = statistics.median(wall[names[0]]), statistics.median(cpu[names[0]])
    print(f"{args.model}, batch {args.batch}; ratios to {names[0]}")
    print(
        f"{'variant':<15} {'img/s':>7} {'wall/step':>10} {'ratio':>6} {'cpu/step':>9} {'ratio':>6}"
    )
    for name in names:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"{name:<15} {args.batch / w:>7.1f} {w:>9.3f}s {w / base_wall:>6.3f} "
            f"{c:>8.3f}s {c / base_cpu:>6.3f}"
        )
    print(f"others' load: {others.cores:.2f} cores{busy(others.cores)}")


if __name__ == "__main__":
    main()
