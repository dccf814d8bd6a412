"""Optimizers by name (`optimizer.name`); each schema holds exactly its Keras class's options."""

import dataclasses

import keras
from omegaconf import DictConfig

from cnnlab.config import require_choice, to_object

OPTIMIZERS: dict[str, type[keras.optimizers.Optimizer]] = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "nadam": keras.optimizers.Nadam,
}


def build_optimizer(optimizer_cfg: DictConfig, learning_rate) -> keras.optimizers.Optimizer:
    """The optimizer named by `optimizer.name`, stepping with `learning_rate` (a float or schedule)."""
    options = dataclasses.asdict(to_object(optimizer_cfg))
    name = options.pop("name")
    require_choice("optimizer.name", name, sorted(OPTIMIZERS))
    options.pop("lr")  # the schedule's base rate
    return OPTIMIZERS[name](learning_rate=learning_rate, **options)
