"""Data sources by name: each turns `cfg.data` into raw (image, label) splits and their info.

A source yields uint8 or float images of shape (H, W, C) and integer labels; resizing,
scaling, augmentation and batching happen once, in `cnnlab.data.pipeline`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import tensorflow as tf
from omegaconf import DictConfig

from cnnlab.config import require_choice


@dataclass
class Source:
    """Raw splits of one dataset. `splits` has 'train' and 'test', and 'val' if the source has one."""

    name: str
    splits: dict[str, tf.data.Dataset]
    class_names: list[str]
    split_sizes: dict[str, int]
    extra: dict[str, float] = field(
        default_factory=dict
    )  # e.g. bad files skipped, logged as metrics

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


SourceLoader = Callable[[DictConfig, int], Source]
_SOURCES: dict[str, SourceLoader] = {}


def register_source(name: str) -> Callable[[SourceLoader], SourceLoader]:
    """Register a loader `(data_cfg, seed) -> Source` under `name` (the `data.name` config value)."""

    def add(loader: SourceLoader) -> SourceLoader:
        _SOURCES[name] = loader
        return loader

    return add


def available_sources() -> list[str]:
    return sorted(_SOURCES)


def load_source(data_cfg: DictConfig, seed: int) -> Source:
    require_choice("data.name", data_cfg.name, available_sources())
    return _SOURCES[data_cfg.name](data_cfg, seed)


@register_source("digits")
def load_digits_source(data_cfg: DictConfig, seed: int) -> Source:
    from cnnlab.data.digits import prepare

    builder = prepare(data_cfg.data_dir)
    train_size = builder.info.splits["train"].num_examples
    val_size = round(train_size * data_cfg.val_fraction)
    fit_size = train_size - val_size
    # TFDS stores examples in a hash-shuffled order, so slicing the tail gives a random subset.
    splits = {
        "train": builder.as_dataset(split=f"train[:{fit_size}]", as_supervised=True),
        "val": builder.as_dataset(split=f"train[{fit_size}:]", as_supervised=True),
        "test": builder.as_dataset(split="test", as_supervised=True),
    }
    return Source(
        name="digits",
        splits=splits,
        class_names=builder.info.features["label"].names,
        split_sizes={
            "train": fit_size,
            "val": val_size,
            "test": builder.info.splits["test"].num_examples,
        },
    )
