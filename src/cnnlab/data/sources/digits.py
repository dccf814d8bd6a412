"""scikit-learn's handwritten digits as a TFDS dataset, prepared offline into a local data dir."""

import logging
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

TEST_SIZE = 360  # 20% of 1,797, stratified by class
SPLIT_SEED = 0  # fixed: the test split never changes between runs or machines

log = logging.getLogger(__name__)


class Digits(tfds.core.GeneratorBasedBuilder):
    """1,797 real 8x8 grayscale digits (UCI optdigits test set), 10 classes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "Stratified 1,437/360 train/test split seeded with 0."
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "scikit-learn's load_digits: 8x8 images of handwritten digits with 17 gray "
                "levels (0-16), rescaled to 0-255."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
            citation="Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. UCI.",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        digits = load_digits()
        # 0..16 gray levels -> 0..255 so that the stored PNGs look like ordinary images.
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
        ids = np.arange(len(images))
        train_ids, test_ids = train_test_split(
            ids, test_size=TEST_SIZE, stratify=digits.target, random_state=SPLIT_SEED
        )
        return {
            "train": self._generate_examples(images, digits.target, train_ids),
            "test": self._generate_examples(images, digits.target, test_ids),
        }

    def _generate_examples(self, images: np.ndarray, labels: np.ndarray, ids: np.ndarray):
        for i in ids:
            yield int(i), {"image": images[i], "label": int(labels[i])}

    # TFDS prints "Downloading and preparing dataset Unknown size ..." and "Dataset digits
    # downloaded and prepared ..." around preparing; nothing is downloaded: say what happens.
    def _log_download_bytes(self) -> None:
        log.info("preparing the embedded digits in %s (once, under a second)", self.data_dir)

    def _log_download_done(self) -> None:
        pass


def prepare(data_dir: str | None = None) -> Digits:
    """Build the dataset once into `data_dir` (no network) and return the builder. TFDS's
    progress bars stay off: 1,797 images take under a second."""
    builder = Digits(data_dir=data_dir)
    tfds.display_progress_bar(False)
    try:
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False)
        )
    finally:
        tfds.display_progress_bar(True)
    return builder
