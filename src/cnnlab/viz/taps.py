"""Taps on a model: find layers by name or role and build models that output their activations."""

from collections.abc import Callable

import keras

from cnnlab.errors import ConfigError


def find_layer(model: keras.Model, name: str, key: str) -> keras.layers.Layer:
    """The layer called `name`; a ConfigError listing the available names otherwise."""
    for layer in model.layers:
        if layer.name == name:
            return layer
    available = ", ".join(layer.name for layer in model.layers)
    raise ConfigError(f"{key}={name!r} is not a layer of {model.name}; available: {available}")


def is_conv(layer: keras.layers.Layer) -> bool:
    """Keras's Conv2D or cnnlab's Im2ColConv2D (both keep a (kh, kw, C, F) `kernel`)."""
    kernel = getattr(layer, "kernel", None)
    return kernel is not None and len(kernel.shape) == 4 and not hasattr(layer, "depth_multiplier")


def conv_layers(model: keras.Model) -> list[keras.layers.Layer]:
    layers = [layer for layer in model.layers if is_conv(layer)]
    if not layers:
        raise ConfigError(f"model {model.name} has no convolution to visualize")
    return layers


def first_conv_of_each_resolution(model: keras.Model) -> list[keras.layers.Layer]:
    """Gatys et al.'s style layers conv1_1, conv2_1, ...: the first convolution at each input size."""
    chosen: dict[int, keras.layers.Layer] = {}
    for layer in conv_layers(model):
        chosen.setdefault(layer.input.shape[1], layer)
    return list(chosen.values())


def named_or_last_conv(model: keras.Model, name: str | None, key: str) -> keras.layers.Layer:
    return find_layer(model, name, key) if name else conv_layers(model)[-1]


def stage_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The last layer at each resolution: where a stage ends, before a pooling or strided layer
    shrinks the maps by 1.5x or more (a 'valid' convolution's small trim is not a new stage)."""
    maps = [layer for layer in model.layers[1:] if len(layer.output.shape) == 4]

    def ends_stage(layer, following) -> bool:
        return following is None or 1.5 * following.output.shape[1] <= layer.output.shape[1]

    return [
        layer
        for layer, following in zip(maps, [*maps[1:], None], strict=True)
        if ends_stage(layer, following)
    ]


def tap_tensors(model: keras.Model, tensors: list) -> Callable[..., list]:
    """images -> the values of the given symbolic tensors of `model`, always as a list (a Keras
    model with one output returns a bare tensor)."""
    tapped = keras.Model(model.inputs[0], tensors)

    def outputs(images) -> list:
        result = tapped(images, training=False)
        return list(result) if isinstance(result, list | tuple) else [result]

    return outputs


def tap_model(model: keras.Model, layers: list[keras.layers.Layer]) -> Callable[..., list]:
    """images -> the given layers' outputs, as a list."""
    return tap_tensors(model, [layer.output for layer in layers])


def logits_output(model: keras.Model):
    """The class scores before softmax (a score that the softmax cannot raise merely by lowering
    the other classes'; Simonyan et al., 2014, Sec. 2)."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Activation) and last.get_config()["activation"] == "softmax":
        return last.input
    return last.output


def logits_model(model: keras.Model, *extra: keras.layers.Layer) -> keras.Model:
    """Outputs the logits, or [logits, *extra layers' outputs] when extra layers are given."""
    logits = logits_output(model)
    outputs = [logits, *[e.output for e in extra]] if extra else logits
    return keras.Model(model.inputs[0], outputs)


def penultimate_output(model: keras.Model):
    """The features the classifier reads: the input of the last Dense layer."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ConfigError(f"model {model.name} has no Dense classifier; set viz.layer")
    return dense[-1].input
