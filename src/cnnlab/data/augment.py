"""Batch-level augmentation built from `cfg.augment.ops` (a list of {name, ...params})."""

from collections.abc import Callable

import tensorflow as tf
from omegaconf import DictConfig

from cnnlab.config import require_choice

Augmenter = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
OpFactory = Callable[..., Augmenter]
_OPS: dict[str, OpFactory] = {}


def register_op(name: str) -> Callable[[OpFactory], OpFactory]:
    """Register `factory(seed, **params) -> augment(images, labels)` under an op name."""

    def add(factory: OpFactory) -> OpFactory:
        _OPS[name] = factory
        return factory

    return add


def available_ops() -> list[str]:
    return sorted(_OPS)


def build_augmenter(augment_cfg: DictConfig, seed: int) -> Augmenter | None:
    """Chain the configured ops in order; None when there are none."""
    ops = []
    for index, op_cfg in enumerate(augment_cfg.get("ops") or []):
        params = dict(op_cfg)
        name = params.pop("name", None)
        require_choice(f"augment.ops[{index}].name", name, available_ops())
        ops.append(_OPS[name](seed=seed + index, **params))
    if not ops:
        return None

    def augment(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        for op in ops:
            images, labels = op(images, labels)
        return images, labels

    return augment
