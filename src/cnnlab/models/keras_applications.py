"""Keras's ImageNet weights in cnnlab's models (`model.init_from=keras:<application>`).

keras.applications' VGG-16/19, MobileNet, Inception v3 and ResNet-50 have the weight-bearing
layers of cnnlab's models of the same name, in the same order, so their weights pair up in
order (Keras numbers Inception's layers, `conv2d_57`, so names could not pair them). What
differs is converted so that the outputs are equal:

- MobileNet's classifier is a 1x1 convolution (`conv_preds`); here it is a Dense layer. Its
  activations are ReLU6, which the run's model takes (`model.activation=relu6`).
- ResNet-50's convolutions have biases (26,560 parameters) and a batch norm after each:
  BN(conv(x) + b) = BN'(conv(x)) with BN's moving mean lowered by b. Its batch norms use
  epsilon 1.001e-5 where cnnlab's use Keras's 1e-3: gamma is scaled by
  sqrt((var + 1e-3) / (var + 1.001e-5)), which keeps every inference output.
- VGG and ResNet were trained on BGR images ('caffe' preprocessing): the first convolution's
  input channels are reversed, so that cnnlab's models take RGB like every other.

Each application's preprocessing becomes the run's normalization (`data.mean`, `data.std`).
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.models.transfer import LayerWeights, weight_layers

CAFFE_MEAN = (123.68 / 255, 116.779 / 255, 103.939 / 255)  # ImageNet's RGB mean, [0, 1] units
CAFFE_STD = (1 / 255,) * 3  # 'caffe': the mean subtracted from pixels in [0, 255]
TF_MEAN, TF_STD = (0.5,) * 3, (0.5,) * 3  # 'tf': x / 127.5 - 1


@dataclass(frozen=True)
class Application:
    """A keras.applications model and the cnnlab model its weights fit."""

    model: str  # cnnlab's model name
    builder: str  # keras.applications' function
    side: int  # its ImageNet input side
    bgr: bool  # trained on BGR images ('caffe' preprocessing)
    mean: tuple[float, ...]  # its preprocessing as (x - mean) / std, RGB, x in [0, 1]
    std: tuple[float, ...]
    options: tuple[tuple[str, str], ...] = ()  # the cnnlab model's options that it needs

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.side, self.side, 3)


APPLICATIONS: dict[str, Application] = {
    "vgg16": Application("vgg16", "VGG16", 224, True, CAFFE_MEAN, CAFFE_STD),
    "vgg19": Application("vgg19", "VGG19", 224, True, CAFFE_MEAN, CAFFE_STD),
    "mobilenet": Application(
        "mobilenet", "MobileNet", 224, False, TF_MEAN, TF_STD, (("activation", "relu6"),)
    ),
    "inception_v3": Application("inception_v3", "InceptionV3", 299, False, TF_MEAN, TF_STD),
    "resnet50": Application("resnet50", "ResNet50", 224, True, CAFFE_MEAN, CAFFE_STD),
}


def application(name: str) -> Application:
    if name not in APPLICATIONS:
        raise ConfigError(
            f"model.init_from=keras:{name} is invalid: expected keras: followed by one of "
            + ", ".join(APPLICATIONS)
        )
    return APPLICATIONS[name]


def load_application(
    app: Application, input_shape: tuple[int, int, int], weights_path: str | None
) -> keras.Model:
    """keras.applications' model with its ImageNet weights: from `weights_path` (the file Keras
    downloads, with or without the top, or a `.weights.h5` of that model), else downloaded."""
    build = getattr(keras.applications, app.builder)
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"model.weights_path={weights_path!r} is invalid: expected an existing file of "
                f"keras.applications.{app.builder}'s weights"
            )
        problems = []
        for include_top in (True, False):
            model = build(weights=None, include_top=include_top, input_shape=input_shape)
            try:
                model.load_weights(path)
                return model
            except (ValueError, KeyError) as error:
                problems.append(str(error).splitlines()[0] if str(error) else type(error).__name__)
        raise ConfigError(
            f"model.weights_path={weights_path!r} is invalid: expected keras.applications."
            f"{app.builder}'s weights at input {list(input_shape)}, with or without the top "
            f"({problems[-1]})"
        )
    try:
        with warnings.catch_warnings():  # the top's default input: no top at other sizes
            warnings.simplefilter("ignore", UserWarning)
            return build(
                weights="imagenet",
                include_top=tuple(input_shape) == app.input_shape,
                input_shape=input_shape,
            )
    except Exception as error:  # get_file raises a bare Exception when the download fails
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(
            f"model.init_from=keras:{app.model} is invalid here: keras.applications."
            f"{app.builder}(weights='imagenet') failed ({first}); offline, set "
            "model.weights_path to a local copy of its weights file"
        ) from error


def application_weights(app: Application, source: keras.Model, model: keras.Model) -> LayerWeights:
    """`source`'s weights under `model`'s layer names, paired in order and converted."""
    theirs = weight_layers(source)
    arrays = fold_conv_biases(theirs)
    weights: LayerWeights = {}
    for index, (their, our) in enumerate(zip(theirs, weight_layers(model), strict=False)):
        values = arrays[their.name]
        if isinstance(their, keras.layers.BatchNormalization):
            values = match_epsilon(their, our, values)
        if isinstance(their, keras.layers.Conv2D) and isinstance(our, keras.layers.Dense):
            values = [values[0].reshape(values[0].shape[-2:]), *values[1:]]  # 1x1 conv = Dense
        if index == 0 and app.bgr:
            values = [values[0][:, :, ::-1, :], *values[1:]]  # BGR input channels -> RGB
        weights[our.name] = values
    return weights


def fold_conv_biases(layers: list[keras.layers.Layer]) -> dict[str, list[np.ndarray]]:
    """Every layer's weights, with the bias of a convolution `<x>_conv` that batch norm `<x>_bn`
    follows (keras.applications' ResNets) moved into that batch norm's moving mean."""
    arrays = {layer.name: [np.array(w) for w in layer.get_weights()] for layer in layers}
    by_name = {layer.name: layer for layer in layers}
    for layer in layers:
        norm = by_name.get(layer.name.removesuffix("_conv") + "_bn")
        if not (layer.name.endswith("_conv") and norm is not None and len(arrays[layer.name]) == 2):
            continue
        kernel, bias = arrays[layer.name]
        arrays[layer.name] = [kernel]
        mean = 2 if norm.scale and norm.center else 1 if norm.scale or norm.center else 0
        arrays[norm.name][mean] = arrays[norm.name][mean] - bias
    return arrays


def match_epsilon(
    their: keras.layers.BatchNormalization, our: keras.layers.Layer, values: list[np.ndarray]
) -> list[np.ndarray]:
    """Scale gamma so that batch norm with `our` epsilon gives `their` inference outputs."""
    if np.isclose(their.epsilon, our.epsilon, rtol=0, atol=1e-12):
        return values
    if not their.scale:
        raise ConfigError(
            f"model.init_from: batch norm {their.name} has epsilon {their.epsilon} and no gamma "
            f"to absorb cnnlab's {our.epsilon} (expected equal epsilons)"
        )
    variance = values[-1]
    gamma = values[0] * np.sqrt((variance + our.epsilon) / (variance + their.epsilon))
    return [gamma.astype(values[0].dtype), *values[1:]]
