"""Gradient ascent on the input: activation maximization and DeepDream.

"Find the x that maximizes a^k": x <- x + lr * g / rms(g) on the objective minus an L2 or L1
penalty (Simonyan et al., 2014; Yosinski et al., 2015 add jitter and blur as image priors).
The gradient needs TensorFlow's tape; everything else is keras.ops.
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from cnnlab.errors import ConfigError
from cnnlab.viz.taps import logits_output, tap_model, tap_tensors

log = logging.getLogger(__name__)

Objective = Callable[[tf.Tensor], tf.Tensor]  # images (N, H, W, C) -> one value per image (N,)


@dataclass(frozen=True)
class AscentSettings:
    steps: int
    lr: float
    l2: float = 0.0
    l1: float = 0.0
    jitter: int = 0
    blur_every: int = 0
    blur_sigma: float = 0.5


def gaussian_blur(images, sigma: float):
    """A separable 3-sigma Gaussian, per channel, 'same' size."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype("float32")
    channels = images.shape[-1]
    across = np.tile(taps[None, :, None, None], (1, 1, channels, 1))
    down = np.tile(taps[:, None, None, None], (1, 1, channels, 1))
    return ops.depthwise_conv(
        ops.depthwise_conv(images, across, padding="same"), down, padding="same"
    )


def ascend(objective: Objective, images, settings: AscentSettings, label: str, seed: int = 0):
    """Raise `objective` (summed over images) by normalized gradient steps; returns the images."""
    generator = np.random.default_rng(seed)
    x = tf.Variable(ops.convert_to_tensor(images, dtype="float32"))
    report = max(1, settings.steps // 5)
    for step in range(1, settings.steps + 1):
        shift = (
            generator.integers(-settings.jitter, settings.jitter + 1, size=2)
            if settings.jitter
            else (0, 0)
        )
        with tf.GradientTape() as tape:
            shifted = ops.roll(ops.roll(x, int(shift[0]), axis=1), int(shift[1]), axis=2)
            value = objective(shifted)
            penalty = settings.l2 * ops.sum(ops.square(x), axis=(1, 2, 3)) + settings.l1 * ops.sum(
                ops.abs(x), axis=(1, 2, 3)
            )
            total = ops.sum(value - penalty)
        gradient = tape.gradient(total, x)
        rms = ops.sqrt(ops.mean(ops.square(gradient), axis=(1, 2, 3), keepdims=True)) + 1e-8
        x.assign_add(settings.lr * gradient / rms)
        if settings.blur_every and step % settings.blur_every == 0:
            x.assign(gaussian_blur(x, settings.blur_sigma))
        if step % report == 0 or step == settings.steps:
            log.info(
                "%s: step %d/%d, objective %.4g",
                label,
                step,
                settings.steps,
                float(ops.mean(value)),
            )
    return tf.convert_to_tensor(x)


@dataclass(frozen=True)
class MaximizedInputs:
    images: np.ndarray  # (N, H, W, C), one per unit
    before: np.ndarray  # the objective per unit at the start image
    after: np.ndarray  # and at the result


def unit_objective(model: keras.Model, target: str, layer, units: list[int]) -> Objective:
    """Image i's filter `units[i]` mean activation in `layer`, or its class `units[i]` logit."""
    output = layer.output if target == "filter" else logits_output(model)
    tap, width = tap_tensors(model, [output]), output.shape[-1]
    if max(units) >= width:
        what = (
            f"{layer.name} has {width} filters"
            if target == "filter"
            else f"the model has {width} classes"
        )
        raise ConfigError(f"viz.units={list(units)} is out of range: {what} (0-{width - 1})")
    picks = ops.one_hot(ops.convert_to_tensor(units), width)

    def objective(images):
        outputs = tap(images)[0]
        if len(outputs.shape) == 4:
            outputs = ops.mean(outputs, axis=(1, 2))
        return ops.sum(outputs * picks, axis=-1)

    return objective


def maximize(
    model: keras.Model, target: str, layer, units: list[int], settings: AscentSettings, seed: int
) -> MaximizedInputs:
    """Start from faint noise around the middle grey and ascend, one image per unit at once."""
    objective = unit_objective(model, target, layer, units)
    shape = (len(units), *model.inputs[0].shape[1:])
    start = 0.5 + 0.05 * np.random.default_rng(seed).standard_normal(shape).astype("float32")
    result = ascend(objective, start, settings, f"activation_max ({target})", seed)
    return MaximizedInputs(
        images=ops.convert_to_numpy(result),
        before=ops.convert_to_numpy(objective(start)),
        after=ops.convert_to_numpy(objective(result)),
    )


def deepdream(
    model: keras.Model,
    layer,
    image: np.ndarray,
    octaves: int,
    octave_scale: float,
    settings: AscentSettings,
    seed: int,
) -> tuple[np.ndarray, float, float]:
    """Mordvintsev et al. (2015): raise a layer's mean squared activation (their L2 objective:
    whatever the layer already sees grows), from the coarsest octave up.

    Each octave optimizes the image at a smaller size, resized up to the model's input inside
    the objective (so models with a fixed input size work too); its detail carries to the next.
    Returns (image, objective before, after).
    """
    tap = tap_model(model, [layer])
    size = tuple(int(s) for s in image.shape[:2])

    def objective(images):
        outputs = tap(ops.image.resize(images, size))[0]
        return ops.mean(ops.square(outputs), axis=(1, 2, 3))

    original = ops.convert_to_tensor(image[None], dtype="float32")
    dream = original
    for octave in range(octaves - 1, -1, -1):
        shape = [max(4, round(s / octave_scale**octave)) for s in size]
        dream = ops.image.resize(dream, shape)
        label = f"deepdream octave {octaves - octave}/{octaves} ({shape[0]}x{shape[1]})"
        dream = ascend(objective, dream, settings, label, seed)
    return (
        ops.convert_to_numpy(dream[0]),
        float(ops.convert_to_numpy(objective(original))[0]),
        float(ops.convert_to_numpy(objective(dream))[0]),
    )
