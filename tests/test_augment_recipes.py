"""The papers' augmentation recipes in conf/augment/: each composes to its paper's ops, and the
train batches that the pipeline yields show each op acting as the paper describes it.

The batch checks switch a recipe's ops on one at a time (same seeds, so the ops before take the
same draws) and read what each op did. For the resampling recipes (imagenet, vgg_multiscale)
the images are coordinate ramps: red is the row, green the column, so a resampled crop gives
its box's position and size in the loaded image back, with no search.
"""

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import Datasets, build_datasets

# The ops and test-time views each paper describes (conf/augment/<name>.yaml).
PAPERS = {
    # Krizhevsky et al. 2012, §4.1: 224 crops of the 256 image, reflections, PCA lighting
    # with alpha ~ N(0, 0.1); the 10-crop average at test time.
    "alexnet": (
        [
            {"name": "random_crop", "padding": 0},
            {"name": "horizontal_flip", "p": 0.5},
            {"name": "pca_lighting", "std": 0.1},
        ],
        "ten_crop",
    ),
    # Szegedy et al. 2015 (8%-100% of the area, aspect 3/4-4/3) with fb.resnet.torch's colour
    # jitter 0.4 and AlexNet's lighting; the centre crop at test time.
    "imagenet": (
        [
            {"name": "random_resized_crop", "scale": [0.08, 1.0], "ratio": [0.75, 1.3333333]},
            {"name": "horizontal_flip", "p": 0.5},
            {
                "name": "color_jitter",
                "brightness": 0.4,
                "contrast": 0.4,
                "saturation": 0.4,
                "hue": 0.0,
            },
            {"name": "pca_lighting", "std": 0.1},
        ],
        "none",
    ),
    # Simonyan & Zisserman 2015, §3.1: shorter side S in [256, 512], 224 crops, flips, lighting;
    # §3.2: the flipped pair at test time.
    "vgg_multiscale": (
        [
            {"name": "scale_jitter", "min_size": 256, "max_size": 512},
            {"name": "horizontal_flip", "p": 0.5},
            {"name": "pca_lighting", "std": 0.1},
        ],
        "flip",
    ),
}


@pytest.mark.parametrize("recipe", sorted(PAPERS))
def test_recipe_composes_to_its_papers_ops(make_cfg, recipe):
    augment = make_cfg(f"augment={recipe}").augment
    assert (augment.ops, augment.test_time) == PAPERS[recipe]


# -- what the ops did to a batch ---------------------------------------------------------------


def first_batch(datasets: Datasets) -> np.ndarray:
    return next(iter(datasets.train))[0].numpy()


def assert_flips(flipped: np.ndarray, unflipped: np.ndarray) -> None:
    """Each image is its unflipped self or its mirror, and both happen."""
    mirrored = 0
    for flip, image in zip(flipped, unflipped, strict=True):
        assert np.array_equal(flip, image) or np.array_equal(flip, image[:, ::-1])
        mirrored += not np.array_equal(flip, image)
    assert 0 < mirrored < len(flipped)


def lighting_offsets(lit: np.ndarray, unlit: np.ndarray) -> np.ndarray:
    """PCA lighting adds one RGB offset to every pixel of an image (pixels clipped at 0 or 1
    aside), an offset of its own per image: the (B, 3) offsets."""
    offsets = []
    for image, before in zip(lit, unlit, strict=True):
        inside = (image > 0) & (image < 1)
        shift = [(image - before)[..., c][inside[..., c]] for c in range(3)]
        assert all(np.ptp(s) < 1e-5 for s in shift)
        offsets.append([s.mean() for s in shift])
    offsets = np.array(offsets)
    assert np.ptp(offsets, axis=0).max() > 1e-4  # an offset of its own per image
    return offsets


def is_window_at(
    crop: np.ndarray, centre: np.ndarray, top: int, left: int, margin: int = 2
) -> bool:
    """`crop`, taken at (top, left) of a loaded image, equals the centre window of that image
    (taken at (margin, margin)) where the two overlap."""
    (h, w), dy, dx = crop.shape[:2], top - margin, left - margin
    return np.array_equal(
        crop[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)],
        centre[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)],
    )


