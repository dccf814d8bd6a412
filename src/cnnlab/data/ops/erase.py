"""Occlusion: Cutout and Random Erasing blank out a rectangle of each image."""

import tensorflow as tf

from cnnlab.data.augment import (
    Augmenter,
    OpContext,
    is_number,
    register_ops,
    require,
    require_probability,
    require_range,
)
from cnnlab.data.ops.boxes import box_mask, random_offsets, sample_boxes, split_seed, uniform

FILLS = "a number in [0, 1], 'mean' (the train split's mean colour) or 'random' (noise)"


def cutout(context: OpContext, size: int = 16, fill: float | str = "mean") -> Augmenter:
    """Cutout (DeVries & Taylor 2017): a `size` x `size` square centred on a uniformly random
    pixel, clipped at the borders. The paper masks normalized images with zeros, i.e. with the
    dataset mean, hence `fill: mean`."""
    require(isinstance(size, int) and size >= 1, "size", size, "an integer >= 1")
    fill_with = filler(context, fill)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        height, width = images.shape[1:3]
        row_seed, col_seed, fill_seed = split_seed(seed, 3)
        batch = tf.shape(images)[0]
        top = random_offsets(row_seed, batch, height) - size // 2
        left = random_offsets(col_seed, batch, width) - size // 2
        side = tf.fill([batch], float(size))
        mask = box_mask((top, left, side, side), (height, width))
        return tf.where(mask, fill_with(images, fill_seed), images), labels

    return op


def random_erasing(
    context: OpContext,
    p: float = 0.5,
    scale: list = (0.02, 0.4),
    ratio: list = (0.3, 3.3),
    fill: float | str = "random",
) -> Augmenter:
    """Random Erasing (Zhong et al. 2020): with probability `p`, a rectangle of 2%-40% of the
    area and aspect ratio in [0.3, 3.3] is filled with random values; an image where no
    rectangle fits after 10 draws is left as it is."""
    p = require_probability("p", p)
    scale = require_range("scale", list(scale), 1e-6, 1.0)
    ratio = require_range("ratio", list(ratio), 1e-3, 1e3)
    fill_with = filler(context, fill)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        height, width = images.shape[1:3]
        box_seed, coin_seed, fill_seed = split_seed(seed, 3)
        batch = tf.shape(images)[0]
        boxes, found = sample_boxes(box_seed, batch, (height, width), scale, ratio)
        erase = found & (uniform(coin_seed, [batch]) < p)
        mask = box_mask(boxes, (height, width)) & erase[:, None, None, None]
        return tf.where(mask, fill_with(images, fill_seed), images), labels

    return op


def filler(context: OpContext, fill: float | str):
    """`(images, seed) -> values` broadcastable to the images, for the erased pixels."""
    if fill == "random":
        return lambda images, seed: tf.random.stateless_uniform(tf.shape(images), seed)
    if fill == "mean":
        mean = tf.constant(context.stats().mean, tf.float32)
        return lambda images, seed: mean
    require(is_number(fill) and 0 <= fill <= 1, "fill", fill, FILLS)
    return lambda images, seed: tf.constant(float(fill))


register_ops(cutout, random_erasing)
