"""Optimizers by name (`optimizer.name`); each schema holds exactly its Keras class's options.

`weight_decay` is Keras's decoupled decay (Loshchilov & Hutter, 2019): the optimizer shrinks
every weight by lr * weight_decay per step, outside the gradient, so adaptive optimizers do
not rescale it. The papers' L2 penalty is `model.l2` (see `cnnlab.training.regularization`).
Gradient clipping: `clipnorm` (per variable), `global_clipnorm` (all gradients together),
`clipvalue` (element-wise); the schema allows one of them.
"""

import dataclasses

import keras

from cnnlab.checks import require_choice
from cnnlab.config.training import LrScaling, OptimizerConfig

OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "nadam": keras.optimizers.Nadam,
    "ftrl": keras.optimizers.Ftrl,
}


def scaled_lr(optimizer_cfg: OptimizerConfig, replicas: int) -> float:
    """`optimizer.lr`, times the number of replicas under `scale_lr: linear` (Goyal et al.,
    2017, Sec. 2.1: with a k-times larger global batch, use a k-times larger learning rate)."""
    return optimizer_cfg.lr * (replicas if optimizer_cfg.scale_lr == LrScaling.linear else 1)


def build_optimizer(optimizer_cfg: OptimizerConfig, learning_rate) -> keras.optimizers.Optimizer:
    """The optimizer named by `optimizer.name`, stepping with `learning_rate` (a float or schedule)."""
    options = dataclasses.asdict(optimizer_cfg)
    name = options.pop("name")
    require_choice("optimizer.name", name, sorted(OPTIMIZERS))
    del options["lr"], options["scale_lr"]  # the schedule's base rate; `scaled_lr`
    return OPTIMIZERS[name](learning_rate=learning_rate, **options)
