"""The model zoo: `build(name, input_shape, num_classes, **options)` and `available()`."""

# Importing the architecture modules registers them.
from cnnlab.models import lenet  # noqa: F401
from cnnlab.models.conv import CONV_IMPLS, ConvLayers
from cnnlab.models.registry import available, build, minimum_input_side, register

__all__ = ["CONV_IMPLS", "ConvLayers", "available", "build", "minimum_input_side", "register"]
