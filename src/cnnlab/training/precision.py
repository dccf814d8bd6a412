"""The precision policy: mixed precision on a GPU, float32 on the CPU unless asked otherwise."""

import keras
import tensorflow as tf


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(name: str) -> str:
    """'auto' -> 'mixed_float16' where there is a GPU, else 'float32' (bf16 gave no gain on this CPU)."""
    if name == "auto":
        return "mixed_float16" if has_gpu() else "float32"
    return name


def set_precision(name: str) -> str:
    """Set Keras's global dtype policy; return the policy actually used."""
    policy = resolve_precision(name)
    keras.mixed_precision.set_global_policy(policy)
    return policy
