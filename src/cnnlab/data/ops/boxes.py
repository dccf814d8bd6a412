"""Per-image random numbers and boxes for whole batches: the geometry that crops, erasing and
CutMix share. Boxes are (top, left, height, width) in pixels, one per image."""

import math

import tensorflow as tf

Boxes = tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]


def split_seed(seed: tf.Tensor, count: int) -> list[tf.Tensor]:
    return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def uniform(seed: tf.Tensor, shape, low: float = 0.0, high: float = 1.0) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high)


def random_offsets(seed: tf.Tensor, batch: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """Integers uniform in [0, count) per image (count a scalar or one per image), as float32."""
    count = tf.cast(count, tf.float32)
    return tf.minimum(tf.floor(uniform(seed, [batch]) * count), count - 1)


def sample_boxes(
    seed: tf.Tensor,
    batch: tf.Tensor,
    size: tuple[int, int],
    scale: tuple[float, float],
    ratio: tuple[float, float],
    attempts: int = 10,
) -> tuple[Boxes, tf.Tensor]:
    """Boxes of area scale * H * W and aspect ratio (w / h) log-uniform in `ratio`.

    Inception's sampling as torchvision's RandomResizedCrop does it: up to `attempts` draws
    per image, the first that fits wins. Also returns whether an image found one.
    """
    height, width = size
    area_seed, ratio_seed, top_seed, left_seed = split_seed(seed, 4)
    area = uniform(area_seed, [batch, attempts], *scale) * (height * width)
    aspect = tf.exp(uniform(ratio_seed, [batch, attempts], math.log(ratio[0]), math.log(ratio[1])))
    box_w = tf.round(tf.sqrt(area * aspect))
    box_h = tf.round(tf.sqrt(area / aspect))
    fits = (box_w >= 1) & (box_h >= 1) & (box_w <= width) & (box_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1)  # first fitting attempt (0 if none)
    box_h = tf.gather(box_h, first, batch_dims=1)
    box_w = tf.gather(box_w, first, batch_dims=1)
    found = tf.reduce_any(fits, axis=1)
    box_h = tf.where(found, box_h, float(height))  # keep a valid box; callers pick the fallback
    box_w = tf.where(found, box_w, float(width))
    top = random_offsets(top_seed, batch, height - box_h + 1)
    left = random_offsets(left_seed, batch, width - box_w + 1)
    return (top, left, box_h, box_w), found


def box_mask(boxes: Boxes, size: tuple[int, int]) -> tf.Tensor:
    """(B, H, W, 1) bool, True inside each box; parts of a box outside the image are ignored."""
    top, left, box_h, box_w = (tf.reshape(b, [-1, 1]) for b in boxes)
    rows = tf.range(size[0], dtype=tf.float32)[None, :]
    cols = tf.range(size[1], dtype=tf.float32)[None, :]
    in_rows = (rows >= top) & (rows < top + box_h)
    in_cols = (cols >= left) & (cols < left + box_w)
    return in_rows[:, :, None, None] & in_cols[:, None, :, None]


def crop_windows(images: tf.Tensor, top: tf.Tensor, left: tf.Tensor, size: tuple[int, int]):
    """Exact integer windows of `size` at per-image (top, left): a gather, no interpolation."""
    rows = tf.cast(top, tf.int32)[:, None] + tf.range(size[0])[None, :]
    cols = tf.cast(left, tf.int32)[:, None] + tf.range(size[1])[None, :]
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def resample_boxes(images: tf.Tensor, boxes: Boxes, size: tuple[int, int]) -> tf.Tensor:
    """Resize each image's box to `size` (bilinear), all in one `crop_and_resize`.

    Output pixels sample the box at their centres, as `tf.image.resize` does, so a box of
    `size` pixels is copied unchanged and the scale is box / size exactly. Samples that would
    fall outside the image (half a pixel at most) are shifted in rather than extrapolated.
    """
    top, left, box_h, box_w = boxes
    first_row, last_row = sample_span(top, box_h, size[0], images.shape[1])
    first_col, last_col = sample_span(left, box_w, size[1], images.shape[2])
    normalized = tf.stack([first_row, first_col, last_row, last_col], axis=1)
    indices = tf.range(tf.shape(images)[0])
    return tf.image.crop_and_resize(images, normalized, indices, size, method="bilinear")


def sample_span(start: tf.Tensor, length: tf.Tensor, samples: int, extent: int):
    """First and last sample positions of `samples` pixel centres over [start, start + length),
    moved inside [0, extent - 1] and normalized by it, as `crop_and_resize` wants them."""
    step = length / samples
    first = start + 0.5 * step - 0.5
    last = first + (samples - 1) * step
    shift = tf.maximum(-first, 0.0) - tf.maximum(last - (extent - 1), 0.0)
    first, last = first + shift, last + shift
    scale = float(max(extent - 1, 1))
    return tf.maximum(first, 0.0) / scale, tf.minimum(last, float(extent - 1)) / scale
