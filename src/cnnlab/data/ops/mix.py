"""Label-mixing augmentation: mixup and CutMix pair each image with another of the batch.

Both draw one mixing weight per batch, as the papers' code does, and mix the one-hot labels
with the same weight, so every label row still sums to one.
"""

import tensorflow as tf

from cnnlab.data.augment import (
    Augmenter,
    OpContext,
    is_number,
    register_ops,
    require,
    require_probability,
)
from cnnlab.data.ops.boxes import box_mask, split_seed, uniform


def beta(seed: tf.Tensor, alpha: float) -> tf.Tensor:
    """One Beta(alpha, alpha) sample, as G1 / (G1 + G2) with Gi ~ Gamma(alpha)."""
    first, second = split_seed(seed, 2)
    g1 = tf.random.stateless_gamma([], first, alpha)
    g2 = tf.random.stateless_gamma([], second, alpha)
    return g1 / (g1 + g2)


def partners(seed: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
    """A random permutation of the batch: image i is mixed with image partners[i]."""
    return tf.argsort(uniform(seed, [batch]))


def mixing_weight(seed: tf.Tensor, alpha: float, p: float) -> tf.Tensor:
    """lambda ~ Beta(alpha, alpha) with probability p, else 1 (the batch stays as it is)."""
    beta_seed, coin_seed = split_seed(seed, 2)
    return tf.where(uniform(coin_seed, []) < p, beta(beta_seed, alpha), 1.0)


def check(alpha: float, p: float) -> float:
    require(is_number(alpha) and alpha > 0, "alpha", alpha, "a number > 0")
    return require_probability("p", p)


def mixup(context: OpContext, alpha: float = 0.2, p: float = 1.0) -> Augmenter:
    """mixup (Zhang et al. 2018): x = lam x_i + (1 - lam) x_j, y likewise, lam ~ Beta(alpha,
    alpha); alpha 0.2 is the paper's ImageNet value (1.0 for CIFAR)."""
    p = check(alpha, p)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        weight_seed, pair_seed = split_seed(seed, 2)
        lam = mixing_weight(weight_seed, alpha, p)
        other = partners(pair_seed, tf.shape(images)[0])
        images = lam * images + (1 - lam) * tf.gather(images, other)
        return images, lam * labels + (1 - lam) * tf.gather(labels, other)

    return op


def cutmix(context: OpContext, alpha: float = 1.0, p: float = 1.0) -> Augmenter:
    """CutMix (Yun et al. 2019): paste a box of the partner image, of area (1 - lam) with
    lam ~ Beta(alpha, alpha) and a uniformly random centre, clipped at the borders; labels mix
    by the pasted area actually kept."""
    p = check(alpha, p)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        height, width = images.shape[1:3]
        weight_seed, pair_seed, row_seed, col_seed = split_seed(seed, 4)
        lam = mixing_weight(weight_seed, alpha, p)
        cut = tf.sqrt(1.0 - lam)
        box_h, box_w = tf.round(height * cut), tf.round(width * cut)
        centre_y = tf.floor(uniform(row_seed, []) * height)
        centre_x = tf.floor(uniform(col_seed, []) * width)
        top = tf.maximum(centre_y - tf.floor(box_h / 2), 0.0)
        left = tf.maximum(centre_x - tf.floor(box_w / 2), 0.0)
        bottom = tf.minimum(centre_y + tf.math.ceil(box_h / 2), float(height))
        right = tf.minimum(centre_x + tf.math.ceil(box_w / 2), float(width))
        box = [tf.reshape(v, [1]) for v in (top, left, bottom - top, right - left)]
        mask = box_mask(tuple(box), (height, width))  # (1, H, W, 1): one box for the batch
        other = partners(pair_seed, tf.shape(images)[0])
        images = tf.where(mask, tf.gather(images, other), images)
        kept = 1.0 - (bottom - top) * (right - left) / (height * width)
        return images, kept * labels + (1 - kept) * tf.gather(labels, other)

    return op


register_ops(mixup, cutmix)
