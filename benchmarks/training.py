"""cnnlab's `train()` against a hand-written `model.fit`, side by side (`make bench-train`).

What a long run meets, measured the same way on both sides by one callback (`EpochClock`):
the steady-state training rate, images/s over the steps of every epoch after the first (the
first pays tracing and compilation), and the fixed time per epoch after its last step
(cnnlab: the checkpoint writes and the MLflow logging; plain fit: Keras's epoch logs).
cnnlab's side is `train()` itself (tracking, checkpoints, lr logging; no validation split),
with the clock passed through its `callbacks=`; the plain side is a Keras `model.fit` of the
same registry model with the same optimizer, fed from an in-memory `tf.data.Dataset` of the
same images (cached, batched, prefetched). Overhead = plain rate / cnnlab rate; cpu ratio =
cnnlab's CPU seconds per image over the plain fit's (the same comparison in CPU time, which
a busy machine disturbs less). In turns within one process (`--repeats`, medians). For
ResNet-20, the training FLOP/s (3 x 2 x multiply-adds per image: forward, and a backward pass
of twice the forward's work) as a share of two conv2d forward+backward rates measured in the
same process: that of ResNet-20's own convolutions (each distinct shape timed alone at the
run's batch, counted as often as it occurs: what the step would reach if it were nothing but
its convolutions), and that of one 64-channel 3x3 conv2d at 32x32 (batch x 32x32x64 -> 64,
about the best any conv shape reaches here). The load: other processes' CPU use during each
row, in cores (`_machine.py`).

    python benchmarks/training.py [--cases lenet5,resnet20,alexnet] [--epochs 3] [--steps N]
"""

import argparse
import collections
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
import tensorflow as tf
from _machine import busy, machine, others_load
from hydra import compose, initialize_config_dir

from cnnlab import analysis, models
from cnnlab.config import register_schemas, typed
from cnnlab.data import build_datasets
from cnnlab.training import train

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
log = logging.getLogger("bench-train")


@dataclass(frozen=True)
class Case:
    model: str
    overrides: tuple[str, ...]
    batch_size: int
    steps: int = 10  # per epoch


CASES = {
    # LeNet-5's 10 steps take ~0.1 s: too short to time on a shared machine
    "lenet5": Case(
        "lenet5", ("data=digits", "augment=none", "data.val_fraction=0.0"), 32, steps=40
    ),
    "resnet20": Case("resnet20", ("data=synthetic", "augment=none", "data.val_fraction=0.0"), 128),
    # AlexNet trains ~60x slower per image than ResNet-20 here: a small batch, and steps
    # enough (16 timed per side and repeat, ~1.6 s each) for a 2% difference to show
    "alexnet": Case(
        "alexnet",
        ("data=synthetic", "augment=none", "data.val_fraction=0.0", "data.image_size=[227,227]"),
        8,
        steps=8,
    ),
}


class EpochClock(keras.callbacks.Callback):
    """Each epoch's start, the end of its last step, and its end (after every callback listed
    before this one), in wall time; and the CPU time this process (its tf.data threads
    included) used over the steps, which others' load disturbs far less. Safe for Keras's
    asynchronous batch callbacks: it does not force a host sync on a side that has none."""

    async_safe = True

    def __init__(self):
        super().__init__()
        self.begin: list[float] = []
        self.steps_end: list[float] = []
        self.end: list[float] = []
        self.cpu: list[float] = []
        self.last_step = self.cpu_begin = self.cpu_last_step = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.begin.append(time.perf_counter())
        self.cpu_begin = time.process_time()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.last_step = time.perf_counter()
        self.cpu_last_step = time.process_time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.steps_end.append(self.last_step)
        self.end.append(time.perf_counter())
        self.cpu.append(self.cpu_last_step - self.cpu_begin)

    def steady(self, images_per_epoch: int) -> tuple[float, float, float]:
        """(images/s over the steps, seconds after the last step, CPU seconds per image over
        the steps) of the epochs after the first."""
        steps = [e - b for b, e in zip(self.begin[1:], self.steps_end[1:], strict=True)]
        fixed = [e - s for s, e in zip(self.steps_end[1:], self.end[1:], strict=True)]
        cpu = statistics.median(self.cpu[1:]) / images_per_epoch
        return images_per_epoch / statistics.median(steps), statistics.median(fixed), cpu


def compose_case(case: Case, args, workdir: Path):
    register_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "train",
            [
                *case.overrides,
                f"model={case.model}",
                f"trainer.batch_size={args.batch or case.batch_size}",
                f"trainer.epochs={args.epochs}",
                f"trainer.steps_per_epoch={args.steps or case.steps}",
                "trainer.verbose=0",
                "schedule=constant",
                "tracking.log_model=false",
                f"tracking.uri=sqlite:///{workdir}/mlflow.db",
                f"tracking.artifact_location={workdir}/artifacts",
                "tracking.experiment=bench-train",
                *([f"data.data_dir={workdir}/tfds"] if "data=digits" in case.overrides else []),
                *args.override,
            ],
        )


def images_per_epoch(cfg) -> int:
    return cfg.trainer.steps_per_epoch * cfg.trainer.batch_size


def cnnlab_rate(cfg, workdir: Path) -> tuple[float, float, float]:
    clock = EpochClock()
    train(typed(cfg), output_dir=Path(tempfile.mkdtemp(dir=workdir)), callbacks=[clock])
    return clock.steady(images_per_epoch(cfg))


