"""Evaluation transforms: the centre crop, and the views of test-time augmentation.

Evaluation images are loaded at `data.load_size` ("resize") and cropped to `data.image_size`
at the centre. Test-time augmentation (`augment.test_time`) gives the model several views of
each test image and averages its softmax outputs: `flip` (the centre crop and its mirror) or
`ten_crop`, AlexNet's four corner crops and centre crop and their mirrors (Krizhevsky et al.
2012, §4.1).
"""

import tensorflow as tf

from cnnlab.config.augment import TestTime

TEST_TIME_VIEWS = {TestTime.none: 1, TestTime.flip: 2, TestTime.ten_crop: 10}


def center_crop(images: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """The centre `size` window of a batch (no resampling); the batch itself if it fits."""
    height, width = images.shape[1:3]
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    return images[:, top : top + size[0], left : left + size[1], :]


def corner_crops(images: tf.Tensor, size: tuple[int, int]) -> list[tf.Tensor]:
    """Top-left, top-right, bottom-left and bottom-right windows of `size`."""
    height, width = images.shape[1:3]
    return [
        images[:, top : top + size[0], left : left + size[1], :]
        for top in (0, height - size[0])
        for left in (0, width - size[1])
    ]


def tta_views(images: tf.Tensor, size: tuple[int, int], mode: str) -> tf.Tensor:
    """(V * B, h, w, C): the V views of a batch of B images, view-major (view v is rows
    v*B .. v*B + B - 1), for one forward pass whose outputs reshape to (V, B, classes)."""
    views = [center_crop(images, size)]
    if mode == TestTime.ten_crop:
        views = corner_crops(images, size) + views
    if mode != TestTime.none:
        views += [tf.reverse(view, axis=[2]) for view in views]
    return tf.concat(views, axis=0)
