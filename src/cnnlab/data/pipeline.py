"""One tf.data pipeline for every source.

Per example (parallel): images of varying size are resized to `data.load_size` (uint8 stays
uint8). Then cache, shuffle and batch. Per batch (parallel, vectorized): convert to float32
in [0, 1] with `data.channels` (and resize fixed-size sources), augment (train) or crop the
centre (evaluation) to `data.image_size`, normalize, prefetch.

What is the same every epoch is done once when the split fits in memory
(`PREPARED_CACHE_BYTES`, with `data.cache` on and no `data.cache_path`): the train split is
kept as float32 at load size (with augmentation) or as the model takes it (without), the
validation split as the model takes it. A step then only shuffles and batches what is kept,
as a hand-written in-memory pipeline does (see docs/data.md).
"""

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from cnnlab.config import TrainConfig
from cnnlab.config.augment import AugmentConfig, TestTime
from cnnlab.config.data import DataConfig
from cnnlab.data.augment import Augmenter, OpContext, build_augmenter
from cnnlab.data.images import match_channels, resize, to_float, to_uint8
from cnnlab.data.normalize import (
    DataStats,
    build_normalizer,
    cached_stats,
    compute_stats,
    normalization,
)
from cnnlab.data.sources.registry import Source, load_source, with_source_geometry
from cnnlab.data.test_views import TEST_TIME_VIEWS, center_crop, tta_views
from cnnlab.errors import ConfigError

log = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
STATS_BATCH = 256
# The most a split may take in memory once prepared (float32: 4 bytes per value). CIFAR-10's
# 45,000 train images at 32x32x3 take 0.55 GiB; ImageNet-sized splits stay as they are stored.
PREPARED_CACHE_BYTES = 1 << 30


@dataclass
class DataInfo:
    """What a model and a tracker need to know about the data."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: list[str]
    split_sizes: dict[str, int]
    extra: dict[str, float]
    # What an exported model repeats on raw images: resize to `load_size` ('stretch' or
    # 'crop'), centre crop to `input_shape`, then (x - mean) / std when normalized.
    load_size: tuple[int, int] | None = None
    resize: str = "stretch"
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class AugmentationSample:
    """A few train images before (centre crop) and after augmentation, in [0, 1], and labels."""

    before: np.ndarray
    after: np.ndarray
    labels_before: np.ndarray
    labels_after: np.ndarray


@dataclass
class Datasets:
    """Batched splits of (image float32, one-hot label float32) and their info.

    Images are in [0, 1], or standardized per channel when `data.normalize` is on.
    `raw` holds each split's examples as loaded (uint8 images at the source's size or at
    `data.load_size`, integer labels), unbatched: what an exported model takes. `test_views`
    yields (V * B views, B labels) when `augment.test_time` asks for test-time
    augmentation; `preview(n)` shows what augmentation does to n train images.
    """

    train: tf.data.Dataset
    val: tf.data.Dataset | None
    test: tf.data.Dataset
    info: DataInfo
    test_views: tf.data.Dataset | None = None
    preview: Callable[[int], AugmentationSample] | None = None
    raw: dict[str, tf.data.Dataset] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSizes:
    """Sizes through the pipeline: sources load at `load_size`, the model gets `image_size`."""

    image_size: tuple[int, int]
    load_size: tuple[int, int]
    channels: int
    resize: str

    @classmethod
    def from_config(cls, data: DataConfig) -> "ImageSizes":
        image_size = tuple(data.image_size)
        load_size = tuple(data.load_size or image_size)
        if load_size[0] < image_size[0] or load_size[1] < image_size[1]:
            raise ConfigError(
                f"data.load_size={list(load_size)} is invalid: expected at least "
                f"data.image_size={list(image_size)} (crops are taken from the loaded image)"
            )
        return cls(image_size, load_size, data.channels, str(data.resize))

    def load_example(self, image: tf.Tensor) -> tf.Tensor:
        """One image of any size -> `load_size`, keeping its dtype (uint8 for decoded files)."""
        image = match_channels(image, self.channels)
        # Antialiasing filters only when shrinking (photos to a load size), where it avoids moire.
        resized = resize(image, self.load_size, self.resize, antialias=True)
        return to_uint8(resized) if image.dtype == tf.uint8 else resized

    def load_batch(self, images: tf.Tensor) -> tf.Tensor:
        """A batch as stored -> float32 in [0, 1] at `load_size` with `channels`."""
        images = match_channels(to_float(images), self.channels)
        height, width = images.shape[1:3]
        if (height, width) != self.load_size:
            shrinking = height > self.load_size[0] or width > self.load_size[1]
            images = resize(images, self.load_size, self.resize, antialias=shrinking)
        return images


@dataclass(frozen=True)
class BatchTransforms:
    """What happens to a batch once read: float conversion at load size, then augmentation
    (train) or the centre crop (evaluation) to image size, then normalization."""

    geometry: ImageSizes
    num_classes: int
    seed: int
    normalize: Callable[[tf.Tensor], tf.Tensor]
    augment: Augmenter | None
    test_time: str

    def crop_to_image_size(self, images: tf.Tensor) -> tf.Tensor:
        return center_crop(images, self.geometry.image_size)

    def train(self, images: tf.Tensor, labels: tf.Tensor, batch_seed: tf.Tensor | None = None):
        images, labels = self.geometry.load_batch(images), tf.one_hot(labels, self.num_classes)
        if self.augment is not None:
            seed = tf.stack([tf.constant(self.seed, tf.int64), batch_seed])
            images, labels = self.augment(images, labels, seed)
        return self.normalize(self.crop_to_image_size(images)), labels

    def load(self, images: tf.Tensor, labels: tf.Tensor):
        """What `train` does first, done once for a split kept in memory before augmentation."""
        return self.geometry.load_batch(images), labels

    def evaluate(self, images: tf.Tensor, labels: tf.Tensor):
        images = self.crop_to_image_size(self.geometry.load_batch(images))
        return self.normalize(images), tf.one_hot(labels, self.num_classes)

    def views(self, images: tf.Tensor, labels: tf.Tensor):
        images = tta_views(
            self.geometry.load_batch(images), self.geometry.image_size, self.test_time
        )
        return self.normalize(images), tf.one_hot(labels, self.num_classes)

    def preview(self, images: tf.Tensor, labels: tf.Tensor) -> AugmentationSample:
        """The train batch's first images as evaluation sees them and as augmented (seed, 0)."""
        images, labels = self.geometry.load_batch(images), tf.one_hot(labels, self.num_classes)
        after, mixed = self.augment(images, labels, tf.constant([self.seed, 0], tf.int64))
        before = self.crop_to_image_size(images)
        return AugmentationSample(
            before.numpy(), self.crop_to_image_size(after).numpy(), labels.numpy(), mixed.numpy()
        )


