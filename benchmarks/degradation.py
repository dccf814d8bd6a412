"""The degradation problem (He et al., 2016, Sec. 4.2 and Fig. 6): plain nets against ResNets.

Trains plain-20, plain-56, ResNet-20 and ResNet-56 with one recipe and one budget (the default
recipe of `make train`: SGD 0.02 with momentum 0.9, cosine decay, batch 32, translate
augmentation, the embedded 28x28 digits) and plots their training error against epochs as the
paper's Fig. 6 does: plain nets on the left, ResNets on the right, training error solid,
validation error dashed. The figure is written to benchmarks/degradation.png and, with the table,
logged to MLflow (experiment `degradation`: one train run per model and a `kind=benchmark` run
holding the figure). Prints the table as Markdown.

In the paper (CIFAR-10, 64k iterations), the 56-layer plain net has a higher *training* error
than the 20-layer one throughout, and the residual connections reverse the order. Whether this
budget on 1,293 digits shows it is what the printed table says.

    python benchmarks/degradation.py [--epochs 5] [--seed 42] [--models plain20 resnet20]
"""

import argparse
import logging
import os
import time
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
from _machine import machine
from hydra import compose, initialize_config_dir
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnlab import tracking
from cnnlab.config import register_schemas, typed
from cnnlab.training import train

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
MODELS = ("plain20", "plain56", "resnet20", "resnet56")
# About 15 minutes for the four models on 2 CPU cores shared with other jobs (load average 4-9).
EPOCHS = 5
EXPERIMENT = "degradation"
log = logging.getLogger("degradation")


def compose_cfg(name: str, epochs: int, seed: int):
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train",
            [
                f"model={name}",
                f"seed={seed}",
                f"trainer.epochs={epochs}",
                "trainer.verbose=0",
                f"tracking.experiment={EXPERIMENT}",
                "tracking.log_model=false",
            ],
        )


def errors(history: dict[str, list[float]], key: str) -> list[float]:
    """Error per epoch from Keras's accuracy history (training: the running accuracy of each
    epoch's augmented batches in training mode, as the paper's training curves)."""
    return [1.0 - a for a in history[key]]


def plot(curves: dict[str, dict[str, list[float]]], title: str) -> Figure:
    """Fig. 6's layout: plain nets left, ResNets right; solid training, dashed validation."""
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    colours = {"20": "tab:orange", "32": "tab:cyan", "44": "tab:green", "56": "tab:red"}
    for ax, family in zip(axes, ("plain", "resnet"), strict=True):
        for name, curve in curves.items():
            if not name.startswith(family):
                continue
            depth = name.removeprefix(family)
            epochs = range(1, len(curve["train"]) + 1)
            colour = colours.get(depth)
            label = f"{family}-{depth}"
            ax.plot(epochs, [100 * e for e in curve["train"]], color=colour, label=f"{label} train")
            ax.plot(
                epochs, [100 * e for e in curve["val"]], "--", color=colour, label=f"{label} val"
            )
        ax.set_title("plain" if family == "plain" else "ResNet")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("error (%)")
    figure.suptitle(title)
    return figure


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--png", type=Path, default=ROOT / "benchmarks" / "degradation.png")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    curves, rows, run_ids, cfg = {}, [], {}, None
    started = time.perf_counter()
    for name in args.models:
        cfg = compose_cfg(name, args.epochs, args.seed)
        keras.backend.clear_session()
        result = train(typed(cfg), ROOT / "outputs" / EXPERIMENT / name)
        curves[name] = {
            "train": errors(result.history, "accuracy"),
            "val": errors(result.history, "val_accuracy"),
        }
        run_ids[name] = result.run_id
        rows.append(
            f"| `{name}` | {100 * curves[name]['train'][-1]:.1f} | "
            f"{100 * min(curves[name]['train']):.1f} | {100 * curves[name]['val'][-1]:.1f} | "
            f"{100 * (1 - result.test_metrics['test_accuracy']):.1f} | "
            f"{result.train_seconds:.0f} |"
        )
        log.info("%s done in %.0f s", name, time.perf_counter() - started)

    header = (
        "| model | training error, last epoch (%) | lowest training error (%) "
        "| validation error, last epoch (%) | test error (%) | training s |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    table = "\n".join([header, *rows])
    title = (
        f"digits 28x28, default recipe, {args.epochs} epochs, seed {args.seed} "
        f"(load average {load:.1f} at start; {machine()})"
    )
    figure = plot(curves, title)
    figure.savefig(args.png, dpi=100)
    with tracking.run(cfg.tracking, tracking.run_name("degradation"), {"kind": "benchmark"}):
        tracking.log_params(
            {
                "epochs": args.epochs,
                "seed": args.seed,
                **{f"run.{m}": r for m, r in run_ids.items()},
            }
        )
        for name, curve in curves.items():
            for epoch, (train_error, val_error) in enumerate(zip(*curve.values(), strict=True)):
                tracking.log_metrics(
                    {f"{name}.train_error": train_error, f"{name}.val_error": val_error}, epoch
                )
        tracking.log_figure(figure, "degradation.png")
        tracking.log_text(f"{title}\n\n{table}\n", "degradation.md")
    print(
        f"{title}; {time.perf_counter() - started:.0f} s in all, load average now "
        f"{os.getloadavg()[0]:.1f}\n\n{table}"
    )


if __name__ == "__main__":
    main()
