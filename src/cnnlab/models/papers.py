"""The input and the classes each model was published with, so that profiles and parameter
counts compare with the papers' numbers."""

from cnnlab.config import require_choice
from cnnlab.models._registry import available

IMAGENET = 1000
_SIDES = {
    "lenet5": (32, 1, 10),  # LeCun et al. (1998): 32x32 digits
    "simple_convnet": (28, 1, 10),  # the notes: MNIST
    "alexnet": (
        227,
        3,
        IMAGENET,
    ),  # the paper's "224" does not give its 55x55 maps; Caffe's 227 does
    "zfnet": (224, 3, IMAGENET),
    "googlenet": (224, 3, IMAGENET),
    "inception_v3": (299, 3, IMAGENET),
    "inception_resnet_v2": (299, 3, IMAGENET),
    "mobilenet": (224, 3, IMAGENET),
    **{f"vgg{v}": (224, 3, IMAGENET) for v in ("11", "11_lrn", "13", "16_c", "16", "19")},
    **{f"resnet{d}": (224, 3, IMAGENET) for d in (18, 34, 50, 101, 152)},
    **{f"resnet{d}": (32, 3, 10) for d in (20, 32, 44, 56, 110, 1202)},  # CIFAR-10
}


def paper_input(name: str) -> tuple[tuple[int, int, int], int]:
    """((height, width, channels), classes) of model `name` in its paper."""
    require_choice("model.name", name, available())
    side, channels, classes = _SIDES[name]
    return (side, side, channels), classes
