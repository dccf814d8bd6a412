"""Per-channel statistics of a train split: mean/std for normalization, and the RGB covariance
whose eigen-decomposition drives AlexNet's PCA colour lighting.

Computed once in float64 over every pixel of the train split (as loaded, before augmentation)
and cached as JSON under `data.stats_cache`, keyed by the source's fingerprint and geometry.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from cnnlab.config.data import DataConfig


@dataclass(frozen=True)
class DataStats:
    """Pixel statistics in [0, 1] units, one entry per channel."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]

    def principal_components(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (descending) and eigenvectors (columns) of the channel covariance."""
        values, vectors = np.linalg.eigh(np.asarray(self.covariance))
        order = np.argsort(values)[::-1]
        return values[order], vectors[:, order]


def compute_stats(batches: tf.data.Dataset) -> DataStats:
    """Mean, std and covariance of the channels over all pixels of float image batches."""

    @tf.function
    def moments(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        pixels = tf.reshape(images, [-1, images.shape[-1]])
        return (
            tf.cast(tf.shape(pixels)[0], tf.float64),
            tf.reduce_sum(tf.cast(pixels, tf.float64), axis=0),
            tf.matmul(tf.cast(pixels, tf.float64), tf.cast(pixels, tf.float64), transpose_a=True),
        )

    count, total, outer = 0.0, 0.0, 0.0
    for images in tqdm(batches, desc="per-channel statistics", unit=" batches", disable=None):
        n, s, o = moments(images)
        count, total, outer = count + n.numpy(), total + s.numpy(), outer + o.numpy()
    if not count:
        raise ValueError("no images to compute statistics on")
    mean = total / count
    covariance = outer / count - np.outer(mean, mean)
    std = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    return DataStats(tuple(mean), tuple(std), tuple(map(tuple, covariance)))


def cached_stats(cache_dir: str | None, key: str, compute: Callable[[], DataStats]) -> DataStats:
    """`compute()` once per key; later calls read `<cache_dir>/<hash>.json`. No dir, no cache."""
    if not cache_dir or not key:
        return compute()
    path = Path(cache_dir).expanduser() / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return DataStats(
                tuple(stored["mean"]), tuple(stored["std"]), tuple(map(tuple, stored["covariance"]))
            )
    stats = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"key": key, "mean": stats.mean, "std": stats.std, "covariance": stats.covariance}
    path.write_text(json.dumps(record, indent=1))
    return stats


def normalization(
    data: DataConfig, stats: Callable[[], DataStats]
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(mean, std) per channel when `data.normalize`, from the config (the schema checks one per
    channel) or `stats()`; else None."""
    if not data.normalize:
        return None
    mean = tuple(data.mean) if data.mean is not None else None
    std = tuple(data.std) if data.std is not None else None
    if mean is None or std is None:
        computed = stats()
        mean = mean or computed.mean
        std = std or tuple(max(s, 1e-6) for s in computed.std)  # a constant channel stays finite
    return mean, std


def build_normalizer(
    mean_std: tuple[tuple[float, ...], tuple[float, ...]] | None,
) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """(x - mean) / std per channel, or None without `normalization(...)`."""
    if mean_std is None:
        return None
    mean, std = mean_std
    mean_t = tf.constant(mean, tf.float32)
    inverse_std = tf.constant([1.0 / s for s in std], tf.float32)

    def normalize(images: tf.Tensor) -> tf.Tensor:
        return (images - mean_t) * inverse_std

    return normalize
