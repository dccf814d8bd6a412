"""Data sources by name: each turns `cfg.data` into raw (image, label) splits and their info.

A source yields uint8 or float images of shape (H, W, C) and integer labels; resizing,
scaling, augmentation and batching happen once, in `cnnlab.data.pipeline`.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import tensorflow as tf

from cnnlab.checks import require_choice
from cnnlab.config.data import DataConfig


@dataclass
class Source:
    """Raw splits of one dataset. `splits` has 'train' and 'test', and 'val' if the source has one.

    `fingerprint` names the exact data (files, version, parameters) so that statistics
    computed on the train split can be cached; empty means "do not cache".
    """

    name: str
    splits: dict[str, tf.data.Dataset]
    class_names: list[str]
    split_sizes: dict[str, int]
    extra: dict[str, float] = field(default_factory=dict)  # e.g. bad files skipped, as metrics
    fingerprint: str = ""
    # for a data.image_size / data.channels left null: the source's choice (the images')
    image_size: tuple[int, int] | None = None
    channels: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


SourceLoader = Callable[[DataConfig, int], Source]
_SOURCES: dict[str, SourceLoader] = {}


def register_source(name: str) -> Callable[[SourceLoader], SourceLoader]:
    """Register a loader `(data, seed) -> Source` under `name`, the `data.source` that picks it.

    The loader receives its own schema's object (`cnnlab.config.data`).
    """

    def add(loader: SourceLoader) -> SourceLoader:
        _SOURCES[name] = loader
        return loader

    return add


def available_sources() -> list[str]:
    return sorted(_SOURCES)


def with_source_geometry(data: DataConfig, source: Source) -> DataConfig:
    """`data` with the image size and channels its source chose where they were left null."""
    changes = {}
    if data.image_size is None:
        changes["image_size"] = list(source.image_size)
    if data.channels is None:
        changes["channels"] = source.channels
    return dataclasses.replace(data, **changes) if changes else data


def load_source(data: DataConfig, seed: int) -> Source:
    """The raw splits of `data`."""
    require_choice("data.source", data.source, available_sources())
    return _SOURCES[data.source](data, seed)
