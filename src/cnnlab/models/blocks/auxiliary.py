"""Auxiliary classifiers (Szegedy et al., 2015, Sec. 5): extra softmax outputs of a training
network whose losses join the main loss with a weight, and which inference drops.

Such a model's outputs are a list: the main classifier first (named `MAIN_OUTPUT`), then one
output per auxiliary head. The training loop reads `loss_weights(model)`; the exported model
(`cnnlab.models.export.inference_model`) keeps the main output only.
"""

import keras

from cnnlab.models.blocks.heads import MAIN_OUTPUT


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
