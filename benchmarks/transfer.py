"""Warm start vs scratch with few labels (`make bench-transfer`).

The digits split into two tasks: the source task is the classes 0-4 (every training image),
the target task the classes 5-9 with only 10 or 50 labelled images per class, tested on all of
the test split's 5-9. Each model (LeNet-5, the simple convnet) is trained on the source task
once, then on the target task from scratch and from the source run (`model.init_from=<run>`:
every layer fine-tuned, or the backbone frozen with `model.freeze=backbone`; the 5-class head
starts from the source's and relearns its classes), with the default recipe, over seeds. Then VGG-16 on the whole digits, from scratch and
stage-wise from a VGG-11 run (Sec. 3.1's mapping, `experiment=vgg_stagewise`), a short run each.

The tasks are folders of the 8x8 digits as PNG files (`data=folder`, `train/` and `test/`),
trained at 28x28 like the digits source. Runs are logged to MLflow (experiment `transfer`).
Prints Markdown tables with the load other processes put on the machine (`_machine.py`).

    python benchmarks/transfer.py [--seeds 3] [--labels 10 50] [--vgg-epochs 5] [--no-vgg]
"""

import argparse
import logging
import statistics
import tempfile
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import numpy as np
from _machine import busy, others_load
from hydra import compose, initialize_config_dir
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from cnnlab.config import register_schemas, typed
from cnnlab.training import train

CONF = Path(__file__).resolve().parents[1] / "conf"
SOURCE_CLASSES, TARGET_CLASSES = range(5), range(5, 10)
MODELS = ("lenet5", "simple_convnet")
TEST_SIZE, SPLIT_SEED = 360, 0  # the digits source's own test split (cnnlab.data.sources.digits)


def write_task(root: Path, classes, per_class: int | None, seed: int) -> Path:
    """`root/train/<class>/*.png` (at most `per_class` per class, drawn with `seed`) and
    `root/test/<class>/*.png` (all), from the digits' own train/test split."""
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    ids = np.arange(len(images))
    train_ids, test_ids = train_test_split(
        ids, test_size=TEST_SIZE, stratify=digits.target, random_state=SPLIT_SEED
    )
    rng = np.random.default_rng(seed)
    for split, pool in (("train", train_ids), ("test", test_ids)):
        for label in classes:
            chosen = pool[digits.target[pool] == label]
            if split == "train" and per_class is not None:
                chosen = rng.choice(chosen, per_class, replace=False)
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(images[i], mode="L").save(folder / f"{i}.png")
    return root


def run(overrides: list[str], workdir: Path) -> tuple[float, str]:
    """(test accuracy, run id) of one training run."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "tracking.experiment=transfer",
                "tracking.log_model=true",
                "trainer.verbose=0",
                *overrides,
            ],
        )
    result = train(typed(cfg), output_dir=Path(tempfile.mkdtemp(dir=workdir)))
    return result.test_metrics["test_accuracy"], result.run_id


def on_folder(path: Path, *overrides: str) -> list[str]:
    return [
        "data=folder",
        f"data.path={path}",
        "data.image_size=[28,28]",  # as the digits source; the files are 8x8
        "data.channels=1",
        "data.val_fraction=0",  # a few labels: every one trains
        "data.normalize=false",  # as the digits source: the source run's input
        *overrides,
    ]


def few_labels_table(args, workdir: Path) -> None:
    source_folder = write_task(workdir / "source", SOURCE_CLASSES, None, 0)
    print(
        "| model | labels per class | scratch | warm start | gain | warm, backbone frozen | gain "
        "| others' load |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for model in MODELS:
        accuracy, source_run = run(on_folder(source_folder, f"model={model}"), workdir)
        logging.info("%s on classes 0-4: test accuracy %.4f", model, accuracy)
        for labels in args.labels:
            scratch, warm, frozen = [], [], []
            with others_load() as others:
                for seed in range(args.seeds):
                    target = write_task(workdir / f"t{labels}s{seed}", TARGET_CLASSES, labels, seed)
                    common = on_folder(target, f"model={model}", f"seed={seed}")
                    scratch.append(run(common, workdir)[0])
                    warm_start = [*common, f"model.init_from={source_run}"]
                    warm.append(run(warm_start, workdir)[0])
                    frozen.append(run([*warm_start, "model.freeze=backbone"], workdir)[0])
            s, w, f = (statistics.mean(v) for v in (scratch, warm, frozen))
            print(
                f"| {model} | {labels} | {s:.3f} | {w:.3f} | {w - s:+.3f} | {f:.3f} | {f - s:+.3f} "
                f"| {others.cores:.2f}{busy(others.cores)} |",
                flush=True,
            )


def vgg_table(args, workdir: Path) -> None:
    # the paper's SGD (lr 0.01, momentum 0.9, L2 5e-4; experiment=vgg_stagewise) for all three
    short = [
        f"trainer.epochs={args.vgg_epochs}",
        "optimizer.lr=0.01",
        "optimizer.momentum=0.9",
        "model.l2=5e-4",
    ]
    print("\n| VGG-16 on the digits | epochs | test accuracy | others' load |")
    print("| --- | --- | --- | --- |")
    with others_load() as others:
        a_accuracy, a_run = run(["model=vgg11", *short], workdir)
        scratch = run(["model=vgg16", *short], workdir)[0]
    print(
        f"| VGG-11 (A), the source | {args.vgg_epochs} | {a_accuracy:.3f} | "
        f"{others.cores:.2f}{busy(others.cores)} |"
    )
    print(
        f"| from scratch | {args.vgg_epochs} | {scratch:.3f} | {others.cores:.2f}{busy(others.cores)} |"
    )
    with others_load() as others:
        staged = run(["experiment=vgg_stagewise", f"model.init_from={a_run}", *short], workdir)[0]
    print(
        f"| stage-wise from VGG-11 | {args.vgg_epochs} | {staged:.3f} | "
        f"{others.cores:.2f}{busy(others.cores)} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--vgg-epochs", type=int, default=5)
    parser.add_argument("--no-vgg", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        few_labels_table(args, workdir)
        if not args.no_vgg:
            vgg_table(args, workdir)


if __name__ == "__main__":
    main()
