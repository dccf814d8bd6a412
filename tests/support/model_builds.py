"""Model builds shared by test_models.py and test_profile.py: each build once per test worker.

Building the ImageNet models takes seconds (VGG's 138M weights, ResNet-1202's 6,000 variables),
so tests that only read a model's structure share one instance, built without drawing weights.
"""

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import keras
import pytest

from cnnlab import models
from cnnlab.analysis import shapes_only
from support.compose import compose_config

CONF_MODEL = Path(__file__).resolve().parents[2] / "conf" / "model"

# One model per family in `make test`; every model in `make test-all` (the rest take seconds
# to minutes each to build and step on 2 CPU cores).
REPRESENTATIVES = {
    "lenet5",
    "simple_convnet",
    "alexnet",
    "vgg11",
    "googlenet",
    "resnet20",
    "plain20",
    "mobilenet",
}


def per_family(names: list[str]) -> list:
    """`names` as test parameters, all but the family representatives marked slow; ResNet-1202,
    a minute to build, on one worker (its tests share one build)."""
    params = []
    for name in names:
        marks = [] if name in REPRESENTATIVES else [pytest.mark.slow]
        if name == "resnet1202":
            marks.append(pytest.mark.xdist_group("resnet1202"))
        params.append(pytest.param(name, marks=marks))
    return params


@functools.cache
def config_options(name: str) -> Mapping[str, Any]:
    """The builder options of conf/model/<name>.yaml, as a run composes them (once per model)."""
    return MappingProxyType(compose_config("train", f"model={name}").model.options())


@functools.cache
def small_model(name: str) -> keras.Model:
    """Model `name` at 32x32x3 with 10 classes, built from its config file."""
    return models.build(name, (32, 32, 3), 10, **config_options(name))


@functools.cache
def paper_model(name: str, side: int, **options) -> keras.Model:
    """Model `name` at side x side x 3 with 1,000 classes (the builder's default options), for
    tests that read its structure: its weights have shapes but were never drawn."""
    with shapes_only():
        return models.build(name, (side, side, 3), 1000, **{"init": "keras", **options})
