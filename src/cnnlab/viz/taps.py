"""Taps on a model: find layers by name or role and build models that output their activations."""

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


def tap_model(model: keras.Model, layers: list[keras.layers.Layer]) -> keras.Model:
    """A model from the same input to the given layers' outputs (a list, even for one layer)."""
    return keras.Model(model.inputs[0], [layer.output for layer in layers])


def logits_output(model: keras.Model):
    """The class scores before softmax (a score that the softmax cannot raise merely by lowering
    the other classes'; Simonyan et al., 2014, Sec. 2)."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Activation) and last.get_config()["activation"] == "softmax":
        return last.input
    return last.output


def logits_model(model: keras.Model, *extra: keras.layers.Layer) -> keras.Model:
    """Outputs [logits, *extra layers' outputs]."""
    return keras.Model(model.inputs[0], [logits_output(model), *[e.output for e in extra]])


def penultimate_output(model: keras.Model):
    """The features the classifier reads: the input of the last Dense layer."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise ConfigError(f"model {model.name} has no Dense classifier; set viz.layer")
    return dense[-1].input