def in_memory(cfg):
    """The same images as cnnlab's pipeline, materialized once (one epoch's worth)."""
    data = build_datasets(typed(cfg))
    images, labels = zip(*data.train.take(cfg.trainer.steps_per_epoch), strict=True)
    ds = tf.data.Dataset.from_tensor_slices((tf.concat(images, 0), tf.concat(labels, 0)))
    return ds.cache().batch(cfg.trainer.batch_size).repeat().prefetch(tf.data.AUTOTUNE), data.info


def plain_rate(cfg, dataset, info) -> tuple[float, float, float]:
    keras.utils.set_random_seed(cfg.seed)
    model = models.build(cfg.model.name, info.input_shape, info.num_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg.optimizer.lr, momentum=cfg.optimizer.momentum),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    clock = EpochClock()
    model.fit(
        dataset,
        epochs=cfg.trainer.epochs,
        steps_per_epoch=cfg.trainer.steps_per_epoch,
        callbacks=[clock],
        verbose=0,
    )
    return clock.steady(images_per_epoch(cfg))


def conv_gflops(
    batch: int,
    input_shape: tuple[int, int, int],
    kernel: tuple[int, int, int, int],
    strides: int = 1,
    padding: str = "same",
    repeats: int = 20,
) -> tuple[float, float]:
    """(seconds, GFLOP/s) of one conv2d forward+backward (input and kernel gradients) on
    `batch` x `input_shape`, `kernel` (kh, kw, in, out); 3 x 2 x MACs."""
    x = tf.random.normal((batch, *input_shape))
    w = tf.Variable(tf.random.normal(kernel) * 0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, w, strides, padding.upper())
            loss = tf.reduce_sum(y)
        return tape.gradient(loss, [x, w])

    step()
    start = time.perf_counter()
    for _ in range(repeats):
        grads = step()
    float(tf.reduce_sum(grads[0]))
    seconds = (time.perf_counter() - start) / repeats
    outputs = tf.nn.conv2d(x[:1], w, strides, padding.upper()).shape.num_elements()
    macs = batch * outputs * kernel[0] * kernel[1] * kernel[2]  # per output: kh x kw x in
    return seconds, 3 * 2 * macs / seconds / 1e9


def conv_shapes(model: keras.Model) -> collections.Counter:
    """The model's distinct convolutions, (input shape, kernel, strides, padding) -> how many."""
    return collections.Counter(
        (tuple(layer.input.shape[1:]), tuple(layer.kernel.shape), layer.strides[0], layer.padding)
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    )


def own_convs_gflops(model: keras.Model, batch: int) -> float:
    """GFLOP/s of the model's own convolutions, forward+backward, each shape timed alone and
    counted as often as it occurs: their FLOPs together over their seconds together."""
    flops = seconds = 0.0
    for (shape, kernel, strides, padding), count in conv_shapes(model).items():
        took, rate = conv_gflops(batch, shape, kernel, strides, padding)
        flops, seconds = flops + count * rate * took, seconds + count * took
    return flops / seconds


def conv_yardsticks(batch: int) -> tuple[float, float]:
    """GFLOP/s of ResNet-20's own convolutions and of the 64-channel 3x3 conv at 32x32."""
    own = own_convs_gflops(models.build("resnet20", (32, 32, 3), 10), batch)
    return own, conv_gflops(batch, (32, 32, 64), (3, 3, 64, 64))[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="lenet5,resnet20,alexnet")
    parser.add_argument("--epochs", type=int, default=3, help="the first is not timed")
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (each case's)")
    parser.add_argument("--batch", type=int, default=None, help="override every case's batch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not timed)")
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    print(machine())
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"{'case':<9} {'batch':>5} {'cnnlab img/s':>12} {'plain img/s':>11} {'overhead':>8} "
        f"{'cpu ratio':>9} {'cnnlab s/epoch':>14} {'plain s/epoch':>13} {'others':>6}"
    )
    yardsticks = []  # resnet20's: (own convolutions, 64-channel conv) GFLOP/s, in its turns
    for name in args.cases.split(","):
        case = CASES[name]
        cfg = compose_case(case, args, workdir)
        dataset, info = in_memory(cfg)
        ours, theirs = [], []
        with others_load() as others:
            for _ in range(args.repeats):  # in turns: a busy neighbour slows both alike
                ours.append(cnnlab_rate(cfg, workdir))
                theirs.append(plain_rate(cfg, dataset, info))
                if name == "resnet20":
                    yardsticks.append(conv_yardsticks(cfg.trainer.batch_size))
        rate, fixed, cpu = (statistics.median(v) for v in zip(*ours, strict=True))
        plain, plain_fixed, plain_cpu = (statistics.median(v) for v in zip(*theirs, strict=True))
        if name == "resnet20":
            resnet20 = rate, cfg.trainer.batch_size
        print(
            f"{name:<9} {cfg.trainer.batch_size:>5} {rate:>12.1f} {plain:>11.1f} "
            f"{plain / rate:>8.3f} {cpu / plain_cpu:>9.3f} {fixed:>14.3f} {plain_fixed:>13.3f} "
            f"{others.cores:>6.2f}{busy(others.cores)}"
        )
    if yardsticks:
        rate, batch = resnet20
        macs = analysis.profile(models.build("resnet20", (32, 32, 3), 10)).macs
        achieved = 3 * 2 * macs * rate / 1e9
        own, peak = (statistics.median(v) for v in zip(*yardsticks, strict=True))
        print(
            f"resnet20: {achieved:.1f} GFLOP/s of training work (batch {batch}): "
            f"{100 * achieved / own:.0f}% of the {own:.1f} GFLOP/s of its own convolutions "
            f"forward+backward, {100 * achieved / peak:.0f}% of the {peak:.1f} GFLOP/s of a "
            f"64-channel 3x3 conv2d at 32x32"
        )
    print(f"load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