def build_datasets(cfg: TrainConfig) -> Datasets:
    """Compose `cfg.data`, `cfg.augment`, `cfg.trainer.batch_size` and `cfg.seed` into datasets."""
    data: DataConfig = cfg.data
    augment: AugmentConfig = cfg.augment
    source = load_source(data, seed=cfg.seed)
    data = with_source_geometry(data, source)
    geometry = ImageSizes.from_config(data)
    loaded = {split: load_examples(ds, geometry) for split, ds in source.splits.items()}
    stored = {split: cached(ds, data) for split, ds in loaded.items()}
    stats = train_stats(data, source, geometry, stored["train"])
    context = OpContext(geometry.image_size, geometry.channels, stats)
    mean_std = normalization(data, stats)
    transforms = BatchTransforms(
        geometry=geometry,
        num_classes=source.num_classes,
        seed=cfg.seed,
        normalize=build_normalizer(mean_std) or tf.identity,
        augment=build_augmenter(augment, context),
        test_time=tta_mode(augment, geometry),
    )
    size = cfg.trainer.batch_size
    views = TEST_TIME_VIEWS[transforms.test_time]

    def preview(count: int = 8) -> AugmentationSample:
        return transforms.preview(*next(iter(loaded["train"].take(count).batch(count))))

    in_memory = data.cache and not data.cache_path

    def kept(split: str, transform: Callable, image_size: tuple[int, int]):
        """`split` prepared by `transform` and kept in memory, or None when it does not fit."""
        example_bytes = 4 * (image_size[0] * image_size[1] * geometry.channels + source.num_classes)
        fits = example_bytes * source.split_sizes[split] <= PREPARED_CACHE_BYTES
        return prepared_in_memory(loaded[split], transform) if in_memory and fits else None

    if transforms.augment is None:  # train batches are then what evaluation sees
        train = kept("train", transforms.evaluate, geometry.image_size)
    else:
        train = kept("train", transforms.load, geometry.load_size)
    val = None
    if "val" in stored:
        val_kept = kept("val", transforms.evaluate, geometry.image_size)
        val = (
            batched(stored["val"], transforms.evaluate, size)
            if val_kept is None
            else batched(val_kept, None, size)
        )
    return Datasets(
        train=train_batches(
            stored["train"] if train is None else train,
            transforms,
            size,
            data.shuffle_buffer,
            ready=train is not None and transforms.augment is None,
        ),
        val=val,
        test=batched(stored["test"], transforms.evaluate, size),
        info=DataInfo(
            name=source.name,
            input_shape=(*geometry.image_size, geometry.channels),
            class_names=list(source.class_names),
            split_sizes=dict(source.split_sizes),
            extra=dict(source.extra),
            load_size=geometry.load_size,
            resize=geometry.resize,
            normalization=mean_std,
        ),
        # V views per image: batches of size // V images keep a forward pass at ~size images
        test_views=batched(stored["test"], transforms.views, max(1, size // views))
        if views > 1
        else None,
        preview=preview if transforms.augment is not None else None,
        raw=stored,
    )


def cached(ds: tf.data.Dataset, data: DataConfig) -> tf.data.Dataset:
    """`data.cache` keeps the loaded examples in memory, or in files at `data.cache_path`."""
    if not data.cache:
        return ds
    return ds.cache(data.cache_path or "")


def tta_mode(augment: AugmentConfig, geometry: ImageSizes) -> str:
    mode = str(augment.test_time)
    if mode == TestTime.ten_crop and geometry.load_size == geometry.image_size:
        raise ConfigError(
            "augment.test_time=ten_crop needs data.load_size larger than data.image_size "
            "(e.g. 256 for 224 crops); the crops would all be the same"
        )
    return mode


def train_batches(
    ds: tf.data.Dataset,
    transforms: BatchTransforms,
    size: int,
    shuffle_buffer: int,
    ready: bool = False,
) -> tf.data.Dataset:
    """Shuffled every epoch; augmented batches get one seed each from a seeded stream that
    changes every epoch, so the same config seed gives the same batches. `ready`: the examples
    are already what the model takes (kept in memory, no augmentation)."""
    seed = transforms.seed
    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if transforms.augment is None:
        return batched(ds, None if ready else transforms.train, size)
    batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip(ds.batch(size), batch_seeds)
    augment = traced_as_written(lambda batch, batch_seed: transforms.train(*batch, batch_seed))
    return ds.map(augment, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def batched(ds: tf.data.Dataset, transform: Callable | None, size: int) -> tf.data.Dataset:
    ds = ds.batch(size, drop_remainder=False)
    if transform is not None:
        ds = ds.map(traced_as_written(transform), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def prepared_in_memory(ds: tf.data.Dataset, transform: Callable) -> tf.data.Dataset:
    """The examples of `ds` after `transform` (a per-image batch transform: the same image
    gives the same result in any batch), in their order, computed on the first pass and kept
    in memory. Keeps the split's known length, which `unbatch` forgets: Keras would otherwise
    learn the validation split's length by running out of it, with a warning."""
    count = int(ds.cardinality())
    prepared = ds.batch(STATS_BATCH).map(traced_as_written(transform), num_parallel_calls=AUTOTUNE)
    prepared = prepared.unbatch().cache()
    return (
        prepared.apply(tf.data.experimental.assert_cardinality(count)) if count >= 0 else prepared
    )


def traced_as_written(function):
    """Trace `function` as written: errors in it (bad op parameters for these image sizes)
    surface as the ConfigError raised, not wrapped by AutoGraph."""
    return tf.autograph.experimental.do_not_convert(function)


def load_examples(ds: tf.data.Dataset, geometry: ImageSizes) -> tf.data.Dataset:
    """Bring images of varying size to `load_size`, per example; fixed-size sources wait for
    the batch stage, where resizing is vectorized."""
    if ds.element_spec[0].shape.is_fully_defined():
        return ds
    return ds.map(
        traced_as_written(lambda image, label: (geometry.load_example(image), label)),
        num_parallel_calls=AUTOTUNE,
    )


def train_stats(
    data: DataConfig, source: Source, geometry: ImageSizes, train: tf.data.Dataset
) -> Callable[[], DataStats]:
    """Train-split statistics at load size, computed (or read from the cache) on first call."""
    key = source.fingerprint and f"{source.fingerprint}|{geometry}"

    def compute() -> DataStats:
        log.info("computing per-channel statistics of the %s train split (once)", source.name)
        batches = train.batch(STATS_BATCH).map(
            traced_as_written(lambda images, _: geometry.load_batch(images)),
            num_parallel_calls=AUTOTUNE,
        )
        return compute_stats(batches)

    return functools.cache(lambda: cached_stats(data.stats_cache, key, compute))


def describe(info: DataInfo) -> str:
    """One line for logs: name, shape, classes and split sizes."""
    sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
    return f"{info.name}: {info.input_shape} images, {info.num_classes} classes ({sizes})"


__all__ = [
    "AugmentationSample",
    "DataInfo",
    "Datasets",
    "Source",
    "build_datasets",
    "describe",
]
