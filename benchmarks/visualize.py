"""Time every visualization's defaults on a short LeNet-5 run and on a random VGG-11, and refresh
the README gallery: `python benchmarks/visualize.py` (or `make bench-viz`).

Trains LeNet-5 on the digits into a throwaway MLflow store, runs each `conf/viz/` config with its
defaults (log=false), copies one picture of each into `benchmarks/gallery/`, and prints a table
of seconds from loading the model (the run's, or building the random one) to the finished
pictures; starting Python and TensorFlow (about 5 s) is not counted.
"""

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

from _machine import machine
from hydra import compose, initialize_config_dir
from PIL import Image

import cnnlab.config.viz  # its VIZ_SCHEMAS name the visualizations
from cnnlab.config import TrainConfig, register_schemas, typed
from cnnlab.config.run import VisualizeConfig
from cnnlab.training import train
from cnnlab.visualize import visualize

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "benchmarks" / "gallery"
NAMES = list(cnnlab.config.viz.VIZ_SCHEMAS)
# The picture of each visualization that goes into the README gallery.
SHOWN = {
    "filters": "filters_c1.png",
    "feature_maps": "feature_maps_c3_relu.png",
    "activation_max": "activation_max_c3_filters.png",
    "saliency": "saliency.png",
    "deepdream": "deepdream_c3.png",
    "style_transfer": "style_transfer.png",
    "embedding": "embedding.png",
}


def copy_small(source: Path, target: Path) -> None:
    """Copy a PNG with a 128-colour palette: a third of the size, the same picture to the eye."""
    with Image.open(source) as image:
        image.convert("RGB").quantize(128).save(target, optimize=True)


def compose_config(name: str, *overrides: str):
    """`conf/<name>.yaml` (train or visualize) as its pipeline passes it on, typed."""
    register_schemas()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides))
    return typed(cfg, {"train": TrainConfig, "visualize": VisualizeConfig}[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="LeNet-5's training epochs")
    parser.add_argument("--vgg-size", type=int, default=64, help="the random VGG-11's input side")
    parser.add_argument("--no-gallery", action="store_true", help="time only; leave the PNGs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    store = Path(tempfile.mkdtemp(prefix="cnnlab-viz-bench-"))
    tracking = [
        f"tracking.uri=sqlite:///{store}/mlflow.db",
        f"tracking.artifact_location={store}/artifacts",
    ]
    run = train(
        compose_config("train", f"trainer.epochs={args.epochs}", "trainer.verbose=0", *tracking),
        output_dir=store / "train",
    )
    rows = []
    for name in NAMES:
        out = store / name
        lenet = visualize(
            compose_config("visualize", f"viz={name}", f"run={run.run_id}", "log=false", *tracking),
            out,
        )
        if not args.no_gallery:
            GALLERY.mkdir(parents=True, exist_ok=True)
            copy_small(out / SHOWN[name], GALLERY / SHOWN[name])
        vgg_seconds = None
        if name != "embedding":  # needs a labelled dataset: a trained run
            side = args.vgg_size
            vgg_seconds = visualize(
                compose_config(
                    "visualize",
                    f"viz={name}",
                    "viz.model=random:vgg11",
                    f"viz.input_shape=[{side},{side},3]",
                    "log=false",
                    *tracking,
                ),
                store / f"vgg_{name}",
            ).seconds
            if name == "style_transfer" and not args.no_gallery:
                copy_small(
                    store / "vgg_style_transfer" / "style_transfer.png",
                    GALLERY / "style_transfer_random_vgg11.png",
                )
        rows.append((name, lenet.seconds, vgg_seconds))
    load = os.getloadavg()
    print(
        f"\nLeNet-5 trained {args.epochs} epochs (test accuracy {run.test_metrics['test_accuracy']:.3f}); "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {machine()}"
    )
    print(
        f"| visualization | LeNet-5 28x28x1 (s) | random VGG-11 {args.vgg_size}x{args.vgg_size}x3 (s) |"
    )
    print("| --- | ---: | ---: |")
    for name, lenet_seconds, vgg_seconds in rows:
        vgg = f"{vgg_seconds:.1f}" if vgg_seconds is not None else "n/a (needs a run)"
        print(f"| {name} | {lenet_seconds:.1f} | {vgg} |")
    shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
