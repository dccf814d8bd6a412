"""One tf.data pipeline for every source: convert, resize, scale, cache, shuffle, batch, augment."""

from dataclasses import dataclass

import tensorflow as tf
from omegaconf import DictConfig

from cnnlab.data.augment import build_augmenter
from cnnlab.data.sources import Source, load_source

AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class DataInfo:
    """What a model and a tracker need to know about the data."""

    name: str
    input_shape: tuple[int, int, int]
    class_names: list[str]
    split_sizes: dict[str, int]
    extra: dict[str, float]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class Datasets:
    """Batched splits of (image float32 in [0, 1], one-hot label float32) and their info."""

    train: tf.data.Dataset
    val: tf.data.Dataset | None
    test: tf.data.Dataset
    info: DataInfo


def preprocess(image: tf.Tensor, image_size: tuple[int, int], channels: int) -> tf.Tensor:
    """Any image (H, W, 1|3|4, uint8 or float) -> (height, width, channels) float32 in [0, 1]."""
    if image.dtype == tf.uint8:
        image = tf.image.convert_image_dtype(image, tf.float32)
    else:
        image = tf.cast(image, tf.float32)
    if image.shape[-1] == 4:  # RGBA: drop alpha
        image = image[..., :3]
    if channels == 3 and image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif channels == 1 and image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image)
    if tuple(image.shape[:2]) != tuple(image_size):
        image = tf.image.resize(image, image_size, method="bilinear")
    return tf.clip_by_value(image, 0.0, 1.0)


def build_datasets(cfg: DictConfig) -> Datasets:
    """Compose `cfg.data`, `cfg.augment`, `cfg.trainer.batch_size` and `cfg.seed` into datasets."""
    source = load_source(cfg.data, seed=cfg.seed)
    image_size = tuple(cfg.data.image_size)
    channels = int(cfg.data.channels)
    num_classes = source.num_classes
    augment = build_augmenter(cfg.augment, seed=cfg.seed)

    def prepare(split: str, training: bool) -> tf.data.Dataset:
        ds = source.splits[split].map(
            lambda x, y: (preprocess(x, image_size, channels), tf.one_hot(y, num_classes)),
            num_parallel_calls=AUTOTUNE,
        )
        if cfg.data.get("cache", True):
            ds = ds.cache()
        if training:
            ds = ds.shuffle(
                cfg.data.get("shuffle_buffer", 2048), seed=cfg.seed, reshuffle_each_iteration=True
            )
        ds = ds.batch(cfg.trainer.batch_size, drop_remainder=False)
        if training and augment is not None:
            ds = ds.map(augment, num_parallel_calls=AUTOTUNE)
        return ds.prefetch(AUTOTUNE)

    info = DataInfo(
        name=source.name,
        input_shape=(*image_size, channels),
        class_names=list(source.class_names),
        split_sizes=dict(source.split_sizes),
        extra=dict(source.extra),
    )
    return Datasets(
        train=prepare("train", training=True),
        val=prepare("val", training=False) if "val" in source.splits else None,
        test=prepare("test", training=False),
        info=info,
    )


def describe(info: DataInfo) -> str:
    """One line for logs: name, shape, classes and split sizes."""
    sizes = ", ".join(f"{k} {v}" for k, v in info.split_sizes.items())
    return f"{info.name}: {info.input_shape} images, {info.num_classes} classes ({sizes})"


__all__ = ["DataInfo", "Datasets", "Source", "build_datasets", "describe", "preprocess"]
