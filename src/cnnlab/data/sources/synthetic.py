"""Synthetic images (`data=synthetic`): any shape and class count, generated on the fly.

No disk I/O, so benchmarks measure the pipeline and the model, and smoke tests need no
data. Example i of a split is a function of (seed, split, i) only. Each class has a fixed
random template mixed into the noise with weight `data.signal`, so a model can learn the
labels (a check that images and labels stay paired through the pipeline).
"""

import tensorflow as tf

from cnnlab.config.data import SyntheticDataConfig
from cnnlab.data.sources.registry import Source, register_source
from cnnlab.errors import DataError

SPLIT_STREAMS = {"train": 0, "test": 1}  # train and val share stream 0: val is train's tail


@register_source("synthetic")
def load_synthetic_source(data: SyntheticDataConfig, seed: int) -> Source:
    num_classes, signal = data.num_classes, data.signal
    shape = (*data.image_size, data.channels)
    train_size, test_size = data.train_size, data.test_size
    val_size = round(train_size * data.val_fraction)
    ranges = {"train": (0, train_size - val_size), "val": (train_size - val_size, train_size)}
    ranges["test"] = (0, test_size)
    for split, (start, stop) in ranges.items():
        if stop <= start and not (split == "val" and data.val_fraction == 0):
            raise DataError(f"data=synthetic: the {split} split is empty; raise data.{split}_size")
    if val_size == 0:
        del ranges["val"]
    templates = tf.random.stateless_uniform((num_classes, *shape), seed=(seed, 2**20))

    def generate(split: str, index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        example_seed = tf.stack([tf.constant(seed, tf.int64), SPLIT_STREAMS[split] * 2**32 + index])
        label_seed, image_seed = tf.unstack(tf.random.experimental.stateless_split(example_seed, 2))
        label = tf.random.stateless_uniform(
            (), label_seed, minval=0, maxval=num_classes, dtype=tf.int64
        )
        noise = tf.random.stateless_uniform(shape, image_seed)
        return (1 - signal) * noise + signal * tf.gather(templates, label), label

    def split_dataset(split: str, start: int, stop: int) -> tf.data.Dataset:
        stream = "test" if split == "test" else "train"
        return tf.data.Dataset.range(start, stop).map(
            lambda index: generate(stream, index), num_parallel_calls=tf.data.AUTOTUNE
        )

    return Source(
        name="synthetic",
        splits={split: split_dataset(split, *bounds) for split, bounds in ranges.items()},
        class_names=[f"class_{k}" for k in range(num_classes)],
        split_sizes={split: stop - start for split, (start, stop) in ranges.items()},
        fingerprint=f"synthetic:{seed}:{shape}:{num_classes}:{signal}:{train_size}:{test_size}",
    )
