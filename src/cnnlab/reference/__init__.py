"""NumPy reference ops: the ground truth for tests and a readable teaching implementation.

Layout NHWC; kernels (kh, kw, C_in / groups, C_out) like `keras.layers.Conv2D`. Everything
is plain NumPy and float64 capable, so the layers in `cnnlab.layers` can be checked against
explicit loops, and these loops against a centered-difference numerical gradient. The
"convolutions" here, as in Keras, are cross-correlations; `convolve` flips the kernel.
"""

from cnnlab.reference.conv import (
    conv_backward_im2col,
    conv_backward_naive,
    conv_forward_im2col,
    conv_forward_naive,
    convolve,
    correlate,
    locally_connected_forward,
)
from cnnlab.reference.gradcheck import numerical_gradient, relative_error
from cnnlab.reference.im2col import Window, col2im, im2col, output_size
from cnnlab.reference.pool import pool_backward, pool_forward

__all__ = [
    "Window",
    "col2im",
    "conv_backward_im2col",
    "conv_backward_naive",
    "conv_forward_im2col",
    "conv_forward_naive",
    "convolve",
    "correlate",
    "im2col",
    "locally_connected_forward",
    "numerical_gradient",
    "output_size",
    "pool_backward",
    "pool_forward",
    "relative_error",
]
