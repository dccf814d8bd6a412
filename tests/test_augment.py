"""Augmentation ops and evaluation transforms, each checked against a NumPy description of its effect."""

import inspect

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from omegaconf import OmegaConf

from cnnlab.data.augment import OpContext, available_ops, build_augmenter
from cnnlab.data.normalize import DataStats, compute_stats
from cnnlab.data.ops.boxes import resample_boxes, sample_boxes
from cnnlab.data.ops.color import color_jitter, pca_lighting
from cnnlab.data.ops.erase import cutout, random_erasing
from cnnlab.data.ops.mix import cutmix, mixup
from cnnlab.data.ops.spatial import central_box, random_crop, random_resized_crop, scale_jitter
from cnnlab.data.test_views import center_crop, tta_views
from cnnlab.errors import ConfigError

STATS = DataStats(
    mean=(0.4, 0.5, 0.6),
    std=(0.2, 0.2, 0.2),
    covariance=((0.04, 0.01, 0.0), (0.01, 0.03, 0.0), (0.0, 0.0, 0.02)),
)
SEED = tf.constant([42, 7], tf.int64)


def augmenter(*ops: dict, image_size=(8, 8), channels=3, stats=STATS):
    context = OpContext(tuple(image_size), channels, lambda: stats)
    return build_augmenter(OmegaConf.create({"ops": list(ops)}), context)


def run(op: dict, images, labels=None, seed=SEED, **context):
    images = tf.constant(images, tf.float32)
    if labels is None:
        labels = tf.one_hot(np.arange(len(images)) % 4, 4)
    out, out_labels = augmenter(op, **context)(images, tf.constant(labels, tf.float32), seed)
    return out.numpy(), out_labels.numpy()


