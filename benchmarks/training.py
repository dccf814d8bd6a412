"""cnnlab's `train()` against a hand-written `model.fit`, side by side (`make bench-train`).

For each case, in turns within one process (`--repeats`, medians): images/s of cnnlab's
`train()` (the whole fit: tracking, checkpoints, lr logging, no validation split) and of a plain
Keras `model.fit` of the same registry model with the same optimizer, fed from an in-memory
`tf.data.Dataset` of the same images (cached, batched, prefetched); overhead = plain / cnnlab.
For ResNet-20, the achieved training FLOP/s (3 x 2 x multiply-adds per image: forward, and a
backward pass of twice the forward's work) as a share of the GFLOP/s that one 3x3 conv2d
forward+backward (64x32x32x64) reaches in the same process.

    python benchmarks/training.py [--cases lenet5,resnet20,alexnet] [--epochs 3] [--steps 20]
"""

import argparse
import logging
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf
from hydra import compose, initialize_config_dir

from cnnlab import analysis, models
from cnnlab.data import build_datasets
from cnnlab.training import train

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
log = logging.getLogger("bench-train")


@dataclass(frozen=True)
class Case:
    model: str
    overrides: tuple[str, ...]
    batch_size: int


CASES = {
    "lenet5": Case("lenet5", ("data=digits", "augment=none", "data.val_fraction=0.0"), 32),
    "resnet20": Case("resnet20", ("data=synthetic", "augment=none", "data.val_fraction=0.0"), 128),
    "alexnet": Case(
        "alexnet",
        ("data=synthetic", "augment=none", "data.val_fraction=0.0", "data.image_size=[227,227]"),
        128,
    ),
}


def compose_case(case: Case, args, workdir: Path):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose(
            "train",
            [
                *case.overrides,
                f"model={case.model}",
                f"trainer.batch_size={args.batch or case.batch_size}",
                f"trainer.epochs={args.epochs}",
                f"trainer.steps_per_epoch={args.steps}",
                "trainer.verbose=0",
                "schedule=constant",
                "tracking.log_model=false",
                f"tracking.uri=sqlite:///{workdir}/mlflow.db",
                f"tracking.artifact_location={workdir}/artifacts",
                "tracking.experiment=bench-train",
                f"data.data_dir={workdir}/tfds",
                *args.override,
            ],
        )


def cnnlab_rate(cfg, workdir: Path) -> float:
    result = train(cfg, output_dir=Path(tempfile.mkdtemp(dir=workdir)))
    return (
        cfg.trainer.epochs
        * cfg.trainer.steps_per_epoch
        * cfg.trainer.batch_size
        / result.train_seconds
    )


def in_memory(cfg):
    """The same images as cnnlab's pipeline, materialized once (one epoch's worth)."""
    data = build_datasets(cfg)
    images, labels = zip(*data.train.take(cfg.trainer.steps_per_epoch), strict=True)
    ds = tf.data.Dataset.from_tensor_slices((tf.concat(images, 0), tf.concat(labels, 0)))
    return ds.cache().batch(cfg.trainer.batch_size).repeat().prefetch(tf.data.AUTOTUNE), data.info


def plain_rate(cfg, dataset, info) -> float:
    keras.utils.set_random_seed(cfg.seed)
    model = models.build(cfg.model.name, info.input_shape, info.num_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(cfg.optimizer.lr, momentum=cfg.optimizer.momentum),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(
        dataset, epochs=cfg.trainer.epochs, steps_per_epoch=cfg.trainer.steps_per_epoch, verbose=0
    )
    seconds = time.perf_counter() - start
    return cfg.trainer.epochs * cfg.trainer.steps_per_epoch * cfg.trainer.batch_size / seconds


def conv_peak_gflops(batch: int, repeats: int = 20) -> float:
    """GFLOP/s of one 3x3 conv2d forward+backward, batch x 32x32x64 -> 64 (2 x MACs x 3)."""
    x = tf.random.normal((batch, 32, 32, 64))
    w = tf.Variable(tf.random.normal((3, 3, 64, 64)) * 0.05)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, w, 1, "SAME")
            loss = tf.reduce_sum(y)
        return tape.gradient(loss, [x, w])

    step()
    start = time.perf_counter()
    for _ in range(repeats):
        grads = step()
    float(tf.reduce_sum(grads[0]))
    seconds = (time.perf_counter() - start) / repeats
    macs = batch * 32 * 32 * 64 * 9 * 64
    return 3 * 2 * macs / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="lenet5,resnet20,alexnet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--batch", type=int, default=None, help="override every case's batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    print(f"load average: {os.getloadavg()[0]:.2f} (ratios are meaningful on an idle machine)")
    print(f"{'case':<10} {'batch':>5} {'cnnlab img/s':>13} {'plain img/s':>12} {'overhead':>9}")
    rates = {}
    for name in args.cases.split(","):
        case = CASES[name]
        cfg = compose_case(case, args, workdir)
        dataset, info = in_memory(cfg)
        ours, theirs = [], []
        for _ in range(args.repeats):  # in turns: a busy neighbour slows both alike
            ours.append(cnnlab_rate(cfg, workdir))
            theirs.append(plain_rate(cfg, dataset, info))
        rates[name] = statistics.median(ours)
        overhead = statistics.median(theirs) / rates[name]
        print(
            f"{name:<10} {cfg.trainer.batch_size:>5} {rates[name]:>13.1f} "
            f"{statistics.median(theirs):>12.1f} {overhead:>9.3f}"
        )
    if "resnet20" in rates:
        batch = args.batch or CASES["resnet20"].batch_size
        macs = analysis.profile(models.build("resnet20", (32, 32, 3), 10)).macs
        achieved = 3 * 2 * macs * rates["resnet20"] / 1e9
        peak = conv_peak_gflops(batch)
        print(
            f"resnet20: {achieved:.1f} GFLOP/s of training work, {100 * achieved / peak:.0f}% of "
            f"the {peak:.1f} GFLOP/s of a 3x3 conv2d forward+backward (batch {batch})"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
