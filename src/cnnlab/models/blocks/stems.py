"""The small-input rule of the ImageNet models (`model.stem`) and their input-size check.

An ImageNet stem divides the input by 4 (ResNet, GoogLeNet: a stride-2 conv and a stride-2
pool) before the first block, which leaves a 32x32 image 8x8. Below `SMALL_INPUT_SIDE` pixels,
or below the smallest input the ImageNet stem accepts, `stem='auto'` builds the model's small
stem instead: the first convolution at stride 1 and, where the model has one, the pool after it
dropped (each builder's docstring states its rule). Kernels and filter counts stay the paper's.

Each builder knows the smallest side each of its stems accepts and refuses a smaller input
up front, naming that side: searching for it by building would build the classic FC heads at
large sizes (AlexNet at 1024x1024 has a 4-billion-weight FC6).
"""

from cnnlab.checks import require_choice
from cnnlab.choices import STEMS
from cnnlab.errors import GeometryError

SMALL_INPUT_SIDE = 64
ANY_SIDE = {"imagenet": 1, "small": 1}  # all-'same' models: any input reaches 1x1


def check_input_side(model: str, input_shape: tuple[int, ...], minimum: int, what: str) -> None:
    """Raise GeometryError if the input is smaller than `minimum` on a side."""
    if min(input_shape[:2]) < minimum:
        raise GeometryError(
            f"input_shape={tuple(input_shape)} is too small for model={model} ({what}): its "
            f"convolutions and pools need at least {minimum}x{minimum} (set data.image_size)"
        )


def uses_small_stem(
    stem: str, input_shape: tuple[int, ...], model: str, minimum_side: dict[str, int]
) -> bool:
    """True for the small stem: asked for, or `auto` with an input too small for ImageNet's.

    `minimum_side` maps 'imagenet' and 'small' to the smallest side each stem accepts.
    """
    require_choice("model.stem", stem, STEMS)
    if stem == "auto":
        threshold = max(SMALL_INPUT_SIDE, minimum_side["imagenet"])
        stem = "small" if min(input_shape[:2]) < threshold else "imagenet"
    check_input_side(model, input_shape, minimum_side[stem], f"stem={stem}")
    return stem == "small"
