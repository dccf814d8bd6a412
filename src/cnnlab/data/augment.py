"""Batch-level augmentation built from `cfg.augment.ops` (a list of {name, ...params}).

Every op transforms a whole batch with vectorized, stateless random ops. Its randomness comes
from a seed tensor that the pipeline derives from the config seed and a per-batch random
stream, so the same seed gives the same batches, also under parallel map, while every epoch
draws new augmentations.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from cnnlab.checks import check_options, require_choice
from cnnlab.config.augment import AugmentConfig
from cnnlab.data.normalize import DataStats
from cnnlab.errors import ConfigError

# (images float32 (B, H, W, C) in [0, 1], one-hot labels (B, K), seed int64 (2,)) -> (images, labels)
Augmenter = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


@dataclass(frozen=True)
class OpContext:
    """What an op may need beyond its parameters."""

    image_size: tuple[int, int]  # what the model gets; crops produce this size
    channels: int
    stats: Callable[[], DataStats]  # train-split statistics, computed on first call


OpFactory = Callable[..., Augmenter]
_OPS: dict[str, OpFactory] = {}


def register_ops(*factories: OpFactory) -> None:
    """Register each `factory(context, **params) -> op(images, labels, seed)` under its name.

    A call after the definitions rather than a decorator: mutmut (`make mutate`) leaves
    decorated functions unmutated, and the ops are what its tests are meant to hold."""
    for factory in factories:
        _OPS[factory.__name__] = factory


def available_ops() -> list[str]:
    return sorted(_OPS)


def build_augmenter(augment: AugmentConfig, context: OpContext) -> Augmenter | None:
    """Chain the configured ops in order; None when there are none."""
    ops = []
    for index, op_cfg in enumerate(augment.ops):
        params = dict(op_cfg)
        name = params.pop("name", None)
        require_choice(f"augment.ops[{index}].name", name, available_ops())
        factory = _OPS[name]
        owner = f"augment.ops[{index}] ({name})"
        check_options(owner, params, set(inspect.signature(factory).parameters) - {"context"})
        try:
            ops.append((owner, factory(context, **params)))
        except ConfigError as error:
            raise ConfigError(f"{owner}: {error}") from None
    if not ops:
        return None

    def augment(images: tf.Tensor, labels: tf.Tensor, seed: tf.Tensor):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(ops)))
        for (owner, op), op_seed in zip(ops, seeds, strict=True):
            try:  # ops check the image sizes they are traced with
                images, labels = op(images, labels, op_seed)
            except ConfigError as error:
                raise ConfigError(f"{owner}: {error}") from None
        return images, labels

    return augment


def require(valid: bool, name: str, value: Any, expected: str) -> None:
    """Raise ConfigError `name=value is invalid: expected ...` unless `valid`."""
    if not valid:
        raise ConfigError(f"{name}={value!r} is invalid: expected {expected}")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_range(name: str, value: Any, low: float, high: float) -> tuple[float, float]:
    """A [min, max] pair with low <= min <= max <= high."""
    valid = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(is_number(v) for v in value)
        and low <= value[0] <= value[1] <= high
    )
    require(valid, name, value, f"[min, max] with {low} <= min <= max <= {high}")
    return float(value[0]), float(value[1])


def require_probability(name: str, value: Any) -> float:
    require(is_number(value) and 0 <= value <= 1, name, value, "a number in [0, 1]")
    return float(value)
