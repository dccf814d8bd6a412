"""Image conversions shared by every source: dtype, channels and size.

Each function takes one image (H, W, C) or a batch (B, H, W, C), so the pipeline can run
it per example (images of mixed sizes) or per batch (vectorized, for fixed-size sources).
"""

import tensorflow as tf

from cnnlab.checks import require_choice

RESIZE_MODES = ("stretch", "crop")


def to_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 in [0, 255] or float in [0, 1] -> float32 in [0, 1]."""
    if images.dtype == tf.uint8:
        return tf.image.convert_image_dtype(images, tf.float32)
    return tf.cast(images, tf.float32)


def to_pixels(images: tf.Tensor) -> tf.Tensor:
    """uint8 in [0, 255] or float in [0, 1] -> float32 in [0, 255]: what an exported model takes."""
    return to_float(images) * 255.0


def match_channels(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Drop alpha, then gray -> RGB (replicated) or RGB -> gray (ITU-R 601 luma)."""
    if images.shape[-1] in (2, 4):  # gray+alpha or RGBA: alpha is not part of the picture
        images = images[..., : images.shape[-1] - 1]
    if channels == 3 and images.shape[-1] == 1:
        return tf.image.grayscale_to_rgb(images)
    if channels == 1 and images.shape[-1] == 3:
        return tf.image.rgb_to_grayscale(images)
    return images


def resize(
    images: tf.Tensor, size: tuple[int, int], mode: str = "stretch", antialias: bool = False
) -> tf.Tensor:
    """Bilinear resize to `size` as float32.

    'stretch' maps the whole image onto `size`; 'crop' keeps the aspect ratio: it scales the
    image until it covers `size`, then takes the centre (ImageNet's "resize, centre crop").
    `antialias` low-pass filters when shrinking (large photos to a small load size).
    """
    require_choice("data.resize", mode, RESIZE_MODES)
    height, width = size
    if mode == "crop":
        in_h = tf.cast(tf.shape(images)[-3], tf.float32)
        in_w = tf.cast(tf.shape(images)[-2], tf.float32)
        scale = tf.maximum(height / in_h, width / in_w)
        covering = (
            tf.maximum(height, tf.cast(tf.math.ceil(in_h * scale - 1e-3), tf.int32)),
            tf.maximum(width, tf.cast(tf.math.ceil(in_w * scale - 1e-3), tf.int32)),
        )
        images = tf.image.resize(images, covering, method="bilinear", antialias=antialias)
        return tf.image.resize_with_crop_or_pad(images, height, width)
    return tf.image.resize(images, size, method="bilinear", antialias=antialias)


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """float in [0, 255] (what `resize` gives for uint8 input) -> uint8, rounded and clipped."""
    return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)
