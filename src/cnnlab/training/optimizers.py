"""Optimizers by name (`optimizer.name`), each taking the options its Keras class takes."""

import keras
from omegaconf import DictConfig

from cnnlab.config import check_options, require_choice

COMMON = {"lr", "weight_decay", "clipnorm"}
OPTIMIZERS: dict[str, tuple[type, set[str]]] = {
    "sgd": (keras.optimizers.SGD, COMMON | {"momentum", "nesterov"}),
    "adam": (keras.optimizers.Adam, COMMON | {"beta_1", "beta_2", "epsilon", "amsgrad"}),
    "adamw": (keras.optimizers.AdamW, COMMON | {"beta_1", "beta_2", "epsilon", "amsgrad"}),
    "rmsprop": (keras.optimizers.RMSprop, COMMON | {"rho", "momentum", "epsilon", "centered"}),
    "adagrad": (keras.optimizers.Adagrad, COMMON | {"initial_accumulator_value", "epsilon"}),
    "adadelta": (keras.optimizers.Adadelta, COMMON | {"rho", "epsilon"}),
    "nadam": (keras.optimizers.Nadam, COMMON | {"beta_1", "beta_2", "epsilon"}),
}


def build_optimizer(optimizer_cfg: DictConfig, learning_rate) -> keras.optimizers.Optimizer:
    """The optimizer named by `optimizer.name`, stepping with `learning_rate` (a float or schedule)."""
    options = dict(optimizer_cfg)
    name = options.pop("name")
    require_choice("optimizer.name", name, sorted(OPTIMIZERS))
    cls, accepted = OPTIMIZERS[name]
    check_options(f"optimizer={name}", options, accepted)
    options.pop("lr")
    options = {k: v for k, v in options.items() if v is not None}
    return cls(learning_rate=learning_rate, **options)
