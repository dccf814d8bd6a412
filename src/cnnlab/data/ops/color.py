"""Photometric augmentation: AlexNet's PCA colour lighting and colour jitter.

Both keep images in [0, 1] (values are clipped), like the rest of the augmentation stage.
"""

import numpy as np
import tensorflow as tf

from cnnlab.data.augment import (
    Augmenter,
    OpContext,
    is_number,
    register_ops,
    require,
)
from cnnlab.data.ops.boxes import split_seed, uniform

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601; they sum to 1, so gray pixels keep their value


def pca_lighting(
    context: OpContext, std: float = 0.1, eigval: list | None = None, eigvec: list | None = None
) -> Augmenter:
    """AlexNet's colour augmentation (Krizhevsky et al. 2012, §4.1): add to every pixel of an
    image sum_i alpha_i * lambda_i * p_i, where p_i, lambda_i are the eigenvectors/values of
    the train set's 3x3 RGB covariance and alpha_i ~ N(0, std), drawn once per image.

    `eigval`/`eigvec` (vectors as columns) default to those of the train split's statistics.
    """
    require(context.channels == 3, "data.channels", context.channels, "3 (RGB) for pca_lighting")
    require(is_number(std) and std >= 0, "std", std, "a number >= 0")
    if eigval is None or eigvec is None:
        values, vectors = context.stats().principal_components()
    else:
        values, vectors = np.asarray(eigval, float), np.asarray(eigvec, float)
        require(values.shape == (3,), "eigval", eigval, "3 numbers")
        require(vectors.shape == (3, 3), "eigvec", eigvec, "a 3x3 matrix (vectors as columns)")
    values = tf.constant(values, tf.float32)
    vectors = tf.constant(vectors, tf.float32)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        alpha = tf.random.stateless_normal([tf.shape(images)[0], 3], seed, stddev=std)
        shift = tf.matmul(alpha * values, vectors, transpose_b=True)  # (B, 3) RGB offsets
        return tf.clip_by_value(images + shift[:, None, None, :], 0.0, 1.0), labels

    return op


def color_jitter(
    context: OpContext,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.0,
) -> Augmenter:
    """torchvision's ColorJitter, per image and in this fixed order: brightness, contrast and
    saturation factors uniform in [1 - x, 1 + x], hue shifted by up to +-hue of a full turn."""
    for name, value in (
        ("brightness", brightness),
        ("contrast", contrast),
        ("saturation", saturation),
    ):
        require(is_number(value) and value >= 0, name, value, "a number >= 0")
    require(is_number(hue) and 0 <= hue <= 0.5, "hue", hue, "a number in [0, 0.5]")
    if context.channels == 1:
        require(
            saturation == 0 and hue == 0, "saturation, hue", [saturation, hue], "0 for gray images"
        )

    def factors(seed: tf.Tensor, batch: tf.Tensor, amount: float) -> tf.Tensor:
        return uniform(seed, [batch, 1, 1, 1], max(0.0, 1 - amount), 1 + amount)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        seeds = split_seed(seed, 4)
        batch = tf.shape(images)[0]
        if brightness:
            images = tf.clip_by_value(images * factors(seeds[0], batch, brightness), 0.0, 1.0)
        if contrast:
            mean = tf.reduce_mean(gray(images), axis=[1, 2, 3], keepdims=True)
            blended = mean + (images - mean) * factors(seeds[1], batch, contrast)
            images = tf.clip_by_value(blended, 0.0, 1.0)
        if saturation:
            luma = gray(images)
            blended = luma + (images - luma) * factors(seeds[2], batch, saturation)
            images = tf.clip_by_value(blended, 0.0, 1.0)
        if hue:
            hsv = tf.image.rgb_to_hsv(images)
            shift = uniform(seeds[3], [batch, 1, 1], -hue, hue)
            hsv = tf.stack(
                [tf.math.floormod(hsv[..., 0] + shift, 1.0), hsv[..., 1], hsv[..., 2]], -1
            )
            images = tf.clip_by_value(tf.image.hsv_to_rgb(hsv), 0.0, 1.0)
        return images, labels

    return op


def gray(images: tf.Tensor) -> tf.Tensor:
    """(B, H, W, 1) luma of RGB images; gray images as they are."""
    if images.shape[-1] == 1:
        return images
    return tf.reduce_sum(images * tf.constant(LUMA), axis=-1, keepdims=True)


register_ops(pca_lighting, color_jitter)
