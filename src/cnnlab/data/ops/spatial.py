"""Geometric augmentation: the crops and the flip of the classic recipes.

Crops take the batch at `data.load_size` and return `data.image_size`.
"""

import tensorflow as tf

from cnnlab.checks import require_choice
from cnnlab.data.augment import (
    Augmenter,
    OpContext,
    register_ops,
    require,
    require_probability,
    require_range,
)
from cnnlab.data.ops.boxes import (
    crop_windows,
    random_offsets,
    resample_boxes,
    sample_boxes,
    split_seed,
    uniform,
)

PAD_MODES = {"zero": "CONSTANT", "reflect": "REFLECT"}


def random_crop(context: OpContext, padding: int = 4, pad_mode: str = "zero") -> Augmenter:
    """Pad each side by `padding`, then crop `image_size` at a random position.

    The CIFAR recipe (He et al. 2016, §4.2: 4 pixels, zero padding; reflect padding as in
    wide ResNets), and AlexNet's random 224 crops of 256 images with `padding: 0`.
    """
    require(isinstance(padding, int) and padding >= 0, "padding", padding, "an integer >= 0")
    require_choice("pad_mode", pad_mode, list(PAD_MODES))
    out_h, out_w = context.image_size

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        height, width = images.shape[1] + 2 * padding, images.shape[2] + 2 * padding
        require(
            height >= out_h and width >= out_w,
            "padding",
            padding,
            f"enough to crop {out_h}x{out_w} from {images.shape[1]}x{images.shape[2]} images "
            "(or a larger data.load_size)",
        )
        if pad_mode == "reflect":
            require(padding < min(images.shape[1:3]), "padding", padding, "< the image side")
        if padding:
            pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
            images = tf.pad(images, pads, mode=PAD_MODES[pad_mode])
        top_seed, left_seed = split_seed(seed, 2)
        batch = tf.shape(images)[0]
        top = random_offsets(top_seed, batch, height - out_h + 1)
        left = random_offsets(left_seed, batch, width - out_w + 1)
        return crop_windows(images, top, left, (out_h, out_w)), labels

    return op


def random_resized_crop(
    context: OpContext, scale: list = (0.08, 1.0), ratio: list = (3 / 4, 4 / 3)
) -> Augmenter:
    """Inception's crop (Szegedy et al. 2015): a box of 8%-100% of the area with aspect ratio
    in [3/4, 4/3], resized to `image_size`. Images where no box fits after 10 draws get the
    central crop with the aspect ratio clamped into `ratio`, as in torchvision."""
    scale = require_range("scale", list(scale), 1e-6, 1.0)
    ratio = require_range("ratio", list(ratio), 1e-3, 1e3)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        height, width = images.shape[1:3]
        (top, left, box_h, box_w), found = sample_boxes(
            seed, tf.shape(images)[0], (height, width), scale, ratio
        )
        fallback = central_box((height, width), ratio)
        boxes = [
            tf.where(found, b, f) for b, f in zip((top, left, box_h, box_w), fallback, strict=True)
        ]
        return resample_boxes(images, tuple(boxes), context.image_size), labels

    return op


def central_box(size: tuple[int, int], ratio: tuple[float, float]) -> tuple[float, ...]:
    """The largest centred box whose aspect ratio is `size`'s clamped into `ratio`."""
    height, width = size
    box_h, box_w = float(height), float(width)
    if width / height < ratio[0]:
        box_h = float(round(width / ratio[0]))
    elif width / height > ratio[1]:
        box_w = float(round(height * ratio[1]))
    return float((height - box_h) // 2), float((width - box_w) // 2), box_h, box_w


def scale_jitter(context: OpContext, min_size: int = 256, max_size: int = 512) -> Augmenter:
    """VGG's multi-scale training (Simonyan & Zisserman 2015, §3.1): rescale each image so
    that its shorter side is S, uniform in [min_size, max_size], then crop `image_size` at a
    random position. Done as one resampling of the loaded image; for full detail at large S
    set data.load_size near max_size."""
    valid = isinstance(min_size, int) and isinstance(max_size, int) and 1 <= min_size <= max_size
    require(valid, "min_size, max_size", [min_size, max_size], "integers with min_size <= max_size")
    out_h, out_w = context.image_size

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        height, width = images.shape[1:3]
        shorter = min(height, width)
        require(
            min_size * height >= out_h * shorter and min_size * width >= out_w * shorter,
            "min_size",
            min_size,
            f"large enough that a {out_h}x{out_w} crop fits at the smallest scale",
        )
        size_seed, top_seed, left_seed = split_seed(seed, 3)
        batch = tf.shape(images)[0]
        side = tf.floor(uniform(size_seed, [batch], min_size, max_size + 1))  # S, an integer
        box_h = out_h * shorter / side  # the crop, measured in the loaded image's pixels
        box_w = out_w * shorter / side
        top = uniform(top_seed, [batch]) * (height - box_h)
        left = uniform(left_seed, [batch]) * (width - box_w)
        return resample_boxes(images, (top, left, box_h, box_w), context.image_size), labels

    return op


def horizontal_flip(context: OpContext, p: float = 0.5) -> Augmenter:
    """Mirror each image left-right with probability `p` (AlexNet's horizontal reflections)."""
    p = require_probability("p", p)

    def op(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        flip = uniform(seed, [tf.shape(images)[0]]) < p
        return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images), labels

    return op


register_ops(random_crop, random_resized_crop, scale_jitter, horizontal_flip)
