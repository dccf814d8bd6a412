"""Bit-reproducible runs (`trainer.deterministic: true`).

`keras.utils.set_random_seed` seeds Python, NumPy and TensorFlow, and cnnlab's tf.data
pipeline draws every shuffle and augmentation from the config seed; what remains are kernels
whose result depends on thread scheduling (parallel reductions, atomics on a GPU).
`enable_op_determinism` makes TensorFlow pick deterministic kernels or raise where it has none.
"""

import tensorflow as tf


def enable_determinism() -> None:
    """Deterministic TensorFlow ops for the rest of the process (it cannot be turned off)."""
    tf.config.experimental.enable_op_determinism()
