"""The model registry: every architecture is one registered function (timm's pattern).

`build(name, input_shape, num_classes, **options)` checks the name, the options and the
input geometry, so a bad config fails with one line before any training starts. The option
`init` belongs to every model: the registry redraws the built model's kernels with it
(`cnnlab.models.init`), so the builders stay the papers' layer tables.
"""

import inspect
from collections.abc import Callable

import keras

from cnnlab.checks import check_options, require_choice
from cnnlab.choices import DEFAULT_INIT, LEAKY_SLOPE, check_init
from cnnlab.errors import GeometryError
from cnnlab.models.blocks import activations
from cnnlab.models.init import initialize

ModelFn = Callable[..., keras.Model]
Input = tuple[tuple[int, int, int], int]  # ((height, width, channels), classes)
_MODELS: dict[str, ModelFn] = {}
_PAPER_INPUTS: dict[str, Input] = {}
_INITS: dict[str, str] = {}

IMAGENET: Input = ((224, 224, 3), 1000)
CIFAR10: Input = ((32, 32, 3), 10)


def register(*, paper_input: Input, init: str = DEFAULT_INIT) -> Callable[[ModelFn], ModelFn]:
    """Register `fn(input_shape, num_classes, **options) -> keras.Model` under its own name,
    with the input and classes its paper used (timm's `default_cfg`: profiles and parameter
    counts compare with the paper's at that size) and the model's default `init`."""
    check_init(init, "init")

    def add(fn: ModelFn) -> ModelFn:
        _MODELS[fn.__name__] = fn
        _PAPER_INPUTS[fn.__name__] = paper_input
        _INITS[fn.__name__] = init
        return fn

    return add


def available() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_MODELS)


def paper_input(name: str) -> Input:
    """((height, width, channels), classes) of model `name` in its paper."""
    require_choice("model.name", name, available())
    return _PAPER_INPUTS[name]


def default_options(name: str) -> dict:
    """Every option of model `name` with its default: the builder's keywords, `init`, and
    `leaky_slope` where the model takes an `activation`."""
    require_choice("model.name", name, available())
    parameters = inspect.signature(_MODELS[name]).parameters.values()
    own = {p.name: p.default for p in parameters if p.name not in ("input_shape", "num_classes")}
    registry = {"init": _INITS.get(name, DEFAULT_INIT)}
    if "activation" in own:
        registry["leaky_slope"] = LEAKY_SLOPE
    return {**own, **registry}


def accepted_options(name: str) -> frozenset[str]:
    return frozenset(default_options(name))


def build(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    init: str | None = None,
    leaky_slope: float = LEAKY_SLOPE,
    **options,
) -> keras.Model:
    """Build model `name` for `input_shape` (H, W, C) and `num_classes` outputs, its kernels
    drawn from `init` (see `cnnlab.models.init`; None: the model's registered default) and its
    leaky ReLUs, if `activation=leaky_relu`, with slope `leaky_slope`."""
    require_choice("model.name", name, available())
    init = _INITS.get(name, DEFAULT_INIT) if init is None else init
    given = {"init": init, **options}
    if leaky_slope != LEAKY_SLOPE:
        given["leaky_slope"] = leaky_slope
    check_options(f"model={name}", given, accepted_options(name))
    check_init(init)
    input_shape = tuple(int(d) for d in input_shape)
    try:
        with activations.leaky_slope(leaky_slope):
            model = _MODELS[name](input_shape, num_classes, **options)
    except GeometryError:
        raise
    except ValueError as error:
        if not _is_geometry_error(error):
            raise
        raise GeometryError(_too_small_message(name, input_shape, num_classes, options)) from error
    if _has_empty_feature_map(model):
        raise GeometryError(_too_small_message(name, input_shape, num_classes, options))
    initialize(model, init)
    return model


def _is_geometry_error(error: ValueError) -> bool:
    text = str(error).lower()
    return any(word in text for word in ("negative", "output size", "too small", "dimension"))


def _has_empty_feature_map(model: keras.Model) -> bool:
    """True if a layer maps its input to a zero-sized feature map (a pool larger than its input)."""
    for layer in model.layers:
        for shape in _output_shapes(layer):
            if len(shape) == 4 and any(d is not None and d < 1 for d in shape[1:3]):
                return True
    return False


def _output_shapes(layer: keras.layers.Layer) -> list[tuple]:
    outputs = layer.output if isinstance(layer.output, list | tuple) else [layer.output]
    return [tuple(o.shape) for o in outputs]


def _builds(name: str, side: int, channels: int, num_classes: int, options: dict) -> bool:
    try:
        model = _MODELS[name]((side, side, channels), num_classes, **options)
    except ValueError:
        return False
    return not _has_empty_feature_map(model)


def minimum_input_side(
    name: str, channels: int = 3, num_classes: int = 10, limit: int = 1024, **options
) -> int | None:
    """The smallest square input side that model `name` accepts (binary search), or None."""
    if not _builds(name, limit, channels, num_classes, options):
        return None
    low, high = 1, limit  # invariant: high builds
    while low < high:
        middle = (low + high) // 2
        if _builds(name, middle, channels, num_classes, options):
            high = middle
        else:
            low = middle + 1
    return high


def _too_small_message(
    name: str, input_shape: tuple[int, ...], num_classes: int, options: dict
) -> str:
    side = minimum_input_side(name, input_shape[-1], num_classes, **options)
    need = f"at least {side}x{side}" if side else "a larger input"
    return (
        f"input_shape={input_shape} is too small for model={name}: its convolutions and pools "
        f"need {need} (set data.image_size)"
    )
