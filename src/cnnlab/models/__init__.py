"""The model zoo: `build(name, input_shape, num_classes, **options)` and `available()`."""

# Importing the architecture modules registers them.
from cnnlab.choices import CONV_IMPLS
from cnnlab.models import (  # noqa: F401
    alexnet,
    googlenet,
    inception_resnet,
    inception_v2,
    inception_v3,
    inception_v4,
    lenet,
    mobilenet,
    resnet,
    vgg,
)
from cnnlab.models._registry import (
    available,
    build,
    default_options,
    minimum_input_side,
    paper_input,
    register,
)
from cnnlab.models.blocks.auxiliary import loss_weights
from cnnlab.models.blocks.conv import ConvLayers
from cnnlab.models.blocks.heads import MAIN_OUTPUT
from cnnlab.models.export import inference_model, with_keras_batch_norm

__all__ = [
    "CONV_IMPLS",
    "MAIN_OUTPUT",
    "ConvLayers",
    "available",
    "build",
    "default_options",
    "inference_model",
    "loss_weights",
    "minimum_input_side",
    "paper_input",
    "register",
    "with_keras_batch_norm",
]
