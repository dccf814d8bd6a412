"""Batch normalization (Ioffe & Szegedy, 2015) on TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes the batch moments and the normalization as separate
ops; TensorFlow's `FusedBatchNormV3` does the forward pass, and its gradient op the backward
pass, each in one sweep over the activations (what Keras 2 used by default), so a training
step reads and writes the activations fewer times (see docs/benchmarks.md).
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnnlab")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with the same weights, config and results, trained
    with `FusedBatchNormV3` where that kernel applies: the TensorFlow backend, 4-D channels-last
    input, no mask, renorm or synchronized statistics. Elsewhere, and at inference, Keras's own
    computation runs."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else ops.ones((channels,), "float32")
        beta = self.beta if self.center else ops.zeros((channels,), "float32")
        outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            ops.cast(gamma, "float32"),
            ops.cast(beta, "float32"),
            epsilon=self.epsilon,
            is_training=True,
        )
        # The kernel returns the batch variance with Bessel's correction; Keras's moving
        # variance averages the biased one (ops.moments), which the normalization used.
        count = ops.cast(ops.size(inputs) // channels, "float32")
        variance = unbiased_variance * (count - 1.0) / ops.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        return ops.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and keras.backend.standardize_dtype(inputs.dtype) in ("float32", "float16", "bfloat16")
        )
