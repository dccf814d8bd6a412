"""Classifier heads shared by the architectures."""

import keras

MAIN_OUTPUT = "predictions"  # the main classifier's output; auxiliary heads have other names


def softmax_classifier(x, num_classes: int, name: str = MAIN_OUTPUT):
    """Dense logits, then a float32 softmax: under mixed precision the probabilities stay float32."""
    logits = keras.layers.Dense(num_classes, name=f"{name}_logits")(x)
    return keras.layers.Activation("softmax", dtype="float32", name=name)(logits)
