"""The papers' L2 penalty on the kernels, added to the loss.

AlexNet (Krizhevsky et al. 2012, Sec. 5), VGG (Simonyan & Zisserman 2015, Sec. 3.1) and
ResNet (He et al. 2016, Sec. 3.4 and 4.2) train with "weight decay" 5e-4, 5e-4 and 1e-4 written
as the update v <- m v - lambda * lr * w - lr * grad: the gradient of (lambda / 2) * ||w||^2
added to the loss. `model.l2` is that lambda. Unlike the decoupled `optimizer.weight_decay`,
the penalty goes through the optimizer: momentum accumulates it and Adam's per-weight scaling
divides it, and it shows in the logged loss. Biases and batch-norm parameters are not penalized.
"""

import keras

KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")


def add_l2_penalty(model: keras.Model, l2: float) -> int:
    """Penalize every trainable kernel of `model` by (l2 / 2) * sum(w^2); return how many."""
    if not l2:
        return 0
    penalized = 0
    for variable in model.trainable_variables:
        if variable.name in KERNELS:
            variable.regularizer = keras.regularizers.L2(l2 / 2)
            penalized += 1
    return penalized
