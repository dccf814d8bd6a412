"""`data=folder`: the user's images in class folders, with the messy files people really have."""

import io
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cnnlab import tracking
from cnnlab.data import build_datasets, load_source
from cnnlab.data.sources.folder import decode, read_header
from cnnlab.errors import ConfigError, DataError
from cnnlab.training import train

CLASSES = ("cat", "dog", "fish")
COLOURS = {"cat": (200, 40, 40), "dog": (40, 200, 40), "fish": (40, 40, 200)}
MODES = ("RGB", "L", "RGBA", "P", "LA")


def picture(colour, size, seed) -> Image.Image:
    """A class colour with noise, so classes differ and every file is different."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (*size, 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def save(image: Image.Image, path: Path, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert(mode).save(path)


def write_class_folders(root: Path, per_class: int, seed: int = 0) -> None:
    """`per_class` images per class in mixed sizes, modes and formats."""
    for c, name in enumerate(CLASSES):
        for i in range(per_class):
            size = (20 + 3 * i, 30 - i)  # mixed sizes and aspect ratios
            image = picture(COLOURS[name], size, seed + 100 * c + i)
            mode = MODES[i % len(MODES)]
            suffix = {"RGB": ".jpg", "L": ".png", "RGBA": ".png", "P": ".gif", "LA": ".png"}[mode]
            if i % 7 == 6:
                mode, suffix = "P", ".bmp"  # palette BMP: TensorFlow would misread it
            save(image, root / name / f"{name}_{i:02d}{suffix}", mode)


def write_bad_files(folder: Path) -> list[str]:
    """One of each kind of bad file; returns their names relative to `folder`."""
    jpeg = io.BytesIO()
    picture((9, 9, 9), (40, 40), 1).save(jpeg, "JPEG")
    png = io.BytesIO()
    picture((9, 9, 9), (40, 40), 1).save(png, "PNG")
    tiff = io.BytesIO()
    picture((9, 9, 9), (8, 8), 2).save(tiff, "TIFF")
    bad = {
        "cat/truncated.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "cat/cut_short.png": png.getvalue()[: len(png.getvalue()) * 3 // 4],  # header intact
        "dog/empty.png": b"",
        "dog/notes.txt": b"a note someone left",
        "fish/not_really.jpg": b"<html>404</html>",
        "fish/scan.png": tiff.getvalue(),  # a TIFF with a PNG name
    }
    for name, content in bad.items():
        (folder / name).write_bytes(content)
    (folder / "cat" / ".DS_Store").write_bytes(b"\0\1")  # hidden: ignored, not counted
    return sorted(bad)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    write_class_folders(root, per_class=14)
    write_bad_files(root)
    return root


def folder_cfg(make_cfg, root, *overrides):
    return make_cfg(
        "data=folder",
        f"data.path={root}",
        "data.image_size=[16,16]",
        f"data.stats_cache={root.parent / 'stats'}",
        *overrides,
    )


def test_classes_come_from_folder_names_and_bad_files_are_reported_once(
    make_cfg, image_folder, caplog
):
    source = load_source(folder_cfg(make_cfg, image_folder).data, seed=0)
    assert source.class_names == list(CLASSES)
    assert source.extra == {"data.bad_files": 6.0}
    assert sum(source.split_sizes.values()) == 3 * 14
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert re.search(r"skipped 6 bad file\(s\) in .*images", warnings[0])
    for reason in (
        "2 corrupt or truncated",
        "1 empty file",
        "2 not an image file",
        "1 unsupported format TIFF",
    ):
        assert reason in warnings[0]


def test_on_bad_file_error_stops_up_front_with_the_path(make_cfg, image_folder):
    cfg = folder_cfg(make_cfg, image_folder, "data.on_bad_file=error")
    with pytest.raises(
        DataError,
        match=r"data.on_bad_file=error: .*/cat/cut_short.png is corrupt or truncated \(6 bad file",
    ):
        build_datasets(cfg)


def test_every_image_mode_decodes_like_pil_converts_it(tmp_path):
    image = picture((120, 60, 30), (9, 13), 3)
    files = {
        "rgb.png": "RGB", "gray.png": "L", "rgba.png": "RGBA", "gray_alpha.png": "LA",
        "palette.png": "P", "palette.gif": "P", "rgb.bmp": "RGB", "gray.bmp": "L",
        "palette.bmp": "P", "bits.bmp": "1",
    }  # fmt: skip
    for name, mode in files.items():
        save(image, tmp_path / name, mode)
        header = read_header(tmp_path / name, 0)
        decoded = decode(tf.constant(str(tmp_path / name)), tf.constant(header.needs_pil)).numpy()
        with Image.open(tmp_path / name) as reference:
            np.testing.assert_array_equal(
                decoded, np.asarray(reference.convert("RGB")), err_msg=name
            )


def test_mixed_sizes_and_modes_become_one_batch_shape(make_cfg, image_folder):
    data = build_datasets(
        folder_cfg(make_cfg, image_folder, "data.channels=1", "trainer.batch_size=64")
    )
    images, labels = next(iter(data.train))
    assert images.shape == (data.info.split_sizes["train"], 16, 16, 1)
    assert labels.shape[1] == 3 and np.all(np.isfinite(images))


def test_fraction_split_is_stratified_by_class(make_cfg, image_folder):
    cfg = folder_cfg(make_cfg, image_folder, "data.val_fraction=0.2", "data.test_fraction=0.2")
    source = load_source(cfg.data, seed=0)
    assert source.split_sizes == {"train": 24, "val": 9, "test": 9}  # 14 per class: 8 + 3 + 3
    for ds in source.splits.values():
        counts = np.bincount([int(y) for _, y in ds], minlength=3)
        assert counts.min() == counts.max()


def test_fraction_split_is_disjoint_seeded_and_keeps_test_when_val_changes(make_cfg, image_folder):
    def contents(seed, val_fraction=0.2):
        cfg = folder_cfg(make_cfg, image_folder, f"data.val_fraction={val_fraction}")
        source = load_source(cfg.data, seed=seed)
        return {name: {x.numpy().tobytes() for x, _ in ds} for name, ds in source.splits.items()}

    first = contents(seed=0)
    assert not first["train"] & first["test"] and not first["val"] & first["test"]
    assert not first["train"] & first["val"]
    assert contents(seed=0) == first
    assert contents(seed=1)["test"] != first["test"]
    assert contents(seed=0, val_fraction=0.1)["test"] == first["test"]


def test_split_folders_give_the_splits(make_cfg, tmp_path):
    for split, count in (("train", 6), ("val", 2), ("test", 3)):
        write_class_folders(tmp_path / split, per_class=count, seed=len(split))
    source = load_source(folder_cfg(make_cfg, tmp_path).data, seed=0)
    assert source.split_sizes == {"train": 18, "val": 6, "test": 9}
    assert source.class_names == list(CLASSES)


def test_split_folder_with_an_unknown_class_is_an_error(make_cfg, tmp_path):
    write_class_folders(tmp_path / "train", per_class=3)
    write_class_folders(tmp_path / "test", per_class=1)
    save(picture((0, 0, 0), (8, 8), 0), tmp_path / "test" / "bird" / "b.png", "RGB")
    with pytest.raises(
        DataError, match=r"test has class folder\(s\) bird that .*train does not have"
    ):
        load_source(folder_cfg(make_cfg, tmp_path).data, seed=0)


def unusable_folder(root: Path, layout: str) -> None:
    """Make `root` into one kind of folder that cannot be trained on."""
    if layout == "missing":
        return
    if layout == "file":
        root.write_text("x")
        return
    root.mkdir()
    if layout == "no_classes":
        save(picture((0, 0, 0), (8, 8), 0), root / "loose.png", "RGB")
        return
    write_class_folders(root, per_class=2)
    if layout == "one_class":
        for name in ("dog", "fish"):
            for f in (root / name).iterdir():
                f.unlink()
            (root / name).rmdir()
    elif layout == "empty_class":
        for f in (root / "fish").iterdir():
            f.unlink()
    elif layout == "only_bad_files":
        for f in (root / "dog").iterdir():
            f.write_bytes(b"")


@pytest.mark.parametrize(
    ("layout", "overrides", "message"),
    [
        ("no_classes", [], r"has no class sub-folders; expected .*/<class>/<image>"),
        ("one_class", [], r"has one class folder \(cat\); a classifier needs at least two"),
        ("empty_class", [], r"class folder\(s\) fish in .* have no readable images"),
        ("only_bad_files", [], r"class folder\(s\) dog in .* have no readable images"),
        (
            "two_per_class",
            ["data.test_fraction=0.05", "data.val_fraction=0"],
            r"the test split is empty \(data.test_fraction=0.05 of 6 images\)",
        ),
        ("two_per_class", ["data.split=folders"], r"data.split=folders needs a train/ folder"),
        (
            "two_per_class",
            ["data.val_fraction=0.1"],
            r"the val split is empty \(data.val_fraction=0.1 of 6 images\)",
        ),
    ],
)
def test_unusable_folder_is_one_clear_error_before_training(
    make_cfg, tmp_path, layout, overrides, message
):
    root = tmp_path / layout
    unusable_folder(root, layout)
    with pytest.raises(DataError, match=message) as error:
        build_datasets(folder_cfg(make_cfg, root, *overrides))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("layout", "problem"), [("missing", "does not exist"), ("file", "is not a folder")]
)
def test_path_that_is_no_folder_is_refused_with_the_config(make_cfg, tmp_path, layout, problem):
    root = tmp_path / layout
    unusable_folder(root, layout)
    with pytest.raises(
        ConfigError,
        match=rf"^data.path='.*/{layout}' {problem}: expected a folder with one subfolder of images per class$",
    ):
        folder_cfg(make_cfg, root)


def test_missing_path_setting_says_how_to_give_it(make_cfg):
    with pytest.raises(ConfigError, match=r"^data.path is required: set data.path=...$"):
        build_datasets(make_cfg("data=folder"))


def test_training_on_a_folder_reports_bad_files_and_logs_the_augmentation(
    make_cfg, image_folder, tmp_path, caplog
):
    cfg = folder_cfg(
        make_cfg, image_folder, "debug=fast", "model=simple_convnet", "augment=cifar",
        "data.image_size=[24,24]", "trainer.batch_size=8",
    )  # fmt: skip
    result = train(cfg, output_dir=tmp_path)
    run = tracking.get_run(result.run_id, cfg.tracking)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["data.bad_files"] == 6
    assert run.data.params["dataset.class_names"] == "['cat', 'dog', 'fish']"
    assert "augmentation.png" in tracking.list_artifacts(result.run_id, cfg.tracking)
    assert "skipped 6 bad file(s)" in caplog.text
