"""A folder's images as they are: with data.image_size and data.channels left null, the folder
source takes them from the images when they agree, and says so; else 64x64 RGB, in one line."""

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab.config.data import FolderDataConfig
from cnnlab.data import build_datasets
from cnnlab.data.sources.folder import ImageFile, image_geometry


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


def headers(size, modes):
    return [ImageFile(Path(f"{i}.png"), 0, size=size, mode=mode) for i, mode in enumerate(modes)]


def test_colour_images_of_one_size_are_rgb_at_that_size(tmp_path):
    unset = FolderDataConfig(path=str(tmp_path))
    assert image_geometry(unset, headers((20, 30), ["RGB", "RGBA", "P"])) == ((20, 30), 3)


def test_images_that_disagree_fall_back_to_64x64_rgb_in_one_line(caplog, tmp_path):
    files = headers((20, 30), ["L", "L"]) + headers((24, 24), ["RGB"])
    with caplog.at_level(logging.INFO):
        assert image_geometry(FolderDataConfig(path=str(tmp_path)), files) == ((64, 64), 3)
    assert [r.getMessage() for r in caplog.records] == [
        "folder images: data.image_size=[64, 64] (the images' 2 sizes differ: 20x30, 24x24, ...; "
        "set data.image_size); data.channels=3 (gray and colour images mix)"
    ]


def test_values_that_are_set_win_over_the_images(tmp_path):
    given = FolderDataConfig(path=str(tmp_path), image_size=[16, 16], channels=3)
    assert image_geometry(given, headers((28, 28), ["L"])) == (None, None)  # the config's
