"""Model builds shared by test_models.py and test_profile.py: each build once per test worker.

Building the ImageNet models takes seconds (VGG's 138M weights, ResNet-1202's 6,000 variables),
so tests that only read a model's structure share one instance.
"""

import functools
from pathlib import Path

import keras
from omegaconf import OmegaConf

from cnnlab import models
from cnnlab.training.fit import model_options

CONF_MODEL = Path(__file__).resolve().parents[1] / "conf" / "model"


def config_options(name: str) -> dict:
    """The builder options of conf/model/<name>.yaml."""
    return model_options(OmegaConf.load(CONF_MODEL / f"{name}.yaml"))


@functools.cache
def small_model(name: str) -> keras.Model:
    """Model `name` at 32x32x3 with 10 classes, built from its config file."""
    return models.build(name, (32, 32, 3), 10, **config_options(name))


@functools.cache
def paper_model(name: str, side: int, **options) -> keras.Model:
    """Model `name` at side x side x 3 with 1,000 classes (the builder's default options)."""
    return models.build(name, (side, side, 3), 1000, **options)
