"""The input pipeline against the training it feeds, side by side (`make bench-data`).

In one process, medians of `--repeats`, for each data set, model and augmentation recipe:

- pipeline: images/s of `build_datasets(cfg).train` alone, one whole epoch per measurement,
  after a first pass that fills the cache (the `cache=false` row decodes every JPEG every time);
- training: images/s that the model's compiled train step consumes from a batch held in
  memory. It does not depend on the recipe, so it is measured once per model, in turns with
  the fed runs (a busy neighbour slows both alike);
- ratio = pipeline / training: the pipeline is never the bottleneck when it is >= 3;
- fed: images/s of the same train step fed by the pipeline, for the recipes marked in CASES;
  close to `training` when the input keeps up although both now share the CPU.

Data: the embedded digits (LeNet-5), a CIFAR-shaped synthetic set held in memory (ResNet-20),
and a folder of generated 224x224 JPEGs loaded at 256x256 with 224 crops (AlexNet).

    python benchmarks/input_pipeline.py [--repeats 3] [--images 3000] [--only digits,cifar,folder]
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cnnlab import native_logs

native_logs.quiet_by_default()  # TensorFlow reads its log level once, when it loads
native_logs.import_tensorflow()  # its start-up notices filtered to that level

import keras
import numpy as np
import tensorflow as tf
from _machine import machine
from hydra import compose, initialize_config_dir
from PIL import Image

from cnnlab import models
from cnnlab.config import register_schemas, typed
from cnnlab.data import Datasets, build_datasets

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Group:
    """One data set and the model it feeds, with the recipes to time."""

    data: str  # label in the table
    overrides: tuple[str, ...]
    model: str
    batch_size: int
    train_steps: int  # per timed training run
    recipes: tuple[str, ...]
    fed: tuple[str, ...]  # recipes (or `cache=false` variants) also timed feeding the model
    uncached: tuple[str, ...] = ()  # recipes timed again with data.cache=false


def groups(folder: Path, stats_dir: Path) -> dict[str, Group]:
    stats = f"data.stats_cache={stats_dir}"
    return {
        "digits": Group(
            "digits 28x28x1", (stats,), "lenet5", 64, 40, ("none", "cifar"), ("none", "cifar")
        ),
        "cifar": Group(
            "synthetic 32x32x3, in memory",
            (
                "data=synthetic",
                "data.train_size=10000",
                "data.cache=true",
                "data.normalize=true",
                stats,
            ),
            "resnet20",
            128,
            8,
            ("none", "cifar", "cutout", "random_erasing", "mixup", "cutmix"),
            ("cifar", "cutmix"),
        ),
        "folder": Group(
            "JPEG folder, 224 crops of 256",
            (
                "data=folder",
                f"data.path={folder}",
                "data.image_size=[224,224]",
                "data.load_size=[256,256]",
                stats,
            ),
            "alexnet",
            32,
            3,
            ("none", "alexnet", "imagenet", "vgg_multiscale"),
            ("alexnet", "alexnet, cache=false"),
            uncached=("alexnet",),
        ),
    }


def write_jpeg_folder(root: Path, count: int, classes: int = 10, side: int = 224) -> Path:
    """`count` smooth random 224x224 JPEGs (photo-like file sizes) in class folders, once."""
    if root.exists() and len(list(root.glob("*/*.jpg"))) == count:
        return root

    def write(index: int) -> None:
        rng = np.random.default_rng(index)
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((side, side), Image.BICUBIC)
        noisy = np.asarray(image, np.int16) + rng.integers(-12, 13, (side, side, 3))
        path = root / f"class_{index % classes}" / f"{index:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, quality=90)

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(write, range(count)))
    return root


def datasets(group: Group, recipe: str, cache: bool) -> Datasets:
    register_schemas()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *group.overrides,
                f"augment={recipe}",
                f"trainer.batch_size={group.batch_size}",
                f"data.cache={str(cache).lower()}",
            ],
        )
    return build_datasets(typed(cfg))


def images_per_second(run: Callable[..., int], *args) -> float:
    """`run(*args)` returns how many images it processed."""
    start = time.perf_counter()
    images = run(*args)
    return images / (time.perf_counter() - start)


def iterate(dataset: tf.data.Dataset) -> int:
    """Images in one pass over `dataset`."""
    return sum(int(images.shape[0]) for images, _ in dataset)


def train_steps(model: keras.Model, iterator, steps: int, batch_size: int) -> int:
    """`steps` calls of the model's compiled train step, each taking a batch from `iterator`."""
    for _ in range(steps):
        logs = model.train_function(iterator)
    keras.tree.map_structure(np.asarray, logs)  # wait for the last step
    return steps * batch_size