def random_images(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def windows(image: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Every `size` window of one image (H, W, C)."""
    h, w = size
    return [
        image[top : top + h, left : left + w]
        for top in range(image.shape[0] - h + 1)
        for left in range(image.shape[1] - w + 1)
    ]


def window_offset(crop: np.ndarray, image: np.ndarray) -> tuple[int, int]:
    """(top, left) of the window of `image` equal to `crop`."""
    width = image.shape[1] - crop.shape[1] + 1
    index = next(
        i for i, window in enumerate(windows(image, crop.shape[:2])) if np.array_equal(window, crop)
    )
    return divmod(index, width)


def is_window_of(crop: np.ndarray, image: np.ndarray, atol: float = 1e-6) -> bool:
    return any(np.allclose(crop, window, atol=atol) for window in windows(image, crop.shape[:2]))


# -- every op ----------------------------------------------------------------------------------

OP_PARAMS = {
    "random_crop": {"padding": 2},
    "random_resized_crop": {},
    "scale_jitter": {"min_size": 12, "max_size": 20},
    "horizontal_flip": {},
    "pca_lighting": {"std": 0.5},
    "color_jitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    "cutout": {"size": 4},
    "random_erasing": {"p": 1.0},
    "mixup": {"alpha": 1.0},
    "cutmix": {"alpha": 1.0},
}


PAPERS_DEFAULTS = [
    (random_crop, {"padding": 4, "pad_mode": "zero"}),  # He et al. 2016, §4.2
    (random_resized_crop, {"scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3)}),  # Szegedy et al. 2015
    (scale_jitter, {"min_size": 256, "max_size": 512}),  # Simonyan & Zisserman 2015, §3.1
    (pca_lighting, {"std": 0.1}),  # Krizhevsky et al. 2012, §4.1
    (color_jitter, {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.0}),  # timm's
    (cutout, {"size": 16}),  # DeVries & Taylor 2017, CIFAR-10
    (random_erasing, {"p": 0.5, "scale": (0.02, 0.4), "ratio": (0.3, 3.3)}),  # Zhong et al. 2020
    (mixup, {"alpha": 0.2}),  # Zhang et al. 2018, ImageNet
    (cutmix, {"alpha": 1.0}),  # Yun et al. 2019
]


@pytest.mark.parametrize(
    ("factory", "defaults"), PAPERS_DEFAULTS, ids=[f.__name__ for f, _ in PAPERS_DEFAULTS]
)
def test_op_defaults_are_the_papers_values(factory, defaults):
    parameters = inspect.signature(factory).parameters
    assert {key: parameters[key].default for key in defaults} == defaults


def test_every_registered_op_is_covered():
    assert set(OP_PARAMS) == set(available_ops())


@pytest.mark.parametrize("name", sorted(OP_PARAMS))
def test_op_gives_image_size_values_in_unit_range_and_labels_summing_to_one(name):
    images, labels = run(
        {"name": name, **OP_PARAMS[name]}, random_images((16, 12, 12, 3)), image_size=(10, 10)
    )
    size = (10, 10) if name in ("random_crop", "random_resized_crop", "scale_jitter") else (12, 12)
    assert images.shape == (16, *size, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OP_PARAMS))
def test_same_seed_gives_the_same_batch_and_another_seed_another(name):
    op = {"name": name, **OP_PARAMS[name]}
    images = random_images((16, 12, 12, 3))
    first = run(op, images, image_size=(10, 10))
    again = run(op, images, image_size=(10, 10))
    other = run(op, images, image_size=(10, 10), seed=tf.constant([42, 8], tf.int64))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_a_recipe_is_deterministic_inside_a_graph():
    recipe = augmenter(
        {"name": "random_resized_crop"},
        {"name": "horizontal_flip"},
        {"name": "color_jitter"},
        {"name": "pca_lighting"},
        {"name": "random_erasing"},
        {"name": "mixup"},
    )
    images, labels = tf.constant(random_images((8, 12, 12, 3))), tf.one_hot(tf.range(8) % 4, 4)
    traced = tf.function(lambda seed: recipe(images, labels, seed))
    np.testing.assert_array_equal(traced(SEED)[0], traced(SEED)[0])
    np.testing.assert_allclose(traced(SEED)[0], recipe(images, labels, SEED)[0], atol=1e-6)


# -- crops and flips ---------------------------------------------------------------------------


@pytest.mark.parametrize(("pad_mode", "numpy_mode"), [("zero", "constant"), ("reflect", "reflect")])
def test_random_crop_comes_from_the_padded_image(pad_mode, numpy_mode):
    # 4 pixels, more than an RGB image's 3 channels: only the image side bounds reflect padding.
    images = random_images((12, 8, 8, 3))
    crops, _ = run({"name": "random_crop", "padding": 4, "pad_mode": pad_mode}, images)
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)], mode=numpy_mode)
    assert crops.shape == images.shape
    assert all(is_window_of(crop, image) for crop, image in zip(crops, padded, strict=True))
    assert sum(np.array_equal(c, i) for c, i in zip(crops, images, strict=True)) < len(images)


def test_random_crop_without_padding_takes_windows_of_a_larger_loaded_image():
    images = random_images((6, 12, 12, 1))
    crops, _ = run({"name": "random_crop", "padding": 0}, images, channels=1)
    assert crops.shape == (6, 8, 8, 1)
    assert all(is_window_of(crop, image) for crop, image in zip(crops, images, strict=True))


def test_zero_padding_may_be_wider_than_the_image_and_reflect_padding_may_not():
    images = random_images((8, 4, 4, 3))
    crops, _ = run({"name": "random_crop", "padding": 4}, images, image_size=(4, 4))
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    assert all(is_window_of(crop, image) for crop, image in zip(crops, padded, strict=True))
    with pytest.raises(ConfigError, match=r"padding=4 is invalid: expected < the image side"):
        run({"name": "random_crop", "padding": 4, "pad_mode": "reflect"}, images, image_size=(4, 4))


def test_random_crop_draws_every_offset_of_the_padded_image_the_last_included():
    # The defaults, He et al.'s 4 pixels of zero padding: an 8x8 crop of a padded 8x8 image
    # starts at any of rows and columns 0-8.
    images = random_images((128, 8, 8, 1))
    crops, _ = run({"name": "random_crop"}, images, channels=1)
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    offsets = [window_offset(crop, image) for crop, image in zip(crops, padded, strict=True)]
    tops, lefts = zip(*offsets, strict=True)
    assert set(tops) == set(lefts) == set(range(9))


def test_random_crop_of_a_padded_image_of_the_crop_size_is_the_padded_image():
    images = random_images((4, 6, 6, 3))
    crops, _ = run({"name": "random_crop", "padding": 1}, images)
    np.testing.assert_array_equal(crops, np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)]))


def test_random_crop_too_small_to_crop_is_a_config_error():
    with pytest.raises(
        ConfigError,
        match=r"padding=0 is invalid: expected enough to crop 8x8 from 6x5 images "
        r"\(or a larger data.load_size\)",
    ):
        run({"name": "random_crop", "padding": 0}, random_images((2, 6, 5, 3)))


def test_horizontal_flip_mirrors_each_image_or_leaves_it():
    images = random_images((64, 5, 6, 3))
    mirrored = images[:, :, ::-1, :]
    always, _ = run({"name": "horizontal_flip", "p": 1.0}, images)
    never, _ = run({"name": "horizontal_flip", "p": 0.0}, images)
    half, _ = run({"name": "horizontal_flip", "p": 0.5}, images)
    np.testing.assert_array_equal(always, mirrored)
    np.testing.assert_array_equal(never, images)
    flipped = [np.array_equal(h, m) for h, m in zip(half, mirrored, strict=True)]
    kept = [np.array_equal(h, i) for h, i in zip(half, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 16 < sum(flipped) < 48


def test_random_resized_crop_of_the_full_area_is_the_image():
    images = random_images((4, 8, 8, 3))
    out, _ = run({"name": "random_resized_crop", "scale": [1.0, 1.0], "ratio": [1.0, 1.0]}, images)
    np.testing.assert_allclose(out, images, atol=1e-6)


def test_random_resized_crop_takes_boxes_of_the_asked_area():
    # A quarter of a 16x16 image with ratio 1 is an 8x8 box: copied to the 8x8 output as it is.
    images = random_images((8, 16, 16, 3))
    op = {"name": "random_resized_crop", "scale": [0.25, 0.25], "ratio": [1.0, 1.0]}
    crops, _ = run(op, images)
    assert all(
        is_window_of(crop, image, atol=1e-5) for crop, image in zip(crops, images, strict=True)
    )


@pytest.mark.parametrize("side", [16, 32])
def test_scale_jitter_rescales_so_the_shorter_side_is_s_and_crops_anywhere(side):
    # Channel 0 holds the row, channel 1 the column (over 24): bilinear samples give their
    # positions back. At S the 16x24 image is 16 x (24 * S / 16) pixels, and the 8x8 crop is a
    # box of 8 * 16 / S loaded pixels, at a position uniform over the image.
    rows, cols = np.meshgrid(np.arange(16), np.arange(24), indexing="ij")
    ramps = np.broadcast_to(np.stack([rows, cols], axis=-1) / 24, (256, 16, 24, 2))
    op = {"name": "scale_jitter", "min_size": side, "max_size": side}
    positions = run(op, ramps.astype(np.float32), channels=2)[0] * 24
    box = 8 * 16 / side
    step = box / 8
    np.testing.assert_allclose(np.diff(positions[..., 0], axis=1), step, atol=1e-4)
    np.testing.assert_allclose(np.diff(positions[..., 1], axis=2), step, atol=1e-4)
    # The first sample is the centre of the box's first output pixel (moved inside the image).
    starts = positions[:, 0, 0, :] - 0.5 * step + 0.5
    for start, room in zip(starts.T, (16 - box, 24 - box), strict=True):
        assert start.min() >= -1e-4 and start.max() <= room + 1e-4
        assert start.min() < 0.2 * room and start.max() > 0.8 * room
        assert abs(start.mean() / room - 0.5) < 0.1


@pytest.mark.parametrize("crop", [8, 1])
def test_scale_jitter_at_s_equal_to_the_crop_resizes_the_whole_image(crop):
    # S = crop on images twice as large: the crop is the whole image, each pixel the mean of a
    # 2x2 block (S = 1, the smallest scale allowed, included).
    images = random_images((4, 2 * crop, 2 * crop, 3))
    op = {"name": "scale_jitter", "min_size": crop, "max_size": crop}
    out, _ = run(op, images, image_size=(crop, crop))
    blocks = images.reshape(4, crop, 2, crop, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, blocks, atol=1e-6)


def test_scale_jitter_defaults_to_shorter_sides_from_256_to_512():
    # VGG's S, an integer in [256, 512]. On a ramp (value = row / 16) the crop's 8 rows are
    # 16 / S rows of the 16x16 image apart, so S is read back from each crop.
    ramps = np.broadcast_to(np.arange(16, dtype=np.float32)[:, None, None] / 16, (2048, 16, 16, 1))
    rows = run({"name": "scale_jitter"}, ramps, channels=1)[0][..., 0] * 16
    sides = 16 * 7 / (rows[:, 7, :] - rows[:, 0, :]).mean(axis=1)
    np.testing.assert_allclose(sides, np.round(sides), atol=0.05)
    assert np.round(sides).min() == 256 and np.round(sides).max() == 512


@pytest.mark.parametrize(("crop", "min_size"), [((8, 8), 4), ((4, 8), 6), ((8, 4), 6)])
def test_scale_jitter_smaller_than_the_crop_is_a_config_error(crop, min_size):
    # At S = min_size a 16x16 image is min_size pixels square: too small for a crop 8 wide or high.
    op = {"name": "scale_jitter", "min_size": min_size, "max_size": 8}
    with pytest.raises(
        ConfigError,
        match=rf"scale_jitter\): min_size={min_size} is invalid: expected large enough that a "
        rf"{crop[0]}x{crop[1]} crop fits at the smallest scale",
    ):
        run(op, random_images((2, 16, 16, 3)), image_size=crop)


@pytest.mark.parametrize(
    ("size", "crop", "box"),
    [((63, 2), (4, 2), np.s_[:, 29:33, :]), ((2, 63), (2, 4), np.s_[:, :, 29:33])],
)
def test_random_resized_crop_falls_back_to_the_central_box_clamped_into_the_ratio(size, crop, box):
    # No box of half the area or more with aspect ratio (w / h) in [1/2, 2] fits in a 63x2
    # image: every draw fails, and the fallback is the central box of the image's aspect ratio
    # clamped into that range, 4x2 (rows 29-32 of 63), or 2x4 for a 2x63 image.
    images = random_images((3, *size, 3))
    op = {"name": "random_resized_crop", "scale": [0.5, 1.0], "ratio": [0.5, 2.0]}
    out, _ = run(op, images, image_size=crop)
    np.testing.assert_allclose(out, images[box], atol=1e-6)


@pytest.mark.parametrize(
    ("size", "box"),
    [((4, 6), (0, 0, 4, 6)), ((63, 2), (29, 0, 4, 2)), ((2, 63), (0, 29, 2, 4))],
)
def test_central_box_is_the_image_with_its_aspect_ratio_clamped_into_the_range(size, box):
    # torchvision's fallback: an aspect ratio (w / h) of 1.5 is inside [1/2, 2] and keeps the
    # whole image; 2/63 and 63/2 become 1/2 and 2, centred (rows or columns 29-32 of 63).
    assert central_box(size, (0.5, 2.0)) == box


def drawn_boxes(batch: int, size, scale, ratio):
    """sample_boxes' draws as NumPy: (top, left, height, width) of the images that found a
    box, and which did."""
    boxes, found = sample_boxes(SEED, batch, size, scale, ratio)
    found = found.numpy()
    return tuple(b.numpy()[found] for b in boxes), found


def test_sampled_boxes_are_whole_pixels_inside_the_image():
    # Aspect ratios up to 4 on a 12x40 image: many draws do not fit and must be redrawn.
    (top, left, height, width), found = drawn_boxes(2000, (12, 40), (0.1, 1.0), (0.5, 4.0))
    assert 0.5 < found.mean() < 1  # some images found no box in 10 draws
    for value in (top, left, height, width):
        np.testing.assert_array_equal(value, np.round(value))
    assert top.min() >= 0 and left.min() >= 0 and height.min() >= 1 and width.min() >= 1
    assert (top + height).max() <= 12 and (left + width).max() <= 40
    assert (top + height).max() == 12 and (left + width).max() == 40  # the edges are reached


def test_sampled_boxes_of_a_one_row_image_are_one_row_high():
    (_, _, height, _), found = drawn_boxes(200, (1, 16), (0.25, 1.0), (4.0, 16.0))
    assert found.mean() > 0.9 and np.all(height == 1)


def test_a_box_of_the_whole_image_fits():
    boxes, found = drawn_boxes(8, (4, 8), (1.0, 1.0), (2.0, 2.0))
    assert found.all()
    np.testing.assert_array_equal(np.stack(boxes, axis=1), [[0, 0, 4, 8]] * 8)


def test_resampled_boxes_sample_pixel_centres_moved_inside_the_image():
    # On a ramp (value = column), bilinear samples give their positions back exactly.
    ramp = np.broadcast_to(np.arange(16, dtype=np.float32)[None, None, :, None], (3, 1, 16, 1))
    boxes = (
        [0.0, 0.0, 0.0],
        [3.0, 0.0, 14.0],  # left
        [1.0, 1.0, 1.0],
        [8.0, 2.0, 2.0],  # width: halved, doubled at the left edge, doubled at the right edge
    )
    out = resample_boxes(tf.constant(ramp), tuple(tf.constant(b) for b in boxes), (1, 4))
    positions = []
    for left, width in zip(boxes[1], boxes[3], strict=True):
        step = width / 4
        samples = left + (np.arange(4) + 0.5) * step - 0.5  # pixel centres, as tf.image.resize
        samples += max(-samples[0], 0.0) - max(samples[-1] - 15, 0.0)  # moved inside [0, 15]
        positions.append(samples)
    np.testing.assert_allclose(out.numpy()[:, 0, :, 0], positions, atol=1e-5)


# -- colour ------------------------------------------------------------------------------------


def test_pca_lighting_shifts_each_image_along_the_principal_components():
    eigvec = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    eigval = [0.05, 0.01, 0.0]
    images = np.full((512, 4, 4, 3), 0.5, np.float32)
    op = {"name": "pca_lighting", "std": 0.1, "eigval": eigval, "eigvec": eigvec.tolist()}
    out, _ = run(op, images)
    shifts = out - 0.5
    assert np.ptp(shifts, axis=(1, 2)).max() < 1e-6  # one RGB offset per image
    alphas = shifts[:, 0, 0, :] @ eigvec  # coordinates along the eigenvectors = alpha * lambda
    np.testing.assert_allclose(alphas[:, 2], 0.0, atol=1e-6)
    np.testing.assert_allclose(np.std(alphas[:, :2] / eigval[:2], axis=0), 0.1, rtol=0.15)


def test_pca_lighting_defaults_to_the_train_split_covariance():
    images = np.full((512, 2, 2, 3), 0.5, np.float32)
    shifts = run({"name": "pca_lighting", "std": 0.1}, images)[0][:, 0, 0, :] - 0.5
    values, vectors = np.linalg.eigh(np.asarray(STATS.covariance))
    alphas = (shifts @ vectors) / values  # coordinates along each eigenvector, over its eigenvalue
    np.testing.assert_allclose(np.std(alphas, axis=0), 0.1, rtol=0.15)


def test_pca_lighting_of_std_zero_leaves_the_images():
    images = random_images((4, 4, 4, 3))
    np.testing.assert_array_equal(run({"name": "pca_lighting", "std": 0}, images)[0], images)


def test_pca_lighting_needs_rgb():
    with pytest.raises(ConfigError, match=r"channels=1 is invalid: expected 3 \(RGB\) for pca"):
        augmenter({"name": "pca_lighting"}, channels=1)


def test_brightness_scales_each_image_by_one_factor_in_range():
    images = 0.2 + 0.4 * random_images((32, 4, 4, 3))
    op = {"name": "color_jitter", "brightness": 0.5, "contrast": 0, "saturation": 0, "hue": 0}
    out, _ = run(op, images)
    ratios = out / images
    assert np.ptp(ratios, axis=(1, 2, 3)).max() < 1e-5
    assert ratios.min() >= 0.5 - 1e-6 and ratios.max() <= 1.5 + 1e-6
    bright, _ = run(op, np.ones((32, 4, 4, 3), np.float32))
    assert bright.max() <= 1.0 and bright.min() < 1.0  # clipped, and some images darker


@pytest.mark.parametrize(
    ("amounts", "amount"),
    [({"brightness": 0.25, "contrast": 0.25, "saturation": 0.25}, 0.25), ({}, 0.4)],
    ids=["0.25", "defaults"],
)
def test_color_jitter_factors_are_drawn_independently_over_their_whole_range(amounts, amount):
    # ColorJitter as NumPy: brightness b scales the image x; contrast c scales it about its mean
    # luma m; saturation s scales it about each pixel's luma L. Without clipping (x near 0.5,
    # factors in [1 - amount, 1 + amount]) the result is b * (m + c * (L - m) + c * s * (x - L)),
    # from which b, c and s of each image are read back. The defaults are timm's 0.4.
    luma_weights = np.array([0.299, 0.587, 0.114], np.float32)
    images = 0.45 + 0.1 * random_images((64, 4, 4, 3))
    out = run({"name": "color_jitter", **amounts}, images)[0].astype(np.float64)
    luma, out_luma = images @ luma_weights, out @ luma_weights
    mean = luma.mean(axis=(1, 2))
    b = out_luma.mean(axis=(1, 2)) / mean
    spread = luma - mean[:, None, None]
    out_spread = out_luma / b[:, None, None] - mean[:, None, None]
    c = (out_spread * spread).sum(axis=(1, 2)) / (spread**2).sum(axis=(1, 2))
    colour = images - luma[..., None]
    out_colour = (out - out_luma[..., None]) / b[:, None, None, None]
    s = (out_colour * colour).sum(axis=(1, 2, 3)) / (colour**2).sum(axis=(1, 2, 3)) / c
    expected = b[:, None, None, None] * (
        mean[:, None, None, None]
        + c[:, None, None, None] * (spread[..., None] + s[:, None, None, None] * colour)
    )
    np.testing.assert_allclose(out, expected, atol=1e-5)
    for factor in (b, c, s):
        assert factor.min() >= 1 - amount - 1e-4 and factor.max() <= 1 + amount + 1e-4
        assert factor.min() < 1 - 0.8 * amount and factor.max() > 1 + 0.8 * amount
    correlations = np.corrcoef([b, c, s])[np.triu_indices(3, k=1)]
    assert np.abs(correlations).max() < 0.5


def test_hue_turns_each_image_by_one_shift_within_plus_minus_hue():
    # Saturated colours of every hue, turned by up to 0.1 of a full turn either way; saturation
    # and value are kept (HSV by matplotlib). 0.5, half a turn, is the largest hue allowed.
    hsv = np.stack([np.linspace(0, 1, 64, endpoint=False), np.ones(64), np.full(64, 0.8)], -1)
    images = np.broadcast_to(hsv_to_rgb(hsv)[:, None, None, :], (64, 2, 2, 3)).astype(np.float32)
    op = {"name": "color_jitter", "brightness": 0, "contrast": 0, "saturation": 0, "hue": 0.1}
    out = rgb_to_hsv(run(op, images)[0][:, 0, 0, :])
    np.testing.assert_allclose(out[:, 1:], hsv[:, 1:], atol=1e-4)
    shifts = (out[:, 0] - hsv[:, 0] + 0.5) % 1 - 0.5
    assert np.abs(shifts).max() <= 0.1 + 1e-4 and shifts.min() < -0.08 and shifts.max() > 0.08
    assert augmenter({"name": "color_jitter", "hue": 0.5}) is not None


def test_saturation_and_hue_are_drawn_independently():
    # Saturation scales each pixel's colour about its luma L and keeps its hue; the hue's turn
    # keeps HSV value V. So an image's saturation factor is (V_out - L) / (V_in - L), and its
    # turn the change of hue (HSV by matplotlib).
    hsv = np.stack(
        [np.linspace(0, 1, 256, endpoint=False), np.full(256, 0.4), np.full(256, 0.6)], -1
    )
    colours = hsv_to_rgb(hsv).astype(np.float32)
    images = np.broadcast_to(colours[:, None, None, :], (256, 2, 2, 3))
    op = {"name": "color_jitter", "brightness": 0, "contrast": 0, "saturation": 0.4, "hue": 0.1}
    out = run(op, images)[0][:, 0, 0, :]
    luma = colours @ np.array([0.299, 0.587, 0.114], np.float32)
    factors = (out.max(axis=-1) - luma) / (colours.max(axis=-1) - luma)
    turns = (rgb_to_hsv(out)[:, 0] - hsv[:, 0] + 0.5) % 1 - 0.5
    assert factors.min() < 0.65 and factors.max() > 1.35
    assert turns.min() < -0.09 and turns.max() > 0.09
    assert abs(np.corrcoef(factors, turns)[0, 1]) < 0.25


@pytest.mark.parametrize("factor", ["contrast", "saturation"])
def test_contrast_and_saturation_are_clipped_to_the_unit_range(factor):
    op = {"name": "color_jitter", "brightness": 0, "contrast": 0, "saturation": 0, factor: 0.9}
    out, _ = run(op, random_images((16, 4, 4, 3)))
    assert out.min() == 0.0 and out.max() == 1.0


def test_color_jitter_of_gray_images_scales_brightness_and_refuses_saturation_and_hue():
    images = 0.2 + 0.4 * random_images((16, 4, 4, 1))
    op = {"name": "color_jitter", "brightness": 0.5, "contrast": 0, "saturation": 0, "hue": 0}
    ratios = run(op, images, channels=1)[0] / images
    assert np.ptp(ratios, axis=(1, 2, 3)).max() < 1e-5 and np.ptp(ratios) > 0.1
    with pytest.raises(
        ConfigError, match=r"saturation, hue=\[0.4, 0.0\] is invalid: expected 0 for gray images"
    ):
        augmenter({"name": "color_jitter", "saturation": 0.4}, channels=1)


def test_contrast_keeps_the_mean_luma_and_saturation_keeps_gray_images():
    images = 0.4 + 0.2 * random_images((16, 4, 4, 3))
    luma = images @ np.array([0.299, 0.587, 0.114], np.float32)
    contrast = {"name": "color_jitter", "brightness": 0, "contrast": 0.5, "saturation": 0}
    out, _ = run(contrast, images)
    out_luma = out @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(out_luma.mean(axis=(1, 2)), luma.mean(axis=(1, 2)), atol=1e-4)
    gray = np.repeat(random_images((16, 4, 4, 1)), 3, axis=-1)
    colourful = {
        "name": "color_jitter",
        "brightness": 0,
        "contrast": 0,
        "saturation": 0.9,
        "hue": 0.4,
    }
    np.testing.assert_allclose(run(colourful, gray)[0], gray, atol=1e-5)


# -- occlusion ---------------------------------------------------------------------------------


def box_of(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the True region of an (H, W) mask, checked to be a full
    box; None when it is empty."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    top, left, bottom, right = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
    assert mask[top:bottom, left:right].all(), "the region is not a rectangle"
    return top, left, bottom - top, right - left


def filled_boxes(out: np.ndarray, value: float) -> list[tuple[int, int]]:
    """Per image, the (height, width) of the box equal to `value`, (0, 0) if there is none."""
    boxes = [box_of(np.all(np.isclose(image, value), axis=-1)) for image in out]
    return [(0, 0) if box is None else box[2:] for box in boxes]


def test_cutout_blanks_one_square_clipped_at_the_border():
    images = np.full((64, 12, 12, 3), 0.7, np.float32)
    out, _ = run({"name": "cutout", "size": 4, "fill": 0.25}, images)
    sizes = filled_boxes(out, 0.25)
    assert all(1 <= h <= 4 and 1 <= w <= 4 for h, w in sizes)
    assert (4, 4) in sizes and any(s != (4, 4) for s in sizes)  # some squares are clipped
    assert np.all(np.isclose(out, 0.7) | np.isclose(out, 0.25))


def test_cutout_of_size_one_blanks_one_pixel():
    out, _ = run(
        {"name": "cutout", "size": 1, "fill": 0.25}, np.full((16, 6, 6, 3), 0.7, np.float32)
    )
    assert filled_boxes(out, 0.25) == [(1, 1)] * 16


def test_cutout_square_is_centred_on_a_uniformly_random_pixel():
    # A 5x5 square centred on pixel (r, c) covers rows r-2..r+2 and columns c-2..c+2, clipped:
    # read the centre from the side that is not clipped; every pixel is a centre sometime.
    images = np.full((256, 10, 10, 3), 0.7, np.float32)
    out, _ = run({"name": "cutout", "size": 5, "fill": 0.25}, images, image_size=(10, 10))
    centres = []
    for image in out:
        top, left, height, width = box_of(np.all(np.isclose(image, 0.25), axis=-1))
        row = top + 2 if top > 0 else top + height - 3
        col = left + 2 if left > 0 else left + width - 3
        assert (top, left) == (max(row - 2, 0), max(col - 2, 0))
        assert (top + height, left + width) == (min(row + 3, 10), min(col + 3, 10))
        centres.append((row, col))
    rows, cols = np.array(centres).T
    assert set(rows) == set(range(10)) and set(cols) == set(range(10))


@pytest.mark.parametrize(
    "op",
    [{"name": "cutout", "size": 3}, {"name": "random_erasing", "p": 1.0, "fill": "mean"}],
    ids=["cutout", "random_erasing"],
)
def test_fill_mean_is_the_train_split_mean_as_compute_stats_gives_it(op):
    # compute_stats gives float64 statistics; the erased pixels still hold them, in float32.
    train = random_images((4, 8, 8, 3), seed=1)
    stats = compute_stats(tf.data.Dataset.from_tensors(train))
    out, _ = run(op, np.ones((8, 8, 8, 3), np.float32), stats=stats)
    erased = out[np.any(out < 1, axis=-1)]
    assert len(erased) > 0 and out.dtype == np.float32
    expected = np.broadcast_to(train.mean(axis=(0, 1, 2)), erased.shape)
    np.testing.assert_allclose(erased, expected, atol=1e-6)


def test_random_erasing_boxes_have_the_asked_area_and_aspect():
    images = np.ones((64, 16, 16, 3), np.float32)
    op = {"name": "random_erasing", "p": 1.0, "scale": [0.1, 0.3], "ratio": [0.5, 2.0], "fill": 0.0}
    sizes = [s for s in filled_boxes(run(op, images)[0], 0.0) if s != (0, 0)]
    assert len(sizes) > 50
    areas = np.array([h * w for h, w in sizes]) / 256
    aspects = np.array([w / h for h, w in sizes])
    assert areas.min() >= 0.1 - 0.03 and areas.max() <= 0.3 + 0.03  # whole-pixel rounding
    assert aspects.min() >= 0.5 * 0.8 and aspects.max() <= 2.0 * 1.25


def test_random_erasing_with_p_zero_changes_nothing():
    images = random_images((8, 16, 16, 3))
    np.testing.assert_array_equal(run({"name": "random_erasing", "p": 0.0}, images)[0], images)


@pytest.mark.parametrize(
    "op",
    [{"name": "cutout", "size": 4, "fill": "random"}, {"name": "random_erasing", "p": 1.0}],
    ids=["cutout", "random_erasing"],
)
def test_random_fill_is_noise(op):
    out, _ = run(op, np.zeros((8, 16, 16, 3), np.float32))
    assert np.unique(out[out > 0]).size > 10


# -- mixing ------------------------------------------------------------------------------------


def distinct_batch(count: int = 8, size=(6, 6)):
    """Image i is the constant i / count; its label is class i."""
    images = np.broadcast_to(
        np.arange(count, dtype=np.float32)[:, None, None, None] / count, (count, *size, 3)
    )
    return np.ascontiguousarray(images), np.eye(count, dtype=np.float32)


def test_mixup_mixes_images_and_labels_with_the_same_weight():
    images, labels = distinct_batch()
    out, mixed = run({"name": "mixup", "alpha": 1.0}, images, labels)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    expected = mixed @ (np.arange(8, dtype=np.float32) / 8)  # sum_k weight_k * value_k
    np.testing.assert_allclose(out[:, 0, 0, 0], expected, atol=1e-6)
    own = mixed[np.arange(8), np.arange(8)]
    paired = own < 1 - 1e-6  # images whose partner is another image
    assert paired.sum() >= 4 and np.ptp(own[paired]) < 1e-6  # one weight for the whole batch


def test_cutmix_labels_follow_the_pasted_area():
    images, labels = distinct_batch()
    out, mixed = run({"name": "cutmix", "alpha": 1.0}, images, labels)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    for i in range(8):
        own_pixels = np.isclose(out[i, ..., 0], i / 8).mean()
        assert mixed[i, i] == pytest.approx(own_pixels, abs=1e-6)
        values = set(np.round(np.unique(out[i]) * 8).astype(int))
        assert values <= {i, *np.nonzero(mixed[i])[0]}


def test_cutmix_box_has_the_image_aspect_ratio_and_a_uniformly_random_centre():
    # The paper's box is r H x r W with r = sqrt(1 - lam), centred on a uniform pixel and
    # clipped: boxes clear of the borders keep H:W up to rounding; each border is touched by
    # some boxes but, with lam ~ Beta(1, 1), by fewer than 60% of them (about 35%).
    images, labels = distinct_batch(8, size=(20, 40))
    cutmix = tf.function(augmenter({"name": "cutmix", "alpha": 1.0}, image_size=(20, 40)))
    boxes = []
    for step in range(200):
        out, _ = cutmix(images, labels, tf.constant([step, 3], tf.int64))
        box = box_of(np.any(out.numpy() != images, axis=(0, 3)))  # one box for the batch
        if box is not None:
            boxes.append(box)
    top, left, height, width = np.array(boxes).T
    bottom, right = top + height, left + width
    clear = (top > 0) & (left > 0) & (bottom < 20) & (right < 40)
    assert clear.sum() >= 10
    np.testing.assert_allclose(height[clear] / 20, width[clear] / 40, atol=0.5 / 20 + 0.5 / 40)
    for touching in (top == 0, left == 0, bottom == 20, right == 40):
        assert 0 < touching.mean() < 0.6


def test_mixing_with_p_zero_leaves_the_batch():
    images, labels = distinct_batch()
    for name in ("mixup", "cutmix"):
        out, mixed = run({"name": name, "p": 0.0}, images, labels)
        np.testing.assert_array_equal(out, images)
        np.testing.assert_array_equal(mixed, labels)


# -- evaluation transforms ---------------------------------------------------------------------


def test_center_crop_is_the_middle_window():
    images = random_images((2, 10, 12, 3))
    np.testing.assert_array_equal(center_crop(tf.constant(images), (6, 8)), images[:, 2:8, 2:10])


def test_ten_crop_views_are_corners_centre_and_their_mirrors():
    images = random_images((3, 10, 10, 3))
    views = tta_views(tf.constant(images), (8, 8), "ten_crop").numpy().reshape(10, 3, 8, 8, 3)
    crops = [
        images[:, :8, :8],
        images[:, :8, 2:],
        images[:, 2:, :8],
        images[:, 2:, 2:],
        images[:, 1:9, 1:9],
    ]
    expected = crops + [c[:, :, ::-1] for c in crops]
    for view, reference in zip(views, expected, strict=True):
        np.testing.assert_array_equal(view, reference)


def test_flip_views_are_the_centre_crop_and_its_mirror():
    images = random_images((2, 8, 8, 3))
    views = tta_views(tf.constant(images), (8, 8), "flip").numpy()
    np.testing.assert_array_equal(views, np.concatenate([images, images[:, :, ::-1]]))


# -- configuration errors ----------------------------------------------------------------------


def test_unknown_op_lists_the_available_ones():
    with pytest.raises(
        ConfigError, match=r"augment.ops\[0\].name='flip' is unknown; available: .*horizontal_flip"
    ):
        augmenter({"name": "flip"})


def test_unknown_op_parameter_is_named():
    with pytest.raises(
        ConfigError, match=r"augment.ops\[1\] \(cutout\) got unknown option\(s\) sise"
    ):
        augmenter({"name": "horizontal_flip"}, {"name": "cutout", "sise": 3})


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (
            {"name": "random_crop", "padding": -1},
            r"ops\[0\] \(random_crop\): padding=-1 is invalid: expected an integer >= 0",
        ),
        (
            {"name": "random_crop", "pad_mode": "edge"},
            r"pad_mode='edge' is unknown; available: zero, reflect",
        ),
        ({"name": "horizontal_flip", "p": 2}, r"p=2 is invalid: expected a number in \[0, 1\]"),
        ({"name": "random_resized_crop", "scale": [0.5, 0.1]}, r"scale=\[0.5, 0.1\] is invalid"),
        (
            {"name": "random_resized_crop", "scale": [0.5, 1.5]},
            r"\): scale=\[0.5, 1.5\] is invalid: expected \[min, max\] with 1e-06 <= min <= max <= 1.0",
        ),
        (
            {"name": "random_erasing", "scale": [0.5, 1.5]},
            r"\): scale=\[0.5, 1.5\] is invalid: expected \[min, max\] with 1e-06 <= min <= max <= 1.0",
        ),
        ({"name": "mixup", "alpha": 0}, r"alpha=0 is invalid: expected a number > 0"),
        (
            {"name": "cutout", "fill": "black"},
            r"fill='black' is invalid: expected a number in \[0, 1\], 'mean'",
        ),
        ({"name": "mixup", "p": 2}, r"\(mixup\): p=2 is invalid: expected a number in \[0, 1\]"),
        ({"name": "cutout", "fill": 1.5}, r"\(cutout\): fill=1.5 is invalid: expected a number in"),
        ({"name": "cutout", "size": 0}, r"\(cutout\): size=0 is invalid: expected an integer >= 1"),
        ({"name": "random_erasing", "p": 1.5}, r"\(random_erasing\): p=1.5 is invalid"),
        ({"name": "random_erasing", "scale": [0.5, 0.1]}, r"\): scale=\[0.5, 0.1\] is invalid"),
        ({"name": "random_erasing", "ratio": [2.0, 1.0]}, r"\): ratio=\[2.0, 1.0\] is invalid"),
        ({"name": "random_resized_crop", "ratio": [2.0, 1.0]}, r"\): ratio=\[2.0, 1.0\] is"),
        ({"name": "pca_lighting", "std": -0.1}, r"std=-0.1 is invalid: expected a number >= 0"),
        (
            {"name": "pca_lighting", "eigval": [1, 2], "eigvec": np.eye(3).tolist()},
            r"\): eigval=\[1, 2\] is invalid: expected 3 numbers",
        ),
        (
            {"name": "pca_lighting", "eigval": [1, 1, 1], "eigvec": [[1, 0], [0, 1]]},
            r"\): eigvec=\[\[1, 0\], \[0, 1\]\] is invalid: expected a 3x3 matrix",
        ),
        ({"name": "color_jitter", "brightness": -1}, r"\): brightness=-1 is invalid: expected a"),
        ({"name": "color_jitter", "saturation": -1}, r"\): saturation=-1 is invalid: expected"),
        ({"name": "color_jitter", "contrast": -1}, r"\): contrast=-1 is invalid: expected a"),
        (
            {"name": "color_jitter", "hue": 0.6},
            r"hue=0.6 is invalid: expected a number in \[0, 0.5\]",
        ),
        (
            {"name": "scale_jitter", "min_size": 20, "max_size": 10},
            r"min_size, max_size=\[20, 10\] is invalid: expected integers with min_size <= max",
        ),
    ],
)
def test_bad_op_parameter_is_one_clear_error(op, message):
    with pytest.raises(ConfigError, match=message):
        augmenter(op)


def test_no_ops_is_no_augmenter():
    assert augmenter() is None
