"""A folder's images as they are: with data.image_size and data.channels left null, the folder
source takes them from the images when they agree, and says so; else 64x64 RGB, in one line."""

import logging

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import build_datasets


def write_images(root, sizes, modes, per_class=10):
    """Two classes; image i has size sizes[i % len] (height, width) and PIL mode modes[i % len]."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            height, width = sizes[i % len(sizes)]
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).convert(modes[i % len(modes)]).save(root / name / f"{i}.png")
    return root


def folder_data(make_cfg, root, *overrides):
    cfg = make_cfg(
        "data=folder", f"data.path={root}", f"data.stats_cache={root / 'stats'}", *overrides
    )
    return build_datasets(cfg)


def test_images_that_agree_give_their_size_and_channels(make_cfg, tmp_path, caplog):
    root = write_images(tmp_path / "digits", sizes=[(28, 28)], modes=["L"])
    with caplog.at_level(logging.INFO):
        data = folder_data(make_cfg, root)
    assert data.info.input_shape == (28, 28, 1)
    assert "data.image_size=[28, 28] (every image's); data.channels=1 (every image is gray)" in (
        caplog.text
    )


def test_colour_images_of_one_size_are_rgb_at_that_size(make_cfg, tmp_path):
    root = write_images(tmp_path / "photos", sizes=[(20, 30)], modes=["RGB", "RGBA", "P"])
    assert folder_data(make_cfg, root).info.input_shape == (20, 30, 3)


def test_images_that_disagree_fall_back_to_64x64_rgb_in_one_line(make_cfg, tmp_path, caplog):
    root = write_images(tmp_path / "mixed", sizes=[(20, 30), (24, 24)], modes=["L", "RGB"])
    with caplog.at_level(logging.INFO):
        data = folder_data(make_cfg, root)
    assert data.info.input_shape == (64, 64, 3)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("folder images")]
    assert lines == [
        "folder images: data.image_size=[64, 64] (the images' 2 sizes differ: 20x30, 24x24, ...; "
        "set data.image_size); data.channels=3 (gray and colour images mix)"
    ]


@pytest.mark.parametrize(
    ("override", "shape"),
    [("data.channels=3", (28, 28, 3)), ("data.image_size=[16,16]", (16, 16, 1))],
)
def test_a_value_that_is_set_wins_over_the_images(make_cfg, tmp_path, override, shape):
    root = write_images(tmp_path / "digits", sizes=[(28, 28)], modes=["L"])
    assert folder_data(make_cfg, root, override).info.input_shape == shape