def compiled_model(name: str, batch, num_classes: int) -> keras.Model:
    """The model compiled as a run compiles it, its train step traced on `batch`."""
    keras.utils.set_random_seed(0)
    model = models.build(name, tuple(batch[0].shape[1:]), num_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    batches = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(batches, steps_per_epoch=2, shuffle=False, verbose=0)
    return model


def measure_group(group: Group, repeats: int) -> list[tuple[str, float, float | None]]:
    """(recipe, pipeline img/s, fed img/s or None) per row, and the group's training img/s
    as the last row ("training", rate, None)."""
    model = None
    in_memory = None
    training: list[float] = []
    rows = []
    variants = [(r, True) for r in group.recipes] + [(r, False) for r in group.uncached]
    for recipe, cache in variants:
        label = recipe if cache else f"{recipe}, cache=false"
        data = datasets(group, recipe, cache)
        iterate(data.train)  # fills the cache, traces the pipeline
        pipeline = [images_per_second(iterate, data.train) for _ in range(repeats)]
        fed: list[float] = []
        if label in group.fed:
            if model is None:
                batch = next(iter(data.train))
                model = compiled_model(group.model, batch, data.info.num_classes)
                in_memory = iter(tf.data.Dataset.from_tensors(batch).repeat())
            stream = iter(data.train.repeat())
            train_steps(model, stream, 1, group.batch_size)  # fills the shuffle buffer
            steps, size = group.train_steps, group.batch_size
            for _ in range(repeats):  # in turns: a busy neighbour slows both alike
                training.append(images_per_second(train_steps, model, in_memory, steps, size))
                fed.append(images_per_second(train_steps, model, stream, steps, size))
            del stream
        rows.append((label, statistics.median(pipeline), statistics.median(fed) if fed else None))
    return [*rows, ("training", statistics.median(training), None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=3000, help="JPEGs in the folder")
    parser.add_argument("--only", default="digits,cifar,folder")
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "cnnlab_bench_jpegs"
    )
    args = parser.parse_args()

    folder = write_jpeg_folder(args.folder / str(args.images), args.images)
    with tempfile.TemporaryDirectory() as stats_dir:
        selected = groups(folder, Path(stats_dir))
        print(
            f"{machine()}; load average at start {os.getloadavg()[0]:.2f}; "
            f"medians of {args.repeats}, {args.images} JPEGs\n"
        )
        print(
            "| data | model, batch | recipe | pipeline img/s | training img/s "
            "| pipeline / training | training fed by the pipeline img/s |"
        )
        print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
        for name in args.only.split(","):
            group = selected[name]
            *rows, (_, training, _) = measure_group(group, args.repeats)
            for recipe, pipeline, fed in rows:
                ratio = pipeline / training
                verdict = "" if ratio >= TARGET_RATIO else " (below 3x)"
                print(
                    f"| {group.data} | {group.model}, {group.batch_size} | {recipe} "
                    f"| {pipeline:,.0f} | {training:,.1f} | {ratio:,.0f}x{verdict} "
                    f"| {'' if fed is None else f'{fed:,.1f}'} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
