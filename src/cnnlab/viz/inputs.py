"""The images a visualization looks at: from a run's dataset (by index or class), files, patterns,
and the photographs that ship with scikit-image."""

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from cnnlab.config import TrainConfig
from cnnlab.config.viz import DEFAULT_PHOTOS, PHOTOS, ImagesConfig
from cnnlab.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """Images (N, H, W, C) in the model's input space, with a name and a label (-1: unknown)."""

    images: np.ndarray
    names: list[str]
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)


Normalization = tuple[Sequence[float], Sequence[float]]  # (mean, std) per channel


@dataclass
class LabelledSplit:
    """The first images of a run's evaluation split (evaluation transforms: no augmentation)."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    size: int  # of the whole split


def run_split(run_cfg: TrainConfig, split: str, count: int) -> LabelledSplit:
    """The first `count` images of `split` through the run's own data pipeline."""
    from cnnlab.data import build_datasets

    data = build_datasets(run_cfg)
    dataset = data.test if split == "test" else data.val
    if dataset is None:
        raise ConfigError(
            f"viz.images.split={split!r} is invalid: the run's data has no {split} split"
        )
    batches = math.ceil(count / run_cfg.trainer.batch_size)
    images, labels = [], []
    for batch_images, batch_labels in dataset.take(batches):
        images.append(keras.ops.convert_to_numpy(batch_images))
        labels.append(keras.ops.convert_to_numpy(batch_labels).argmax(axis=-1))
    return LabelledSplit(
        np.concatenate(images)[:count],
        np.concatenate(labels)[:count],
        data.info.class_names,
        data.info.split_sizes[split],
    )


def pattern(name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Drawn test images in [0, 1]: diagonal stripes, a checkerboard or concentric rings
    (in colour when the model reads 3 channels: each channel shifted in phase)."""
    height, width, channels = shape
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    phases = np.arange(channels)[None, None, :] * 2 * np.pi / 3
    if name == "stripes":
        wave = np.sin(2 * np.pi * 4 * (x + y)[..., None] + phases)
    elif name == "checks":
        wave = np.sign(np.sin(2 * np.pi * 4 * x) * np.sin(2 * np.pi * 4 * y))[..., None] * np.cos(
            phases
        )
    else:
        radius = np.hypot(
            x - 0.5 * width / max(height, width), y - 0.5 * height / max(height, width)
        )
        wave = np.sin(2 * np.pi * 5 * radius[..., None] + phases)
    return (0.5 + 0.5 * wave).astype(np.float32)


def photo(name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """One of scikit-image's photographs (`skimage.data`, in the wheel: offline) in [0, 1]:
    centre-cropped to the shape's aspect, resized to it, grey (ITU-R 601 luma) for 1 channel."""
    import skimage.data
    import skimage.transform

    if name not in PHOTOS:
        raise ConfigError(f"photo {name!r} is not one of skimage.data's: {', '.join(PHOTOS)}")
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
    image = image[..., None] if image.ndim == 2 else image[..., :3]
    height, width = image.shape[:2]
    aspect = shape[1] / shape[0]
    crop_h, crop_w = min(height, round(width / aspect)), min(width, round(height * aspect))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    image = image[top : top + crop_h, left : left + crop_w]
    image = skimage.transform.resize(image, shape[:2], anti_aliasing=True).astype(np.float32)
    if shape[2] == 1 and image.shape[2] == 3:
        image = image @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    elif shape[2] == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return image


def read_image(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    """An image file in [0, 1] with the model's channels, resized (with a notice) if needed."""
    try:
        image = keras.utils.img_to_array(keras.utils.load_img(path)) / 255.0
    except (OSError, ValueError) as error:
        raise DataError(f"image file {path!r} cannot be read: {error}") from error
    if shape[2] == 1:
        image = image @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)  # ITU-R 601 luma
    if image.shape[:2] != shape[:2]:
        log.warning(
            "resized %s from %dx%d to the model's %dx%d", path, *image.shape[:2], *shape[:2]
        )
        image = keras.ops.convert_to_numpy(keras.ops.image.resize(image, shape[:2]))
    return image.astype(np.float32)


def standardized(image: np.ndarray, normalization: Normalization | None) -> np.ndarray:
    """An image in [0, 1] as the run's network sees it: (x - mean) / std per channel when the
    run trained on normalized data (its dataset images already come that way)."""
    if normalization is None:
        return image
    mean, std = (np.asarray(values, np.float32) for values in normalization)
    return (image - mean) / std


def select(
    images_cfg: ImagesConfig,
    shape: tuple[int, int, int],
    split: LabelledSplit | None,
    normalization: Normalization | None = None,
) -> Inputs:
    """Dataset images by index, then the first of each listed class, then files, photos and
    patterns (these standardized with the run's `normalization`).

    Without a dataset (a random model and no run) the indices and classes have nothing to pick
    from; with no files, photos or patterns either, scikit-image's DEFAULT_PHOTOS are used.
    """
    images: list[np.ndarray] = []
    names: list[str] = []
    labels: list[int] = []
    class_names = split.class_names if split is not None else []
    if split is not None:
        for index in images_cfg.indices:
            if index >= split.size:
                raise ConfigError(
                    f"viz.images.indices={list(images_cfg.indices)} is out of range: the "
                    f"{images_cfg.split} split has {split.size} images"
                )
            images.append(split.images[index])
            names.append(f"{images_cfg.split}[{index}]")
            labels.append(int(split.labels[index]))
        for label in images_cfg.classes:
            found = np.flatnonzero(split.labels == label)
            if not len(found):
                raise ConfigError(
                    f"viz.images.classes={list(images_cfg.classes)}: no image of class {label} among "
                    f"the first {len(split.labels)} of the {images_cfg.split} split "
                    f"(classes 0-{len(class_names) - 1})"
                )
            images.append(split.images[found[0]])
            names.append(f"{images_cfg.split}[{found[0]}]")
            labels.append(label)
    for path in images_cfg.files:
        images.append(standardized(read_image(path, shape), normalization))
        names.append(path.rsplit("/", 1)[-1])
        labels.append(-1)
    photos, patterns = list(images_cfg.photos), list(images_cfg.patterns)
    if not images and not photos and not patterns:
        log.info("no run dataset and no viz.images: using the photos %s", ", ".join(DEFAULT_PHOTOS))
        photos = list(DEFAULT_PHOTOS)
    for name in photos:
        images.append(standardized(photo(name, shape), normalization))
        names.append(name)
        labels.append(-1)
    for name in patterns:
        images.append(standardized(pattern(name, shape), normalization))
        names.append(name)
        labels.append(-1)
    return Inputs(np.stack(images), names, np.array(labels), class_names)


def split_count(images_cfg: ImagesConfig) -> int:
    """How many images of the split to load: enough for the indices and the classes' first
    images (searched among the first 20 x classes)."""
    wanted = max([*images_cfg.indices, -1]) + 1
    if images_cfg.classes:
        wanted = max(wanted, 20 * (max(images_cfg.classes) + 1))
    return wanted
