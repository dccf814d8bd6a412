"""Auxiliary classifiers (Szegedy et al., 2015, Sec. 5): extra softmax outputs of a training
network whose losses join the main loss with a weight, and which inference drops.

Such a model's outputs are a list: the main classifier first (named `MAIN_OUTPUT`), then one
output per auxiliary head. The training loop reads `loss_weights(model)`; the exported model is
`inference_model(model)`, the same layers up to the main output only.
"""

import keras

from cnnlab.layers import FusedBatchNormalization
from cnnlab.models.blocks.recursion import graph_limit, recursion_limit

MAIN_OUTPUT = "predictions"


def with_auxiliary_outputs(inputs, main, auxiliary: dict, weight: float, name: str) -> keras.Model:
    """A training network: `main`, then the `auxiliary` outputs (named by their keys), whose
    losses count with `weight`."""
    model = keras.Model(inputs, [main, *auxiliary.values()], name=name)
    model.auxiliary_loss_weights = {key: float(weight) for key in auxiliary}
    return model


def loss_weights(model: keras.Model) -> dict[str, float]:
    """{output: loss weight} of a model with auxiliary classifiers; {} for a single-output model."""
    auxiliary = getattr(model, "auxiliary_loss_weights", None)
    return {MAIN_OUTPUT: 1.0, **auxiliary} if auxiliary else {}


def inference_model(model: keras.Model) -> keras.Model:
    """The model without its auxiliary classifiers and without training state: what papers
    evaluate, and what is exported (an uncompiled view sharing the weights, so the saved file
    loads with plain `keras.saving.load_model`, without cnnlab's optimizer schedule)."""
    single = loss_weights(model) or len(model.outputs) == 1
    outputs = model.outputs[0] if single else model.outputs
    with recursion_limit(graph_limit(len(model.layers))):  # ResNet-1202's ~4,200 layers
        return keras.Model(model.inputs, outputs, name=model.name)


def with_keras_batch_norm(model: keras.Model) -> keras.Model:
    """A copy of `model` with Keras's `BatchNormalization` where it has cnnlab's fused one
    (same config and weights; they compute the same at inference), so that an exported model
    needs no cnnlab to load or serve. A model without the fused layer comes back as it is."""
    if not any(isinstance(layer, FusedBatchNormalization) for layer in model.layers):
        return model

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    with recursion_limit(graph_limit(len(model.layers))):  # ResNet-1202's ~4,200 layers
        copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
