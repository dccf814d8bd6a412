"""The model that leaves cnnlab: what papers evaluate and what a run exports.

A trained network may carry auxiliary classifiers and cnnlab's fused batch norm; the exported
model has the main output only and Keras's own layers, so it loads with plain
`keras.saving.load_model` and serves without cnnlab.
"""

import keras

from cnnlab.layers import FusedBatchNormalization
from cnnlab.models.blocks.auxiliary import loss_weights
from cnnlab.models.blocks.recursion import graph_limit, recursion_limit


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
