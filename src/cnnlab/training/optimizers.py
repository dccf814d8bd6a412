"""Optimizers by name (`optimizer.name`), each taking the options its Keras class takes.

`weight_decay` is Keras's decoupled decay (Loshchilov & Hutter, 2019): the optimizer shrinks
every weight by lr * weight_decay per step, outside the gradient, so adaptive optimizers do
not rescale it. The papers' L2 penalty is `model.l2` (see `cnnlab.training.regularization`).
Gradient clipping: `clipnorm` (per variable), `global_clipnorm` (all gradients together),
`clipvalue` (element-wise).
"""

import keras
from omegaconf import DictConfig

from cnnlab.config import check_options, require_choice
from cnnlab.errors import ConfigError

CLIPPING = {"clipnorm", "global_clipnorm", "clipvalue"}
COMMON = {"lr", "weight_decay", "scale_lr"} | CLIPPING
OPTIMIZERS: dict[str, tuple[type, set[str]]] = {
    "sgd": (keras.optimizers.SGD, COMMON | {"momentum", "nesterov"}),
    "adam": (keras.optimizers.Adam, COMMON | {"beta_1", "beta_2", "epsilon", "amsgrad"}),
    "adamw": (keras.optimizers.AdamW, COMMON | {"beta_1", "beta_2", "epsilon", "amsgrad"}),
    "rmsprop": (keras.optimizers.RMSprop, COMMON | {"rho", "momentum", "epsilon", "centered"}),
    "adagrad": (keras.optimizers.Adagrad, COMMON | {"initial_accumulator_value", "epsilon"}),
    "adadelta": (keras.optimizers.Adadelta, COMMON | {"rho", "epsilon"}),
    "nadam": (keras.optimizers.Nadam, COMMON | {"beta_1", "beta_2", "epsilon"}),
    "ftrl": (
        keras.optimizers.Ftrl,
        COMMON
        | {
            "learning_rate_power",
            "initial_accumulator_value",
            "l1_regularization_strength",
            "l2_regularization_strength",
            "l2_shrinkage_regularization_strength",
            "beta",
        },
    ),
}
LR_SCALING = ("none", "linear")


def scaled_lr(optimizer_cfg: DictConfig, replicas: int) -> float:
    """`optimizer.lr`, times the number of replicas under `scale_lr: linear` (Goyal et al.,
    2017, Sec. 2.1: with a k-times larger global batch, use a k-times larger learning rate)."""
    require_choice("optimizer.scale_lr", optimizer_cfg.scale_lr, LR_SCALING)
    return optimizer_cfg.lr * (replicas if optimizer_cfg.scale_lr == "linear" else 1)


def build_optimizer(optimizer_cfg: DictConfig, learning_rate) -> keras.optimizers.Optimizer:
    """The optimizer named by `optimizer.name`, stepping with `learning_rate` (a float or schedule)."""
    options = dict(optimizer_cfg)
    name = options.pop("name")
    require_choice("optimizer.name", name, sorted(OPTIMIZERS))
    cls, accepted = OPTIMIZERS[name]
    check_options(f"optimizer={name}", options, accepted)
    options.pop("lr")
    options.pop("scale_lr")
    options = {k: v for k, v in options.items() if v is not None}
    clipping = sorted(CLIPPING & set(options))
    if len(clipping) > 1:
        raise ConfigError(
            f"optimizer.{clipping[1]}={options[clipping[1]]} is invalid: expected null when "
            f"optimizer.{clipping[0]} is set (one of {', '.join(sorted(CLIPPING))})"
        )
    return cls(learning_rate=learning_rate, **options)
