"""The ensemble as one Keras model: every member (each with its own resizing and
normalization, so members may differ in input scale) on the same pixels, averaged."""

from collections.abc import Sequence

import keras


def averaging_model(
    members: Sequence[keras.Model], weights: Sequence[float] | None = None, name: str = "ensemble"
) -> keras.Model:
    """Pixels -> the (weighted) mean of the members' probabilities. Members are models that
    take pixels (see `cnnlab.tracking.with_preprocessing`); built-in layers only, so the saved
    model needs no custom objects beyond the members' own."""
    channels = members[0].inputs[0].shape[-1]
    pixels = keras.Input((None, None, channels), name="pixels")
    outputs = []
    for index, member in enumerate(members):
        member.name = f"member_{index}_{member.name}"  # unique names inside one model
        outputs.append(member(pixels))
    if len(outputs) == 1:
        return keras.Model(pixels, outputs[0], name=name)
    if weights is None:
        return keras.Model(pixels, keras.layers.Average(name="average")(outputs), name=name)
    total = float(sum(weights))
    scaled = [
        keras.layers.Rescaling(float(w) / total, name=f"weight_{i}")(output)
        for i, (w, output) in enumerate(zip(weights, outputs, strict=True))
    ]
    return keras.Model(pixels, keras.layers.Add(name="weighted_average")(scaled), name=name)
