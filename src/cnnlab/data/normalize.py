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
from omegaconf import DictConfig, OmegaConf

from cnnlab.errors import ConfigError


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
    for images in batches:
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


def channel_values(data_cfg: DictConfig, key: str, channels: int) -> tuple[float, ...] | None:
    """`data.mean` / `data.std` from the config: None, or one number per channel."""
    value = data_cfg.get(key)
    if value is None:
        return None
    values = OmegaConf.to_container(value) if OmegaConf.is_list(value) else value
    if not isinstance(values, list) or len(values) != channels:
        raise ConfigError(
            f"data.{key}={values!r} is invalid: expected a list of {channels} numbers "
            f"(one per channel, data.channels={channels}) or null"
        )
    if key == "std" and min(values) <= 0:
        raise ConfigError(f"data.std={values!r} is invalid: expected numbers > 0")
    return tuple(float(v) for v in values)


def normalization(
    data_cfg: DictConfig, channels: int, stats: Callable[[], DataStats]
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(mean, std) per channel when `data.normalize`, from the config or `stats()`; else None."""
    if not data_cfg.get("normalize", False):
        return None
    mean = channel_values(data_cfg, "mean", channels)
    std = channel_values(data_cfg, "std", channels)
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
