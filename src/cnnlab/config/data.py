"""Schemas of the `data` group: what every source shares, then one schema per source.

`source` picks the loader in `cnnlab.data.sources`; each loader receives its own schema's
object, so a source reads exactly the keys it declares here.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from omegaconf import MISSING

from cnnlab.checks import Checked, is_size
from cnnlab.errors import ConfigError


class Resize(StrEnum):
    stretch = "stretch"
    crop = "crop"  # keep the aspect ratio, crop the centre


class FolderSplit(StrEnum):
    auto = "auto"  # `folders` when <path>/train exists, else `fraction`
    fraction = "fraction"  # seeded per-class fractions
    folders = "folders"  # train/ val/ test/ sub-folders


class OnBadFile(StrEnum):
    skip = "skip"  # one warning line, metric data.bad_files
    error = "error"  # fail up front with the file's path


@dataclass
class DataConfig(Checked):
    GROUP = "data"
    # True for a source that reads data.image_size and data.channels from its images when
    # they are null (the folder source)
    GEOMETRY_FROM_IMAGES = False

    source: str = MISSING
    name: str = MISSING
    image_size: list[int] = MISSING  # what the model gets (height, width)
    load_size: list[int] | None = None  # before augmentation crops; None = image_size
    resize: Resize = Resize.stretch
    channels: int = 3  # images are converted to gray (1) or RGB (3)
    val_fraction: float = 0.1  # carved off the train split when the source has no val split
    normalize: bool = False  # standardize per channel with mean/std (given, or train's, cached)
    mean: list[float] | None = None
    std: list[float] | None = None
    stats_cache: str | None = "~/.cache/cnnlab/stats"
    shuffle_buffer: int = 2048
    cache: bool = True  # keep the loaded examples in memory
    cache_path: str | None = None  # or in files with this prefix

    def __post_init__(self) -> None:
        unset = self.GEOMETRY_FROM_IMAGES
        self.require(
            "image_size",
            is_size(self.image_size) or (unset and self.image_size is None),
            "[height, width] with integers >= 1" + (", or null (the images')" if unset else ""),
        )
        self.require(
            "load_size",
            self.load_size is None or is_size(self.load_size),
            "[height, width] with integers >= 1, or null (= data.image_size)",
        )
        self.require(
            "channels",
            self.channels in (1, 3) or (unset and self.channels is None),
            "1 or 3" + (", or null (the images')" if unset else ""),
        )
        self.require("val_fraction", 0 <= self.val_fraction < 1, "a number in [0, 1)")
        self.require("shuffle_buffer", self.shuffle_buffer >= 1, "an integer >= 1")
        for key in ("mean", "std"):
            values = getattr(self, key)
            self.require(
                key,
                values is None or self.channels is None or len(values) == self.channels,
                f"a list of {self.channels} numbers (one per channel) or null",
            )
        self.require("std", self.std is None or min(self.std) > 0, "numbers > 0 or null")


@dataclass
class TfdsSplits:
    """TFDS split names; None: train / 'validation' if present / test (or validation)."""

    train: str = "train"
    val: str | None = None  # None: carve data.val_fraction off the end of train
    test: str | None = None


@dataclass
class TfdsDataConfig(DataConfig):
    """Any TFDS dataset by name ('dataset', 'dataset/config' or 'dataset:version')."""

    source: str = "tfds"
    data_dir: str | None = None  # None = TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR)
    download: bool = True  # allow TFDS to download and prepare when online
    splits: TfdsSplits = field(default_factory=TfdsSplits)
    image_key: str = "image"
    label_key: str = "label"
    resize: Resize = Resize.crop
    normalize: bool = True
    shuffle_buffer: int = 10000


@dataclass
class DigitsDataConfig(DataConfig):
    """scikit-learn's 8x8 digits, embedded as a TFDS dataset prepared offline into `data_dir`."""

    source: str = "digits"
    name: str = "digits"
    data_dir: str | None = None
    image_size: list[int] = field(default_factory=lambda: [28, 28])
    channels: int = 1


@dataclass
class FolderDataConfig(DataConfig):
    """A folder of the user's images, one sub-folder per class. Left null, `image_size` and
    `channels` are the images' own when they all agree (`cnnlab.data.sources.folder`)."""

    GEOMETRY_FROM_IMAGES = True

    source: str = "folder"
    name: str = "folder"
    image_size: list[int] | None = None
    channels: int | None = None
    path: str = MISSING
    split: FolderSplit = FolderSplit.auto
    test_fraction: float = 0.2
    on_bad_file: OnBadFile = OnBadFile.skip
    resize: Resize = Resize.crop
    normalize: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("test_fraction", 0 < self.test_fraction < 1, "a number in (0, 1)")
        folder = Path(self.path).expanduser()
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            raise ConfigError(
                f"data.path={self.path!r} {problem}: expected a folder with one subfolder of "
                "images per class"
            )


@dataclass
class SyntheticDataConfig(DataConfig):
    """Random images generated on the fly: each class mixes a fixed template into noise."""

    source: str = "synthetic"
    name: str = "synthetic"
    image_size: list[int] = field(default_factory=lambda: [32, 32])
    num_classes: int = 10
    train_size: int = 5000
    test_size: int = 1000
    signal: float = 0.5  # weight of the class template against the noise
    cache: bool = False  # generating is as cheap as reading a cache

    def __post_init__(self) -> None:
        super().__post_init__()
        self.require("num_classes", self.num_classes >= 2, "an integer >= 2")
        self.require("train_size", self.train_size >= 1, "an integer >= 1")
        self.require("test_size", self.test_size >= 1, "an integer >= 1")
        self.require("signal", 0 <= self.signal <= 1, "a number in [0, 1]")


DATA_SCHEMAS: dict[str, type[DataConfig]] = {
    "tfds": TfdsDataConfig,
    "digits": DigitsDataConfig,
    "folder": FolderDataConfig,
    "synthetic": SyntheticDataConfig,
}