@pytest.mark.slow  # 4 s: four pipelines with PCA statistics; the fast suite's budget is spent
def test_alexnet_recipe_crops_mirrors_and_shifts_each_images_colour(make_cfg):
    """The recipe's three ops on the digits: a 28x28 window of the 32x32 loaded image, that
    window or its mirror, then one RGB offset for the whole image. Evaluation sees the centre
    window."""
    common = ("data.channels=3", "data.load_size=[32,32]", "data.normalize=false")
    common += ("trainer.batch_size=16", "augment=alexnet")

    def batch(*overrides: str) -> np.ndarray:
        return first_batch(build_datasets(make_cfg(*common, *overrides)))

    centres = batch("augment.ops=[]")
    crops = batch("augment.ops.1.p=0.0", "augment.ops.2.std=0.0")
    flipped = batch("augment.ops.2.std=0.0")
    lit = batch()
    for centre, crop in zip(centres, crops, strict=True):
        assert any(is_window_at(crop, centre, top, left) for top in range(5) for left in range(5))
    assert not np.array_equal(crops, centres)  # windows other than the centre
    assert_flips(flipped, crops)
    lighting_offsets(lit, flipped)


LOAD, CROP = 256, 224  # the papers' sizes
# Mid-range ramps: the colour jitter does not clip them (its check would see it).
LOW, SPAN = 0.35, 0.3


@pytest.fixture(scope="module")
def ramp_folder(tmp_path_factory):
    """Two classes of 10 identical 256x256 PNGs: red = LOW + SPAN * row / 255, green the same
    of the column, blue LOW + SPAN / 2."""
    root = tmp_path_factory.mktemp("ramps")
    ramp = LOW + SPAN * np.arange(LOAD) / (LOAD - 1)
    rgb = np.stack(
        np.broadcast_arrays(ramp[:, None], ramp[None, :], np.full((1, 1), LOW + SPAN / 2)), -1
    )
    pixels = np.round(255 * rgb).astype(np.uint8)
    for label in ("a", "b"):
        (root / label).mkdir()
        for index in range(10):
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


def ramp_datasets(make_cfg, folder, tmp_path, recipe: str, *overrides: str) -> Datasets:
    """`recipe` on the ramps: 16 train images, in [0, 1], one batch."""
    return build_datasets(
        make_cfg(
            "data=folder",
            f"data.path={folder}",
            f"data.image_size=[{CROP},{CROP}]",
            f"data.load_size=[{LOAD},{LOAD}]",
            "data.val_fraction=0",
            "data.normalize=false",
            f"data.stats_cache={tmp_path / 'stats'}",
            "trainer.batch_size=16",
            f"augment={recipe}",
            *overrides,
        )
    )


def sampled_boxes(crops: np.ndarray) -> np.ndarray:
    """Per crop, (first row, first column, height, width) in loaded pixels of the box it was
    resampled from, read off the ramps: a row's red value gives its position."""
    rows = (crops[..., 0].mean(axis=2) - LOW) / SPAN * (LOAD - 1)  # (B, CROP) sampled rows
    cols = (crops[..., 1].mean(axis=1) - LOW) / SPAN * (LOAD - 1)
    steps = np.arange(CROP)
    row_step = np.polyfit(steps, rows.T, 1)[0]  # box height / CROP, per image
    col_step = np.polyfit(steps, cols.T, 1)[0]
    return np.stack([rows[:, 0], cols[:, 0], row_step * CROP, col_step * CROP], axis=1)


@pytest.mark.slow  # 4 pipelines of 256x256 images; the fast suite's budget is spent
def test_imagenet_recipe_resizes_a_random_box_then_flips_jitters_and_lights(
    make_cfg, ramp_folder, tmp_path
):
    """Inception's crop: a box of 8%-100% of the area with aspect 3/4-4/3 resized to 224;
    then flip, colour jitter (brightness, contrast, saturation factors in [0.6, 1.4], no hue),
    PCA lighting."""

    def batch(*overrides: str) -> np.ndarray:
        return first_batch(ramp_datasets(make_cfg, ramp_folder, tmp_path, "imagenet", *overrides))

    no_jitter = [f"augment.ops.2.{factor}=0" for factor in ("brightness", "contrast", "saturation")]
    crops = batch("augment.ops.1.p=0.0", *no_jitter, "augment.ops.3.std=0.0")
    flipped = batch(*no_jitter, "augment.ops.3.std=0.0")
    jittered = batch("augment.ops.3.std=0.0")
    factors = [
        colour_jitter_factors(image, before)
        for image, before in zip(jittered, flipped, strict=True)
    ]
    lit = batch()

    _, _, height, width = sampled_boxes(crops).T
    area = height * width / LOAD**2
    assert area.min() >= 0.08 * 0.95 and area.max() <= 1.0 * 1.02  # 8-bit ramps: 2% reading
    assert area.min() < 0.2 and area.max() > 0.7  # across the range
    aspect = width / height
    assert aspect.min() >= 0.75 * 0.97 and aspect.max() <= 4 / 3 * 1.03
    assert aspect.min() < 0.85 and aspect.max() > 1.15
    assert_flips(flipped, crops)
    assert np.min(factors) >= 0.6 - 1e-3 and np.max(factors) <= 1.4 + 1e-3
    assert np.all(np.min(factors, axis=0) < 0.8) and np.all(np.max(factors, axis=0) > 1.2)
    assert_ramp_lighting(lighting_offsets(lit, jittered))


