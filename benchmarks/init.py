"""Weight initialization, seen: a deep plain network's activations at initialization, per scheme.

The notes' experiment (CS231n, "Weight initialization"): ten fully connected layers of 500
units, tanh or ReLU, on a batch of unit-Gaussian inputs. For each `model.init` scheme
(normal:0.01, the notes' weight_scale; normal:1; Glorot; He) it draws the kernels with
`cnnlab.models.init`, histograms every layer's activations (vanishing under normal:0.01,
saturating at +-1 under normal:1 with tanh, steady under Glorot for tanh and He for ReLU), then
trains each network a few epochs on scikit-learn's 8x8 digits to show what the start does to
learning. Prints a table of the activations' std by layer and the final training losses,
writes benchmarks/gallery/init_activations.png and init_training.png, and logs both figures
to MLflow (experiment `bench-init`, a `kind=benchmark` run).

    python benchmarks/init.py [--epochs 10] [--width 500] [--depth 10] [--seed 0]
"""

import argparse
import time
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
import numpy as np
from _machine import busy, others_load
from omegaconf import OmegaConf
from sklearn.datasets import load_digits
from tqdm import tqdm

from cnnlab import tracking
from cnnlab.viz import activations

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "benchmarks" / "gallery"
SCHEMES = ("normal:0.01", "normal:1", "glorot_normal", "he_normal")
ACTIVATIONS = ("tanh", "relu")


def short_run(activation: str, init: str, args, digits) -> list[float]:
    """Training loss per epoch of the network on the digits (SGD 0.01, momentum 0.9)."""
    images, labels = digits
    keras.utils.set_random_seed(args.seed)
    body = activations.plain_network(args.depth, args.width, activation, images.shape[1], init)
    model = keras.Sequential([body, keras.layers.Dense(10)])
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(images, labels, batch_size=64, epochs=args.epochs, verbose=0)
    return [float(loss) for loss in history.history["loss"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_digits()
    images = (digits.data / 16.0 - 0.5).astype("float32") * 2  # [-1, 1]
    gaussian = np.random.default_rng(args.seed).normal(size=(1000, args.width)).astype("float32")
    spreads, curves = {}, {}
    started = time.perf_counter()
    with others_load() as others:
        for activation in ACTIVATIONS:
            for init in tqdm(SCHEMES, desc=activation):
                label = f"{activation}, {init}"
                keras.utils.set_random_seed(args.seed)
                model = activations.plain_network(
                    args.depth, args.width, activation, args.width, init
                )
                spreads[label] = activations.layer_activations(model, gaussian)
                curves[label] = short_run(activation, init, args, (images, digits.target))
    seconds = time.perf_counter() - started

    depth_title = f"{args.depth} dense layers of {args.width}, unit-Gaussian inputs"
    histograms = activations.plot_histograms(
        spreads, f"activations at initialization: {depth_title}"
    )
    training = activations.plot_curves(
        curves, f"{args.epochs} epochs on the 8x8 digits, SGD 0.01 momentum 0.9"
    )
    GALLERY.mkdir(exist_ok=True)
    histograms.savefig(GALLERY / "init_activations.png", dpi=90)
    training.savefig(GALLERY / "init_training.png", dpi=100)

    shown = sorted({0, args.depth // 2 - 1, args.depth - 1})
    header = (
        "| network, init | "
        + " | ".join(f"std, layer {i + 1}" for i in shown)
        + " | loss, epoch 1 | loss, last epoch |"
    )
    rows = [header, "| --- |" + " ---: |" * (len(shown) + 2)]
    for label, layers in spreads.items():
        stds = " | ".join(f"{layers[i].std():.2g}" for i in shown)
        rows.append(f"| {label} | {stds} | {curves[label][0]:.3f} | {curves[label][-1]:.3f} |")
    table = "\n".join(rows)
    print(table)
    print(f"{seconds:.0f} s; other processes used {others.cores:.2f} cores{busy(others.cores)}")

    tracking_cfg = OmegaConf.create(
        {"uri": None, "artifact_location": "mlartifacts", "experiment": "bench-init"}
    )
    with tracking.run(tracking_cfg, tracking.run_name("bench-init"), {"kind": "benchmark"}):
        tracking.log_params(vars(args))
        for label, layers in spreads.items():
            key = label.replace(", ", "_").replace(":", "_")
            tracking.log_metrics({f"{key}.last_layer_std": float(layers[-1].std())})
            tracking.log_metrics({f"{key}.final_loss": curves[label][-1]})
        tracking.log_figure(histograms, "init_activations.png")
        tracking.log_figure(training, "init_training.png")
        tracking.log_text(table + "\n", "init.md")


if __name__ == "__main__":
    main()