LUMA = np.array([0.299, 0.587, 0.114])


def colour_jitter_factors(image: np.ndarray, before: np.ndarray) -> tuple[float, float, float]:
    """The brightness b, contrast c and saturation s of torchvision's ColorJitter that made
    `image` from `before`, checked to reproduce it; applied in this order, unclipped:
        brightness  x1 = b * x
        contrast    x2 = mean(luma(x1)) + c * (x1 - mean(luma(x1)))
        saturation  x3 = luma(x2) + s * (x2 - luma(x2))
    So luma(x3) = b * (1 - c) * mean(luma(x)) + b * c * luma(x) (luma is linear and sums to 1)
    and x3 - luma(x3) = s * c * b * (x - luma(x)): b, c and s come back from two fits."""
    luma, out_luma = before @ LUMA, image @ LUMA
    slope, intercept = np.polyfit(luma.ravel(), out_luma.ravel(), 1)  # b * c, b * (1 - c) * m
    b = intercept / luma.mean() + slope
    c = slope / b
    chroma, out_chroma = before - luma[..., None], image - out_luma[..., None]
    s = (chroma.ravel() @ out_chroma.ravel()) / (chroma.ravel() @ chroma.ravel()) / slope
    x1 = b * before
    x2 = (x1 @ LUMA).mean() + c * (x1 - (x1 @ LUMA).mean())
    x3 = (x2 @ LUMA)[..., None] + s * (x2 - (x2 @ LUMA)[..., None])
    np.testing.assert_allclose(image, x3, atol=1e-4)
    return b, c, s


def assert_ramp_lighting(offsets: np.ndarray) -> None:
    """AlexNet's lighting on the ramps: offset = sum_i alpha_i * lambda_i * p_i with alpha_i ~
    N(0, 0.1). The ramps' RGB covariance is diagonal: red and green vary alike (eigenvalue
    their variance), blue not at all (eigenvalue 0), so blue never moves and the red and
    green offsets over that variance are the alphas."""
    pixels = np.round(255 * (LOW + SPAN * np.arange(LOAD) / (LOAD - 1))) / 255
    alphas = offsets[:, :2] / pixels.var()
    np.testing.assert_allclose(offsets[:, 2], 0.0, atol=1e-6)
    assert 0.1 * 0.7 < np.sqrt(np.mean(alphas**2)) < 0.1 * 1.3  # RMS of 32 draws: 2.4 std errors


@pytest.mark.slow  # 3 pipelines of 256x256 images
def test_vgg_multiscale_recipe_crops_at_a_random_scale_then_flips_and_lights(
    make_cfg, ramp_folder, tmp_path
):
    """VGG's multi-scale training: the image rescaled so its shorter side is S, an integer in
    [256, 512], and a 224x224 crop taken, i.e. a square box of 224 * 256 / S loaded pixels
    resampled; then flip and PCA lighting. Test time sees the centre crop and its mirror."""

    def recipe(*overrides: str) -> Datasets:
        return ramp_datasets(make_cfg, ramp_folder, tmp_path, "vgg_multiscale", *overrides)

    crops = first_batch(recipe("augment.ops.1.p=0.0", "augment.ops.2.std=0.0"))
    flipped = first_batch(recipe("augment.ops.2.std=0.0"))
    datasets = recipe()
    lit = first_batch(datasets)

    top, left, height, width = sampled_boxes(crops).T
    np.testing.assert_allclose(width, height, rtol=0.02)  # the aspect ratio is kept
    scale = CROP * LOAD / height  # S
    assert scale.min() >= 256 * 0.98 and scale.max() <= 513 * 1.02
    assert scale.min() < 300 and scale.max() > 470  # across the range
    assert np.ptp(top) > 8 and np.ptp(left) > 8  # at many positions
    assert_flips(flipped, crops)
    assert_ramp_lighting(lighting_offsets(lit, flipped))
    views = next(iter(datasets.test_views))[0].numpy()
    centres, mirrors = np.split(views, 2)
    np.testing.assert_array_equal(mirrors, centres[:, :, ::-1])
    margin = (LOAD - CROP) / 2
    np.testing.assert_allclose(sampled_boxes(centres)[:, :2], margin, atol=0.5)
    np.testing.assert_allclose(sampled_boxes(centres)[:, 2:], CROP, rtol=0.01)
